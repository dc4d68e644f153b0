import LiftNN
import LiftTensor

/// How an explanation splits its examples into batches to stay within the memory budget
/// (``MemoryBudget``); see ``Explainer/batchPlan(inputShapes:referencesPerExample:sharedReferenceRows:budget:)``.
public struct BatchPlan: Sendable, Equatable {
  /// Examples per batch after the budget is applied.
  public var examples: Int
  /// Examples per batch that ``ExplainOptions/batchSize`` asks for.
  public var requested: Int
  /// Rows each example puts through the network: its M references (DeepLIFT, integrated
  /// gradients) or 1 (the other gradient methods).
  public var pairsPerExample: Int
  /// The estimated peak bytes of one example–reference pair.
  public var bytesPerPair: Int
  /// The budget the plan was made for.
  public var budget: Int
  /// Example–reference pairs of one example put through the network at once: all of
  /// ``pairsPerExample`` when one example with all its references fits the budget, fewer
  /// (then ``examples`` is 1) when only some do. The example's references then go through in
  /// chunks of this many, in reference order, and the reference averages are summed across
  /// the chunks in the same order as in one pass, so the scores are bit-identical.
  public var referencesPerChunk: Int
  /// The estimated bytes held for the whole run: the forward pass of the rows shared by every
  /// example (a shared reference, zeros or a background; DeepLIFT only), else 0.
  public var sharedBytes: Int

  /// Whether the budget made the batches smaller than asked.
  public var isClamped: Bool { examples < requested }
  /// Whether each example's references go through the network in several chunks
  /// (``referencesPerChunk`` < ``pairsPerExample``).
  public var isChunked: Bool { referencesPerChunk < pairsPerExample }
  /// The number of passes through the network per batch: 1, or the chunks of one example's
  /// references.
  public var chunksPerExample: Int { (pairsPerExample + max(referencesPerChunk, 1) - 1) / max(referencesPerChunk, 1) }
}

extension Explainer {
  /// The batches ``explain(inputs:references:progress:)`` uses for inputs of `inputShapes`
  /// (full shapes; the batch extent does not matter) with `m` references per example, of
  /// which `r` rows are shared by every example (one shared reference or zeros: 1; an
  /// M-row background: M; per-example references: 0).
  ///
  /// Memory model (float32, per example–reference pair, `Σ` = bytes of one example's outputs
  /// over the nodes the target depends on, `L` = the largest of them, `T` = tasks):
  /// `6·Σ + 4·T·L` — the input and reference sides' activations, their `[P, …]` views and the
  /// `Δ⁺`/`Δ⁻` split of every node (6·Σ), and the multipliers `m⁺`/`m⁻` of all tasks for a
  /// node and its operand at once (4·T·L). `L` also covers a matmul's backward products
  /// before they are summed over broadcast axes (`B…·(m·k + k·n)` per example, larger than
  /// its operands and output when one operand is broadcast). The `r` shared rows' forward pass (`r·Σ`,
  /// DeepLIFT only) is held for the whole run. Examples per batch:
  /// `min(requested, (budget − r·Σ) / (M · perPair))`, where `requested` is
  /// `max(1, batchSize / M)` for DeepLIFT and `batchSize` for gradient methods.
  ///
  /// Measured (release build, peak RSS by `/usr/bin/time -f %M`, bpnet-lite ChromBPNet 512
  /// filters × 2114 bp exported to ONNX, 1 example, 20 shuffles, Σ ≈ 131 MB, plan 800.8 MB
  /// per pair): Rescale with `--hypothetical` 496 MB at 2 pairs per pass, 2.38 GB at 15,
  /// 3.11 GB at 20, about 145 MB (1.1·Σ) per pair; RevealCancel 1.02 GB at 2, 2.62 GB at 6,
  /// about 400 MB (3.1·Σ) per pair. So 6·Σ is about 5× pessimistic for Rescale and 2× for
  /// RevealCancel on this conv net; it is kept as the bound for every graph and rule until
  /// more graphs (products, normalisations) are measured. When not even
  /// one example with its M references fits, batches hold one example whose references go
  /// through in chunks of `R = (budget − r·Σ) / perPair` (1 ≤ R < M) pairs
  /// (``BatchPlan/referencesPerChunk``); results do not change.
  ///
  /// `tasks` replaces the count of ``ExplainOptions/tasks`` (for a selection of all neurons
  /// resolved per call).
  ///
  /// - Throws: ``ExplainError/graph(_:)`` wrapping
  ///   ``GraphError/memoryBudget(what:needed:budget:node:op:shape:)`` when one example with
  ///   one of its references (and the shared rows) does not fit the budget, or a shape error.
  public func batchPlan(
    inputShapes: [Shape], referencesPerExample m: Int, sharedReferenceRows r: Int, tasks: Int? = nil,
    budget: Int = MemoryBudget.bytes
  ) throws(ExplainError) -> BatchPlan {
    let shapes: [Shape]
    do { shapes = try graph.inferShapes(inputShapes: inputShapes) } catch { throw .graph(error) }
    return try batchPlan(shapes: shapes, referencesPerExample: m, sharedReferenceRows: r, tasks: tasks, budget: budget)
  }

