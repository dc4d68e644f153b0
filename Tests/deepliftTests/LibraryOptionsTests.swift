import Foundation
import LiftIO
import LiftTensor
import LiftTestSupport
import Testing

/// Models and goldens of Scripts/fixtures/make_layer_goldens.py (the original deeplift 0.6.13).
let layerFixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
  .deletingLastPathComponent().appendingPathComponent("LiftAttributionTests/Fixtures/layer")

func layerFixture(_ name: String) -> String { layerFixtures.appendingPathComponent(name).path }

@Suite("deeplift explain --layer, --contrast, --softmax-normalize, --normalize-first-conv")
struct LibraryOptionsTests {
  func explain(_ model: String, _ extra: [String], output: String) throws -> CLIResult {
    let stem = String(model.dropLast(3))
    return try runDeeplift(
      arguments: [
        "explain", layerFixture(model), "--input", layerFixture("\(stem).x.npy"), "--output", output,
      ] + extra)
  }

  @Test func helpListsTheOptions() throws {
    let r = try runDeeplift(arguments: ["explain", "--help"])
    for option in ["--layer", "--contrast", "--softmax-normalize", "--normalize-first-conv"] {
      #expect(r.stdout.contains(option), "\(option)")
    }
  }

  @Test func layersGoIntoOneNpzWithTheInputScores() throws {
    let dir = try scratchDirectory()
    let out = dir.appendingPathComponent("s.npz").path
    let r = try explain(
      "cnn.h5",
      [
        "--reference", layerFixture("cnn.ref.npy"), "--task", "1", "--method", "genomics-default",
        "--layer", "conv1/preact", "--layer", "dense1",
      ], output: out)
    #expect(r.status == 0, "\(r.stderr)")
    let arrays = try NumPy.readArchive(URL(fileURLWithPath: out))
    // Member names are safe file names: `/` is stored as `_` (NumPy.memberNames).
    #expect(arrays.map(\.name) == ["seq", "conv1_preact", "dense1"])
    for (k, file) in [
      (1, "cnn.genomics-default.t1.conv1_preact.npy"), (2, "cnn.genomics-default.t1.dense1.npy"),
    ] {
      let theirs = try NumPy.read(URL(fileURLWithPath: layerFixture(file)))
      expectClose(arrays[k].tensor, theirs, rtol: 1e-3, atol: 5e-4 * (theirs.scalars.map(abs).max() ?? 0))
    }
    #expect(arrays[0].tensor.shape == [5, 20, 4])
  }

  @Test func layerMultipliers() throws {
    let dir = try scratchDirectory()
    let out = dir.appendingPathComponent("m.npz").path
    let r = try explain("mlp.h5", ["--layer", "h1", "--multipliers", "--quiet"], output: out)
    #expect(r.status == 0, "\(r.stderr)")
    #expect(r.stderr.isEmpty)
    let arrays = try NumPy.readArchive(URL(fileURLWithPath: out))
    #expect(arrays.map(\.name) == ["x", "h1"])
    #expect(arrays[1].tensor.shape == [6, 7])
  }

  @Test func softmaxNormalizeEqualsTheOriginalsRecipe() throws {
    let dir = try scratchDirectory()
    let out = dir.appendingPathComponent("s.npy").path
    let r = try runDeeplift(arguments: [
      "explain", layerFixture("softmax.h5"), "--input", layerFixture("softmax.x.npy"), "--reference",
      layerFixture("softmax.ref.npy"), "--output", out, "--softmax-normalize", "--task", "3", "--method",
      "reveal-cancel",
    ])
    #expect(r.status == 0, "\(r.stderr)")
    let theirs = try NumPy.read(URL(fileURLWithPath: layerFixture("softmax_norm.reveal-cancel.t3.x.npy")))
    expectClose(
      try NumPy.read(URL(fileURLWithPath: out)), theirs, rtol: 1e-3,
      atol: 5e-4 * (theirs.scalars.map(abs).max() ?? 0))
  }

  @Test func contrastReportsTheDifference() throws {
    let dir = try scratchDirectory()
    let out = dir.appendingPathComponent("s.npy").path
    let r = try explain(
      "mlp.h5", ["--reference", layerFixture("mlp.ref.npy"), "--contrast", "0", "--task", "1"], output: out)
    #expect(r.status == 0, "\(r.stderr)")
    #expect(r.stderr.contains("f_task(x) - f_0(x)"), "\(r.stderr)")
  }

  @Test func normalizeFirstConvPrintsANote() throws {
    let dir = try scratchDirectory()
    let out = dir.appendingPathComponent("s.npy").path
    let r = try explain("cnn.h5", ["--normalize-first-conv"], output: out)
    #expect(r.status == 0, "\(r.stderr)")
    #expect(r.stderr.contains("note: mean-normalised the weights of 'conv1/preact'"), "\(r.stderr)")
  }

  @Test(
    "bad uses: one line, non-zero exit, no output",
    arguments: [
      ("mlp.h5", ["--layer", "h1"], "s.npy", Int32(2), "--layer writes an .npz"),
      ("mlp.h5", ["--layer", "nope"], "s.npz", 1, "--layer 'nope': no such layer"),
      ("mlp.h5", ["--layer", "h1", "--layer", "h1"], "s.npz", 2, "given twice"),
      ("mlp.h5", ["--layer", "out"], "s.npz", 1, "does not feed the target"),
      ("mlp.h5", ["--layer", "h1", "--method", "integrated-gradients"], "s.npz", 1, "integrated-gradients"),
      ("mlp.h5", ["--contrast", "5"], "s.npy", 1, "--contrast 5 is out of range"),
      ("mlp.h5", ["--contrast", "-1"], "s.npy", 2, "--contrast must be a neuron index (0 or more), got -1"),
      ("mlp.h5", ["--normalize-first-conv"], "s.npy", 1, "no convolution reads a model input"),
      ("mlp.h5", ["--softmax-normalize", "--target", "h1"], "s.npy", 1, "dense or conv target"),
    ])
  func badUses(model: String, extra: [String], output: String, status: Int32, fragment: String) throws {
    let dir = try scratchDirectory()
    let r = try explain(model, extra, output: dir.appendingPathComponent(output).path)
    #expect(r.status == status, "\(r.stderr)")
    #expect(r.stderrLines.count == 1, "\(r.stderr)")
    #expect(r.stderr.contains(fragment), "\(r.stderr)")
    #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)
  }
}
