import Foundation
import LiftIO
import LiftKit
import LiftTestSupport
import Testing

/// Issue 18: `--task profile` (CLI.md) is the softmax-weighted sum of the per-neuron scores,
/// `Σ_j (w_j − 1/n)·S_j` with `w = softmax(y − mean y)` from each example's own forward pass
/// (`S_j` the scores of `--task all`); every backward rule is linear in the seed, so this
/// holds to rounding for every method but guided backprop (whose ReLU rule zeroes negative
/// gradients: not linear in the seed).
@Suite("Profile target")
struct ProfileTargetTests {
  let model: Model
  let x: Tensor

  init() throws {
    model = try Model(contentsOf: genomicsExample.appendingPathComponent("model.h5"))
    x = try readArray(at: genomicsExample.appendingPathComponent("sequences.npy"))
  }

  /// `w − 1/n` per example of the target's outputs `y` (`[N, n]`), independently of the
  /// library: numerically stable softmax in double precision.
  static func weights(_ y: Tensor) -> [[Double]] {
    let n = y.shape.dropFirst.scalarCount
    return (0..<y.shape[0]).map { e in
      let row = (0..<n).map { Double(y.scalars[e * n + $0]) }
      let top = row.max()!
      let ex = row.map { Foundation.exp($0 - top) }
      let total = ex.reduce(0, +)
      return ex.map { $0 / total - 1 / Double(n) }
    }
  }

  static let cases: [(AttributionMethod, String, String)] = [
    (.rescale, "dense", "shuffles"), (.revealCancel, "dense", "shuffles"), (.genomicsDefault, "logits", "zeros"),
    (.rescale, "logits", "shuffles"), (.gradient, "dense", "zeros"), (.inputXGradient, "dense", "zeros"),
    (.integratedGradients, "dense", "shuffles"),
  ]

  @Test(arguments: 0..<cases.count)
  func profileIsTheWeightedSumOfAllTasks(_ k: Int) throws {
    let (method, target, refs) = Self.cases[k]
    let references: ReferenceSet = refs == "shuffles" ? .shuffles(count: 3, seed: 7) : .zeros
    var o = AttributionOptions(tasks: .all)
    o.maxPool = .deepshap
    o.steps = 8
    let all = try model.explainer(method: method, target: target, options: o).explain(inputs: [x], references: references)
    o.tasks = .profile
    let profile = try model.explainer(method: method, target: target, options: o)
      .explain(inputs: [x], references: references)
    let y = try model.predict(inputs: [x], layers: [model.node(named: target)])[0]
    let w = Self.weights(y)
    let s = all.scores[0]  // [N, n, L, 4]
    let (n, tasks) = (s.shape[0], s.shape[1])
    let inner = s.shape.dimensions.dropFirst(2).reduce(1, *)
    #expect(tasks == w[0].count && tasks > 1)
    #expect(profile.scores[0].shape == x.shape)
    var worst = 0.0, scale = 0.0
    for e in 0..<n {
      for i in 0..<inner {
        var expected = 0.0
        for j in 0..<tasks { expected += w[e][j] * Double(s.scalars[(e * tasks + j) * inner + i]) }
        worst = max(worst, abs(expected - Double(profile.scores[0].scalars[e * inner + i])))
        scale = max(scale, abs(expected))
      }
    }
    #expect(scale > 1e-4, "the weighted sum is not trivially zero")
    #expect(worst <= 1e-5 * max(1, scale), "\(method) on \(target): worst |profile − Σ w·S| = \(worst), scale \(scale)")
    if method.isDeepLIFT {
      // Summation-to-delta for Σ_j (w_j − 1/n)·Δy_j.
      #expect(profile.worstConvergenceDelta <= 1e-3, "\(profile.worstConvergenceDelta)")
      #expect(profile.tasks == [0])
    }
  }

  @Test func profileParsesAndRefusesContrast() throws {
    #expect(TaskSelection(parsing: "profile") == .profile)
    var o = AttributionOptions(tasks: .profile)
    o.contrast = 1
    #expect(throws: LiftKitError.self) {
      _ = try model.explainer(target: "logits", options: o).explain(inputs: [x])
    }
  }
}
