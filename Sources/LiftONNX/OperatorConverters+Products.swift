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

/// ONNX `Einsum` of two graph tensors when it is a batched matrix product, as torch writes
/// attention (`bhqd,bhkd->bhqk`, `bhqk,bhkd->bhqd`): one contracted index, one free index per
/// operand, every other index shared by both operands and the output, and the batch axis
/// first in all three. Lowered to `transpose`s and one `matmul`; any other equation is refused
/// naming it.
func convertEinsum(_ node: Onnx_NodeProto, _ ctx: inout ConversionContext) throws(ONNXImportError) -> Value {
  let equation = Attributes(node).string("equation") ?? ""
  func refuse() -> ONNXImportError {
    usage(
      node,
      "equation '\(equation)' is not a batched matrix product of two graph tensors (one contracted index, one free index per operand, the batch index first everywhere, e.g. 'bhqd,bhkd->bhqk')")
  }
  let compact = equation.filter { !$0.isWhitespace }
  let sides = compact.components(separatedBy: "->")
  guard sides.count == 2, node.input.count == 2 else { throw refuse() }
  let terms = sides[0].split(separator: ",", omittingEmptySubsequences: false).map(Array.init)
  let o = Array(sides[1])
  guard terms.count == 2 else { throw refuse() }
  let (a, b) = (terms[0], terms[1])
  guard case .node(let ida, let sa) = try ctx.value(node, 0), case .node(let idb, let sb) = try ctx.value(node, 1) else {
    throw usage(node, "both operands must be computed from the model inputs (a constant operand is not supported)")
  }
  let letters = a + b + o
  guard letters.allSatisfy({ $0.isLetter && $0.isASCII }), Set(a).count == a.count, Set(b).count == b.count,
    Set(o).count == o.count, a.count == sa.count + 1, b.count == sb.count + 1
  else { throw refuse() }
  let contracted = a.filter { b.contains($0) && !o.contains($0) }
  let freeA = a.filter { !b.contains($0) }, freeB = b.filter { !a.contains($0) }
  let batch = o.filter { a.contains($0) && b.contains($0) }
  guard contracted.count == 1, freeA.count == 1, freeB.count == 1, o.allSatisfy({ a.contains($0) || b.contains($0) }),
    freeA.allSatisfy(o.contains), freeB.allSatisfy(o.contains), batch.count == a.count - 2, batch.count == b.count - 2,
    let first = batch.first, a[0] == first, b[0] == first, o[0] == first
  else { throw refuse() }
  let name = node.output[0]
  /// The operand `id` with letters `have` permuted to `want` (a transpose unless equal).
  func arranged(_ id: NodeID, _ have: [Character], _ want: [Character], _ suffix: String) throws(ONNXImportError) -> NodeID {
    let perm = want.map { have.firstIndex(of: $0)! }
    guard perm != Array(perm.indices) else { return id }
    guard case .node(let t, _) = try ctx.emit(.transpose(perm), inputs: [id], name: name + suffix, origin: "Einsum", onnxNode: node)
    else { preconditionFailure("emit returns a node") }
    return t
  }
  let lhs = try arranged(ida, a, batch + freeA + contracted, ":lhs")
  let rhs = try arranged(idb, b, batch + contracted + freeB, ":rhs")
  let product = batch + freeA + freeB
  let perm = o.map { product.firstIndex(of: $0)! }
  if perm == Array(perm.indices) {
    return try ctx.emit(.matmul, inputs: [lhs, rhs], name: name, origin: "Einsum", onnxNode: node)
  }
  guard case .node(let m, _) = try ctx.emit(.matmul, inputs: [lhs, rhs], name: name + ":matmul", origin: "Einsum", onnxNode: node)
  else { preconditionFailure("emit returns a node") }
  return try ctx.emit(.transpose(perm), inputs: [m], name: name, origin: "Einsum", onnxNode: node)
}
