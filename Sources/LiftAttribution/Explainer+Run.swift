import Foundation
import LiftGenomics
import LiftNN
import LiftTensor

/// The result of an explanation.
public struct Explanation: Sendable {
  /// One tensor per model input, in the graph's input order: `[N, …]` (the input's shape) for
  /// one task, `[N, T, …]` for several tasks. Contribution scores, or multipliers when
  /// ``ExplainOptions/multipliers`` is set, or hypothetical contributions.
  public var scores: [Tensor]
  /// DeepLIFT methods: per example, the worst over tasks of ``summationErrors`` (NaN when
  /// any is NaN). Empty for gradient methods.
  public var convergenceDelta: [Float]
  /// DeepLIFT methods: per example and task (`[N, T]` flattened, example-major),
  /// `|Σ contributions − Δ|` with `Δ = f(x) − f(ref)` of the task's neuron (minus that of
  /// ``ExplainOptions/contrast``), both averaged over the example's references; NaN when
  /// either is not finite. The contributions are `m⁺·Δx⁺ + m⁻·Δx⁻` summed over every input,
  /// whatever the output kind. Empty for gradient methods.
  public var summationErrors: [Float] = []
  /// DeepLIFT methods: `|Δ|` per example and task, laid out like ``summationErrors``.
  public var targetDeltas: [Float] = []
  /// The target node that was explained.
  public var target: NodeID
  /// One tensor per node of ``ExplainOptions/layers``, in that order: `[N, (T,) …]` with
  /// the node's per-example shape; contribution scores, or multipliers when
  /// ``ExplainOptions/multipliers`` is set.
  public var layerScores: [Tensor] = []
  /// The nodes of ``layerScores`` (``ExplainOptions/layers``).
  public var layers: [NodeID] = []
  /// The input scores of each kind of ``ExplainOptions/additionalScores`` (one tensor per
  /// model input, shaped like ``scores``).
  public var additionalScores: [ScoreForms: [Tensor]] = [:]
}

/// Explains the predictions of one graph with one method; a value you build once and apply to
/// many batches.
///
/// Every DeepLIFT rule follows the original `deeplift` 0.6.13 (Shrikumar, Greenside & Kundaje,
/// "Learning Important Features Through Propagating Activation Differences", ICML 2017,
/// arXiv:1704.02685) with the fixes of reference §8; gradient methods follow Captum.
public struct Explainer: Sendable {
  public let graph: Graph
  public let options: ExplainOptions
  /// The node whose flattened output is indexed by the tasks.
  public let target: NodeID
  let modes: [NonlinearMode?]
  let live: Set<NodeID>
  /// `|W|` per dense/conv node when some node uses RevealCancel (empty otherwise).
  let absWeights: [Tensor?]
  let sharedForward = SharedForwardCache()

  /// Resolves the target and the rule of every nonlinear node.
  ///
  /// - Throws: ``ExplainError/unresolvedRule(layer:reason:)`` for `genomics-default` when an
  ///   activation does not follow a dense or conv layer (through BatchNorm/Dropout/LayerNorm/RMSNorm), as the
  ///   original does; ``ExplainError/unsupported(_:)`` for a bad target.
  public init(graph: Graph, options: ExplainOptions) throws(ExplainError) {
    self.graph = graph
    self.options = options
    let target = options.target ?? Explainer.defaultTarget(graph)
    guard target.rawValue < graph.nodes.count else { throw .unsupported("target node \(target) does not exist") }
    if case .input = graph[target].op {
      throw .unsupported("the target '\(graph[target].name)' is a model input; pick a layer")
    }
    self.target = target
    live = graph.ancestors(of: [target])
    for layer in options.layers {
      guard layer.rawValue >= 0 && layer.rawValue < graph.nodes.count else {
        throw .unsupported("layer node \(layer) does not exist")
      }
      guard live.contains(layer) else {
        throw .unsupported(
          "layer '\(graph[layer].name)' does not feed the target '\(graph[target].name)': its scores would be zero")
      }
    }
    if !options.layers.isEmpty && options.method == .integratedGradients {
      throw .unsupported("scores of inner layers are not available for integrated-gradients")
    }
    var modes = [NonlinearMode?](repeating: nil, count: graph.nodes.count)
    for id in live {
      modes[id.rawValue] = try rule(for: graph[id].op).nonlinearMode(options.method, graph: graph, id)
    }
    for (i, node) in graph.nodes.enumerated() where live.contains(NodeID(i)) {
      if case .maximum = node.op, node.inputs.count != 2 {
        throw .unsupported("layer '\(node.name)': maximum of \(node.inputs.count) operands is not supported (2 only)")
      }
      if case .minimum = node.op, node.inputs.count != 2 {
        throw .unsupported("layer '\(node.name)': minimum of \(node.inputs.count) operands is not supported (2 only)")
      }
    }
    self.modes = modes
    absWeights = modes.contains(.revealCancel) ? absoluteWeights(graph, nodes: live) : []
  }

