import LiftNN
import LiftTensor

// Tensors whose batch axis is not first (issue 19): torch's nn.MultiheadAttention (ViT,
// TransformerEncoderLayer) works in `(L, N, E)`, merges the batch with the heads
// (`(L, N·h, d)`, then `(N·h, L, d)`) and with the sequence (`(L·N, E)`), and comes back to
// `(N, h, L, d)` and `(N, L, E)`. The graph IR keeps the batch axis first, so such an ONNX
// tensor is held by a batch-first node of a permuted, reshaped layout, described by a
// ``BatchView``; only the converters that know views (``batchViewAware``) see one, and the
// importer refuses the rest by name.

/// Where the batch lies in an ONNX tensor held by a batch-first graph node.
///
/// ONNX axis `axis` has extent `outer·N·inner`, the batch index between an outer and an inner
/// factor (row-major). The node's per-example shape is the ONNX shape with that axis replaced
/// by the two axes `[outer, inner]`: `dims[..<axis] + [outer, inner] + dims[(axis+1)...]`, so
/// the per-example row-major order of the node is the ONNX order with the batch index removed,
/// and every ONNX Reshape that keeps the batch's place in that order is a per-example reshape
/// of the node. The usual layout (`axis 0`, factors 1) is not stored.
struct BatchView: Equatable, Sendable {
  var axis: Int
  var outer: Int
  var inner: Int

  static let normal = BatchView(axis: 0, outer: 1, inner: 1)
  var isNormal: Bool { self == .normal }
}

/// Op types whose converters handle inputs held in a ``BatchView``.
let batchViewAware: Set<String> = [
  "Transpose", "Reshape", "Unsqueeze", "Squeeze", "Gather", "Shape", "MatMul", "Gemm", "Add", "Sub", "Mul", "Div",
  "Identity", "Dropout", "Cast", "Relu", "Sigmoid", "Tanh", "Gelu", "Erf", "Softmax",
  "LSTM", "GRU", "RNN", "Concat",
]

/// Op types whose graph-tensor result keeps the view of their first graph-tensor operand:
/// they act on the last axis or elementwise with parameters checked by ``checkViewParameter``.
let batchViewPreserving: Set<String> = [
  "MatMul", "Gemm", "Add", "Sub", "Mul", "Div", "Identity", "Dropout", "Cast", "Relu", "Sigmoid", "Tanh", "Gelu", "Erf",
]

extension Constant {
  /// `k` when `v` is the batch extent times `k` (`batchMarker·k`, 1 ≤ k ≤ 2²⁰): what `Shape` of a
  /// tensor whose axis merges the batch with other factors gives, and `Mul(N, k)`.
  static func batchFactor(_ v: Double) -> Int? {
    guard v < 0, v <= batchMarker else { return nil }
    let k = v / batchMarker
    guard k.rounded() == k, k >= 1, k <= 0x1p20 else { return nil }
    return Int(k)
  }
}

extension ConversionContext {
  /// The view of a graph tensor (``BatchView/normal`` unless stored).
  func view(_ id: NodeID) -> BatchView { views[id.rawValue] ?? .normal }

  /// The ONNX shape of a graph tensor, `nil` on the batch axis.
  func logicalShape(_ id: NodeID, _ physical: [Int]) -> [Int?] {
    let v = view(id)
    if v.isNormal { return [nil] + physical.map { $0 } }
    return physical[..<v.axis].map { $0 } + [nil] + physical[(v.axis + 2)...].map { $0 }
  }

  /// Emits `op` and records the result's view.
  mutating func emitViewed(
    _ op: Op, input: NodeID, view: BatchView, name: String, _ node: Onnx_NodeProto
  ) throws(ONNXImportError) -> Value {
    let v = try emit(op, inputs: [input], name: name, origin: node.opType, onnxNode: node)
    if case .node(let id, _) = v, !view.isNormal { views[id.rawValue] = view }
    return v
  }

