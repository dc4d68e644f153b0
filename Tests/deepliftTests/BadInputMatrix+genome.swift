import Foundation
import Testing

// Issue 18, part 2 (genome files): `--fasta`, `--genome` + `--regions`, `.h5` outputs.
// Each case copies the genome fixtures (Scripts/fixtures/make_genome_fixtures.py) into its
// working directory, so a missing `.fai` is built there; a failed run must leave no index
// behind (the index is written with the run's outputs, on success only).
enum GenomeMatrix {
  /// Copies the genome fixtures, then writes `files` (name → text).
  static func genomeFiles(_ files: [String: String] = [:]) -> @Sendable (URL) throws -> Void {
    { dir in
      for name in ["genome.fa", "genome.fa.gz", "peaks.bed", "seqs.fa", "seqs_long.fa"] {
        try FileManager.default.copyItem(
          at: genomeFixtures.appendingPathComponent(name), to: dir.appendingPathComponent(name))
      }
      for (name, text) in files { try Data(text.utf8).write(to: dir.appendingPathComponent(name)) }
    }
  }

  static func explainGenome(_ bed: String = "peaks.bed", genome: String = "genome.fa", extra: [String] = []) -> [String] {
    ["explain", "@genomics_cnn.h5", "--genome", genome, "--regions", bed, "--output", "out.npy"] + extra
  }

  static func explainFasta(_ fasta: String, _ extra: [String] = []) -> [String] {
    ["explain", "@genomics_cnn.h5", "--fasta", fasta, "--output", "out.npy"] + extra
  }

