import Foundation
import LiftNN
import LiftTensor

// The reduction family: sum, mean, max and log-sum-exp over axes of each example (see
// Rules.swift and LiftKit.docc/AttributionRules.md).
extension Propagation {
  /// Split of a reduction: sums and means reduce each of their operand's parts (they are
  /// linear); max and log-sum-exp split by the sign of their own Δy (their parts are not
  /// their operand's, as max pools and softmax).
  mutating func reductionSplit(_ id: NodeID, _ kind: Reduction, axes: [Int], keepDims: Bool) -> (pos: Tensor, neg: Tensor) {
    switch kind {
    case .sum, .mean: return splitOfParts(id) { reduce($0[0], kind, axes: axes, keepDims: keepDims) }
    case .max, .logSumExp: return signSplit(delta(id))
    }
  }

  /// Multipliers through a reduction. Sum: each input element receives the multiplier of the
  /// output it adds into (the adjoint); mean: that times `1/n`. Max: the max-pool rules
  /// (``MaxPoolRule``), collapsed by the sign of Δy. Log-sum-exp: ``logSumExpRule(_:axes:input:_:)``
  /// under DeepLIFT, the softmax-weighted gradient otherwise. `full`: the operand's shape with
  /// the batch axis holding all T·P rows.
  mutating func reductionMultipliers(
    _ id: NodeID, _ kind: Reduction, axes: [Int], input: NodeID, full: Shape, _ my: Multipliers
  ) -> Multipliers {
    switch kind {
    case .sum:
      return my.map { broadcastReduced($0, to: full, axes: axes) }
    case .mean:
      let n = Float(ReductionLayout(full, axes: axes).count)
      return my.map { broadcastReduced($0, to: full, axes: axes).mapScalars { $0 / n } }
    case .max:
      // Global max pooling over `axes`: the same two rules, with the same routing code.
      let my = collapsedBySign(id, my)
      guard maxPoolRule == .deepshap, modeIsDeepLIFT(id) else {
        let idx = storedArgmax(input) { reduceMaxArgmax($0, axes: axes) }
        return my.map { routeMaxPool($0, input: input, indices: idx, full: full) }
      }
      let tasks = my.pos.shape[0] / pairs
      let xi = x[input.rawValue]!
      let idx = tiledIndices(reduceMaxArgmax(xi, axes: axes), count: xi.scalarCount, tasks: tasks)
      let routed = my.map { scatterAdd($0, indices: idx, inputShape: full) }
      let ridx = tiledIndices(reduceMaxArgmax(r[input.rawValue]!, axes: axes), count: xi.scalarCount, tasks: tasks)
      return deepShapMax(id, input: input, my, xIndices: idx, rIndices: ridx, routed: routed, full: full)
    case .logSumExp:
      let my = collapsedBySign(id, my)
      switch modes[id.rawValue] ?? .rescale {
      case .rescale, .revealCancel: return logSumExpRule(id, axes: axes, input: input, my, gradient: false)
      case .gradient, .guided: return logSumExpRule(id, axes: axes, input: input, my, gradient: true)
      }
    }
  }

