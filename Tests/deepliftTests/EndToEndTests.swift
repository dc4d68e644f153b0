import Foundation
import LiftIO
import LiftTensor
import LiftTestSupport
import Testing

/// Fixture models written by Scripts/fixtures/make_keras_fixtures.py (tf-keras / Keras 3),
/// with their inputs and Keras' own outputs.
let kerasFixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
  .deletingLastPathComponent().appendingPathComponent("LiftKerasTests/Fixtures")

func fixture(_ name: String) -> String { kerasFixtures.appendingPathComponent(name).path }

/// A fresh empty directory for outputs.
func scratchDirectory() throws -> URL {
  let url = FileManager.default.temporaryDirectory.appendingPathComponent("deeplift-e2e-\(UUID().uuidString)")
  try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
  return url
}

@Suite("deeplift end to end on Keras models")
struct EndToEndTests {
  @Test("predict equals Keras", arguments: [
    ("mlp.h5", "mlp.x.npy", "mlp.y.npy"),
    ("genomics_cnn.h5", "genomics_cnn.x.npy", "genomics_cnn.y.npy"),
    ("image_cnn.h5", "image_cnn.x.npy", "image_cnn.y.npy"),
    ("image_cnn3.keras", "image_cnn3.x.npy", "image_cnn3.y.npy"),
    ("zoo.h5", "zoo.x.npy", "zoo.y.npy"),
    ("residual.h5", "residual.x.npy", "residual.y.npy"),
    ("legacy22_mlp.h5", "legacy22_mlp.x.npy", "legacy22_mlp.y.npy"),
  ])
  func predict(model: String, x: String, y: String) throws {
    let dir = try scratchDirectory()
    let out = dir.appendingPathComponent("y.npy").path
    let r = try runDeeplift(arguments: ["predict", fixture(model), "--input", fixture(x), "--output", out])
    #expect(r.status == 0, "\(r.stderr)")
    let ours = try NumPy.read(URL(fileURLWithPath: out))
    let keras = try NumPy.read(URL(fileURLWithPath: fixture(y)))
    let scale = keras.scalars.map(abs).max() ?? 0
    expectClose(ours, keras, rtol: 0, atol: 1e-5 * scale + 1e-6)
  }

  @Test func predictTwoInputsWritesNpz() throws {
    let dir = try scratchDirectory()
    let out = dir.appendingPathComponent("y.npz").path
    let inspect = try runDeeplift(arguments: ["inspect", fixture("two_input.h5")])
    #expect(inspect.status == 0)
    let names = inspect.stdout.split(separator: "\n").first { $0.hasPrefix("inputs: ") }!
      .dropFirst("inputs: ".count).split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
    #expect(names.count == 2)
    let r = try runDeeplift(arguments: [
      "predict", fixture("two_input.h5"), "--input", "\(names[0])=\(fixture("two_input.x0.npy"))",
      "--input", "\(names[1])=\(fixture("two_input.x1.npy"))", "--output", out,
    ])
    #expect(r.status == 0, "\(r.stderr)")
    let arrays = try NumPy.readArchive(URL(fileURLWithPath: out))
    #expect(arrays.count == 2)
    expectClose(arrays[0].tensor, try NumPy.read(URL(fileURLWithPath: fixture("two_input.y0.npy"))), rtol: 1e-5, atol: 1e-5)
  }

  @Test func inspectListsLayers() throws {
    let r = try runDeeplift(arguments: ["inspect", fixture("genomics_cnn.h5")])
    #expect(r.status == 0)
    for word in ["conv1d", "max_pool1d", "output/preact", "default target: output/preact"] {
      #expect(r.stdout.contains(word), "\(word)")
    }
  }

