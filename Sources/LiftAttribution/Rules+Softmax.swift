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
  /// alike), for multipliers `m` already collapsed by the sign of the node's Δy. Each output
  /// is `yⱼ = exp(zⱼ)` with `zⱼ = xⱼ − L(x)`, `L = log Σᵢ exp(xᵢ)`: Rescale on the exp with
  /// the secant `kⱼ = Δyⱼ/Δzⱼ` gives `Δyⱼ = kⱼ(Δxⱼ − ΔL)`, and because `Σⱼ Δyⱼ = 0` the shared
  /// `ΔL = Σⱼ kⱼΔxⱼ / Σⱼ kⱼ` exactly. So
  /// ```
  /// m_xⱼ = kⱼ·(mⱼ − m̄),   m̄ = Σᵢ kᵢmᵢ / Σᵢ kᵢ,   kⱼ = (e^{zⱼ} − e^{z⁰ⱼ}) / (zⱼ − z⁰ⱼ)
  /// ```
  /// (`kⱼ → y⁰ⱼ` as `Δzⱼ → 0`), and `Σⱼ m_xⱼΔxⱼ = Σⱼ mⱼΔyⱼ`: summation-to-delta holds across
  /// the coupled units. At `x = x⁰` this is the softmax's Jacobian-vector product
  /// `y⁰ ⊙ (m − Σ y⁰m)`. (The original applies elementwise Rescale, `m·Δyⱼ/Δxⱼ`, which loses
  /// `Δyⱼ` wherever `Δxⱼ ≈ 0` while the other units move.) Evaluated in double precision.
  func softmaxRule(_ id: NodeID, axis: Int, _ my: Multipliers) -> Multipliers {
    let input = graph[id].inputs[0]
    let xi = x[input.rawValue]!, ri = r[input.rawValue]!
    let a = xi.shape.normalizedAxis(axis)
    let dims = xi.shape.dimensions
    let n = dims[a], inner = dims[(a + 1)...].reduce(1, *), outer = dims[..<a].reduce(1, *)
    let size = xi.scalarCount
    // Secants kⱼ and the normalised weights kⱼ / Σᵢ kᵢ, per unit of the [P, …] pairs.
    var k = [Double](repeating: 0, count: size), w = k
    xi.withUnsafeBufferPointer { xp in
      ri.withUnsafeBufferPointer { rp in
        func logSumExp(_ p: UnsafeBufferPointer<Float>, _ base: Int) -> Double {
          var top = -Double.infinity
          for j in 0..<n { top = max(top, Double(p[base + j * inner])) }
          var sum = 0.0
          for j in 0..<n { sum += exp(Double(p[base + j * inner]) - top) }
          return top + log(sum)
        }
        for o in 0..<outer {
          for i in 0..<inner {
            let base = o * n * inner + i
            let lx = logSumExp(xp, base), lr = logSumExp(rp, base)
            var total = 0.0
            for j in 0..<n {
              let u = base + j * inner
              let z = Double(xp[u]) - lx, z0 = Double(rp[u]) - lr
              let dz = z - z0
              let y0 = exp(z0)
              // Near Δz = 0 the secant's quotient loses its digits; its series does not.
              k[u] = abs(dz) < 1e-5 ? y0 * (1 + dz * (0.5 + dz / 6)) : (exp(z) - y0) / dz
              total += k[u]
            }
            for j in 0..<n {
              let u = base + j * inner
              w[u] = total > 0 ? k[u] / total : 0
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
                var mean = 0.0
                for j in 0..<n { mean += w[base + j * inner] * Double(mp[shift + base + j * inner]) }
                for j in 0..<n {
                  let u = base + j * inner
                  out[shift + u] = Float(k[u] * (Double(mp[shift + u]) - mean))
                }
              }
            }
          }
        }
      }
    }
  }
}
