import LiftTensor

/// Size limits every importer applies to what a model file declares, so that a crafted file
/// is refused with an error before anything is allocated (issue 15: one cap for every tensor).
public enum TensorLimits {
  /// The most elements one tensor may have — a weight, a folded constant, or one example's
  /// activation of a node: 2³¹ (8 GiB of float32).
  public static let maximumElements = 1 << 31

  /// How many elements an importer may compute at load time beyond what the file stores
  /// (ONNX `ConstantOfShape`, folded broadcasts, gathers, concatenations, casts), summed over
  /// the whole import: 2²⁴. Such values are held as `Double` while importing; in real models
  /// they are shapes, axes and small fills. Folding may use this much plus as many elements
  /// as the file's stored tensors hold, so a 100-byte file cannot make the importer allocate
  /// gigabytes, neither with one node nor with many.
  public static let maximumFoldedElements = 1 << 24

  /// The element count of `dimensions` when every extent is non-negative, the product does
  /// not overflow and it is at most ``maximumElements``; nil otherwise.
  public static func checkedElements(_ dimensions: [Int]) -> Int? {
    checkedElements(dimensions, atMost: maximumElements)
  }

  /// The element count of `dimensions` when every extent lies in `0...limit` and the product
  /// does not overflow and is at most `limit`; nil otherwise. (Bounding every extent, not only
  /// the product, keeps sums and products of extents from overflowing even when another
  /// extent is 0.)
  public static func checkedElements(_ dimensions: [Int], atMost limit: Int) -> Int? {
    guard dimensions.allSatisfy({ $0 <= limit }), let n = Shape.checkedCount(dimensions), n <= limit else {
      return nil
    }
    return n
  }

  /// Whether `value` may be used as an extent-like integer of a model file (a pad, stride,
  /// dilation, kernel size, group count): `0...maximumElements`. Products of two such values
  /// and sums of a few stay far inside `Int`, so shape formulas on them cannot overflow.
  public static func isPlausibleExtent(_ value: Int) -> Bool {
    0 <= value && value <= maximumElements
  }
}
