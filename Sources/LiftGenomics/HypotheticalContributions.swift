import LiftTensor

/// Hypothetical contributions for one-hot inputs (the original's
/// `deeplift.util.get_hypothetical_contribs_func_onehot`, the "hypothetical importance
/// scores" TF-MoDISco consumes).
///
/// For every position (every index of the other axes) and every channel `i`, the
/// contribution the position would have if the input were one-hot at channel `i`, using the
/// multipliers computed for the actual input:
/// ```
/// H[…, i, …] = Σ_c (δ_ci − r[…, c, …]) · m[…, c, …]
///            = m[…, i, …] − Σ_c r[…, c, …] · m[…, c, …]
/// ```
/// (the sums run over the channel axis). For a row that is one-hot, `x = e_k`, this gives
/// `Σ_i x_i · H_i = H_k = Σ_c (x − r)_c · m_c`, the actual contribution summed over the
/// channels. Averaging `H` over several references is the caller's job.
///
/// The original only handles `[N, L, C]` with channels last; here the channel axis is a
/// parameter: `-1` (or `2`) for Keras `[N, L, C]`, `1` for PyTorch `[N, C, L]`; any rank
/// works.
///
/// - Parameters:
///   - multipliers: `m`, the multipliers of the input (for the reference `r`).
///   - references: `r`, either the shape of `multipliers`, or that shape without its first
///     (batch) axis, in which case the one reference is used for every example (only when
///     the channel axis is not axis 0).
///   - channelAxis: the one-hot axis; negative values count from the end.
/// - Returns: `H`, the shape of `multipliers`.
/// - Throws: ``GenomicsError`` for a channel axis out of range or non-matching references.
/// - Complexity: O(`multipliers.scalarCount`). Sums accumulate in `Double`.
public func hypotheticalContributions(
  multipliers: Tensor, references: Tensor, channelAxis: Int
) throws(GenomicsError) -> Tensor {
  let shape = multipliers.shape
  guard let axis = shape.checkedAxis(channelAxis) else {
    throw .invalidChannelAxis(channelAxis, rank: shape.rank)
  }
  let broadcastOverBatch: Bool
  if references.shape == shape {
    broadcastOverBatch = false
  } else if axis > 0, references.shape == shape.dropFirst {
    broadcastOverBatch = true
  } else {
    throw .referenceShapeMismatch(
      multipliers: shape.dimensions, references: references.shape.dimensions)
  }
  let channels = shape[axis]
  let outer = shape.dimensions[..<axis].reduce(1, *)
  let inner = shape.dimensions[(axis + 1)...].reduce(1, *)
  let referenceCount = references.scalarCount
  var out = [Float](repeating: 0, count: shape.scalarCount)
  multipliers.withUnsafeBufferPointer { m in
    references.withUnsafeBufferPointer { r in
      for o in 0..<outer {
        for k in 0..<inner {
          let base = o * channels * inner + k
          // With a per-example reference the flat offset wraps around every example.
          let referenceBase = broadcastOverBatch ? base % max(referenceCount, 1) : base
          var sum = 0.0
          for c in 0..<channels {
            sum += Double(r[referenceBase + c * inner]) * Double(m[base + c * inner])
          }
          for i in 0..<channels {
            out[base + i * inner] = Float(Double(m[base + i * inner]) - sum)
          }
        }
      }
    }
  }
  return Tensor(shape: shape, scalars: out)
}
