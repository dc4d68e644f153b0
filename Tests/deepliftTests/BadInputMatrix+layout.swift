import Foundation
import LiftTensor
import Testing

// Rows of the bad-input matrix for ONNX tensors the importer keeps channels-last: x → Conv 1×1
// → relu_out → AveragePool 2×2 → y. `relu_out` lives in NHWC between the two channels-last
// ops, so naming it (predict --layer, explain --target / --layer) is refused with one `error:`
// line naming the tensor and its internal `:channels_last` name, instead of giving values and
// --task indices in NHWC order under the ONNX name.

enum LayoutMatrix {
  typealias P = ONNXProto

  static let model: Data = P.model(
    nodes: [
      P.node("Conv", ["x", "W", "B"], ["conv_out"], name: "conv"),
      P.node("Relu", ["conv_out"], ["relu_out"], name: "relu"),
      P.node("AveragePool", ["relu_out"], ["y"], name: "pool", ["kernel_shape": .ints([2, 2]), "strides": .ints([2, 2])]),
    ],
    initializers: [
      P.tensor("W", dims: [8, 3, 1, 1], floats: (0..<24).map { Float($0 % 5) * 0.2 - 0.4 }),
      P.tensor("B", dims: [8], floats: [Float](repeating: 0.1, count: 8)),
    ],
    inputs: [P.valueInfo("x", [nil, 3, 4, 4])], outputs: [P.valueInfo("y", [nil, 8, 2, 2])], opset: 13)

  static func row(_ label: String, _ arguments: [String], output: String, _ mentions: [String]) -> BadCase {
    let input = Tensor(shape: [2, 3, 4, 4], scalars: (0..<96).map { Float($0 % 7) * 0.25 - 0.75 })
    return BadCase(
      label: label, arguments: arguments + ["--input", "x.npy", "--output", output], status: 1,
      mentions: mentions + [":channels_last", "layout"], precreate: output,
      setup: all(write(input, "x.npy"), write(model, "m.onnx")))
  }

  static let rows: [BadCase] = [
    row("ONNX predict --layer on a tensor kept channels-last", ["predict", "m.onnx", "--layer", "relu_out"],
      output: "out.npy", ["--layer 'relu_out'"]),
    row("ONNX explain --target on a tensor kept channels-last",
      ["explain", "m.onnx", "--target", "relu_out", "--task", "3", "--method", "gradient"], output: "out.npy",
      ["--target 'relu_out'"]),
    row("ONNX explain --layer on a conv output kept channels-last", ["explain", "m.onnx", "--layer", "conv_out"],
      output: "out.npz", ["--layer 'conv_out'"]),
  ]
}

@Suite("deeplift bad-input matrix: ONNX tensors kept channels-last")
struct LayoutMatrixTests {
  @Test("refused inner tensor names", arguments: LayoutMatrix.rows)
  func refused(_ c: BadCase) throws { try BadInputMatrixTests.check(c) }
}