  @Test func explainWritesScoresSummingToDelta() throws {
    let dir = try scratchDirectory()
    let out = dir.appendingPathComponent("s.npy").path
    let r = try runDeeplift(arguments: [
      "explain", fixture("genomics_cnn.h5"), "--input", fixture("genomics_cnn.x.npy"), "--output", out,
      "--method", "reveal-cancel", "--task", "0,1",
    ])
    #expect(r.status == 0, "\(r.stderr)")
    #expect(r.stderr.contains("summation-to-delta"))
    let s = try NumPy.read(URL(fileURLWithPath: out))
    let x = try NumPy.read(URL(fileURLWithPath: fixture("genomics_cnn.x.npy")))
    #expect(s.shape.dimensions == [x.shape[0], 2] + x.shape.dropFirst.dimensions)
  }

  @Test("bad inputs: one line, non-zero exit, no output", arguments: [
    (["--task", "7"], "task 7 is out of range"),
    (["--method", "deeplift"], "deeplift"),
    (["--reference", "mlp.y.npy"], "reference"),
    (["--target", "nope"], "nope"),
  ])
  func badExplain(extra: [String], fragment: String) throws {
    let dir = try scratchDirectory()
    let out = dir.appendingPathComponent("s.npy").path
    let args = extra.enumerated().map { i, a in i > 0 && a.hasSuffix(".npy") ? fixture(a) : a }
    let r = try runDeeplift(arguments: ["explain", fixture("genomics_cnn.h5"), "--input", fixture("genomics_cnn.x.npy"), "--output", out] + args)
    #expect(r.status != 0)
    #expect(r.stderrLines.count == 1, "\(r.stderr)")
    #expect(r.stderr.contains(fragment), "\(r.stderr)")
    #expect(!r.stderr.contains("Fatal error"))
    #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)
  }

  @Test("bad model files", arguments: ["unsupported_layers.h5", "random.h5", "no_config.keras", "custom_layer.h5"])
  func badModel(model: String) throws {
    let dir = try scratchDirectory()
    let out = dir.appendingPathComponent("s.npy").path
    for command in [["inspect", fixture(model)], ["predict", fixture(model), "--input", fixture("mlp.x.npy"), "--output", out]] {
      let r = try runDeeplift(arguments: command)
      #expect(r.status == 1, "\(r.stderr)")
      #expect(r.stderrLines.count == 1, "\(r.stderr)")
      #expect(r.stderr.contains(model), "\(r.stderr)")
    }
    #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)
  }

  @Test func truncatedModel() throws {
    let dir = try scratchDirectory()
    let data = try Data(contentsOf: URL(fileURLWithPath: fixture("genomics_cnn.h5")))
    let cut = dir.appendingPathComponent("cut.h5")
    try data.prefix(data.count / 2).write(to: cut)
    let r = try runDeeplift(arguments: ["inspect", cut.path])
    #expect(r.status == 1)
    #expect(r.stderrLines.count == 1, "\(r.stderr)")
    #expect(r.stderr.contains("cut.h5"))
  }

  @Test func missingMultiInputName() throws {
    let dir = try scratchDirectory()
    let out = dir.appendingPathComponent("s.npz").path
    let r = try runDeeplift(arguments: ["explain", fixture("two_input.h5"), "--input", fixture("two_input.x0.npy"), "--output", out])
    #expect(r.status == 2, "\(r.stderr)")
    #expect(r.stderrLines.count == 1)
    #expect(r.stderr.contains("NAME=FILE"))
  }
}

@Suite("deeplift explain streaming and shuffles")
struct StreamingTests {
  static let example = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("Examples/genomics")

