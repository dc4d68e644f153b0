import Foundation
import LiftKit
import LiftTestSupport
import Testing

/// The summation-to-delta check in LiftKit's result (issue 14, item 4): per-example errors and
/// |Δ|, the examples that miss by more than 1e-3·max(1, |Δ|), the worst and the known cause.
@Suite("Summation-to-delta guard")
struct SummationGuardTests {
  /// x `[2, 1]` → max pool (size 2) → flatten → dense(1 → 1, weight w): f = w·max(x₀, x₁).
  func pooled(weight: Float = 1) -> Model {
    var g = Graph()
    let x = g.add(.input(shape: [2, 1]), name: "x")
    let p = g.add(.maxPool(PoolParameters(size: [2], strides: [2], padding: .valid)), inputs: [x], name: "pool")
    let f = g.add(.reshape([-1]), inputs: [p], name: "flatten")
    let d = g.add(.dense(weight: Tensor(shape: [1, 1], scalars: [weight]), bias: nil), inputs: [f], name: "out")
    g.outputs = [d]
    return Model(graph: g, format: .kerasHDF5, url: URL(fileURLWithPath: "pooled.h5"))
  }

  /// Under the gradient rule the one multiplier goes to the input's window maximum a, so
  /// Σ scores = w·(x_a − r_a) while Δ = w·(max x − max r): they differ when the reference's
  /// maximum sits elsewhere.
  ///
  /// | e | x        | r             | Δ       | Σ scores | error  | misses |
  /// |---|----------|---------------|---------|----------|--------|--------|
  /// | 0 | (1, 0)   | (0, 2)        | −1      | 1        | 2      | yes    |
  /// | 1 | (3, 0)   | (1, 0)        | 2       | 2        | 0      | no     |
  /// | 2 | (0, 5)   | (4, 0)        | 1       | 5        | 4      | yes    |
  /// | 3 | (10, 0)  | (0.004, 0.005)| 9.995   | 9.996    | 0.001  | no: 0.001 ≤ 1e-3·9.995 |
  @Test func gradientMaxPoolRuleMissesAndDeepShapKeepsIt() throws {
    let x = Tensor(shape: [4, 2, 1], scalars: [1, 0, 3, 0, 0, 5, 10, 0])
    let r = Tensor(shape: [4, 2, 1], scalars: [0, 2, 1, 0, 4, 0, 0.004, 0.005])
    let model = pooled()
    let result = try model.explainer().explain(inputs: [x], references: .arrays([r]))
    expectClose(result.summationErrors, [2, 0, 4, 0.001], rtol: 1e-3, atol: 1e-5)
    expectClose(result.targetDeltas, [1, 2, 1, 9.995], rtol: 1e-5, atol: 1e-6)
    #expect(result.summationMisses == [0, 2])
    let report = result.summation
    #expect(report.examples == 4)
    #expect(report.worstError == 4)
    // Example 2 misses by 4 / max(1, 1), example 0 by 2.
    #expect(report.worstMiss == SummationReport.Miss(example: 2, task: 0, error: 4, delta: 1))
    #expect(report.cause == .maxPoolGradientRule(layers: ["pool"]))
    #expect(report.cause?.description.contains("--maxpool deepshap") == true)

    var options = AttributionOptions()
    options.maxPool = .deepshap
    let kept = try model.explainer(options: options).explain(inputs: [x], references: .arrays([r]))
    #expect(kept.summationMisses.isEmpty)
    #expect(kept.summation.worstMiss == nil)
    #expect(kept.summation.cause == nil)
    #expect(kept.summation.worstError < 1e-5)
    // Gradient methods have no such guarantee: nothing is checked.
    let gradient = try model.explainer(method: .integratedGradients).explain(inputs: [x], references: .arrays([r]))
    #expect(gradient.summation.examples == 0 && gradient.summationMisses.isEmpty && gradient.summationErrors.isEmpty)
  }

