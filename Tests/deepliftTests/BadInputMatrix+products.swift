import Foundation
import LiftTensor
import Testing

// Issue 19's rows of the bad-input matrix: products of two graph tensors and Split that cannot
// be imported (ranks that would broadcast the batch axis, per-example vectors, inner extents,
// split sizes, the batch axis), each one `error:` line naming the file and the node.

enum ProductMatrix {
  typealias P = ONNXProto
  static let x = P.valueInfo("x", [nil, 10])
  static let y = P.valueInfo("y", [nil, 10])
  /// `u = Unsqueeze(x, [2])`: (N, 10, 1).
  static let unsqueeze = P.node("Unsqueeze", ["x", "axes"], ["u"], name: "unsq")
  static let axes = P.tensor("axes", dims: [1], int64s: [2])

  static func model(_ nodes: [ProtoMessage], _ initializers: [ProtoMessage] = []) -> Data {
    P.model(nodes: nodes, initializers: initializers, inputs: [x], outputs: [y])
  }

  static func row(_ label: String, _ model: Data, _ mentions: [String]) -> BadCase {
    BadCase(
      label: label, arguments: ["explain", "p.onnx", "--input", "x.npy", "--output", "out.npy"], status: 1,
      mentions: ["p.onnx"] + mentions, setup: all(write(matrix(4, 10), "x.npy"), write(model, "p.onnx")))
  }

  static let rows: [BadCase] = [
    BadCase(
      label: "Keras Dot with normalize=True",
      arguments: ["explain", "@products_normalize.h5", "--input", "x6.npy", "--output", "out.npy"], status: 1,
      mentions: ["products_normalize.h5", "cosine", "normalize"], setup: write(matrix(4, 6), "x6.npy")),
    row(
      "Mul of graph tensors of ranks 2 and 3",
      model([unsqueeze, P.node("Mul", ["x", "u"], ["y"], name: "mul")], [axes]), ["mul", "ranks 2 and 3"]),
    row("MatMul of per-example vectors", model([P.node("MatMul", ["x", "x"], ["y"], name: "mm")]), ["mm", "matrix per example"]),
    row(
      "MatMul with inner extents 1 and 10",
      model([unsqueeze, P.node("MatMul", ["u", "u"], ["y"], name: "mm")], [axes]), ["mm", "inner extents"]),
    row(
      "Split sizes that do not cover the axis",
      model(
        [P.node("Split", ["x", "sizes"], ["y", "rest"], name: "split", ["axis": .int(1)])],
        [P.tensor("sizes", dims: [2], int64s: [3, 4])]), ["split", "[3, 4]", "10"]),
    row(
      "Einsum that is not a batched matrix product",
      model([unsqueeze, P.node("Einsum", ["u", "u"], ["y"], name: "ein", ["equation": .string("bij,bij->bi")])], [axes]),
      ["ein", "bij,bij->bi"]),
    row(
      "Split of the batch axis",
      model([P.node("Split", ["x"], ["y", "rest"], name: "split", ["axis": .int(0)])]), ["split", "batch axis"]),
  ]
}

@Suite("deeplift bad-input matrix: products and Split (issue 19)")
struct ProductMatrixTests {
  @Test("products and Split", arguments: ProductMatrix.rows)
  func rows(_ c: BadCase) throws { try BadInputMatrixTests.check(c) }
}
