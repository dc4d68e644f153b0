import Foundation
import LiftIO
import LiftTensor

/// One batch of a streamed explanation, as ``ScoreSink``s receive it.
public struct ScoreBatch: Sendable {
  /// The batch's rows among all the examples, in order: `rows.lowerBound` is the index of
  /// its first example.
  public let rows: Range<Int>
  /// The number of examples of the whole run.
  public let totalRows: Int
  /// The explained rows, one `[b, …]` array per model input.
  public let inputs: [Tensor]
  /// The batch's explanation: ``Attribution/scores`` (and
  /// ``Attribution/additionalScores``, ``Attribution/layerScores``) of these rows.
  public let attribution: Attribution
}

/// Where a streamed explanation (``ModelExplainer/explain(rows:references:into:progress:)``)
/// puts its scores, batch by batch and in order.
///
/// Conformances here: ``NpyScoreSink`` (one array to a `.npy`, streamed to disk),
/// ``ArchiveScoreSink`` (an `.npz` of every input's and layer's scores), ``ModiscoSink``
/// (TF-MoDISco's `ohe.npz` / `hyp.npz`), ``ChromBPNetH5Sink`` (chrombpnet's `.h5`) and
/// ``ArraySink`` (in memory). A sink that writes
/// files writes them through the `OutputTransaction` (LiftIO) it was made with; the caller
/// commits that transaction once it accepts the run, so all the outputs of a run appear
/// together or none does (a failure, or a transaction dropped without a commit, leaves
/// nothing behind). A new output format (a bigWig track) is a new conformance.
public protocol ScoreSink: AnyObject {
  /// Score kinds the sink reads besides the explainer's ``AttributionOptions/output``
  /// (``Attribution/scores(_:)``); the streamed explanation computes them in the same pass.
  var neededKinds: Set<ScoreKind> { get }
  /// Takes the next batch (batches come in row order, each once).
  func write(_ batch: ScoreBatch) throws(LiftKitError)
  /// Completes the output after the last batch (into the transaction, not committed).
  func finish() throws(LiftKitError)
}

extension ScoreSink {
  public var neededKinds: Set<ScoreKind> { [] }
}

/// Streams the scores of one model input, of one kind, to a float32 `.npy` file, batch by
/// batch: nothing of size N is held. The bytes equal those of `NumPy.write` of the whole
/// array.
public final class NpyScoreSink: ScoreSink {
  let url: URL
  let kind: ScoreKind?
  let input: Int
  let transaction: OutputTransaction?
  var writer: NpyStreamWriter? = nil

  /// A sink writing `url`.
  ///
  /// - Parameters:
  ///   - url: the `.npy` file to write.
  ///   - kind: which scores (`nil`: the explainer's ``AttributionOptions/output``).
  ///   - input: which model input's scores.
  ///   - transaction: the run's outputs, committed by the caller; `nil` writes `url` on
  ///     ``finish()``.
  public init(url: URL, kind: ScoreKind? = nil, input: Int = 0, transaction: OutputTransaction? = nil) {
    self.url = url
    self.kind = kind
    self.input = input
    self.transaction = transaction
  }

  public var neededKinds: Set<ScoreKind> { kind.map { [$0] } ?? [] }

  public func write(_ batch: ScoreBatch) throws(LiftKitError) {
    var scores = try batch.attribution.scores(kind, input: input)
    // A token-id input's scores are written per token, in the shape of its ids.
    if batch.attribution.tokenInputs.contains(input) { scores = summedOverLastAxis(scores) }
    do {
      if writer == nil {
        writer = try NpyStreamWriter(
          url: url, shape: scores.shape.dropFirst.prepending(batch.totalRows), transaction: transaction)
      }
      try writer!.append(scores)
    } catch {
      writer?.abort()
      throw .io(error)
    }
  }

