import Foundation
import LiftAttribution
import LiftKeras
import LiftNN
import LiftTensor
import Testing

/// Keras `LayerNormalization` (tf-keras 2.21 and Keras 3.15) and Keras 3 `RMSNormalization`
/// (Scripts/fixtures/make_keras_norm_fixtures.py): the forward pass equals Keras' at the output
/// and at every norm, and DeepLIFT keeps summation-to-delta through them.
@Suite("Keras import: LayerNormalization and RMSNormalization")
struct KerasNormTests {
  struct Case: CustomTestStringConvertible, Sendable {
    var file, prefix: String
    var taps: [String]
    var testDescription: String { file }
  }

  static let cases = [
    Case(file: "norms_tfk.h5", prefix: "norms_tfk", taps: ["ln_last", "ln_two", "ln_noscale"]),
    Case(file: "norms_k3.keras", prefix: "norms_k3", taps: ["ln_last", "ln_two", "ln_noscale", "rms"]),
  ]

  @Test(arguments: cases)
  func forwardMatchesKeras(_ c: Case) throws {
    let graph = try loadKerasModel(at: try fixture(c.file))
    let values = try forward(graph, inputs: [try loadNpy("\(c.prefix).x.npy")])
    expectForwardClose(values[graph.outputs[0].rawValue], try loadNpy("\(c.prefix).y.npy"), "\(c.file) output")
    for tap in c.taps {
      let id = try #require(graph.node(named: tap), "\(c.file): no node \(tap)")
      let kind = graph[id].op.kindName
      #expect(kind == (tap == "rms" ? "rms_norm" : "layer_norm"), "\(tap): \(kind)")
      expectForwardClose(values[id.rawValue], try loadNpy("\(c.prefix).at.\(tap).npy"), "\(c.file) layer \(tap)")
    }
  }

  /// Σ scores = f(x) − f(r) per example and task, for Rescale and RevealCancel.
  @Test(arguments: cases)
  func summationToDelta(_ c: Case) throws {
    let graph = try loadKerasModel(at: try fixture(c.file))
    let x = try loadNpy("\(c.prefix).x.npy")
    let r = Tensor(shape: x.shape, scalars: x.scalars.reversed().map { 0.5 * $0 })
    let fx = try forward(graph, inputs: [x])[graph.outputs[0].rawValue]
    let fr = try forward(graph, inputs: [r])[graph.outputs[0].rawValue]
    let n = x.shape[0], per = x.scalarCount / n
    for method in [AttributionMethod.rescale, .revealCancel, .genomicsDefault] {
      var o = ExplainOptions()
      o.method = method
      o.tasks = [0, 1, 2]
      let s = try Explainer(graph: graph, options: o).explain(inputs: [x], references: .perExample([r])).scores[0]
      for e in 0..<n {
        for t in 0..<3 {
          let sum = s.scalars[((e * 3 + t) * per)..<((e * 3 + t + 1) * per)].reduce(0.0) { $0 + Double($1) }
          let delta = Double(fx.scalars[e * 3 + t]) - Double(fr.scalars[e * 3 + t])
          #expect(abs(sum - delta) <= 1e-4 * max(1, abs(delta)), "\(c.file) \(method) example \(e) task \(t): \(sum) vs \(delta)")
        }
      }
    }
  }
}
