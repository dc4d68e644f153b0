import LiftTensor

/// Size limits every importer applies to what a model file declares, so that a crafted file
/// is refused with an error before anything is allocated (issue 15: one cap for every tensor).
public enum TensorLimits {
  /// The most elements one tensor may have — a weight, a folded constant, or one example's
  /// activation of a node: 2³¹ (8 GiB of float32).
  public static let maximumElements = 1 << 31

  /// The element count of `dimensions` when every extent is non-negative, the product does
  /// not overflow and it is at most ``maximumElements``; nil otherwise.
  public static func checkedElements(_ dimensions: [Int]) -> Int? {
    guard let n = Shape.checkedCount(dimensions), n <= maximumElements else { return nil }
    return n
  }
}