  static let cases: [BadCase] = [
    BadCase(
      label: "BED: end before start", arguments: explainGenome("bad.bed"), status: 1,
      mentions: ["bad.bed line 2", "bad coordinates", "'50', '40'"],
      setup: genomeFiles(["bad.bed": "chr1\t10\t60\nchr1\t50\t40\n"])),
    BadCase(
      label: "BED: negative start", arguments: explainGenome("bad.bed"), status: 1,
      mentions: ["bad.bed line 1", "bad coordinates"], setup: genomeFiles(["bad.bed": "chr1\t-5\t60\n"])),
    BadCase(
      label: "BED: coordinates not numbers", arguments: explainGenome("bad.bed"), status: 1,
      mentions: ["bad.bed line 1", "bad coordinates", "'1e3'"], setup: genomeFiles(["bad.bed": "chr1\t1e3\t2000\n"])),
    BadCase(
      label: "BED: fewer than 3 columns", arguments: explainGenome("bad.bed"), status: 1,
      mentions: ["bad.bed line 1", "3 tab-separated columns"], setup: genomeFiles(["bad.bed": "chr1\t100\n"])),
    BadCase(
      label: "BED: coordinates past Int", arguments: explainGenome("bad.bed"), status: 1,
      mentions: ["bad.bed line 1", "bad coordinates"],
      setup: genomeFiles(["bad.bed": "chr1\t0\t99999999999999999999999\n"])),
    BadCase(
      label: "narrowPeak: summit outside the peak", arguments: explainGenome("bad.bed"), status: 1,
      mentions: ["bad.bed line 1", "summit", "'80'"],
      setup: genomeFiles(["bad.bed": "chr1\t80\t160\tp\t0\t.\t1\t-1\t-1\t80\n"])),
    BadCase(
      label: "BED: chromosome not in the genome", arguments: explainGenome("bad.bed"), status: 1,
      mentions: ["bad.bed line 2", "'chrX'", "genome.fa"], setup: genomeFiles(["bad.bed": "chr1\t100\t150\nchrX\t10\t60\n"])),
    BadCase(
      label: "BED: every window off its chromosome", arguments: explainGenome("bad.bed"), status: 1,
      mentions: ["bad.bed", "2 skipped", "nothing to explain"],
      setup: genomeFiles(["bad.bed": "chr1\t0\t10\nchrM\t40\t61\n"])),
    BadCase(
      label: "BED: empty", arguments: explainGenome("bad.bed"), status: 1, mentions: ["bad.bed", "nothing to explain"],
      setup: genomeFiles(["bad.bed": "# nothing\n"])),
    BadCase(
      label: "--width 0", arguments: explainGenome(extra: ["--width", "0"]), status: 2, mentions: ["--width", "at least 1"],
      setup: genomeFiles()),
    BadCase(
      label: "--width not the model's length", arguments: explainGenome(extra: ["--width", "20"]), status: 1,
      mentions: ["--width 20", "'sequence'", "50 bases"], setup: genomeFiles()),
    BadCase(
      label: "--width with --input", arguments: ["explain", "@genomics_cnn.h5", "--input", "@genomics_cnn.x.npy", "--output", "out.npy", "--width", "50"],
      status: 2, mentions: ["--width", "--fasta or --genome"]),
    BadCase(
      label: "--genome without --regions", arguments: ["explain", "@genomics_cnn.h5", "--genome", "genome.fa", "--output", "out.npy"],
      status: 2, mentions: ["--genome", "--regions"], setup: genomeFiles()),
    BadCase(
      label: "--fasta and --input together",
      arguments: ["explain", "@genomics_cnn.h5", "--fasta", "seqs.fa", "--input", "@genomics_cnn.x.npy", "--output", "out.npy"],
      status: 2, mentions: ["only one of --input, --fasta and --genome"], setup: genomeFiles()),
    BadCase(
      label: "genome: missing file", arguments: explainGenome(genome: "nope.fa"), status: 1, mentions: ["nope.fa"],
      setup: genomeFiles()),
    BadCase(
      label: "genome: not a FASTA file", arguments: explainGenome(genome: "notfasta.fa"), status: 1,
      mentions: ["notfasta.fa", "cannot index"], setup: genomeFiles(["notfasta.fa": "just some text\nmore\n"])),
    BadCase(
      label: "genome: gzip rather than bgzip", arguments: explainGenome(genome: "plain.fa.gz"), status: 1,
      mentions: ["plain.fa.gz", "bgzip"],
      setup: { dir in
        try genomeFiles()(dir)
        // A gzip member without bgzip's extra field (made with Foundation-free bytes: the
        // gzip of ">c\nACGT\n" at level 0).
        let stored: [UInt8] = [
          0x1F, 0x8B, 0x08, 0x00, 0, 0, 0, 0, 0x00, 0xFF, 0x01, 0x08, 0x00, 0xF7, 0xFF,
        ] + Array(">c\nACGT\n".utf8) + [0x42, 0x4E, 0x5D, 0xBF, 0x08, 0, 0, 0]
        try Data(stored).write(to: dir.appendingPathComponent("plain.fa.gz"))
      }),
    BadCase(
      label: "genome: damaged .fai", arguments: explainGenome(), status: 1, mentions: ["genome.fa", ".fai"],
      setup: genomeFiles(["genome.fa.fai": "chr1\tnot-a-number\n"])),
    BadCase(
      label: "genome: bgzip without its .gzi but with a .fai", arguments: explainGenome(genome: "genome.fa.gz"), status: 1,
      mentions: ["genome.fa.gz", ".gzi"],
      setup: genomeFiles(["genome.fa.gz.fai": "chr1\t333\t6\t60\t61\nchr2\t201\t351\t60\t61\nchrM\t61\t561\t60\t61\n"])),
    BadCase(
      label: "--output is the genome's index", arguments: ["explain", "@genomics_cnn.h5", "--genome", "genome.fa", "--regions", "peaks.bed", "--output", "genome.fa.fai"],
      status: 2, mentions: ["genome.fa.fai", "--genome"], precreate: nil,
      setup: genomeFiles(["genome.fa.fai": "chr1\t333\t6\t60\t61\nchr2\t201\t351\t60\t61\nchrM\t61\t411\t60\t61\n"])),
    BadCase(
      label: "FASTA: record of the wrong length", arguments: explainFasta("seqs_long.fa"), status: 1,
      mentions: ["seqs_long.fa", "record 'long1'", "53 bases", "--width"], setup: genomeFiles()),
    BadCase(
      label: "FASTA: record shorter than --width", arguments: explainFasta("short.fa", ["--width", "50"]), status: 1,
      mentions: ["short.fa", "record 'b'", "30 bases", "fewer than --width 50"],
      setup: genomeFiles(["short.fa": ">a\n" + String(repeating: "ACGTT", count: 11) + "\n>b\n" + String(repeating: "ACG", count: 10) + "\n"])),
    BadCase(
      label: "FASTA: no records", arguments: explainFasta("empty.fa"), status: 1, mentions: ["empty.fa", "no FASTA records"],
      setup: genomeFiles(["empty.fa": "\n\n"])),
    BadCase(
      label: "FASTA: text before the first record", arguments: explainFasta("text.fa"), status: 1,
      mentions: ["text.fa", "before the first '>'"], setup: genomeFiles(["text.fa": "ACGT\n>r\nACGT\n"])),
    BadCase(
      label: ".h5 output from --input", arguments: ["explain", "@genomics_cnn.h5", "--input", "@genomics_cnn.x.npy", "--output", "out.h5"],
      status: 2, mentions: [".h5", "--fasta or --genome"], precreate: "out.h5"),
    BadCase(
      label: ".h5 output with a non-DeepLIFT method",
      arguments: ["explain", "@genomics_cnn.h5", "--fasta", "seqs.fa", "--output", "out.h5", "--method", "gradient"],
      status: 2, mentions: [".h5", "DeepLIFT", "gradient"], precreate: "out.h5", setup: genomeFiles()),
    BadCase(
      label: ".h5 output of several tasks",
      arguments: ["explain", "@genomics_cnn.h5", "--fasta", "seqs.fa", "--output", "out.h5", "--task", "0,1"],
      status: 1, mentions: ["out.h5", "one task"], precreate: "out.h5", setup: genomeFiles()),
    BadCase(
      label: "--fasta with a model that is not one-hot DNA", arguments: ["explain", "@mlp.h5", "--fasta", "seqs.fa", "--output", "out.npy"],
      status: 1, mentions: ["not one-hot DNA", "--width"], setup: genomeFiles()),
  ]
}

@Suite("deeplift bad-input matrix: genome files (issue 18 part 2)")
struct GenomeMatrixTests {
  @Test("refused genome inputs", arguments: GenomeMatrix.cases)
  func refused(_ c: BadCase) throws { try BadInputMatrixTests.check(c) }
}
