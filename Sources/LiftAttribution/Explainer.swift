import LiftNN
import LiftTensor

/// The attribution methods (CLI names as raw values).
public enum AttributionMethod: String, CaseIterable, Sendable {
  /// DeepLIFT, Rescale rule on every nonlinearity.
  case rescale
  /// DeepLIFT, RevealCancel rule on every nonlinearity.
  case revealCancel = "reveal-cancel"
  /// The original's `DeepLIFT_GenomicsDefault`: RevealCancel after dense layers, Rescale after
  /// conv layers.
  case genomicsDefault = "genomics-default"
  /// Plain gradient of the target (Captum `Saliency(abs=False)`).
  case gradient
  /// Gradient × input (Captum `InputXGradient`).
  case inputXGradient = "input-x-gradient"
  /// Guided backpropagation (Captum `GuidedBackprop`).
  case guidedBackprop = "guided-backprop"
  /// Integrated gradients along the straight path from the reference (Captum names).
  case integratedGradients = "integrated-gradients"

  /// Whether the method is a DeepLIFT rule (scores sum to Δ target).
  public var isDeepLIFT: Bool { self == .rescale || self == .revealCancel || self == .genomicsDefault }
}

/// Quadrature of integrated gradients, by Captum's names.
public enum IntegrationRule: String, CaseIterable, Sendable {
  case riemannLeft = "riemann_left"
  case riemannRight = "riemann_right"
  case riemannMiddle = "riemann_middle"
  case riemannTrapezoid = "riemann_trapezoid"
  case gaussLegendre = "gausslegendre"
}

/// How multipliers cross a max-pooling layer.
public enum MaxPoolRule: String, CaseIterable, Sendable {
  /// The original's rule: the multiplier goes to the maximum of the actual input (first
  /// maximum in row-major order on ties).
  case gradient
  /// The Captum/SHAP rule that keeps summation-to-delta for non-uniform references.
  case deepshap
}

/// One model input's references, in any of the forms of ``References``; inputs of one
/// explanation may use different forms (``References/perInput(_:)``).
public enum InputReference: Sendable {
  /// One reference shared by every example (the per-example shape).
  case shared(Tensor)
  /// One reference per example: `[N, …]`, like the input.
  case perExample(Tensor)
  /// M references per example, `[N, M, …]`.
  case multiple(Tensor)
  /// A background set `[M, …]` shared by every example.
  case background(Tensor)
}

/// References for an explanation, one tensor per model input (in the graph's input order).
///
/// Pair `j` (0 ≤ j < M) of example `e` takes, for every input, reference `j` of that input's
/// M (``multiple(_:)`` row `[e, j]`, ``background(_:)`` row `j`), or the input's single
/// reference (shared, or row `e` of a per-example array) when it has one. Inputs with M
/// references must agree on M.
public enum References: Sendable {
  /// All-zero references.
  case zeros
  /// One reference per input shared by every example (per-example shape).
  case shared([Tensor])
  /// One reference per example: `[N, …]`, like the inputs.
  case perExample([Tensor])
  /// M references per example, `[N, M, …]`; scores are averaged over the M.
  case multiple([Tensor])
  /// A background set `[M, …]`: every example is explained against all M rows, averaged
  /// (Captum `DeepLiftShap` / SHAP `DeepExplainer`).
  case background([Tensor])
  /// Each input's references in its own form (a shared reference for one input, per-example
  /// or `[N, M, …]` references for another); the result equals that of every reference
  /// expanded to `[N, M, …]` with the common M.
  case perInput([InputReference])
}

/// Kinds of input scores (``ExplainOptions/additionalScores``).
public struct ScoreForms: OptionSet, Sendable, Hashable {
  public let rawValue: Int
  public init(rawValue: Int) { self.rawValue = rawValue }
  /// Contribution scores `m⁺·Δx⁺ + m⁻·Δx⁻`.
  public static let contributions = ScoreForms(rawValue: 1)
  /// Multipliers `½(m⁺ + m⁻)`.
  public static let multipliers = ScoreForms(rawValue: 2)
  /// Hypothetical contributions `H_c = m_c − Σ_c' r_c'·m_c'` along
  /// ``ExplainOptions/channelAxis``.
  public static let hypothetical = ScoreForms(rawValue: 4)
  /// The single kinds, in this order.
  public static let all: [ScoreForms] = [.contributions, .multipliers, .hypothetical]
}