  /// The node in explicit view form: a normal node reshaped to `[1, 1] + shape` (axis 0,
  /// factors 1), so permutations can name the outer and inner axes.
  mutating func explicitView(_ id: NodeID, _ shape: [Int], _ node: Onnx_NodeProto) throws(ONNXImportError)
    -> (NodeID, [Int], BatchView)
  {
    let v = view(id)
    guard v.isNormal else { return (id, shape, v) }
    guard case .node(let e, let s) = try emit(
      .reshape([1, 1] + shape), inputs: [id], name: node.output[0] + ":batch_view", origin: node.opType,
      onnxNode: node)
    else { preconditionFailure() }
    return (e, s, .normal)
  }

  /// Per-example reshape of `id` to the ONNX shape `target` (batch at `axis` with factors), or
  /// to the plain shape when the view is normal.
  mutating func emitView(
    _ id: NodeID, logical target: [Int], view: BatchView, _ node: Onnx_NodeProto
  ) throws(ONNXImportError) -> Value {
    let physical =
      view.isNormal
      ? Array(target.dropFirst())
      : Array(target[..<view.axis]) + [view.outer, view.inner] + Array(target[(view.axis + 1)...])
    guard !physical.isEmpty else { throw usage(node, "the result has no per-example axes") }
    return try emitViewed(.reshape(physical), input: id, view: view, name: node.output[0], node)
  }
}

/// ONNX Reshape of a graph tensor, whatever its view: the target's batch entry (`N·k`, or the
/// −1 when there is none) must keep the batch's place in row-major order — the product of the
/// extents before it times its outer factor unchanged — which makes it a per-example reshape.
func reshapeViewed(
  _ node: Onnx_NodeProto, _ ctx: inout ConversionContext, id: NodeID, physical: [Int], target raw: [Double],
  allowZero: Bool
) throws(ONNXImportError) -> Value {
  let v = ctx.view(id)
  let logical = ctx.logicalShape(id, physical)
  let count = physical.reduce(1, *)
  var target = [Int?]()
  var batchAt: Int?
  var factor = 1
  for (i, x) in raw.enumerated() {
    if let k = Constant.batchFactor(x) {
      guard batchAt == nil else { throw usage(node, "the batch extent appears twice in the shape") }
      (batchAt, factor) = (i, k)
      target.append(nil)
      continue
    }
    guard x.rounded() == x, x >= -1, x <= Double(TensorLimits.maximumElements) else {
      throw usage(node, "bad target shape entry \(x)")
    }
    var e = Int(x)
    if e == 0 && !allowZero {
      guard i < logical.count else { throw usage(node, "0 in the shape at axis \(i), beyond the input rank") }
      guard let copied = logical[i] else {
        guard batchAt == nil else { throw usage(node, "the batch extent appears twice in the shape") }
        (batchAt, factor) = (i, v.outer * v.inner)
        target.append(nil)
        continue
      }
      e = copied
    }
    target.append(e)
  }
  let known = target.compactMap { $0 }.filter { $0 != -1 }
  guard let knownCount = Shape.checkedCount(known), knownCount > 0 else { throw usage(node, "bad target shape \(raw)") }
  if let u = target.firstIndex(where: { $0 == -1 }) {
    if batchAt == nil {
      // The −1 holds the batch.
      guard count % knownCount == 0 else { throw usage(node, "cannot reshape examples of shape \(physical) to \(raw)") }
      (batchAt, factor) = (u, count / knownCount)
      target[u] = nil
    } else {
      guard count % (knownCount * factor) == 0 else { throw usage(node, "cannot reshape examples of shape \(physical) to \(raw)") }
      target[u] = count / (knownCount * factor)
    }
  }
  guard let b = batchAt else { throw usage(node, "reshape to \(raw) changes the batch axis") }
  let dims = target.enumerated().map { $0.offset == b ? 1 : $0.element! }
  guard Shape.checkedCount(dims).map({ $0 * factor }) == count else {
    throw usage(node, "cannot reshape examples of shape \(physical) to \(raw)")
  }
  // The batch keeps its place: (extents before it)·outer unchanged.
  let before = logical[..<v.axis].reduce(1) { $0 * ($1 ?? 1) } * v.outer
  let newBefore = dims[..<b].reduce(1, *)
  guard newBefore > 0, before % newBefore == 0, factor % (before / newBefore) == 0 else {
    throw usage(node, "reshape to \(raw) moves the batch within the order of the elements")
  }
  let outer = before / newBefore
  let view = BatchView(axis: b, outer: outer, inner: factor / outer)
  return try ctx.emitView(id, logical: dims, view: view, node)
}

