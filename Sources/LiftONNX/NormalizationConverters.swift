import LiftNN
import LiftTensor

// ONNX LayerNormalization (opset 17) and RMSNormalization (opset 23), and the synthetic nodes
// of the same types that PatternFusion.swift makes of the decomposed chains older exporters
// write. The normalised axes of the operators are `axis…r−1` of the full tensor (`axis` may be
// negative), a trailing block, which is what ``LiftNN/Op/layerNorm(_:)`` holds. `stash_type` (the
// precision of the statistics) is ignored: ours are computed in double precision.

/// The converter of `LayerNormalization` (`rms == false`: inputs X, Scale, optional B) or
/// `RMSNormalization` (X, scale); attributes `axis` (default −1) and `epsilon` (default 1e-5).
func convertNormalization(rms: Bool) -> ConvertFunction {
  { node, ctx throws(ONNXImportError) in
    let a = Attributes(node)
    let x = try ctx.graphInput(node, 0)
    let r = x.shape.count + 1
    let axis = try normalizeAxis(a.int("axis", -1), rank: r, node)
    guard axis >= 1 else { throw usage(node, "normalisation over the batch axis") }
    let epsilon = try normalizationEpsilon(a, node)
    let normalized = Array(x.shape[(axis - 1)...])
    let scale = try normalizedParameter(try ctx.constantInput(node, 1), normalized: normalized, "scale", node)
    let bias = try ctx.optionalConstant(node, 2).map { c throws(ONNXImportError) in
      try normalizedParameter(c, normalized: normalized, "bias", node)
    }
    let p = NormParameters(axes: r - axis, epsilon: epsilon, scale: scale, bias: bias)
    return try ctx.emit(
      rms ? .rmsNorm(p) : .layerNorm(p), inputs: [x.id], name: node.output[0], origin: node.opType, onnxNode: node)
  }
}

/// `epsilon` (default 1e-5), finite and ≥ 0.
func normalizationEpsilon(_ a: Attributes, _ node: Onnx_NodeProto) throws(ONNXImportError) -> Float {
  let epsilon = a.float("epsilon", 1e-5)
  guard epsilon.isFinite, epsilon >= 0 else { throw usage(node, "epsilon \(epsilon) must be finite and ≥ 0") }
  return epsilon
}

