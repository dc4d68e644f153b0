import Foundation
import LiftAttribution
import LiftNN
import LiftTensor
import Testing

@testable import LiftONNX

/// `Fixtures/zoo/NAME.json` (Scripts/fixtures/make_zoo_fixtures.py): input, onnxruntime output,
/// per-example reference and golden Rescale scores `[task, N, …input]` (Captum DeepLift on
/// the float64 torch twin, or `(x − r)·∇y` for the linear hand-built graphs; empty where no
/// reference implementation gives one).
private struct ZooFixture: Decodable {
  var model: String
  var inputs: [FixtureArray]
  var outputs: [FixtureArray]
  var reference: FixtureArray
  var scores: FixtureArray

  static func load(_ name: String) throws -> (Graph, ZooFixture) {
    let dir = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!.appendingPathComponent("zoo")
    let json = try Data(contentsOf: dir.appendingPathComponent(name + ".json"))
    return (try loadONNXModel(at: dir.appendingPathComponent(name + ".onnx")), try JSONDecoder().decode(ZooFixture.self, from: json))
  }
}

@Suite("ONNX import: Resize, Upsample, ConvTranspose, ceil-mode pools (issue 20)")
struct ZooLayerTests {
  /// Fixture → the op kinds its graph must hold.
  static let cases: [(String, [String])] = [
    ("up_nearest", ["resize2d"]), ("up_bilinear", ["resize2d"]), ("up_bilinear_corners", ["resize2d"]),
    ("up_bilinear_size", ["resize2d"]), ("convtranspose2d", ["conv_transpose2d"]),
    ("convtranspose1d", ["conv_transpose1d"]), ("pool_ceil", ["max_pool2d", "avg_pool2d"]),
    ("resize_nearest_half_pixel", ["resize2d"]), ("resize_linear_sizes", ["resize2d"]),
    ("resize_nearest_1d_floor", ["resize1d"]), ("upsample9_nearest", ["resize2d"]),
    ("resize10_linear", ["resize2d"]), ("avgpool_ceil_include_pad", ["avg_pool2d"]),
    ("convtranspose_same_upper", ["conv_transpose2d"]), ("convtranspose_same_lower", ["conv_transpose2d"]),
  ]

  @Test(arguments: cases.map(\.0))
  func forwardMatchesOnnxRuntime(_ name: String) throws {
    let (graph, f) = try ZooFixture.load(name)
    let kinds = Set(graph.nodes.map(\.op.kindName))
    for k in Self.cases.first(where: { $0.0 == name })!.1 { #expect(kinds.contains(k), "\(name): no \(k) in \(kinds)") }
    let y = try forward(graph, inputs: [f.inputs[0].tensor])[graph.outputs[0].rawValue]
    expectMatches(y, f.outputs[0], name)
  }

  /// Rescale scores against Captum / the analytic scores, every task.
  @Test(arguments: cases.map(\.0))
  func rescaleMatchesTheGolden(_ name: String) throws {
    let (graph, f) = try ZooFixture.load(name)
    guard !f.scores.data.isEmpty else { return }
    var options = ExplainOptions()
    options.method = .rescale
    options.tasks = [0, 1, 2]
    let ours = try Explainer(graph: graph, options: options)
      .explain(inputs: [f.inputs[0].tensor], references: .perExample([f.reference.tensor])).scores[0]
    // Ours: [N, T, …]; the golden: [T, N, …].
    let t = f.scores.shape[0], n = f.scores.shape[1], per = f.scores.data.count / (t * n)
    #expect(ours.scalarCount == f.scores.data.count)
    let scale = max(f.scores.data.map(abs).max() ?? 0, 1)
    var worst = 0.0
    for ti in 0..<t {
      for ni in 0..<n {
        for k in 0..<per {
          worst = max(worst, abs(Double(ours.scalars[(ni * t + ti) * per + k]) - f.scores.data[(ti * n + ni) * per + k]))
        }
      }
    }
    #expect(worst <= 1e-4 * scale, "\(name): max |diff| \(worst), max |score| \(scale)")
  }

  /// On the linear graphs (resize, transposed conv) every method reduces to the gradient: integrated gradients equals the analytic `(x − r)·∇y`; gradient and guided backprop give
  /// `∇y` itself (no ReLU to guide), input×gradient `x·∇y`.
  @Test(arguments: ["resize_nearest_half_pixel", "resize_linear_sizes", "resize_nearest_1d_floor", "upsample9_nearest", "resize10_linear",
    "convtranspose_same_upper", "convtranspose_same_lower"])
  func gradientMethodsOnLinearGraphs(_ name: String) throws {
    let (graph, f) = try ZooFixture.load(name)
    let x = f.inputs[0].tensor, r = f.reference.tensor
    let t = f.scores.shape[0], n = f.scores.shape[1], per = f.scores.data.count / (t * n)
    let scale = max(f.scores.data.map(abs).max() ?? 0, 1)
    for method in [AttributionMethod.integratedGradients, .gradient, .guidedBackprop, .inputXGradient] {
      var options = ExplainOptions()
      options.method = method
      options.tasks = [0, 1, 2]
      let s = try Explainer(graph: graph, options: options).explain(inputs: [x], references: .perExample([r])).scores[0]
      var worst = 0.0
      for ti in 0..<t {
        for ni in 0..<n {
          for k in 0..<per {
            let golden = f.scores.data[(ti * n + ni) * per + k]
            let d = Double(x.scalars[ni * per + k]) - Double(r.scalars[ni * per + k])
            // The gradient from the golden: (x − r)·g / (x − r), where x ≠ r.
            guard abs(d) > 1e-3 else { continue }
            let want: Double =
              switch method {
              case .integratedGradients: golden
              case .inputXGradient: Double(x.scalars[ni * per + k]) * golden / d
              default: golden / d
              }
            worst = max(worst, abs(Double(s.scalars[(ni * t + ti) * per + k]) - want))
          }
        }
      }
      #expect(worst <= 1e-3 * scale, "\(name) \(method): max |diff| \(worst)")
    }
  }

  /// Every method sums to Δ; reveal-cancel and the deepshap max-pool rule included.
  @Test(arguments: cases.map(\.0))
  func summationToDelta(_ name: String) throws {
    let (graph, f) = try ZooFixture.load(name)
    let x = f.inputs[0].tensor, r = f.reference.tensor
    let out = graph.outputs[0].rawValue
    let fx = try forward(graph, inputs: [x])[out], fr = try forward(graph, inputs: [r])[out]
    for method in [AttributionMethod.rescale, .revealCancel] {
      var options = ExplainOptions()
      options.method = method
      options.tasks = [1]
      options.maxPool = .deepshap
      let s = try Explainer(graph: graph, options: options).explain(inputs: [x], references: .perExample([r])).scores[0]
      let n = x.shape[0], per = x.scalarCount / n
      for i in 0..<n {
        let total = (0..<per).reduce(0.0) { $0 + Double(s.scalars[i * per + $1]) }
        let delta = Double(fx.scalars[i * 3 + 1]) - Double(fr.scalars[i * 3 + 1])
        #expect(abs(total - delta) <= 1e-4 * max(1, abs(delta)), "\(name) \(method) example \(i): \(total) vs \(delta)")
      }
    }
  }
}

/// sklearn `MLPClassifier` through skl2onnx 1.20 (Scripts/fixtures/make_zoo_fixtures.py): a
/// label output (ArgMax, int64) and probabilities (ZipMap maps, or a tensor with zipmap=False).
@Suite("ONNX import: skl2onnx classifiers explain their probabilities (issue 20)")
struct SklearnClassifierTests {
  private struct Probabilities: Decodable {
    var inputs: [FixtureArray]
    var outputs: [FixtureArray]
  }

