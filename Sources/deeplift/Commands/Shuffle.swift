import ArgumentParser
import Foundation
import LiftGenomics
import LiftKit
import LiftIO
import LiftTensor

extension DeepLift {
  /// `deeplift shuffle --input X.npy --shuffles M --seed S --output R.npy`: dinucleotide
  /// shuffled references for one-hot sequences, `[N, L, D]` → `[N, M, L, D]` (or `[N, D, L]` →
  /// `[N, M, D, L]` with `--channel-axis 1`), usable as `explain --reference R.npy`.
  struct Shuffle: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Write dinucleotide-shuffled references for one-hot sequences.",
      discussion: """
        Each example is shuffled M times as the original deeplift's dinuc_shuffle does with \
        numpy.random.RandomState(S), drawing for the examples in order; the result [N, M, L, D] \
        can be passed to explain --reference.
        """)

    @Option(help: ArgumentHelp("One-hot sequences [N, L, D] (or [N, D, L] with --channel-axis 1).", valueName: "file"))
    var input: String

    @Option(parsing: .unconditional, help: ArgumentHelp("Shuffles per sequence.", valueName: "M"))
    var shuffles: Int

    @Option(parsing: .unconditional, help: ArgumentHelp("Seed (numpy RandomState, 0...4294967295).", valueName: "S"))
    var seed = 0

    @Option(name: .shortAndLong, help: ArgumentHelp("Where to write the references (.npy).", valueName: "file"))
    var output: String

    @Option(
      name: .customLong("channel-axis"), parsing: .unconditional,
      help: "Channel axis: -1 or 2 for [N, L, D] (Keras), 1 for [N, D, L] (ONNX/torch).")
    var channelAxis = -1

    @OptionGroup var common: CommonOptions

    func validate() throws {
      guard shuffles >= 1 else { throw ValidationError("--shuffles must be at least 1, got \(shuffles)") }
      guard (0...Int(UInt32.max)).contains(seed) else {
        throw ValidationError("--seed must be in 0...4294967295, got \(seed)")
      }
      guard [-1, 1, 2].contains(channelAxis) else {
        throw ValidationError("--channel-axis must be -1, 2 (channels last) or 1 (channels first), got \(channelAxis)")
      }
    }

    func run() throws {
      try requireReadableFile(input)
      let outputs = try OutputTransaction(inputs: [FileRole("--input", input)], outputs: [FileRole("--output", output)])
      let x = try readArray(input)
      try checkFinite(x, name: input)
      guard x.rank == 3 else {
        throw CLIError.data("\(input): expected one-hot sequences of rank 3, got shape \(x.shape)")
      }
      let layout: SequenceLayout = channelAxis == 1 ? .ncl : .nlc
      try checkFitsInMemory([shuffles] + x.shape.dimensions, what: "\(input): --shuffles \(shuffles)")
      let references: Tensor
      do {
        references = try shuffledReferences(x, shuffles: shuffles, seed: seed, layout: layout)
      } catch {
        throw CLIError.data("\(input): \(error)")
      }
      try NumPy.write(references, to: URL(fileURLWithPath: output), transaction: outputs)
      try outputs.commit()
      common.note("wrote \(output) \(references.shape)")
    }
  }
}