  public func finish() throws(LiftKitError) {
    guard let writer else { throw .arrays("\(url.relativePath): no scores were written") }
    do { try writer.commit() } catch { throw .io(error) }
  }
}

/// Keeps the explained rows and their scores in memory (all rows, or the first
/// `keepingRows`), for callers that want arrays rather than files.
public final class ArraySink: ScoreSink {
  let limit: Int?
  var parts: [ScoreBatch] = []

  /// A sink keeping every row, or only the first `keepingRows`.
  public init(keepingRows: Int? = nil) {
    limit = keepingRows
  }

  public func write(_ batch: ScoreBatch) throws(LiftKitError) {
    guard let limit else { return parts.append(batch) }
    guard batch.rows.lowerBound < limit else { return }
    parts.append(batch)
  }

  public func finish() throws(LiftKitError) {}

  /// The kept rows of each model input (`[k, …]`).
  public var inputs: [Tensor] { joined { $0.inputs } }

  /// The kept input scores of `kind` (`nil`: the explainer's output kind), one array per
  /// model input; empty when the kind was not computed.
  public func scores(_ kind: ScoreKind? = nil) -> [Tensor] {
    joined { kind.flatMap($0.attribution.scores) ?? $0.attribution.scores }
  }

  /// The kept scores of every input and layer by name (``Attribution/namedArrays``).
  public var namedArrays: [(name: String, tensor: Tensor)] {
    guard let first = parts.first?.attribution else { return [] }
    let names = first.namedArrays.map(\.name)
    let arrays = joined { $0.attribution.namedArrays.map(\.tensor) }
    return Array(zip(names, arrays)).map { (name: $0, tensor: $1) }
  }

  /// The arrays `part` gives for each batch, concatenated along the rows (cut to the limit).
  func joined(_ part: (ScoreBatch) -> [Tensor]) -> [Tensor] {
    guard let first = parts.first else { return [] }
    let count = part(first).count
    return (0..<count).map { k in
      let t = Tensor.concatenate(batches: parts.map { part($0)[k] })
      guard let limit, t.shape[0] > limit else { return t }
      return t.slice(batch: 0..<limit)
    }
  }
}

/// Writes the scores of every input under its name, and of every layer of
/// ``AttributionOptions/layers`` under its name (``Attribution/namedArrays``), to one `.npz`
/// archive on ``finish()`` (the archive format needs each member's size first, so the scores
/// are held in memory until then).
public final class ArchiveScoreSink: ScoreSink {
  let url: URL
  let transaction: OutputTransaction?
  let kept = ArraySink()

  /// A sink writing the archive `url` (through `transaction`, committed by the caller).
  public init(url: URL, transaction: OutputTransaction? = nil) {
    self.url = url
    self.transaction = transaction
  }

  public func write(_ batch: ScoreBatch) throws(LiftKitError) { try kept.write(batch) }

  public func finish() throws(LiftKitError) {
    do { try NumPy.writeArchive(kept.namedArrays, to: url, transaction: transaction) } catch { throw .io(error) }
  }
}

/// Writes the inputs of TF-MoDISco (modisco-lite's `modisco motifs -s ohe.npz -a hyp.npz`)
/// into a directory, creating it if needed:
///
/// - `ohe.npz`: the one-hot sequences,
/// - `hyp.npz` (one task) or `hyp_task<K>.npz` for each task index K (several tasks): the
///   hypothetical scores of that task,
///
/// each a single float32 array named `arr_0` (the member modisco-lite reads, as
/// `np.savez(path, array)` names it) of shape `(N, 4, L)`, length last, as modisco-lite
/// expects, whatever the model's layout (`[N, L, 4]`, or `[N, 4, L]` with channel axis 1).
/// The hypothetical scores come from the same pass as the explainer's own output
/// (``neededKinds``).
public final class ModiscoSink: ScoreSink {
  let directory: URL
  let channelsLast: Bool
  let transaction: OutputTransaction?
  let kept = ArraySink()
  /// The files written by ``finish()``, `ohe.npz` first.
  public private(set) var files: [URL] = []