/// ONNX Transpose of a graph tensor whose result's batch axis is not first, or whose input's is
/// not: a permutation of the node carrying the outer and inner axes along with the batch.
func transposeViewed(
  _ node: Onnx_NodeProto, _ ctx: inout ConversionContext, id: NodeID, physical: [Int], perm: [Int]
) throws(ONNXImportError) -> Value {
  let (e, s, v) = try ctx.explicitView(id, physical, node)
  let b = v.axis
  func axes(_ j: Int) -> [Int] { j < b ? [j] : j == b ? [b, b + 1] : [j + 1] }
  let p = perm.flatMap(axes)
  guard let newAxis = perm.firstIndex(of: b) else { preconditionFailure("checked permutation") }
  let view = BatchView(axis: newAxis, outer: v.outer, inner: v.inner)
  guard case .node(let t, let ts) = try ctx.emit(
    .transpose([0] + p.map { $0 + 1 }), inputs: [e], name: view.isNormal ? node.output[0] + ":permuted" : node.output[0],
    origin: "Transpose", onnxNode: node)
  else { preconditionFailure() }
  _ = s
  if view.isNormal {
    return try ctx.emit(.reshape(Array(ts.dropFirst(2))), inputs: [t], name: node.output[0], origin: "Transpose", onnxNode: node)
  }
  ctx.views[t.rawValue] = view
  return .node(t, shape: ts)
}

/// Unsqueeze / Squeeze of a graph tensor in a view, or Unsqueeze before the batch axis.
func squeezeViewed(
  _ node: Onnx_NodeProto, _ ctx: inout ConversionContext, id: NodeID, physical: [Int], axes: [Int], unsqueeze: Bool
) throws(ONNXImportError) -> Value {
  let v = ctx.view(id)
  var logical = ctx.logicalShape(id, physical)
  var b = v.axis
  if unsqueeze {
    let r = logical.count + axes.count
    var normalized = [Int]()
    for a in axes { normalized.append(try normalizeAxis(a, rank: r, node)) }
    for a in normalized.sorted() {
      logical.insert(1, at: a)
      if a <= b { b += 1 }
    }
  } else {
    var normalized = [Int]()
    for a in axes { normalized.append(try normalizeAxis(a, rank: logical.count, node)) }
    for a in normalized.sorted().reversed() {
      guard a != b, logical[a] == 1 else { throw usage(node, "cannot squeeze axis \(a)") }
      logical.remove(at: a)
      if a < b { b -= 1 }
    }
  }
  let dims = logical.map { $0 ?? 1 }
  return try ctx.emitView(id, logical: dims, view: BatchView(axis: b, outer: v.outer, inner: v.inner), node)
}

