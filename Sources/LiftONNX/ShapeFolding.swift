import Foundation
import LiftNN
import LiftTensor

// Integer arithmetic that only computes shapes, folded at import (issue 19): what torch writes
// for attention (ViT, nn.MultiheadAttention, HuggingFace BERT) between `Shape` and the
// `Reshape`/`Expand` that reads the result — Equal, Where, Mod, Range, Expand, Sqrt/Floor/Ceil,
// comparisons, Split — and the activation-side ops with constant indices (Gather, Split).
//
// The batch extent stays symbolic: `Shape` of a graph tensor gives ``Constant/batchMarker`` on
// axis 0, which folding copies (Gather, Concat, Unsqueeze, Where) and compares only where the
// answer holds for every batch size (N ≥ 1). A constant expanded over the batch (`Expand` or
// `ConstantOfShape` to a shape that starts with the marker) is a ``Constant/batchBroadcast``
// constant; it becomes an ``LiftNN/Op/constant(value:)`` node where it is concatenated with
// graph tensors. Every folded value is sized with ``ConversionContext/reserveFolded(_:_:)``
// before it is allocated.

/// Op types whose converters handle ``Constant/batchBroadcast`` operands (keep the flag where
/// axis 0 stays the batch axis, refuse otherwise); any other op given one is refused by the
/// importer, so a flag is never dropped silently.
let batchBroadcastAware: Set<String> = [
  "Add", "Sub", "Mul", "Div", "Neg", "Cast", "Identity", "Dropout", "Shape", "Unsqueeze", "Squeeze",
  "Reshape", "Slice", "Gather", "Concat", "Expand", "Equal", "Less", "Greater", "Not", "Where", "Sqrt",
  "Floor", "Ceil", "Split", "GatherElements",
]

/// Op types that take a ``Constant/batchBroadcastAxis`` constant (a recurrent layer's initial
/// state broadcast over the batch on an axis other than 0).
let batchBroadcastAxisAware: Set<String> = ["LSTM", "GRU", "RNN", "Slice", "Identity"]

/// Whether the result of an elementwise fold over `operands`, of dimensions `out`, is a
/// ``Constant/batchBroadcast`` constant: when one operand is. Such an operand must have the
/// result's full rank (its axis 0 aligned with the result's), and a plain operand of that rank
/// must have extent 1 on axis 0 (anything else would fix the batch size).
func foldedBatchFlag(_ operands: [Constant], out: [Int], _ node: Onnx_NodeProto) throws(ONNXImportError) -> Bool {
  guard operands.contains(where: \.batchBroadcast) else { return false }
  for c in operands where c.rank == out.count || c.batchBroadcast {
    guard c.rank == out.count else {
      throw usage(node, "a constant broadcast over the batch (shape \(c.dims)) meets one of higher rank")
    }
    guard c.dims.first == 1 else {
      throw usage(node, "constant of shape \(c.dims) varies along the batch axis of a constant broadcast over it")
    }
  }
  return true
}

extension Constant {
  /// NumPy broadcasting of several constants with `f` on the values at each output position;
  /// `nil` if the shapes do not broadcast.
  ///
  /// - Precondition: the caller has checked the size of the broadcast shape.
  static func broadcast(_ cs: [Constant], _ f: ([Double]) -> Double) -> Constant? {
    var out = [Int]()
    for c in cs {
      guard let b = broadcastShape(out, c.dims) else { return nil }
      out = b
    }
    return broadcast(cs, to: out, f)
  }