  /// `--shuffles M --seed S` equals passing the file `deeplift shuffle` writes; the streamed
  /// `.npy` output (small chunks) equals the in-memory `.npz` path.
  @Test func shufflesOnTheFlyEqualWrittenReferences() throws {
    let dir = try scratchDirectory()
    let model = Self.example.appendingPathComponent("model.h5").path
    let x = Self.example.appendingPathComponent("sequences.npy").path
    let refs = dir.appendingPathComponent("r.npy").path
    #expect(try runDeeplift(arguments: ["shuffle", "--input", x, "--shuffles", "3", "--seed", "7", "--output", refs]).status == 0)
    let common = ["--method", "genomics-default", "--task", "all", "--maxpool", "deepshap"]
    let a = dir.appendingPathComponent("a.npy").path, b = dir.appendingPathComponent("b.npy").path
    let c = dir.appendingPathComponent("c.npz").path
    let ra = try runDeeplift(arguments: ["explain", model, "--input", x, "--reference", refs, "--output", a] + common)
    let rb = try runDeeplift(arguments: ["explain", model, "--input", x, "--shuffles", "3", "--seed", "7", "--output", b, "--batch-size", "4"] + common)
    let rc = try runDeeplift(arguments: ["explain", model, "--input", x, "--shuffles", "3", "--seed", "7", "--output", c] + common)
    #expect(ra.status == 0 && rb.status == 0 && rc.status == 0, "\(ra.stderr) \(rb.stderr) \(rc.stderr)")
    let ta = try NumPy.read(URL(fileURLWithPath: a)), tb = try NumPy.read(URL(fileURLWithPath: b))
    let tc = try NumPy.readArchive(URL(fileURLWithPath: c))[0].tensor
    #expect(ta.shape.dimensions == [20, 2, 200, 4])
    expectClose(tb, ta, rtol: 1e-5, atol: 1e-6)
    expectClose(tc, ta, rtol: 1e-5, atol: 1e-6)
    // Summation-to-delta holds with the deepshap max-pool rule.
    let line = ra.stderr.split(separator: "\n").first { $0.hasPrefix("summation-to-delta") }!
    let value = Double(line.split(separator: "=")[1].split(separator: " ")[0])!
    #expect(value < 1e-4)
  }

  /// Several chunks (1,100 examples, 1,024 per chunk) with a batch size that does not divide
  /// the chunk and per-example references read batch by batch: the streamed `.npy` equals
  /// the in-memory `.npz` path, and the convergence line counts every example.
  @Test func streamedChunksEqualInMemory() throws {
    let dir = try scratchDirectory()
    let x4 = try NumPy.read(URL(fileURLWithPath: fixture("mlp.x.npy")))  // [4, 6]
    let n = 1100
    let rows = (0..<n).map { i in x4.slice(batch: (i % 4)..<(i % 4 + 1)).scalars.map { $0 * Float(1 + i % 7) } }
    let x = Tensor(shape: [n, 6], scalars: rows.flatMap { $0 })
    let r = Tensor(shape: [n, 6], scalars: x.scalars.enumerated().map { i, v in v * 0.25 + Float(i % 5) * 0.1 })
    let xPath = dir.appendingPathComponent("x.npy"), rPath = dir.appendingPathComponent("r.npy")
    try NumPy.write(x, to: xPath)
    try NumPy.write(r, to: rPath)
    let a = dir.appendingPathComponent("a.npy").path, b = dir.appendingPathComponent("b.npz").path
    let common = ["--reference", rPath.path, "--batch-size", "100", "--task", "0,2", "--method", "reveal-cancel"]
    let ra = try runDeeplift(arguments: ["explain", fixture("mlp.h5"), "--input", xPath.path, "--output", a] + common)
    let rb = try runDeeplift(arguments: ["explain", fixture("mlp.h5"), "--input", xPath.path, "--output", b] + common)
    #expect(ra.status == 0 && rb.status == 0, "\(ra.stderr) \(rb.stderr)")
    let ta = try NumPy.read(URL(fileURLWithPath: a))
    let tb = try NumPy.readArchive(URL(fileURLWithPath: b))[0].tensor
    #expect(ta.shape.dimensions == [n, 2, 6])
    expectClose(ta, tb, rtol: 1e-5, atol: 1e-6)
    #expect(ra.stderr.contains("over \(n) example(s)"), "\(ra.stderr)")
  }
}
