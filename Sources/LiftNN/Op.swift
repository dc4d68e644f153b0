import LiftTensor

/// An elementwise activation `y = f(x)`.
///
/// All of these act on each scalar independently, so the DeepLIFT Rescale and RevealCancel
/// rules apply to them directly. (Softmax couples the units of an axis and is its own ``Op``.)
public enum Activation: Hashable, Sendable {
  /// `max(x, 0)`.
  case relu
  /// `x` for `x > 0`, `α·x` otherwise.
  case leakyRelu(alpha: Float)
  /// `x` for `x > 0`, `α·(eˣ − 1)` otherwise.
  case elu(alpha: Float)
  /// `λ·x` for `x > 0`, `λ·α·(eˣ − 1)` otherwise, with Keras' λ = 1.0507009873554805,
  /// α = 1.6732632423543772.
  case selu
  /// `1 / (1 + e⁻ˣ)`.
  case sigmoid
  case tanh
  /// `log(1 + eˣ)`.
  case softplus
  /// `x·σ(x)` (SiLU).
  case swish
  /// `x·Φ(x)`; with `approximate` the tanh form `½x(1 + tanh(√(2/π)(x + 0.044715x³)))`.
  case gelu(approximate: Bool)
  /// `min(max(x, lower), upper)` (ReLU6 is `clip(0, 6)`).
  case clip(lower: Float, upper: Float)
  /// `max(0, min(1, α·x + β))`. ONNX `HardSigmoid` (defaults α = 0.2, β = 0.5; torch's
  /// `nn.Hardsigmoid` exports α = 1/6), tf-keras `hard_sigmoid` (0.2, 0.5), Keras 3
  /// `hard_sigmoid` (`relu6(x + 3)/6`: 1/6, 0.5).
  case hardSigmoid(alpha: Float, beta: Float)
  /// `x·max(0, min(1, x/6 + 1/2))`: 0 for `x ≤ −3`, `x` for `x ≥ 3`, `x(x + 3)/6` between
  /// (ONNX `HardSwish`, torch `nn.Hardswish`, Keras 3 `hard_silu`/`hard_swish`).
  case hardSwish
  /// `x·tanh(softplus(x))` (Misra 2019; ONNX `Mish`, torch `nn.Mish`, Keras `mish`).
  case mish
  /// `eˣ` (ONNX `Exp`, Keras `exponential`).
  case exp
  /// `ln x`; NaN for `x < 0` and −∞ at 0, as onnxruntime (ONNX `Log`).
  case log
  /// `√x`; NaN for `x < 0` (ONNX `Sqrt`).
  case sqrt
  /// `xᵖ` with a constant exponent `p` (ONNX `Pow` with a constant exponent): NaN for `x < 0`
  /// when `p` is not an integer, as `powf` and onnxruntime.
  case pow(exponent: Float)
  /// `1 / x` (ONNX `Reciprocal`; the divisor of ONNX `Div` by a graph tensor). Undefined at
  /// `x = 0`: `±∞` there, as in ONNX Runtime and torch.
  case reciprocal
}

/// A reduction over some axes of each example (``Op/reduce(_:axes:keepDims:)``).
public enum Reduction: Hashable, Sendable {
  /// `Σ x`.
  case sum
  /// `Σ x / n`, `n` the number of reduced elements.
  case mean
  /// `max x`.
  case max
  /// `log Σ eˣ`, computed as `c + log Σ e^{x−c}` with `c = max x` (ChromBPNet's count head).
  case logSumExp
}