  /// As ``broadcast(_:_:)-swift.type.method`` to dimensions `out`, which every operand must
  /// broadcast to (Expand's target).
  static func broadcast(_ cs: [Constant], to out: [Int], _ f: ([Double]) -> Double) -> Constant? {
    for c in cs {
      guard broadcastShape(out, c.dims) == out else { return nil }
    }
    let r = out.count
    let padded = cs.map { [Int](repeating: 1, count: r - $0.rank) + $0.dims }
    let strides = padded.map { Constant.strides($0) }
    let so = Constant.strides(out)
    let n = out.reduce(1, *)
    var values = [Double](repeating: 0, count: n)
    var args = [Double](repeating: 0, count: cs.count)
    for flat in 0..<n {
      for k in cs.indices {
        var idx = 0, rem = flat
        for i in 0..<r {
          let q = rem / so[i]
          rem %= so[i]
          if padded[k][i] != 1 { idx += q * strides[k][i] }
        }
        args[k] = cs[k].values[idx]
      }
      values[flat] = f(args)
    }
    return Constant(dims: out, values: values)
  }
}

/// Folds an elementwise op of constants: broadcast, sized, flagged; `f` returns nil for a
/// value it cannot decide (a comparison of the symbolic batch extent), which throws `why`.
func foldElementwise(
  _ node: Onnx_NodeProto, _ ctx: inout ConversionContext, inputs: [Constant], why: String,
  _ f: ([Double]) -> Double?
) throws(ONNXImportError) -> Value {
  var out = [Int]()
  for c in inputs {
    guard let b = Constant.broadcastShape(out, c.dims) else {
      throw usage(node, "shapes \(inputs.map(\.dims)) do not broadcast")
    }
    out = b
  }
  let flag = try foldedBatchFlag(inputs, out: out, node)
  _ = try ctx.reserveFolded(out, node)
  var undecided = false
  guard
    var c = Constant.broadcast(
      inputs,
      { args in
        guard let v = f(args) else {
          undecided = true
          return 0
        }
        return v
      })
  else { preconditionFailure("checked above") }
  if undecided { throw usage(node, why) }
  c.batchBroadcast = flag
  return .constant(c)
}

/// The constant inputs of `node` (all of them; a graph tensor among them throws).
func constantInputs(_ node: Onnx_NodeProto, _ ctx: ConversionContext) throws(ONNXImportError) -> [Constant] {
  var out = [Constant]()
  for i in node.input.indices where !node.input[i].isEmpty {
    guard case .constant(let c) = try ctx.value(node, i) else {
      throw usage(
        node, "\(node.opType) of graph tensors is not supported (only of constants such as shapes, folded at import)")
    }
    out.append(c)
  }
  return out
}

/// Equal / Less / Greater of constants (1 or 0). The batch marker stands for an unknown
/// N ≥ 1: it equals itself, differs from every value below 1 and exceeds it; any other
/// comparison with it depends on N and throws.
func comparison(_ kind: String) -> ConvertFunction {
  { node, ctx throws(ONNXImportError) in
    let cs = try constantInputs(node, ctx)
    guard cs.count == 2 else { throw usage(node, "expects 2 operands") }
    let m = Constant.batchMarker
    return try foldElementwise(
      node, &ctx, inputs: cs, why: "the comparison depends on the batch size"
    ) { args in
      let (a, b) = (args[0], args[1])
      let (ka, kb) = (Constant.batchFactor(a), Constant.batchFactor(b))
      if ka != nil || kb != nil {
        _ = m
        if let ka, let kb {
          guard kind == "Equal" || ka == kb else { return nil }
          return ka == kb ? (kind == "Equal" ? 1 : 0) : 0
        }
        let other = ka == nil ? a : b
        guard other < 1 else { return nil }
        // N·k > other for every N ≥ 1.
        switch kind {
        case "Equal": return 0
        case "Greater": return ka != nil ? 1 : 0
        default: return ka != nil ? 0 : 1
        }
      }
      switch kind {
      case "Equal": return a == b ? 1 : 0
      case "Greater": return a > b ? 1 : 0
      default: return a < b ? 1 : 0
      }
    }
  }
}

/// `Where(condition, x, y)` of constants; batch markers are copied like any value.
func convertWhere(_ node: Onnx_NodeProto, _ ctx: inout ConversionContext) throws(ONNXImportError) -> Value {
  let cs = try constantInputs(node, ctx)
  guard cs.count == 3 else { throw usage(node, "expects 3 operands") }
  return try foldElementwise(node, &ctx, inputs: cs, why: "") { $0[0] != 0 ? $0[1] : $0[2] }
}