/// The converter of the synthetic `LayerNormalization` / `RMSNormalization` nodes that
/// PatternFusion.swift makes of written-out chains: attribute `axes` (the reductions' axes, a
/// block of consecutive axes), `epsilon`; inputs X, optional γ (the chain's `Mul`), optional β
/// (its `Add`). A block that is not trailing (the channels-first LayerNorm of ConvNeXt's
/// reference code reduces axis 1) is moved to the end by a transpose and back after the norm.
/// γ and β become the norm's parameters where they vary only along the block, and `affine`
/// nodes after it otherwise (what their `Mul` and `Add` would have been).
func convertFusedNormalization(rms: Bool) -> ConvertFunction {
  { node, ctx throws(ONNXImportError) in
    let a = Attributes(node)
    let x = try ctx.graphInput(node, 0)
    let r = x.shape.count + 1
    var axes = [Int]()
    for ax in a.ints("axes") ?? [] { axes.append(try normalizeAxis(ax, rank: r, node)) }
    axes.sort()
    guard let first = axes.first, first >= 1, axes == Array(first..<(first + axes.count)) else {
      throw usage(node, "the written-out normalisation reduces axes \(a.ints("axes") ?? []) of a rank-\(r) tensor")
    }
    let epsilon = try normalizationEpsilon(a, node)
    let block = (first - 1)..<(first - 1 + axes.count)  // per-example axes
    let gamma = try ctx.optionalConstant(node, 1), beta = try ctx.optionalConstant(node, 2)
    let scale = gamma.flatMap { blockParameter($0, example: x.shape, block: block) }
    let bias = beta.flatMap { blockParameter($0, example: x.shape, block: block) }
    let fusedGamma = gamma == nil || scale != nil, fusedBeta = (beta == nil || bias != nil) && fusedGamma
    let p = NormParameters(
      axes: axes.count, epsilon: epsilon, scale: scale, bias: fusedBeta ? bias : nil)
    // The ops in order; the last one carries the ONNX name.
    var steps = [(op: Op, suffix: String)]()
    let rest = Array(1..<first) + Array((first + axes.count)..<r)
    let perm = [0] + rest + axes
    let moved = perm != Array(0..<r)
    if moved { steps.append((.transpose(perm), ":to_last")) }
    steps.append((rms ? .rmsNorm(p) : .layerNorm(p), ":norm"))
    if moved {
      var inverse = [Int](repeating: 0, count: r)
      for (i, q) in perm.enumerated() { inverse[q] = i }
      steps.append((.transpose(inverse), ":back"))
    }
    // γ and β that are not the norm's own: the chain's Mul and Add, as affine ops.
    let rank = x.shape.count
    if let gamma, !fusedGamma {
      steps.append((.affine(scale: try exampleParameter(gamma, example: x.shape, node), offset: filled(0, rank: rank)), ":scaled"))
    }
    if let beta, !fusedBeta {
      steps.append((.affine(scale: filled(1, rank: rank), offset: try exampleParameter(beta, example: x.shape, node)), ":shifted"))
    }
    var value = Value.node(x.id, shape: x.shape)
    for (i, step) in steps.enumerated() {
      guard case .node(let id, _) = value else { preconditionFailure() }
      let isLast = i == steps.count - 1
      let origin = step.suffix == ":to_last" || step.suffix == ":back" ? "\(node.opType) layout" : node.opType
      value = try ctx.emit(
        step.op, inputs: [id], name: isLast ? node.output[0] : node.output[0] + step.suffix, origin: origin,
        onnxNode: node)
    }
    return value
  }
}

/// A γ or β constant that varies only along the per-example axes `block` of examples shaped
/// `example` (right-aligned broadcasting, a leading batch extent of 1 allowed), as a tensor of
/// the block's extents; nil otherwise.
func blockParameter(_ c: Constant, example: [Int], block: Range<Int>) -> Tensor? {
  var dims = c.dims
  if dims.count == example.count + 1 {
    guard dims[0] == 1 else { return nil }
    dims.removeFirst()
  }
  guard dims.count <= example.count, !c.containsBatchMarker else { return nil }
  dims = [Int](repeating: 1, count: example.count - dims.count) + dims
  for i in dims.indices where dims[i] != 1 {
    guard block.contains(i), dims[i] == example[i] else { return nil }
  }
  let own = Array(dims[block])
  let t = c.tensor(shape: own)
  let extents = Array(example[block])
  return own == extents ? t : broadcast(t, to: Shape(extents))
}

/// A Scale or B constant as a tensor of the normalised shape: it broadcasts (right-aligned) to
/// `normalized` without enlarging it (leading extents of 1 beyond its rank are dropped).
func normalizedParameter(_ c: Constant, normalized: [Int], _ what: String, _ node: Onnx_NodeProto)
  throws(ONNXImportError) -> Tensor
{
  var dims = c.dims
  while dims.count > normalized.count, dims.first == 1 { dims.removeFirst() }
  guard dims.count <= normalized.count else {
    throw usage(node, "\(what) of shape \(c.dims) does not broadcast to the normalised shape \(normalized)")
  }
  dims = [Int](repeating: 1, count: normalized.count - dims.count) + dims
  for (p, e) in zip(dims, normalized) where p != e && p != 1 {
    throw usage(node, "\(what) of shape \(c.dims) does not broadcast to the normalised shape \(normalized)")
  }
  let t = c.tensor(shape: dims)
  return dims == normalized ? t : broadcast(t, to: Shape(normalized))
}
