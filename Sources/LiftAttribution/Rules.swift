import LiftNN
import LiftTensor

// Where each op's rule lives
// =========================
//
// Every op of the IR belongs to one family (``rule(for:)``, an exhaustive switch over ``Op``),
// and each family keeps, in one file, its forward split `(Δ⁺, Δ⁻)` (see the consistency rule
// in LiftKit.docc/AttributionRules.md) and its backward rule for every ``NonlinearMode``:
//
// | family       | ops                                                        | file                      |
// |--------------|------------------------------------------------------------|---------------------------|
// | input        | input                                                      | this file (sign split)    |
// | linear       | dense, conv, affine, transposed conv                       | Rules+Linear.swift        |
// | elementwise  | every activation, PReLU (fused Rescale, RevealCancel)      | Rules+Elementwise.swift   |
// | softmax      | softmax                                                    | Rules+Softmax.swift       |
// | pooling      | max pool, average pool, global max/average pool            | Rules+Pooling.swift       |
// | structural   | reshape, transpose, pad, slice, concat, identity, gather,  | Rules+Structural.swift    |
// |              | constant (Δ = 0)                                           |                           |
// | merge        | add, subtract, average, maximum, minimum                   | Rules+Merge.swift         |
// | reduction    | reduce sum, mean, max, log-sum-exp                         | Rules+Reduction.swift     |
// | product      | multiply, matmul (products of two activations)             | Rules+Product.swift       |
// | resampling   | resize (nearest, linear)                                   | Rules+Resampling.swift    |
// | normalization| layer norm, RMS norm                                       | Rules+Normalization.swift |
//
// This file dispatches: ``Propagation/ownSplit(_:)`` (the forward split),
// ``Propagation/inputMultipliers(_:operand:_:)`` (the backward rule) and
// ``OpFamily/nonlinearMode(_:graph:_:)`` (which ops take a per-node mode, and the
// genomics-default resolution). Each family's sub-enum carries what its rules read, and every
// switch over a family or a mode is exhaustive with no `default:`, so a new ``Op`` case does not
// compile until it is given a family and every method of that family handles it.
// Backward.swift holds what all families share: multipliers, Δ, the split cache, the sign
// collapse of sign-split nodes and the backward pass itself.

/// The rule family of an op, with what its rules need.
enum OpFamily {
  /// A model input: split by the sign of its Δ; no operands.
  case input
  /// Weighted sums: split by the sign of each term (dense, conv) or scaled parts (affine).
  case linear(LinearOp)
  /// Elementwise nonlinearities: Rescale, RevealCancel, gradient and guided rules.
  case elementwise(ElementwiseOp)
  /// Softmax over `axis`: the coupled rule.
  case softmax(axis: Int)
  /// Max and average pools, windowed and global.
  case pooling(PoolingOp)
  /// Linear ops with 0/1 coefficients: act on each part, adjoint on each multiplier.
  case structural(StructuralOp)
  /// Merges of several operands.
  case merge(MergeOp)
  /// Reductions over `axes` of the full tensor: sum and mean linear, max as max pooling,
  /// log-sum-exp by the chained secants.
  case reduction(Reduction, axes: [Int], keepDims: Bool)
  /// Products of two activations: the bilinear (Shapley) midpoint rule.
  case product(ProductOp)
  /// Linear ops with non-negative coefficients (resize): act on each part, adjoint on each
  /// multiplier.
  case resampling(ResizeParameters)
  /// Layer and RMS norms over trailing axes: the bilinear rule of tangermeme.
  case normalization(NormalizationOp)
}

enum LinearOp {
  case dense(weight: Tensor)
  case conv(weight: Tensor, parameters: ConvParameters)
  case affine(scale: Tensor)
  case convTranspose(weight: Tensor, parameters: ConvParameters, outputPadding: [Int])
}

enum ElementwiseOp {
  case activation(Activation)
  case prelu(alpha: Tensor)
}

enum PoolingOp {
  case maxPool(PoolParameters)
  case globalMaxPool
  case averagePool(PoolParameters)
  case globalAveragePool
}

enum StructuralOp {
  case reshape
  case transpose([Int])
  case pad(before: [Int], after: [Int])
  case slice(start: [Int])
  case concat(axis: Int)
  case identity
  case gather(axis: Int, indices: [Int])
  /// A per-example constant: Δ = 0, no multiplier to its operand.
  case constant
}

