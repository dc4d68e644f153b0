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
//
// Conditioning. The split above is the λ = ½ member of the exact family
//
//   Δ(a·v) = c·Δa + ã·Δv,   c = λv + (1−λ)v⁰,   ã = (1−λ)a + λa⁰     (any λ)
//
// At a constant reference group (a⁰ = 0, v⁰ = ε^(−1/2): a zero reference through zero biases)
// the λ = ½ terms are of order a·v⁰/2 and cancel to a·v, and every such norm multiplies the
// cancellation (ConvNeXt: Σ|scores| ~ 1e13·|Δ|, in exact arithmetic too). The rule weights the
// split by how degenerate each side is, w = ε·v² = ε/(σ² + ε) ∈ (0, 1]:
//
//   λ = ½ + ½(w⁰² − w²)
//
// so a constant reference group (w⁰ = 1) gets c ≈ v, ã ≈ (w²/2)·a (no cancellation), a
// constant input group the mirror image, and groups with σ², σ⁰² ≫ ε stay within O((ε/σ²)²)
// of tangermeme's split (λ = ½ exactly at ε = 0 or x⁰ = x).
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
  /// m_xⱼ = c·(g̃ⱼ − mean g̃) + (ρ/D)·sⱼ·Σᵢ g̃ᵢãᵢ     (RMS norm: no `mean g̃`)
  /// ```
  /// per group of `D` scalars, with `c`, `ã` (the split weighted by `λ`), `ρ`, `s` from `x`
  /// and `reference` (tangermeme's `v̄`, `s/2` where `λ = ½`). Memory: `s` holds
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
    // Per group: λ, c and ρ/D; per scalar: s = a + a⁰ (ã = (1−λ)a + λa⁰ is formed on the fly).
    var lambda = [Double](repeating: 0.5, count: groups), cw = lambda, coupling = lambda
    var s = [Double](repeating: 0, count: count)
    let d = Double(size), eps = Double(p.epsilon)
    xi.withUnsafeBufferPointer { xp in
      ri.withUnsafeBufferPointer { rp in
        for g in 0..<groups {
          let v = sx.inverseDeviation[g], v0 = sr.inverseDeviation[g]
          // The split's weight: ½ (tangermeme) unless a side's group is (near) constant.
          if eps > 0 {
            let w = eps * v * v, w0 = eps * v0 * v0
            lambda[g] = 0.5 + 0.5 * (w0 * w0 - w * w)
          }
          cw[g] = lambda[g] * v + (1 - lambda[g]) * v0
          // Δv/Δσ² in closed form: the difference quotient cancels when σ² ≈ σ⁰².
          coupling[g] = -(v * v) * (v0 * v0) / (v + v0) / d
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
          xi.withUnsafeBufferPointer { xp in
            ri.withUnsafeBufferPointer { rp in
              let blocks = count > 0 ? mp.count / count : 0
              var gt = [Double](repeating: 0, count: size)
              for t in 0..<blocks {
                for g in 0..<groups {
                  let base = g * size, shift = t * count + base
                  let l = lambda[g], mu = sx.mean[g], mu0 = sr.mean[g]
                  var mean = 0.0, dot = 0.0
                  for j in 0..<size {
                    let v = Double(mp[shift + j]) * (gamma.map { Double($0[j]) } ?? 1)
                    gt[j] = v
                    mean += v
                    // ã = (1−λ)a + λa⁰
                    dot += v * ((1 - l) * (Double(xp[base + j]) - mu) + l * (Double(rp[base + j]) - mu0))
                  }
                  mean = centred ? mean / d : 0
                  for j in 0..<size {
                    out[shift + j] = Float(cw[g] * (gt[j] - mean) + coupling[g] * s[base + j] * dot)
                  }
                }
              }
            }
          }
        }
      }
    }
  }
}
