import ArgumentParser
import Foundation
import LiftIO
import LiftKit

extension DeepLift {
  /// `deeplift merge SHARD.h5 … --output ALL.h5 [--bigwig TRACK.bw]`.
  struct Merge: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Join the .h5 outputs of `deeplift explain --shard I/N` into the whole run's .h5 (and bigWig).",
      discussion: """
        The shards must come from one run: the same models, inputs and options (their \
        'fingerprint' attribute) and the same N, each shard 0 ... N-1 given once. The merged \
        arrays equal those of the unsharded run byte for byte; its root attributes are the \
        unsharded run's. --bigwig also writes the track of the whole run (chrombpnet's overlap \
        rule), with the chromosome sizes of the genome's .fai (the run's genome, or --genome).
        """)

    @Argument(help: ArgumentHelp("The shards' .h5 files (any order).", valueName: "shard.h5"))
    var shards: [String]

    @Option(name: .shortAndLong, help: ArgumentHelp("The merged .h5.", valueName: "file"))
    var output: String

    @Option(help: ArgumentHelp("Also write the whole run's bigWig track.", valueName: "file"))
    var bigwig: String?

    @Option(help: ArgumentHelp("Genome FASTA whose .fai gives the track's chromosome sizes (default: the one the run recorded).", valueName: "file"))
    var genome: String?

    @OptionGroup var common: CommonOptions

    func validate() throws {
      guard !shards.isEmpty else { throw ValidationError("Missing expected argument '<shard.h5> ...'") }
      guard URL(fileURLWithPath: output).pathExtension.lowercased() == "h5" else {
        throw ValidationError("--output must be an .h5 file, got \(output)")
      }
      if genome != nil && bigwig == nil { throw ValidationError("--genome is only used with --bigwig") }
    }

    func run() throws {
      for path in shards { try requireReadableFile(path) }
      if let genome { try requireReadableFile(genome + ".fai") }
      var written = [FileRole("--output", output)]
      if let bigwig { written.append(FileRole("--bigwig", bigwig)) }
      let outputs = try OutputTransaction(inputs: shards.map { FileRole("shard", $0) }, outputs: written)
      let merged = try cli { () throws(LiftKitError) in
        try ShardMerge.merge(
          shards.map { URL(fileURLWithPath: $0) }, into: URL(fileURLWithPath: output),
          bigwig: bigwig.map { URL(fileURLWithPath: $0) }, genome: genome.map { URL(fileURLWithPath: $0) },
          transaction: outputs)
      }
      try outputs.commit()
      if !common.quiet {
        note("merge: \(merged.shards) shard(s), \(merged.rows) rows -> \(output)\(bigwig.map { " and \($0)" } ?? "")")
      }
    }
  }
}
