import Foundation
import LiftTensor
import Testing

/// Element-wise `|actual − expected| ≤ atol + rtol·|expected|` (NumPy `allclose`), shapes
/// first; reports the worst element with the caller's source location.
public func expectClose(
  _ actual: [Float], _ expected: [Float], rtol: Float = 1e-5, atol: Float = 1e-6,
  _ comment: String = "", sourceLocation: SourceLocation = #_sourceLocation
) {
  guard actual.count == expected.count else {
    Issue.record("\(comment) count \(actual.count) != \(expected.count)", sourceLocation: sourceLocation)
    return
  }
  var worst: (index: Int, excess: Float)?
  for i in actual.indices {
    let bound = atol + rtol * abs(expected[i])
    let diff = abs(actual[i] - expected[i])
    let excess = diff.isNaN ? Float.infinity : diff - bound
    if excess > 0, excess > (worst?.excess ?? 0) { worst = (i, excess) }
  }
  if let w = worst {
    Issue.record(
      "\(comment) worst at [\(w.index)]: \(actual[w.index]) vs \(expected[w.index]) (rtol \(rtol), atol \(atol))",
      sourceLocation: sourceLocation)
  }
}

/// ``expectClose(_:_:rtol:atol:_:sourceLocation:)`` for tensors: the shapes must be equal.
public func expectClose(
  _ actual: Tensor, _ expected: Tensor, rtol: Float = 1e-5, atol: Float = 1e-6,
  _ comment: String = "", sourceLocation: SourceLocation = #_sourceLocation
) {
  guard actual.shape == expected.shape else {
    Issue.record("\(comment) shape \(actual.shape) != \(expected.shape)", sourceLocation: sourceLocation)
    return
  }
  expectClose(actual.scalars, expected.scalars, rtol: rtol, atol: atol, comment, sourceLocation: sourceLocation)
}