/// `Mod(a, b)` of integer constants: the sign of the divisor (Python `%`) unless `fmod = 1`
/// (the sign of the dividend, C `fmod`). Division by zero and the batch marker throw.
func convertMod(_ node: Onnx_NodeProto, _ ctx: inout ConversionContext) throws(ONNXImportError) -> Value {
  let cs = try constantInputs(node, ctx)
  guard cs.count == 2 else { throw usage(node, "expects 2 operands") }
  guard !cs.contains(where: \.containsBatchMarker) else { throw usage(node, "arithmetic on a dynamic shape") }
  let cFmod = Attributes(node).int("fmod", 0) != 0
  return try foldElementwise(node, &ctx, inputs: cs, why: "division by zero") { args in
    let (a, b) = (args[0], args[1])
    guard b != 0 else { return nil }
    let r = a.truncatingRemainder(dividingBy: b)
    return cFmod || r == 0 || (r < 0) == (b < 0) ? r : r + b
  }
}

/// Elementwise functions of one constant (Sqrt, Floor, Ceil, Not). Floor and Ceil keep the
/// batch marker (an integer); the others throw on it.
func unaryFold(_ f: @escaping @Sendable (Double) -> Double, keepsMarker: Bool = false) -> ConvertFunction {
  { node, ctx throws(ONNXImportError) in
    let cs = try constantInputs(node, ctx)
    guard cs.count == 1 else { throw usage(node, "expects 1 operand") }
    if !keepsMarker && cs[0].containsBatchMarker { throw usage(node, "arithmetic on a dynamic shape") }
    let m = Constant.batchMarker
    return try foldElementwise(node, &ctx, inputs: cs, why: "") { $0[0] == m ? m : f($0[0]) }
  }
}

/// `Range(start, limit, delta)`: `max(⌈(limit − start)/delta⌉, 0)` values, sized before they
/// are made.
func convertRange(_ node: Onnx_NodeProto, _ ctx: inout ConversionContext) throws(ONNXImportError) -> Value {
  let cs = try constantInputs(node, ctx)
  guard cs.count == 3, cs.allSatisfy({ $0.count == 1 }) else { throw usage(node, "start, limit and delta must be scalars") }
  guard !cs.contains(where: \.containsBatchMarker) else { throw usage(node, "a range over the batch size") }
  let (start, limit, delta) = (cs[0].values[0], cs[1].values[0], cs[2].values[0])
  guard delta != 0, start.isFinite, limit.isFinite, delta.isFinite else { throw usage(node, "bad range \(start), \(limit), \(delta)") }
  let steps = ((limit - start) / delta).rounded(.up)
  guard steps < Double(TensorLimits.maximumElements) + 1 else {
    throw usage(node, "the range has more than \(TensorLimits.maximumElements) elements")
  }
  let n = max(Int(steps), 0)
  _ = try ctx.reserveFolded([n], node)
  return .constant(Constant(dims: [n], values: (0..<n).map { start + Double($0) * delta }))
}

