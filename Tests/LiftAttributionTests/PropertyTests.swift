import LiftNN
import LiftTensor
import LiftTestSupport
import Testing

@testable import LiftAttribution

/// Deterministic pseudo-random values for test weights (SplitMix64).
struct TestRandom {
  var state: UInt64
  init(_ seed: UInt64) { state = seed }
  mutating func next() -> Float {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    z ^= z >> 31
    return Float(Double(z >> 11) / Double(1 << 53)) * 2 - 1
  }
  mutating func tensor(_ shape: Shape, scale: Float = 1) -> Tensor {
    Tensor(shape: shape, scalars: (0..<shape.scalarCount).map { _ in next() * scale })
  }
}

/// Small graphs covering every op the rules handle, built directly with the IR.
enum ToyGraphs {
  /// Conv1D → BN (negative scales) → ReLU → MaxPool → Conv1D → ELU → AvgPool → Flatten →
  /// Dense → PReLU → Dense(3).
  static func genomics(_ seed: UInt64 = 1) -> Graph {
    var r = TestRandom(seed)
    var g = Graph()
    let x = g.add(.input(shape: [12, 4]), name: "x")
    let c1 = g.add(.conv(weight: r.tensor([3, 4, 5]), bias: r.tensor([5]),
                         parameters: ConvParameters(strides: [1], dilations: [1], padding: .same)),
                   inputs: [x], name: "conv1")
    let bn = g.add(.affine(scale: Tensor(shape: [1, 5], scalars: [1.5, -0.7, 0.9, -1.2, 0.4]),
                           offset: r.tensor([1, 5], scale: 0.3)), inputs: [c1], name: "bn")
    let a1 = g.add(.activation(.relu), inputs: [bn], name: "relu1")
    let p1 = g.add(.maxPool(PoolParameters(size: [2], strides: [2], padding: .valid)), inputs: [a1], name: "pool1")
    let c2 = g.add(.conv(weight: r.tensor([2, 5, 4]), bias: r.tensor([4]),
                         parameters: ConvParameters(strides: [1], dilations: [2], padding: .valid)),
                   inputs: [p1], name: "conv2")
    let a2 = g.add(.activation(.elu(alpha: 1)), inputs: [c2], name: "elu")
    let p2 = g.add(.averagePool(PoolParameters(size: [2], strides: [1], padding: .same)), inputs: [a2], name: "pool2")
    let f = g.add(.reshape([-1]), inputs: [p2], name: "flatten")
    let d1 = g.add(.dense(weight: r.tensor([16, 6]), bias: r.tensor([6])), inputs: [f], name: "dense1")
    let a3 = g.add(.prelu(alpha: Tensor(shape: [6], scalars: [0.1, 0.2, 0.3, 0.0, 0.5, 0.25])), inputs: [d1], name: "prelu")
    let d2 = g.add(.dense(weight: r.tensor([6, 3]), bias: r.tensor([3])), inputs: [a3], name: "logits")
    g.outputs = [d2]
    return g
  }

  /// A residual net: Dense → ReLU → (Dense → tanh) + skip → sigmoid-free output, with
  /// subtract / average / maximum / minimum merges and a concatenation.
  static func residual(_ seed: UInt64 = 2) -> Graph {
    var r = TestRandom(seed)
    var g = Graph()
    let x = g.add(.input(shape: [6]), name: "x")
    let h = g.add(.dense(weight: r.tensor([6, 6]), bias: r.tensor([6])), inputs: [x], name: "h")
    let a = g.add(.activation(.relu), inputs: [h], name: "a")
    let b = g.add(.dense(weight: r.tensor([6, 6]), bias: r.tensor([6])), inputs: [a], name: "b")
    let t = g.add(.activation(.tanh), inputs: [b], name: "t")
    let s = g.add(.add, inputs: [a, t], name: "res")
    let c = g.add(.dense(weight: r.tensor([6, 6]), bias: r.tensor([6])), inputs: [s], name: "c")
    let sp = g.add(.activation(.softplus), inputs: [c], name: "sp")
    let sub = g.add(.subtract, inputs: [sp, a], name: "sub")
    let avg = g.add(.average, inputs: [sub, t], name: "avg")
    let mx = g.add(.maximum, inputs: [avg, sp], name: "max")
    let mn = g.add(.minimum, inputs: [mx, t], name: "min")
    let cat = g.add(.concat(axis: -1), inputs: [mn, a], name: "cat")
    let o = g.add(.dense(weight: r.tensor([12, 2]), bias: r.tensor([2])), inputs: [cat], name: "out")
    g.outputs = [o]
    return g
  }
}

func explain(
  _ g: Graph, _ method: AttributionMethod, _ x: Tensor, _ refs: References, tasks: [Int] = [0],
  batch: Int = 64, maxPool: MaxPoolRule = .gradient
) throws -> Explanation {
  var o = ExplainOptions()
  o.method = method
  o.tasks = tasks
  o.batchSize = batch
  o.maxPool = maxPool
  return try Explainer(graph: g, options: o).explain(inputs: [x], references: refs)
}

