import LiftTestSupport
import Testing

@testable import LiftTensor

/// All permutations of 0..<n.
private func permutations(_ n: Int) -> [[Int]] {
  if n == 0 { return [[]] }
  return permutations(n - 1).flatMap { p in
    (0...p.count).map { i in
      var q = p
      q.insert(n - 1, at: i)
      return q
    }
  }
}

private let shapes: [[Int]] = [
  [], [3], [0], [2, 3], [3, 1], [2, 0, 3], [2, 3, 4], [1, 3, 2], [2, 1, 3, 2], [3, 2, 2, 3],
]

@Suite("Layout ops")
struct LayoutTests {
  @Test("transposed: every permutation of ranks 0…4")
  func transposes() {
    var rng = SplitMix64(seed: 31)
    for s in shapes {
      let x = Tensor.random(Shape(s), using: &rng)
      for p in permutations(s.count) {
        #expect(transposed(x, permutation: p) == naiveTranspose(x, permutation: p), "\(s) \(p)")
      }
    }
  }

  @Test("padded: pads 0…2 on every axis")
  func pads() {
    var rng = SplitMix64(seed: 32)
    for s in shapes where s.count <= 3 {
      let x = Tensor.random(Shape(s), using: &rng)
      for seed in 0..<9 {
        let before = s.indices.map { ($0 + seed) % 3 }
        let after = s.indices.map { ($0 * 2 + seed / 3) % 3 }
        #expect(
          padded(x, before: before, after: after, value: -7)
            == naivePad(x, before: before, after: after, value: -7),
          "\(s) \(before) \(after)")
      }
    }
  }

  @Test("sliced: every sub-box of small tensors")
  func slices() {
    var rng = SplitMix64(seed: 33)
    for s in shapes where s.count <= 3 && s.reduce(1, *) <= 24 {
      let x = Tensor.random(Shape(s), using: &rng)
      // Every (start, end) per axis.
      var boxes: [([Int], [Int])] = [([], [])]
      for d in s {
        boxes = boxes.flatMap { box in
          (0...d).flatMap { a in (a...d).map { b in (box.0 + [a], box.1 + [b]) } }
        }
      }
      for (start, end) in boxes {
        #expect(
          sliced(x, start: start, end: end) == naiveSlice(x, start: start, end: end), "\(s) \(start)..<\(end)"
        )
      }
    }
  }

  @Test("concatenated and split: every axis, parts of extents 0…3, round trip")
  func concatSplit() {
    var rng = SplitMix64(seed: 34)
    for s in shapes where !s.isEmpty {
      for axis in 0..<s.count {
        for sizes in [[1], [2, 0, 3], [0, 1], [3, 2, 1]] {
          let parts = sizes.map { n -> Tensor in
            var d = s
            d[axis] = n
            return Tensor.random(Shape(d), using: &rng)
          }
          let c = concatenated(parts, axis: axis)
          #expect(c == naiveConcat(parts, axis: axis), "\(s) axis \(axis) \(sizes)")
          #expect(concatenated(parts, axis: axis - s.count) == c)
          #expect(split(c, axis: axis, sizes: sizes) == parts)
        }
      }
    }
  }
}