  /// The max-pooling nodes the target depends on whose multipliers follow the original's
  /// `gradient` rule under a DeepLIFT method (``ExplainOptions/maxPool`` is
  /// ``MaxPoolRule/gradient``): the multiplier goes to the input's window maximum, so where
  /// the reference's maximum sits elsewhere in a window the scores miss summation-to-delta;
  /// ``MaxPoolRule/deepshap`` keeps it. Empty for other methods and rules.
  public var gradientRuleMaxPools: [NodeID] {
    guard options.method.isDeepLIFT, options.maxPool == .gradient else { return [] }
    return graph.nodes.indices.map { NodeID($0) }.filter { id in
      guard live.contains(id) else { return false }
      switch rule(for: graph[id].op) {
      case .pooling(.maxPool), .pooling(.globalMaxPool), .reduction(.max, _, _): return true
      case .input, .linear, .elementwise, .softmax, .pooling(.averagePool), .pooling(.globalAveragePool),
        .structural, .merge, .reduction(.sum, _, _), .reduction(.mean, _, _), .reduction(.logSumExp, _, _), .product,
        .resampling, .normalization:
        return false
      }
    }
  }

  /// The model's first output, or the input of that output when it is a sigmoid or softmax
  /// (the paper's §3.6 choice of target: the pre-activation logit), also behind identity
  /// nodes (skl2onnx's `Identity` after the softmax).
  public static func defaultTarget(_ graph: Graph) -> NodeID {
    let out = graph.outputs.first ?? NodeID(graph.nodes.count - 1)
    var node = out
    while case .identity = graph[node].op { node = graph[node].inputs[0] }
    switch graph[node].op {
    case .activation(.sigmoid), .softmax: return graph[node].inputs[0]
    default: return out
    }
  }

