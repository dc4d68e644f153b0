import LiftNN
import LiftTensor

// ONNX LayerNormalization (opset 17) and RMSNormalization (opset 23), and the synthetic nodes
// of the same types that PatternFusion.swift makes of the decomposed chains older exporters
// write. The normalised axes are `axis…r−1` of the full tensor (`axis` may be negative), a
// trailing block, which is what ``LiftNN/Op/layerNorm(_:)`` holds. `stash_type` (the
// precision of the statistics) is ignored: ours are computed in double precision.

/// The converter of `LayerNormalization` (`rms == false`: inputs X, Scale, optional B) or
/// `RMSNormalization` (X, scale); attributes `axis` (default −1) and `epsilon` (default 1e-5).
/// With `requireScale == false` (the fused chains, which may lack `γ`) Scale may be omitted;
/// the fused chains carry their reductions' `axes` instead of `axis`, which must be the
/// trailing axes.
func convertNormalization(rms: Bool, requireScale: Bool = true) -> ConvertFunction {
  { node, ctx throws(ONNXImportError) in
    let a = Attributes(node)
    let x = try ctx.graphInput(node, 0)
    let r = x.shape.count + 1
    let axis: Int
    if let axes = a.ints("axes") {
      var normalizedAxes = [Int]()
      for ax in axes { normalizedAxes.append(try normalizeAxis(ax, rank: r, node)) }
      guard let first = normalizedAxes.min(), normalizedAxes.sorted() == Array(first..<r) else {
        throw usage(node, "the fused normalisation chain reduces axes \(axes) of a rank-\(r) tensor, not its trailing axes")
      }
      axis = first
    } else {
      axis = try normalizeAxis(a.int("axis", -1), rank: r, node)
    }
    guard axis >= 1 else { throw usage(node, "normalisation over the batch axis") }
    let epsilon = a.float("epsilon", 1e-5)
    guard epsilon.isFinite, epsilon >= 0 else { throw usage(node, "epsilon \(epsilon) must be finite and ≥ 0") }
    let normalized = Array(x.shape[(axis - 1)...])
    let scaleConstant = requireScale ? try ctx.constantInput(node, 1) : try ctx.optionalConstant(node, 1)
    let scale = try scaleConstant.map { c throws(ONNXImportError) in
      try normalizedParameter(c, normalized: normalized, "scale", node)
    }
    let bias = try ctx.optionalConstant(node, 2).map { c throws(ONNXImportError) in
      try normalizedParameter(c, normalized: normalized, "bias", node)
    }
    let p = NormParameters(axes: r - axis, epsilon: epsilon, scale: scale, bias: bias)
    return try ctx.emit(
      rms ? .rmsNorm(p) : .layerNorm(p), inputs: [x.id], name: node.output[0], origin: node.opType, onnxNode: node)
  }
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
