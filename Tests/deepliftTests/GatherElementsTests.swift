import Foundation
import LiftIO
import LiftTensor
import Testing

/// ONNX `GatherElements` with constant indices on an activation (issue 19): torch's
/// `h.gather(2, idx.expand(N, …))` between two Linear layers, against ONNX Runtime's forward
/// and Captum 0.9 `DeepLift` (Scripts/fixtures/make_embedding_fixtures.py).
@Suite("deeplift on ONNX GatherElements")
struct GatherElementsTests {
  static func path(_ name: String) -> String { EmbeddingTests.path(name) }

  func run(_ arguments: [String]) throws -> Tensor? {
    let tmp = try makeTemporaryDirectory()
    defer { cleanup(tmp) }
    let out = tmp.appendingPathComponent("out.npy")
    let r = try runDeeplift(arguments: arguments + ["--output", out.path, "--quiet"], in: tmp)
    #expect(r.status == 0, "\(arguments): \(r.stderr)")
    return r.status == 0 ? try NumPy.read(out) : nil
  }

  @Test("forward equals ONNX Runtime; rescale equals Captum DeepLift; reveal-cancel sums to delta")
  func equalsReferences() throws {
    let model = Self.path("gather_elements.onnx"), x = Self.path("gx.npy")
    if let y = try run(["predict", model, "--input", x]) {
      expectGoldenClose(y, try EmbeddingTests.golden("gather_elements.y.npy"), "forward")
    }
    if let s = try run(["explain", model, "--input", x]) {
      expectGoldenClose(s, try EmbeddingTests.golden("gather_elements.dl.zero.npy"), "Captum DeepLift")
    }
    for task in ["0", "1"] {
      _ = try run(["explain", model, "--input", x, "--method", "reveal-cancel", "--task", task, "--max-delta-error", "1e-5"])
      _ = try run(["explain", model, "--input", x, "--reference", Self.path("gx_ref.npy"), "--task", task, "--max-delta-error", "1e-5"])
    }
  }
}
