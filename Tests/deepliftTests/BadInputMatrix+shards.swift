import Foundation
import Testing

// Issue 18 (shards, merge, bigWig): `--shard I/N`, `--bigwig`, `deeplift merge`. The merge
// cases make real shards of the genome fixtures first (each run in the case's directory,
// before its snapshot).
enum ShardMatrix {
  /// The genome fixtures, plus shards `sI.h5` of N (`shards`: (file, I, N, seed)).
  static func shardFiles(_ shards: [(String, Int, Int, Int)], unsharded: String? = nil) -> @Sendable (URL) throws -> Void {
    { dir in
      try GenomeMatrix.genomeFiles()(dir)
      let model = kerasFixtures.appendingPathComponent("genomics_cnn.h5").path
      func run(_ extra: [String]) throws {
        let r = try runDeeplift(
          arguments: ["explain", model, "--genome", "genome.fa", "--regions", "peaks.bed", "--shuffles", "2", "-q"] + extra,
          in: dir)
        guard r.status == 0 else { throw CLITestError("setup run failed: \(r.stderr)") }
      }
      for (file, i, n, seed) in shards { try run(["--output", file, "--shard", "\(i)/\(n)", "--seed", String(seed)]) }
      if let unsharded { try run(["--output", unsharded]) }
    }
  }

  static func explain(_ extra: [String], output: String = "out.h5") -> [String] {
    ["explain", "@genomics_cnn.h5", "--genome", "genome.fa", "--regions", "peaks.bed", "--output", output] + extra
  }

  static let four = (0..<4).map { ("s\($0).h5", $0, 4, 1) }

