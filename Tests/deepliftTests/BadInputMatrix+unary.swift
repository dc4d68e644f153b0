import Foundation
import LiftIO
import LiftTensor
import Testing

/// Bad-input rows of exp/log/sqrt/pow (issue 19): an input or reference outside a layer's
/// domain is one `error:` line naming the layer and the side, exit 1, no output written.
enum UnaryMatrix {
  static func positive(_ n: Int) -> Tensor {
    Tensor(shape: [n, 3], scalars: (0..<(3 * n)).map { Float($0 % 5) + 0.5 })
  }

  static let cases: [BadCase] = [
    BadCase(
      label: "log of the zero reference",
      arguments: ["explain", "&unary/log_input.onnx", "--input", "x.npy", "--output", "out.npy"],
      status: 1, mentions: ["'l' (log)", "a reference", "0.0"],
      setup: { dir in try NumPy.write(positive(2), to: dir.appendingPathComponent("x.npy")) }),
    BadCase(
      label: "log of a negative input",
      arguments: ["explain", "&unary/log_input.onnx", "--input", "x.npy", "--reference", "r.npy", "--output", "out.npy"],
      status: 1, mentions: ["'l' (log)", "an input", "-1.5"],
      setup: { dir in
        var v = positive(2).scalars
        v[4] = -1.5
        try NumPy.write(Tensor(shape: [2, 3], scalars: v), to: dir.appendingPathComponent("x.npy"))
        try NumPy.write(positive(2), to: dir.appendingPathComponent("r.npy"))
      }),
    BadCase(
      label: "Pow with a graph tensor as exponent",
      arguments: ["inspect", "pow.onnx"], status: 1, mentions: ["pow.onnx", "pw", "non-constant exponent"],
      precreate: nil,
      setup: { dir in try powWithGraphExponent().write(to: dir.appendingPathComponent("pow.onnx")) }),
  ]

  /// `x [n, 3] → Pow(x, x)` as protobuf bytes.
  static func powWithGraphExponent() -> Data {
    ONNXProto.model(
      nodes: [ONNXProto.node("Pow", ["x", "x"], ["y"], name: "pw")], inputs: [ONNXProto.valueInfo("x", [nil, 3])],
      outputs: [ONNXProto.valueInfo("y", [nil, 3])])
  }
}

@Suite("deeplift bad-input matrix: exp/log/sqrt/pow domains (issue 19)")
struct UnaryMatrixTests {
  @Test("domains", arguments: UnaryMatrix.cases)
  func unaryCases(_ c: BadCase) throws { try BadInputMatrixTests.check(c) }
}
