import LiftNN
import LiftTensor

// The resampling family: resize, nearest and linear (see Rules.swift).
//
// A resize is linear, `y = R·x`, and every coefficient of `R` is non-negative (nearest: 0/1;
// linear: `1 − t` and `t` with `t ∈ [0, 1]` per axis). So `R·Δx⁺` and `R·Δx⁻` are the
// non-negative and non-positive parts of `Δy`, as for the structural ops; and the linear rule
// (reference §1.2) with `R⁻ = 0` gives the operand's positive part `m⁺R` and its negative part
// `m⁻R`: the adjoint on each multiplier. Summation-to-delta holds exactly
// (`⟨m, R·Δx⟩ = ⟨Rᵀm, Δx⟩`), under every method.
extension Propagation {
  /// `(R·Δx⁺, R·Δx⁻)`.
  mutating func resamplingSplit(_ id: NodeID, _ p: ResizeParameters) -> (pos: Tensor, neg: Tensor) {
    splitOfParts(id) { resize($0[0], p) }
  }

  /// `Rᵀ` on each multiplier part. `full`: the operand's shape with the batch axis holding all
  /// T·P rows.
  func resamplingMultipliers(_ p: ResizeParameters, full: Shape, _ my: Multipliers) -> Multipliers {
    my.map { resizeBackward($0, inputShape: full, p) }
  }
}
