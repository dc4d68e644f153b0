// Softmax along one axis, computed stably (the maximum is subtracted before exponentiating).

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// Softmax along `axis` (of the full tensor; negative counts from the end):
///
/// ```
/// y[…, i, …] = exp(x[…, i, …] − m) / Σⱼ exp(x[…, j, …] − m),   m = maxⱼ x[…, j, …]
/// ```
///
/// Subtracting the maximum keeps every exponent ≤ 0 (no overflow); the sum is accumulated in
/// Float, which is exact enough for the extents of model outputs.
///
/// - Precondition: `axis` is in range.
/// - Complexity: O(x.scalarCount).
public func softmax(_ x: Tensor, axis: Int) -> Tensor {
  let a = x.shape.normalizedAxis(axis)
  let extent = x.shape[a]
  let inner = x.shape.dimensions[(a + 1)...].reduce(1, *)
  let outer = x.shape.dimensions[..<a].reduce(1, *)
  return Tensor(shape: x.shape) { out in
    guard out.count > 0 else { return }
    let yp = out.baseAddress!
    x.withUnsafeBufferPointer { xb in
      let xp = xb.baseAddress!
      var maxima = [Float](repeating: 0, count: inner)
      var sums = [Float](repeating: 0, count: inner)
      maxima.withUnsafeMutableBufferPointer { mb in
        sums.withUnsafeMutableBufferPointer { sb in
          let mp = mb.baseAddress!, sp = sb.baseAddress!
          for o in 0..<outer {
            let base = o &* extent &* inner
            // Columns i of the [extent, inner] block are the softmax vectors.
            mp.update(from: xp + base, count: inner)
            for e in 1..<max(extent, 1) {
              let row = xp + (base &+ e &* inner)
              for i in 0..<inner { mp[i] = row[i] > mp[i] ? row[i] : mp[i] }
            }
            sp.update(repeating: 0, count: inner)
            for e in 0..<extent {
              let src = xp + (base &+ e &* inner), dst = yp + (base &+ e &* inner)
              for i in 0..<inner {
                let v = expf(src[i] - mp[i])
                dst[i] = v
                sp[i] += v
              }
            }
            for i in 0..<inner { sp[i] = 1 / sp[i] }
            for e in 0..<extent {
              let dst = yp + (base &+ e &* inner)
              for i in 0..<inner { dst[i] *= sp[i] }
            }
          }
        }
      }
    }
  }
}
