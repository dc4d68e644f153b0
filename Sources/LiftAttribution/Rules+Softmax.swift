import Foundation
import LiftNN
import LiftTensor

// The softmax family (see Rules.swift).
extension Propagation {
  /// Split of a softmax by the sign of its own Δy: its parts are not its operand's parts.
  mutating func softmaxSplit(_ id: NodeID) -> (pos: Tensor, neg: Tensor) {
    signSplit(delta(id))
  }

  /// Multipliers through a softmax along `axis`: collapsed by the sign of Δy, then the
  /// coupled DeepLIFT rule (``softmaxRule(_:axis:_:)``) or the Jacobian-vector product.
  mutating func softmaxMultipliers(_ id: NodeID, axis: Int, _ my: Multipliers) -> Multipliers {
    let my = collapsedBySign(id, my)
    switch modes[id.rawValue] ?? .rescale {
    case .rescale, .revealCancel: return softmaxRule(id, axis: axis, my)
    case .gradient, .guided: return softmaxGradient(id, axis: axis, my)
    }
  }

  /// Gradient (and guided) rule of a softmax along `axis`.
  func softmaxGradient(_ id: NodeID, axis: Int, _ my: Multipliers) -> Multipliers {
    // Jacobian-vector product: m_x = y ⊙ (m − Σ_axis m⊙y).
    let y = x[id.rawValue]!.tiledBatch(my.pos.shape[0] / pairs)
    return my.map { mt in
      let a = mt.shape.normalizedAxis(axis)
      let prod = Tensor.zip2(mt, y) { $0 * $1 }
      let dims = mt.shape.dimensions
      let n = dims[a], inner = dims[(a + 1)...].reduce(1, *), outer = dims[..<a].reduce(1, *)
      var out = prod.scalars
      let ys = y.scalars
      for o in 0..<outer {
        for i in 0..<inner {
          var s: Float = 0
          for j in 0..<n { s += prod.scalars[(o * n + j) * inner + i] }
          for j in 0..<n {
            let idx = (o * n + j) * inner + i
            out[idx] = prod.scalars[idx] - ys[idx] * s
          }
        }
      }
      return Tensor(shape: mt.shape, scalars: out)
    }
  }

  /// DeepLIFT rule of a softmax along `axis` (Rescale, RevealCancel and genomics-default
  /// alike), for multipliers `m` already collapsed by the sign of the node's Δy: tangermeme
  /// 1.6's `_softmax` (`_deep_lift_utils.py`), which chains exact multipliers through
  /// `aⱼ = exp(xⱼ − c)`, `s = Σ aᵢ`, `v = 1/s`, `yⱼ = aⱼ·v`, the product taken in log space
  /// (`Δlog yⱼ = Δxⱼ + Δlog v`):
  /// ```
  /// m_xⱼ = mⱼ·Dⱼ + (Δaⱼ/Δxⱼ)·(Δlog v/Δv)·(−v·v⁰)·Σᵢ mᵢ·Dᵢ,   Dⱼ = Δyⱼ / Δlog yⱼ
  /// ```
  /// With `L = log Σ eˣ`, `φ(t) = (eᵗ − 1)/t` (φ(0) = 1) and `Δzⱼ = Δxⱼ − ΔL` this is
  /// ```
  /// Dⱼ = y⁰ⱼ·φ(Δzⱼ),   m_xⱼ = mⱼ·Dⱼ − e^{x⁰ⱼ − L}·φ(Δxⱼ)/φ(−ΔL) · Σᵢ mᵢ·Dᵢ
  /// ```
  /// evaluated so in double precision (`expm1`: no 0/0 where a Δ vanishes; tangermeme falls
  /// back to the derivative below |Δ| = 1e-6, the same limit). Summation-to-delta:
  /// `Σⱼ e^{x⁰ⱼ − L}·φ(Δxⱼ)·Δxⱼ = 1 − e^{−ΔL} = φ(−ΔL)·ΔL`, so `Σⱼ m_xⱼΔxⱼ = Σⱼ mⱼDⱼ(Δxⱼ − ΔL)
  /// = Σⱼ mⱼΔyⱼ` across the coupled units. At `x = x⁰` it is the Jacobian-vector product
  /// `y⁰ ⊙ (m − Σ y⁰m)`. (The original applies elementwise Rescale, `m·Δyⱼ/Δxⱼ`, which loses
  /// `Δyⱼ` wherever `Δxⱼ ≈ 0` while the other units move.)
  func softmaxRule(_ id: NodeID, axis: Int, _ my: Multipliers) -> Multipliers {
    let input = graph[id].inputs[0]
    let xi = x[input.rawValue]!, ri = r[input.rawValue]!
    let a = xi.shape.normalizedAxis(axis)
    let dims = xi.shape.dimensions
    let n = dims[a], inner = dims[(a + 1)...].reduce(1, *), outer = dims[..<a].reduce(1, *)
    let size = xi.scalarCount
    /// φ(t) = (eᵗ − 1)/t.
    func phi(_ t: Double) -> Double { t == 0 ? 1 : expm1(t) / t }
    // Dⱼ and the coefficients cⱼ = e^{x⁰ⱼ − L}·φ(Δxⱼ)/φ(−ΔL), per unit of the [P, …] pairs.
    var d = [Double](repeating: 0, count: size), c = d
    xi.withUnsafeBufferPointer { xp in
      ri.withUnsafeBufferPointer { rp in
        func logSumExp(_ p: UnsafeBufferPointer<Float>, _ base: Int) -> Double {
          var top = -Double.infinity
          for j in 0..<n { top = max(top, Double(p[base + j * inner])) }
          guard top.isFinite else { return top }
          var sum = 0.0
          for j in 0..<n { sum += exp(Double(p[base + j * inner]) - top) }
          return top + log(sum)
        }
        for o in 0..<outer {
          for i in 0..<inner {
            let base = o * n * inner + i
            let l = logSumExp(xp, base), l0 = logSumExp(rp, base)
            let dl = l - l0
            let shared = 1 / phi(-dl)
            for j in 0..<n {
              let u = base + j * inner
              let x1 = Double(xp[u]), x0 = Double(rp[u])
              let dx = x1 - x0
              let dz = dx - dl
              // The secants directly where the Δ is not small (no overflow of e^{Δ}), through φ
              // where it is (no cancellation).
              d[u] = abs(dz) > 1e-3 ? (exp(x1 - l) - exp(x0 - l0)) / dz : exp(x0 - l0) * phi(dz)
              c[u] = (abs(dx) > 1e-3 ? (exp(x1 - l) - exp(x0 - l)) / dx : exp(x0 - l) * phi(dx)) * shared
            }
          }
        }
      }
    }
    return my.map { mt in
      Tensor(shape: mt.shape) { out in
        mt.withUnsafeBufferPointer { mp in
          let blocks = size > 0 ? mp.count / size : 0
          for t in 0..<blocks {
            for o in 0..<outer {
              for i in 0..<inner {
                let base = o * n * inner + i, shift = t * size
                var total = 0.0
                for j in 0..<n { total += Double(mp[shift + base + j * inner]) * d[base + j * inner] }
                for j in 0..<n {
                  let u = base + j * inner
                  out[shift + u] = Float(Double(mp[shift + u]) * d[u] - c[u] * total)
                }
              }
            }
          }
        }
      }
    }
  }
}
