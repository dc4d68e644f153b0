import LiftTensor

/// A small seeded generator (SplitMix64) so test data is reproducible.
public struct SplitMix64: RandomNumberGenerator, Sendable {
  private var state: UInt64
  public init(seed: UInt64) { state = seed }
  public mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
}

extension Tensor {
  /// Scalars uniform in `range`, from `generator`.
  public static func random(
    _ shape: Shape, in range: ClosedRange<Float> = -1...1, using generator: inout SplitMix64
  ) -> Tensor {
    Tensor(
      shape: shape, scalars: (0..<shape.scalarCount).map { _ in Float.random(in: range, using: &generator) })
  }

  /// Small integers in `range` (many exact ties; sums are exact in Float).
  public static func randomIntegers(
    _ shape: Shape, in range: ClosedRange<Int> = -3...3, using generator: inout SplitMix64
  ) -> Tensor {
    Tensor(
      shape: shape,
      scalars: (0..<shape.scalarCount).map { _ in Float(Int.random(in: range, using: &generator)) })
  }
}
