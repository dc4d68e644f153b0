import Foundation
import LiftTensor

/// The parameters of a normalisation over the trailing axes of each example
/// (``Op/layerNorm(_:)``, ``Op/rmsNorm(_:)``): torch's `normalized_shape`, ONNX
/// `LayerNormalization`/`RMSNormalization` with an `axis`, Keras `LayerNormalization` over the
/// last axes.
///
/// Each group is the `D` values of the last `axes` axes of one example at one position of the
/// leading axes. With `a = x − μ` (layer norm) or `a = x` (RMS norm), `μ` the group's mean,
/// `σ² = mean(a²)` and `v = (σ² + ε)^(−1/2)`: `y = γ ⊙ a·v + β`.
public struct NormParameters: Sendable {
  /// How many trailing axes of the example are normalised together (≥ 1).
  public var axes: Int
  /// `ε`, added to the variance (mean square) before the square root (> 0 or 0; finite).
  public var epsilon: Float
  /// `γ`, shaped as the normalised axes' extents (the last `axes` extents), or nil for 1.
  public var scale: Tensor?
  /// `β`, shaped as `scale`, or nil for 0.
  public var bias: Tensor?

  public init(axes: Int, epsilon: Float, scale: Tensor?, bias: Tensor?) {
    self.axes = axes
    self.epsilon = epsilon
    self.scale = scale
    self.bias = bias
  }
}

/// The per-group statistics of a normalisation: `mean` (0 for RMS norm) and `v = (σ² + ε)^(−1/2)`
/// of each of the `groups` groups of `size` consecutive scalars, in double precision.
public struct NormStatistics: Sendable {
  public var mean: [Double]
  public var inverseDeviation: [Double]
}

/// Statistics of the groups of `size` consecutive scalars of `x` (``NormStatistics``); `centred`
/// subtracts each group's mean first (layer norm), otherwise the mean reads 0 (RMS norm).
public func normStatistics(_ x: Tensor, size: Int, epsilon: Float, centred: Bool) -> NormStatistics {
  let groups = size > 0 ? x.scalarCount / size : 0
  var mean = [Double](repeating: 0, count: groups), inv = mean
  x.withUnsafeBufferPointer { p in
    for g in 0..<groups {
      let base = g * size
      var mu = 0.0
      if centred {
        for j in 0..<size { mu += Double(p[base + j]) }
        mu /= Double(size)
      }
      var sq = 0.0
      for j in 0..<size {
        let a = Double(p[base + j]) - mu
        sq += a * a
      }
      mean[g] = mu
      inv[g] = 1 / (sq / Double(size) + Double(epsilon)).squareRoot()
    }
  }
  return NormStatistics(mean: mean, inverseDeviation: inv)
}

/// Layer norm (`centred`) or RMS norm of `x` over its last `p.axes` axes (see
/// ``NormParameters``); statistics in double precision.
public func normalized(_ x: Tensor, _ p: NormParameters, centred: Bool) -> Tensor {
  let size = x.shape.dimensions.suffix(p.axes).reduce(1, *)
  let stats = normStatistics(x, size: size, epsilon: p.epsilon, centred: centred)
  let gamma = p.scale?.scalars, beta = p.bias?.scalars
  return Tensor(shape: x.shape) { out in
    x.withUnsafeBufferPointer { src in
      for g in 0..<stats.mean.count {
        let base = g * size, mu = stats.mean[g], v = stats.inverseDeviation[g]
        for j in 0..<size {
          var y = (Double(src[base + j]) - mu) * v
          if let gamma { y *= Double(gamma[j]) }
          if let beta { y += Double(beta[j]) }
          out[base + j] = Float(y)
        }
      }
    }
  }
}
