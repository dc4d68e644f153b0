import Foundation
import Testing

// Issue 20: `deeplift inspect` on a refused model names every unsupported layer or operator,
// in one error line (fixtures from Scripts/fixtures/make_activation_fixtures.py).
enum ActsMatrix {
  static let cases: [BadCase] = [
    BadCase(
      label: "inspect: ONNX model with two DepthToSpace and a com.microsoft node (and a supported LSTM)",
      arguments: ["inspect", "&unsupported_ops.onnx"], status: 1,
      mentions: [
        "unsupported_ops.onnx", "DepthToSpace (nodes up1, up2)", "com.microsoft.FusedConv (node fc)", "3 nodes of 2 operator types",
      ], precreate: nil),
    BadCase(
      label: "inspect: Keras model with two Lambda layers (its Embedding on the input and its LSTM are supported)",
      arguments: ["inspect", "@unsupported_layers.h5"], status: 1,
      mentions: ["unsupported_layers.h5", "Lambda (layers double, shift)", "2 layers of 1 class"], precreate: nil),
  ]
}

@Suite("deeplift bad-input matrix: unsupported layer lists (issue 20)")
struct ActsMatrixTests {
  @Test("refused models", arguments: ActsMatrix.cases)
  func refused(_ c: BadCase) throws { try BadInputMatrixTests.check(c) }
}