/// A primitive operation of the graph IR.
///
/// Layout: every activation is a tensor whose first axis is the batch axis; spatial tensors are
/// **channels-last** (`[N, L, C]`, `[N, H, W, C]`). Importers convert other layouts (ONNX/torch
/// NCHW) with explicit ``transpose(_:)`` ops or by permuting weights — never inside a kernel.
/// Shapes stored in ops are *per example* (no batch axis) unless stated otherwise.
///
/// The set is closed on purpose: a new case does not compile until forward execution, shape
/// inference and every attribution rule handle it.
public enum Op: Sendable {
  /// A model input; `shape` is the per-example shape, `nil` where the file leaves an extent open.
  case input(shape: [Int?])
  /// `y = x·W + b` on the last axis; `weight` is `[in, out]` (the Keras layout), `bias` `[out]`.
  case dense(weight: Tensor, bias: Tensor?)
  /// Cross-correlation (TensorFlow/PyTorch convention, no kernel flip) over 1 or 2 spatial axes.
  /// `weight` is `[k…, C_in / groups, C_out]` (Keras HWIO), `bias` `[C_out]`.
  case conv(weight: Tensor, bias: Tensor?, parameters: ConvParameters)
  /// `y = x·scale + offset`, with `scale` and `offset` of the per-example rank and each extent
  /// either equal to the input's or 1 (broadcast). Inference BatchNormalization lowers to this
  /// with `scale = γ/√(σ² + ε)` and `offset = β − μ·scale`; so do multiplications and additions
  /// by constants.
  case affine(scale: Tensor, offset: Tensor)
  /// An elementwise activation.
  case activation(Activation)
  /// Parametric ReLU: `x` for `x > 0`, `α·x` otherwise, `alpha` broadcast like ``affine(scale:offset:)``.
  case prelu(alpha: Tensor)
  /// Softmax over `axis` (an axis of the full tensor, batch included; ≥ 1).
  case softmax(axis: Int)
  /// Max pooling over the spatial axes.
  case maxPool(PoolParameters)
  /// Average pooling over the spatial axes.
  case averagePool(PoolParameters)
  /// Max over all spatial axes: `[N, S…, C] → [N, C]`.
  case globalMaxPool
  /// Mean over all spatial axes: `[N, S…, C] → [N, C]`.
  case globalAveragePool
  /// Row-major reshape of each example to `shape` (per example; one extent may be −1).
  case reshape([Int])
  /// Axis permutation of the full tensor; `permutation[0] == 0` (the batch axis stays first).
  case transpose([Int])
  /// Constant padding of the per-example axes: `before[i]`, `after[i]` elements on axis `i + 1`.
  case pad(before: [Int], after: [Int], value: Float)
  /// Keeps `start[i]..<end[i]` of each per-example axis `i + 1` (cropping).
  case slice(start: [Int], end: [Int])
  /// Concatenation along `axis` (an axis of the full tensor, ≥ 1).
  case concat(axis: Int)
  /// Elementwise sum of all inputs (same shapes).
  case add
  /// `inputs[0] − inputs[1]`.
  case subtract
  /// Elementwise mean of all inputs.
  case average
  /// Elementwise maximum of all inputs.
  case maximum
  /// Elementwise minimum of all inputs.
  case minimum
  /// `y = x` (Dropout, GaussianNoise and other inference no-ops; also a named tap point).
  case identity
  /// A reduction over `axes` (axes of the full tensor, batch included; each ≥ 1, ascending,
  /// distinct, non-empty). With `keepDims` each reduced axis stays with extent 1, else it is
  /// removed (an example may become a scalar, per-example shape `[]`).
  case reduce(Reduction, axes: [Int], keepDims: Bool)
  /// Elementwise product `inputs[0] ⊙ inputs[1]` with numpy broadcasting of the per-example
  /// axes: both operands have the same rank and each per-example extent is equal or 1 (the
  /// batch axis is never broadcast across examples). Keras `Multiply` of more operands is a
  /// chain of these.
  case multiply
  /// Batched matrix product of two activations (numpy `matmul` / ONNX `MatMul` on the full
  /// tensors): `[N, B…, m, k] · [N, B…, k, n] → [N, B…, m, n]`. Both operands have the same
  /// rank ≥ 3 (batch axis, then at least one matrix per example); the per-example batch axes
  /// `B…` broadcast (equal or 1) and the batch axis itself is shared, never contracted.
  case matmul
  /// Nearest or linear resizing of the spatial axes (`[N, S…, C]`, 1 or 2 spatial axes): ONNX
  /// `Resize`/`Upsample`, Keras `UpSampling1D/2D`. Each output reads at most two positions per
  /// axis with non-negative weights (``LiftTensor/resize(_:_:)``).
  case resize(ResizeParameters)
  /// Transposed convolution over 1 or 2 spatial axes (ONNX `ConvTranspose`, Keras
  /// `Conv{1,2}DTranspose`): the adjoint of the convolution with the same `weight` and
  /// parameters, plus `bias`. `weight` is `[k…, C_out / groups, C_in]` (Keras' layout), `bias`
  /// `[C_out]`; output extents follow ``LiftTensor/convTransposeGeometry(kernel:input:parameters:outputPadding:)``.
  case convTranspose(weight: Tensor, bias: Tensor?, parameters: ConvParameters, outputPadding: [Int])
  /// The elements at `indices` along `axis` (an axis of the full tensor, ≥ 1), in that order:
  /// `y[…, j, …] = x[…, indices[j], …]`, output extent `indices.count` on `axis`; indices lie
  /// in `0..<extent` and may repeat. ONNX `Gather` / `Split` of an activation with constant
  /// indices (a scalar index, `x[:, 0]`, adds a reshape dropping the axis). Structural: each
  /// output element is one input element, so the adjoint scatters (adds) multipliers back.
  case gather(axis: Int, indices: [Int])
  /// A constant broadcast over the batch: every example of the output is `value` (per-example
  /// shape). The one operand is read only for its batch extent (any node will do; importers
  /// use the first model input). Its Δ is 0 for every reference: it contributes to the bias,
  /// never to the scores, and passes no multiplier to its operand. (ViT's class token,
  /// `cls.expand(B, -1, -1)`; masks built from `ones(B, L)`.)
  case constant(value: Tensor)
  /// Layer normalisation over the last `axes` axes: `y = γ ⊙ (x − μ)·(σ² + ε)^(−1/2) + β` with
  /// `μ`, `σ²` the mean and (biased) variance of each group (``NormParameters``).
  case layerNorm(NormParameters)
  /// RMS normalisation over the last `axes` axes: `y = γ ⊙ x·(mean(x²) + ε)^(−1/2) + β`.
  case rmsNorm(NormParameters)
}

