import LiftTestSupport
import Testing

@testable import LiftTensor

@Suite("Elementwise and broadcasting")
struct ElementwiseTests {
  @Test("broadcast and broadcastMultiplyAdd for every pattern of extent-1 axes, both ranks")
  func broadcasting() {
    var rng = SplitMix64(seed: 41)
    for dims in [[2, 3, 4], [3, 1, 2, 5], [4, 6], [2, 3, 2, 2]] as [[Int]] {
      let x = Tensor.random(Shape(dims), using: &rng)
      let r = dims.count
      for mask in 0..<(1 << r) {
        let full = (0..<r).map { mask & (1 << $0) != 0 ? 1 : dims[$0] }
        for operandShape in [full, Array(full.dropFirst())] where operandShape.count == r || full[0] == 1 {
          let scale = Tensor.random(Shape(operandShape), using: &rng)
          let offset = Tensor.random(Shape(operandShape), using: &rng)
          let sB = naiveBroadcast(scale, to: x.shape)
          let oB = naiveBroadcast(offset, to: x.shape)
          #expect(broadcast(scale, to: x.shape) == sB, "\(operandShape) → \(dims)")
          expectClose(broadcastMultiplyAdd(x, scale: scale, offset: offset), x * sB + oB, "\(operandShape)")
          expectClose(broadcastMultiplyAdd(x, scale: scale, offset: nil), x * sB, "\(operandShape)")
          // Mixed: per-channel scale with a full offset.
          expectClose(
            broadcastMultiplyAdd(x, scale: scale, offset: x), x * sB + x, "\(operandShape) full offset")
        }
      }
    }
  }

  @Test("Arithmetic operators, map, zipMap, sums")
  func arithmetic() {
    var rng = SplitMix64(seed: 42)
    let a = Tensor.random([2, 3, 4], using: &rng)
    let b = Tensor.random([2, 3, 4], in: 0.5...2, using: &rng)
    #expect((a + b).scalars == zip(a.scalars, b.scalars).map { $0 + $1 })
    #expect((a - b).scalars == zip(a.scalars, b.scalars).map { $0 - $1 })
    #expect((a * b).scalars == zip(a.scalars, b.scalars).map { $0 * $1 })
    #expect((a / b).scalars == zip(a.scalars, b.scalars).map { $0 / $1 })
    #expect((3 * a).scalars == a.scalars.map { 3 * $0 })
    #expect((-a).scalars == a.scalars.map { -$0 })
    #expect(a.map { $0 * $0 }.scalars == a.scalars.map { $0 * $0 })
    #expect(a.zipMap(b) { max($0, $1) }.scalars == zip(a.scalars, b.scalars).map { max($0, $1) })
    var c = a
    c += b
    #expect(c == a + b)
    #expect(abs(a.sum() - a.scalars.reduce(0.0) { $0 + Double($1) }) < 1e-9)
    #expect(abs(a.dot(b) - zip(a.scalars, b.scalars).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }) < 1e-9)
    for axis in -3..<3 {
      let s = a.sum(alongAxis: axis)
      let ax = axis < 0 ? axis + 3 : axis
      var dims = a.shape.dimensions
      dims.remove(at: ax)
      var expected = [Double](repeating: 0, count: dims.reduce(1, *))
      forEachIndex(a.shape.dimensions) { i in
        var j = i
        j.remove(at: ax)
        expected[flatOffset(j, dims)] += Double(a[i[0], i[1], i[2]])
      }
      expectClose(s, Tensor(shape: Shape(dims), scalars: expected.map { Float($0) }), "axis \(axis)")
    }
  }
}