  /// Explains `inputs` (one `[N, …]` tensor per model input) against `references`.
  ///
  /// Examples are processed in batches of ``ExplainOptions/batchSize``; inputs and their
  /// references go through the network as one stacked batch, a shared reference or a
  /// background is propagated once per call, and all tasks share one forward pass.
  /// `progress` is called after each batch with the number of examples done.
  public func explain(
    inputs: [Tensor], references: References = .zeros, progress: ((Int) -> Void)? = nil
  ) throws(ExplainError) -> Explanation {
    guard inputs.count == graph.inputs.count else {
      throw .graph(.inputCount(expected: graph.inputs.count, found: inputs.count))
    }
    let n = inputs[0].shape[0]
    for t in inputs where t.rank == 0 || t.shape[0] != n {
      throw .inputs("all inputs must have the same number of examples (\(inputs.map { $0.rank > 0 ? $0.shape[0] : 0 }))")
    }
    let shapes: [Shape]
    do { shapes = try graph.inferShapes(inputShapes: inputs.map(\.shape)) } catch { throw .graph(error) }
    let targetSize = shapes[target.rawValue].dropFirst.scalarCount
    for task in options.tasks where task < 0 || task >= targetSize {
      throw .taskOutOfRange(task: task, size: targetSize, target: graph[target].name)
    }
    if options.method == .integratedGradients && !(1...ExplainOptions.maximumSteps).contains(options.steps) {
      throw .unsupported("integrated gradients takes 1...\(ExplainOptions.maximumSteps) steps, got \(options.steps)")
    }
    if options.profile && (options.tasks != [0] || options.contrast != nil) {
      throw .unsupported("the profile target is one scalar per example: it takes no task list (\(options.tasks)) and no contrast")
    }
    if let j = options.contrast, j < 0 || j >= targetSize {
      throw .contrastOutOfRange(contrast: j, size: targetSize, target: graph[target].name)
    }
    if !options.additionalScores.isEmpty && !options.method.isDeepLIFT {
      throw .unsupported("additional score kinds need a DeepLIFT method, not \(options.method.rawValue)")
    }
    let refs = try ReferencePlan(references, inputs: inputs, graph: graph)
    // Checked before anything is propagated: one example with one reference must fit the
    // memory budget; batches are made smaller when `batchSize` pairs would not, and one
    // example's references go through in chunks when they do not all fit (never changing a
    // result).
    let plan = try batchPlan(
      shapes: shapes, referencesPerExample: refs.perExample,
      sharedReferenceRows: refs.sharedRows?.first.map { $0.rank > 0 ? $0.shape[0] : 1 } ?? 0,
      budget: options.memoryBudget ?? MemoryBudget.bytes)
    var cached: [Tensor?]? = nil
    if let rows = refs.sharedRows, options.method.isDeepLIFT {
      let (graph, target) = (self.graph, self.target)
      cached = try sharedForward.activations(of: rows) { () throws(ExplainError) -> [Tensor?] in
        do throws(GraphError) {
          return try LiftNN.forward(graph, inputs: rows, computing: [target])
        } catch { throw .graph(error) }
      }
    }
    if let cached { try checkDomains(cached, inputRows: 0) }
    let tasks = options.tasks
    var outputs = [[Tensor]](repeating: [], count: inputs.count)
    var layerOutputs = [[Tensor]](repeating: [], count: options.layers.count)
    let extraKinds = ScoreForms.all.filter { options.additionalScores.contains($0) }
    var extraOutputs = [[[Tensor]]](repeating: [[Tensor]](repeating: [], count: inputs.count), count: extraKinds.count)
    var errors = [Float](), targetDeltas = [Float]()
    // A batch holds at most `batchSize` example–reference pairs (rows through the network),
    // fewer when the memory budget says so, so memory does not grow with the number of
    // references per example.
    let batch = plan.examples
    var start = 0
    while start < n {
      let end = min(n, start + batch)
      let xs = inputs.map { $0.slice(batch: start..<end) }
      let (scores, check, layerScores, extras) = try explainBatch(
        xs, refs: refs, range: start..<end, cached: cached, tasks: tasks, extraKinds: extraKinds,
        chunk: plan.referencesPerChunk)
      for i in 0..<inputs.count { outputs[i].append(scores[i]) }
      for (k, perInput) in extras.enumerated() {
        for i in 0..<inputs.count { extraOutputs[k][i].append(perInput[i]) }
      }
      for i in 0..<layerScores.count { layerOutputs[i].append(layerScores[i]) }
      errors.append(contentsOf: check.errors)
      targetDeltas.append(contentsOf: check.deltas)
      start = end
      progress?(end)
    }
    func joined(_ perInput: [[Tensor]]) -> [Tensor] {
      perInput.enumerated().map { i, parts -> Tensor in
        if parts.isEmpty {
          let inner = inputs[i].shape.dropFirst
          return .zeros(Shape([0] + (tasks.count > 1 ? [tasks.count] : []) + inner.dimensions))
        }
        return Tensor.concatenate(batches: parts)
      }
    }
    let scores = joined(outputs)
    var additional: [ScoreForms: [Tensor]] = [:]
    for (k, kind) in extraKinds.enumerated() { additional[kind] = joined(extraOutputs[k]) }
    let layerScores = layerOutputs.enumerated().map { i, parts -> Tensor in
      if parts.isEmpty {
        let inner = shapes[options.layers[i].rawValue].dropFirst
        return .zeros(Shape([0] + (tasks.count > 1 ? [tasks.count] : []) + inner.dimensions))
      }
      return Tensor.concatenate(batches: parts)
    }
    // Worst over tasks, NaN-propagating (`Swift.max` would drop a NaN).
    let t = max(tasks.count, 1)
    let worst = stride(from: 0, to: errors.count, by: t).map { i in
      errors[i..<(i + t)].reduce(Float(0)) { $0.isNaN || $1.isNaN ? .nan : max($0, $1) }
    }
    return Explanation(
      scores: scores, convergenceDelta: worst, summationErrors: errors, targetDeltas: targetDeltas, target: target,
      layerScores: layerScores, layers: options.layers, additionalScores: additional)
  }

