import Foundation
import LiftAttribution
import LiftNN
import LiftTensor

extension Model {
  /// Builds an explainer for one method and target.
  ///
  /// ```swift
  /// let model = try Model(contentsOf: url)
  /// let explainer = try model.explainer(method: .revealCancel)
  /// let result = try explainer.explain(inputs: [x], references: .shuffles(count: 10))
  /// ```
  ///
  /// The weight normalisations of `options` (``AttributionOptions/softmaxNormalize``,
  /// ``AttributionOptions/normalizeFirstConvolution``) are applied here, to the explainer's
  /// copy of the graph.
  ///
  /// - Parameters:
  ///   - method: the attribution method (DeepLIFT Rescale by default).
  ///   - target: the layer whose output is explained; `nil` for ``defaultTarget``.
  ///   - options: tasks, layers, output kind and the other settings.
  /// - Throws: ``LiftKitError/noSuchLayer(name:role:layers:)`` for an unknown target or layer,
  ///   ``LiftKitError/duplicateLayer(_:)``, ``LiftKitError/explain(_:)`` when the target cannot
  ///   be explained (an input, a layer not feeding it, a softmax normalisation of a layer that
  ///   is not dense or conv, no convolution after the input, a `genomics-default` rule that
  ///   cannot be chosen).
  public func explainer(
    method: AttributionMethod = .rescale, target: String? = nil,
    options: AttributionOptions = AttributionOptions()
  ) throws(LiftKitError) -> ModelExplainer {
    try ModelExplainer(model: self, method: method, target: target, options: options)
  }
}

/// Explains one model's predictions with one method, for one target; build it once with
/// ``Model/explainer(method:target:options:)`` and apply it to many inputs.
///
/// A value type: copies are independent and it can be shared across tasks (`Sendable`).
public struct ModelExplainer: Sendable {
  /// The model as explained: with the weight normalisations of ``options`` applied.
  public let model: Model
  /// The attribution method.
  public let method: AttributionMethod
  /// The options it was built with.
  public let options: AttributionOptions
  /// The target layer's name.
  public let target: String
  /// Convolutions normalised by ``AttributionOptions/normalizeFirstConvolution`` (empty
  /// otherwise).
  public let normalizedConvolutions: [String]
  /// Whether the target feeds a softmax (where ``AttributionOptions/softmaxNormalize`` is
  /// meant to be used).
  public let targetFeedsSoftmax: Bool
  /// The engine's explainer (kept so its cache of the shared references' forward pass
  /// serves every call).
  let engine: Explainer
  /// The explainer for `tasks: .all` resolved per call (models with open input extents),
  /// kept for the next call with the same tasks so that its shared forward pass is reused.
  let resolved = ResolvedExplainer()

  init(model original: Model, method: AttributionMethod, target name: String?, options: AttributionOptions)
    throws(LiftKitError)
  {
    var model = original
    var normalized: [String] = []
    if options.normalizeFirstConvolution {
      do {
        let (graph, convs) = try model.graph.normalisingFirstConvolutions()
        model.graph = graph
        normalized = convs.map { graph[$0].name }
      } catch { throw .explain(error) }
    }
    let targetID =
      try name.map { n throws(LiftKitError) in try model.node(named: n, role: "target") }
      ?? Explainer.defaultTarget(model.graph)
    if options.softmaxNormalize {
      do { model.graph = try model.graph.softmaxNormalised(target: targetID) } catch { throw .explain(error) }
    }
    var layers: [NodeID] = []
    for layer in options.layers {
      let id = try model.node(named: layer, role: "layer")
      guard !layers.contains(id) else { throw .duplicateLayer(layer) }
      layers.append(id)
    }
    var o = ExplainOptions()
    o.method = method
    o.target = targetID
    if case .indices(let k) = options.tasks { o.tasks = k }
    if case .profile = options.tasks {
      o.tasks = [0]
      o.profile = true
    }
    o.contrast = options.contrast
    o.layers = layers
    o.steps = options.steps
    o.integration = options.integration
    o.maxPool = options.maxPool
    o.batchSize = options.batchSize ?? original.suggestedBatchSize
    o.additionalScores = try ModelExplainer.additionalForms(options, method: method)
    o.multipliers = options.output == .multipliers
    o.hypothetical = options.output == .hypothetical
    o.channelAxis = options.channelAxis ?? original.channelAxis
    // `all` is resolved now when the model declares its input shapes, else per call.
    if case .all = options.tasks, let size = ModelExplainer.declaredSize(of: targetID, in: model.graph) {
      o.tasks = try options.tasks.resolve(count: size, target: model.graph[targetID].name)
    }
    // Built here so unusable targets, layers and rules are reported now.
    do { engine = try Explainer(graph: model.graph, options: o) } catch { throw .explain(error) }
    // A model one example of which cannot fit the memory budget is refused now, when its
    // input shapes are declared (otherwise by `explain`, before anything is propagated).
    if let shapes = ModelExplainer.declaredInputShapes(model.graph) {
      do { _ = try engine.batchPlan(inputShapes: shapes, referencesPerExample: 1, sharedReferenceRows: 0) } catch {
        throw .explain(error)
      }
    }
    self.model = model
    self.method = method
    self.options = options
    self.target = model.graph[targetID].name
    self.normalizedConvolutions = normalized
    self.targetFeedsSoftmax = model.graph.feedsSoftmax(targetID)
  }

