import LiftNN
import LiftTensor

// The structural family: reshape, transpose, pad, slice, concat, identity, gather, and the
// per-example constant (see Rules.swift).
extension Propagation {
  /// Split of a structural node: linear ops with 0/1 coefficients act on each part as on the
  /// whole (pad adds zeros: the padding does not move).
  /// A per-example constant has Δ = 0: both parts are zero (its value is bias, not score).
  mutating func structuralSplit(_ id: NodeID, _ op: StructuralOp) -> (pos: Tensor, neg: Tensor) {
    let forward: Op
    switch op {
    case .pad(let before, let after): forward = .pad(before: before, after: after, value: 0)
    case .reshape, .transpose, .slice, .concat, .identity, .gather: forward = graph[id].op
    case .constant:
      let zero = Tensor(repeating: 0, shape: delta(id).shape)
      return (zero, zero)
    }
    return splitOfParts(id) { evaluate(forward, $0) }
  }

  /// Multipliers through a structural node: the op's adjoint on each part, for the
  /// `operand`-th input (concat). `full`: the operand's shape with the batch axis holding all
  /// T·P rows.
  func structuralMultipliers(
    _ id: NodeID, _ op: StructuralOp, operand k: Int, full: Shape, _ my: Multipliers
  ) -> Multipliers {
    let node = graph[id]
    switch op {
    case .reshape: return my.map { $0.reshaped(full) }
    case .transpose(let perm):
      var inverse = perm
      for (i, p) in perm.enumerated() { inverse[p] = i }
      return my.map { transposed($0, permutation: inverse) }
    case .pad(let before, _):
      return my.map { mt in
        sliced(mt, start: [0] + before,
               end: [mt.shape[0]] + (1..<full.rank).map { before[$0 - 1] + full.dimensions[$0] })
      }
    case .slice(let start):
      return my.map { mt in
        padded(mt, before: [0] + start,
               after: [0] + (1..<full.rank).map { full.dimensions[$0] - start[$0 - 1] - mt.shape.dimensions[$0] },
               value: 0)
      }
    case .concat(let axis):
      let a = full.normalizedAxis(axis)
      let offset = node.inputs[..<k].reduce(0) { $0 + r.shape($1.rawValue)![a] }
      var start = [Int](repeating: 0, count: full.rank), end = my.pos.shape.dimensions
      start[a] = offset
      end[a] = offset + full[a]
      return my.map { sliced($0, start: start, end: end) }
    case .identity: return my
    case .gather(let axis, let indices):
      // Adjoint of a pick: each output element's multiplier goes back to the element it
      // copied, added where an index repeats.
      let a = full.normalizedAxis(axis)
      return my.map { scatteredAdd($0, axis: a, indices: indices, extent: full[a]) }
    case .constant:
      // The operand only lends its batch extent: the output does not depend on its values.
      return my.map { _ in Tensor(repeating: 0, shape: full) }
    }
  }
}
