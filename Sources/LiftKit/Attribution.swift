import LiftAttribution
import LiftTensor

/// The result of ``ModelExplainer/explain(inputs:references:progress:)``.
///
/// Every array is float32 with the batch axis first; with several tasks a task axis follows
/// it (`[N, T, …]`).
public struct Attribution: Sendable {
  /// The model's input names, in input order.
  public let inputNames: [String]
  /// One array per input, shaped like the input: contributions, multipliers or hypothetical
  /// contributions (``kind``), averaged over each example's references.
  public let scores: [Tensor]
  /// The names of ``layerScores`` (``AttributionOptions/layers``).
  public let layerNames: [String]
  /// One array per requested layer, shaped like the layer's output: the contributions of its
  /// neurons (`m⁺·Δn⁺ + m⁻·Δn⁻`), or multipliers when ``kind`` is
  /// ``ScoreKind/multipliers``.
  public let layerScores: [Tensor]
  /// What ``scores`` holds.
  public let kind: ScoreKind
  /// The input scores of each kind of ``AttributionOptions/additionalOutputs``, one array
  /// per input shaped like ``scores``, from the same backward pass.
  public var additionalScores: [ScoreKind: [Tensor]] = [:]
  /// DeepLIFT methods: per example, the worst over tasks of `|Σ contributions − Δtarget|`
  /// over all inputs (Δ of `f_K − f_J` with a contrast), both averaged over the references
  /// (NaN when any is NaN). Empty for gradient methods.
  public let convergenceDelta: [Float]
  /// DeepLIFT methods: `|Σ contributions − Δtarget|` per example and task (`[N, T]`
  /// flattened, example-major; NaN where the scores or Δ are not finite). The contributions
  /// are `m⁺·Δx⁺ + m⁻·Δx⁻` whatever ``kind`` holds. Empty for gradient methods.
  public let summationErrors: [Float]
  /// DeepLIFT methods: `|Δtarget|` per example and task, laid out like ``summationErrors``,
  /// so that `summationErrors[i] / max(1, targetDeltas[i])` is the relative error.
  public let targetDeltas: [Float]
  /// The summation-to-delta check of ``summationErrors`` against ``targetDeltas``: which
  /// examples miss by more than `1e-3 · max(1, |Δ|)`, the worst, and the known cause.
  public let summation: SummationReport
  /// The inputs whose ``scores`` are over embedding vectors (token-id inputs,
  /// ``Model/tokenInputs``): shaped `[N, L…, D]`; ``namedArrays`` gives their sums per token
  /// under the input's name and the per-dimension scores under `NAME.embedding`.
  public var tokenInputs: [Int] = []
  /// The explained target layer.
  public let target: String
  /// The explained neurons of the target.
  public let tasks: [Int]
  /// The subtracted neuron, if any (``AttributionOptions/contrast``).
  public let contrast: Int?

  /// Creates a result (library code builds these from an explanation). Without
  /// `targetDeltas` (one per error) the check takes `|Δ| = 0`: an absolute tolerance of 1e-3.
  public init(
    inputNames: [String], scores: [Tensor], layerNames: [String], layerScores: [Tensor], kind: ScoreKind,
    convergenceDelta: [Float], target: String, tasks: [Int], contrast: Int?, summationErrors: [Float] = [],
    targetDeltas: [Float] = [], summationCause: SummationCause? = nil
  ) {
    self.inputNames = inputNames
    self.scores = scores
    self.layerNames = layerNames
    self.layerScores = layerScores
    self.kind = kind
    self.convergenceDelta = convergenceDelta
    self.target = target
    self.tasks = tasks
    self.contrast = contrast
    self.summationErrors = summationErrors
    self.targetDeltas = targetDeltas
    summation = SummationReport(
      errors: summationErrors, deltas: targetDeltas.count == summationErrors.count ? targetDeltas : summationErrors.map { _ in 0 },
      tasks: tasks, possibleCause: summationCause)
  }

  /// The input scores of `kind`: ``scores`` when it is ``kind``, else those of
  /// ``additionalScores``; `nil` when they were not computed.
  public func scores(_ kind: ScoreKind) -> [Tensor]? {
    kind == self.kind ? scores : additionalScores[kind]
  }

  /// The scores of the input or layer called `name` (inputs first).
  public subscript(name: String) -> Tensor? {
    if let i = inputNames.firstIndex(of: name) { return scores[i] }
    if let i = layerNames.firstIndex(of: name) { return layerScores[i] }
    return nil
  }

  /// The largest ``convergenceDelta`` (0 when empty; NaN when any is NaN).
  public var worstConvergenceDelta: Float {
    convergenceDelta.reduce(0) { $0.isNaN || $1.isNaN ? .nan : max($0, $1) }
  }

  /// The indices of the examples whose scores miss summation-to-delta by more than
  /// `1e-3 · max(1, |Δ|)` for some task (``SummationReport/missingExamples``).
  public var summationMisses: [Int] { summation.missingExamples }

  /// The input scores under the input names followed by the layer scores under the layer
  /// names (a layer that is also an input appears once): the members of the command line's
  /// `.npz` output.
  ///
  /// A token-id input (``tokenInputs``) gives two members: `NAME`, its scores summed over the
  /// embedding dimension (`[N, L…]`, the shape of the ids), and `NAME.embedding`, the scores
  /// of each embedding dimension (`[N, L…, D]`), whose total is the one summation-to-delta
  /// checks.
  public var namedArrays: [(name: String, tensor: Tensor)] {
    var result = [(name: String, tensor: Tensor)]()
    for (k, (name, t)) in zip(inputNames, scores).enumerated() {
      if tokenInputs.contains(k) {
        result.append((name, summedOverLastAxis(t)))
        result.append((name + ".embedding", t))
      } else {
        result.append((name, t))
      }
    }
    for (name, t) in zip(layerNames, layerScores) where !inputNames.contains(name) {
      result.append((name, t))
    }
    return result
  }
}
