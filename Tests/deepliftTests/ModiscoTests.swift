import Foundation
import LiftIO
import LiftTensor
import LiftTestSupport
import Testing

/// `deeplift explain --modisco DIR`: the TF-MoDISco inputs modisco-lite reads
/// (`modisco motifs -s ohe.npz -a hyp.npz`): one `arr_0` array of shape (N, 4, L) per file.
@Suite("deeplift explain --modisco")
struct ModiscoTests {
  /// `[N, L, C]` (optionally `[N, T, L, C]` with task `t`) -> `[N, C, L]`, by plain loops.
  static func lengthLast(_ x: Tensor, task: Int? = nil) -> [Float] {
    let d = x.shape.dimensions
    let (n, l, c) = task == nil ? (d[0], d[1], d[2]) : (d[0], d[2], d[3])
    var out = [Float](repeating: .nan, count: n * c * l)
    for i in 0..<n {
      for p in 0..<l {
        for k in 0..<c {
          out[(i * c + k) * l + p] = task.map { x[i, $0, p, k] } ?? x[i, p, k]
        }
      }
    }
    return out
  }

  static func readSingle(_ url: URL) throws -> Tensor {
    let arrays = try NumPy.readArchive(url)
    #expect(arrays.map(\.name) == ["arr_0"], "\(url.lastPathComponent)")
    return arrays[0].tensor
  }

  @Test func severalTasksWriteOheAndOneHypFilePerTask() throws {
    let dir = try scratchDirectory()
    let modisco = dir.appendingPathComponent("modisco")
    let common = [
      "explain", fixture("genomics_cnn.h5"), "--input", fixture("genomics_cnn.x.npy"), "--method", "genomics-default",
      "--shuffles", "3", "--seed", "7", "--task", "0,1",
    ]
    let run = try runDeeplift(arguments: common + ["--output", dir.appendingPathComponent("s.npy").path, "--modisco", modisco.path])
    #expect(run.status == 0, "\(run.stderr)")
    #expect(run.stderr.contains("modisco: wrote ohe.npz, hyp_task0.npz, hyp_task1.npz"), "\(run.stderr)")
    let hypRun = try runDeeplift(arguments: common + ["--output", dir.appendingPathComponent("h.npy").path, "--hypothetical"])
    #expect(hypRun.status == 0, "\(hypRun.stderr)")

    let x = try NumPy.read(URL(fileURLWithPath: fixture("genomics_cnn.x.npy")))
    let hyp = try NumPy.read(dir.appendingPathComponent("h.npy"))
    let (n, l) = (x.shape[0], x.shape[1])
    #expect(try FileManager.default.contentsOfDirectory(atPath: modisco.path).sorted() == ["hyp_task0.npz", "hyp_task1.npz", "ohe.npz"])
    let ohe = try Self.readSingle(modisco.appendingPathComponent("ohe.npz"))
    #expect(ohe.shape.dimensions == [n, 4, l])
    #expect(ohe.scalars == Self.lengthLast(x))
    for t in 0..<2 {
      let h = try Self.readSingle(modisco.appendingPathComponent("hyp_task\(t).npz"))
      #expect(h.shape.dimensions == [n, 4, l])
      expectClose(h.scalars, Self.lengthLast(hyp, task: t), rtol: 1e-6, atol: 1e-6, "task \(t)")
    }
    // The main output is the ordinary contribution scores, untouched by --modisco.
    #expect(try NumPy.read(dir.appendingPathComponent("s.npy")).shape.dimensions == [n, 2, l, 4])
  }

  @Test func oneTaskWritesHypNpz() throws {
    let dir = try scratchDirectory()
    let out = dir.appendingPathComponent("h.npy")
    let r = try runDeeplift(arguments: [
      "explain", fixture("genomics_cnn.h5"), "--input", fixture("genomics_cnn.x.npy"), "--shuffles", "2",
      "--task", "1", "--hypothetical", "--output", out.path, "--modisco", dir.path, "--quiet",
    ])
    #expect(r.status == 0, "\(r.stderr)")
    #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted() == ["h.npy", "hyp.npz", "ohe.npz"])
    let hyp = try NumPy.read(out)
    let h = try Self.readSingle(dir.appendingPathComponent("hyp.npz"))
    #expect(h.shape.dimensions == [hyp.shape[0], 4, hyp.shape[1]])
    #expect(h.scalars == Self.lengthLast(hyp))
  }