@Suite("DeepLIFT properties on toy graphs")
struct PropertyTests {
  static let rules: [AttributionMethod] = [.rescale, .revealCancel]

  @Test(arguments: rules)
  func summationToDeltaResidual(method: AttributionMethod) throws {
    var r = TestRandom(7)
    let g = ToyGraphs.residual()
    let x = r.tensor([5, 6], scale: 2), ref = r.tensor([5, 6])
    let e = try explain(g, method, x, .perExample([ref]), tasks: [0, 1])
    for d in e.convergenceDelta { #expect(d < 1e-4) }
    #expect(e.convergenceDelta.count == 5)
  }

  @Test(arguments: rules)
  func summationToDeltaGenomicsZeroReference(method: AttributionMethod) throws {
    // The gradient max-pool rule keeps summation-to-delta when each pool window's reference
    // values are equal, e.g. a zero reference... only up to the window's reference forward
    // pass; here the reference is uniform in the input, so check with the deepshap rule too.
    var r = TestRandom(8)
    let g = ToyGraphs.genomics()
    let x = r.tensor([4, 12, 4])
    let e = try explain(g, method, x, .perExample([r.tensor([4, 12, 4])]), maxPool: .deepshap)
    for d in e.convergenceDelta { #expect(d < 1e-4) }
  }

  @Test(arguments: [AttributionMethod.rescale, .revealCancel, .genomicsDefault])
  func referenceEqualsInputGivesZero(method: AttributionMethod) throws {
    var r = TestRandom(9)
    let g = method == .genomicsDefault ? ToyGraphs.genomics() : ToyGraphs.residual()
    let shape: Shape = method == .genomicsDefault ? [3, 12, 4] : [3, 6]
    let x = r.tensor(shape)
    let e = try explain(g, method, x, .perExample([x]))
    #expect(e.scores[0].scalars.allSatisfy { $0 == 0 })
  }

  /// Step counts outside 1...maximumSteps are a thrown error for library callers too (a huge
  /// count would allocate the quadrature arrays and stall in the O(n²) node computation).
  @Test(arguments: [0, -3, ExplainOptions.maximumSteps + 1, Int.max])
  func integratedGradientsStepsOutOfRangeThrow(steps: Int) throws {
    var o = ExplainOptions()
    o.method = .integratedGradients
    o.steps = steps
    var r = TestRandom(4)
    let x = r.tensor([2, 6])
    #expect(throws: ExplainError.unsupported("integrated gradients takes 1...10000 steps, got \(steps)")) {
      try Explainer(graph: ToyGraphs.residual(), options: o).explain(inputs: [x])
    }
  }

  @Test(arguments: [AttributionMethod.rescale, .revealCancel, .gradient, .guidedBackprop, .inputXGradient, .integratedGradients])
  func batchSizeDoesNotChangeResults(method: AttributionMethod) throws {
    var r = TestRandom(10)
    let g = ToyGraphs.residual()
    let x = r.tensor([7, 6]), ref = r.tensor([7, 6])
    let all = try explain(g, method, x, .perExample([ref]), tasks: [0, 1], batch: 7)
    for b in [1, 3] {
      let part = try explain(g, method, x, .perExample([ref]), tasks: [0, 1], batch: b)
      #expect(part.scores[0] == all.scores[0])
    }
  }

  @Test func multipleReferencesAverage() throws {
    var r = TestRandom(11)
    let g = ToyGraphs.residual()
    let x = r.tensor([2, 6])
    let refs = r.tensor([2, 3, 6])
    let avg = try explain(g, .rescale, x, .multiple([refs]))
    for e in 0..<2 {
      var sum = [Float](repeating: 0, count: 6)
      for j in 0..<3 {
        let one = try explain(g, .rescale, x.slice(batch: e..<(e + 1)),
                              .perExample([Tensor(shape: [1, 6], scalars: Array(refs.scalars[((e * 3 + j) * 6)..<((e * 3 + j) * 6 + 6)]))]))
        for i in 0..<6 { sum[i] += one.scores[0].scalars[i] / 3 }
      }
      expectClose(Array(avg.scores[0].scalars[(e * 6)..<(e * 6 + 6)]), sum, rtol: 1e-5, atol: 1e-6)
    }
  }

  @Test func backgroundEqualsRepeatedReferences() throws {
    var r = TestRandom(12)
    let g = ToyGraphs.genomics()
    let x = r.tensor([3, 12, 4]), bg = r.tensor([4, 12, 4])
    let viaBackground = try explain(g, .rescale, x, .background([bg]), maxPool: .deepshap)
    var tiled = [Float]()
    for _ in 0..<3 { tiled += bg.scalars }
    let viaMultiple = try explain(g, .rescale, x, .multiple([Tensor(shape: [3, 4, 12, 4], scalars: tiled)]), maxPool: .deepshap)
    expectClose(viaBackground.scores[0], viaMultiple.scores[0], rtol: 1e-6, atol: 1e-7)
  }

  @Test func multiTaskEqualsSingleTasksStacked() throws {
    var r = TestRandom(13)
    let g = ToyGraphs.genomics()
    let x = r.tensor([2, 12, 4])
    let multi = try explain(g, .revealCancel, x, .zeros, tasks: [2, 0])
    let t2 = try explain(g, .revealCancel, x, .zeros, tasks: [2]).scores[0]
    let t0 = try explain(g, .revealCancel, x, .zeros, tasks: [0]).scores[0]
    #expect(multi.scores[0].shape == [2, 2, 12, 4])
    let per = 12 * 4
    for e in 0..<2 {
      expectClose(Array(multi.scores[0].scalars[(e * 2) * per..<(e * 2 + 1) * per]),
                  Array(t2.scalars[e * per..<(e + 1) * per]))
      expectClose(Array(multi.scores[0].scalars[(e * 2 + 1) * per..<(e * 2 + 2) * per]),
                  Array(t0.scalars[e * per..<(e + 1) * per]))
    }
  }

  @Test func gradientMatchesFiniteDifferences() throws {
    var r = TestRandom(14)
    let g = ToyGraphs.residual()
    let x = r.tensor([1, 6])
    let grad = try explain(g, .gradient, x, .zeros).scores[0]
    let h: Float = 1e-2
    for i in 0..<6 {
      var xp = x, xm = x
      xp[0, i] += h
      xm[0, i] -= h
      let fp = try LiftNN.forward(g, inputs: [xp]).last!.scalars[0]
      let fm = try LiftNN.forward(g, inputs: [xm]).last!.scalars[0]
      #expect(abs((fp - fm) / (2 * h) - grad.scalars[i]) < 2e-2)
    }
  }

  @Test func taskOutOfRangeThrows() throws {
    let g = ToyGraphs.residual()
    #expect(throws: ExplainError.self) {
      _ = try explain(g, .rescale, Tensor.zeros([1, 6]), .zeros, tasks: [2])
    }
  }

