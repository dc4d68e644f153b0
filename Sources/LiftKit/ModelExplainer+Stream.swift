import LiftAttribution
import LiftGenomics
import LiftTensor

/// What ``ModelExplainer/explain(rows:references:into:progress:)`` reports once every batch
/// went to the sinks.
public struct StreamedExplanation: Sendable {
  /// The number of examples explained.
  public let examples: Int
  /// The summation-to-delta check over every example (DeepLIFT methods).
  public let summation: SummationReport
  /// The explained target layer.
  public let target: String
  /// The explained neurons of the target.
  public let tasks: [Int]
  /// The subtracted neuron, if any (``AttributionOptions/contrast``).
  public let contrast: Int?
  /// The batches the rows were read and explained in.
  public let plan: BatchPlan
}

extension ModelExplainer {
  /// Explains every row of `source` against `references`, batch by batch, handing each
  /// batch's scores to `sinks` in row order; memory stays flat in the number of examples
  /// (only one batch of rows, references and scores is held, plus what a sink keeps).
  ///
  /// Batches hold `BatchPlan.examples` examples of ``batchPlan(inputShapes:references:)``
  /// (``AttributionOptions/batchSize``, the model's ``Model/suggestedBatchSize`` by
  /// default, lowered to fit the memory budget), from row 0 on: the split that
  /// ``explain(inputs:references:progress:)`` makes of the whole arrays, so the scores are
  /// bit-identical to a whole-array explanation with the same options. Per-example
  /// references (``ReferenceSet/arrays(_:)`` of the input's rank or rank + 1,
  /// ``ReferenceSet/rows(_:)``) are read with their examples' rows; shuffles are drawn
  /// batch after batch from one random stream, as the whole-array explanation draws them;
  /// shared references and backgrounds are propagated once for the whole run.
  ///
  /// A ``ShardRows`` source is explained as its rows of the whole run (`--shard I/N`): the
  /// whole run's batches that hold its rows are explained entire (the same batch plan and
  /// boundaries, rows outside the shard dropped afterwards — kernels may round differently
  /// for other batch sizes), per-example references are read at the whole run's rows, and
  /// the shuffles of the rows before the first such batch are drawn (not explained) first,
  /// so its scores are bit-identical to those rows of an unsharded run; the sinks see the
  /// shard's rows numbered from 0.
  ///
  /// The score kinds the sinks need (``ScoreSink/neededKinds``) are computed in the same
  /// backward pass as ``AttributionOptions/output``. Sinks write through the transaction
  /// they were made with; commit it after this returns (and after any check of the returned
  /// ``StreamedExplanation/summation``) so that all outputs appear together, or drop it to
  /// leave nothing behind.
  ///
  /// ```swift
  /// let outputs = try OutputTransaction(outputs: [FileRole("scores", "scores.npy")])
  /// let rows = try NpyRows(urls: [URL(fileURLWithPath: "x.npy")])
  /// let sink = NpyScoreSink(url: URL(fileURLWithPath: "scores.npy"), transaction: outputs)
  /// let run = try explainer.explain(rows: rows, references: .shuffles(count: 20), into: [sink])
  /// try outputs.commit()
  /// ```
  ///
  /// - Parameters:
  ///   - source: the examples, one array per model input.
  ///   - references: see ``ReferenceSet``; all-zero by default.
  ///   - sinks: where the scores go.
  ///   - progress: called after each batch with the number of examples done.
  /// - Throws: ``LiftKitError`` for rows or references that do not fit the model, no rows,
  ///   unreadable rows, or a sink that cannot write; nothing is committed.
  public func explain(
    rows source: any RowSource, references: ReferenceSet = .zeros, into sinks: [any ScoreSink],
    progress: ((Int) -> Void)? = nil
  ) throws(LiftKitError) -> StreamedExplanation {
    let graph = model.graph
    let shapes = source.shapes
    guard shapes.count == graph.inputs.count else {
      throw .inputCount(expected: graph.inputNames, found: shapes.count)
    }
    let n = source.rowCount
    guard n > 0, shapes.allSatisfy({ $0.rank > 0 && $0[0] == n }) else {
      throw .arrays("\(source.name): no examples, or arrays with different numbers of rows (\(shapes.map(\.dimensions))); nothing to explain")
    }
    let needed = sinks.reduce(into: Set<ScoreKind>()) { $0.formUnion($1.neededKinds) }
      .subtracting(options.additionalOutputs).subtracting([options.output])
    let explainer = needed.isEmpty ? self : try adding(needed)
    // A shard is explained as its rows of the whole run: the whole run's batch plan and
    // batch grid, references taken at the whole run's rows, shuffles drawn as the whole run
    // draws them (those of the rows before the shard drawn and dropped).
    let shard = source as? ShardRows
    let offset = shard?.range.lowerBound ?? 0
    let whole: any RowSource = shard?.base ?? source
    let wholeShapes = whole.shapes
    let wholeCount = whole.rowCount
    // Token-id inputs: "zeros" means token 0 (Model+Tokens.swift).
    let references = try model.resolvingTokenDefaults(references, inputShapes: wholeShapes)
    let plan = try explainer.batchPlan(inputShapes: wholeShapes, references: references)
    var stream = try ReferenceStream(
      references, inputShapes: wholeShapes, inputNames: graph.inputNames,
      channelAxis: options.channelAxis ?? model.channelAxis)
    // A shard explains the whole run's batches that hold its rows, each entire (the kernels'
    // rounding may depend on a batch's size and rows), and keeps its own rows of them.
    let first = (offset / plan.examples) * plan.examples
    if shard != nil { try stream.skip(rows: 0..<first, of: whole, batch: plan.examples) }
    var summation = SummationReport()
    var tasks: [Int] = []
    var start = first
    while start < offset + n {
      let end = min(wholeCount, start + plan.examples)
      let x = try whole.rows(start..<end)
      let refs = try stream.references(for: start..<end, inputs: x)
      let kept = max(start, offset)..<min(end, offset + n)
      let done = kept.lowerBound - offset
      let result = try explainer.explain(inputs: x, references: refs) {
        progress?(done + min(kept.count, max(0, $0 - (kept.lowerBound - start))))
      }
      let local = (kept.lowerBound - start)..<(kept.upperBound - start)
      let own = local.count == end - start ? result : result.keepingRows(local, of: end - start)
      let inputs = local.count == end - start ? x : x.map { $0.slice(batch: local) }
      summation.append(own.summation)
      tasks = own.tasks
      let batch = ScoreBatch(rows: (kept.lowerBound - offset)..<(kept.upperBound - offset), totalRows: n, inputs: inputs, attribution: own)
      for sink in sinks { try sink.write(batch) }
      start = end
    }
    for sink in sinks { try sink.finish() }
    return StreamedExplanation(
      examples: n, summation: summation, target: target, tasks: tasks, contrast: options.contrast, plan: plan)
  }
}

