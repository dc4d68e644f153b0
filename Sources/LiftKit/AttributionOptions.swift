import LiftAttribution

/// What an explanation outputs for each input (and each layer of
/// ``AttributionOptions/layers``).
public enum ScoreKind: String, Sendable, CaseIterable {
  /// Contribution scores: DeepLIFT `m⁺·Δx⁺ + m⁻·Δx⁻` (they sum to the target's Δ), or the
  /// gradient method's attribution.
  case contributions
  /// The multipliers `½(m⁺ + m⁻)` (for gradient methods, the gradient itself).
  case multipliers
  /// Hypothetical contributions of one-hot inputs, `H_c = m_c − Σ_c' r_c'·m_c'` along the
  /// channel axis (the original's `get_hypothetical_contribs_func_onehot`). Layer scores stay
  /// contributions.
  case hypothetical
}

/// How a ``ModelExplainer`` explains; every field has the command line's default.
public struct AttributionOptions: Sendable, Equatable {
  /// The target neurons (indices into the target's output flattened per example). Several
  /// tasks add a task axis after the batch axis of every score array.
  public var tasks: TaskSelection = .indices([0])
  /// Explain `f_K − f_J` for every task `K` with `contrast = J`: the scores then sum to
  /// `Δf_K − Δf_J`.
  public var contrast: Int? = nil
  /// Inner layers (node names, see ``Model/layerNames``) whose scores to compute as well.
  public var layers: [String] = []
  /// Contributions, multipliers or hypothetical contributions.
  public var output: ScoreKind = .contributions
  /// DeepLIFT methods: input scores of other kinds computed beside ``output`` from the same
  /// backward pass (``Attribution/additionalScores``), each bit-identical to the scores of a
  /// separate run with that ``output``: contributions and hypothetical contributions for
  /// TF-MoDISco at the cost of one explanation.
  public var additionalOutputs: Set<ScoreKind> = []
  /// The paper's §3.6 softmax adjustment: the weights of the target layer (a dense or conv
  /// layer feeding a softmax) are mean-normalised over its units, so the contributions to
  /// class `j` become `C_j − mean_j' C_j'`.
  public var softmaxNormalize = false
  /// Mean-normalise the kernels of the convolutions that read the input (one-hot genomics
  /// models; the original's `mean_normalise_weights_for_sequence_convolution`).
  public var normalizeFirstConvolution = false
  /// Rule for max pooling.
  public var maxPool: MaxPoolRule = .gradient
  /// Example–reference pairs per batch: memory and speed only, never results. `nil` (the
  /// default) takes the model's ``Model/suggestedBatchSize``.
  public var batchSize: Int? = nil
  /// Integrated gradients: the number of points (1...10000; more is an error).
  public var steps = 50
  /// Integrated gradients: the quadrature (Captum's names).
  public var integration: IntegrationRule = .gaussLegendre
  /// Channel axis of one-hot inputs for shuffles and hypothetical contributions; `nil` takes
  /// the model format's (−1 for Keras, 1 for ONNX).
  public var channelAxis: Int? = nil
  /// Worker threads of the numeric kernels (OpenBLAS, process-wide); `nil` leaves the
  /// current setting.
  public var threads: Int? = nil

  /// Options with the command line's defaults, changing the most common ones.
  public init(
    tasks: TaskSelection = .indices([0]), layers: [String] = [], output: ScoreKind = .contributions
  ) {
    self.tasks = tasks
    self.layers = layers
    self.output = output
  }
}

extension ScoreKind {
  /// The engine's name of the kind.
  var form: ScoreForms {
    switch self {
    case .contributions: return .contributions
    case .multipliers: return .multipliers
    case .hypothetical: return .hypothetical
    }
  }
}
