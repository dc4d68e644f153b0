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
  /// DeepLIFT methods: per example, the worst over tasks of `|Σ contributions − Δtarget|`
  /// over all inputs (Δ of `f_K − f_J` with a contrast), both averaged over the references.
  /// Empty for gradient methods.
  public let convergenceDelta: [Float]
  /// The explained target layer.
  public let target: String
  /// The explained neurons of the target.
  public let tasks: [Int]
  /// The subtracted neuron, if any (``AttributionOptions/contrast``).
  public let contrast: Int?

  /// Creates a result (library code builds these from an explanation).
  public init(
    inputNames: [String], scores: [Tensor], layerNames: [String], layerScores: [Tensor], kind: ScoreKind,
    convergenceDelta: [Float], target: String, tasks: [Int], contrast: Int?
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
  }

  /// The scores of the input or layer called `name` (inputs first).
  public subscript(name: String) -> Tensor? {
    if let i = inputNames.firstIndex(of: name) { return scores[i] }
    if let i = layerNames.firstIndex(of: name) { return layerScores[i] }
    return nil
  }

  /// The largest ``convergenceDelta`` (0 when empty).
  public var worstConvergenceDelta: Float { convergenceDelta.max() ?? 0 }

  /// The input scores under the input names followed by the layer scores under the layer
  /// names (a layer that is also an input appears once): the members of the command line's
  /// `.npz` output.
  public var namedArrays: [(name: String, tensor: Tensor)] {
    var result = zip(inputNames, scores).map { (name: $0, tensor: $1) }
    for (name, t) in zip(layerNames, layerScores) where !inputNames.contains(name) {
      result.append((name, t))
    }
    return result
  }
}
