import LiftAttribution
import LiftNN
import LiftTensor

/// Several models explained as one: the cross-validation folds of one architecture, whose
/// scores are averaged (CLI.md, "Sequences from genome files": `deeplift explain M1 M2 …`).
///
/// Every model sees the same examples and the same references: the rows are read once per
/// batch, shuffled references are drawn once per example, and each model explains that batch
/// against them; the sinks receive the mean over the models of every score kind (input
/// scores, the additional kinds, layer scores). Build it from explainers made with the same
/// method and options:
///
/// ```swift
/// let folds = try urls.map { try Model(contentsOf: $0).explainer(options: options) }
/// let ensemble = try ModelEnsemble(folds)
/// let run = try ensemble.explain(rows: rows, references: .shuffles(count: 20, seed: 0), into: [sink])
/// ```
public struct ModelEnsemble: Sendable {
  /// The explainers, one per model, in the order given.
  public let members: [ModelExplainer]

  /// An ensemble of `members` (at least one).
  ///
  /// - Throws: ``LiftKitError/modelMismatch(model:reason:)`` naming the first model that
  ///   differs from the first one in its inputs (names' count, declared shapes, layout) or
  ///   its target (name, declared size), or was built with another method or options;
  ///   ``LiftKitError/arrays(_:)`` for no members.
  public init(_ members: [ModelExplainer]) throws(LiftKitError) {
    guard let first = members.first else { throw .arrays("an ensemble needs at least one model") }
    for other in members.dropFirst() {
      let name = other.model.url.relativePath
      func mismatch(_ reason: String) -> LiftKitError {
        .modelMismatch(model: name, reason: "\(reason) (first model \(first.model.url.relativePath))")
      }
      guard other.model.graph.inputs.count == first.model.graph.inputs.count else {
        throw mismatch("it has \(other.model.graph.inputs.count) input(s), not \(first.model.graph.inputs.count)")
      }
      guard other.model.channelAxis == first.model.channelAxis else {
        throw mismatch("its input layout differs (channel axis \(other.model.channelAxis), not \(first.model.channelAxis))")
      }
      let a = ModelExplainer.declaredInputShapes(first.model.graph), b = ModelExplainer.declaredInputShapes(other.model.graph)
      guard a == b else {
        throw mismatch("its input shapes \(Self.text(b)) differ from \(Self.text(a))")
      }
      guard other.target == first.target else {
        throw mismatch("its target is '\(other.target)', not '\(first.target)'")
      }
      guard other.method == first.method, other.options == first.options else {
        throw mismatch("it was set up with another method or other options")
      }
    }
    self.members = members
  }

  static func text(_ shapes: [Shape]?) -> String {
    shapes.map { $0.map { "\(Array($0.dimensions.dropFirst()))" }.joined(separator: ", ") } ?? "not declared"
  }

  /// The batches of a streamed explanation: the smallest of the members' plans, so that every
  /// model explains the same rows at once (``ModelExplainer/batchPlan(inputShapes:references:)``).
  public func batchPlan(inputShapes: [Shape], references: ReferenceSet = .zeros) throws(LiftKitError) -> BatchPlan {
    var plan = try members[0].batchPlan(inputShapes: inputShapes, references: references)
    for member in members.dropFirst() {
      let p = try member.batchPlan(inputShapes: inputShapes, references: references)
      if p.examples < plan.examples { plan = p }
    }
    return plan
  }

  /// Explains every row of `source` with every model, batch by batch, and hands the mean of
  /// the models' scores to `sinks` (see ``ModelExplainer/explain(rows:references:into:progress:)``
  /// for the streaming, the references and the transaction). One model gives exactly that
  /// model's scores.
  ///
  /// The summation check is each model's own (each model's scores sum to its Δ, so their mean
  /// sums to the mean Δ); per example and task the report keeps the model with the largest
  /// relative error.
  ///
  /// - Throws: ``LiftKitError`` as the single-model form does; with several models, an error
  ///   of one model's explanation is ``LiftKitError/arrays(_:)`` prefixed with its file.
  public func explain(
    rows source: any RowSource, references: ReferenceSet = .zeros, into sinks: [any ScoreSink],
    progress: ((Int) -> Void)? = nil
  ) throws(LiftKitError) -> StreamedExplanation {
    try ModelExplainer.stream(members, rows: source, references: references, into: sinks, progress: progress)
  }
}