extension Op {
  /// A short lower-case name for tables and messages (`dense`, `conv1d`, `relu`, …).
  public var kindName: String {
    switch self {
    case .input: "input"
    case .dense: "dense"
    case .conv(let w, _, _): "conv\(w.rank - 2)d"
    case .affine: "affine"
    case .activation(let a):
      switch a {
      case .relu: "relu"
      case .leakyRelu: "leaky_relu"
      case .elu: "elu"
      case .selu: "selu"
      case .sigmoid: "sigmoid"
      case .tanh: "tanh"
      case .softplus: "softplus"
      case .swish: "swish"
      case .gelu: "gelu"
      case .clip: "clip"
      case .hardSigmoid: "hard_sigmoid"
      case .hardSwish: "hard_swish"
      case .mish: "mish"
      case .exp: "exp"
      case .log: "log"
      case .sqrt: "sqrt"
      case .pow: "pow"
      case .reciprocal: "reciprocal"
      }
    case .prelu: "prelu"
    case .softmax: "softmax"
    case .maxPool(let p): "max_pool\(p.size.count)d"
    case .averagePool(let p): "avg_pool\(p.size.count)d"
    case .globalMaxPool: "global_max_pool"
    case .globalAveragePool: "global_avg_pool"
    case .reshape: "reshape"
    case .transpose: "transpose"
    case .pad: "pad"
    case .slice: "slice"
    case .concat: "concat"
    case .add: "add"
    case .subtract: "subtract"
    case .average: "average"
    case .maximum: "maximum"
    case .minimum: "minimum"
    case .identity: "identity"
    case .reduce(let kind, _, _):
      switch kind {
      case .sum: "reduce_sum"
      case .mean: "reduce_mean"
      case .max: "reduce_max"
      case .logSumExp: "reduce_log_sum_exp"
      }
    case .multiply: "multiply"
    case .matmul: "matmul"
    case .resize(let p): "resize\(p.spatialRank)d"
    case .convTranspose(let w, _, _, _): "conv_transpose\(w.rank - 2)d"
    case .gather: "gather"
    case .constant: "constant"
    case .layerNorm: "layer_norm"
    case .rmsNorm: "rms_norm"
    }
  }

  /// Number of trainable scalars held by the op (weights, biases, affine parameters).
  public var parameterCount: Int {
    switch self {
    case .dense(let w, let b), .conv(let w, let b, _), .convTranspose(let w, let b, _, _):
      w.scalarCount + (b?.scalarCount ?? 0)
    case .affine(let s, let o): s.scalarCount + o.scalarCount
    case .prelu(let a): a.scalarCount
    case .constant(let v): v.scalarCount
    case .layerNorm(let p), .rmsNorm(let p): (p.scale?.scalarCount ?? 0) + (p.bias?.scalarCount ?? 0)
    default: 0
    }
  }
}