/// `Expand(input, shape)`: bidirectional broadcasting to `shape`.
/// - a constant to a shape without the batch marker: folded;
/// - a constant to a shape whose axis 0 is the batch marker (`cls.expand(B, -1, -1)`, after
///   torch's Where turns −1 into 1): a ``Constant/batchBroadcast`` constant;
/// - a graph tensor to a shape it already has (every extent 1, equal, or the batch): identity.
///   Enlarging a graph tensor's examples is not supported.
func convertExpand(_ node: Onnx_NodeProto, _ ctx: inout ConversionContext) throws(ONNXImportError) -> Value {
  let data = try ctx.value(node, 0)
  let shapeConstant = try ctx.constantInput(node, 1)
  guard shapeConstant.rank == 1 else { throw usage(node, "the shape must be a vector") }
  let m = Constant.batchMarker
  var target = [Int]()
  var batchAt: Int?
  for (i, v) in shapeConstant.values.enumerated() {
    if v == m {
      guard batchAt == nil else { throw usage(node, "the batch extent appears twice in the shape") }
      batchAt = i
      target.append(1)
      continue
    }
    guard v.rounded() == v, v >= 0, v <= Double(TensorLimits.maximumElements) else {
      throw usage(node, "shape \(shapeConstant.values) must hold extents known at import time")
    }
    target.append(Int(v))
  }
  switch data {
  case .constant(let c):
    guard let out = Constant.broadcastShape(c.dims, target) else {
      throw usage(node, "shape \(c.dims) does not broadcast to \(target)")
    }
    var uniformAxis: Int?
    if let b = batchAt {
      // h0.expand(d, N, hidden): a recurrent layer's initial state (batchBroadcastAxis).
      if b > 0, !c.batchBroadcast, c.batchBroadcastAxis == nil, target.count >= c.rank {
        uniformAxis = b
      } else {
        guard b == 0, target.count >= c.rank else {
          throw usage(node, "the batch extent must be axis 0 of the result")
        }
      }
    }
    let flag = (batchAt != nil && uniformAxis == nil) || c.batchBroadcast
    if c.batchBroadcast, c.rank != out.count {
      throw usage(node, "a constant broadcast over the batch would gain leading axes")
    }
    _ = try ctx.reserveFolded(out, node)
    guard var folded = Constant.broadcast([c], to: out, { $0[0] }) else { preconditionFailure("checked above") }
    folded.batchBroadcast = flag
    folded.batchBroadcastAxis = uniformAxis
    return .constant(folded)
  case .node(let id, let shape):
    let full = [1] + shape  // the batch as 1: it never grows here
    guard let out = Constant.broadcastShape(full, target), out.count == full.count, Array(out.dropFirst()) == shape
    else {
      throw usage(node, "expanding a graph tensor of per-example shape \(shape) to \(shapeConstant.values.map { $0 == m ? "N" : String(Int($0)) }) is not supported")
    }
    return try ctx.emit(.identity, inputs: [id], name: node.output[0], origin: "Expand", onnxNode: node)
  }
}

/// `Split(input, split)` along `axis`: every output is a slice. A graph tensor is split on a
/// per-example axis into ``LiftNN/Op/slice(start:end:)`` nodes (a packed QKV projection);
/// constants are folded. Sizes come from the `split` input (opset 13+) or attribute, else
/// equal parts (`num_outputs` at opset 18: the last part may be smaller).
func convertSplit(_ node: Onnx_NodeProto, _ ctx: inout ConversionContext) throws(ONNXImportError) -> Value {
  let data = try ctx.value(node, 0)
  let a = Attributes(node)
  let dims: [Int]
  switch data {
  case .constant(let c): dims = c.dims
  case .node(_, let s): dims = [Int.max / 4] + s
  }
  let axis = try normalizeAxis(a.int("axis", 0), rank: dims.count, node)
  // A graph tensor's axis 0 holds the examples: splitting it would make outputs whose
  // extents depend on N (sizes computed from the placeholder extent are meaningless).
  if axis == 0, !isConstant(data) { throw usage(node, "splitting the batch axis is not supported") }
  let outputs = node.output.count
  guard outputs >= 1 else { throw usage(node, "no outputs") }
  var sizes: [Int]
  if let given = try ctx.integerInput(node, 1) ?? a.ints("split") {
    sizes = given
  } else {
    let parts = a.has("num_outputs") ? a.int("num_outputs", outputs) : outputs
    guard parts == outputs, parts >= 1 else { throw usage(node, "num_outputs \(parts) for \(outputs) outputs") }
    let step = (dims[axis] + parts - 1) / parts
    sizes = (0..<parts).map { min(step, max(dims[axis] - $0 * step, 0)) }
  }
  try checkExtents(sizes, "split sizes", node)
  guard sizes.count == outputs, sizes.reduce(0, +) == dims[axis] else {
    throw usage(node, "split sizes \(sizes) for extent \(axis == 0 && !isConstant(data) ? "N" : String(dims[axis])) and \(outputs) outputs")
  }
  var first: Value?
  var offset = 0
  for (k, size) in sizes.enumerated() {
    var lo = [Int](repeating: 0, count: dims.count), hi = dims
    lo[axis] = offset
    hi[axis] = offset + size
    offset += size
    let value: Value
    switch data {
    case .constant(let c):
      if c.batchBroadcast && axis == 0 { throw usage(node, "splitting a constant broadcast over the batch along it") }
      _ = try ctx.reserveFolded(zip(lo, hi).map { $1 - $0 }, node)
      var part = c.slice(start: lo, end: hi)
      part.batchBroadcast = c.batchBroadcast
      part.isInteger = c.isInteger
      value = .constant(part)
    case .node(let id, _):
      guard axis >= 1 else { throw usage(node, "splitting the batch axis") }
      guard size > 0 else { throw usage(node, "an empty part (size 0) of a graph tensor") }
      value = try ctx.emit(
        .slice(start: Array(lo.dropFirst()), end: Array(hi.dropFirst())), inputs: [id], name: node.output[k],
        origin: "Split", onnxNode: node)
    }
    if k == 0 { first = value } else if !node.output[k].isEmpty { ctx.values[node.output[k]] = value }
  }
  return first!
}