/// What to explain and how.
public struct ExplainOptions: Sendable {
  public var method: AttributionMethod = .rescale
  /// The target node (its output is flattened per example and indexed by `tasks`); `nil`
  /// picks the default target (the pre-activation of a final sigmoid/softmax, else the output).
  public var target: NodeID? = nil
  /// Indices into the flattened target; one task gives scores shaped like the inputs, several
  /// add a task axis after the batch axis.
  public var tasks: [Int] = [0]
  /// Integrated gradients: number of points (1...``ExplainOptions/maximumSteps``) and quadrature.
  public var steps: Int = 50
  /// The most integration points accepted: Captum's users take 20–300; Gauss–Legendre nodes
  /// cost O(steps²) to compute, so far larger counts would only stall.
  public static let maximumSteps = 10_000
  public var integration: IntegrationRule = .gaussLegendre
  public var maxPool: MaxPoolRule = .gradient
  /// Example–reference pairs per forward/backward batch (with M references per example a
  /// batch holds `max(1, batchSize / M)` examples); changes speed and memory, never a result.
  public var batchSize: Int = 64
  /// Output the multipliers instead of the contribution scores.
  public var multipliers: Bool = false
  /// Output hypothetical contributions `H_c = m_c − Σ_c' r_c'·m_c'` along ``channelAxis``
  /// (the original's `get_hypothetical_contribs_func_onehot`), averaged over references.
  public var hypothetical: Bool = false
  /// DeepLIFT methods: input scores of other kinds computed beside the main ones
  /// (``multipliers`` / ``hypothetical`` / contributions) from the same forward and backward
  /// pass, into ``Explanation/additionalScores``. Each equals, bit for bit, the main scores
  /// of a run with that kind and the same batches: one pass serves, for instance, both the
  /// contributions and the hypothetical contributions TF-MoDISco reads. Each kind costs one
  /// more input-sized array per batch (not counted by the memory plan, which stays the one
  /// of a run of the main kind, so that the batches and hence the bytes are the same).
  public var additionalScores: ScoreForms = []
  /// The channel axis of the model inputs for ``hypothetical`` (−1: channels last, Keras;
  /// 1: channels first, ONNX/torch).
  public var channelAxis: Int = -1
  /// Inner layers whose scores to compute as well (the original's `find_scores_layer_name`,
  /// Captum's `LayerDeepLift`): for each node `n`, the contributions of its output neurons
  /// to the target, `C_n = m⁺·Δn⁺ + m⁻·Δn⁻` with the node's own split of `Δn` (reference
  /// §1.10), averaged over the references like the input scores; with ``multipliers`` the
  /// multipliers `½(m⁺ + m⁻)`. Gradient methods give the gradient at the layer
  /// (`input-x-gradient`: gradient × the layer's activation). Every node must be one the
  /// target depends on; not supported with integrated gradients. ``hypothetical`` applies to
  /// the input scores only.
  ///
  /// Where the original returns zeros (max-pooling layers, its bug), the scores use the
  /// node's sign split `Δ⁺ = max(Δ, 0)`, `Δ⁻ = min(Δ, 0)`, so they still sum to the
  /// target's Δ when the layer cuts the graph.
  public var layers: [NodeID] = []
  /// Explain `f_K − f_J` for each task K with `contrast = J` (the target difference): the
  /// backward pass is seeded with +1 at K and −1 at J, and summation-to-delta holds for
  /// `Δf_K − Δf_J`. A task equal to `J` gives all-zero scores.
  public var contrast: Int? = nil
  /// Explain the BPNet/ChromBPNet profile target instead of single neurons: with `y` the
  /// target's output flattened per example and `ŷ = y − mean(y)`, the scalar
  /// `Σ_j w_j·ŷ_j` where `w = softmax(ŷ)` comes from the example's own forward pass and is
  /// held constant (chrombpnet's `get_weightedsum_meannormed_logits`, whose softmax reads
  /// the logits through `stop_gradient`). Since `ŷ` is linear in `y`, the backward pass is
  /// seeded with `w_j − 1/n` on every neuron `j` (n neurons) and summation-to-delta holds for
  /// `Σ_j (w_j − 1/n)·(y_j(x) − y_j(r))`. ``tasks`` must be `[0]` (one scalar target: scores
  /// shaped like the inputs); not combined with ``contrast``.
  public var profile: Bool = false
  /// The memory budget in bytes of the batch plan of
  /// ``Explainer/explain(inputs:references:progress:)``
  /// (``Explainer/batchPlan(inputShapes:referencesPerExample:sharedReferenceRows:budget:)``);
  /// `nil` for the process's budget (`MemoryBudget.bytes` in LiftNN). Changes speed and
  /// memory, never a result.
  public var memoryBudget: Int? = nil
  public init() {}
}
