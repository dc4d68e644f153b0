import Foundation
import LiftTensor
import Testing

// Issue 19, shape arithmetic folded at import (LiftONNX ShapeFolding.swift) and Gather / Split
// of activations: rows of the bad-input matrix, each a small ONNX model made here with the
// matrix's protobuf writer (`ONNXProto`). Every refusal is one error line naming the file and
// the node, never a trap or an allocation beyond the folding budget.

/// An ONNX model with input `x` of shape `[N, 3]`, the given nodes and int64 initializers, and
/// output `y`.
func shapeModel(_ nodes: [ProtoMessage], ints: [(String, [Int64], [Int64])] = []) -> Data {
  ONNXProto.model(
    nodes: nodes, initializers: ints.map { ONNXProto.tensor($0.0, dims: $0.1, int64s: $0.2) },
    inputs: [ONNXProto.valueInfo("x", [nil, 3])], outputs: [ONNXProto.valueInfo("y", [])])
}

enum ShapesMatrix {
  static func inspect(_ label: String, _ model: Data, _ mentions: [String]) -> BadCase {
    BadCase(
      label: label, arguments: ["inspect", "m.onnx"], status: 1, mentions: ["m.onnx"] + mentions, precreate: nil,
      setup: write(model, "m.onnx"))
  }

  static let rows: [BadCase] = [
    inspect(
      "Range of 2^40 elements",
      shapeModel(
        [ONNXProto.node("Range", ["s", "l", "d"], ["r"], name: "range"), ONNXProto.node("Add", ["x", "r"], ["y"], name: "y")],
        ints: [("s", [], [0]), ("l", [], [1 << 40]), ("d", [], [1])]),
      ["'range'", "Range", "more than 2147483648 elements"]),
    inspect(
      "Expand of a constant to [2^13, 2^13] (past the folding budget)",
      shapeModel(
        [ONNXProto.node("Expand", ["c", "s"], ["e"], name: "expand"), ONNXProto.node("Add", ["x", "e"], ["y"], name: "y")],
        ints: [("c", [1], [1]), ("s", [2], [1 << 13, 1 << 13])]),
      ["'expand'", "import-time folding"]),
    inspect(
      "Equal of the batch extent and 5 (depends on N)",
      shapeModel(
        [
          ONNXProto.node("Shape", ["x"], ["s"], name: "shape"),
          ONNXProto.node("Gather", ["s", "zero"], ["n"], name: "n"),
          ONNXProto.node("Equal", ["n", "five"], ["e"], name: "equal"),
          ONNXProto.node("Add", ["x", "e"], ["y"], name: "y"),
        ], ints: [("zero", [], [0]), ("five", [], [5])]),
      ["'equal'", "depends on the batch size"]),
    inspect(
      "Gather of an activation at index 7 of 3",
      shapeModel([ONNXProto.node("Gather", ["x", "i"], ["y"], name: "pick", ["axis": .int(1)])], ints: [("i", [], [7])]),
      ["'pick'", "index 7 out of range for extent 3"]),
    inspect(
      "Gather of an activation along the batch axis",
      shapeModel([ONNXProto.node("Gather", ["x", "i"], ["y"], name: "pick", ["axis": .int(0)])], ints: [("i", [], [0])]),
      ["'pick'", "batch axis"]),
    inspect(
      "Split sizes [2, 2] of an extent 3",
      shapeModel(
        [ONNXProto.node("Split", ["x", "sizes"], ["y", "z"], name: "split", ["axis": .int(1)])],
        ints: [("sizes", [2], [2, 2])]),
      ["'split'", "split sizes [2, 2]"]),
    inspect(
      "ScatterND at index 9 of 3",
      shapeModel(
        [
          ONNXProto.node("ScatterND", ["d", "i", "u"], ["c"], name: "scatter"),
          ONNXProto.node("Add", ["x", "c"], ["y"], name: "y"),
        ], ints: [("d", [3], [0, 0, 0]), ("i", [1, 1], [9]), ("u", [1], [1])]),
      ["'scatter'", "index 9 out of range"]),
    inspect(
      "ones(N, 3) (a constant broadcast over the batch) transposed across its batch axis",
      shapeModel(
        [
          ONNXProto.node("Shape", ["x"], ["s"], name: "shape"),
          ONNXProto.node("ConstantOfShape", ["s"], ["ones"], name: "ones"),
          ONNXProto.node("Transpose", ["ones"], ["t"], name: "swap", ["perm": .ints([1, 0])]),
          ONNXProto.node("Add", ["x", "t"], ["y"], name: "y"),
        ]),
      ["'swap'", "constant broadcast over the batch"]),
    // Tensors whose batch axis is not first (torch attention's (L, N, E)): refused by name
    // where an op or an output cannot take them.
    inspect(
      "a transposed (3, N) tensor as the model output",
      shapeModel([ONNXProto.node("Transpose", ["x"], ["y"], name: "swap", ["perm": .ints([1, 0])])]),
      ["output 'y'", "batch axis elsewhere than first"]),
    inspect(
      "Flatten of a transposed (3, N) tensor",
      shapeModel([
        ONNXProto.node("Transpose", ["x"], ["t"], name: "swap", ["perm": .ints([1, 0])]),
        ONNXProto.node("Flatten", ["t"], ["y"], name: "flat"),
      ]),
      ["'flat'", "batch axis is not first", "Flatten does not take"]),
    inspect(
      "Reshape of a transposed (3, N) tensor to (N, 3) (reorders the elements across examples)",
      shapeModel(
        [
          ONNXProto.node("Transpose", ["x"], ["t"], name: "swap", ["perm": .ints([1, 0])]),
          ONNXProto.node("Shape", ["x"], ["s"], name: "shape"),
          ONNXProto.node("Reshape", ["t", "s"], ["y"], name: "back"),
        ]),
      ["'back'", "moves the batch within the order"]),
  ]
}

@Suite("deeplift bad-input matrix: shape folding, Gather and Split (issue 19)")
struct BadInputMatrixShapesTests {
  @Test("rows", arguments: ShapesMatrix.rows)
  func rows(_ c: BadCase) throws { try BadInputMatrixTests.check(c) }
}