  /// This explainer with `kinds` added to ``AttributionOptions/additionalOutputs`` (the same
  /// model, target and batches; the engine rebuilt with the extra kinds).
  func adding(_ kinds: Set<ScoreKind>) throws(LiftKitError) -> ModelExplainer {
    var options = self.options
    options.additionalOutputs.formUnion(kinds)
    var o = engine.options
    o.additionalScores = try ModelExplainer.additionalForms(options, method: method)
    let engine: Explainer
    do { engine = try Explainer(graph: model.graph, options: o) } catch { throw .explain(error) }
    return ModelExplainer(copying: self, options: options, engine: engine)
  }

  /// The engine's kinds for ``AttributionOptions/additionalOutputs`` (the main output left
  /// out).
  ///
  /// - Throws: ``LiftKitError/explain(_:)`` for extra kinds with a method that is not
  ///   DeepLIFT.
  static func additionalForms(_ options: AttributionOptions, method: AttributionMethod) throws(LiftKitError) -> ScoreForms {
    let forms = ScoreForms(options.additionalOutputs.subtracting([options.output]).map(\.form))
    guard forms.isEmpty || method.isDeepLIFT else {
      throw .explain(.unsupported("additional score kinds need a DeepLIFT method, not \(method.rawValue)"))
    }
    return forms
  }

  /// A copy of `other` with other options and engine.
  private init(copying other: ModelExplainer, options: AttributionOptions, engine: Explainer) {
    model = other.model
    method = other.method
    self.options = options
    target = other.target
    normalizedConvolutions = other.normalizedConvolutions
    targetFeedsSoftmax = other.targetFeedsSoftmax
    self.engine = engine
  }

  /// The target's size per example from the declared input shapes, when they are all known.
  static func declaredSize(of target: NodeID, in graph: Graph) -> Int? {
    guard let shapes = declaredInputShapes(graph) else { return nil }
    return (try? graph.inferShapes(inputShapes: shapes))?[target.rawValue].dropFirst.scalarCount
  }

  /// `[1, …]` shapes of the inputs as declared, when every extent is known.
  static func declaredInputShapes(_ graph: Graph) -> [Shape]? {
    var shapes: [Shape] = []
    for id in graph.inputs {
      guard case .input(let declared) = graph[id].op else { return nil }
      let dims = declared.compactMap { $0 }
      guard dims.count == declared.count else { return nil }
      shapes.append(Shape([1] + dims))
    }
    return shapes
  }

  /// How ``explain(inputs:references:progress:)`` will batch inputs of `inputShapes` with
  /// `references` under the memory budget (`MemoryBudget` in LiftNN): examples per batch, and those
  /// ``AttributionOptions/batchSize`` asked for (see
  /// `Explainer.batchPlan(inputShapes:referencesPerExample:sharedReferenceRows:budget:)` in LiftAttribution
  /// for the memory model). Only shapes are read; nothing is allocated.
  ///
  /// - Throws: ``LiftKitError/explain(_:)`` when one example (with its references) does not
  ///   fit the budget (the message names the largest layer and its shape), or for shapes that
  ///   do not fit the model.
  public func batchPlan(inputShapes: [Shape], references: ReferenceSet = .zeros) throws(LiftKitError) -> BatchPlan {
    let (m, r) = references.rowCounts(inputShapes: inputShapes)
    return try batchPlan(inputShapes: inputShapes, referencesPerExample: m, sharedReferenceRows: r)
  }

  /// ``batchPlan(inputShapes:references:)`` for references given by their counts: `m` per
  /// example, `r` rows shared by every example (1 for zeros or one shared reference, M for a
  /// background, 0 for per-example references).
  public func batchPlan(inputShapes: [Shape], referencesPerExample m: Int, sharedReferenceRows r: Int)
    throws(LiftKitError) -> BatchPlan
  {
    var tasks: Int? = nil
    if case .all = options.tasks {
      do {
        tasks = try model.graph.inferShapes(inputShapes: inputShapes)[engine.target.rawValue].dropFirst.scalarCount
      } catch { throw .explain(.graph(error)) }
    }
    do {
      return try engine.batchPlan(
        inputShapes: inputShapes, referencesPerExample: m, sharedReferenceRows: r, tasks: tasks,
        budget: engine.options.memoryBudget ?? MemoryBudget.bytes)
    } catch {
      throw .explain(error)
    }
  }

