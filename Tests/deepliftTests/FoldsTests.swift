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
}