  @Test(arguments: [true, false])
  func probabilitiesAreTheOutputAndTheLabelIsSkipped(zipmap: Bool) throws {
    let name = "sklearn_mlp_zipmap\(zipmap ? 1 : 0)"
    let dir = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!.appendingPathComponent("zoo")
    let graph = try loadONNXModel(at: dir.appendingPathComponent(name + ".onnx"))
    let f = try JSONDecoder().decode(Probabilities.self, from: Data(contentsOf: dir.appendingPathComponent(name + ".json")))
    #expect(graph.outputs.count == 1)
    let label = zipmap ? "output_label" : "label"
    #expect(graph.notes.first == "output '\(label)' (int64) is skipped: only float outputs are explained (a class label from ArgMax has no gradient)")
    #expect(graph.notes.count == (zipmap ? 2 : 1))
    if zipmap { #expect(graph.notes.last?.hasPrefix("output 'output_probability' (ZipMap") == true) }
    // Neither ArgMax nor the ai.onnx.ml label nodes are converted.
    #expect(!graph.nodes.contains { $0.origin.contains("ArgMax") || $0.origin.contains("ArrayFeatureExtractor") })
    let y = try forward(graph, inputs: [f.inputs[0].tensor])[graph.outputs[0].rawValue]
    expectMatches(y, f.outputs[0], name)
    // The default target is the softmax's input (the logits).
    #expect(Explainer.defaultTarget(graph) != graph.outputs[0])
  }

  @Test func dataTypesAreNamedInWords() throws {
    var bad = try modelData(nodes: [nodeProto("Relu", ["x"], ["y"], name: "r")], inputDims: [.dimParam("n"), .dimValue(2)])
    var m = try Onnx_ModelProto(serializedBytes: bad)
    m.graph.input[0].type.tensorType.elemType = 2
    bad = try m.serializedData()
    let error = #expect(throws: ONNXImportError.self) { try loadONNXModel(from: bad) }
    #expect(error?.description == "tensor 'x' has unsupported ONNX data type 2 (uint8)")
    // int64 inputs are token ids when an embedding Gather reads them; here a Relu does.
    m.graph.input[0].type.tensorType.elemType = 7
    let ids = #expect(throws: ONNXImportError.self) { try loadONNXModel(from: try m.serializedData()) }
    #expect(
      ids?.description
        == "invalid ONNX model: input 'x' is int64: integer inputs are taken only as token ids of an embedding (one Gather, axis 0, of a [V, D] initializer, possibly after a Cast to an integer type; Shape of the ids is allowed too); it is read by node 'r' (Relu)"
    )
  }
}
