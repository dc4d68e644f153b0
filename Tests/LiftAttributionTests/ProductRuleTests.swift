import Foundation
import LiftNN
import LiftTensor
import Testing

@testable import LiftAttribution

/// Products of two activations (issue 19): the bilinear midpoint rule and its RevealCancel
/// split, the Jacobian for gradient methods, and the reciprocal. Expected values are worked
/// out here from the definitions (double precision), not taken from our output.
@Suite("Products of activations: bilinear rule, split, gradients, reciprocal (issue 19)")
struct ProductRuleTests {
  static func explain(
    _ g: Graph, _ method: AttributionMethod, _ x: [Tensor], _ refs: References, task: Int = 0, steps: Int = 8
  ) throws -> Explanation {
    var o = ExplainOptions()
    o.method = method
    o.tasks = [task]
    o.steps = steps
    return try Explainer(graph: g, options: o).explain(inputs: x, references: refs)
  }

  /// `a [2, 3] ⊙ b [1, 3]` (b broadcast over a's first axis), flattened, `dense(w)`:
  /// `t = Σᵢⱼ wᵢⱼ aᵢⱼ bⱼ`, so `score(aᵢⱼ) = wᵢⱼ b̄ⱼ Δaᵢⱼ` and `score(bⱼ) = Σᵢ wᵢⱼ āᵢⱼ Δbⱼ`.
  @Test func broadcastMultiplyFollowsTheMidpointRule() throws {
    var r = TestRandom(19)
    var g = Graph()
    let a = g.add(.input(shape: [2, 3]), name: "a")
    let b = g.add(.input(shape: [1, 3]), name: "b")
    let y = g.add(.multiply, inputs: [a, b], name: "y")
    let f = g.add(.reshape([-1]), inputs: [y], name: "flat")
    let w = r.tensor([6, 1])
    let t = g.add(.dense(weight: w, bias: nil), inputs: [f], name: "t")
    g.outputs = [t]
    let n = 3
    let xa = r.tensor([n, 2, 3], scale: 2), xb = r.tensor([n, 1, 3], scale: 2)
    let ra = r.tensor([n, 2, 3], scale: 2), rb = r.tensor([n, 1, 3], scale: 2)
    var expectA = [Double](repeating: 0, count: n * 6), expectB = [Double](repeating: 0, count: n * 3)
    for e in 0..<n {
      for i in 0..<2 {
        for j in 0..<3 {
          let ia = e * 6 + i * 3 + j, ib = e * 3 + j
          let wij = Double(w.scalars[i * 3 + j])
          let aBar = 0.5 * (Double(xa.scalars[ia]) + Double(ra.scalars[ia]))
          let bBar = 0.5 * (Double(xb.scalars[ib]) + Double(rb.scalars[ib]))
          expectA[ia] = wij * bBar * (Double(xa.scalars[ia]) - Double(ra.scalars[ia]))
          expectB[ib] += wij * aBar * (Double(xb.scalars[ib]) - Double(rb.scalars[ib]))
        }
      }
    }
    // No nonlinearity: every DeepLIFT method is the bilinear rule; integrated gradients with
    // Gauss–Legendre nodes integrates the (linear in α) gradient exactly, so it agrees.
    for method in [AttributionMethod.rescale, .revealCancel, .genomicsDefault, .integratedGradients] {
      let s = try Self.explain(g, method, [xa, xb], .perExample([ra, rb])).scores
      for (k, v) in s[0].scalars.enumerated() { #expect(abs(Double(v) - expectA[k]) < 1e-5, "\(method) a[\(k)]") }
      for (k, v) in s[1].scalars.enumerated() { #expect(abs(Double(v) - expectB[k]) < 1e-5, "\(method) b[\(k)]") }
    }
  }

  /// `dense(flatten(A·B))` with `A [2, 3, 4]`, `B [1, 4, 2]` (B broadcast over A's leading axis).
  static func matmulGraph(_ r: inout TestRandom) -> Graph {
    var g = Graph()
    let a = g.add(.input(shape: [2, 3, 4]), name: "A")
    let b = g.add(.input(shape: [1, 4, 2]), name: "B")
    let y = g.add(.matmul, inputs: [a, b], name: "Y")
    let f = g.add(.reshape([-1]), inputs: [y], name: "flat")
    let t = g.add(.dense(weight: r.tensor([12, 2]), bias: r.tensor([2])), inputs: [f], name: "t")
    g.outputs = [t]
    return g
  }

  /// The gradient equals central differences of the forward pass (exact for a function
  /// bilinear in each input, up to float rounding); guided backprop is the gradient (no ReLU);
  /// input×gradient is their product with the input.
  @Test func matmulGradientIsTheJacobian() throws {
    var r = TestRandom(7)
    let g = Self.matmulGraph(&r)
    let xa = r.tensor([2, 2, 3, 4], scale: 2), xb = r.tensor([2, 1, 4, 2], scale: 2)
    let grad = try Self.explain(g, .gradient, [xa, xb], .zeros, task: 1).scores
    let guided = try Self.explain(g, .guidedBackprop, [xa, xb], .zeros, task: 1).scores
    let ixg = try Self.explain(g, .inputXGradient, [xa, xb], .zeros, task: 1).scores
    #expect(grad == guided)
    let inputs = [xa, xb]
    for k in 0..<2 {
      for i in 0..<inputs[k].scalarCount {
        let h: Float = 0.25
        var up = inputs, down = inputs
        up[k].withUnsafeMutableBufferPointer { $0[i] += h }
        down[k].withUnsafeMutableBufferPointer { $0[i] -= h }
        let fu = try LiftNN.forward(g, inputs: up)[g.outputs[0].rawValue]
        let fd = try LiftNN.forward(g, inputs: down)[g.outputs[0].rawValue]
        let e = i / (inputs[k].scalarCount / 2)
        let numeric = (Double(fu.scalars[e * 2 + 1]) - Double(fd.scalars[e * 2 + 1])) / (2 * Double(h))
        #expect(abs(Double(grad[k].scalars[i]) - numeric) < 1e-3, "input \(k) [\(i)]")
        #expect(abs(ixg[k].scalars[i] - grad[k].scalars[i] * inputs[k].scalars[i]) < 1e-5)
      }
    }
  }

  /// DeepLIFT on a matrix product: summation-to-delta (every method), and Rescale equals
  /// integrated gradients with exact quadrature (both are the gradient at the midpoint).
  @Test func matmulSumsToDeltaAndEqualsExactIntegratedGradients() throws {
    var r = TestRandom(11)
    let g = Self.matmulGraph(&r)
    let xa = r.tensor([3, 2, 3, 4], scale: 2), xb = r.tensor([3, 1, 4, 2], scale: 2)
    let ra = r.tensor([3, 2, 3, 4], scale: 2), rb = r.tensor([3, 1, 4, 2], scale: 2)
    let ig = try Self.explain(g, .integratedGradients, [xa, xb], .perExample([ra, rb])).scores
    for method in [AttributionMethod.rescale, .revealCancel, .genomicsDefault] {
      let e = try Self.explain(g, method, [xa, xb], .perExample([ra, rb]))
      for (i, d) in e.summationErrors.enumerated() { #expect(d <= 1e-5 * max(1, e.targetDeltas[i])) }
      for k in 0..<2 {
        for (u, v) in zip(e.scores[k].scalars, ig[k].scalars) { #expect(abs(u - v) < 1e-4, "\(method) input \(k)") }
      }
    }
  }

  /// `relu(a·b)` with a = 2 (reference 1), b = −1 (reference 3): ā = 1.5, b̄ = 1, the terms
  /// are b̄Δa = 1 and āΔb = −6 (Δy = −5), so the product's split is (Δy⁺, Δy⁻) = (1, −6).
  /// RevealCancel on the ReLU at y⁰ = 3: Δ⁺ = ½[(4 − 3) + (0 − 0)] = 0.5, Δ⁻ = ½[(0 − 3) +
  /// (0 − 4)] = −3.5, so m⁺ = 0.5, m⁻ = 7/12. Δa > 0 with b̄ > 0 lies in Δy⁺: score
  /// 0.5·1 = 0.5; Δb < 0 with ā > 0 lies in Δy⁻: score (7/12)·1.5·(−4) = −3.5. Total −3 =
  /// relu(−2) − relu(3). Rescale: slope 3/5, scores 0.6 and −3.6.
  @Test func revealCancelSplitsTheProductByTheSignOfItsTerms() throws {
    var g = Graph()
    let a = g.add(.input(shape: [1]), name: "a")
    let b = g.add(.input(shape: [1]), name: "b")
    let y = g.add(.multiply, inputs: [a, b], name: "y")
    let z = g.add(.activation(.relu), inputs: [y], name: "z")
    g.outputs = [z]
    let x = [Tensor(shape: [1, 1], scalars: [2]), Tensor(shape: [1, 1], scalars: [-1])]
    let ref = References.shared([Tensor(shape: [1], scalars: [1]), Tensor(shape: [1], scalars: [3])])
    let rc = try Self.explain(g, .revealCancel, x, ref).scores
    #expect(abs(rc[0].scalars[0] - 0.5) < 1e-6 && abs(rc[1].scalars[0] + 3.5) < 1e-6, "\(rc)")
    let rs = try Self.explain(g, .rescale, x, ref).scores
    #expect(abs(rs[0].scalars[0] - 0.6) < 1e-6 && abs(rs[1].scalars[0] + 3.6) < 1e-6, "\(rs)")
  }

  /// RevealCancel nonlinearities before and after products: m⁺ ≠ m⁻ reach the products
  /// (their sign-split branch), and the scores still sum to Δ; reference = input gives zeros.
  @Test func revealCancelAroundProductsSumsToDelta() throws {
    var r = TestRandom(23)
    var g = Graph()
    let x = g.add(.input(shape: [3, 4]), name: "x")
    let h = g.add(.activation(.tanh), inputs: [g.add(.dense(weight: r.tensor([4, 4]), bias: r.tensor([4])), inputs: [x], name: "d0")], name: "h")
    let q = g.add(.dense(weight: r.tensor([4, 2]), bias: nil), inputs: [h], name: "q")
    let k = g.add(.dense(weight: r.tensor([4, 2]), bias: nil), inputs: [h], name: "k")
    let kt = g.add(.transpose([0, 2, 1]), inputs: [k], name: "kt")
    let s = g.add(.matmul, inputs: [q, kt], name: "scores")
    let e = g.add(.activation(.elu(alpha: 1)), inputs: [s], name: "e")
    let o = g.add(.matmul, inputs: [e, h], name: "o")
    let gate = g.add(.activation(.sigmoid), inputs: [g.add(.dense(weight: r.tensor([4, 1]), bias: nil), inputs: [o], name: "gd")], name: "gate")
    let m = g.add(.multiply, inputs: [o, gate], name: "gated")
    let sq = g.add(.multiply, inputs: [m, m], name: "square")
    let z = g.add(.activation(.relu), inputs: [g.add(.add, inputs: [sq, m], name: "sum")], name: "z")
    let t = g.add(.dense(weight: r.tensor([12, 2]), bias: nil), inputs: [g.add(.reshape([-1]), inputs: [z], name: "flat")], name: "t")
    g.outputs = [t]
    let xs = r.tensor([4, 3, 4], scale: 2), refs = r.tensor([4, 3, 4], scale: 2)
    for method in [AttributionMethod.rescale, .revealCancel] {
      for task in [0, 1] {
        let ex = try Self.explain(g, method, [xs], .perExample([refs]), task: task)
        for (i, d) in ex.summationErrors.enumerated() {
          #expect(d <= 1e-4 * max(1, ex.targetDeltas[i]), "\(method) task \(task): \(d) of \(ex.targetDeltas[i])")
        }
        let still = try Self.explain(g, method, [xs], .perExample([xs]), task: task).scores
        #expect(still[0].scalars.allSatisfy { $0 == 0 })
      }
    }
  }

  /// `1/x`: the secant `(1/x − 1/x⁰)/(x − x⁰) = −1/(x·x⁰)`; across 0 (x = −1, x⁰ = 1) it is
  /// +1, of the other sign than the derivative, and still sums to Δ = −2. A reference at 0
  /// gives an infinite reference output: an error naming the layer, never a silent score.
  @Test func reciprocalRescaleIsTheSecant() throws {
    var g = Graph()
    let x = g.add(.input(shape: [2]), name: "x")
    let y = g.add(.activation(.reciprocal), inputs: [x], name: "y")
    let t = g.add(.dense(weight: Tensor(shape: [2, 1], scalars: [1, 1]), bias: nil), inputs: [y], name: "t")
    g.outputs = [t]
    let xs = Tensor(shape: [1, 2], scalars: [2, -1])
    let e = try Self.explain(g, .rescale, [xs], .shared([Tensor(shape: [2], scalars: [4, 1])]))
    // 2 → 4: Δy = 0.5 − 0.25 = 0.25; −1 → 1: Δy = −1 − 1 = −2.
    #expect(abs(e.scores[0].scalars[0] - 0.25) < 1e-6 && abs(e.scores[0].scalars[1] + 2) < 1e-6)
    #expect(e.summationErrors[0] < 1e-6)
    let grad = try Self.explain(g, .gradient, [xs], .zeros).scores[0]
    #expect(grad.scalars == [-0.25, -1])
    #expect(throws: ExplainError.self) { try Self.explain(g, .rescale, [xs], .zeros) }
  }

  @Test func shapesAreChecked() {
    func shape(_ op: Op, _ a: [Int], _ b: [Int]) -> [Int]? {
      let node = Node(op: op, inputs: [NodeID(0), NodeID(1)], name: "p")
      return try? Graph.outputShape(node, inputs: [Shape([5] + a), Shape([5] + b)]).dimensions
    }
    #expect(shape(.multiply, [2, 3], [1, 3]) == [5, 2, 3])
    #expect(shape(.multiply, [2, 1], [1, 3]) == [5, 2, 3])
    #expect(shape(.multiply, [2, 3], [3, 2]) == nil)
    #expect(shape(.multiply, [2, 3], [3]) == nil)  // ranks differ: would align the batch axis
    #expect(shape(.matmul, [2, 3, 4], [1, 4, 5]) == [5, 2, 3, 5])
    #expect(shape(.matmul, [3, 4], [5, 2]) == nil)
    #expect(shape(.matmul, [4], [4]) == nil)
    #expect(shape(.matmul, [2, 3, 4], [4, 5]) == nil)
    // Unknown extents: a Keras `None` length stays unknown unless the other operand fixes it.
    let unknown = try? Graph.exampleShape(Node(op: .multiply, inputs: [], name: "m"), operands: [[nil, 3], [4, 1]])
    #expect(unknown == [4, 3])
  }

  /// The memory budget counts a product's output like any node's: an attention score matrix
  /// `[L, L]` is the largest activation of its graph.
  @Test func theBudgetCountsProducts() throws {
    var r = TestRandom(3)
    var g = Graph()
    let x = g.add(.input(shape: [64, 4]), name: "x")
    let q = g.add(.dense(weight: r.tensor([4, 2]), bias: nil), inputs: [x], name: "q")
    let kt = g.add(.transpose([0, 2, 1]), inputs: [q], name: "kt")
    let s = g.add(.matmul, inputs: [q, kt], name: "scores")
    g.outputs = [s]
    let shapes = try g.inferShapes(inputShapes: [Shape([1, 64, 4])])
    let footprint = g.activationFootprint(shapes: shapes)
    #expect(footprint.largest == s)
    #expect(footprint.bytesPerExample == 4 * (64 * 4 + 64 * 2 + 2 * 64 + 64 * 64))
  }

  /// A matmul whose first operand is broadcast over 16 heads: its backward product for that
  /// operand, `[16, 64, 32]` per example before the sum over heads, outgrows every activation
  /// (the largest is `[16, 64, 2]`), and the batch plan counts it: `6·Σ + 4·T·L` per pair with
  /// `L = 4·16·(64·32 + 32·2)` bytes.
  @Test func theBudgetCountsBroadcastMatmulBackward() throws {
    var r = TestRandom(5)
    var g = Graph()
    let a = g.add(.input(shape: [1, 64, 32]), name: "a")
    let b = g.add(.input(shape: [16, 32, 2]), name: "b")
    let y = g.add(.matmul, inputs: [a, b], name: "y")
    let t = g.add(.dense(weight: r.tensor([2, 1]), bias: nil), inputs: [y], name: "t")
    g.outputs = [t]
    var o = ExplainOptions()
    o.method = .rescale
    o.tasks = [0]
    let plan = try Explainer(graph: g, options: o).batchPlan(
      inputShapes: [Shape([1, 1, 64, 32]), Shape([1, 16, 32, 2])], referencesPerExample: 1, sharedReferenceRows: 1)
    let sigma = 4 * (64 * 32 + 16 * 32 * 2 + 16 * 64 * 2 + 16 * 64 * 1)
    #expect(plan.bytesPerPair == 6 * sigma + 4 * 1 * (4 * 16 * (64 * 32 + 32 * 2)))
  }
}
