import Foundation
import LiftIO
import LiftNN
import LiftTensor

/// The rows of a CSV table (LiftIO's `CSVTable`: a header of feature names, numbers only)
/// as the single input of a tabular model, `[N, F]` with F the number of columns.
///
/// The table is read whole when opened (at most the memory budget's bytes, checked from the
/// file's size first): CSV has no random access to rows.
public struct CSVRows: RowSource {
  /// The table.
  public let table: CSVTable
  public let name: String

  /// Reads and checks `url` (see `CSVTable`).
  ///
  /// - Throws: ``LiftKitError/arrays(_:)`` naming the file, and the row and column of a bad
  ///   cell.
  public init(url: URL) throws(LiftKitError) {
    do { table = try CSVTable.read(url: url, maximumBytes: MemoryBudget.bytes) } catch { throw .arrays(error.description) }
    name = url.relativePath
    guard table.rowCount > 0 else { throw .arrays("\(name): no rows after the header; nothing to explain") }
  }

  /// Rows of a table already read.
  public init(_ table: CSVTable, name: String) {
    self.table = table
    self.name = name
  }

  /// The feature names (the header).
  public var featureNames: [String] { table.header }

  public var shapes: [Shape] { [Shape([table.rowCount, table.header.count])] }

  public func rows(_ range: Range<Int>) throws(LiftKitError) -> [Tensor] {
    let f = table.header.count
    return [Tensor(shape: Shape([range.count, f]), scalars: Array(table.values[(range.lowerBound * f)..<(range.upperBound * f)]))]
  }
}

/// A typical row of a background table, as a shared reference (`--reference mean:B.csv`).
public enum TableProfile: String, Sendable, CaseIterable {
  /// Each column's mean, summed in `Double` and rounded once to float32 (`np.mean(B, axis=0,
  /// dtype=np.float64).astype(np.float32)`).
  case mean
  /// Each column's median: the middle value, or for an even number of rows the mean of the
  /// two middle ones, as `np.median(B, axis=0)` computes it.
  case median

  /// The profile of `table` (`[M, F]`, M ≥ 1): one `[F]` row.
  ///
  /// - Precondition: `table` has rank 2 and at least one row.
  public func row(of table: Tensor) -> Tensor {
    precondition(table.rank == 2 && table.shape[0] > 0)
    let (m, f) = (table.shape[0], table.shape[1])
    let s = table.scalars
    var out = [Float](repeating: 0, count: f)
    for c in 0..<f {
      switch self {
      case .mean:
        var sum = 0.0
        for r in 0..<m { sum += Double(s[r * f + c]) }
        out[c] = Float(sum / Double(m))
      case .median:
        let column = (0..<m).map { s[$0 * f + c] }.sorted()
        out[c] = m % 2 == 1 ? column[m / 2] : Float((Double(column[m / 2 - 1]) + Double(column[m / 2])) / 2)
      }
    }
    return Tensor(shape: Shape([f]), scalars: out)
  }
}

extension ModelExplainer {
  /// The explained value of the target for each example of `inputs` (`[b, …]` per model
  /// input): output `task` of the flattened target (minus output ``AttributionOptions/contrast``
  /// when set), computed by the model as explained (its weight normalisations applied).
  /// DeepLIFT contributions sum to its difference between an input and its reference.
  ///
  /// - Throws: ``LiftKitError`` for inputs that do not fit the model, a task out of range.
  public func targetValues(_ inputs: [Tensor], task: Int) throws(LiftKitError) -> [Float] {
    let id = try model.node(named: target, role: "target")
    let out = try model.predict(inputs: inputs, layers: [id])[0]
    let b = out.shape[0]
    let width = b == 0 ? 0 : out.scalarCount / b
    for k in [task] + (options.contrast.map { [$0] } ?? []) where k >= width {
      throw .arrays("target '\(target)' has \(width) output(s); task \(k) is out of range")
    }
    return (0..<b).map { i in
      out.scalars[i * width + task] - (options.contrast.map { out.scalars[i * width + $0] } ?? 0)
    }
  }
}