  /// ``batchPlan(inputShapes:referencesPerExample:sharedReferenceRows:budget:)`` for shapes
  /// already inferred.
  func batchPlan(shapes: [Shape], referencesPerExample m: Int, sharedReferenceRows r: Int, tasks: Int? = nil, budget: Int)
    throws(ExplainError) -> BatchPlan
  {
    typealias F = ActivationFootprint
    let footprint = graph.activationFootprint(shapes: shapes, nodes: live)
    let sigma = footprint.bytesPerExample
    let largest = max(footprint.largestBytes, productTransientBytes(shapes))
    let tasks = max(tasks ?? options.tasks.count, 1)
    let perPair = F.saturatingSum(
      F.saturatingProduct(6, sigma), F.saturatingProduct(F.saturatingProduct(4, tasks), largest))
    let refs = max(m, 1)
    let pairsPerExample = options.method.isDeepLIFT || options.method == .integratedGradients ? refs : 1
    let shared = options.method.isDeepLIFT ? F.saturatingProduct(max(r, 0), sigma) : 0
    let perExample = F.saturatingProduct(pairsPerExample, max(perPair, 1))
    let needed = F.saturatingSum(shared, perExample)
    let requested = options.method.isDeepLIFT ? max(1, options.batchSize / refs) : max(1, options.batchSize)
    if needed <= budget {
      let fitting = (budget - shared) / perExample
      return BatchPlan(
        examples: max(1, min(requested, fitting)), requested: requested, pairsPerExample: pairsPerExample,
        bytesPerPair: perPair, budget: budget, referencesPerChunk: pairsPerExample, sharedBytes: shared)
    }
    // One example with all its references does not fit: its references in chunks of as many
    // pairs as fit (at least one pair must).
    let onePair = F.saturatingSum(shared, max(perPair, 1))
    guard pairsPerExample > 1, onePair <= budget else {
      let what: String
      switch (pairsPerExample, shared > 0 && r > 1) {
      case (1, false): what = "one example"
      case (_, true): what = "one example with a background of \(r) rows"
      default: what = "one example with one of its \(pairsPerExample) references"
      }
      throw .graph(footprint.exceeding(budget, needed: pairsPerExample > 1 ? onePair : needed, what: what, in: graph))
    }
    let chunk = min(pairsPerExample - 1, (budget - shared) / max(perPair, 1))
    return BatchPlan(
      examples: 1, requested: requested, pairsPerExample: pairsPerExample, bytesPerPair: perPair, budget: budget,
      referencesPerChunk: chunk, sharedBytes: shared)
  }
}

extension Explainer {
  /// The largest per-example float32 bytes of a live matmul's backward products before the
  /// sum over broadcast leading axes: `B…·(m·k + k·n)` for `[B…, m, k]·[B…, k, n]` with the
  /// broadcast leading extents `B…` (0 without matmuls). Saturates at `Int.max`.
  func productTransientBytes(_ shapes: [Shape]) -> Int {
    typealias F = ActivationFootprint
    var worst = 0
    for id in live {
      guard case .matmul = graph[id].op else { continue }
      let a = shapes[graph[id].inputs[0].rawValue].dimensions, b = shapes[graph[id].inputs[1].rawValue].dimensions
      let r = a.count
      guard r >= 3, b.count == r else { continue }
      let lead = (1..<(r - 2)).reduce(1) { F.saturatingProduct($0, max(a[$1], b[$1])) }
      let (m, k, n) = (a[r - 2], a[r - 1], b[r - 1])
      let matrices = F.saturatingSum(F.saturatingProduct(m, k), F.saturatingProduct(k, n))
      worst = max(worst, F.saturatingProduct(4, F.saturatingProduct(lead, matrices)))
    }
    return worst
  }
}
