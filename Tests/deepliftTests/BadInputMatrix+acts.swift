import Foundation
import Testing

// Issue 20: `deeplift inspect` on a refused model names every unsupported layer or operator,
// in one error line (fixtures from Scripts/fixtures/make_activation_fixtures.py).
enum ActsMatrix {
  static let cases: [BadCase] = [
    BadCase(
      label: "inspect: ONNX model with LSTM, two DepthToSpace and a com.microsoft node",
      arguments: ["inspect", "&unsupported_ops.onnx"], status: 1,
      mentions: [
        "unsupported_ops.onnx", "LSTM (node lstm_1)", "DepthToSpace (nodes up1, up2)", "com.microsoft.FusedConv (node fc)", "4 nodes of 3 operator types",
      ], precreate: nil),
    BadCase(
      label: "inspect: Keras model with LSTM and two Lambda layers (its Embedding on the input is supported)",
      arguments: ["inspect", "@unsupported_layers.h5"], status: 1,
      mentions: ["unsupported_layers.h5", "LSTM (layer lstm_1)", "Lambda (layers double, shift)", "3 layers of 2 classes"],
      precreate: nil),
  ]
}

@Suite("deeplift bad-input matrix: unsupported layer lists (issue 20)")
struct ActsMatrixTests {
  @Test("refused models", arguments: ActsMatrix.cases)
  func refused(_ c: BadCase) throws { try BadInputMatrixTests.check(c) }
}
