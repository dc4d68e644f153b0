import LiftGenomics
import LiftTensor
import LiftTestSupport
import Testing

@Suite("Mean normalisation of the first convolution")
struct MeanNormalisationTests {
  @Test("4-D kernels equal the original (where the original is right)")
  func conv2dFixture() throws {
    let fixture = try loadFixture("mean_normalise", as: MeanNormaliseFixture.self)
    for kernel in [fixture.conv2d, fixture.conv2dTall] {
      let bias = Tensor(shape: [kernel.bias.count], scalars: kernel.bias.map(Float.init))
      let (w, b) = try meanNormaliseFirstConv(weight: tensor(kernel.weight), bias: bias)
      expectClose(w, tensor(kernel.expectedWeight), rtol: 1e-6, atol: 1e-6, "weight")
      expectClose(b.scalars, kernel.expectedBias.map(Float.init), rtol: 1e-6, atol: 1e-6, "bias")
    }
  }

  @Test("3-D kernels: the original's weights, but a per-filter bias shift (the original's bug)")
  func conv1dFixture() throws {
    let k = try loadFixture("mean_normalise", as: MeanNormaliseFixture.self).conv1dOriginal
    let bias = Tensor(shape: [k.bias.count], scalars: k.bias.map(Float.init))
    let (w, b) = try meanNormaliseFirstConv(weight: tensor(k.weight), bias: bias)
    expectClose(w, tensor(k.originalWeight), rtol: 1e-6, atol: 1e-6, "weight")
    expectClose(b.scalars, k.correctBias.map(Float.init), rtol: 1e-6, atol: 1e-6, "bias")
    // The original adds the same Σ_{p,f} μ to every filter.
    let originalShift = zip(k.originalBias, k.bias).map { $0 - $1 }
    #expect(Set(originalShift.map { ($0 * 1e6).rounded() }).count == 1)
    #expect(zip(b.scalars, k.originalBias).contains { abs(Double($0) - $1) > 1e-3 })
  }

  @Test("Conv1D output on one-hot input is unchanged; channel sums are zero", arguments: [1, 3, 5])
  func conv1dOutputUnchanged(kernelSize: Int) throws {
    var rng = RandomState(seed: UInt32(kernelSize))
    let (length, channels, filters) = (20, 4, 3)
    let weight = randomTensor([kernelSize, channels, filters], &rng)
    let bias = randomTensor([filters], &rng)
    let x = randomOneHot(positions: length, channels: channels, &rng)
    let (w2, b2) = try meanNormaliseFirstConv(weight: weight, bias: bias)
    let before = naiveConv1D(x, length: length, weight, bias)
    let after = naiveConv1D(x, length: length, w2, b2)
    expectClose(after, before, rtol: 1e-5, atol: 1e-5)
    for p in 0..<kernelSize {
      for f in 0..<filters {
        let sum = (0..<channels).reduce(0.0) { $0 + Double(w2[p, $1, f]) }
        #expect(abs(sum) < 1e-5)
      }
    }
    // Without a bias the shift alone becomes the bias.
    let (_, b3) = try meanNormaliseFirstConv(weight: weight, bias: nil)
    expectClose(b3.scalars, zip(b2.scalars, bias.scalars).map { $0 - $1 }, rtol: 1e-5, atol: 1e-5)
  }

  @Test("Conv2D output on one-hot input is unchanged")
  func conv2dOutputUnchanged() throws {
    var rng = RandomState(seed: 42)
    let (kh, kw, channels, filters, height, width) = (2, 3, 4, 2, 4, 7)
    let weight = randomTensor([kh, kw, channels, filters], &rng)
    let bias = randomTensor([filters], &rng)
    let x = randomOneHot(positions: height * width, channels: channels, &rng)
    let (w2, b2) = try meanNormaliseFirstConv(weight: weight, bias: bias)
    expectClose(
      naiveConv2D(x, height: height, width: width, w2, b2),
      naiveConv2D(x, height: height, width: width, weight, bias), rtol: 1e-5, atol: 1e-5)
  }

  @Test("Bad shapes throw")
  func badInput() {
    #expect(throws: GenomicsError.self) {
      try meanNormaliseFirstConv(weight: .zeros([4]), bias: nil)
    }
    #expect(throws: GenomicsError.biasShapeMismatch(bias: [2], filters: 3)) {
      try meanNormaliseFirstConv(weight: .zeros([5, 4, 3]), bias: .zeros([2]))
    }
  }
}

// MARK: - Naive references (Double accumulation, VALID padding, stride 1)

func uniform(_ rng: inout RandomState) -> Float { Float(rng.nextUInt32()) / 4_294_967_296 * 2 - 1 }

func randomTensor(_ shape: Shape, _ rng: inout RandomState) -> Tensor {
  Tensor(shape: shape, scalars: (0..<shape.scalarCount).map { _ in uniform(&rng) })
}

/// `[positions, channels]`, one 1 per row.
func randomOneHot(positions: Int, channels: Int, _ rng: inout RandomState) -> Tensor {
  var t = Tensor.zeros([positions, channels])
  for p in 0..<positions { t[p, rng.randomInterval(channels - 1)] = 1 }
  return t
}

/// y[l, f] = b[f] + Σ_{p,c} x[l+p, c]·W[p, c, f].
func naiveConv1D(_ x: Tensor, length: Int, _ w: Tensor, _ b: Tensor) -> [Float] {
  let (k, channels, filters) = (w.shape[0], w.shape[1], w.shape[2])
  var y: [Float] = []
  for l in 0...(length - k) {
    for f in 0..<filters {
      var sum = Double(b[f])
      for p in 0..<k { for c in 0..<channels { sum += Double(x[l + p, c]) * Double(w[p, c, f]) } }
      y.append(Float(sum))
    }
  }
  return y
}

/// y[i, j, f] = b[f] + Σ x[i+u, j+v, c]·W[u, v, c, f]; x is `[height·width, channels]`.
func naiveConv2D(_ x: Tensor, height: Int, width: Int, _ w: Tensor, _ b: Tensor) -> [Float] {
  let (kh, kw, channels, filters) = (w.shape[0], w.shape[1], w.shape[2], w.shape[3])
  var y: [Float] = []
  for i in 0...(height - kh) {
    for j in 0...(width - kw) {
      for f in 0..<filters {
        var sum = Double(b[f])
        for u in 0..<kh {
          for v in 0..<kw {
            for c in 0..<channels {
              sum += Double(x[(i + u) * width + j + v, c]) * Double(w[u, v, c, f])
            }
          }
        }
        y.append(Float(sum))
      }
    }
  }
  return y
}