  /// Multipliers through `y = L(x) = log Σⱼ e^{xⱼ}` over `axes`, for `m` already collapsed by
  /// the sign of the node's Δy: `m_xⱼ = m·wⱼ`.
  ///
  /// DeepLIFT (Rescale, RevealCancel and genomics-default alike): `L` is the chain
  /// `eⱼ = exp(xⱼ − c)`, `S = Σⱼ eⱼ`, `y = c + log S`, each step with its own secant, and a
  /// stabilising constant `c` subtracted on both sides (it cancels): `kⱼ = Δeⱼ/Δxⱼ` for the
  /// exps, the sum is linear, `g = Δlog S/ΔS = ΔL/ΔS` for the log, so
  /// ```
  /// wⱼ = g·kⱼ,   Σⱼ wⱼΔxⱼ = g·Σⱼ Δeⱼ = g·ΔS = ΔL
  /// ```
  /// and summation-to-delta holds exactly. `c = max(L(x), L(x⁰))` keeps every `eⱼ, e⁰ⱼ ≤ 1`
  /// and one of `S, S⁰` equal to 1 (tangermeme's `_softmax` subtracts a maximum the same way);
  /// `kⱼ = e⁰ⱼ·expm1(Δxⱼ)/Δxⱼ` for `|Δxⱼ| ≤ 1` (→ `e⁰ⱼ`, the derivative, as Δxⱼ → 0) and
  /// `g = ΔL/(S − S⁰)` with `S − S⁰` from `expm1(±ΔL)` (→ 1/S⁰ as ΔL → 0). At `x = x⁰` this is
  /// the gradient `softmax(x⁰)ⱼ`. Gradient modes: `wⱼ = softmax(x)ⱼ = e^{xⱼ − L(x)}`.
  /// Evaluated in double precision.
  func logSumExpRule(_ id: NodeID, axes: [Int], input: NodeID, _ my: Multipliers, gradient: Bool) -> Multipliers {
    let xi = x[input.rawValue]!, ri = r[input.rawValue]!
    let layout = ReductionLayout(xi.shape, axes: axes)
    let idx = layout.index, outputs = layout.outputs, size = xi.scalarCount
    var w = [Float](repeating: 0, count: size)
    xi.withUnsafeBufferPointer { xp in
      ri.withUnsafeBufferPointer { rp in
        let lx = logSumExps(xp, idx, outputs), lr = logSumExps(rp, idx, outputs)
        if gradient {
          for i in 0..<size { w[i] = Float(Foundation.exp(Double(xp[i]) - lx[idx[i]])) }
          return
        }
        // g per output: ΔL / ΔS with S = e^{L − c}, c = max(L, L⁰).
        var g = [Double](repeating: 0, count: outputs), c = g
        for o in 0..<outputs {
          let d = lx[o] - lr[o]
          c[o] = max(lx[o], lr[o])
          if d == 0 || !d.isFinite {
            // ΔL = 0: the derivative 1/S⁰ = e^{c − L⁰} = 1. (±∞ or NaN: no finite rule.)
            g[o] = d == 0 ? 1 : .nan
          } else {
            let ds = d > 0 ? -Foundation.expm1(-d) : Foundation.expm1(d)
            g[o] = d / ds
          }
        }
        for i in 0..<size {
          let o = idx[i]
          let x = Double(xp[i]), x0 = Double(rp[i])
          let dx = x - x0
          let e0 = Foundation.exp(x0 - c[o])
          let k = abs(dx) <= 1 ? (dx == 0 ? e0 : e0 * Foundation.expm1(dx) / dx) : (Foundation.exp(x - c[o]) - e0) / dx
          w[i] = Float(g[o] * k)
        }
      }
    }
    return my.map { mt in
      let tasks = size > 0 ? mt.scalarCount / outputs : 0
      precondition(tasks * outputs == mt.scalarCount, "log-sum-exp multipliers \(mt.shape) for \(xi.shape)")
      var full = xi.shape
      full[0] = xi.shape[0] * tasks
      return Tensor(shape: full) { out in
        mt.withUnsafeBufferPointer { mp in
          for t in 0..<tasks {
            let (si, so) = (t * size, t * outputs)
            for i in 0..<size { out[si + i] = mp[so + idx[i]] * w[i] }
          }
        }
      }
    }
  }
}

/// `log Σ eˣ` per output group of `idx` in double precision (the group's maximum first; ±∞
/// when it is ±∞).
func logSumExps(_ p: UnsafeBufferPointer<Float>, _ idx: [Int], _ outputs: Int) -> [Double] {
  var top = [Double](repeating: -.infinity, count: outputs)
  for i in 0..<p.count { top[idx[i]] = max(top[idx[i]], Double(p[i])) }
  var sum = [Double](repeating: 0, count: outputs)
  for i in 0..<p.count where top[idx[i]].isFinite { sum[idx[i]] += Foundation.exp(Double(p[i]) - top[idx[i]]) }
  return (0..<outputs).map { top[$0].isFinite ? top[$0] + Foundation.log(sum[$0]) : top[$0] }
}
