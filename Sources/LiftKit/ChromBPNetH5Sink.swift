import Foundation
import LiftHDF5
import LiftIO
import LiftTensor

/// Writes the scores of one-hot DNA sequences to an HDF5 file in the layout of chrombpnet's
/// interpretation output (`chrombpnet/evaluation/interpret/interpret.py`,
/// `generate_shap_dict`), which modisco-lite's `modisco motifs -i OUT.h5` reads:
///
/// | dataset | type | shape | value |
/// |---|---|---|---|
/// | `raw/seq` | int8 | `[N, 4, L]` | the one-hot sequences |
/// | `shap/seq` | float32 | `[N, 4, L]` | hypothetical scores h |
/// | `projected_shap/seq` | float32 | `[N, 4, L]` | h × one-hot |
/// | `regions/chrom`, `regions/start`, `regions/end`, `regions/summit` | string, int64 ×3 | `[N]` | the windows (genome rows) |
/// | `regions/name` | string | `[N]` | the record names (FASTA rows) |
///
/// Length last whatever the model's layout, as chrombpnet transposes. chrombpnet stores the
/// scores as float16 and the regions in a separate BED file; here they are float32 (the bytes
/// of the `.npy` output) and the regions are in the file (CLI.md). Root attributes: the
/// `attributes` given (models, method, target, task, references, seed, tool version).
///
/// Rows are written batch by batch into fixed-size datasets (memory flat in N) of a
/// temporary file that the transaction renames into place on commit.
public final class ChromBPNetH5Sink: ScoreSink {
  let url: URL
  let source: any LabeledRowSource
  let channelsLast: Bool
  let attributes: [(String, String)]
  let transaction: OutputTransaction?
  var writer: AtomicFileWriter? = nil
  var output: HDF5Output? = nil
  var datasets: [String: HDF5Output.Dataset] = [:]
  var written = 0

  /// A sink writing `url` for the rows of `source` (`[N, L, 4]`, or `[N, 4, L]` with
  /// `channelAxis` 1).
  ///
  /// - Throws: ``LiftKitError/arrays(_:)`` unless `source` has one-hot DNA rows.
  public init(
    url: URL, source: any LabeledRowSource, channelAxis: Int, attributes: [(String, String)] = [],
    transaction: OutputTransaction? = nil
  ) throws(LiftKitError) {
    let shape = source.shapes.first ?? Shape([])
    let axis = channelAxis < 0 ? shape.rank + channelAxis : channelAxis
    guard source.shapes.count == 1, shape.rank == 3, axis == 1 || axis == 2, shape[axis] == 4 else {
      throw .arrays("\(url.relativePath): chrombpnet's layout needs one-hot DNA rows [N, L, 4] or [N, 4, L], not \(shape)")
    }
    self.url = url
    self.source = source
    self.channelsLast = axis == 2
    self.attributes = attributes
    self.transaction = transaction
  }

  public var neededKinds: Set<ScoreKind> { [.hypothetical] }

  func failed(_ what: String) -> LiftKitError {
    .arrays("\(url.relativePath): libhdf5 cannot write \(what)")
  }

  func start(rows n: Int, length: Int, labels: RowLabels) throws(LiftKitError) {
    let writer: AtomicFileWriter
    do { writer = try AtomicFileWriter(destination: url, transaction: transaction) } catch { throw .file(error) }
    self.writer = writer
    guard let path = writer.temporaryFilePath else {
      throw .arrays("\(url.relativePath): an HDF5 file must be a regular file, not a device or pipe")
    }
    do {
      let h5 = try HDF5Output(path: path, name: url.relativePath)
      output = h5
      for name in ["raw/seq", "shap/seq", "projected_shap/seq"] {
        datasets[name] = try h5.dataset("/" + name, name == "raw/seq" ? .int8 : .float32, shape: [n, 4, length])
      }
      switch labels {
      case .windows:
        datasets["regions/chrom"] = try h5.dataset("/regions/chrom", .string, shape: [n])
        for name in ["start", "end", "summit"] {
          datasets["regions/" + name] = try h5.dataset("/regions/" + name, .int64, shape: [n])
        }
      case .names:
        datasets["regions/name"] = try h5.dataset("/regions/name", .string, shape: [n])
      }
      for (key, value) in attributes { try h5.attribute(key, value) }
    } catch {
      throw failed("its datasets (\(error))")
    }
  }

  public func write(_ batch: ScoreBatch) throws(LiftKitError) {
    guard let hyp = batch.attribution.scores(.hypothetical), hyp.count == 1 else {
      throw .arrays("\(url.relativePath): the explanation has no hypothetical scores")
    }
    let x = batch.inputs[0]
    // One task's scores only: [b, L, 4] / [b, 4, L] like the input.
    guard hyp[0].shape == x.shape else {
      throw .arrays(
        "\(url.relativePath): holds the scores of one task; the explanation has shape \(hyp[0].shape) for inputs \(x.shape) (select one task with --task K)")
    }
    let labels = try source.labels(batch.rows)
    let b = batch.rows.count
    let length = channelsLast ? x.shape[1] : x.shape[2]
    if output == nil { try start(rows: batch.totalRows, length: length, labels: labels) }
    func lengthLast(_ t: Tensor) -> Tensor { channelsLast ? transposed(t, permutation: [0, 2, 1]) : t }
    let seq = lengthLast(x)
    let h = lengthLast(hyp[0])
    let projected = h.withUnsafeBufferPointer { hp in
      seq.withUnsafeBufferPointer { sp in Tensor(shape: h.shape, scalars: zip(hp, sp).map { $0 * $1 }) }
    }
    let raw: [Int8] = seq.withUnsafeBufferPointer { $0.map { Int8($0) } }
    let rows = batch.rows
    do {
      try raw.withUnsafeBufferPointer { try datasets["raw/seq"]!.write(rows: rows, $0) }
      try h.withUnsafeBufferPointer { try datasets["shap/seq"]!.write(rows: rows, $0) }
      try projected.withUnsafeBufferPointer { try datasets["projected_shap/seq"]!.write(rows: rows, $0) }
      switch labels {
      case .windows(let w):
        guard w.count == b else { throw HDF5Error.readFailed(file: url.relativePath, path: "/regions") }
        try datasets["regions/chrom"]!.write(rows: rows, strings: w.map(\.chrom))
        for (name, values) in [("start", w.map(\.start)), ("end", w.map(\.end)), ("summit", w.map(\.summit))] {
          try values.map(Int64.init).withUnsafeBufferPointer { try datasets["regions/" + name]!.write(rows: rows, $0) }
        }
      case .names(let names):
        try datasets["regions/name"]!.write(rows: rows, strings: names)
      }
    } catch {
      writer?.abort()
      throw failed("rows \(rows.lowerBound)..<\(rows.upperBound) (\(error))")
    }
    written = rows.upperBound
  }

  public func finish() throws(LiftKitError) {
    guard let output, let writer, written > 0 else { throw .arrays("\(url.relativePath): no scores were written") }
    output.close()
    do { try writer.commit() } catch { throw .file(error) }
  }
}
