// Elementwise arithmetic and reductions on tensors of equal shape.

/// The four binary operations, chosen outside the inner loop.
private enum BinaryOperation { case add, subtract, multiply, divide }

private func elementwise(_ a: Tensor, _ b: Tensor, _ op: BinaryOperation, _ symbol: String) -> Tensor {
  precondition(
    a.shape == b.shape, "\(a.shape) \(symbol) \(b.shape): shapes differ (use broadcast(_:to:) first)")
  return Tensor(shape: a.shape) { out in
    guard out.count > 0 else { return }
    a.withUnsafeBufferPointer { ab in
      b.withUnsafeBufferPointer { bb in
        let x = ab.baseAddress!
        let y = bb.baseAddress!
        let z = out.baseAddress!
        let n = out.count
        switch op {
        case .add: for i in 0..<n { z[i] = x[i] + y[i] }
        case .subtract: for i in 0..<n { z[i] = x[i] - y[i] }
        case .multiply: for i in 0..<n { z[i] = x[i] * y[i] }
        case .divide: for i in 0..<n { z[i] = x[i] / y[i] }
        }
      }
    }
  }
}

extension Tensor {
  /// Elementwise sum. - Precondition: equal shapes.
  public static func + (a: Tensor, b: Tensor) -> Tensor { elementwise(a, b, .add, "+") }
  /// Elementwise difference. - Precondition: equal shapes.
  public static func - (a: Tensor, b: Tensor) -> Tensor { elementwise(a, b, .subtract, "-") }
  /// Elementwise (Hadamard) product. - Precondition: equal shapes.
  public static func * (a: Tensor, b: Tensor) -> Tensor { elementwise(a, b, .multiply, "*") }
  /// Elementwise quotient (IEEE: x/0 = ±∞ or NaN). - Precondition: equal shapes.
  public static func / (a: Tensor, b: Tensor) -> Tensor { elementwise(a, b, .divide, "/") }

  /// Every scalar multiplied by `s`.
  public static func * (s: Float, t: Tensor) -> Tensor {
    Tensor(shape: t.shape) { out in
      guard out.count > 0 else { return }
      t.withUnsafeBufferPointer { tb in
        let x = tb.baseAddress!
        let z = out.baseAddress!
        for i in 0..<out.count { z[i] = s * x[i] }
      }
    }
  }

  /// Every scalar multiplied by `s`.
  public static func * (t: Tensor, s: Float) -> Tensor { s * t }

  /// Every scalar negated.
  public static prefix func - (t: Tensor) -> Tensor { -1 * t }

  /// In-place elementwise sum. - Precondition: equal shapes.
  public static func += (a: inout Tensor, b: Tensor) {
    precondition(a.shape == b.shape, "\(a.shape) += \(b.shape): shapes differ")
    guard a.scalarCount > 0 else { return }
    b.withUnsafeBufferPointer { bb in
      a.withUnsafeMutableBufferPointer { ab in
        let x = ab.baseAddress!
        let y = bb.baseAddress!
        for i in 0..<ab.count { x[i] += y[i] }
      }
    }
  }

  /// `f` applied to every scalar (same shape). Inlinable, so `f` is inlined at the call site
  /// in optimised builds.
  @inlinable
  public func map(_ f: (Float) -> Float) -> Tensor {
    let values = scalars.withUnsafeBufferPointer { src in
      [Float](unsafeUninitializedCapacity: src.count) { dst, count in
        for i in 0..<src.count { dst[i] = f(src[i]) }
        count = src.count
      }
    }
    return Tensor(shape: shape, scalars: values)
  }

  /// `f(self[i], other[i])` for every flat index `i` (same shape).
  ///
  /// - Precondition: `shape == other.shape`.
  @inlinable
  public func zipMap(_ other: Tensor, _ f: (Float, Float) -> Float) -> Tensor {
    precondition(shape == other.shape, "zipMap: shapes \(shape) and \(other.shape) differ")
    let values = scalars.withUnsafeBufferPointer { a in
      other.scalars.withUnsafeBufferPointer { b in
        [Float](unsafeUninitializedCapacity: a.count) { dst, count in
          for i in 0..<a.count { dst[i] = f(a[i], b[i]) }
          count = a.count
        }
      }
    }
    return Tensor(shape: shape, scalars: values)
  }

  /// The sum of all scalars, accumulated in `Double`.
  public func sum() -> Double {
    withUnsafeBufferPointer { b in
      var s = 0.0
      for v in b { s += Double(v) }
      return s
    }
  }

  /// `Σᵢ self[i] · other[i]` accumulated in `Double` (the inner product ⟨self, other⟩).
  ///
  /// - Precondition: equal shapes.
  public func dot(_ other: Tensor) -> Double {
    precondition(shape == other.shape, "dot: shapes \(shape) and \(other.shape) differ")
    return withUnsafeBufferPointer { ab in
      other.withUnsafeBufferPointer { bb in
        var s = 0.0
        for i in 0..<ab.count { s += Double(ab[i]) * Double(bb[i]) }
        return s
      }
    }
  }

  /// Sum over `axis` (negative counts from the end), which is removed from the shape;
  /// accumulated in `Double` per output element.
  ///
  /// - Precondition: `axis` is in range.
  public func sum(alongAxis axis: Int) -> Tensor {
    let a = shape.normalizedAxis(axis)
    let outer = shape.dimensions[..<a].reduce(1, *)
    let extent = shape[a]
    let inner = shape.dimensions[(a + 1)...].reduce(1, *)
    var outShape = shape.dimensions
    outShape.remove(at: a)
    var acc = [Double](repeating: 0, count: outer * inner)
    withUnsafeBufferPointer { xb in
      acc.withUnsafeMutableBufferPointer { ab in
        for o in 0..<outer {
          for e in 0..<extent {
            let src = o &* extent &* inner &+ e &* inner
            let dst = o &* inner
            for i in 0..<inner { ab[dst &+ i] += Double(xb[src &+ i]) }
          }
        }
      }
    }
    return Tensor(shape: Shape(outShape), scalars: acc.map { Float($0) })
  }
}