  @Test func referenceShapeMismatchThrows() throws {
    let g = ToyGraphs.residual()
    #expect(throws: ExplainError.self) {
      _ = try explain(g, .rescale, Tensor.zeros([2, 6]), .perExample([Tensor.zeros([2, 5])]))
    }
  }

  @Test func genomicsDefaultResolution() throws {
    var o = ExplainOptions()
    o.method = .genomicsDefault
    let e = try Explainer(graph: ToyGraphs.genomics(), options: o)
    let g = e.graph
    #expect(e.modes[g.node(named: "relu1")!.rawValue] == .rescale)  // conv → BN → relu
    #expect(e.modes[g.node(named: "elu")!.rawValue] == .rescale)
    #expect(e.modes[g.node(named: "prelu")!.rawValue] == .revealCancel)  // dense → prelu
    // An activation after a pooling layer cannot be resolved, as in the original.
    var bad = Graph()
    let x = bad.add(.input(shape: [4]), name: "x")
    let a = bad.add(.activation(.relu), inputs: [x], name: "relu")
    let d = bad.add(.dense(weight: Tensor(shape: [4, 1], scalars: [1, 1, 1, 1]), bias: nil), inputs: [a], name: "d")
    bad.outputs = [d]
    #expect(throws: ExplainError.self) { _ = try Explainer(graph: bad, options: o) }
  }
}

@Suite("Hypothetical contributions")
struct HypotheticalTests {
  /// Σ_c x_c·H_c equals the actual contribution summed over channels on one-hot rows
  /// (reference §2.3 identity), per example and averaged over several references.
  @Test func projectionOntoObservedBaseEqualsContributionSum() throws {
    var r = TestRandom(21)
    let g = ToyGraphs.genomics()
    var xs = [Float](repeating: 0, count: 2 * 12 * 4)
    for p in 0..<(2 * 12) { xs[p * 4 + Int((r.next() + 1) * 1.999)] = 1 }
    let x = Tensor(shape: [2, 12, 4], scalars: xs)
    var refs = [Float]()
    for _ in 0..<(2 * 3 * 12) { refs += [0.1, 0.2, 0.3, 0.4] }
    let ref = Tensor(shape: [2, 3, 12, 4], scalars: refs)
    var o = ExplainOptions()
    o.method = .rescale
    let scores = try Explainer(graph: g, options: o).explain(inputs: [x], references: .multiple([ref])).scores[0]
    o.hypothetical = true
    let hyp = try Explainer(graph: g, options: o).explain(inputs: [x], references: .multiple([ref])).scores[0]
    for p in 0..<(2 * 12) {
      let actual = (0..<4).reduce(Float(0)) { $0 + scores.scalars[p * 4 + $1] }
      let projected = (0..<4).reduce(Float(0)) { $0 + xs[p * 4 + $1] * hyp.scalars[p * 4 + $1] }
      #expect(abs(actual - projected) < 1e-5)
    }
  }
}
