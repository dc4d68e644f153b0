import Foundation
import LiftAttribution
import LiftNN
import LiftTensor
import Testing

@testable import LiftKeras

/// Rescaling (scalar and per-channel), Normalization, UpSampling1D/2D (nearest, bilinear),
/// Conv1D/2DTranspose (valid with a kernel shorter than the stride, same) and tf-keras
/// TFOpLambda arithmetic (`x + 3`, `relu6`, `x·(1/6)`, `x / 2`) against Keras' own outputs
/// (Scripts/fixtures/make_zoo_fixtures.py), and the refusals of what they do not cover.
@Suite("Keras import: preprocessing, upsampling, transposed convolutions, TFOpLambda (issue 20)")
struct KerasZooLayerTests {
  static let cases = [("resample_tfk.h5", "resample_tfk"), ("resample_k3.keras", "resample_k3")]

  @Test(arguments: cases.map(\.0))
  func forwardMatchesKeras(_ file: String) throws {
    let prefix = Self.cases.first { $0.0 == file }!.1
    let graph = try loadKerasModel(at: try fixture(file))
    let kinds = Set(graph.nodes.map(\.op.kindName))
    for k in ["affine", "resize1d", "resize2d", "conv_transpose1d", "conv_transpose2d"] {
      #expect(kinds.contains(k), "\(file): no \(k) in \(kinds)")
    }
    let y = try forward(graph, inputs: [try loadNpy("\(prefix).x.npy")])[graph.outputs[0].rawValue]
    expectForwardClose(y, try loadNpy("\(prefix).y.npy"), file)
  }

  /// Conv2DTranspose (same, valid) and Conv1DTranspose with `output_padding`: Keras' output
  /// length and TensorFlow's pads.
  @Test(arguments: [("outpad_k3.keras", "outpad_k3"), ("outpad_tfk.h5", "outpad_tfk")])
  func transposedConvolutionsWithOutputPadding(_ file: String, _ prefix: String) throws {
    let graph = try loadKerasModel(at: try fixture(file))
    #expect(graph.nodes.filter { $0.op.kindName.hasPrefix("conv_transpose") }.count == 3)
    let y = try forward(graph, inputs: [try loadNpy("\(prefix).x.npy")])[graph.outputs[0].rawValue]
    expectForwardClose(y, try loadNpy("\(prefix).y.npy"), file)
  }

  /// tf-keras `SlicingOpLambda`: `x[:, 1:4]`, `x[..., 2]` (an index drops the axis),
  /// `x[:, -3:, 1:3]` (negative start) followed by a TFOpLambda `* 2`.
  @Test func slicingOpLambdaMatchesKeras() throws {
    let graph = try loadKerasModel(at: try fixture("slicing_tfk.h5"))
    #expect(graph.nodes.filter { $0.origin == "SlicingOpLambda" && $0.op.kindName == "slice" }.count == 3)
    let y = try forward(graph, inputs: [try loadNpy("slicing_tfk.x.npy")])[graph.outputs[0].rawValue]
    expectForwardClose(y, try loadNpy("slicing_tfk.y.npy"), "slicing_tfk.h5")
  }

  @Test(arguments: cases.map(\.0))
  func summationToDelta(_ file: String) throws {
    let prefix = Self.cases.first { $0.0 == file }!.1
    let graph = try loadKerasModel(at: try fixture(file))
    let x = try loadNpy("\(prefix).x.npy")
    let r = Tensor(shape: x.shape, scalars: x.scalars.map { 0.5 * $0 + 10 })
    let out = graph.outputs[0].rawValue
    let fx = try forward(graph, inputs: [x])[out], fr = try forward(graph, inputs: [r])[out]
    for method in [AttributionMethod.rescale, .revealCancel] {
      var options = ExplainOptions()
      options.method = method
      options.tasks = [2]
      let s = try Explainer(graph: graph, options: options).explain(inputs: [x], references: .perExample([r])).scores[0]
      let n = x.shape[0], per = x.scalarCount / n
      for i in 0..<n {
        let total = (0..<per).reduce(0.0) { $0 + Double(s.scalars[i * per + $1]) }
        let delta = Double(fx.scalars[i * 3 + 2]) - Double(fr.scalars[i * 3 + 2])
        #expect(abs(total - delta) <= 1e-4 * max(1, abs(delta)), "\(file) \(method) example \(i): \(total) vs \(delta)")
      }
    }
  }

  private func importJSON(_ text: String) throws(KerasImportError) -> Graph {
    guard let json = JSONValue.parse(Data(text.utf8)) else {
      throw .invalidConfig(file: "inline.json", reason: "bad JSON in test")
    }
    return try buildGraph(try parseModelConfig(json, file: "inline.json"), store: DictionaryStore(tensors: [:]), file: "inline.json")
  }

  /// A functional model `x [4, 3] → layer 'l'` (tf-keras inbound format, kwargs `KWARGS`).
  private func functional(_ layer: String, kwargs: String = "{}") -> String {
    """
    {"class_name": "Functional", "config": {"name": "f", "layers": [
      {"class_name": "InputLayer", "name": "x", "config": {"name": "x", "batch_input_shape": [null, 4, 3]}, "inbound_nodes": []},
      \(layer.replacingOccurrences(of: "INBOUND", with: #""inbound_nodes": [["x", 0, 0, \#(kwargs)]]"#))],
      "input_layers": [["x", 0, 0]], "output_layers": [["l", 0, 0]]}}
    """
  }

