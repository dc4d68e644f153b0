import Foundation
import LiftTensor
import Testing

// Issue 20's rows of the bad-input matrix for token-id inputs (embeddings): ids outside the
// table, float ids, wrong shapes, integer inputs that are not token ids, Keras mask_zero, and
// references that make no sense for ids — each one `error:` line naming the file and input.
// Fixtures: Scripts/fixtures/make_embedding_fixtures.py.
enum EmbeddingMatrix {
  static func e(_ name: String) -> String { "%embedding/" + name }

  static func explain(_ model: String, _ input: String, _ extra: [String] = []) -> [String] {
    ["explain", e(model), "--input", input, "--output", "out.npy"] + extra
  }

  static let cases: [BadCase] = [
    BadCase(
      label: "token id outside the embedding table", arguments: explain("textcnn.onnx", e("ids_bad.npy")), status: 1,
      mentions: ["ids_bad.npy", "input 'ids'", "row 2", "position 5", "token id 20", "0..<20"]),
    BadCase(
      label: "reference token id outside the embedding table",
      arguments: explain("textcnn.onnx", e("ids.npy"), ["--reference", e("ids_bad.npy")]), status: 1,
      mentions: ["ids_bad.npy", "row 2", "position 5", "token id 20"]),
    BadCase(
      label: "negative token id (Keras)", arguments: explain("emb_tfk.h5", "neg.npy"), status: 1,
      mentions: ["neg.npy", "input 'ids'", "row 1", "position 3", "token id -1"],
      setup: write(npyImage(descr: "<i8", shape: "(2, 8)", data: int64s((0..<16).map { $0 == 11 ? -1 : $0 })), "neg.npy")),
    BadCase(
      label: "float32 token ids", arguments: explain("textcnn.onnx", "f.npy"), status: 1,
      mentions: ["f.npy", "input 'ids'", "token ids", "float32"], setup: write(matrix(4, 8), "f.npy")),
    BadCase(
      label: "token ids of the wrong length", arguments: explain("textcnn.onnx", "short.npy"), status: 1,
      mentions: ["short.npy", "(4, 7)", "'ids'", "(N, 8)"],
      setup: write(npyImage(descr: "<i8", shape: "(4, 7)", data: int64s(Array(repeating: 1, count: 28))), "short.npy")),
    BadCase(
      label: "predict: token id outside the table", arguments: ["predict", e("emb_k3.keras"), "--input", e("ids_bad.npy"), "--output", "out.npy"],
      status: 1, mentions: ["ids_bad.npy", "token id 20"]),
    BadCase(
      label: "--shuffles on token ids", arguments: explain("textcnn.onnx", e("ids.npy"), ["--shuffles", "3"]), status: 1,
      mentions: ["shuffled references", "'ids'", "token ids"]),
    BadCase(
      label: "--hypothetical on token ids", arguments: explain("textcnn.onnx", e("ids.npy"), ["--hypothetical"]), status: 2,
      mentions: ["--hypothetical", "one-hot", "'ids'", "token ids"]),
    BadCase(
      label: "--fasta into a token-id model",
      arguments: ["explain", e("textcnn.onnx"), "--fasta", "s.fa", "--output", "out.h5"], status: 2,
      mentions: ["'ids'", "token ids"], precreate: "out.h5", setup: write(Data(">a\nACGTACGT\n".utf8), "s.fa")),
    BadCase(
      label: "ONNX int64 input read by a Cast, not an embedding", arguments: ["inspect", e("int_cast.onnx")], status: 1,
      mentions: ["int_cast.onnx", "input 'ids' is int64", "token ids of an embedding", "to_float", "Cast"], precreate: nil),
    BadCase(
      label: "Keras Embedding with mask_zero", arguments: explain("emb_mask.h5", e("ids.npy")), status: 1,
      mentions: ["emb_mask.h5", "'emb'", "mask_zero"]),
  ]
}

/// Little-endian int64 bytes.
func int64s(_ values: [Int]) -> Data {
  var d = Data()
  for v in values { withUnsafeBytes(of: Int64(v).littleEndian) { d.append(contentsOf: $0) } }
  return d
}

@Suite("deeplift bad-input matrix: token-id inputs (issue 20)")
struct EmbeddingMatrixTests {
  @Test("refused", arguments: EmbeddingMatrix.cases)
  func refused(_ c: BadCase) throws { try BadInputMatrixTests.check(c) }
}

// GatherElements of a graph tensor whose indices cannot be expressed per example.
enum GatherElementsMatrix {
  typealias P = ONNXProto
  static func model(_ indices: [Int64], dims: [Int64]) -> Data {
    P.model(
      nodes: [P.node("GatherElements", ["x", "idx"], ["y"], name: "ge", ["axis": .int(1)])],
      initializers: [P.tensor("idx", dims: dims, int64s: indices)], inputs: [P.valueInfo("x", [nil, 10])],
      outputs: [P.valueInfo("y", [nil, Int64(dims.last!)])])
  }

  static func row(_ label: String, _ model: Data, _ mentions: [String]) -> BadCase {
    BadCase(
      label: label, arguments: ["explain", "g.onnx", "--input", "x.npy", "--output", "out.npy"], status: 1,
      mentions: ["g.onnx", "ge", "GatherElements"] + mentions, setup: all(write(matrix(4, 10), "x.npy"), write(model, "g.onnx")))
  }

  static let cases: [BadCase] = [
    row("GatherElements: indices that differ per example", model([0, 1, 2, 3, 4, 5], dims: [2, 3]), ["same for every example"]),
    row("GatherElements: index out of range", model([0, 10, 2], dims: [1, 3]), ["index 10 out of range"]),
  ]
}

@Suite("deeplift bad-input matrix: GatherElements (issue 19)")
struct GatherElementsMatrixTests {
  @Test("refused", arguments: GatherElementsMatrix.cases)
  func refused(_ c: BadCase) throws { try BadInputMatrixTests.check(c) }
}