extension Attribution {
  /// Rows `range` of an explanation of `count` examples: every per-example array cut to them
  /// (scores along their first axis; per-example-and-task numbers by their share).
  func keepingRows(_ range: Range<Int>, of count: Int) -> Attribution {
    func cut(_ values: [Float]) -> [Float] {
      guard count > 0, values.count % count == 0 else { return values }
      let per = values.count / count
      return Array(values[(range.lowerBound * per)..<(range.upperBound * per)])
    }
    var result = Attribution(
      inputNames: inputNames, scores: scores.map { $0.slice(batch: range) }, layerNames: layerNames,
      layerScores: layerScores.map { $0.slice(batch: range) }, kind: kind, convergenceDelta: cut(convergenceDelta),
      target: target, tasks: tasks, contrast: contrast, summationErrors: cut(summationErrors),
      targetDeltas: cut(targetDeltas), summationCause: summation.possibleCause)
    result.additionalScores = additionalScores.mapValues { $0.map { $0.slice(batch: range) } }
    return result
  }
}

/// The references of each batch of a streamed explanation: shared forms as they are,
/// per-example forms cut to the batch's rows, shuffles drawn batch after batch from one
/// random stream.
struct ReferenceStream {
  enum Source {
    /// The same for every batch.
    case fixed(ReferenceSet)
    /// Arrays, the per-example ones (flagged) cut to each batch.
    case arrays([Tensor], perExample: [Bool])
    /// Per-example arrays read from a row source.
    case rows(any RowSource)
    /// The explainer's forms, the per-example ones cut to each batch.
    case explicit(References)
    /// `count` shuffles of each example, drawn in order.
    case shuffles(count: Int, rng: RandomState, layout: SequenceLayout)
  }

  var source: Source