  @Test func tfOpLambdaConstantsMapToAffine() throws {
    let x = Tensor(shape: [1, 4, 3], scalars: (0..<12).map { Float($0) - 5 })
    let cases: [(function: String, kwargs: String)] = [
      ("__operators__.add", #"{"y": 3.0, "name": null}"#), ("math.multiply", #"{"y": 0.5, "name": null}"#),
      ("math.truediv", #"{"y": 4.0, "name": null}"#), ("math.subtract", #"{"y": 1.0, "name": null}"#),
      ("nn.relu6", #"{"name": null}"#),
    ]
    for c in cases {
      let g = try importJSON(functional(
        #"{"class_name": "TFOpLambda", "name": "l", "config": {"name": "l", "function": "\#(c.function)"}, INBOUND}"#,
        kwargs: c.kwargs))
      let y = try forward(g, inputs: [x])[g.outputs[0].rawValue]
      let expected: [Float] = x.scalars.map { v in
        switch c.function {
        case "__operators__.add": v + 3
        case "math.multiply": v * 0.5
        case "math.truediv": v / 4
        case "math.subtract": v - 1
        default: min(max(v, 0), 6)
        }
      }
      #expect(y.scalars == expected, "\(c.function)")
    }
    // Per-channel constants along the last axis.
    let g = try importJSON(functional(
      #"{"class_name": "TFOpLambda", "name": "l", "config": {"name": "l", "function": "__operators__.add"}, INBOUND}"#,
      kwargs: #"{"y": [1.0, 2.0, 3.0]}"#))
    let y = try forward(g, inputs: [x])[g.outputs[0].rawValue]
    #expect(y.scalars == x.scalars.enumerated().map { $1 + Float($0 % 3 + 1) })
  }

  @Test func refusalsNameTheLayerAndTheWayOut() throws {
    #expect(
      throws: KerasImportError.unsupportedConfiguration(
        file: "inline.json", layer: "l",
        reason: "TFOpLambda 'math.multiply' of two tensors (a product or sum of activations) is not supported; use a Multiply or Add layer")
    ) {
      try importJSON(functional(
        #"{"class_name": "TFOpLambda", "name": "l", "config": {"name": "l", "function": "math.multiply"}, INBOUND}"#,
        kwargs: #"{"y": ["x", 0, 0], "name": null}"#))
    }
    let error = #expect(throws: KerasImportError.self) {
      try importJSON(functional(
        #"{"class_name": "TFOpLambda", "name": "l", "config": {"name": "l", "function": "math.reduce_sum"}, INBOUND}"#))
    }
    #expect(error?.description.contains("'math.reduce_sum'") == true)
    #expect(error?.description.contains("export it to ONNX") == true)
    #expect(
      throws: KerasImportError.unsupportedConfiguration(
        file: "inline.json", layer: "l",
        reason: "Normalization with invert=True (the inverse map, y = x·√variance + mean) is not supported")
    ) {
      try importJSON(functional(
        #"{"class_name": "Normalization", "name": "l", "config": {"name": "l", "axis": -1, "invert": true, "mean": [0, 0, 0], "variance": [1, 1, 1]}, INBOUND}"#))
    }
    #expect(
      throws: KerasImportError.unsupportedConfiguration(
        file: "inline.json", layer: "l", reason: "interpolation 'bicubic' (nearest and bilinear are supported)")
    ) {
      try importJSON(functional(
        #"{"class_name": "UpSampling1D", "name": "l", "config": {"name": "l", "size": 2}, INBOUND}"#
          .replacingOccurrences(of: "UpSampling1D", with: "UpSampling2D")
          .replacingOccurrences(of: #""size": 2"#, with: #""size": [2, 2], "interpolation": "bicubic""#))
        .replacingOccurrences(of: "[null, 4, 3]", with: "[null, 4, 3, 2]"))
    }
  }

  /// Normalization's statistics from the config, a variance under ε² clamped to ε = 1e-7 as
  /// Keras does: `(x − mean) / max(√variance, 1e-7)`.
  @Test func normalizationFromConfig() throws {
    let g = try importJSON(functional(
      #"{"class_name": "Normalization", "name": "l", "config": {"name": "l", "axis": -1, "invert": false, "mean": [1.0, 2.0, 3.0], "variance": [4.0, 0.25, 1e-16]}, INBOUND}"#))
    let x = Tensor(shape: [1, 4, 3], scalars: (0..<12).map { Float($0) })
    let y = try forward(g, inputs: [x])[g.outputs[0].rawValue]
    let mean: [Float] = [1, 2, 3], sd: [Float] = [2, 0.5, 1e-7]
    for (i, v) in y.scalars.enumerated() {
      let want = (x.scalars[i] - mean[i % 3]) / sd[i % 3]
      #expect(abs(v - want) <= 1e-6 * max(1, abs(want)), "\(i): \(v) vs \(want)")
    }
  }
}