/// Gather of a graph tensor in a view: a per-example gather on the node's axis.
func gatherViewed(
  _ node: Onnx_NodeProto, _ ctx: inout ConversionContext, id: NodeID, physical: [Int], indices: Constant
) throws(ONNXImportError) -> Value {
  let v = ctx.view(id)
  let logical = ctx.logicalShape(id, physical)
  let a = try normalizeAxis(Attributes(node).int("axis", 0), rank: logical.count, node)
  guard a != v.axis, let n = logical[a] else { throw usage(node, "gathering along the batch axis") }
  guard let raw = indices.integers, !indices.containsBatchMarker, !raw.isEmpty, indices.rank <= 1 else {
    throw usage(node, "indices must be a scalar or a vector of integers known at import time")
  }
  var flat = [Int]()
  for i in raw {
    let j = i < 0 ? i + n : i
    guard j >= 0, j < n else { throw usage(node, "index \(i) out of range for extent \(n)") }
    flat.append(j)
  }
  let physicalAxis = a < v.axis ? a : a + 1
  guard case .node(let g, _) = try ctx.emit(
    .gather(axis: physicalAxis + 1, indices: flat), inputs: [id], name: node.output[0] + ":gather", origin: "Gather",
    onnxNode: node)
  else { preconditionFailure() }
  var dims = logical.map { $0 ?? 1 }
  var b = v.axis
  if indices.rank == 0 {
    dims.remove(at: a)
    if a < b { b -= 1 }
  } else {
    dims[a] = flat.count
  }
  return try ctx.emitView(g, logical: dims, view: BatchView(axis: b, outer: v.outer, inner: v.inner), node)
}

/// Throws unless a constant operand of an elementwise op on a tensor in view `v` (ONNX shape
/// of rank `rank`) spans only axes after the batch axis (so it lines up with the node's
/// trailing axes).
func checkViewParameter(_ c: Constant, view v: BatchView, rank: Int, _ node: Onnx_NodeProto) throws(ONNXImportError) {
  let leading = c.dims.drop { $0 == 1 }.count
  guard c.rank <= rank - 1 - v.axis || leading <= rank - 1 - v.axis else {
    throw usage(node, "a constant of shape \(c.dims) across the batch axis of a tensor whose batch axis is \(v.axis)")
  }
}

/// The operands of a view-preserving op on a tensor in view `v`: other graph tensors in the
/// same view and of the same shape, constants only on the axes after the batch axis.
func checkViewOperands(_ node: Onnx_NodeProto, _ ctx: ConversionContext, view v: BatchView) throws(ONNXImportError) {
  // MatMul / Gemm: the weight is the converter's concern (a product of two graph tensors is
  // the products family's).
  guard batchViewPreserving.contains(node.opType), node.opType != "MatMul", node.opType != "Gemm" else { return }
  var rank = 0
  var shapes = [[Int]]()
  for name in node.input where !name.isEmpty {
    if case .node(let id, let s)? = ctx.values[name] {
      guard ctx.view(id) == v else { throw usage(node, "operands with their batch axes in different places") }
      rank = ctx.logicalShape(id, s).count
      shapes.append(s)
    }
  }
  guard shapes.allSatisfy({ $0 == shapes[0] }) else { throw usage(node, "operands of different shapes") }
  for name in node.input where !name.isEmpty {
    if case .constant(let c)? = ctx.values[name] { try checkViewParameter(c, view: v, rank: rank, node) }
  }
}

/// Concat of graph tensors in one batch view along another axis than the batch's (torch's
/// `h_n` of a multi-layer LSTM/GRU: the layers' `[directions, N, hidden]` states joined on
/// axis 0): a per-example concat of the nodes, in the same view.
func concatViewed(_ node: Onnx_NodeProto, _ ctx: inout ConversionContext, values: [Value]) throws(ONNXImportError)
  -> Value
{
  var ids = [NodeID]()
  var view: BatchView?
  var rank = 0
  for value in values {
    guard case .node(let id, let shape) = value else {
      throw usage(node, "concatenating constants with tensors whose batch axis is not first")
    }
    let v = ctx.view(id)
    if let view, view != v { throw usage(node, "operands with their batch axes in different places") }
    view = v
    ids.append(id)
    rank = ctx.logicalShape(id, shape).count
  }
  guard let v = view else { throw usage(node, "no operands") }
  let a = try normalizeAxis(Attributes(node).int("axis", 0), rank: rank, node)
  guard a != v.axis else { throw usage(node, "concatenation along the batch axis") }
  let physical = a < v.axis ? a : a + 1
  let result = try ctx.emit(.concat(axis: physical + 1), inputs: ids, name: node.output[0], origin: "Concat", onnxNode: node)
  if case .node(let id, _) = result { ctx.views[id.rawValue] = v }
  return result
}