func isConstant(_ v: Value) -> Bool {
  if case .constant = v { return true }
  return false
}

/// `Gather(data, indices)` of a graph tensor with constant indices on a per-example axis: an
/// ``LiftNN/Op/gather(axis:indices:)`` node, then a reshape when the indices are not a vector
/// (a scalar index drops the axis: `x[:, 0]`). Negative indices count from the end.
func gatherActivation(
  _ node: Onnx_NodeProto, _ ctx: inout ConversionContext, id: NodeID, shape: [Int], indices: Constant
) throws(ONNXImportError) -> Value {
  let axis = try normalizeAxis(Attributes(node).int("axis", 0), rank: shape.count + 1, node)
  guard axis >= 1 else { throw usage(node, "gathering along the batch axis") }
  guard let raw = indices.integers, !indices.containsBatchMarker else {
    throw usage(node, "indices must be integers known at import time")
  }
  let n = shape[axis - 1]
  var flat = [Int]()
  for i in raw {
    let j = i < 0 ? i + n : i
    guard j >= 0, j < n else { throw usage(node, "index \(i) out of range for extent \(n)") }
    flat.append(j)
  }
  guard !flat.isEmpty else { throw usage(node, "no indices") }
  let outShape = Array(shape[..<(axis - 1)]) + indices.dims + Array(shape[axis...])
  guard indices.rank != 1 else {
    return try ctx.emit(
      .gather(axis: axis, indices: flat), inputs: [id], name: node.output[0], origin: "Gather", onnxNode: node)
  }
  guard case .node(let g, _) = try ctx.emit(
    .gather(axis: axis, indices: flat), inputs: [id], name: node.output[0] + ":gather", origin: "Gather",
    onnxNode: node)
  else { preconditionFailure() }
  guard !outShape.isEmpty else { throw usage(node, "the result has no per-example axes") }
  return try ctx.emit(.reshape(outShape), inputs: [g], name: node.output[0], origin: "Gather", onnxNode: node)
}

/// A ``Constant/batchBroadcast`` constant as a graph tensor: an ``LiftNN/Op/constant(value:)``
/// node reading the first model input for its batch extent.
func emitBatchConstant(_ c: Constant, name: String, _ node: Onnx_NodeProto, _ ctx: inout ConversionContext)
  throws(ONNXImportError) -> (id: NodeID, shape: [Int])
{
  guard let carrier = ctx.nodes.indices.first(where: { ctx.nodes[$0].op.isInputNode }) else {
    preconditionFailure("the importer adds the inputs first")
  }
  guard case .node(let id, let shape) = try ctx.emit(
    .constant(value: c.exampleTensor), inputs: [NodeID(carrier)], name: name, origin: node.opType, onnxNode: node)
  else { preconditionFailure() }
  return (id, shape)
}

