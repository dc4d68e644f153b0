import LiftNN
import LiftTensor
import Testing

@testable import LiftAttribution

/// The RevealCancel multiplier loop is specialised per activation (ReLU, Leaky ReLU, PReLU, any
/// other activation). Equal functions reached through different specialisations must give equal
/// multipliers (the double-precision arithmetic is the same), over several tasks and more units
/// than one block of the loop (1024).
@Suite("RevealCancel: specialised unit functions agree")
struct RevealCancelKernelTests {
  /// Dense(5→8) → `act` → Dense(8→3).
  static func net(_ act: Op) -> Graph {
    var r = TestRandom(11)
    var g = Graph()
    let x = g.add(.input(shape: [5]), name: "x")
    let d1 = g.add(.dense(weight: r.tensor([5, 8]), bias: r.tensor([8], scale: 0.3)), inputs: [x], name: "d1")
    let a = g.add(act, inputs: [d1], name: "act")
    let d2 = g.add(.dense(weight: r.tensor([8, 3]), bias: r.tensor([3])), inputs: [a], name: "d2")
    g.outputs = [d2]
    return g
  }

  static func multipliers(_ act: Op) throws -> Tensor {
    var r = TestRandom(12)
    // 200 examples · 8 units = 1600 units: two blocks; some rows equal the reference.
    var xs = r.tensor([200, 5], scale: 2).scalars
    for i in 0..<5 { xs[i] = 0 }
    var o = ExplainOptions()
    o.method = .revealCancel
    o.tasks = [0, 1, 2]
    o.batchSize = 256
    o.multipliers = true
    let e = try Explainer(graph: net(act), options: o)
      .explain(inputs: [Tensor(shape: [200, 5], scalars: xs)], references: .zeros)
    return e.scores[0]
  }

  @Test func leakyReLUEqualsPReLUWithConstantSlope() throws {
    let leaky = try Self.multipliers(.activation(.leakyRelu(alpha: 0.2)))
    let prelu = try Self.multipliers(.prelu(alpha: Tensor(repeating: 0.2, shape: [8])))
    #expect(leaky.scalars == prelu.scalars)
  }

  @Test func reluEqualsPReLUWithZeroSlopeAndClip() throws {
    let relu = try Self.multipliers(.activation(.relu))
    let prelu = try Self.multipliers(.prelu(alpha: Tensor(repeating: 0, shape: [8])))
    // clip(0, ∞) goes through the generic activation path: max(min(v, ∞), 0) = relu(v).
    let clip = try Self.multipliers(.activation(.clip(lower: 0, upper: .infinity)))
    #expect(relu.scalars == prelu.scalars)
    #expect(relu.scalars == clip.scalars)
    #expect(relu.scalars.contains { $0 != 0 })
  }
}
