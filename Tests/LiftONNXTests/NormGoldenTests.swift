import Foundation
import LiftAttribution
import LiftIO
import LiftNN
import LiftTensor
import Testing

@testable import LiftONNX

/// Goldens for LayerNorm and RMSNorm written by Scripts/fixtures/make_norm_goldens.py:
/// tangermeme 1.6 `deep_lift_shap` (its `_layernorm` / `_rmsnorm` rules, float64) on small
/// torch models, each exported as one ONNX operator (LayerNormalization opset 17,
/// RMSNormalization opset 23) and as the written-out chain older exporters produce (opset 14
/// TorchScript, opset 18 torch.export), which the importer fuses.
enum NormGoldens {
  static let directory = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!
    .appendingPathComponent("norms")

  nonisolated(unsafe) static let manifest: [String: Any] = {
    let data = try! Data(contentsOf: directory.appendingPathComponent("norm_goldens.json"))
    return try! JSONSerialization.jsonObject(with: data) as! [String: Any]
  }()

  static var models: [[String: Any]] { manifest["models"] as! [[String: Any]] }

  static func model(_ name: String) -> [String: Any] { models.first { $0["name"] as? String == name }! }

  static func read(_ file: String) throws -> Tensor { try NumPy.read(directory.appendingPathComponent(file)) }

  static func export(_ model: String, _ kind: String) -> [String: Any] {
    (self.model(model)["exports"] as! [String: Any])[kind] as! [String: Any]
  }

  static func graph(_ model: String, _ kind: String) throws -> Graph {
    try loadONNXModel(at: directory.appendingPathComponent(export(model, kind)["file"] as! String))
  }

  /// Every (model, export) pair.
  static var exports: [NormExport] {
    models.flatMap { m in
      (m["exports"] as! [String: Any]).keys.sorted().map { NormExport(model: m["name"] as! String, kind: $0) }
    }
  }

  static var cases: [NormCase] {
    (manifest["cases"] as! [[String: Any]]).flatMap { c in
      ["op", "decomposed"].map {
        NormCase(
          model: c["model"] as! String, kind: $0, reference: c["reference"] as! String, task: c["task"] as! Int,
          scores: c["scores"] as! String)
      }
    }
  }
}

struct NormExport: Sendable, CustomTestStringConvertible {
  let model, kind: String
  var testDescription: String { "\(model) \(kind)" }
}

struct NormCase: Sendable, CustomTestStringConvertible {
  let model, kind, reference: String
  let task: Int
  let scores: String
  var testDescription: String { "\(model) \(kind) \(reference) task \(task)" }
}

@Suite("Norm goldens: tangermeme 1.6 LayerNorm/RMSNorm rules through ONNX (issue 19)")
struct NormGoldenTests {
  /// The norm arrives as one layer_norm / rms_norm node, whether the file holds the operator or
  /// the written-out chain.
  @Test(arguments: NormGoldens.exports)
  func oneNormNode(_ e: NormExport) throws {
    let graph = try NormGoldens.graph(e.model, e.kind)
    let kinds = graph.nodes.map(\.op.kindName)
    let expected = e.model.hasPrefix("rms") ? "rms_norm" : "layer_norm"
    #expect(kinds.filter { $0 == expected }.count == 1, "\(kinds)")
    #expect(kinds.allSatisfy { $0 != "layer_norm" && $0 != "rms_norm" || $0 == expected }, "\(kinds)")
  }

  @Test("Forward pass equals ONNX Runtime", arguments: NormGoldens.exports)
  func forwardPass(_ e: NormExport) throws {
    let m = NormGoldens.model(e.model)
    let graph = try NormGoldens.graph(e.model, e.kind)
    let x = try NormGoldens.read(m["input"] as! String)
    let expected = try NormGoldens.read(NormGoldens.export(e.model, e.kind)["forward_ort"] as! String)
    let y = try forward(graph, inputs: [x])[graph.outputs[0].rawValue]
    #expect(y.shape == expected.shape)
    let scale = expected.scalars.map(abs).max() ?? 0
    for (a, b) in zip(y.scalars, expected.scalars) {
      #expect(abs(a - b) <= 1e-5 * scale + 1e-6, "\(e): \(a) vs \(b)")
    }
  }

  /// Rescale scores equal tangermeme's within 1e-5 of the largest score (float32 against float64).
  @Test(arguments: NormGoldens.cases)
  func golden(_ c: NormCase) throws {
    let m = NormGoldens.model(c.model)
    let graph = try NormGoldens.graph(c.model, c.kind)
    let x = try NormGoldens.read(m["input"] as! String)
    let refs = try NormGoldens.read((m["references"] as! [String: String])[c.reference]!)
    var options = ExplainOptions()
    options.method = .rescale
    options.tasks = [c.task]
    let ours = try Explainer(graph: graph, options: options).explain(inputs: [x], references: .multiple([refs]))
      .scores[0]
    let theirs = try NormGoldens.read(c.scores)
    try #require(ours.shape == theirs.shape)
    let scale = theirs.scalars.map(abs).max() ?? 0
    var worst: Float = 0
    for (a, b) in zip(ours.scalars, theirs.scalars) { worst = max(worst, abs(a - b)) }
    #expect(worst <= 1e-5 * scale, "\(c): max |ours − tangermeme| \(worst), scale \(scale)")
  }
}