  /// One batch of `b` examples: builds the pairs, runs the stacked forward pass and the
  /// backward pass for all tasks, and averages over each example's references. The last
  /// result holds, per kind of `extraKinds` (DeepLIFT only), one tensor per input.
  ///
  /// With `chunk` R below the M references per example (``BatchPlan/referencesPerChunk``),
  /// the references go through the network R at a time, in reference order, each chunk's
  /// pair scores added to running float32 sums (and the summation check's float64 sums) in
  /// the order one pass of all M adds them: the results are bit-identical to one pass.
  func explainBatch(
    _ xs: [Tensor], refs: ReferencePlan, range: Range<Int>, cached: [Tensor?]?, tasks: [Int],
    extraKinds: [ScoreForms] = [], chunk: Int? = nil
  ) throws(ExplainError) -> ([Tensor], (errors: [Float], deltas: [Float]), [Tensor], [[Tensor]]) {
    let b = xs[0].shape[0]
    // Gradient methods ignore the references: one "pair" per example, x on both sides.
    let m = options.method.isDeepLIFT || options.method == .integratedGradients ? refs.perExample : 1
    let r = min(max(chunk ?? m, 1), m)
    var means = ReferenceMeans(
      examples: b, references: m, tasks: tasks.count, inputs: xs.count, layers: options.layers.count,
      extraKinds: extraKinds.count)
    var j = 0
    while j < m {
      let references = j..<min(m, j + r)
      if options.method == .integratedGradients {
        try integratedGradients(xs, refs: refs, range: range, references: references, tasks: tasks, into: &means)
      } else {
        try explainPairs(
          xs, refs: refs, range: range, references: references, cached: cached, tasks: tasks, extraKinds: extraKinds,
          into: &means)
      }
      j = references.upperBound
    }
    return means.finish(isDeepLIFT: options.method.isDeepLIFT)
  }

