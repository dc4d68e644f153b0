import LiftNN
import LiftTensor

// The merge family: add, subtract, average, maximum, minimum (see Rules.swift).
extension Propagation {
  /// Split of a merge: sums, means and differences of the operands' parts; maximum and
  /// minimum by the sign of their own Δy (their parts are not their operands').
  mutating func mergeSplit(_ id: NodeID, _ op: MergeOp) -> (pos: Tensor, neg: Tensor) {
    let node = graph[id]
    switch op {
    case .maximum, .minimum:
      // The original has no rule; re-deriving the parts from the sign of Δy keeps
      // Δy⁺ + Δy⁻ = Δy.
      return signSplit(delta(id))
    case .add: return splitOfParts(id) { $0.dropFirst().reduce($0[0]) { Tensor.sum($0, $1) } }
    case .average:
      let n = Float(node.inputs.count)
      return splitOfParts(id) { $0.dropFirst().reduce($0[0]) { Tensor.sum($0, $1) }.mapScalars { $0 / n } }
    case .subtract:
      let a = split(node.inputs[0]), b = split(node.inputs[1])
      return (Tensor.zip2(a.pos, b.neg) { $0 - $1 }, Tensor.zip2(a.neg, b.pos) { $0 - $1 })
    }
  }

  /// Multipliers a merge hands its `operand`-th input.
  mutating func mergeMultipliers(_ id: NodeID, _ op: MergeOp, operand k: Int, _ my: Multipliers) -> Multipliers {
    let node = graph[id]
    switch op {
    case .add: return my
    case .average:
      let w = 1 / Float(node.inputs.count)
      return my.map { $0.mapScalars { $0 * w } }
    case .subtract:
      // Δy⁺ = Δa⁺ − Δb⁻, Δy⁻ = Δa⁻ − Δb⁺: b's positive part is weighed by −m⁻, its negative
      // part by −m⁺.
      guard k == 1 else { return my }
      guard let neg = my.neg else { return my.map { $0.mapScalars { -$0 } } }
      return Multipliers(pos: neg.mapScalars { -$0 }, neg: my.pos.mapScalars { -$0 })
    case .maximum:
      return extremumRule(id, isMax: true, operand: k, collapsedBySign(id, my))
    case .minimum:
      return extremumRule(id, isMax: false, operand: k, collapsedBySign(id, my))
    }
  }

  /// Binary maximum / minimum. DeepLIFT modes write the op symmetrically through ReLUs,
  /// `max(a, b) = ½[(a + relu(b − a)) + (b + relu(a − b))]` (and `min` likewise with minus
  /// signs) and apply Rescale to each ReLU, so Σ m·Δ = Δy holds exactly; gradient modes route
  /// the multiplier to the larger (smaller) operand, the first on ties.
  mutating func extremumRule(_ id: NodeID, isMax: Bool, operand k: Int, _ my: Multipliers) -> Multipliers {
    let node = graph[id]
    let aID = node.inputs[0], bID = node.inputs[1]
    let mode = modes[id.rawValue] ?? .rescale
    if mode == .gradient || mode == .guided {
      let xa = x[aID.rawValue]!, xb = x[bID.rawValue]!
      let mask = Tensor.zip2(xa, xb) { a, b in
        let firstWins = isMax ? a >= b : a <= b
        return (k == 0) == firstWins ? 1 : 0
      }
      return my.map { $0.multipliedTiled(mask) }
    }
    let da = delta(aID), db = delta(bID)
    let ra = r[aID.rawValue]!, rb = r[bID.rawValue]!
    // s1: Rescale factor of relu(b − a), s2: of relu(a − b).
    func factor(_ d: Tensor, _ ref: Tensor) -> Tensor {
      Tensor.zip2(d, ref) { d, r0 in
        abs(d) < nearZero ? (r0 > 0 ? 1 : 0) : (max(r0 + d, 0) - max(r0, 0)) / d
      }
    }
    let dba = Tensor.zip2(db, da) { $0 - $1 }, rba = Tensor.zip2(rb, ra) { $0 - $1 }
    let dab = dba.mapScalars { -$0 }, rab = rba.mapScalars { -$0 }
    let s1 = factor(dba, rba), s2 = factor(dab, rab)
    // max: m_a = ½(1 − s1 + s2), m_b = ½(1 + s1 − s2); min: m_a = ½(1 − s2 + s1), m_b = ½(1 + s2 − s1).
    let coefficient = Tensor.zip2(s1, s2) { s1, s2 in
      let t = isMax ? s1 - s2 : s2 - s1
      return k == 0 ? 0.5 * (1 - t) : 0.5 * (1 + t)
    }
    return my.map { $0.multipliedTiled(coefficient) }
  }
}