struct NormalizationOp {
  /// Layer norm (the mean is subtracted) or RMS norm.
  var centred: Bool
  var parameters: NormParameters
}

enum MergeOp {
  case add
  case subtract
  case average
  case maximum
  case minimum
}

enum ProductOp {
  case multiply
  case matmul
}

/// The family of `op` and what its rules read: the one switch over ``Op`` of the rules.
func rule(for op: Op) -> OpFamily {
  switch op {
  case .input: .input
  case .dense(let w, _): .linear(.dense(weight: w))
  case .conv(let w, _, let p): .linear(.conv(weight: w, parameters: p))
  case .affine(let scale, _): .linear(.affine(scale: scale))
  case .activation(let f): .elementwise(.activation(f))
  case .prelu(let alpha): .elementwise(.prelu(alpha: alpha))
  case .softmax(let axis): .softmax(axis: axis)
  case .maxPool(let p): .pooling(.maxPool(p))
  case .globalMaxPool: .pooling(.globalMaxPool)
  case .averagePool(let p): .pooling(.averagePool(p))
  case .globalAveragePool: .pooling(.globalAveragePool)
  case .reshape: .structural(.reshape)
  case .transpose(let perm): .structural(.transpose(perm))
  case .pad(let before, let after, _): .structural(.pad(before: before, after: after))
  case .slice(let start, _): .structural(.slice(start: start))
  case .concat(let axis): .structural(.concat(axis: axis))
  case .identity: .structural(.identity)
  case .add: .merge(.add)
  case .subtract: .merge(.subtract)
  case .average: .merge(.average)
  case .maximum: .merge(.maximum)
  case .minimum: .merge(.minimum)
  case .reduce(let kind, let axes, let keepDims): .reduction(kind, axes: axes, keepDims: keepDims)
  case .multiply: .product(.multiply)
  case .matmul: .product(.matmul)
  case .resize(let p): .resampling(p)
  case .convTranspose(let w, _, let p, let outputPadding):
    .linear(.convTranspose(weight: w, parameters: p, outputPadding: outputPadding))
  case .gather(let axis, let indices): .structural(.gather(axis: axis, indices: indices))
  case .constant: .structural(.constant)
  case .layerNorm(let p): .normalization(NormalizationOp(centred: true, parameters: p))
  case .rmsNorm(let p): .normalization(NormalizationOp(centred: false, parameters: p))
  }
}

extension OpFamily {
  /// The node's ``NonlinearMode`` under `method`, or nil for ops without one (linear,
  /// structural, pools, additive merges, sums, means, max). Genomics-default: the original's
  /// resolution for elementwise nodes and softmax (``Explainer/genomicsRule(_:_:)``), Rescale
  /// for maximum/minimum, log-sum-exp and exp/log/sqrt/pow (the original has no rule for them).
  func nonlinearMode(_ method: AttributionMethod, graph: Graph, _ id: NodeID) throws(ExplainError) -> NonlinearMode? {
    let uniform: NonlinearMode? =
      switch method {
      case .rescale: .rescale
      case .revealCancel: .revealCancel
      case .gradient, .inputXGradient, .integratedGradients: .gradient
      case .guidedBackprop: .guided
      case .genomicsDefault: nil  // per node, below
      }
    switch self {
    case .input, .linear, .pooling, .structural, .merge(.add), .merge(.subtract), .merge(.average), .resampling:
      return nil
    case .product:
      // One rule for every method: the midpoint rule, which is the Jacobian when x = x⁰
      // (gradient methods run with the input on both sides).
      return nil
    case .merge(.maximum), .merge(.minimum), .normalization:
      return uniform ?? .rescale
    case .reduction(.sum, _, _), .reduction(.mean, _, _), .reduction(.max, _, _):
      // Max: no mode of its own, like max pools (it follows the run's mode and --maxpool).
      return nil
    case .reduction(.logSumExp, _, _):
      // The original has no rule for it; its rule is the same under Rescale and RevealCancel.
      return uniform ?? .rescale
    case .elementwise(.activation(.exp)), .elementwise(.activation(.log)), .elementwise(.activation(.sqrt)),
      .elementwise(.activation(.pow)):
      // Not layer activations in the original's sense (no dense/conv before them to choose
      // by): genomics-default takes Rescale, the secant.
      return uniform ?? .rescale
    case .elementwise, .softmax:
      if let uniform { return uniform }
      return try Explainer.genomicsRule(graph, id)
    }
  }
}

