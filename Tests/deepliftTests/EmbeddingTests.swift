import Foundation
import LiftIO
import LiftTensor
import Testing

/// Token-id inputs through the command line (issue 20): an Embedding + Conv1d text classifier
/// exported from torch (int64 and int32 ids) and its Keras twins (tf-keras `.h5`, Keras 3
/// `.keras`), against Captum 0.9 `LayerDeepLift` / `LayerIntegratedGradients` on the embedding
/// layer, ONNX Runtime's and Keras' forward (Scripts/fixtures/make_embedding_fixtures.py).
@Suite("deeplift on token-id inputs (embeddings)")
struct EmbeddingTests {
  static let dir = matrixFixtures.appendingPathComponent("embedding")
  static func path(_ name: String) -> String { dir.appendingPathComponent(name).path }
  static func golden(_ name: String) throws -> Tensor { try NumPy.read(dir.appendingPathComponent(name)) }

  /// Runs `deeplift ARGS --output out.npz` and returns the archive's members and stderr.
  func run(_ arguments: [String], output: String = "out.npz") throws -> (arrays: [String: Tensor], stderr: String) {
    let tmp = try makeTemporaryDirectory()
    defer { cleanup(tmp) }
    let out = tmp.appendingPathComponent(output)
    let r = try runDeeplift(arguments: arguments + ["--output", out.path], in: tmp)
    #expect(r.status == 0, "\(arguments): \(r.stderr)")
    guard r.status == 0 else { return ([:], r.stderr) }
    if output.hasSuffix(".npz") {
      return (Dictionary(uniqueKeysWithValues: try NumPy.readArchive(out).map { ($0.name, $0.tensor) }), r.stderr)
    }
    return (["": try NumPy.read(out)], r.stderr)
  }

  /// Sums `t` over its last axis.
  func tokenSums(_ t: Tensor) -> Tensor {
    let d = t.shape.dimensions.last!
    let s = t.scalars
    return Tensor(
      shape: Shape(Array(t.shape.dimensions.dropLast())),
      scalars: stride(from: 0, to: s.count, by: d).map { s[$0..<($0 + d)].reduce(0, +) })
  }

  @Test(
    "ONNX int64 and int32 ids (and int32 cast to int64): LayerDeepLift / LayerIntegratedGradients on the embedding equal Captum",
    arguments: ["textcnn.onnx", "textcnn_int32.onnx", "textcnn_cast.onnx"])
  func onnxEqualsCaptum(_ model: String) throws {
    let cases: [([String], String)] = [
      ([], "textcnn.dl.zero.npy"),
      (["--reference", Self.path("ids_ref.npy")], "textcnn.dl.ref.npy"),
      (["--method", "integrated-gradients"], "textcnn.ig.zero.npy"),
    ]
    for (extra, goldenName) in cases {
      let (arrays, _) = try run(["explain", Self.path(model), "--input", Self.path("ids.npy"), "--task", "1", "--quiet"] + extra)
      let theirs = try Self.golden(goldenName)
      guard let embedding = arrays["ids.embedding"], let perToken = arrays["ids"] else {
        Issue.record("\(goldenName): members \(arrays.keys.sorted())")
        continue
      }
      #expect(embedding.shape == [4, 8, 6])
      #expect(perToken.shape == [4, 8])
      expectGoldenClose(embedding, theirs, "\(model) \(goldenName)")
      expectGoldenClose(perToken, tokenSums(theirs), "\(model) \(goldenName) per token")
    }
  }

  @Test("Keras Embedding (.h5, .keras): forward equals Keras, scores equal Captum on a torch twin", arguments: ["emb_tfk.h5", "emb_k3.keras"])
  func kerasEqualsCaptum(_ model: String) throws {
    let stem = model.split(separator: ".")[0]
    let (arrays, _) = try run(["explain", Self.path(model), "--input", Self.path("ids.npy"), "--task", "1", "--quiet"])
    if let embedding = arrays["ids.embedding"] {
      expectGoldenClose(embedding, try Self.golden("\(stem).dl.zero.npy"), "\(model) LayerDeepLift")
    } else {
      Issue.record("\(model): members \(arrays.keys.sorted())")
    }
    let (y, _) = try run(["predict", Self.path(model), "--input", Self.path("ids.npy")], output: "y.npy")
    expectGoldenClose(y[""]!, try Self.golden("\(stem).y.npy"), "\(model) forward")
  }

  @Test("HuggingFace BERT from input_ids (Shape nodes beside the embedding Gather): forward equals torch, integrated gradients equal Captum LayerIntegratedGradients, DeepLIFT sums to delta")
  func bertFromInputIDs() throws {
    let model = Self.path("bert_ids.onnx"), ids = Self.path("bert_ids.npy")
    let (y, _) = try run(["predict", model, "--input", ids], output: "y.npy")
    expectGoldenClose(y[""]!, try Self.golden("bert.y.npy"), "BERT forward")
    let (ig, _) = try run(["explain", model, "--input", ids, "--task", "2", "--method", "integrated-gradients", "--quiet"])
    if let e = ig["input_ids.embedding"] {
      expectGoldenClose(e, try Self.golden("bert.ig.zero.npy"), "BERT LayerIntegratedGradients")
    } else {
      Issue.record("members \(ig.keys.sorted())")
    }
    for method in ["rescale", "reveal-cancel"] {
      _ = try run(["explain", model, "--input", ids, "--task", "2", "--method", method, "--max-delta-error", "1e-4"])
    }
  }

  @Test("predict on int64 ids equals ONNX Runtime")
  func predictEqualsONNXRuntime() throws {
    let (y, _) = try run(["predict", Self.path("textcnn.onnx"), "--input", Self.path("ids.npy")], output: "y.npy")
    expectGoldenClose(y[""]!, try Self.golden("textcnn.y.npy"), "forward")
  }

  @Test("a .npy output holds the per-token sums, in the shape of the ids")
  func npyOutputIsPerToken() throws {
    let (arrays, _) = try run(["explain", Self.path("textcnn.onnx"), "--input", Self.path("ids.npy"), "--task", "1", "--quiet"], output: "out.npy")
    expectGoldenClose(arrays[""]!, tokenSums(try Self.golden("textcnn.dl.zero.npy")), "per token")
  }

  @Test(
    "summation-to-delta over the embedding scores (rescale, reveal-cancel; token-0 and per-example reference ids)",
    arguments: ["rescale", "reveal-cancel"])
  func sumsToDelta(_ method: String) throws {
    for model in ["textcnn.onnx", "emb_tfk.h5"] {
      for extra in [[], ["--reference", Self.path("ids_ref.npy")]] {
        // --max-delta-error turns a miss into exit 1.
        _ = try run(
          ["explain", Self.path(model), "--input", Self.path("ids.npy"), "--method", method, "--task", "2", "--max-delta-error", "1e-5"]
            + extra)
      }
    }
  }
}
