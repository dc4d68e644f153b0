import Foundation
import LiftIO
import LiftTensor
import Testing

/// Issue 18: `deeplift explain M1 M2 …` gives the mean over the models, every model against the
/// same references (shuffles drawn once per example).
@Suite("Several models (folds)")
struct FoldsTests {
  static func path(_ name: String) -> String { ProfileGoldenTests.path(name) }

  @Test(arguments: [["--shuffles", "3", "--seed", "5", "--hypothetical"], ["--task", "profile", "--reference", "refs.npy"]])
  func twoModelsAreTheMeanOfTwoRuns(_ options: [String]) throws {
    let dir = try scratchDirectory()
    let opts = options.map { $0 == "refs.npy" ? Self.path("refs.npy") : $0 } + ["--quiet", "--batch-size", "4"]
    func run(_ models: [String], _ out: String) throws -> Tensor {
      let r = try runDeeplift(
        arguments: ["explain"] + models.map(Self.path) + ["--input", Self.path("x.npy"), "--output", dir.appendingPathComponent(out).path] + opts)
      #expect(r.status == 0, "\(r.stderr)")
      return try NumPy.read(dir.appendingPathComponent(out))
    }
    let a = try run(["bpnet.onnx"], "a.npy")
    let b = try run(["bpnet_fold2.onnx"], "b.npy")
    let both = try run(["bpnet.onnx", "bpnet_fold2.onnx"], "ab.npy")
    #expect(both.shape == a.shape)
    let mean = zip(a.scalars, b.scalars).map { ($0 + $1) / 2 }
    // The same arithmetic in the same order: equal bit for bit.
    let same = zip(both.scalars, mean).allSatisfy { $0.bitPattern == $1.bitPattern }
    #expect(same, "the two-model scores are not the mean of the single runs")
    #expect(a.scalars != b.scalars, "the folds differ")
  }

  /// The h5 root attributes list the models.
  @Test func h5ListsTheModels() throws {
    let dir = try genomeScratch()
    let second = dir.appendingPathComponent("fold2.onnx")
    try FileManager.default.copyItem(at: onnxFixtures.appendingPathComponent("genomics_cnn.onnx"), to: second)
    let out = dir.appendingPathComponent("g.h5")
    let first = onnxFixtures.appendingPathComponent("genomics_cnn.onnx").path
    let g = try runDeeplift(arguments: [
      "explain", first, second.path, "--genome", dir.appendingPathComponent("genome.fa").path, "--regions",
      dir.appendingPathComponent("peaks.bed").path, "--output", out.path, "--shuffles", "2", "--seed", "1", "--quiet",
    ])
    #expect(g.status == 0, "\(g.stderr)")
    #expect(H5Read.attribute(out, "models") == "\(first),\(second.path)")
  }

  /// Shards of a two-model run merge to the unsharded two-model run, byte for byte in the
  /// arrays (the bundled genome example's model under two names, its first 6 peaks).
  @Test func shardsOfFoldsMergeToTheWholeRun() throws {
    let dir = try scratchDirectory()
    let example = GenomeExampleTests.example
    let peaks = try String(contentsOf: example.appendingPathComponent("peaks.narrowPeak"), encoding: .utf8)
    try Data((peaks.split(separator: "\n").prefix(6).joined(separator: "\n") + "\n").utf8)
      .write(to: dir.appendingPathComponent("p.bed"))
    for name in ["m1.onnx", "m2.onnx"] {
      try FileManager.default.copyItem(at: example.appendingPathComponent("model.onnx"), to: dir.appendingPathComponent(name))
    }
    let common = [
      "m1.onnx", "m2.onnx", "--genome", example.appendingPathComponent("genome.fa").path, "--regions", "p.bed",
      "--shuffles", "2", "--seed", "0", "--task", "profile", "--batch-size", "4", "--quiet",
    ]
    for (extra, out) in [([String](), "all.h5"), (["--shard", "0/2"], "s0.h5"), (["--shard", "1/2"], "s1.h5")] {
      let r = try runDeeplift(arguments: ["explain"] + common + extra + ["--output", out], in: dir)
      #expect(r.status == 0, "\(r.stderr)")
    }
    let m = try runDeeplift(arguments: ["merge", "s0.h5", "s1.h5", "--output", "merged.h5"], in: dir)
    #expect(m.status == 0, "\(m.stderr)")
    for path in ["/raw/seq", "/shap/seq", "/projected_shap/seq"] {
      let a = try #require(H5Read.read(dir.appendingPathComponent("all.h5"), path))
      let b = try #require(H5Read.read(dir.appendingPathComponent("merged.h5"), path))
      #expect(a.shape == [6, 4, 500] && a.shape == b.shape && a.numbers == b.numbers, "\(path)")
    }
    #expect(H5Read.attribute(dir.appendingPathComponent("merged.h5"), "models") == "m1.onnx,m2.onnx")
  }
}
