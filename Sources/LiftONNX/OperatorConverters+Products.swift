import LiftNN
import LiftTensor

// Products of two graph tensors (Mul, Div, MatMul, Einsum).

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