  /// The pairs of references `references` (of each example's M) of one batch: the stacked
  /// forward pass, the backward pass for all tasks, and the pair scores added to `means`.
  func explainPairs(
    _ xs: [Tensor], refs: ReferencePlan, range: Range<Int>, references: Range<Int>, cached: [Tensor?]?, tasks: [Int],
    extraKinds: [ScoreForms], into means: inout ReferenceMeans
  ) throws(ExplainError) {
    let b = xs[0].shape[0]
    let isGradientFamily = !options.method.isDeepLIFT
    let m = means.references
    let r = references.count
    // Forward: inputs and per-batch references (this chunk's) as one stacked batch.
    var batchRefs = isGradientFamily ? nil : refs.rows(for: range)
    if let rows = batchRefs, r < m {
      let picked = (0..<b).flatMap { e in references.map { e * m + $0 } }
      batchRefs = rows.map { $0.gatherRows(picked) }
    }
    let stacked = batchRefs.map { r in zip(xs, r).map { Tensor.concatenate(batches: [$0, $1]) } } ?? xs
    let acts: [Tensor?]
    do { acts = try LiftNN.forward(graph, inputs: stacked, computing: [target]) } catch { throw .graph(error) }
    try checkDomains(acts, inputRows: b)
    // Pairs: P = b·R, example-major. Nothing is copied: pair p = e·R + i reads input row e
    // and, for per-example references, row b + p of the same stacked activations; shared rows
    // (one reference, zeros or an M-row background) are read as row j₀ + i of the cached pass.
    let pairs = b * r
    let xa = PairSide(acts, map: RowMap(every: r), pairs: pairs)
    let ra: PairSide
    if isGradientFamily {
      ra = xa
    } else if batchRefs != nil {
      ra = PairSide(acts, map: RowMap(base: b), pairs: pairs)
    } else {
      ra = PairSide(cached ?? [], map: RowMap(base: references.lowerBound, period: r), pairs: pairs)
    }
    var prop = Propagation(
      graph: graph, modes: modes, maxPoolRule: options.maxPool, x: xa, r: ra, absWeights: absWeights)
    // Profile target: `w − 1/n` per stored input row of the target (x rows, read by pair).
    let size = xa.rowSize(target.rawValue)
    let weights = options.profile ? profileWeights(xa.stored[target.rawValue]!, rows: xa.map.rows(pairs: pairs)) : nil
    let seed: Tensor
    if let weights {
      seed = profileSeed(weights, pairs: pairs, targetShape: xa.shape(target.rawValue)!) { xa.map.row($0) }
    } else {
      seed = seedMultipliers(tasks: tasks, pairs: pairs, targetShape: xa.shape(target.rawValue)!)
    }
    let mult = prop.backward(target: target, seed: seed, keeping: Set(options.layers))
    for (i, id) in options.layers.enumerated() {
      let inner = xa.shape(id.rawValue)!.dropFirst
      if let perPair = scoresOfLayer(id, mult[id.rawValue], &prop, xa: xa) {
        means.add(perPair, to: .layer(i), chunk: r)
      } else {
        means.addZeros(inner, to: .layer(i))
      }
    }
    // Per input: scores per pair and task, added to the sums over each example's references.
    var sums = [Double](repeating: 0, count: tasks.count * pairs)
    for (k, inputID) in graph.inputs.enumerated() {
      guard let mi = mult[inputID.rawValue] else {
        means.addZeros(xs[k].shape.dropFirst, to: .input(k))
        for e in extraKinds.indices { means.addZeros(xs[k].shape.dropFirst, to: .extra(e, k)) }
        continue
      }
      let perPair: Tensor
      switch options.method {
      case .gradient, .guidedBackprop:
        perPair = mi.mean
      case .inputXGradient:
        perPair = options.multipliers ? mi.mean : mi.mean.multipliedTiled(xa[inputID.rawValue]!)
      default:
        let main: ScoreForms = options.hypothetical ? .hypothetical : (options.multipliers ? .multipliers : .contributions)
        perPair = try deepLIFTScores(main, inputID, mi, &prop, ra: ra, tasks: tasks.count)
        // Every kind from the same multipliers: what a run of that kind computes, per pair.
        for (e, kind) in extraKinds.enumerated() {
          let extra = kind == main ? perPair : try deepLIFTScores(kind, inputID, mi, &prop, ra: ra, tasks: tasks.count)
          means.add(extra, to: .extra(e, k), chunk: r)
        }
        let contributions = options.multipliers || options.hypothetical
          ? Tensor.sum(mi.pos.multipliedTiled(prop.split(inputID).pos), mi.negative.multipliedTiled(prop.split(inputID).neg))
          : perPair
        for (i, s) in contributions.rowSums().enumerated() { sums[i] += s }
      }
      means.add(perPair, to: .input(k), chunk: r)
    }
    if !isGradientFamily {
      // Σ_j Σ scores and Σ_j (t(x) − t(r)) per example and task, over this chunk's
      // references in order. Stored rows of the target on both sides (pair p: rows
      // xa.map.row(p), ra.map.row(p)).
      let tx = xa.stored[target.rawValue]!, tr = ra.stored[target.rawValue]!
      for e in 0..<b {
        for (ti, task) in tasks.enumerated() {
          var s = means.contributionSums[e * tasks.count + ti], d = means.targetDeltaSums[e * tasks.count + ti]
          for i in 0..<r {
            let p = e * r + i
            s += sums[ti * pairs + p]
            let xr = xa.map.row(p) * size, rr = ra.map.row(p) * size
            if let weights {
              // Δ of the profile target: Σ_k (w_k − 1/n)·(y_k(x) − y_k(r)), w from x.
              let wr = (xa.map.row(p) - xa.map.rows(pairs: pairs).lowerBound) * size
              for k in 0..<size {
                d += Double(weights[wr + k]) * (Double(tx.scalars[xr + k]) - Double(tr.scalars[rr + k]))
              }
              continue
            }
            d += Double(tx.scalars[xr + task]) - Double(tr.scalars[rr + task])
            if let c = options.contrast {
              d -= Double(tx.scalars[xr + c]) - Double(tr.scalars[rr + c])
            }
          }
          means.contributionSums[e * tasks.count + ti] = s
          means.targetDeltaSums[e * tasks.count + ti] = d
        }
      }
    }
  }
  /// DeepLIFT input scores of one kind per pair and task (`[T·P, …]`) from the input's
  /// multipliers: `m⁺·Δx⁺ + m⁻·Δx⁻`, `½(m⁺ + m⁻)`, or the hypothetical contributions of the
  /// multipliers against each pair's reference row. Not inlined: inlined into
  /// ``explainPairs(_:refs:range:references:cached:tasks:extraKinds:into:)``, Swift 6.3.1's optimiser crashes
  /// (an ownership error in CopyPropagation, `swift build -c release`).
  @inline(never)
  func deepLIFTScores(
    _ kind: ScoreForms, _ inputID: NodeID, _ mi: Multipliers, _ prop: inout Propagation, ra: PairSide, tasks: Int
  ) throws(ExplainError) -> Tensor {
    switch kind {
    case .hypothetical:
      let refs = ra[inputID.rawValue]!.tiledBatch(tasks)
      do {
        return try hypotheticalContributions(multipliers: mi.mean, references: refs, channelAxis: options.channelAxis)
      } catch {
        throw .unsupported("--hypothetical on input '\(graph[inputID].name)': \(error)")
      }
    case .multipliers:
      return mi.mean
    default:
      return prop.inputContributions(inputID, mi)
    }
  }

