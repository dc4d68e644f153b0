import LiftTestSupport
import Testing

@testable import LiftTensor

@Suite("Softmax")
struct SoftmaxTests {
  @Test("softmax along every axis equals the Double definition; large logits do not overflow")
  func softmaxAxes() {
    var rng = SplitMix64(seed: 51)
    for dims in [[5], [2, 3], [2, 3, 4], [1, 4, 1, 3]] as [[Int]] {
      let x = Tensor.random(Shape(dims), in: -5...5, using: &rng)
      for axis in 0..<dims.count {
        expectClose(softmax(x, axis: axis), naiveSoftmax(x, axis: axis), "\(dims) axis \(axis)")
        expectClose(softmax(x, axis: axis - dims.count), naiveSoftmax(x, axis: axis))
      }
    }
    let big = Tensor(shape: [1, 3], scalars: [1000, 1000, 999])
    let e = Float(2.718281828459045)
    expectClose(softmax(big, axis: 1), Tensor(shape: [1, 3], scalars: [e / (2 * e + 1), e / (2 * e + 1), 1 / (2 * e + 1)]))
  }
}