/// Writes the scores of a single-input tabular model as CSV, batch by batch: the feature
/// names as header, then the columns `base_value` (the target's value at the reference:
/// f(ref) for a shared or per-example reference, the mean of f over the rows of a
/// background) and `output` (f(x)), one row per example in input order, so that with a
/// DeepLIFT method each row's scores sum to `output − base_value` (to float32 rounding).
/// Numbers are written in the shortest form that reads back to the same float32.
///
/// One task only (the table has one score per feature); the references may be zeros, a
/// shared row, one row per example (arrays or a ``RowSource``) or a background.
public final class CSVScoreSink: ScoreSink {
  let url: URL
  let featureNames: [String]
  let explainer: ModelExplainer
  let references: ReferenceSet
  let transaction: OutputTransaction?
  var writer: AtomicFileWriter? = nil
  /// f(ref) of a shared reference or the mean over a background, computed once.
  var sharedBase: Float? = nil

  /// Reserved output column names.
  public static let extraColumns = ["base_value", "output"]

  /// A sink writing `url` for inputs with columns `featureNames`.
  ///
  /// - Throws: ``LiftKitError/arrays(_:)`` when a feature is called `base_value` or `output`.
  public init(
    url: URL, featureNames: [String], explainer: ModelExplainer, references: ReferenceSet,
    transaction: OutputTransaction? = nil
  ) throws(LiftKitError) {
    if let clash = featureNames.first(where: CSVScoreSink.extraColumns.contains) {
      throw .arrays("\(url.relativePath): feature '\(clash)' has the name of an output column (\(CSVScoreSink.extraColumns.joined(separator: ", ")))")
    }
    self.url = url
    self.featureNames = featureNames
    self.explainer = explainer
    self.references = references
    self.transaction = transaction
  }

  public func write(_ batch: ScoreBatch) throws(LiftKitError) {
    let scores = try batch.attribution.scores(nil, input: 0)
    guard batch.attribution.tasks.count == 1, scores.rank == 2, scores.shape[1] == featureNames.count else {
      throw .arrays(
        "\(url.relativePath): a CSV of scores holds one task and one score per feature (\(featureNames.count)); got scores of shape \(scores.shape) for \(batch.attribution.tasks.count) task(s)")
    }
    let task = batch.attribution.tasks[0]
    let outputs = try explainer.targetValues(batch.inputs, task: task)
    let bases = try baseValues(batch, task: task)
    var text = ""
    if writer == nil { text = CSVTable.text(header: featureNames + CSVScoreSink.extraColumns) }
    let f = featureNames.count
    for i in 0..<scores.shape[0] {
      text += CSVTable.text(row: scores.scalars[(i * f)..<((i + 1) * f)] + [bases[i], outputs[i]])
    }
    do {
      if writer == nil { writer = try AtomicFileWriter(destination: url, transaction: transaction) }
      try writer!.write(Data(text.utf8))
    } catch {
      writer?.abort()
      throw .file(error)
    }
  }

  /// f(ref) of each example of `batch` for `task`.
  func baseValues(_ batch: ScoreBatch, task: Int) throws(LiftKitError) -> [Float] {
    let b = batch.rows.count
    if let sharedBase { return [Float](repeating: sharedBase, count: b) }
    let x = batch.inputs
    func shared(_ rows: [Tensor]) throws(LiftKitError) -> [Float] {
      let values = try explainer.targetValues(rows, task: task)
      let mean = Float(values.reduce(0.0) { $0 + Double($1) } / Double(max(1, values.count)))
      sharedBase = mean
      return [Float](repeating: mean, count: b)
    }
    switch references {
    case .zeros:
      return try shared(x.map { .zeros($0.shape.dropFirst.prepending(1)) })
    case .background(let rows):
      return try shared(rows)
    case .rows(let source):
      return try explainer.targetValues(try source.rows(batch.rows), task: task)
    case .arrays(let refs):
      if zip(refs, x).allSatisfy({ $0.rank == $1.rank - 1 }) {
        return try shared(refs.map { $0.reshaped($0.shape.prepending(1)) })
      }
      if zip(refs, x).allSatisfy({ $0.rank == $1.rank }) {
        return try explainer.targetValues(refs.map { $0.slice(batch: batch.rows) }, task: task)
      }
    case .shuffles, .explicit: break
    }
    throw .arrays(
      "\(url.relativePath): a CSV of scores needs zeros, a shared reference row, one reference row per example or a background (for its base_value column)")
  }

  public func finish() throws(LiftKitError) {
    guard let writer else { throw .arrays("\(url.relativePath): no scores were written") }
    do { try writer.commit() } catch { throw .file(error) }
  }
}
