import Foundation
import LiftTensor
import Testing

// Issue 20's recurrent rows of the bad-input matrix: ONNX LSTM/GRU nodes and Keras recurrent
// layers that cannot be unrolled (wrong weight shapes, unsupported activations, clip,
// sequence_lens, a sequence whose axis 0 is the batch, open sequence lengths, merge_mode=None),
// each one `error:` line naming the file and the node or layer.

enum RecurrentMatrix {
  typealias P = ONNXProto
  /// x (N, 5, 3) → Transpose → xt (5, N, 3), time-major as torch writes it.
  static let x = P.valueInfo("x", [nil, 5, 3])
  static let y = P.valueInfo("Y", [5, 1, nil, 4])
  static let transpose = P.node("Transpose", ["x"], ["xt"], name: "time_major", ["perm": .ints([1, 0, 2])])

  static func weights(gates: Int, hidden: Int = 4, inputs: Int = 3, w: [Int64]? = nil, b: [Int64]? = nil) -> [ProtoMessage] {
    let wd = w ?? [1, Int64(gates * hidden), Int64(inputs)]
    let bd = b ?? [1, Int64(2 * gates * hidden)]
    func t(_ name: String, _ d: [Int64]) -> ProtoMessage {
      P.tensor(name, dims: d, floats: [Float](repeating: 0.1, count: Int(d.reduce(1, *))))
    }
    return [t("W", wd), t("R", [1, Int64(gates * hidden), Int64(hidden)]), t("B", bd)]
  }

  static func row(
    _ label: String, op: String = "LSTM", inputs: [String] = ["xt", "W", "R", "B"], attributes: [String: P.Attribute] = [:],
    initializers: [ProtoMessage]? = nil, timeMajor: Bool = true, _ mentions: [String]
  ) -> BadCase {
    var attrs = attributes
    attrs["hidden_size"] = attrs["hidden_size"] ?? .int(4)
    let node = P.node(op, timeMajor ? inputs : ["x"] + inputs.dropFirst(), ["Y"], name: "rnn_1", attrs)
    let model = P.model(
      nodes: (timeMajor ? [transpose] : []) + [node], initializers: initializers ?? weights(gates: op == "LSTM" ? 4 : 3),
      inputs: [x], outputs: [y], opset: 17)
    let input = Tensor(shape: [4, 5, 3], scalars: (0..<60).map { Float($0 % 7) * 0.25 - 0.5 })
    return BadCase(
      label: label, arguments: ["explain", "r.onnx", "--input", "x.npy", "--output", "out.npy"], status: 1,
      mentions: ["r.onnx", "rnn_1", op] + mentions, setup: all(write(input, "x.npy"), write(model, "r.onnx")))
  }

  static func keras(_ label: String, _ file: String, _ mentions: [String]) -> BadCase {
    let input = Tensor(shape: [2, 6, 4], scalars: (0..<48).map { Float($0 % 5) * 0.3 - 0.6 })
    return BadCase(
      label: label, arguments: ["explain", "@recurrent/\(file)", "--input", "x.npy", "--output", "out.npy"], status: 1,
      mentions: [file] + mentions, setup: write(input, "x.npy"))
  }

  /// x (N, 70000, 1) → LSTM: more time steps than are unrolled (the file is small).
  static let longSequence: BadCase = {
    let xl = P.valueInfo("x", [nil, 70_000, 1])
    let transposeL = P.node("Transpose", ["x"], ["xt"], name: "time_major", ["perm": .ints([1, 0, 2])])
    let model = P.model(
      nodes: [transposeL, P.node("LSTM", ["xt", "W", "R"], ["Y"], name: "rnn_1", ["hidden_size": .int(1)])],
      initializers: [P.tensor("W", dims: [1, 4, 1], floats: [0.1, 0.2, 0.3, 0.4]), P.tensor("R", dims: [1, 4, 1], floats: [0.1, 0.2, 0.3, 0.4])],
      inputs: [xl], outputs: [P.valueInfo("Y", [70_000, 1, nil, 1])], opset: 17)
    return BadCase(
      label: "ONNX LSTM over 70000 time steps", arguments: ["inspect", "r.onnx"], status: 1,
      mentions: ["r.onnx", "rnn_1", "70000 time steps"], precreate: nil, setup: write(model, "r.onnx"))
  }()

  static let rows: [BadCase] = [
    longSequence,
    row("ONNX LSTM with W of the wrong shape", initializers: weights(gates: 4, w: [1, 16, 2]), ["W of shape [1, 16, 2]"]),
    row("ONNX GRU with B of the wrong shape", op: "GRU", initializers: weights(gates: 3, b: [1, 20]), ["B of shape [1, 20]"]),
    row(
      "ONNX LSTM with an unsupported activation", attributes: ["activations": .strings(["Sigmoid", "Elu", "Tanh"])],
      ["activation 'Elu'"]),
    row("ONNX LSTM with a wrong number of activations", attributes: ["activations": .strings(["Sigmoid", "Tanh"])], ["activations"]),
    row("ONNX LSTM with clip", attributes: ["clip": .float(3)], ["clip"]),
    row("ONNX LSTM with input_forget", attributes: ["input_forget": .int(1)], ["input_forget"]),
    row("ONNX LSTM with an unknown direction", attributes: ["direction": .string("sideways")], ["direction 'sideways'"]),
    row(
      "ONNX LSTM with sequence_lens", inputs: ["xt", "W", "R", "B", "lens"],
      initializers: weights(gates: 4) + [P.tensor("lens", dims: [1], int64s: [3])], ["sequence_lens"]),
    row("ONNX LSTM whose sequence axis is the batch axis", timeMajor: false, ["batch axis"]),
    row("ONNX LSTM with hidden_size unlike R", attributes: ["hidden_size": .int(5)], ["hidden_size 5"]),
    keras("Keras LSTM over a sequence of open length", "bad_open_length.h5", ["lstm_open", "open length"]),
    keras("Keras Bidirectional with merge_mode=None", "bad_merge_none.h5", ["bi_none"]),
    keras("Keras LSTM kernel of the wrong shape", "bad_kernel_shape.h5", ["lstm_a", "kernel", "[4, 19]"]),
  ]
}

@Suite("deeplift bad-input matrix: recurrent layers (issue 20)")
struct RecurrentMatrixTests {
  @Test("refused recurrent layers", arguments: RecurrentMatrix.rows)
  func refused(_ c: BadCase) throws { try BadInputMatrixTests.check(c) }
}
