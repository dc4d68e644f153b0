import Foundation
import LiftNN
import LiftTensor

// The normalisation family (see Rules.swift): layer norm and RMS norm over trailing axes.
//
// Neither is elementwise: every output of a group depends on every input of the group through
// the mean and the variance. With `a = x − μ` (layer norm; `a = x` for RMS norm),
// `σ² = mean(a²)`, `v = (σ² + ε)^(−1/2)` and `y = γ ⊙ a·v + β`, the difference from reference
// is exactly bilinear in `(a, v)`:
//
//   Δ(a·v) = v̄·Δa + ā·Δv,   v̄ = ½(v + v⁰),   ā = ½(a + a⁰)
//   Δv = ρ·Δσ²,             ρ = Δv/Δσ² = −v²v⁰² / (v + v⁰)
//   Δσ² = (1/D)·Σⱼ sⱼΔaⱼ = (1/D)·Σⱼ sⱼΔxⱼ,   s = a + a⁰
//
// (the last equality because Σⱼ aⱼ = Σⱼ a⁰ⱼ = 0 for layer norm), so
//
//   Δyᵢ = γᵢ·[v̄·(Δxᵢ − mean Δx) + ρ·sᵢ/(2D)·Σⱼ sⱼΔxⱼ]
//
// holds exactly, and the multipliers `m_xⱼ = Σᵢ mᵢ·∂Δyᵢ/∂Δxⱼ` keep summation-to-delta. This is
// tangermeme 1.6's `_layernorm` / `_rmsnorm` (`_layer_normalization_helper`); at `x⁰ = x` it
// is the Jacobian of the norm at `x`.
extension Propagation {
  /// Split of a norm by the sign of its own Δy: its parts are not its operand's parts (the
  /// norm mixes the units of a group and is not sign-structured).
  mutating func normalizationSplit(_ id: NodeID) -> (pos: Tensor, neg: Tensor) {
    signSplit(delta(id))
  }

  /// Multipliers through a norm: collapsed by the sign of Δy (``collapsedBySign(_:_:)``), then
  /// the DeepLIFT rule with the reference (Rescale, RevealCancel, genomics default) or the
  /// Jacobian at the input (gradient, guided, integrated gradients, input×gradient).
  mutating func normalizationMultipliers(_ id: NodeID, _ op: NormalizationOp, _ my: Multipliers) -> Multipliers {
    let my = collapsedBySign(id, my)
    let input = graph[id].inputs[0]
    let xi = x[input.rawValue]!
    switch modes[id.rawValue] ?? .rescale {
    case .rescale, .revealCancel: return normalizationRule(op, x: xi, reference: r[input.rawValue]!, my)
    case .gradient, .guided: return normalizationRule(op, x: xi, reference: xi, my)
    }
  }

  /// The norm's multipliers (see the derivation above) for symmetric multipliers `m`
  /// (`[T·P, …]`), operand values `x` and `reference` (`[P, …]`), in double precision:
  /// ```
  /// g̃ = γ ⊙ m
  /// m_xⱼ = v̄·(g̃ⱼ − mean g̃) + ρ·sⱼ/(2D)·Σᵢ g̃ᵢsᵢ     (RMS norm: no `mean g̃`)
  /// ```
  /// per group of `D` scalars, with `v̄`, `ρ`, `s` from `x` and `reference`. Memory: `s` holds
  /// one double per operand scalar of the `[P, …]` pairs (as softmax's secants do), transient
  /// and below the multipliers' share of the per-pair model of ``Explainer/batchPlan(shapes:referencesPerExample:sharedReferenceRows:tasks:budget:)``;
  /// the norm's output has its operand's size, so shape inference counts it like any other node.
  func normalizationRule(_ op: NormalizationOp, x xi: Tensor, reference ri: Tensor, _ my: Multipliers)
    -> Multipliers
  {
    let p = op.parameters
    let size = xi.shape.dimensions.suffix(p.axes).reduce(1, *)
    let count = xi.scalarCount
    let sx = normStatistics(xi, size: size, epsilon: p.epsilon, centred: op.centred)
    let sr = normStatistics(ri, size: size, epsilon: p.epsilon, centred: op.centred)
    let groups = sx.mean.count
    // Per group: v̄ and ρ/(2D); per scalar: s = a + a⁰.
    var vbar = [Double](repeating: 0, count: groups), coupling = vbar
    var s = [Double](repeating: 0, count: count)
    let d = Double(size)
    xi.withUnsafeBufferPointer { xp in
      ri.withUnsafeBufferPointer { rp in
        for g in 0..<groups {
          let v = sx.inverseDeviation[g], v0 = sr.inverseDeviation[g]
          vbar[g] = 0.5 * (v + v0)
          // Δv/Δσ² in closed form: the difference quotient cancels when σ² ≈ σ⁰².
          coupling[g] = -(v * v) * (v0 * v0) / (v + v0) / (2 * d)
          let base = g * size
          for j in 0..<size {
            s[base + j] = (Double(xp[base + j]) - sx.mean[g]) + (Double(rp[base + j]) - sr.mean[g])
          }
        }
      }
    }
    let gamma = p.scale?.scalars
    let centred = op.centred
    return my.map { mt in
      Tensor(shape: mt.shape) { out in
        mt.withUnsafeBufferPointer { mp in
          let blocks = count > 0 ? mp.count / count : 0
          var gt = [Double](repeating: 0, count: size)
          for t in 0..<blocks {
            for g in 0..<groups {
              let base = g * size, shift = t * count + base
              var mean = 0.0, dot = 0.0
              for j in 0..<size {
                let v = Double(mp[shift + j]) * (gamma.map { Double($0[j]) } ?? 1)
                gt[j] = v
                mean += v
                dot += v * s[base + j]
              }
              mean = centred ? mean / d : 0
              for j in 0..<size {
                out[shift + j] = Float(vbar[g] * (gt[j] - mean) + coupling[g] * s[base + j] * dot)
              }
            }
          }
        }
      }
    }
  }
}