  /// The profile target's seed weights `w − 1/n` (``ExplainOptions/profile``) of the stored
  /// target rows `rows` of `y` (`[R, …]`), `w = softmax(y_row − mean(y_row))` in double
  /// precision; laid out `[rows.count, n]`.
  func profileWeights(_ y: Tensor, rows: Range<Int>) -> [Float] {
    let n = y.rank > 0 && y.shape[0] > 0 ? y.scalarCount / y.shape[0] : 0
    var out = [Float](repeating: 0, count: rows.count * n)
    guard n > 0 else { return out }
    y.withUnsafeBufferPointer { p in
      var e = [Double](repeating: 0, count: n)
      for (i, r) in rows.enumerated() {
        let row = p[(r * n)..<(r * n + n)]
        let mean = row.reduce(0.0) { $0 + Double($1) } / Double(n)
        let top = row.reduce(-Double.infinity) { Swift.max($0, Double($1) - mean) }
        var total = 0.0
        for (k, v) in row.enumerated() {
          e[k] = Foundation.exp(Double(v) - mean - top)
          total += e[k]
        }
        for k in 0..<n { out[i * n + k] = Float(e[k] / total - 1 / Double(n)) }
      }
    }
    return out
  }

  /// Seeds `[P, target…]` of the profile target: row `p` holds the weights of stored row
  /// `row(p)` (`weights` starts at the first row any pair reads).
  func profileSeed(_ weights: [Float], pairs: Int, targetShape: Shape, row: (Int) -> Int) -> Tensor {
    let size = targetShape.scalarCount / max(pairs, 1)
    var s = targetShape
    s[0] = pairs
    var seed = Tensor.zeros(s)
    let first = pairs > 0 ? (0..<pairs).map(row).min()! : 0
    seed.withUnsafeMutableBufferPointer { p in
      for pair in 0..<pairs {
        let src = (row(pair) - first) * size
        for k in 0..<size { p[pair * size + k] = weights[src + k] }
      }
    }
    return seed
  }

  /// Seeds `[T·P, target…]`: row `t·P + p` is 1 at the flattened index `tasks[t]` (one-hot),
  /// and −1 at ``ExplainOptions/contrast`` when set (the two cancel when they coincide).
  func seedMultipliers(tasks: [Int], pairs: Int, targetShape: Shape) -> Tensor {
    let size = targetShape.scalarCount / max(pairs, 1)
    var s = targetShape
    s[0] = tasks.count * pairs
    var seed = Tensor.zeros(s)
    seed.withUnsafeMutableBufferPointer { p in
      for (t, task) in tasks.enumerated() {
        for pair in 0..<pairs {
          p[(t * pairs + pair) * size + task] += 1
          if let c = options.contrast { p[(t * pairs + pair) * size + c] -= 1 }
        }
      }
    }
    return seed
  }

  /// Scores of one inner node per pair and task (`[T·P, …]`), nil when no multiplier
  /// reaches it (zeros): DeepLIFT contributions `m⁺·Δn⁺ + m⁻·Δn⁻` with the node's own split
  /// (or `½(m⁺ + m⁻)` with ``ExplainOptions/multipliers``); for gradient methods the gradient
  /// at the node (× the node's activation for `input-x-gradient`).
  func scoresOfLayer(_ id: NodeID, _ mi: Multipliers?, _ prop: inout Propagation, xa: PairSide) -> Tensor? {
    guard let mi else { return nil }
    switch options.method {
    case .gradient, .guidedBackprop:
      return mi.mean
    case .inputXGradient:
      return options.multipliers ? mi.mean : mi.mean.multipliedTiled(xa[id.rawValue]!)
    default:
      if options.multipliers { return mi.mean }
      let (dp, dn) = prop.split(id)
      return Tensor.sum(mi.pos.multipliedTiled(dp), mi.negative.multipliedTiled(dn))
    }
  }

