/// Errors thrown by LiftGenomics for input that comes from files or command-line arguments.
///
/// Each case carries the values needed for a one-line message naming what was wrong.
public enum GenomicsError: Error, Equatable, CustomStringConvertible {
  /// A seed outside `0...4294967295`, the range NumPy's `RandomState(seed)` accepts.
  case seedOutOfRange(Int)
  /// A number of shuffles below 1.
  case invalidShuffleCount(Int)
  /// A tensor whose rank is not the one the operation needs (`expected` names the layout).
  case wrongRank(what: String, shape: [Int], expected: String)
  /// A sequence of length 0 (the original `dinuc_shuffle` fails on it with an IndexError).
  case emptySequence
  /// A channel axis outside `-rank..<rank`.
  case invalidChannelAxis(Int, rank: Int)
  /// References whose shape neither equals the multipliers' shape nor their per-example shape.
  case referenceShapeMismatch(multipliers: [Int], references: [Int])
  /// A bias whose element count differs from the kernel's number of filters.
  case biasShapeMismatch(bias: [Int], filters: Int)

  public var description: String {
    switch self {
    case .seedOutOfRange(let seed):
      "seed \(seed) is outside 0...4294967295 (the range of numpy.random.RandomState)"
    case .invalidShuffleCount(let count):
      "number of shuffles must be at least 1, got \(count)"
    case .wrongRank(let what, let shape, let expected):
      "\(what) has shape \(shape), expected \(expected)"
    case .emptySequence:
      "cannot shuffle a sequence of length 0"
    case .invalidChannelAxis(let axis, let rank):
      "channel axis \(axis) is out of range for rank \(rank)"
    case .referenceShapeMismatch(let multipliers, let references):
      "references of shape \(references) do not match multipliers of shape \(multipliers)"
    case .biasShapeMismatch(let bias, let filters):
      "bias of shape \(bias) does not match a kernel with \(filters) filters"
    }
  }
}
