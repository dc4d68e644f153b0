import LiftNN
import LiftTensor

// The product family: multiply and matmul, products of two activations (see Rules.swift).
//
// For `y = a·b` (elementwise, or a matrix product) the change is exactly bilinear:
// ```
// Δy = b̄·Δa + ā·Δb,   ā = ½(a + a⁰),  b̄ = ½(b + b⁰)
// ```
// (expand `(a⁰ + Δa)(b⁰ + Δb) − a⁰b⁰`: the cross term `ΔaΔb` is split half and half). This is
// the Shapley value of the two operands (and of the four parts Δa⁺, Δa⁻, Δb⁺, Δb⁻: each
// interaction term of a bilinear map is shared equally by its two players), tangermeme's
// `_bilinear`: `m_a = b̄·m`, `m_b = ā·m` (matmul: `m_A = m·B̄ᵀ`, `m_B = Āᵀ·m`). So
// summation-to-delta holds exactly for Rescale, RevealCancel and genomics-default alike.
//
// Split (every DeepLIFT method, as dense): at the midpoint the product is linear in (Δa, Δb)
// with coefficients (b̄, ā), so its terms `b̄ᵢΔaᵢ` and `āᵢΔbᵢ` are split by sign:
// `Δy⁺ + Δy⁻ = Δy`, `Δy⁺ − Δy⁻ = |b̄|·|Δa| + |ā|·|Δb|`. The backward rule is that split's
// adjoint: an operand with Δa > 0 takes `m⁺b̄⁺ + m⁻b̄⁻`, with Δa < 0 `m⁺b̄⁻ + m⁻b̄⁺`, with
// Δa = 0 `½(m⁺ + m⁻)b̄` (b̄± = the positive/negative part of b̄), handed to both parts of the
// operand — exactly the dense rule with weights b̄. With m⁺ = m⁻ it is the bilinear rule.
//
// Gradient methods run with the input on both sides (x = x⁰), where the midpoint is the
// input itself and the rule is the Jacobian: `m_a = b·m`, `m_b = a·m`. Guided backprop only
// changes ReLUs, so it is the same here.
extension Propagation {
  /// `½(x + x⁰)` of node `id`'s output (`[P, …]`).
  func midpoint(_ id: NodeID) -> Tensor {
    Tensor.zip2(x[id.rawValue]!, r[id.rawValue]!) { 0.5 * ($0 + $1) }
  }

  /// Split of a product by the sign of each term of `b̄·Δa + ā·Δb` (see above).
  mutating func productSplit(_ id: NodeID, _ op: ProductOp) -> (pos: Tensor, neg: Tensor) {
    let node = graph[id]
    let (a, b) = (node.inputs[0], node.inputs[1])
    let absA = absolute(midpoint(a)), absB = absolute(midpoint(b))
    let da = absoluteDelta(a), db = absoluteDelta(b)
    let d: Tensor
    switch op {
    case .multiply: d = Tensor.sum(multiplied(da, absB), multiplied(absA, db))
    case .matmul: d = Tensor.sum(batchedMatmul(da, absB), batchedMatmul(absA, db))
    }
    return splitOwnDelta(id, d)
  }

  /// Multipliers a product hands its `operand`-th input: the adjoint of the product with the
  /// other operand held at its midpoint, split by sign when `m⁺ ≠ m⁻`. `full`: the operand's
  /// shape with the batch axis holding all T·P rows.
  mutating func productMultipliers(
    _ id: NodeID, _ op: ProductOp, operand k: Int, full: Shape, _ my: Multipliers
  ) -> Multipliers {
    let node = graph[id]
    let input = node.inputs[k]
    let coefficient = midpoint(node.inputs[1 - k])
    let tasks = pairs > 0 ? my.pos.shape[0] / pairs : 1
    let outShape = x.shape(id.rawValue)!
    // m (`[T·P, y…]`) through y = a·c (or c·a) with c fixed, summed back to the operand's shape.
    func back(_ m: Tensor, _ c: Tensor) -> Tensor {
      switch op {
      case .multiply:
        return summedToShape(m.multipliedTiled(broadcast(c, to: outShape)), full)
      case .matmul:
        let ct = c.tiledBatch(tasks)
        let product = k == 0 ? batchedMatmul(m, ct, transposeB: true) : batchedMatmul(ct, m, transposeA: true)
        return summedToShape(product, full)
      }
    }
    if my.isSymmetric { return Multipliers(pos: back(my.pos, coefficient), neg: nil) }
    let (sum, difference) = my.sumAndDifference
    let selected = signSelected(
      sum: back(sum, coefficient), difference: back(difference, absolute(coefficient)), input: input)
    return Multipliers(pos: selected, neg: nil)
  }
}