extension ModelExplainer {
  /// The mean over the models of one batch's explanations (the first's when only one).
  static func mean(_ results: [Attribution]) -> Attribution {
    guard results.count > 1 else { return results[0] }
    let k = Float(results.count)
    func average(_ parts: [[Tensor]]) -> [Tensor] {
      parts[0].indices.map { i in
        // Summed in model order, then divided: (a + b) / 2 for two models.
        var sum = parts[0][i].scalars
        for p in parts.dropFirst() {
          p[i].withUnsafeBufferPointer { q in for j in sum.indices { sum[j] += q[j] } }
        }
        return Tensor(shape: parts[0][i].shape, scalars: sum.map { $0 / k })
      }
    }
    let first = results[0]
    // Per example and task, the model whose check is worst relative to its |Δ|.
    var errors = first.summationErrors, deltas = first.targetDeltas
    for r in results.dropFirst() where r.summationErrors.count == errors.count && r.targetDeltas.count == deltas.count {
      for i in errors.indices {
        let mine = r.summationErrors[i] / max(1, r.targetDeltas[i]), kept = errors[i] / max(1, deltas[i])
        if mine.isNaN || (!kept.isNaN && mine > kept) { (errors[i], deltas[i]) = (r.summationErrors[i], r.targetDeltas[i]) }
      }
    }
    var convergence = first.convergenceDelta
    for r in results.dropFirst() where r.convergenceDelta.count == convergence.count {
      for i in convergence.indices {
        let v = r.convergenceDelta[i]
        convergence[i] = convergence[i].isNaN || v.isNaN ? .nan : max(convergence[i], v)
      }
    }
    var mean = Attribution(
      inputNames: first.inputNames, scores: average(results.map(\.scores)), layerNames: first.layerNames,
      layerScores: average(results.map(\.layerScores)), kind: first.kind, convergenceDelta: convergence,
      target: first.target, tasks: first.tasks, contrast: first.contrast, summationErrors: errors, targetDeltas: deltas,
      summationCause: first.summation.possibleCause)
    for kind in first.additionalScores.keys {
      mean.additionalScores[kind] = average(results.map { $0.additionalScores[kind] ?? [] })
    }
    return mean
  }

  /// The streamed explanation of ``explain(rows:references:into:progress:)`` with one or
  /// several explainers (``ModelEnsemble``): each batch's rows and references are made once
  /// and explained by every explainer; the sinks get the mean. The batches are the smallest
  /// of the explainers' plans. A shard (``ShardRows``) is explained as its rows of the whole
  /// run: the whole run's batch plan and batch grid, references taken at the whole run's
  /// rows, shuffles drawn as the whole run draws them (those of the rows before the shard
  /// drawn and dropped).
  static func stream(
    _ explainers: [ModelExplainer], rows source: any RowSource, references: ReferenceSet, into sinks: [any ScoreSink],
    progress: ((Int) -> Void)?
  ) throws(LiftKitError) -> StreamedExplanation {
    let first = explainers[0]
    let graph = first.model.graph
    let shapes = source.shapes
    guard shapes.count == graph.inputs.count else {
      throw .inputCount(expected: graph.inputNames, found: shapes.count)
    }
    let n = source.rowCount
    guard n > 0, shapes.allSatisfy({ $0.rank > 0 && $0[0] == n }) else {
      throw .arrays("\(source.name): no examples, or arrays with different numbers of rows (\(shapes.map(\.dimensions))); nothing to explain")
    }
    let needed = sinks.reduce(into: Set<ScoreKind>()) { $0.formUnion($1.neededKinds) }
      .subtracting(first.options.additionalOutputs).subtracting([first.options.output])
    var members: [ModelExplainer] = []
    for e in explainers { members.append(needed.isEmpty ? e : try e.adding(needed)) }
    let shard = source as? ShardRows
    let offset = shard?.range.lowerBound ?? 0
    let whole: any RowSource = shard?.base ?? source
    let wholeShapes = whole.shapes
    let wholeCount = whole.rowCount
    // Token-id inputs: "zeros" means token 0 (Model+Tokens.swift).
    let references = try first.model.resolvingTokenDefaults(references, inputShapes: wholeShapes)
    var plan = try members[0].batchPlan(inputShapes: wholeShapes, references: references)
    for member in members.dropFirst() {
      let p = try member.batchPlan(inputShapes: wholeShapes, references: references)
      if p.examples < plan.examples { plan = p }
    }
    var stream = try ReferenceStream(
      references, inputShapes: wholeShapes, inputNames: graph.inputNames,
      channelAxis: first.options.channelAxis ?? first.model.channelAxis)
    // A shard explains the whole run's batches that hold its rows, each entire (the kernels'
    // rounding may depend on a batch's size and rows), and keeps its own rows of them.
    let firstRow = (offset / plan.examples) * plan.examples
    if shard != nil { try stream.skip(rows: 0..<firstRow, of: whole, batch: plan.examples) }
    var summation = SummationReport()
    var tasks: [Int] = []
    var start = firstRow
    let several = members.count > 1
    while start < offset + n {
      let end = min(wholeCount, start + plan.examples)
      let x = try whole.rows(start..<end)
      let refs = try stream.references(for: start..<end, inputs: x)
      let kept = max(start, offset)..<min(end, offset + n)
      let done = kept.lowerBound - offset
      var results: [Attribution] = []
      for (k, member) in members.enumerated() {
        do {
          results.append(
            try member.explain(inputs: x, references: refs) { count in
              // Progress counts examples once every model has explained them.
              if k == members.count - 1 { progress?(done + min(kept.count, max(0, count - (kept.lowerBound - start)))) }
            })
        } catch where several {
          throw .arrays("\(member.model.url.relativePath): \(error)")
        }
      }
      let result = mean(results)
      let local = (kept.lowerBound - start)..<(kept.upperBound - start)
      let own = local.count == end - start ? result : result.keepingRows(local, of: end - start)
      let inputs = local.count == end - start ? x : x.map { $0.slice(batch: local) }
      summation.append(own.summation)
      tasks = own.tasks
      let batch = ScoreBatch(
        rows: (kept.lowerBound - offset)..<(kept.upperBound - offset), totalRows: n, inputs: inputs, attribution: own)
      for sink in sinks { try sink.write(batch) }
      start = end
    }
    for sink in sinks { try sink.finish() }
    return StreamedExplanation(
      examples: n, summation: summation, target: first.target, tasks: tasks, contrast: first.options.contrast, plan: plan)
  }
}