  /// - Throws: ``LiftKitError/referenceRank(input:inputShape:referenceShape:)`` for an array
  ///   or row-source shape that fits none of the forms (or a shared array in a row source),
  ///   ``LiftKitError/shufflesNeedSingleInput(inputs:)``, ``LiftKitError/genomics(_:)`` for
  ///   a bad seed.
  init(_ references: ReferenceSet, inputShapes: [Shape], inputNames: [String], channelAxis: Int) throws(LiftKitError) {
    func form(_ r: Shape, _ k: Int) throws(LiftKitError) -> ReferenceForm {
      guard k < inputShapes.count, let f = ReferenceSet.checkedForm(reference: r, input: inputShapes[k]) else {
        throw .referenceRank(
          input: k < inputNames.count ? inputNames[k] : "#\(k)",
          inputShape: k < inputShapes.count ? inputShapes[k].dimensions : [], referenceShape: r.dimensions)
      }
      return f
    }
    switch references {
    case .zeros, .background: source = .fixed(references)
    case .explicit(let refs):
      switch refs {
      case .zeros, .shared, .background: source = .fixed(references)
      case .perExample(let ts), .multiple(let ts):
        try ReferenceStream.checkRows(ts, inputShapes: inputShapes, inputNames: inputNames)
        source = .explicit(refs)
      case .perInput(let forms):
        for (k, f) in forms.enumerated() {
          switch f {
          case .shared, .background: break
          case .perExample(let t), .multiple(let t):
            try ReferenceStream.checkRows([t], inputShapes: [inputShapes[min(k, inputShapes.count - 1)]], inputNames: [inputNames[min(k, inputNames.count - 1)]])
          }
        }
        source = .explicit(refs)
      }
    case .arrays(let ts):
      guard ts.count == inputShapes.count else { throw .inputCount(expected: inputNames, found: ts.count) }
      var perExample: [Bool] = []
      for (k, t) in ts.enumerated() { perExample.append(try form(t.shape, k).isPerExample) }
      source = perExample.contains(true) ? .arrays(ts, perExample: perExample) : .fixed(references)
    case .rows(let rows):
      guard rows.shapes.count == inputShapes.count else {
        throw .inputCount(expected: inputNames, found: rows.shapes.count)
      }
      for (k, shape) in rows.shapes.enumerated() where try !form(shape, k).isPerExample {
        throw .referenceRank(
          input: k < inputNames.count ? inputNames[k] : "#\(k)", inputShape: inputShapes[k].dimensions,
          referenceShape: shape.dimensions)
      }
      source = .rows(rows)
    case .shuffles(let count, let seed):
      guard inputShapes.count == 1 else { throw .shufflesNeedSingleInput(inputs: inputNames) }
      let rng: RandomState
      do { rng = try RandomState(validatingSeed: seed) } catch { throw .genomics(error) }
      source = .shuffles(count: count, rng: rng, layout: channelAxis == 1 ? .ncl : .nlc)
    }
  }

  /// Per-example references must have one row per example (checked here: cutting them to a
  /// batch would otherwise read past their end).
  static func checkRows(_ ts: [Tensor], inputShapes: [Shape], inputNames: [String]) throws(LiftKitError) {
    for (k, (t, x)) in zip(ts, inputShapes).enumerated() where t.rank == 0 || t.shape[0] != x[0] {
      throw .referenceRank(
        input: k < inputNames.count ? inputNames[k] : "#\(k)", inputShape: x.dimensions, referenceShape: t.shape.dimensions)
    }
  }

  /// Advances past examples `range` of `source` without explaining them: shuffles are drawn
  /// (and dropped) from the rows, `batch` at a time, so that later examples get the
  /// shuffles of a run that explained these; the other forms are cut by row and need
  /// nothing.
  mutating func skip(rows range: Range<Int>, of source: any RowSource, batch: Int) throws(LiftKitError) {
    guard case .shuffles = self.source else { return }
    var start = range.lowerBound
    while start < range.upperBound {
      let end = min(range.upperBound, start + max(1, batch))
      _ = try references(for: start..<end, inputs: try source.rows(start..<end))
      start = end
    }
  }

  /// The references of examples `range` (whose rows are `inputs`).
  mutating func references(for range: Range<Int>, inputs: [Tensor]) throws(LiftKitError) -> ReferenceSet {
    switch source {
    case .fixed(let set): return set
    case .arrays(let ts, let perExample):
      return .arrays(zip(ts, perExample).map { t, cut in cut ? t.slice(batch: range) : t })
    case .rows(let rows): return .arrays(try rows.rows(range))
    case .explicit(let refs):
      func cut(_ form: InputReference) -> InputReference {
        switch form {
        case .shared, .background: return form
        case .perExample(let t): return .perExample(t.slice(batch: range))
        case .multiple(let t): return .multiple(t.slice(batch: range))
        }
      }
      switch refs {
      case .zeros, .shared, .background: return .explicit(refs)
      case .perExample(let ts): return .explicit(.perExample(ts.map { $0.slice(batch: range) }))
      case .multiple(let ts): return .explicit(.multiple(ts.map { $0.slice(batch: range) }))
      case .perInput(let forms): return .explicit(.perInput(forms.map(cut)))
      }
    case .shuffles(let count, var rng, let layout):
      // One stream drawn example after example: batch after batch gives the references of
      // one draw over every example.
      let refs: Tensor
      do { refs = try shuffledReferences(inputs[0], shuffles: count, rng: &rng, layout: layout) } catch {
        throw .genomics(error)
      }
      source = .shuffles(count: count, rng: rng, layout: layout)
      return .explicit(.multiple([refs]))
    }
  }
}