  /// A sink writing into `directory` for inputs of shape `inputShape`.
  ///
  /// - Throws: ``LiftKitError/arrays(_:)`` unless `inputShape` is one-hot DNA, `[N, L, 4]`
  ///   (or `[N, 4, L]` with `channelAxis` 1).
  public init(directory: URL, inputShape: Shape, channelAxis: Int, transaction: OutputTransaction? = nil)
    throws(LiftKitError)
  {
    let axis = channelAxis < 0 ? inputShape.rank + channelAxis : channelAxis
    guard inputShape.rank == 3, axis == 1 || axis == 2, inputShape[axis] == 4 else {
      throw .arrays(
        "has shape \(inputShape); TF-MoDISco needs one-hot DNA [N, L, 4] (or [N, 4, L] with --channel-axis 1)")
    }
    self.directory = directory
    self.channelsLast = axis == 2
    self.transaction = transaction
  }

  /// The files for these task indices: `ohe.npz`, then `hyp.npz` (one task) or
  /// `hyp_task<K>.npz` per task.
  public static func fileNames(tasks: [Int]) -> [String] {
    ["ohe.npz"] + (tasks.count == 1 ? ["hyp.npz"] : tasks.map { "hyp_task\($0).npz" })
  }

  public var neededKinds: Set<ScoreKind> { [.hypothetical] }

  public func write(_ batch: ScoreBatch) throws(LiftKitError) {
    guard batch.attribution.scores(.hypothetical) != nil else {
      throw .arrays("TF-MoDISco: the explanation has no hypothetical scores")
    }
    try kept.write(batch)
  }

  public func finish() throws(LiftKitError) {
    guard let tasks = kept.parts.first?.attribution.tasks else {
      throw .arrays("\(directory.relativePath): no scores were written")
    }
    func lengthLast(_ t: Tensor) -> Tensor { channelsLast ? transposed(t, permutation: [0, 2, 1]) : t }
    let names = ModiscoSink.fileNames(tasks: tasks)
    let hypothetical = kept.scores(.hypothetical)[0]
    var arrays: [(URL, Tensor)] = [(directory.appendingPathComponent(names[0]), lengthLast(kept.inputs[0]))]
    if tasks.count == 1 {
      arrays.append((directory.appendingPathComponent(names[1]), lengthLast(hypothetical)))
    } else {
      for t in tasks.indices {
        // [N, T, …] -> task t's [N, …]: move the task axis first and take row t.
        let perTask = transposed(hypothetical, permutation: [1, 0, 2, 3]).slice(batch: t..<(t + 1))
        let shape = Shape(Array(perTask.shape.dimensions.dropFirst()))
        arrays.append((directory.appendingPathComponent(names[t + 1]), lengthLast(perTask.reshaped(shape))))
      }
    }
    do {
      if let transaction {
        try transaction.createDirectory(at: directory)
      } else {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
      }
      for (url, tensor) in arrays {
        try NumPy.writeArchive([(name: "arr_0", tensor: tensor)], to: url, transaction: transaction)
      }
    } catch let error as NumpyIOError {
      throw .io(error)
    } catch {
      throw .arrays("\(directory.relativePath): \(error.localizedDescription)")
    }
    files = arrays.map(\.0)
  }
}

extension Attribution {
  /// The scores of `kind` (`nil`: ``kind``) for model input `input`.
  ///
  /// - Throws: ``LiftKitError/arrays(_:)`` when that kind was not computed.
  func scores(_ kind: ScoreKind?, input: Int) throws(LiftKitError) -> Tensor {
    guard let all = scores(kind ?? self.kind), input < all.count else {
      throw .arrays("the explanation has no \((kind ?? self.kind).rawValue) scores for input #\(input)")
    }
    return all[input]
  }
}
