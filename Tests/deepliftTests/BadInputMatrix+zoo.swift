import Foundation
import Testing

// Issue 20, part 2 (zoo layers): refusals that say what to do, and data types in words
// (fixtures from Scripts/fixtures/make_activation_fixtures.py and make_zoo_fixtures.py).
enum ZooMatrix {
  static let cases: [BadCase] = [
    BadCase(
      label: "inspect: Keras Lambda layers: named, with what to do",
      arguments: ["inspect", "@unsupported_layers.h5"], status: 1,
      mentions: ["Lambda (layers double, shift)", "re-save the model with built-in layers", "export it to ONNX"],
      precreate: nil),
    BadCase(
      label: "inspect: ONNX uint8 input: the type in words",
      arguments: ["inspect", "u8.onnx"], status: 1,
      mentions: ["u8.onnx", "tensor 'x'", "data type 2 (uint8)"], precreate: nil,
      setup: write(
        ONNXProto.model(
          nodes: [ONNXProto.node("Identity", ["x"], ["y"], name: "id")], inputs: [ONNXProto.valueInfo("x", [nil, 4], elemType: 2)],
          outputs: [ONNXProto.valueInfo("y", [nil, 4])]), "u8.onnx")),
  ]
}

@Suite("deeplift bad-input matrix: zoo layers (issue 20)")
struct ZooMatrixTests {
  @Test("refused models", arguments: ZooMatrix.cases)
  func refused(_ c: BadCase) throws { try BadInputMatrixTests.check(c) }
}
