import LiftNN

/// `GatherElements(data, indices, axis)`: `out[i…] = data[i… with i_axis := indices[i…]]`,
/// output shaped like `indices` (ONNX opset 11+, `torch.gather`).
///
/// On a graph tensor the indices must be known at import time and the same for every example
/// (a constant expanded over the batch, as `idx.expand(N, …)` exports, or a fixed batch of 1):
/// each output element is then one input element at a fixed per-example position, which is
/// a ``LiftNN/Op/gather(axis:indices:)`` of the flattened example followed by a reshape —
/// structural, so the gather's scatter-add adjoint carries the multipliers back. Two constants
/// are folded.
func convertGatherElements(_ node: Onnx_NodeProto, _ ctx: inout ConversionContext) throws(ONNXImportError) -> Value {
  let indices = try ctx.constantInput(node, 1)
  guard let raw = indices.integers, !indices.containsBatchMarker else {
    throw usage(node, "indices must be integers known at import time")
  }
  switch try ctx.value(node, 0) {
  case .constant(let data):
    guard !data.batchBroadcast, !indices.batchBroadcast else {
      throw usage(node, "a constant broadcast over the batch as data or indices of a constant GatherElements")
    }
    let axis = try normalizeAxis(Attributes(node).int("axis", 0), rank: data.rank, node)
    let sources = try elementSources(node, data: data.dims, indices: indices.dims, values: raw, axis: axis)
    _ = try ctx.reserveFolded(indices.dims, node)
    var out = Constant(dims: indices.dims, values: sources.map { data.values[$0] })
    out.isInteger = data.isInteger
    return .constant(out)
  case .node(let id, let shape):
    let full = [1] + shape
    let axis = try normalizeAxis(Attributes(node).int("axis", 0), rank: full.count, node)
    guard axis >= 1 else { throw usage(node, "gathering along the batch axis") }
    guard indices.rank == full.count else {
      throw usage(node, "indices have rank \(indices.rank) but data rank \(full.count)")
    }
    // Index values are checked first: a bad index is named whatever the batch layout.
    let flat =
      indices.dims[0] == 1 ? try elementSources(node, data: full, indices: indices.dims, values: raw, axis: axis) : []
    guard indices.dims[0] == 1, indices.batchBroadcast || ctx.fixedBatch == 1 else {
      throw usage(
        node,
        "indices of shape \(indices.dims) must be the same for every example (a constant expanded over the batch)")
    }
    let perExample = Array(indices.dims.dropFirst())
    guard !perExample.isEmpty, perExample.allSatisfy({ $0 >= 1 }) else { throw usage(node, "no indices") }
    let count = shape.reduce(1, *)
    var source = id
    if shape.count != 1 {
      guard case .node(let r, _) = try ctx.emit(
        .reshape([count]), inputs: [id], name: node.output[0] + ":flat", origin: "GatherElements", onnxNode: node)
      else { preconditionFailure("emit returns a node") }
      source = r
    }
    if perExample.count == 1 {
      return try ctx.emit(
        .gather(axis: 1, indices: flat), inputs: [source], name: node.output[0], origin: "GatherElements", onnxNode: node)
    }
    guard case .node(let g, _) = try ctx.emit(
      .gather(axis: 1, indices: flat), inputs: [source], name: node.output[0] + ":gather", origin: "GatherElements",
      onnxNode: node)
    else { preconditionFailure("emit returns a node") }
    return try ctx.emit(.reshape(perExample), inputs: [g], name: node.output[0], origin: "GatherElements", onnxNode: node)
  }
}

/// For each element of `indices` (row-major), the row-major position in `data` it reads:
/// its own coordinates with the one on `axis` replaced by its value (negative values count
/// from the end). Positions are taken modulo nothing: every coordinate must lie in `data`.
///
/// - Throws: ``ONNXImportError/unsupportedUsage(opType:node:reason:)`` for ranks that differ,
///   an index extent larger than data's on another axis, or an index out of range.
func elementSources(_ node: Onnx_NodeProto, data: [Int], indices: [Int], values: [Int], axis: Int) throws(ONNXImportError)
  -> [Int]
{
  guard indices.count == data.count else {
    throw usage(node, "indices have rank \(indices.count) but data rank \(data.count)")
  }
  for d in data.indices where d != axis && indices[d] > data[d] {
    throw usage(node, "indices extent \(indices[d]) on axis \(d) exceeds the data's \(data[d])")
  }
  var strides = [Int](repeating: 1, count: data.count)
  for d in stride(from: data.count - 2, through: 0, by: -1) { strides[d] = strides[d + 1] * data[d + 1] }
  var result = [Int]()
  result.reserveCapacity(values.count)
  var coordinate = [Int](repeating: 0, count: indices.count)
  let n = data[axis]
  for v in values {
    let j = v < 0 ? v + n : v
    guard j >= 0, j < n else { throw usage(node, "index \(v) out of range for extent \(n) on axis \(axis)") }
    var position = 0
    for d in data.indices { position += (d == axis ? j : coordinate[d]) * strides[d] }
    result.append(position)
    // Next coordinate of `indices`, row-major.
    var d = indices.count - 1
    while d >= 0 {
      coordinate[d] += 1
      if coordinate[d] < indices[d] { break }
      coordinate[d] = 0
      d -= 1
    }
  }
  return result
}
