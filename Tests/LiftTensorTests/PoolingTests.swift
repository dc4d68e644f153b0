import LiftTestSupport
import Testing

@testable import LiftTensor

/// Checks max pooling (values, first-maximum argmax, scatter-add gradient) and average pooling
/// both ways (forward, backward, adjoint) against the naive references. Integer inputs make
/// ties common. Returns false when the window does not fit.
@discardableResult
private func checkPooling(
  _ x: Tensor, _ p: PoolParameters, rng: inout SplitMix64, sourceLocation: SourceLocation = #_sourceLocation
) -> Bool {
  let d = p.size.count
  let spatial = Array(x.shape.dimensions[1...d])
  let ones = p.size.map { _ in 1 }
  let (before, after) = naivePads(
    p.padding, input: spatial, kernel: p.size, strides: p.strides, dilations: ones)
  guard
    naiveOutputExtents(
      input: spatial, kernel: p.size, strides: p.strides, dilations: ones, before: before, after: after)
      != nil
  else { return false }
  let label = "x \(x.shape) \(p)"

  let (values, argmax) = naiveMaxPool(x, p)
  let y = maxPool(x, p)
  #expect(y == values, "maxPool \(label)", sourceLocation: sourceLocation)
  let idx = maxPoolArgmax(x, p)
  #expect(idx == argmax, "argmax \(label)", sourceLocation: sourceLocation)
  let dy = Tensor.randomIntegers(y.shape, using: &rng)
  var expected = [Float](repeating: 0, count: x.scalarCount)
  for (i, j) in argmax.enumerated() where j >= 0 { expected[j] += dy.scalars[i] }
  #expect(
    scatterAdd(dy, indices: idx, inputShape: x.shape).scalars == expected, "scatterAdd \(label)",
    sourceLocation: sourceLocation)

  for include in [false, true] {
    var q = p
    q.countIncludePad = include
    let a = averagePool(x, q)
    expectClose(
      a, naiveAveragePool(x, q), "averagePool \(label) includePad \(include)", sourceLocation: sourceLocation)
    let g = Tensor.random(a.shape, using: &rng)
    let dx = averagePoolBackward(g, inputShape: x.shape, q)
    expectClose(
      dx, naiveAveragePoolBackward(g, inputShape: x.shape, q),
      "averagePoolBackward \(label) includePad \(include)",
      sourceLocation: sourceLocation)
    let lhs = a.dot(g)
    let rhs = x.dot(dx)
    #expect(
      abs(lhs - rhs) <= 1e-5 * (1 + abs(lhs)), "average adjoint \(lhs) vs \(rhs) for \(label)",
      sourceLocation: sourceLocation)
  }
  return true
}

@Suite("Pooling")
struct PoolingTests {
  @Test("1-D max/average pooling over every tiny configuration")
  func pool1DGrid() {
    var rng = SplitMix64(seed: 11)
    var checked = 0
    for batch in 1...2 {
      for length in 1...5 {
        for size in 1...3 {
          for s in 1...3 {
            for channels in [1, 3] {
              let paddings: [Padding] = [
                .valid, .same, .explicit(before: [(length + s) % 3], after: [(size + channels) % 3]),
              ]
              for padding in paddings {
                let x = Tensor.randomIntegers([batch, length, channels], in: -2...2, using: &rng)
                if checkPooling(x, PoolParameters(size: [size], strides: [s], padding: padding), rng: &rng) {
                  checked += 1
                }
              }
            }
          }
        }
      }
    }
    #expect(checked > 400)
  }

  @Test("2-D max/average pooling: every per-axis configuration on both axes, in mixed pairs")
  func pool2DGrid() {
    var rng = SplitMix64(seed: 12)
    var axis: [(n: Int, k: Int, s: Int)] = []
    for n in 1...5 { for k in 1...3 { for s in 1...3 { axis.append((n, k, s)) } } }
    var checked = 0
    for (i, h) in axis.enumerated() {
      for partner in [i, (i * 7 + 5) % axis.count, (i * 11 + 23) % axis.count] {
        let w = axis[partner]
        let paddings: [Padding] = [
          .valid, .same, .explicit(before: [i % 3, partner % 2], after: [(i + 1) % 2, (partner + 2) % 3]),
        ]
        for padding in paddings {
          let x = Tensor.randomIntegers(
            [1 + i % 2, h.n, w.n, 1 + 2 * (partner % 2)], in: -2...2, using: &rng)
          if checkPooling(
            x, PoolParameters(size: [h.k, w.k], strides: [h.s, w.s], padding: padding), rng: &rng)
          {
            checked += 1
          }
        }
      }
    }
    #expect(checked > 250)
  }

  @Test("Ties go to the first maximum in row-major window order")
  func tiesFirst() {
    // One 2×2 window of equal values: the argmax is the top-left element.
    let x = Tensor(shape: [1, 2, 2, 1], scalars: [7, 7, 7, 7])
    #expect(maxPoolArgmax(x, PoolParameters(size: [2, 2], strides: [2, 2], padding: .valid)) == [0])
    // 1-D, overlapping windows of size 3, stride 1 on [1, 5, 5, 2]: windows [1,5,5] → 1, [5,5,2] → 1.
    let y = Tensor(shape: [1, 4, 1], scalars: [1, 5, 5, 2])
    #expect(maxPoolArgmax(y, PoolParameters(size: [3], strides: [1], padding: .valid)) == [1, 1])
  }

  @Test("Padding never wins max pooling, even against negative values")
  func paddingNeverWins() {
    // SAME, size 2, stride 2 on length 3: pads (0, 1); last window = [−4, pad] → −4.
    let x = Tensor(shape: [1, 3, 1], scalars: [-1, -2, -4])
    let p = PoolParameters(size: [2], strides: [2], padding: .same)
    #expect(maxPool(x, p) == Tensor(shape: [1, 2, 1], scalars: [-1, -4]))
    #expect(maxPoolArgmax(x, p) == [0, 2])
  }

  @Test("Average pooling divisor: valid taps only, or the whole window with countIncludePad")
  func averageDivisor() {
    let x = Tensor(shape: [1, 3, 1], scalars: [3, 6, 9])
    var p = PoolParameters(size: [2], strides: [2], padding: .same)
    #expect(averagePool(x, p) == Tensor(shape: [1, 2, 1], scalars: [4.5, 9]))
    p.countIncludePad = true
    #expect(averagePool(x, p) == Tensor(shape: [1, 2, 1], scalars: [4.5, 4.5]))
  }

  @Test("Global pooling equals a full-window pool")
  func global() {
    var rng = SplitMix64(seed: 13)
    let x = Tensor.randomIntegers([2, 3, 4, 5], using: &rng)
    let p = PoolParameters(size: [3, 4], strides: [1, 1], padding: .valid)
    #expect(globalMaxPool(x) == naiveMaxPool(x, p).values.reshaped([2, 5]))
    #expect(globalMaxPoolArgmax(x) == naiveMaxPool(x, p).argmax)
    expectClose(globalAveragePool(x), naiveAveragePool(x, p).reshaped([2, 5]))
    let dy = Tensor.random([2, 5], using: &rng)
    expectClose(
      globalAveragePoolBackward(dy, inputShape: x.shape),
      naiveAveragePoolBackward(dy.reshaped([2, 1, 1, 5]), inputShape: x.shape, p))
    let x1 = Tensor.randomIntegers([2, 6, 3], using: &rng)
    #expect(
      globalMaxPool(x1)
        == naiveMaxPool(x1, PoolParameters(size: [6], strides: [1], padding: .valid)).values.reshaped([2, 3]))
  }
}
