import Foundation
import LiftIO
import LiftTensor
import Testing

/// The bundled genome example (Examples/genome, Scripts/fixtures/make_genome_example.py) keeps
/// working: its BPNet loads, and the README's commands run on its first peaks into chrombpnet's
/// layout, for the profile head and the counts head.
@Suite("Genome example")
struct GenomeExampleTests {
  static let example = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("Examples/genome")

  @Test(arguments: [["--task", "profile"], ["--target", "counts"]])
  func firstPeaksExplain(_ head: [String]) throws {
    let dir = try scratchDirectory()
    let peaks = try String(contentsOf: Self.example.appendingPathComponent("peaks.narrowPeak"), encoding: .utf8)
    let first = peaks.split(separator: "\n").prefix(3).joined(separator: "\n") + "\n"
    let bed = dir.appendingPathComponent("first.narrowPeak")
    try Data(first.utf8).write(to: bed)
    let out = dir.appendingPathComponent("g.h5")
    let r = try runDeeplift(arguments: [
      "explain", Self.example.appendingPathComponent("model.onnx").path, "--genome",
      Self.example.appendingPathComponent("genome.fa").path, "--regions", bed.path, "--shuffles", "2", "--seed", "0",
      "--output", out.path, "--max-delta-error", "1e-3", "--quiet",
    ] + head)
    #expect(r.status == 0, "\(r.stderr)")
    let shap = try #require(H5Read.read(out, "/shap/seq"))
    #expect(shap.shape == [3, 4, 500])
    #expect(shap.numbers.contains { $0 != 0 })
    #expect(H5Read.attribute(out, "task") == (head[0] == "--task" ? "profile" : "0"))
  }
}
