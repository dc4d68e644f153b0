import LiftTestSupport
import Testing

@testable import LiftTensor

/// (groups, C_in, C_out) triples: plain, channel-mixing, grouped both ways, depthwise.
private let channelConfigs: [(groups: Int, cin: Int, cout: Int)] = [
  (1, 1, 1), (1, 3, 2), (2, 2, 4), (2, 4, 2), (4, 4, 4),
]

/// Checks conv (with and without bias) and convBackwardInput against the naive references,
/// and the adjoint identity ⟨conv(x), dy⟩ = ⟨x, convBackwardInput(dy)⟩. Returns false (checks
/// nothing) when the window does not fit.
@discardableResult
private func checkConv(
  _ x: Tensor, _ w: Tensor, _ bias: Tensor?, _ p: ConvParameters, rng: inout SplitMix64,
  chunkRows: Int? = nil, threads: Int? = nil, sourceLocation: SourceLocation = #_sourceLocation
) -> Bool {
  guard let yShape = naiveConvOutputShape(inputShape: x.shape, weightShape: w.shape, parameters: p) else {
    return false
  }
  let label = "x \(x.shape) w \(w.shape) bias \(bias != nil) \(p)"
  let y = conv(x, weight: w, bias: bias, parameters: p, chunkRows: chunkRows, threads: threads)
  expectClose(
    y, naiveConv(x, weight: w, bias: bias, parameters: p), rtol: 1e-5, atol: 1e-5, label,
    sourceLocation: sourceLocation)

  let dy = Tensor.random(yShape, using: &rng)
  let dx = convBackwardInput(
    dy, weight: w, inputShape: x.shape, parameters: p, chunkRows: chunkRows, threads: threads)
  expectClose(
    dx, naiveConvBackwardInput(dy, weight: w, inputShape: x.shape, parameters: p), rtol: 1e-5, atol: 1e-5,
    "backward " + label, sourceLocation: sourceLocation)

  let y0 =
    bias == nil ? y : conv(x, weight: w, bias: nil, parameters: p, chunkRows: chunkRows, threads: threads)
  let lhs = y0.dot(dy)
  let rhs = x.dot(dx)
  // Each side is a sum of |terms| ≤ Σ|x|·|w|·|dy| products rounded in Float: bound by 1e-5 of that.
  let magnitude =
    y0.scalars.map { abs(Double($0)) }.reduce(0, +) + x.scalars.map { abs(Double($0)) }.reduce(0, +)
  #expect(
    abs(lhs - rhs) <= 1e-5 * (magnitude + 1), "adjoint \(lhs) vs \(rhs) for \(label)",
    sourceLocation: sourceLocation)
  return true
}

@Suite("Convolution")
struct ConvolutionTests {
  @Test("conv1d and its adjoint over every tiny configuration")
  func conv1DGrid() {
    var rng = SplitMix64(seed: 1)
    var checked = 0
    for batch in 1...2 {
      for length in 1...5 {
        for k in 1...3 {
          for s in 1...3 {
            for d in 1...2 {
              for (groups, cin, cout) in channelConfigs {
                let paddings: [Padding] = [
                  .valid, .same, .explicit(before: [(length + k) % 3], after: [(length + s + d) % 3]),
                ]
                for padding in paddings {
                  for withBias in [false, true] {
                    let x = Tensor.random([batch, length, cin], using: &rng)
                    let w = Tensor.random([k, cin / groups, cout], using: &rng)
                    let bias = withBias ? Tensor.random([cout], using: &rng) : nil
                    let p = ConvParameters(strides: [s], dilations: [d], padding: padding, groups: groups)
                    if checkConv(x, w, bias, p, rng: &rng) { checked += 1 }
                  }
                }
              }
            }
          }
        }
      }
    }
    #expect(checked > 4000)
  }

  @Test("conv2d and its adjoint: every per-axis configuration, on both axes, in mixed pairs")
  func conv2DGrid() {
    var rng = SplitMix64(seed: 2)
    // (extent, kernel, stride, dilation) per axis: all 90 combinations.
    var axis: [(n: Int, k: Int, s: Int, d: Int)] = []
    for n in 1...5 { for k in 1...3 { for s in 1...3 { for d in 1...2 { axis.append((n, k, s, d)) } } } }
    var checked = 0
    for (i, h) in axis.enumerated() {
      for partner in [(i * 7 + 13) % axis.count, (i * 31 + 47) % axis.count] {
        let w = axis[partner]
        for (c, (groups, cin, cout)) in channelConfigs.enumerated() {
          let paddings: [Padding] = [
            .valid, .same,
            .explicit(before: [(i + c) % 3, (partner + 1) % 3], after: [(i + 2 * c) % 3, partner % 3]),
          ]
          for padding in paddings {
            for withBias in [false, true] {
              let batch = 1 + (i + c) % 2
              let x = Tensor.random([batch, h.n, w.n, cin], using: &rng)
              let weight = Tensor.random([h.k, w.k, cin / groups, cout], using: &rng)
              let bias = withBias ? Tensor.random([cout], using: &rng) : nil
              let p = ConvParameters(
                strides: [h.s, w.s], dilations: [h.d, w.d], padding: padding, groups: groups)
              if checkConv(x, weight, bias, p, rng: &rng) { checked += 1 }
            }
          }
        }
      }
    }
    #expect(checked > 2500)
  }

