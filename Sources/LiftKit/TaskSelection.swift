import Foundation

/// The target neurons to explain: explicit indices into the flattened target output, all of
/// them, or the BPNet/ChromBPNet profile target over all of them.
public enum TaskSelection: Sendable, Hashable {
  /// Indices into the target's output flattened per example, in the order given.
  case indices([Int])
  /// Every neuron of the target.
  case all
  /// The BPNet/ChromBPNet profile target (CLI.md `--task profile`): with `y` the target's
  /// output flattened per example and `ŷ = y − mean(y)`, the scalar `Σ_j w_j·ŷ_j` where
  /// `w = softmax(ŷ)` comes from the example's own forward pass and is held constant, as
  /// chrombpnet computes its profile contribution scores. One scalar per example: scores are
  /// shaped like the inputs.
  case profile

  /// One task.
  public static func task(_ k: Int) -> TaskSelection { .indices([k]) }

  /// Parses `K`, a comma-separated list `0,3,7` (non-negative, no repeats), `all` or
  /// `profile`; `nil` for anything else.
  public init?(parsing text: String) {
    if text == "all" {
      self = .all
      return
    }
    if text == "profile" {
      self = .profile
      return
    }
    var indices: [Int] = []
    for part in text.split(separator: ",", omittingEmptySubsequences: false) {
      let t = part.trimmingCharacters(in: .whitespaces)
      guard !t.isEmpty, t.allSatisfy(\.isASCII), t.allSatisfy(\.isNumber), let k = Int(t),
        !indices.contains(k)
      else { return nil }
      indices.append(k)
    }
    guard !indices.isEmpty else { return nil }
    self = .indices(indices)
  }

  /// The indices for a target with `count` neurons per example. Explicit indices are returned
  /// as they are (the explainer checks their range, naming the target); the profile target
  /// is one scalar, index 0.
  ///
  /// - Throws: ``LiftKitError/emptyTaskSelection(target:)`` for `all` on an empty target.
  public func resolve(count: Int, target: String) throws(LiftKitError) -> [Int] {
    switch self {
    case .all:
      guard count > 0 else { throw .emptyTaskSelection(target: target) }
      return Array(0..<count)
    case .indices(let indices):
      return indices
    case .profile:
      guard count > 0 else { throw .emptyTaskSelection(target: target) }
      return [0]
    }
  }
}