extension Op {
  var isInputNode: Bool {
    if case .input = self { return true }
    return false
  }
}

/// `ScatterND(data, indices, updates)` of constants (Swin's attention mask is built this way):
/// a copy of `data` with the slices `data[indices[t]]` replaced by (or, with `reduction`,
/// combined with) `updates[t]`. Negative indices count from the end.
func convertScatterND(_ node: Onnx_NodeProto, _ ctx: inout ConversionContext) throws(ONNXImportError) -> Value {
  let cs = try constantInputs(node, ctx)
  guard cs.count == 3 else { throw usage(node, "expects data, indices and updates") }
  let (data, indices, updates) = (cs[0], cs[1], cs[2])
  guard let idx = indices.integers, !indices.containsBatchMarker, let k = indices.dims.last, indices.rank >= 1,
    k <= data.rank
  else { throw usage(node, "indices must be integers known at import time, of shape [..., k ≤ \(data.rank)]") }
  guard updates.dims == Array(indices.dims.dropLast()) + Array(data.dims[k...]) else {
    throw usage(node, "updates of shape \(updates.dims) for indices \(indices.dims) and data \(data.dims)")
  }
  let reduction = Attributes(node).string("reduction") ?? "none"
  let combine: (Double, Double) -> Double
  switch reduction {
  case "none": combine = { _, u in u }
  case "add": combine = { $0 + $1 }
  case "mul": combine = { $0 * $1 }
  case "max": combine = { max($0, $1) }
  case "min": combine = { min($0, $1) }
  default: throw usage(node, "reduction '\(reduction)'")
  }
  _ = try ctx.reserveFolded(data.dims, node)
  let inner = data.dims[k...].reduce(1, *)
  let strides = Constant.strides(data.dims)
  var values = data.values
  let tuples = k == 0 ? updates.count / max(inner, 1) : idx.count / k
  for t in 0..<tuples {
    var offset = 0
    for i in 0..<k {
      let n = data.dims[i]
      let j = idx[t * k + i] < 0 ? idx[t * k + i] + n : idx[t * k + i]
      guard j >= 0, j < n else { throw usage(node, "index \(idx[t * k + i]) out of range for extent \(n)") }
      offset += j * strides[i]
    }
    for e in 0..<inner { values[offset + e] = combine(values[offset + e], updates.values[t * inner + e]) }
  }
  return .constant(Constant(dims: data.dims, values: values))
}

/// Whether the constant `node` computed has an integer element type, from its operands' and
/// attributes' types (ONNX's type rules for the ops that fold): shapes and comparisons are
/// integer (int64, bool), Cast and ConstantOfShape say, type-preserving ops keep their data
/// operand's, arithmetic its operands'.
func integerResult(_ node: Onnx_NodeProto, _ ctx: ConversionContext) -> Bool {
  func input(_ i: Int) -> Bool {
    guard i < node.input.count, case .constant(let c)? = ctx.values[node.input[i]] else { return false }
    return c.isInteger
  }
  switch node.opType {
  case "Shape", "Equal", "Less", "Greater", "Not", "Size": return true
  case "Cast": return ONNXDataType(rawValue: Attributes(node).int("to", 1))?.isInteger ?? false
  case "ConstantOfShape":
    guard let t = Attributes(node).tensor("value") else { return false }  // float 0 by default
    return ONNXDataType(rawValue: Int(t.dataType))?.isInteger ?? false
  case "Constant":
    let a = Attributes(node)
    if let t = a.tensor("value") { return ONNXDataType(rawValue: Int(t.dataType))?.isInteger ?? false }
    return a.has("value_ints") || a.has("value_int")
  case "Where": return input(1) && input(2)
  case "Add", "Sub", "Mul", "Div", "Mod", "Range", "Min", "Max", "Sum": return (0..<node.input.count).allSatisfy(input)
  default: return input(0)  // Reshape, Squeeze, Unsqueeze, Gather, Slice, Concat, Expand, Neg, Identity, …
  }
}

