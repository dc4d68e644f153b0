import LiftNN
import LiftTensor

// Products of two graph tensors (Mul, Div) and Split, whose outputs beyond the first the
// converter writes itself.

/// Operators whose converter defines every output (the importer otherwise refuses a model
/// that reads any output but the first).
let operatorsWithSeveralOutputs: Set<String> = ["Split"]

extension ConversionContext {
  /// `a ⊙ b` (or `a ⊙ (1/b)` with `divide`) of two graph tensors of per-example shapes `sa`,
  /// `sb`: numpy broadcasting of equal ranks only, since a lower-rank operand would align
  /// its batch axis with another axis of the other operand and mix examples.
  mutating func emitProduct(
    a: (NodeID, [Int]), b: (NodeID, [Int]), divide: Bool, name: String, node: Onnx_NodeProto
  ) throws(ONNXImportError) -> Value {
    guard a.1.count == b.1.count else {
      throw usage(
        node,
        "operands of ranks \(a.1.count + 1) and \(b.1.count + 1) would broadcast the batch axis against another axis (per-example shapes \(a.1) and \(b.1))")
    }
    var rhs = b.0
    if divide {
      let inverse = try emit(.activation(.reciprocal), inputs: [b.0], name: name + ":reciprocal", origin: "Div", onnxNode: node)
      guard case .node(let id, _) = inverse else { preconditionFailure("emit returns a node") }
      rhs = id
    }
    return try emit(.multiply, inputs: [a.0, rhs], name: name, origin: node.opType, onnxNode: node)
  }
}

/// ONNX `Split`: the sizes from the `split` attribute (opset < 13) or input (13+), else
/// `num_outputs` (opset 18: chunks of ⌈n/k⌉, the last smaller) or the number of outputs (equal
/// parts). A constant is split at import; a graph tensor (along an axis other than the batch
/// axis) is lowered to one `slice` per output, named after that output. torch writes it for
/// `F.glu`/`nn.GLU` and `chunk`/`split` of a packed projection.
func splitConverter(sizesAsInput: Bool) -> ConvertFunction {
  { node, ctx throws(ONNXImportError) in
    let a = Attributes(node)
    let data = try ctx.value(node, 0)
    let dims: [Int]
    switch data {
    case .constant(let c): dims = c.dims
    case .node(_, let s): dims = [Int.max / 4] + s
    }
    let axis = try normalizeAxis(a.int("axis", 0), rank: dims.count, node)
    if case .node = data, axis == 0 { throw usage(node, "splitting the batch axis") }
    let n = dims[axis], k = node.output.count
    var sizes = sizesAsInput ? try ctx.integerInput(node, 1) : a.ints("split")
    if sizes == nil {
      let parts = a.has("num_outputs") ? a.int("num_outputs", k) : k
      guard parts >= 1, parts == k else { throw usage(node, "num_outputs \(parts) for \(k) outputs") }
      if a.has("num_outputs") {
        let chunk = (n + parts - 1) / parts
        sizes = (0..<parts).map { max(0, min(chunk, n - $0 * chunk)) }
      } else {
        guard n % parts == 0 else { throw usage(node, "axis of extent \(n) does not split into \(parts) equal parts") }
        sizes = [Int](repeating: n / parts, count: parts)
      }
    }
    guard let sizes, sizes.count == k, sizes.allSatisfy({ $0 >= 0 && $0 <= n }), sizes.reduce(0, +) == n else {
      throw usage(node, "split sizes \(sizes ?? []) do not cover the axis of extent \(n) in \(k) outputs")
    }
    var first: Value?
    var offset = 0
    for (i, size) in sizes.enumerated() {
      defer { offset += size }
      let out = node.output[i]
      var lo = [Int](repeating: 0, count: dims.count), hi = dims
      lo[axis] = offset
      hi[axis] = offset + size
      let value: Value
      switch data {
      case .constant(let c):
        _ = try ctx.reserveFolded(zip(lo, hi).map { $1 - $0 }, node)
        value = .constant(c.slice(start: lo, end: hi))
      case .node(let id, _):
        if out.isEmpty && i > 0 { continue }
        guard size > 0 else { throw usage(node, "output '\(out)' would be empty") }
        value = try ctx.emit(
          .slice(start: Array(lo.dropFirst()), end: Array(hi.dropFirst())), inputs: [id],
          name: out.isEmpty ? "\(displayName(node)):\(i)" : out, origin: "Split", onnxNode: node)
      }
      if i == 0 { first = value } else if !out.isEmpty { ctx.values[out] = value }
    }
    return first!
  }
}