  /// Explains `inputs` against `references`.
  ///
  /// Examples are processed in batches of ``AttributionOptions/batchSize`` (never changing a
  /// result), fewer when the memory budget requires (``batchPlan(inputShapes:references:)``);
  /// `progress` is called after each batch with the number of examples done.
  ///
  /// - Parameters:
  ///   - inputs: one `[N, …]` float32 tensor per model input, in ``Model/inputNames`` order.
  ///   - references: see ``ReferenceSet``; all-zero by default.
  ///   - progress: called after each batch with the number of examples done.
  /// - Returns: scores per input and per requested layer, with the per-example
  ///   summation-to-delta check.
  /// - Throws: ``LiftKitError`` for inputs or references that do not fit the model, a task
  ///   out of range, or shuffles of something that is not one-hot `[N, L, D]`.
  public func explain(
    inputs: [Tensor], references: ReferenceSet = .zeros, progress: ((Int) -> Void)? = nil
  ) throws(LiftKitError) -> Attribution {
    let graph = model.graph
    guard inputs.count == graph.inputs.count else {
      throw .inputCount(expected: graph.inputNames, found: inputs.count)
    }
    if let threads = options.threads, threads >= 1 { BLAS.setThreads(threads) }
    var explainer = engine
    var o = engine.options
    if case .all = options.tasks {
      let shapes: [Shape]
      do { shapes = try graph.inferShapes(inputShapes: inputs.map(\.shape)) } catch {
        throw .explain(.graph(error))
      }
      let tasks = try options.tasks.resolve(
        count: shapes[engine.target.rawValue].dropFirst.scalarCount, target: target)
      if tasks != o.tasks {
        o.tasks = tasks
        let options = o
        do {
          explainer = try resolved.explainer(tasks: tasks) { () throws(ExplainError) in
            try Explainer(graph: graph, options: options)
          }
        } catch { throw .explain(error) }
      }
    }
    let references = try model.resolvingTokenDefaults(references, inputShapes: inputs.map(\.shape))
    let refs = try references.resolve(
      inputs: inputs, inputNames: graph.inputNames, channelAxis: o.channelAxis)
    let result: Explanation
    do {
      result = try explainer.explain(inputs: inputs, references: refs, progress: progress)
    } catch { throw .explain(error) }
    var attribution = Attribution(
      inputNames: graph.inputNames, scores: result.scores, layerNames: o.layers.map { graph[$0].name },
      layerScores: result.layerScores, kind: options.output, convergenceDelta: result.convergenceDelta,
      target: target, tasks: o.tasks, contrast: o.contrast, summationErrors: result.summationErrors,
      targetDeltas: result.targetDeltas, summationCause: summationCause(of: explainer))
    attribution.tokenInputs = model.tokenInputs
    for kind in options.additionalOutputs where kind != options.output {
      attribution.additionalScores[kind] = result.additionalScores[kind.form]
    }
    return attribution
  }

  /// What the explainer knows can break summation-to-delta (``SummationReport/possibleCause``).
  func summationCause(of explainer: Explainer) -> SummationCause? {
    let pools = explainer.gradientRuleMaxPools
    return pools.isEmpty ? nil : .maxPoolGradientRule(layers: pools.map { model.graph[$0].name })
  }

  /// ``explain(inputs:references:progress:)`` with inputs (and reference arrays) by input name.
  ///
  /// - Throws: ``LiftKitError/unknownInput(name:inputs:)`` / ``LiftKitError/missingInput(name:inputs:)``
  ///   for names that do not match the model's inputs, and the errors of the positional form.
  public func explain(
    named inputs: [String: Tensor], references: ReferenceSet = .zeros, progress: ((Int) -> Void)? = nil
  ) throws(LiftKitError) -> Attribution {
    try explain(inputs: model.arrangeInputs(inputs), references: references, progress: progress)
  }
}

/// The last explainer built for resolved tasks (see ``ModelExplainer/resolved``); shared by
/// the copies of one ``ModelExplainer``.
final class ResolvedExplainer: @unchecked Sendable {
  // @unchecked: `engine` is only touched under `lock`.
  private let lock = NSLock()
  private var engine: Explainer?

  /// The kept explainer when it was built for `tasks`, else a new one from `make` (kept).
  func explainer(tasks: [Int], make: () throws(ExplainError) -> Explainer) throws(ExplainError) -> Explainer {
    lock.lock()
    defer { lock.unlock() }
    if let engine, engine.options.tasks == tasks { return engine }
    let made = try make()
    engine = made
    return made
  }
}