  /// Integrated gradients: `(x − r) · Σ_k w_k ∇f(r + α_k (x − r))` for the pairs of
  /// references `references` (of each example's M), added to `means`.
  func integratedGradients(
    _ xs: [Tensor], refs: ReferencePlan, range: Range<Int>, references: Range<Int>, tasks: [Int],
    into means: inout ReferenceMeans
  ) throws(ExplainError) {
    let b = xs[0].shape[0], m = refs.perExample, r = references.count
    let pairs = b * r
    // Reference rows per pair (input space only: no forward pass of the references needed).
    var refRows: [Tensor] = refs.rows(for: range) ?? refs.sharedRows!.map { $0.tiledBatch(b) }
    if r < m {
      let picked = (0..<b).flatMap { e in references.map { e * m + $0 } }
      refRows = refRows.map { $0.gatherRows(picked) }
    }
    let xRows = xs.map { $0.repeatingRows(r) }
    let diffs = zip(xRows, refRows).map { Tensor.zip2($0, $1) { $0 - $1 } }
    let (alphas, weights) = options.integration.pointsAndWeights(max(1, options.steps))
    var gradSums = xRows.map { Tensor.zeros(Shape([tasks.count * pairs] + $0.shape.dropFirst.dimensions)) }
    // Profile target: weights from the examples' own forward pass, held along the path.
    var profile: [Float]? = nil
    if options.profile {
      let acts: [Tensor?]
      do { acts = try LiftNN.forward(graph, inputs: xs, computing: [target]) } catch { throw .graph(error) }
      profile = profileWeights(acts[target.rawValue]!, rows: 0..<b)
    }
    for (alpha, w) in zip(alphas, weights) {
      let points = zip(refRows, diffs).map { r, d in Tensor.zip2(r, d) { $0 + Float(alpha) * $1 } }
      let acts: [Tensor?]
      do { acts = try LiftNN.forward(graph, inputs: points, computing: [target]) } catch { throw .graph(error) }
      try checkDomains(acts, inputRows: Int.max)
      let side = PairSide(acts, pairs: pairs)
      var prop = Propagation(graph: graph, modes: modes, maxPoolRule: .gradient, x: side, r: side)
      let seed = profile.map { w in profileSeed(w, pairs: pairs, targetShape: acts[target.rawValue]!.shape) { $0 / m } }
        ?? seedMultipliers(tasks: tasks, pairs: pairs, targetShape: acts[target.rawValue]!.shape)
      let mult = prop.backward(target: target, seed: seed)
      for (k, id) in graph.inputs.enumerated() {
        guard let g = mult[id.rawValue]?.mean else { continue }
        gradSums[k] = Tensor.zip2(gradSums[k], g) { $0 + Float(w) * $1 }
      }
    }
    for (k, g) in gradSums.enumerated() {
      means.add(options.multipliers ? g : g.multipliedTiled(diffs[k]), to: .input(k), chunk: r)
    }
  }
}
/// Where each pair's reference comes from.
///
/// Every form is brought to one of two per input: rows shared by every example (`[R, …]`)
/// or rows per example (`[N·R, …]`, example-major), with R = 1 or the common M. Pair
/// `e·M + j` reads row `j` (or 0 when R = 1) of shared rows, row `e·M + j` (or `e`) of
/// per-example rows.
struct ReferencePlan {
  /// One input's reference rows.
  struct Source {
    /// `[R, …]` when shared, `[N·R, …]` per example.
    var rows: Tensor
    /// R: 1 or ``ReferencePlan/perExample``.
    var count: Int
    var isShared: Bool
  }

  /// References per example (M); 1 when no input has several.
  let perExample: Int
  /// Rows propagated once per call and shared by all examples (`[1, …]` or `[M, …]` per
  /// input), or nil when some input has per-example references.
  let sharedRows: [Tensor]?
  let sources: [Source]

