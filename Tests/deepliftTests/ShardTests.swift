import Foundation
import Testing

/// `--shard I/N`, `deeplift merge`, `--resume` and `--bigwig` through the CLI on the genome
/// fixtures: shards 0..3 merged equal the unsharded run byte for byte in every array, with the
/// same root attributes, and the merged bigWig equals the unsharded one byte for byte.
@Suite("deeplift shards and merge")
struct ShardCLITests {
  static let model = kerasFixtures.appendingPathComponent("genomics_cnn.h5").path
  /// Two examples per batch (6 pairs of 3 shuffles): batches cross the shards' boundaries.
  static let options = ["--shuffles", "3", "--seed", "5", "--batch-size", "6", "--maxpool", "deepshap", "-q"]

  func explain(_ dir: URL, _ extra: [String]) throws -> CLIResult {
    try runDeeplift(
      arguments: ["explain", Self.model, "--genome", "genome.fa", "--regions", "overlap.bed"] + Self.options + extra, in: dir)
  }

  /// Windows that overlap (the bigWig's boundary rule), on two chromosomes, out of order.
  static let bed = "chr1\t90\t110\nchr2\t40\t80\nchr1\t80\t124\nchr1\t120\t140\nchr2\t70\t71\nchr1\t200\t260\nchr1\t150\t152\n"

  @Test func mergedShardsEqualTheUnshardedRun() throws {
    let dir = try genomeScratch()
    defer { cleanup(dir) }
    try Data(Self.bed.utf8).write(to: dir.appendingPathComponent("overlap.bed"))
    let whole = try explain(dir, ["--output", "whole.h5", "--bigwig", "whole.bw"])
    #expect(whole.status == 0, "\(whole.stderr)")
    for i in 0..<4 {
      let r = try explain(dir, ["--output", "s\(i).h5", "--shard", "\(i)/4"])
      #expect(r.status == 0, "\(r.stderr)")
    }
    let merged = try runDeeplift(
      arguments: ["merge", "s3.h5", "s1.h5", "s0.h5", "s2.h5", "--output", "all.h5", "--bigwig", "all.bw"], in: dir)
    #expect(merged.status == 0, "\(merged.stderr)")
    #expect(merged.stderr.contains("4 shard(s), 7 rows"))
    let a = dir.appendingPathComponent("whole.h5")
    let b = dir.appendingPathComponent("all.h5")
    for path in ["raw/seq", "shap/seq", "projected_shap/seq", "regions/chrom", "regions/start", "regions/end", "regions/summit"] {
      let x = try #require(H5Read.read(a, path))
      let y = try #require(H5Read.read(b, path))
      #expect(x.type == y.type && x.shape == y.shape, "\(path)")
      #expect(x.numbers.map(\.bitPattern) == y.numbers.map(\.bitPattern) && x.strings == y.strings, "\(path)")
    }
    #expect(try #require(H5Read.read(b, "shap/seq")).shape == [7, 4, 50])
    for key in ["models", "method", "target", "task", "references", "seed", "tool_version", "genome", "fingerprint"] {
      #expect(H5Read.attribute(a, key) != nil && H5Read.attribute(a, key) == H5Read.attribute(b, key), "\(key)")
    }
    for key in ["shard", "shard_rows"] {
      #expect(H5Read.attribute(b, key) == nil)
      #expect(H5Read.attribute(dir.appendingPathComponent("s1.h5"), key) != nil)
    }
    #expect(H5Read.attribute(dir.appendingPathComponent("s1.h5"), "shard") == "1/4")
    #expect(H5Read.attribute(dir.appendingPathComponent("s1.h5"), "shard_rows") == "1-3/7")
    let track = try Data(contentsOf: dir.appendingPathComponent("whole.bw"))
    let mergedTrack = try Data(contentsOf: dir.appendingPathComponent("all.bw"))
    #expect(track.count > 0 && track == mergedTrack)
  }

  @Test func resumeSkipsACompleteShardOnly() throws {
    let dir = try genomeScratch()
    defer { cleanup(dir) }
    try Data(Self.bed.utf8).write(to: dir.appendingPathComponent("overlap.bed"))
    let out = dir.appendingPathComponent("s1.h5")
    #expect(try explain(dir, ["--output", "s1.h5", "--shard", "1/4"]).status == 0)
    let first = try Data(contentsOf: out)
    let resumed = try runDeeplift(
      arguments: ["explain", Self.model, "--genome", "genome.fa", "--regions", "overlap.bed", "--output", "s1.h5", "--shard", "1/4", "--resume"]
        + Self.options.filter { $0 != "-q" }, in: dir)
    #expect(resumed.status == 0)
    #expect(resumed.stderr.contains("s1.h5 is complete") && resumed.stderr.contains("skipped"), "\(resumed.stderr)")
    #expect(try Data(contentsOf: out) == first)
    // Another seed: another run, redone.
    let other = try runDeeplift(
      arguments: ["explain", Self.model, "--genome", "genome.fa", "--regions", "overlap.bed", "--output", "s1.h5", "--shard", "1/4",
        "--resume", "--shuffles", "3", "--seed", "6", "--batch-size", "6", "--maxpool", "deepshap"], in: dir)
    #expect(other.status == 0)
    #expect(other.stderr.contains("not a complete output of this run"), "\(other.stderr)")
    #expect(try Data(contentsOf: out) != first)
    // Another shard of the same run in that file: redone as well.
    try Data("garbage".utf8).write(to: out)
    #expect(try explain(dir, ["--output", "s1.h5", "--shard", "1/4", "--resume"]).status == 0)
    #expect(H5Read.attribute(out, "shard") == "1/4")
  }
}
