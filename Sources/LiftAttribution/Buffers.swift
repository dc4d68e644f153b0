import LiftTensor

// Elementwise helpers for the backward pass. Multipliers of T tasks are stacked task-major
// (`[T·P, …]`) while pairwise quantities (Δ, scale factors, masks) have `P` rows, so the
// "tiled" helpers repeat the shorter operand T times. They work on raw buffers: these loops
// run once per scalar of every layer and must not pay for bounds checks or closures.

extension Tensor {
  /// `self ⊙ tile(s)`: `s.scalarCount` divides `scalarCount`.
  func multipliedTiled(_ s: Tensor) -> Tensor {
    Tensor.zipTiled(self, s) { $0 * $1 }
  }

  @inline(__always)
  static func zipTiled(_ m: Tensor, _ s: Tensor, _ f: (Float, Float) -> Float) -> Tensor {
    let n = m.scalarCount, k = s.scalarCount
    precondition(k > 0 ? n % k == 0 : n == 0, "cannot tile \(s.shape) over \(m.shape)")
    return Tensor(shape: m.shape) { out in
      m.withUnsafeBufferPointer { mp in
        s.withUnsafeBufferPointer { sp in
          var i = 0
          while i < n {
            for j in 0..<k { out[i &+ j] = f(mp[i &+ j], sp[j]) }
            i &+= k
          }
        }
      }
    }
  }

  /// Two tensors of one shape whose scalars `body` writes in one pass (it must initialise
  /// every element of both buffers).
  @inline(__always)
  static func pair(
    shape: Shape, _ body: (UnsafeMutableBufferPointer<Float>, UnsafeMutableBufferPointer<Float>) -> Void
  ) -> (Tensor, Tensor) {
    var second: Tensor? = nil
    let first = Tensor(shape: shape) { a in
      second = Tensor(shape: shape) { b in body(a, b) }
    }
    return (first, second!)
  }

  /// `a + b` for equal counts (shape of `a`).
  static func sum(_ a: Tensor, _ b: Tensor) -> Tensor {
    precondition(a.scalarCount == b.scalarCount, "sum of \(a.shape) and \(b.shape)")
    return Tensor(shape: a.shape) { out in
      a.withUnsafeBufferPointer { ap in
        b.withUnsafeBufferPointer { bp in
          for i in 0..<ap.count { out[i] = ap[i] + bp[i] }
        }
      }
    }
  }

  /// The tensor with its first axis replaced by `rows` copies of each row... repeated as a
  /// block: `[P, …] → [T·P, …]` (task-major tiling).
  func tiledBatch(_ times: Int) -> Tensor {
    if times == 1 { return self }
    var s = shape
    s[0] *= times
    var all = [Float]()
    all.reserveCapacity(scalarCount * times)
    for _ in 0..<times { all.append(contentsOf: scalars) }
    return Tensor(shape: s, scalars: all)
  }

  /// Each row of the first axis repeated `times` times in place: `[b, …] → [b·times, …]`.
  func repeatingRows(_ times: Int) -> Tensor {
    if times == 1 { return self }
    let rows = shape[0]
    let rowSize = rows == 0 ? 0 : scalarCount / rows
    var s = shape
    s[0] *= times
    return Tensor(shape: s) { out in
      withUnsafeBufferPointer { src in
        for r in 0..<rows {
          for t in 0..<times {
            let dst = (r * times + t) * rowSize
            for j in 0..<rowSize { out[dst + j] = src[r * rowSize + j] }
          }
        }
      }
    }
  }

  /// Rows `rows[i]` of the first axis, in order.
  func gatherRows(_ rows: [Int]) -> Tensor {
    let n = shape[0]
    let rowSize = n == 0 ? 0 : scalarCount / n
    var s = shape
    s[0] = rows.count
    return Tensor(shape: s) { out in
      withUnsafeBufferPointer { src in
        for (i, r) in rows.enumerated() {
          for j in 0..<rowSize { out[i * rowSize + j] = src[r * rowSize + j] }
        }
      }
    }
  }

  /// Elementwise map over the scalars (kept in this module so the closure specialises).
  @inline(__always)
  func mapScalars(_ f: (Float) -> Float) -> Tensor {
    Tensor(shape: shape) { out in
      withUnsafeBufferPointer { src in
        for i in 0..<src.count { out[i] = f(src[i]) }
      }
    }
  }

  @inline(__always)
  static func zip3(_ a: Tensor, _ b: Tensor, _ c: Tensor, _ f: (Float, Float, Float) -> Float) -> Tensor {
    precondition(a.scalarCount == b.scalarCount && b.scalarCount == c.scalarCount)
    return Tensor(shape: a.shape) { out in
      a.withUnsafeBufferPointer { ap in
        b.withUnsafeBufferPointer { bp in
          c.withUnsafeBufferPointer { cp in
            for i in 0..<ap.count { out[i] = f(ap[i], bp[i], cp[i]) }
          }
        }
      }
    }
  }

  @inline(__always)
  static func zip2(_ a: Tensor, _ b: Tensor, _ f: (Float, Float) -> Float) -> Tensor {
    precondition(a.scalarCount == b.scalarCount, "zip of \(a.shape) and \(b.shape)")
    return Tensor(shape: a.shape) { out in
      a.withUnsafeBufferPointer { ap in
        b.withUnsafeBufferPointer { bp in
          for i in 0..<ap.count { out[i] = f(ap[i], bp[i]) }
        }
      }
    }
  }

  /// Sum of each row of the first axis, in double precision.
  func rowSums() -> [Double] {
    let n = shape[0]
    let rowSize = n == 0 ? 0 : scalarCount / n
    return withUnsafeBufferPointer { p in
      (0..<n).map { r in
        var s = 0.0
        for j in 0..<rowSize { s += Double(p[r * rowSize + j]) }
        return s
      }
    }
  }

  /// The same scalars with the first axis resized to `rows` (count must match).
  func withBatch(_ rows: Int) -> Tensor {
    var s = shape
    s[0] = rows
    return reshaped(s)
  }
}