  /// A random reference on a one-hot-like input with several windows: the gradient rule misses
  /// on some examples; the deepshap rule on none.
  @Test func randomReferenceThroughMaxPool() throws {
    var g = Graph()
    let xi = g.add(.input(shape: [12, 3]), name: "x")
    var rng = SplitMix64(seed: 3)
    func random(_ shape: Shape) -> Tensor {
      Tensor(shape: shape, scalars: (0..<shape.scalarCount).map { _ in Float.random(in: -1...1, using: &rng) })
    }
    let c = g.add(
      .conv(weight: random([3, 3, 4]), bias: random([4]), parameters: ConvParameters(strides: [1], dilations: [1], padding: .same)),
      inputs: [xi], name: "conv")
    let a = g.add(.activation(.relu), inputs: [c], name: "relu")
    let p = g.add(.maxPool(PoolParameters(size: [3], strides: [3], padding: .valid)), inputs: [a], name: "pool")
    let f = g.add(.reshape([-1]), inputs: [p], name: "flatten")
    let d = g.add(.dense(weight: random([16, 2]), bias: random([2])), inputs: [f], name: "out")
    g.outputs = [d]
    let model = Model(graph: g, format: .kerasHDF5, url: URL(fileURLWithPath: "m.h5"))
    let x = random([8, 12, 3]), r = random([8, 12, 3])
    let options = AttributionOptions(tasks: .indices([0, 1]))
    let result = try model.explainer(options: options).explain(inputs: [x], references: .arrays([r]))
    #expect(result.summationErrors.count == 16 && result.targetDeltas.count == 16)
    #expect(!result.summationMisses.isEmpty)
    #expect(result.summation.cause == .maxPoolGradientRule(layers: ["pool"]))
    // The per-example worst over tasks is still the convergence delta.
    for e in 0..<8 {
      #expect(result.convergenceDelta[e] == max(result.summationErrors[2 * e], result.summationErrors[2 * e + 1]))
    }
    var deepshap = options
    deepshap.maxPool = .deepshap
    let kept = try model.explainer(options: deepshap).explain(inputs: [x], references: .arrays([r]))
    #expect(kept.summationMisses.isEmpty, "\(kept.summationErrors)")
  }

  /// A NaN in the target (a NaN weight) is a miss reported as NaN, never as 0.
  @Test func nanIsAMissNotZero() throws {
    let model = pooled(weight: .nan)
    let x = Tensor(shape: [2, 2, 1], scalars: [1, 0, 3, 0])
    let result = try model.explainer().explain(inputs: [x], references: .zeros)
    #expect(result.summationErrors.count == 2 && result.summationErrors.allSatisfy { $0.isNaN })
    #expect(result.worstConvergenceDelta.isNaN)
    #expect(result.convergenceDelta.allSatisfy { $0.isNaN })
    #expect(result.summationMisses == [0, 1])
    #expect(result.summation.worstError.isNaN)
    #expect(result.summation.cause == .nonFinite)
  }

  /// Reports of consecutive batches combine: indices follow on, the worst is kept, NaN wins.
  @Test func reportsAppend() {
    var all = SummationReport()
    all.append(SummationReport(errors: [0, 2], deltas: [1, 1], tasks: [0]))
    all.append(SummationReport(errors: [0.5, 0, 3], deltas: [0, 1, 10], tasks: [0]))
    #expect(all.examples == 5)
    // 0.5 > 1e-3·max(1, 0) and 3 > 1e-3·10: examples 2 and 4 miss as well as 1.
    #expect(all.missingExamples == [1, 2, 4])
    #expect(all.worstError == 3)
    // 2 / max(1, 1) = 2 beats 0.5 / 1 and 3 / 10.
    #expect(all.worstMiss == SummationReport.Miss(example: 1, task: 0, error: 2, delta: 1))
    all.append(SummationReport(errors: [.nan], deltas: [1], tasks: [0]))
    #expect(all.worstError.isNaN)
    #expect(all.worstMiss?.example == 5)
    #expect(all.cause == .nonFinite)
    #expect(!SummationReport.misses(error: 0.009, delta: 10) && SummationReport.misses(error: 0.011, delta: 10))
    #expect(!SummationReport.misses(error: 0.001, delta: 0.5) && SummationReport.misses(error: 0.0011, delta: 0.5))
  }
}
