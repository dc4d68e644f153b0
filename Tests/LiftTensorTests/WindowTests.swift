import LiftTestSupport
import Testing

@testable import LiftTensor

@Suite("Window geometry")
struct WindowTests {
  /// (input, kernel, stride, dilation) → (before, after, output), from TensorFlow's documented
  /// SAME rule: out = ⌈in/s⌉, total = max((out−1)·s + (k−1)·d + 1 − in, 0), before = ⌊total/2⌋.
  @Test(
    "TF SAME padding puts the extra element after",
    arguments: [
      (5, 2, 2, 1, 0, 1, 3), (5, 3, 1, 1, 1, 1, 5), (4, 3, 2, 1, 0, 1, 2), (6, 4, 1, 1, 1, 2, 6),
      (5, 3, 1, 2, 2, 2, 5), (1, 3, 3, 1, 1, 1, 1), (7, 1, 3, 1, 0, 0, 3), (2, 5, 1, 1, 2, 2, 2),
      (10, 4, 3, 1, 1, 2, 4),
    ])
  func samePads(_ c: (Int, Int, Int, Int, Int, Int, Int)) {
    let (input, k, s, d, before, after, out) = c
    let g = WindowGeometry(size: [k], strides: [s], dilations: [d], padding: .same)
    let pads = g.pads(input: [input])
    #expect(pads.before == [before] && pads.after == [after])
    #expect(g.outputSpatial(input: [input]) == [out])
  }

  @Test("Geometry agrees with the naive formulas over a grid, 1-D and 2-D")
  func grid() {
    for n in 1...7 {
      for k in 1...4 {
        for s in 1...3 {
          for d in 1...2 {
            for padding in [Padding.valid, .same, .explicit(before: [1], after: [2])] {
              let g = WindowGeometry(size: [k], strides: [s], dilations: [d], padding: padding)
              let (b, a) = naivePads(padding, input: [n], kernel: [k], strides: [s], dilations: [d])
              #expect(g.pads(input: [n]).before == b && g.pads(input: [n]).after == a)
              #expect(
                g.outputSpatial(input: [n])
                  == naiveOutputExtents(
                    input: [n], kernel: [k], strides: [s], dilations: [d], before: b, after: a))
              let g2 = WindowGeometry(
                size: [k, 2], strides: [s, 1], dilations: [d, 1], padding: padding == .valid ? .valid : .same)
              #expect(
                g2.outputSpatial(input: [n, 3])?.first
                  == WindowGeometry(
                    size: [k], strides: [s], dilations: [d], padding: padding == .valid ? .valid : .same
                  ).outputSpatial(input: [n])?.first)
            }
          }
        }
      }
    }
  }

  @Test("VALID padding with a window larger than the input has no output")
  func tooLarge() {
    #expect(WindowGeometry(size: [4], strides: [1], padding: .valid).outputSpatial(input: [3]) == nil)
    #expect(
      WindowGeometry(size: [2], strides: [1], dilations: [3], padding: .valid).outputSpatial(input: [3])
        == nil)
    #expect(
      WindowGeometry(size: [2], strides: [1], dilations: [3], padding: .valid).outputSpatial(input: [4]) == [
        1
      ])
  }
}
