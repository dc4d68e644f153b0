import LiftTensor

/// Mean-normalises the kernel of a convolution that reads one-hot sequence, leaving the
/// layer's output unchanged on one-hot input (the original's
/// `deeplift.util.mean_normalise_weights_for_sequence_convolution`, done right).
///
/// With Keras-layout kernels, `[k, C, F]` (Conv1D) or `[kh, kw, C, F]` (Conv2D), i.e. the
/// channel axis second to last and the filter axis last, and every leading axis a kernel
/// position `p`:
/// ```
/// μ[p, f]  = (1/C) · Σ_c W[p, c, f]
/// W'[p, c, f] = W[p, c, f] − μ[p, f]
/// b'[f]    = b[f] + Σ_p μ[p, f]
/// ```
/// At each position a one-hot input has exactly one 1, so `Σ_c W'_c x_c + μ = Σ_c W_c x_c`
/// and the pre-activations are unchanged; the normalised kernel sums to zero over the
/// channels, which makes DeepLIFT contributions against an all-zero or uniform reference
/// easier to read. Windows that cover all-zero rows (N bases) or padding are **not**
/// preserved: they lose the `μ` terms of those positions (as in the original).
///
/// The original computes `b' = b + sum(sum(μ, axis=0), axis=0)` ('tf' ordering). That is right
/// for a 4-D kernel, where `μ` is `[kh, kw, F]`, but for a 3-D Conv1D kernel `μ` is `[k, F]` and
/// the second sum also collapses the filter axis: every filter receives the same shift
/// `Σ_{p,f} μ[p, f]`, which changes the layer's output. This function sums over the positions
/// only, for every rank.
///
/// - Parameters:
///   - weight: the kernel, rank ≥ 2, `[positions…, C, F]` (rank 2 is a single position).
///   - bias: `[F]` (any shape with `F` elements), or `nil` for a layer without bias (treated
///     as zeros).
/// - Returns: the normalised kernel (same shape) and bias `[F]`.
/// - Throws: ``GenomicsError`` for a rank below 2 or a bias with the wrong number of elements.
/// - Complexity: O(`weight.scalarCount`); means and sums accumulate in `Double`.
public func meanNormaliseFirstConv(weight: Tensor, bias: Tensor?)
  throws(GenomicsError) -> (weight: Tensor, bias: Tensor)
{
  guard weight.rank >= 2 else {
    throw .wrongRank(
      what: "convolution kernel", shape: weight.shape.dimensions,
      expected: "[k, C, F] or [kh, kw, C, F]")
  }
  let channels = weight.shape[-2]
  let filters = weight.shape[-1]
  let positions = weight.shape.dimensions.dropLast(2).reduce(1, *)
  if let bias, bias.scalarCount != filters {
    throw .biasShapeMismatch(bias: bias.shape.dimensions, filters: filters)
  }
  var shift = [Double](repeating: 0, count: filters)
  var normalised = weight.scalars
  if channels > 0 {
    for p in 0..<positions {
      for f in 0..<filters {
        var sum = 0.0
        for c in 0..<channels { sum += Double(normalised[(p * channels + c) * filters + f]) }
        let mean = sum / Double(channels)
        for c in 0..<channels {
          let i = (p * channels + c) * filters + f
          normalised[i] = Float(Double(normalised[i]) - mean)
        }
        shift[f] += mean
      }
    }
  }
  let oldBias = bias?.scalars ?? [Float](repeating: 0, count: filters)
  let newBias = (0..<filters).map { Float(Double(oldBias[$0]) + shift[$0]) }
  return (
    Tensor(shape: weight.shape, scalars: normalised), Tensor(shape: [filters], scalars: newBias)
  )
}
