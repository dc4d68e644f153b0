import Foundation
import LiftAttribution
import LiftIO
import LiftNN
import LiftTensor
import Testing

@testable import LiftONNX

/// Fixtures/attention (Scripts/fixtures/make_attention_fixtures.py): torch models exported with
/// the TorchScript exporter (opset 17, dynamic batch) whose graphs compute shapes from
/// `x.shape` (Shape, Gather, Equal, Where, Expand, Range, Concat of int tensors, computed
/// Reshape and Slice ends), split activations (Split, Slice), pick tokens (Gather), concatenate
/// a class token expanded over the batch, and apply softmax inside the net; with ONNX Runtime's
/// outputs and tangermeme 1.6 `deep_lift_shap` multipliers (float64) as (x − r)·m.
enum AttentionFixtures {
  static let directory = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!
    .appendingPathComponent("attention")

  nonisolated(unsafe) static let manifest: [String: Any] = {
    let data = try! Data(contentsOf: directory.appendingPathComponent("attention.json"))
    return try! JSONSerialization.jsonObject(with: data) as! [String: Any]
  }()

  static var models: [[String: Any]] { manifest["models"] as! [[String: Any]] }
  static var names: [String] { models.map { $0["name"] as! String } }
  static func model(_ name: String) -> [String: Any] { models.first { $0["name"] as? String == name }! }
  static func read(_ file: String) throws -> Tensor { try NumPy.read(directory.appendingPathComponent(file)) }
  static func graph(_ name: String) throws -> Graph {
    try loadONNXModel(at: directory.appendingPathComponent(model(name)["file"] as! String))
  }
  static func input() throws -> Tensor { try read(manifest["input"] as! String) }
  static func references(_ kind: String) throws -> Tensor {
    try read((manifest["references"] as! [String: String])[kind]!)
  }

  struct Case: Sendable, CustomTestStringConvertible {
    let model, reference, scores: String
    let task: Int
    var testDescription: String { "\(model) \(reference) task \(task)" }
  }

  static var cases: [Case] {
    (manifest["cases"] as! [[String: Any]]).map {
      Case(
        model: $0["model"] as! String, reference: $0["reference"] as! String, scores: $0["scores"] as! String,
        task: $0["task"] as! Int)
    }
  }
}

@Suite("Attention plumbing and softmax anywhere: ONNX Runtime and tangermeme 1.6")
struct AttentionFixtureTests {
  @Test("Forward pass equals ONNX Runtime", arguments: AttentionFixtures.names)
  func forwardPass(_ name: String) throws {
    let graph = try AttentionFixtures.graph(name)
    let expected = try AttentionFixtures.read(AttentionFixtures.model(name)["forward_ort"] as! String)
    let y = try forward(graph, inputs: [try AttentionFixtures.input()])[graph.outputs[0].rawValue]
    #expect(y.shape == expected.shape)
    let scale = expected.scalars.map(abs).max() ?? 0
    for (a, b) in zip(y.scalars, expected.scalars) {
      #expect(abs(a - b) <= 1e-5 * scale + 1e-6, "\(name): \(a) vs \(b)")
    }
  }

  /// The graph keeps what the importer made of the plumbing: the class token as a per-example
  /// constant, Split and chunk as slices, the [CLS] pick and `index_select` as gathers.
  @Test func tokenPlumbingLowersToStructuralOps() throws {
    let graph = try AttentionFixtures.graph("tokens")
    let kinds = graph.nodes.map(\.op.kindName)
    #expect(kinds.filter { $0 == "constant" }.count == 1)
    #expect(kinds.filter { $0 == "gather" }.count == 2)
    #expect(kinds.filter { $0 == "slice" }.count >= 6)
  }

  /// tangermeme's scores (its `_softmax` rule for nn.Softmax, linear rules for the plumbing);
  /// Rescale, as tangermeme's DeepLIFT is.
  @Test("Scores equal tangermeme deep_lift_shap", arguments: AttentionFixtures.cases)
  func matchesTangermeme(_ c: AttentionFixtures.Case) throws {
    let graph = try AttentionFixtures.graph(c.model)
    var options = ExplainOptions()
    options.method = .rescale
    options.tasks = [c.task]
    let refs = References.multiple([try AttentionFixtures.references(c.reference)])
    let ours = try Explainer(graph: graph, options: options)
      .explain(inputs: [try AttentionFixtures.input()], references: refs).scores[0]
    expectONNXGolden(ours, try AttentionFixtures.read(c.scores), "\(c)")
  }

  /// Summation-to-delta under every DeepLIFT method with a random reference: the class
  /// token and positional embedding (Δ = 0) take no score, the softmaxes' coupled rule loses
  /// none.
  @Test(arguments: AttentionFixtures.names, [AttributionMethod.rescale, .revealCancel])
  func sumsToDelta(_ name: String, _ method: AttributionMethod) throws {
    let graph = try AttentionFixtures.graph(name)
    var options = ExplainOptions()
    options.method = method
    options.tasks = [0, 1]
    let refs = References.multiple([try AttentionFixtures.references("random")])
    let e = try Explainer(graph: graph, options: options).explain(inputs: [try AttentionFixtures.input()], references: refs)
    for (err, delta) in zip(e.summationErrors, e.targetDeltas) {
      #expect(err <= 1e-4 * max(1, delta), "\(name) \(method.rawValue): |Σ − Δ| \(err), |Δ| \(delta)")
    }
  }
}