  static let cases: [BadCase] = [
    BadCase(
      label: "--shard I = N", arguments: explain(["--shard", "4/4"]), status: 2, mentions: ["--shard 4/4", "0...3"],
      precreate: "out.h5", setup: GenomeMatrix.genomeFiles()),
    BadCase(
      label: "--shard N = 0", arguments: explain(["--shard", "0/0"]), status: 2, mentions: ["--shard 0/0", "at least 1"],
      precreate: "out.h5", setup: GenomeMatrix.genomeFiles()),
    BadCase(
      label: "--shard negative I", arguments: explain(["--shard", "-1/4"]), status: 2, mentions: ["--shard -1/4", "0...3"],
      precreate: "out.h5", setup: GenomeMatrix.genomeFiles()),
    BadCase(
      label: "--shard not I/N", arguments: explain(["--shard", "2"]), status: 2, mentions: ["--shard '2'", "I/N"],
      precreate: "out.h5", setup: GenomeMatrix.genomeFiles()),
    BadCase(
      label: "--shard with an .npy output", arguments: explain(["--shard", "0/2"], output: "out.npy"), status: 2,
      mentions: ["--shard", ".h5"], setup: GenomeMatrix.genomeFiles()),
    BadCase(
      label: "--shard: more shards than examples", arguments: explain(["--shard", "0/8"]), status: 1,
      mentions: ["--shard 0/8", "too few for 8 shards"], precreate: "out.h5", setup: GenomeMatrix.genomeFiles()),
    BadCase(
      label: "--bigwig without --genome",
      arguments: ["explain", "@genomics_cnn.h5", "--fasta", "seqs.fa", "--output", "out.h5", "--bigwig", "t.bw"],
      status: 2, mentions: ["--bigwig", "--genome"], precreate: "out.h5", setup: GenomeMatrix.genomeFiles()),
    BadCase(
      label: "--bigwig with a gradient method", arguments: explain(["--bigwig", "t.bw", "--method", "gradient"], output: "out.npy"),
      status: 2, mentions: ["--bigwig", "DeepLIFT", "gradient"], setup: GenomeMatrix.genomeFiles()),
    BadCase(
      label: "--resume with an .npy output", arguments: explain(["--resume"], output: "out.npy"), status: 2,
      mentions: ["--resume", ".h5"], setup: GenomeMatrix.genomeFiles()),
    BadCase(
      label: "merge: shards of different runs (seeds)",
      arguments: ["merge", "s0.h5", "t1.h5", "--output", "all.h5"], status: 1,
      mentions: ["t1.h5", "another run", "s0.h5", "'seed'"], precreate: "all.h5",
      setup: shardFiles([("s0.h5", 0, 2, 1), ("t1.h5", 1, 2, 2)])),
    BadCase(
      label: "merge: a shard missing", arguments: ["merge", "s0.h5", "s1.h5", "s3.h5", "--output", "all.h5"], status: 1,
      mentions: ["shard 2/4 is missing", "0, 1, 3"], precreate: "all.h5", setup: shardFiles(four)),
    BadCase(
      label: "merge: a shard twice", arguments: ["merge", "s0.h5", "s1.h5", "s2.h5", "s3.h5", "t1.h5", "--output", "all.h5"],
      status: 1, mentions: ["shard 1/4 is given twice", "s1.h5", "t1.h5"], precreate: "all.h5",
      setup: shardFiles(four + [("t1.h5", 1, 4, 1)])),
    BadCase(
      label: "merge: shards of different N", arguments: ["merge", "s0.h5", "s1.h5", "h1.h5", "--output", "all.h5"], status: 1,
      mentions: ["h1.h5", "1/2", "0/4", "same N"], precreate: "all.h5",
      setup: shardFiles([("s0.h5", 0, 4, 1), ("s1.h5", 1, 4, 1), ("h1.h5", 1, 2, 1)])),
    BadCase(
      label: "merge: output is one of the shards", arguments: ["merge", "s0.h5", "s1.h5", "--output", "s1.h5"], status: 2,
      mentions: ["s1.h5"], precreate: nil, setup: shardFiles([("s0.h5", 0, 2, 1), ("s1.h5", 1, 2, 1)])),
    BadCase(
      label: "merge: not a shard", arguments: ["merge", "whole.h5", "--output", "all.h5"], status: 1,
      mentions: ["whole.h5", "not a shard"], precreate: "all.h5", setup: shardFiles([], unsharded: "whole.h5")),
    BadCase(
      label: "merge: not an HDF5 file", arguments: ["merge", "bad.h5", "--output", "all.h5"], status: 1,
      mentions: ["bad.h5", "HDF5"], precreate: "all.h5",
      setup: { dir in try Data("not hdf5\n".utf8).write(to: dir.appendingPathComponent("bad.h5")) }),
    BadCase(
      label: "merge: a truncated shard", arguments: ["merge", "s0.h5", "s1.h5", "--output", "all.h5"], status: 1,
      mentions: ["s1.h5"], precreate: "all.h5",
      setup: { dir in
        try shardFiles([("s0.h5", 0, 2, 1), ("s1.h5", 1, 2, 1)])(dir)
        let url = dir.appendingPathComponent("s1.h5")
        let bytes = try Data(contentsOf: url)
        try bytes.prefix(bytes.count / 2).write(to: url)
      }),
    BadCase(
      label: "merge: missing shard file", arguments: ["merge", "nope.h5", "--output", "all.h5"], status: 1,
      mentions: ["nope.h5"], precreate: "all.h5"),
    BadCase(
      label: "merge: --output not .h5", arguments: ["merge", "s0.h5", "--output", "all.npy"], status: 2,
      mentions: ["--output", ".h5"], precreate: "all.npy"),
    BadCase(
      label: "merge --bigwig: the genome's index is gone",
      arguments: ["merge", "s0.h5", "s1.h5", "--output", "all.h5", "--bigwig", "all.bw", "--genome", "other.fa"], status: 1,
      mentions: ["other.fa.fai"], precreate: "all.h5", setup: shardFiles([("s0.h5", 0, 2, 1), ("s1.h5", 1, 2, 1)])),
  ]
}

@Suite("deeplift bad-input matrix: shards, merge, bigWig (issue 18)")
struct ShardMatrixTests {
  @Test("refused shard and merge inputs", arguments: ShardMatrix.cases)
  func refused(_ c: BadCase) throws { try BadInputMatrixTests.check(c) }
}