  /// ONNX / torch models read `[N, 4, L]`: the files hold the arrays as they are.
  @Test func channelsFirstInputsAreWrittenAsTheyAre() throws {
    let dir = try scratchDirectory()
    let onnx = kerasFixtures.deletingLastPathComponent().deletingLastPathComponent()
      .appendingPathComponent("LiftONNXTests/Fixtures/genomics_cnn_dynamo.onnx")
    // Two one-hot sequences [2, 4, 40]: base (i·7 + p) mod 4 at position p.
    var x = Tensor.zeros([2, 4, 40])
    x.withUnsafeMutableBufferPointer { p in
      for i in 0..<2 { for pos in 0..<40 { p[(i * 4 + (i * 7 + pos) % 4) * 40 + pos] = 1 } }
    }
    let xURL = dir.appendingPathComponent("x.npy")
    try NumPy.write(x, to: xURL)
    let common = ["explain", onnx.path, "--input", xURL.path, "--shuffles", "2", "--seed", "3", "--quiet"]
    let r = try runDeeplift(arguments: common + ["--output", dir.appendingPathComponent("s.npy").path, "--modisco", dir.appendingPathComponent("m").path])
    #expect(r.status == 0, "\(r.stderr)")
    let h = try runDeeplift(arguments: common + ["--output", dir.appendingPathComponent("h.npy").path, "--hypothetical"])
    #expect(h.status == 0, "\(h.stderr)")
    let ohe = try Self.readSingle(dir.appendingPathComponent("m/ohe.npz"))
    #expect(ohe.shape.dimensions == [2, 4, 40])
    #expect(ohe.scalars == x.scalars)
    let hyp = try Self.readSingle(dir.appendingPathComponent("m/hyp.npz"))
    let expected = try NumPy.read(dir.appendingPathComponent("h.npy"))
    #expect(hyp.shape == expected.shape)
    expectClose(hyp.scalars, expected.scalars, rtol: 1e-6, atol: 1e-6)
  }

  @Test("not a sequence model or not a directory: one line, non-zero exit, nothing written", arguments: [
    ("mlp.h5", "mlp.x.npy", "modisco", "TF-MoDISco needs one-hot DNA"),
    ("genomics_cnn.h5", "genomics_cnn.x.npy", "file", "is not a directory"),
  ])
  func refused(model: String, x: String, target: String, fragment: String) throws {
    let dir = try scratchDirectory()
    let modisco = dir.appendingPathComponent(target)
    if target == "file" { try Data([1]).write(to: modisco) }
    let r = try runDeeplift(arguments: [
      "explain", fixture(model), "--input", fixture(x), "--output", dir.appendingPathComponent("s.npy").path,
      "--modisco", modisco.path,
    ])
    #expect(r.status != 0)
    #expect(r.stderrLines.count == 1, "\(r.stderr)")
    #expect(r.stderr.contains(fragment), "\(r.stderr)")
    #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == (target == "file" ? ["file"] : []))
  }

  @Test func gradientMethodsAreRefused() throws {
    let dir = try scratchDirectory()
    let r = try runDeeplift(arguments: [
      "explain", fixture("genomics_cnn.h5"), "--input", fixture("genomics_cnn.x.npy"), "--method", "gradient",
      "--output", dir.appendingPathComponent("s.npy").path, "--modisco", dir.appendingPathComponent("m").path,
    ])
    #expect(r.status == 2, "\(r.stderr)")
    #expect(r.stderr.contains("--modisco needs a DeepLIFT method"), "\(r.stderr)")
    #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)
  }
}