extension Explainer {
  /// The original's DeepLIFT_GenomicsDefault resolution: walk back through BatchNorm
  /// (`affine`), Dropout (`identity`) and layer/RMS norms (normalisations between a linear
  /// layer and its nonlinearity, as BatchNorm is); conv → Rescale, dense → RevealCancel.
  static func genomicsRule(_ graph: Graph, _ id: NodeID) throws(ExplainError) -> NonlinearMode {
    var cur = graph[id].inputs[0]
    while true {
      let n = graph[cur]
      switch rule(for: n.op) {
      case .linear(.affine), .structural(.identity), .normalization: cur = n.inputs[0]
      // A transposed convolution is a convolution's adjoint: the conv rule.
      case .linear(.conv), .linear(.convTranspose): return .rescale
      case .linear(.dense): return .revealCancel
      case .input, .elementwise, .softmax, .pooling, .structural, .merge, .reduction, .product, .resampling:
        throw .unresolvedRule(
          layer: graph[id].name, reason: "it follows '\(n.name)' (\(n.op.kindName)), not a dense or conv layer")
      }
    }
  }
}

extension Propagation {
  /// The node's own split `(Δ⁺, Δ⁻)`, by its family (cached by ``split(_:)``).
  mutating func ownSplit(_ id: NodeID) -> (pos: Tensor, neg: Tensor) {
    switch rule(for: graph[id].op) {
    case .input:
      // Inputs split by the sign of Δ.
      return signSplit(delta(id))
    case .linear(let op): return linearSplit(id, op)
    case .elementwise(let op): return elementwiseSplit(id, op)
    case .softmax: return softmaxSplit(id)
    case .pooling(let op): return poolingSplit(id, op)
    case .structural(let op): return structuralSplit(id, op)
    case .merge(let op): return mergeSplit(id, op)
    case .reduction(let kind, let axes, let keepDims): return reductionSplit(id, kind, axes: axes, keepDims: keepDims)
    case .product(let op): return productSplit(id, op)
    case .resampling(let p): return resamplingSplit(id, p)
    case .normalization: return normalizationSplit(id)
    }
  }

  /// The increment a node passes to its `operand`-th input.
  mutating func inputMultipliers(_ id: NodeID, operand k: Int, _ my: Multipliers) -> Multipliers {
    let node = graph[id]
    let input = node.inputs[k]
    // The operand's shape with the batch axis holding all T·P rows.
    var full = r.shape(input.rawValue)!
    full[0] = my.pos.shape[0]
    switch rule(for: node.op) {
    case .input: preconditionFailure("input nodes have no operands")
    case .linear(let op): return linearMultipliers(id, op, input: input, full: full, my)
    case .elementwise(let op): return elementwiseMultipliers(id, op, my)
    case .softmax(let axis): return softmaxMultipliers(id, axis: axis, my)
    case .pooling(let op): return poolingMultipliers(id, op, input: input, full: full, my)
    case .structural(let op): return structuralMultipliers(id, op, operand: k, full: full, my)
    case .merge(let op): return mergeMultipliers(id, op, operand: k, my)
    case .reduction(let kind, let axes, _): return reductionMultipliers(id, kind, axes: axes, input: input, full: full, my)
    case .product(let op): return productMultipliers(id, op, operand: k, full: full, my)
    case .resampling(let p): return resamplingMultipliers(p, full: full, my)
    case .normalization(let op): return normalizationMultipliers(id, op, my)
    }
  }

  /// The `(Δ⁺, Δ⁻)` of a node whose parts are `f` of its operands' parts (each part alike).
  mutating func splitOfParts(_ id: NodeID, _ f: ([Tensor]) -> Tensor) -> (pos: Tensor, neg: Tensor) {
    let parts = graph[id].inputs.map { split($0) }
    return (f(parts.map(\.pos)), f(parts.map(\.neg)))
  }
}