  @Test("Adjoint as a forward convolution of dy (unit stride, C_in ≥ 16): naive and adjoint checks")
  func transposedAdjoint() {
    var rng = SplitMix64(seed: 5)
    var transposed = 0
    for length in 1...6 {
      for k in 1...3 {
        for d in 1...2 {
          for (i, cout) in [3, 17].enumerated() {
            let paddings: [Padding] = [
              .valid, .same, .explicit(before: [(length + k) % 3], after: [(length + d + i) % 4]),
            ]
            for padding in paddings {
              let p1 = ConvParameters(strides: [1], dilations: [d], padding: padding)
              let x1 = Tensor.random([2, length, 16], using: &rng)
              let w1 = Tensor.random([k, 16, cout], using: &rng)
              if checkConv(x1, w1, nil, p1, rng: &rng, chunkRows: length % 2 == 0 ? 3 : nil, threads: 1 + length % 2) {
                let plan = ConvPlan(inputShape: x1.shape, weightShape: w1.shape, parameters: p1, caller: "test")
                if transposedConv(plan) != nil { transposed += 1 }
              }
              let pad2: Padding
              if case .explicit(let b, let a) = padding { pad2 = .explicit(before: b + [a[0] % 2], after: a + [b[0]]) } else { pad2 = padding }
              let p2 = ConvParameters(strides: [1, 1], dilations: [d, 1], padding: pad2)
              let x2 = Tensor.random([1, length, 3, 16], using: &rng)
              let w2 = Tensor.random([k, 2, 16, cout], using: &rng)
              if checkConv(x2, w2, nil, p2, rng: &rng) {
                let plan = ConvPlan(inputShape: x2.shape, weightShape: w2.shape, parameters: p2, caller: "test")
                if transposedConv(plan) != nil { transposed += 1 }
              }
            }
          }
        }
      }
    }
    #expect(transposed > 100)
  }

  @Test("im2col chunking and worker threads: results do not depend on either")
  func chunking() {
    var rng = SplitMix64(seed: 3)
    let cases: [(Shape, Shape, ConvParameters)] = [
      ([3, 7, 2], [3, 2, 3], ConvParameters(strides: [2], dilations: [1], padding: .same)),
      (
        [2, 5, 4, 4], [2, 3, 2, 6],
        ConvParameters(strides: [1, 2], dilations: [2, 1], padding: .same, groups: 2)
      ),
      (
        [2, 4, 5, 3], [3, 3, 3, 2],
        ConvParameters(
          strides: [1, 1], dilations: [1, 1], padding: .explicit(before: [1, 2], after: [0, 1]))
      ),
    ]
    for (xShape, wShape, p) in cases {
      let x = Tensor.random(xShape, using: &rng)
      let w = Tensor.random(wShape, using: &rng)
      let b = Tensor.random([wShape[-1]], using: &rng)
      for rows in [1, 2, 3, 5] {
        for threads in [1, 2, 3] {
          #expect(checkConv(x, w, b, p, rng: &rng, chunkRows: rows, threads: threads))
        }
      }
    }
  }

  @Test("Default chunk sizes: about 2 MB, at least 256 rows, 64 MB over all workers at most")
  func chunkSizes() {
    #expect(im2colChunkRows(rows: 100_000, colWidth: 76, workers: 2) == 512 * 1024 / 76)
    #expect(im2colChunkRows(rows: 100, colWidth: 76, workers: 2) == 100)
    #expect(im2colChunkRows(rows: 100_000, colWidth: 4608, workers: 2) == 256)
    #expect(im2colChunkRows(rows: 100_000, colWidth: 65536, workers: 4) == 64)
    #expect(im2colChunkRows(rows: 100_000, colWidth: 1 << 25, workers: 1) == 1)
  }

  @Test("1x1 pointwise convolution equals dense on the channel axis")
  func pointwiseIsDense() {
    var rng = SplitMix64(seed: 4)
    let x = Tensor.random([2, 3, 4, 5], using: &rng)
    let w = Tensor.random([1, 1, 5, 6], using: &rng)
    let b = Tensor.random([6], using: &rng)
    let y = conv(
      x, weight: w, bias: b, parameters: ConvParameters(strides: [1, 1], dilations: [1, 1], padding: .same))
    expectClose(y, dense(x, weight: w.reshaped([5, 6]), bias: b))
  }

  @Test("Hand-computed 1-D example: TF SAME pads the odd element after")
  func handComputed() {
    // x = [1, 2, 3, 4, 5] (one channel), w = [1, 10], stride 2, SAME: pads (0, 1) →
    // windows [1,2], [3,4], [5,0] → 21, 43, 5.
    let x = Tensor(shape: [1, 5, 1], scalars: [1, 2, 3, 4, 5])
    let w = Tensor(shape: [2, 1, 1], scalars: [1, 10])
    let y = conv(
      x, weight: w, bias: nil, parameters: ConvParameters(strides: [2], dilations: [1], padding: .same))
    #expect(y == Tensor(shape: [1, 3, 1], scalars: [21, 43, 5]))
    let dx = convBackwardInput(
      Tensor(shape: [1, 3, 1], scalars: [1, 2, 3]), weight: w, inputShape: [1, 5, 1],
      parameters: ConvParameters(strides: [2], dilations: [1], padding: .same))
    #expect(dx == Tensor(shape: [1, 5, 1], scalars: [1, 10, 2, 20, 3]))
  }
}
