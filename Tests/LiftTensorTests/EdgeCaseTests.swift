#if canImport(Glibc)
  import Glibc
#endif
import LiftTestSupport
import Testing

@testable import LiftTensor

@Suite("Edge cases")
struct EdgeCaseTests {
  @Test("An empty batch flows through every kernel")
  func emptyBatch() {
    let x1 = Tensor.zeros([0, 5, 2])
    let x2 = Tensor.zeros([0, 4, 4, 2])
    let p1 = ConvParameters(strides: [1], dilations: [1], padding: .same)
    #expect(
      conv(x1, weight: Tensor.zeros([3, 2, 4]), bias: Tensor.zeros([4]), parameters: p1).shape == [0, 5, 4])
    #expect(
      convBackwardInput(
        Tensor.zeros([0, 5, 4]), weight: Tensor.zeros([3, 2, 4]), inputShape: x1.shape, parameters: p1
      ).shape == [0, 5, 2])
    let pool = PoolParameters(size: [2, 2], strides: [2, 2], padding: .valid)
    #expect(maxPool(x2, pool).shape == [0, 2, 2, 2])
    #expect(maxPoolArgmax(x2, pool).isEmpty)
    #expect(averagePool(x2, pool).shape == [0, 2, 2, 2])
    #expect(averagePoolBackward(Tensor.zeros([0, 2, 2, 2]), inputShape: x2.shape, pool).shape == x2.shape)
    #expect(dense(Tensor.zeros([0, 3]), weight: Tensor.zeros([3, 2]), bias: nil).shape == [0, 2])
  }

  @Test("A window entirely in explicit padding: max −∞ / index −1, average 0, no gradient")
  func allPaddingWindow() {
    let x = Tensor(shape: [1, 1, 1], scalars: [5])
    let p = PoolParameters(size: [1], strides: [1], padding: .explicit(before: [1], after: [0]))
    #expect(maxPool(x, p) == Tensor(shape: [1, 2, 1], scalars: [-.infinity, 5]))
    #expect(maxPoolArgmax(x, p) == [-1, 0])
    #expect(
      scatterAdd(Tensor(shape: [1, 2, 1], scalars: [3, 4]), indices: [-1, 0], inputShape: x.shape).scalars
        == [4])
    #expect(averagePool(x, p) == Tensor(shape: [1, 2, 1], scalars: [0, 5]))
  }

  @Test("Mismatched convolution channels trap")
  func channelMismatchTraps() async {
    await #expect(processExitsWith: .failure) {
      _ = conv(
        Tensor.zeros([1, 4, 3]), weight: Tensor.zeros([2, 2, 1]), bias: nil,
        parameters: ConvParameters(strides: [1], dilations: [1], padding: .valid))
    }
  }

  @Test("A VALID window larger than the input traps")
  func windowTooLargeTraps() async {
    await #expect(processExitsWith: .failure) {
      _ = maxPool(Tensor.zeros([1, 2, 1]), PoolParameters(size: [3], strides: [1], padding: .valid))
    }
  }
}

/// True when the process runs under AddressSanitizer (Scripts/sanitize.sh): its allocator
/// replaces glibc's and `mallopt` does nothing there.
let runsUnderAddressSanitizer = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "__asan_init") != nil

@Suite("Allocator")
struct AllocatorTests {
  #if canImport(Glibc)
    @Test(
      "glibc accepts the large-tensor malloc settings",
      .enabled(if: !runsUnderAddressSanitizer, "AddressSanitizer's allocator replaces glibc's (mallopt is a no-op)"))
    func retainFreedMemory() async {
      // In a child process, so the test run's own allocator stays as configured.
      await #expect(processExitsWith: .success) {
        precondition(Allocator.retainFreedMemory())
        let t = Tensor.zeros([64, 1024, 64])
        precondition(t.scalarCount == 64 * 1024 * 64)
      }
    }
  #endif
}