  init(_ refs: References, inputs: [Tensor], graph: Graph) throws(ExplainError) {
    let names = graph.inputNames
    let forms: [InputReference]
    switch refs {
    case .zeros: forms = inputs.map { .shared(.zeros($0.shape.dropFirst)) }
    case .shared(let ts): forms = ts.map { .shared($0) }
    case .perExample(let ts): forms = ts.map { .perExample($0) }
    case .multiple(let ts): forms = ts.map { .multiple($0) }
    case .background(let ts): forms = ts.map { .background($0) }
    case .perInput(let fs): forms = fs
    }
    guard forms.count == inputs.count else {
      throw .inputs("\(forms.count) reference arrays for \(inputs.count) model inputs")
    }
    var sources = [Source]()
    // The first input with M references (name, M), against which the others are checked.
    var first: (name: String, m: Int)? = nil
    for (k, (x, form)) in zip(inputs, forms).enumerated() {
      let name = k < names.count ? names[k] : "#\(k)"
      func bad(_ r: Tensor, _ expected: String) -> ExplainError {
        .referenceShape(input: name, inputShape: x.shape.dimensions, referenceShape: r.shape.dimensions, expected: expected)
      }
      let source: Source
      switch form {
      case .shared(let r):
        guard r.shape == x.shape.dropFirst else { throw bad(r, "the shape of one example") }
        source = Source(rows: r.reshaped(r.shape.prepending(1)), count: 1, isShared: true)
      case .perExample(let r):
        guard r.shape == x.shape else { throw bad(r, "one reference per example, the input's shape") }
        source = Source(rows: r, count: 1, isShared: false)
      case .multiple(let r):
        guard r.rank == x.rank + 1, r.shape[0] == x.shape[0],
          Shape(Array(r.shape.dimensions.dropFirst(2))) == x.shape.dropFirst
        else { throw bad(r, "[N, M, …] references") }
        let m = r.shape[1]
        guard m >= 1 else { throw .inputs("input '\(name)' has no references per example (M = 0 in [N, M, …])") }
        source = Source(
          rows: r.reshaped(Shape([r.shape[0] * m] + Array(r.shape.dimensions.dropFirst(2)))), count: m, isShared: false)
      case .background(let r):
        guard r.rank == x.rank && r.shape.dropFirst == x.shape.dropFirst && r.shape[0] >= 1 else {
          throw .inputs(
            "background for input '\(name)' has shape (\(r.shape.dimensions.map(String.init).joined(separator: ", "))) but one example has shape (\(x.shape.dropFirst.dimensions.map(String.init).joined(separator: ", "))); expected [M, …] rows shaped like one example")
        }
        source = Source(rows: r, count: r.shape[0], isShared: true)
      }
      // [N, M, …] and backgrounds carry M (even M = 1); inputs with one reference do not.
      switch form {
      case .multiple, .background:
        if let first, first.m != source.count {
          throw .inputs(
            "input '\(first.name)' has \(first.m) reference(s) per example but input '\(name)' has \(source.count): inputs with [N, M, …] references or a background must agree on M")
        }
        if first == nil { first = (name, source.count) }
      case .shared, .perExample: break
      }
      sources.append(source)
    }
    let m = first?.m ?? 1
    perExample = m
    self.sources = sources
    sharedRows = sources.allSatisfy(\.isShared) ? sources.map { $0.count == m ? $0.rows : $0.rows.tiledBatch(m) } : nil
  }

  /// The per-example reference rows of examples `range` (`[b·M, …]`, example-major), or nil
  /// when every input's references are shared (``sharedRows``).
  func rows(for range: Range<Int>) -> [Tensor]? {
    guard sharedRows == nil else { return nil }
    let m = perExample, b = range.count
    return sources.map { s in
      if s.isShared { return s.rows.tiledBatch(s.count == m ? b : b * m) }
      let rows = s.rows.slice(batch: (range.lowerBound * s.count)..<(range.upperBound * s.count))
      return s.count == m ? rows : rows.repeatingRows(m)
    }
  }
}

/// The forward pass of the last shared reference rows (a shared reference, zeros or a
/// background), kept so that a caller streaming inputs through ``Explainer/explain`` chunk by
/// chunk propagates its reference once per run, not once per call.
final class SharedForwardCache: @unchecked Sendable {
  private let lock = NSLock()
  private var rows: [Tensor] = []
  private var activations: [Tensor?] = []

  func activations(of rows: [Tensor], compute: () throws(ExplainError) -> [Tensor?]) throws(ExplainError) -> [Tensor?] {
    lock.lock()
    if rows == self.rows {
      defer { lock.unlock() }
      return activations
    }
    lock.unlock()
    let result = try compute()
    lock.lock()
    self.rows = rows
    activations = result
    lock.unlock()
    return result
  }
}