/// Slice with steps other than 1 (torch's `flip`, `x[..., ::2]`): the picked indices of each
/// axis, ONNX's clamping (`start` to `0…n−1` and `end` to `−1…n−1` for a negative step), as one
/// gather per axis — ``LiftNN/Op/gather(axis:indices:)`` nodes for a graph tensor (not on the
/// batch axis), folded for a constant.
func slicedWithSteps(
  _ node: Onnx_NodeProto, _ ctx: inout ConversionContext, data: Value, dims: [Int], axes: [Int], starts: [Int],
  ends: [Int], steps: [Int]
) throws(ONNXImportError) -> Value {
  var value = data
  for (k, a) in axes.enumerated() {
    let n = dims[a], step = steps[k]
    guard step != 0 else { throw usage(node, "slice step 0") }
    func norm(_ v: Int) -> Int { v < 0 ? v + n : v }
    let indices: [Int]
    if step > 0 {
      let lo = min(max(norm(starts[k]), 0), n), hi = min(max(norm(ends[k]), 0), n)
      indices = lo < hi ? Array(stride(from: lo, to: hi, by: step)) : []
    } else {
      let lo = min(max(norm(starts[k]), 0), n - 1), hi = min(max(norm(ends[k]), -1), n - 1)
      indices = lo > hi ? Array(stride(from: lo, to: hi, by: step)) : []
    }
    guard !indices.isEmpty else { throw usage(node, "an empty slice") }
    if indices == Array(0..<n) { continue }
    switch value {
    case .constant(let c):
      if c.batchBroadcast && a == 0 { throw usage(node, "slicing the batch axis of a constant broadcast over it") }
      let idx = Constant(dims: [indices.count], values: indices.map(Double.init))
      _ = try ctx.reserveFolded(c.gatherDims(indices: idx, axis: a), node)
      guard var g = c.gather(indices: idx, axis: a) else { preconditionFailure("indices in range") }
      (g.batchBroadcast, g.isInteger) = (c.batchBroadcast, c.isInteger)
      value = .constant(g)
    case .node(let id, _):
      guard a >= 1, ctx.view(id).isNormal else { throw usage(node, "slicing the batch axis") }
      value = try ctx.emit(
        .gather(axis: a, indices: indices), inputs: [id], name: node.output[0] + ":axis\(a)", origin: "Slice",
        onnxNode: node)
    }
  }
  if case .node(let id, _) = value, case .node(let original, _) = data, id == original {
    return try ctx.emit(.identity, inputs: [id], name: node.output[0], origin: "Slice", onnxNode: node)
  }
  return value
}

/// Transpose of a constant (Swin's relative-position tables), folded.
func transposeConstant(_ node: Onnx_NodeProto, _ ctx: inout ConversionContext, _ c: Constant)
  throws(ONNXImportError) -> Value
{
  let r = c.rank
  let perm = Attributes(node).ints("perm") ?? Array((0..<r).reversed())
  guard perm.count == r, Set(perm) == Set(0..<r) else { throw usage(node, "bad perm \(perm) for rank \(r)") }
  if c.batchBroadcast && perm.first != 0 { throw usage(node, "moving the batch axis of a constant broadcast over it") }
  let dims = perm.map { c.dims[$0] }
  _ = try ctx.reserveFolded(dims, node)
  let inStrides = Constant.strides(c.dims), outStrides = Constant.strides(dims)
  var values = [Double](repeating: 0, count: c.count)
  for flat in 0..<c.count {
    var src = 0, rem = flat
    for i in 0..<r {
      let q = rem / outStrides[i]
      rem %= outStrides[i]
      src += q * inStrides[perm[i]]
    }
    values[flat] = c.values[src]
  }
  var out = Constant(dims: dims, values: values)
  (out.batchBroadcast, out.isInteger) = (c.batchBroadcast, c.isInteger)
  return .constant(out)
}
