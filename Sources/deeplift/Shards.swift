import ArgumentParser
import Foundation
import LiftIO
import LiftKit

// `--shard I/N`, `--resume` and `--bigwig` of `deeplift explain` (CLI.md, "Sequences from
// genome files"): parsing and the run's identity; LiftKit does the work (`ShardRows`,
// `ShardMerge`, `BigWigSink`).

extension DeepLift.Explain {
  /// Parses and checks `--shard`, `--resume` and `--bigwig` into `request`.
  ///
  /// - Throws: `ValidationError` (usage, exit 2).
  static func validateShards(_ request: inout ExplainRequest, shard: String?, resume: Bool, bigwig: String?) throws {
    let isH5 = URL(fileURLWithPath: request.output).pathExtension.lowercased() == "h5"
    if let shard {
      do { request.shard = try Shard(parsing: shard) } catch { throw ValidationError(error.description) }
      guard isH5, request.sequences != nil else {
        throw ValidationError("--shard writes a shard of an .h5 output (joined by `deeplift merge`): give --fasta or --genome and --output SHARD.h5")
      }
    }
    if resume {
      guard isH5 else { throw ValidationError("--resume needs an .h5 output (it records the run that wrote it)") }
      request.resume = true
    }
    if let bigwig {
      guard case .genome? = request.sequences else { throw ValidationError("--bigwig needs --genome with --regions (a track has genomic coordinates)") }
      guard request.method.isDeepLIFT else {
        throw ValidationError("--bigwig holds projected hypothetical scores: it needs a DeepLIFT method (rescale, reveal-cancel or genomics-default), not \(request.method.rawValue)")
      }
      request.bigwig = bigwig
    }
  }
}

extension ExplainRequest {
  /// What identifies the run's scores (``runFingerprint(_:)`` of these): the `.h5` root
  /// attributes (models, method, target as asked, task, references, seed, tool version),
  /// the inputs (absolute paths) and every other option that changes a score. Not the
  /// batch size, the threads or the shard.
  var fingerprintParts: [(String, String)] {
    func absolute(_ p: String) -> String { URL(fileURLWithPath: p).standardizedFileURL.path }
    var inputs = ""
    switch sequences {
    case .fasta(let path)?: inputs = "fasta " + absolute(path)
    case .genome(let genome, let regions)?: inputs = "genome " + absolute(genome) + " regions " + absolute(regions)
    case nil: inputs = "input " + self.inputs.paths.map(absolute).joined(separator: ",")
    }
    return h5Attributes(target: target ?? "(default)") + [
      ("inputs", inputs), ("width", width.map(String.init) ?? ""), ("maxpool", maxPool.rawValue),
      ("channel_axis", channelAxis.map(String.init) ?? ""), ("contrast", contrast.map(String.init) ?? ""),
      ("softmax_normalize", String(softmaxNormalize)), ("normalize_first_conv", String(normalizeFirstConv)),
      ("output", hypothetical ? "hypothetical" : (multipliers ? "multipliers" : "contributions")),
    ]
  }

  /// The run's fingerprint (the `fingerprint` root attribute of its `.h5`).
  var fingerprint: String { runFingerprint(fingerprintParts) }

  /// Root attributes of the `.h5` beyond ``h5Attributes(target:)``: the genome (absolute
  /// path, where `deeplift merge --bigwig` finds the chromosome sizes), the fingerprint, and
  /// for a shard `shard` and `shard_rows` of the whole run's `rows`.
  func runAttributes(rows: Int) -> [(String, String)] {
    var result: [(String, String)] = []
    if case .genome(let genome, _)? = sequences {
      result.append(("genome", URL(fileURLWithPath: genome).standardizedFileURL.path))
    }
    result.append((Shard.fingerprintAttribute, fingerprint))
    if let shard { result += shard.attributes(total: rows) }
    return result
  }

  /// The rows to explain: `rows`, or its shard.
  func shardView(_ rows: any LabeledRowSource) throws -> any LabeledRowSource {
    guard let shard else { return rows }
    return try cli { () throws(LiftKitError) in try ShardRows(rows, shard: shard) }
  }

  /// `--resume`: the note to print when the output exists, complete, from this run (and
  /// shard); nil when the run must be done.
  func completedOutput() -> String? {
    let url = URL(fileURLWithPath: output)
    guard FileManager.default.fileExists(atPath: url.path) else { return nil }
    guard ShardMerge.isComplete(url, fingerprint: fingerprint, shard: shard) else {
      if !quiet { note("note: --resume: \(output) exists but is not a complete output of this run\(shard.map { " (shard \($0))" } ?? ""); redoing it") }
      return nil
    }
    return "note: --resume: \(output) is complete (fingerprint \(fingerprint)\(shard.map { ", shard \($0)" } ?? "")); skipped"
  }

  /// The `--bigwig` sink over the (shard's) rows; chromosome sizes from the genome's index.
  func bigWigSink(
    _ path: String, rows: any LabeledRowSource, whole: (any LabeledRowSource)?, model: Model, transaction: OutputTransaction
  ) throws -> BigWigSink {
    guard let genome = whole as? GenomeRows else {
      throw CLIError.usage("--bigwig needs --genome with --regions")
    }
    return try cli { () throws(LiftKitError) in
      try BigWigSink(
        url: URL(fileURLWithPath: path), source: rows, chromosomes: genome.chromosomes,
        channelAxis: channelAxis ?? model.channelAxis, transaction: transaction)
    }
  }
}
