import LiftTestSupport
import Testing

@testable import LiftTensor

/// The product kernels of issue 19 against naive double-precision loops over multi-indices,
/// on every broadcast pattern of tiny shapes.
@Suite("Product kernels: broadcast multiply, sum to shape, batched matmul")
struct ProductKernelTests {
  /// Row-major multi-index of flat `i` in `dims`.
  static func index(_ i: Int, _ dims: [Int]) -> [Int] {
    var rest = i
    var out = [Int](repeating: 0, count: dims.count)
    for a in stride(from: dims.count - 1, through: 0, by: -1) where dims[a] > 0 {
      out[a] = rest % dims[a]
      rest /= dims[a]
    }
    return out
  }

  /// Flat index of `idx` in `dims`, reading extent-1 axes at 0 (broadcast).
  static func flat(_ idx: [Int], _ dims: [Int]) -> Int {
    zip(idx, dims).reduce(0) { $0 * $1.1 + ($1.1 == 1 ? 0 : $1.0) }
  }

  /// Every shape of rank 3 whose extents are `full`'s or 1.
  static func patterns(_ full: [Int]) -> [[Int]] {
    (0..<(1 << full.count)).map { mask in full.enumerated().map { mask & (1 << $0.offset) != 0 ? 1 : $0.element } }
  }

  @Test("multiplied and summedToShape on every broadcast pattern of [2, 3, 4]")
  func multiplyGrid() {
    var rng = SplitMix64(seed: 190)
    let full = [2, 3, 4]
    for pa in Self.patterns(full) {
      for pb in Self.patterns(full) {
        let a = Tensor.random(Shape(pa), using: &rng), b = Tensor.random(Shape(pb), using: &rng)
        let out = zip(pa, pb).map { max($0, $1) }
        let count = out.reduce(1, *)
        let expected = (0..<count).map { i -> Float in
          let idx = Self.index(i, out)
          return Float(Double(a.scalars[Self.flat(idx, pa)]) * Double(b.scalars[Self.flat(idx, pb)]))
        }
        expectClose(multiplied(a, b), Tensor(shape: Shape(out), scalars: expected), "\(pa) ⊙ \(pb)")
        // The adjoint of broadcasting `a` to `out`: the sum over the axes where pa is 1.
        let t = Tensor.random(Shape(out), using: &rng)
        var sums = [Double](repeating: 0, count: pa.reduce(1, *))
        for i in 0..<count { sums[Self.flat(Self.index(i, out), pa)] += Double(t.scalars[i]) }
        expectClose(summedToShape(t, Shape(pa)), Tensor(shape: Shape(pa), scalars: sums.map(Float.init)), "sum to \(pa)")
      }
    }
  }

  @Test("batchedMatmul with broadcast leading axes and every transpose combination")
  func matmulGrid() {
    var rng = SplitMix64(seed: 191)
    let (m, k, n) = (3, 4, 2)
    for (la, lb) in [([2, 3], [2, 3]), ([1, 3], [2, 1]), ([2, 1], [1, 1]), ([1], [4]), ([0], [0])] {
      for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
        let a = Tensor.random(Shape(la + (ta ? [k, m] : [m, k])), using: &rng)
        let b = Tensor.random(Shape(lb + (tb ? [n, k] : [k, n])), using: &rng)
        let lead = zip(la, lb).map { $0 == 1 ? $1 : $0 }
        let batches = lead.reduce(1, *)
        var expected = [Float]()
        for q in 0..<batches {
          let idx = Self.index(q, lead)
          let oa = Self.flat(idx, la) * m * k, ob = Self.flat(idx, lb) * k * n
          for i in 0..<m {
            for j in 0..<n {
              var s = 0.0
              for p in 0..<k {
                let av = a.scalars[oa + (ta ? p * m + i : i * k + p)]
                let bv = b.scalars[ob + (tb ? j * k + p : p * n + j)]
                s += Double(av) * Double(bv)
              }
              expected.append(Float(s))
            }
          }
        }
        expectClose(
          batchedMatmul(a, b, transposeA: ta, transposeB: tb), Tensor(shape: Shape(lead + [m, n]), scalars: expected),
          "\(la) · \(lb) ta \(ta) tb \(tb)")
      }
    }
  }
}
