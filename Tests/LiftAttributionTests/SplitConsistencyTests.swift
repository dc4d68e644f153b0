import LiftNN
import LiftTensor
import Testing

@testable import LiftAttribution

/// Regression cases of issue 14, defect 1: a node's (Δ⁺, Δ⁻) split and the multipliers it
/// hands back must agree. Before the fix an Add feeding a RevealCancel nonlinearity handed its
/// operands sign-masked multipliers (the Dense rule) although its parts are its operands' own,
/// and max pools handed both parts through unchanged although their parts are the sign split
/// of their own Δ — summation-to-delta missed by up to 100 % of Δ.
@Suite("RevealCancel: split and backward rule agree (issue 14)")
struct SplitConsistencyTests {
  static func conv(_ r: inout TestRandom, _ cin: Int, _ cout: Int) -> Op {
    .conv(weight: r.tensor([3, cin, cout]), bias: r.tensor([cout], scale: 0.3),
          parameters: ConvParameters(strides: [1], dilations: [1], padding: .same))
  }

  /// `relu(conv(h) + h)` with `h = relu(conv(x))`: a ResNet basic block.
  static func residualBlock(_ seed: UInt64) -> Graph {
    var r = TestRandom(seed)
    var g = Graph()
    let x = g.add(.input(shape: [10, 3]), name: "x")
    let c0 = g.add(conv(&r, 3, 4), inputs: [x], name: "c0")
    let h = g.add(.activation(.relu), inputs: [c0], name: "h")
    let c1 = g.add(conv(&r, 4, 4), inputs: [h], name: "c1")
    let s = g.add(.add, inputs: [c1, h], name: "sum")
    let y = g.add(.activation(.relu), inputs: [s], name: "y")
    let f = g.add(.reshape([-1]), inputs: [y], name: "flat")
    let o = g.add(.dense(weight: r.tensor([40, 2]), bias: r.tensor([2])), inputs: [f], name: "out")
    g.outputs = [o]
    return g
  }

  /// `relu(conv2(h) + conv3(h))`, `relu(conv2(h) − conv3(h))`, `relu(avg(conv2(h), conv3(h)))`
  /// and `relu(max(conv2(h), conv3(h)))`, each summed into the output.
  static func merges(_ seed: UInt64) -> Graph {
    var r = TestRandom(seed)
    var g = Graph()
    let x = g.add(.input(shape: [8, 2]), name: "x")
    let c0 = g.add(conv(&r, 2, 3), inputs: [x], name: "c0")
    let h = g.add(.activation(.tanh), inputs: [c0], name: "h")
    var heads = [NodeID]()
    for (i, op) in [Op.add, .subtract, .average, .maximum, .minimum].enumerated() {
      let a = g.add(conv(&r, 3, 3), inputs: [h], name: "a\(i)")
      let b = g.add(conv(&r, 3, 3), inputs: [h], name: "b\(i)")
      let m = g.add(op, inputs: [a, b], name: "m\(i)")
      heads.append(g.add(.activation(.relu), inputs: [m], name: "r\(i)"))
    }
    let cat = g.add(.concat(axis: -1), inputs: heads, name: "cat")
    let f = g.add(.reshape([-1]), inputs: [cat], name: "flat")
    let o = g.add(.dense(weight: r.tensor([120, 1]), bias: nil), inputs: [f], name: "out")
    g.outputs = [o]
    return g
  }

  /// ReLU → MaxPool → BatchNorm (negative scales) → ReLU, then an input fanned out to three
  /// consumers.
  static func poolThenNorm(_ seed: UInt64) -> Graph {
    var r = TestRandom(seed)
    var g = Graph()
    let x = g.add(.input(shape: [8, 2]), name: "x")
    let c0 = g.add(conv(&r, 2, 3), inputs: [x], name: "c0")
    let h = g.add(.activation(.relu), inputs: [c0], name: "h")
    let p = g.add(.maxPool(PoolParameters(size: [2], strides: [2], padding: .valid)), inputs: [h], name: "pool")
    let bn = g.add(.affine(scale: Tensor(shape: [1, 3], scalars: [1.3, -0.8, 0.5]), offset: r.tensor([1, 3], scale: 0.2)),
                   inputs: [p], name: "bn")
    let y = g.add(.activation(.relu), inputs: [bn], name: "y")
    let z = g.add(.activation(.sigmoid), inputs: [y], name: "z")
    let s = g.add(.add, inputs: [y, z], name: "s")
    let q = g.add(.activation(.elu(alpha: 1)), inputs: [s], name: "q")
    let cat = g.add(.concat(axis: -1), inputs: [q, y, p], name: "cat")
    let f = g.add(.reshape([-1]), inputs: [cat], name: "flat")
    let o = g.add(.dense(weight: r.tensor([36, 2]), bias: nil), inputs: [f], name: "out")
    g.outputs = [o]
    return g
  }

  static func graph(_ index: Int, seed: UInt64) -> (String, Graph, [Int]) {
    switch index {
    case 0: ("residual block", residualBlock(seed), [10, 3])
    case 1: ("merges", merges(seed), [8, 2])
    default: ("maxpool → batchnorm → relu", poolThenNorm(seed), [8, 2])
    }
  }

  @Test(arguments: 0..<3)
  func revealCancelSumsToDelta(index: Int) throws {
    for seed in UInt64(1)...6 {
      let (name, g, shape) = Self.graph(index, seed: seed)
      var r = TestRandom(seed &+ 100)
      let x = r.tensor(Shape([3] + shape), scale: 2)
      for refs in [References.zeros, .perExample([r.tensor(Shape([3] + shape))])] {
        for method in [AttributionMethod.revealCancel, .rescale] {
          let e = try explain(g, method, x, refs, tasks: [0], maxPool: .deepshap)
          let out0 = try LiftNN.forward(g, inputs: [x]).last!
          let scale = out0.scalars.map { max(1, abs($0)) }.max() ?? 1
          for (i, d) in e.convergenceDelta.enumerated() {
            #expect(d < 1e-4 * scale, "\(name), seed \(seed), \(method), example \(i): |Σ − Δ| = \(d)")
          }
        }
      }
    }
  }
}
