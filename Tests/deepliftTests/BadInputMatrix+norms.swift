import Foundation
import Testing

// Issue 19 (LayerNorm/RMSNorm): bad normalisation layers refused at load, naming the file, the
// node or layer and what is wrong.

enum NormsMatrix {
  typealias P = ONNXProto

  /// ONNX (opset 17): `y = LayerNormalization(x, scale[, B])` of x (N, 10), attributes as given.
  static func layerNorm(
    scale: (name: String, dims: [Int64])? = ("g", [10]), attributes: [String: P.Attribute] = [:],
    op: String = "LayerNormalization", opset: Int64 = 17
  ) -> Data {
    var initializers = [ProtoMessage]()
    if let scale, scale.name != "x" {
      let count = Int(scale.dims.reduce(1, *))
      initializers.append(P.tensor(scale.name, dims: scale.dims, floats: [Float](repeating: 1, count: count)))
    }
    return P.model(
      nodes: [P.node(op, ["x", scale?.name ?? ""], ["y"], name: "norm", attributes)], initializers: initializers,
      inputs: [P.valueInfo("x", [nil, 10])], outputs: [P.valueInfo("y", [])], opset: opset)
  }

  /// A Keras 3 LayerNormalization without weights (`center`, `scale` off) after an input (5, 6).
  static func kerasLayerNorm(_ options: String) -> Data {
    kerasArchive(
      input: [5, 6],
      layers: [
        #"{"class_name": "LayerNormalization", "config": {"name": "ln", "center": false, "scale": false, "#
          + options + "}}"
      ])
  }

  static let cases: [BadCase] = [
    BadCase(
      label: "ONNX LayerNormalization with a Scale of the wrong shape",
      arguments: ["inspect", "ln.onnx"], status: 1,
      mentions: ["ln.onnx", "LayerNormalization", "norm", "scale of shape [5]", "[10]"], precreate: nil,
      setup: write(layerNorm(scale: ("g", [5])), "ln.onnx")),
    BadCase(
      label: "ONNX LayerNormalization over the batch axis",
      arguments: ["inspect", "ln.onnx"], status: 1,
      mentions: ["ln.onnx", "LayerNormalization", "norm", "batch axis"], precreate: nil,
      setup: write(layerNorm(attributes: ["axis": .int(0)]), "ln.onnx")),
    BadCase(
      label: "ONNX LayerNormalization whose Scale is computed from the input",
      arguments: ["inspect", "ln.onnx"], status: 1,
      mentions: ["ln.onnx", "LayerNormalization", "norm", "must be a constant"], precreate: nil,
      setup: write(layerNorm(scale: ("x", [10])), "ln.onnx")),
    BadCase(
      label: "ONNX RMSNormalization in an opset-17 model",
      arguments: ["inspect", "rms.onnx"], status: 1,
      mentions: ["rms.onnx", "RMSNormalization", "opset 17"], precreate: nil,
      setup: write(layerNorm(op: "RMSNormalization"), "rms.onnx")),
    BadCase(
      label: "Keras LayerNormalization with rms_scaling=True",
      arguments: ["inspect", "ln.keras"], status: 1,
      mentions: ["ln.keras", "ln", "rms_scaling"], precreate: nil,
      setup: write(kerasLayerNorm(#""axis": -1, "epsilon": 0.001, "rms_scaling": true"#), "ln.keras")),
    BadCase(
      label: "Keras LayerNormalization over a non-trailing axis",
      arguments: ["inspect", "ln.keras"], status: 1,
      mentions: ["ln.keras", "ln", "not the trailing axes"], precreate: nil,
      setup: write(kerasLayerNorm(#""axis": 1, "epsilon": 0.001"#), "ln.keras")),
    BadCase(
      label: "Keras LayerNormalization with a negative epsilon",
      arguments: ["inspect", "ln.keras"], status: 1,
      mentions: ["ln.keras", "ln", "epsilon"], precreate: nil,
      setup: write(kerasLayerNorm(#""axis": -1, "epsilon": -1"#), "ln.keras")),
  ]
}

@Suite("deeplift bad-input matrix: LayerNorm/RMSNorm layers (issue 19)")
struct NormsMatrixTests {
  @Test("refused norms", arguments: NormsMatrix.cases)
  func refused(_ c: BadCase) throws { try BadInputMatrixTests.check(c) }
}
