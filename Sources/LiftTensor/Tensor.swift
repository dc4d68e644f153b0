/// A dense, row-major, multi-dimensional array of `Float` with value semantics.
///
/// Storage is a Swift `Array`, so copies share their scalars until one of them is mutated
/// (copy-on-write). The first axis of an activation is the batch axis by convention.
public struct Tensor: Sendable, Equatable, CustomStringConvertible {
  /// The extent of each axis.
  public private(set) var shape: Shape
  /// The scalars in row-major (C) order; `scalars.count == shape.scalarCount`.
  public private(set) var scalars: [Float]

  /// Creates a tensor from scalars in row-major order.
  ///
  /// - Precondition: `scalars.count == shape.scalarCount`.
  public init(shape: Shape, scalars: [Float]) {
    precondition(
      scalars.count == shape.scalarCount, "\(scalars.count) scalars cannot fill shape \(shape)")
    self.shape = shape
    self.scalars = scalars
  }

  /// A tensor of `shape` with every scalar equal to `value`.
  public init(repeating value: Float, shape: Shape) {
    self.shape = shape
    self.scalars = [Float](repeating: value, count: shape.scalarCount)
  }

  /// A tensor of zeros.
  public static func zeros(_ shape: Shape) -> Tensor { Tensor(repeating: 0, shape: shape) }

  /// A rank-0 tensor holding `value`.
  public init(scalar value: Float) { self.init(shape: [], scalars: [value]) }

  /// Creates a tensor whose scalars are written by `body` into uninitialised storage.
  ///
  /// `body` must initialise all `shape.scalarCount` elements of the buffer.
  public init(shape: Shape, unsafeUninitialized body: (UnsafeMutableBufferPointer<Float>) -> Void) {
    self.shape = shape
    self.scalars = [Float](unsafeUninitializedCapacity: shape.scalarCount) { buffer, count in
      body(buffer)
      count = buffer.count
    }
  }

  public var rank: Int { shape.rank }
  public var scalarCount: Int { scalars.count }

  /// Element access by a full multi-index (slow; for tests and small tools).
  public subscript(indices: Int...) -> Float {
    get { scalars[flatIndex(indices)] }
    set { scalars[flatIndex(indices)] = newValue }
  }

  func flatIndex(_ indices: [Int]) -> Int {
    precondition(indices.count == rank, "\(indices.count) indices for rank \(rank)")
    var flat = 0
    for (axis, i) in indices.enumerated() {
      precondition(i >= 0 && i < shape.dimensions[axis], "index \(indices) out of range for \(shape)")
      flat = flat * shape.dimensions[axis] + i
    }
    return flat
  }

  /// The same scalars viewed with another shape of equal size.
  ///
  /// - Precondition: `newShape.scalarCount == scalarCount`.
  public func reshaped(_ newShape: Shape) -> Tensor {
    precondition(newShape.scalarCount == scalarCount, "cannot reshape \(shape) to \(newShape)")
    var t = self
    t.shape = newShape
    return t
  }

  /// Read access to the scalars as a contiguous buffer.
  public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
    try scalars.withUnsafeBufferPointer(body)
  }

  /// Write access to the scalars (copies first if the storage is shared).
  public mutating func withUnsafeMutableBufferPointer<R>(
    _ body: (inout UnsafeMutableBufferPointer<Float>) throws -> R
  ) rethrows -> R {
    try scalars.withUnsafeMutableBufferPointer(body)
  }

  /// Rows `range` of the first axis, as a new tensor.
  public func slice(batch range: Range<Int>) -> Tensor {
    precondition(rank >= 1 && range.lowerBound >= 0 && range.upperBound <= shape[0],
                 "batch slice \(range) out of range for \(shape)")
    let row = shape.scalarCount / max(shape[0], 1)
    var s = shape
    s[0] = range.count
    return Tensor(shape: s, scalars: Array(scalars[(range.lowerBound * row)..<(range.upperBound * row)]))
  }

  /// Concatenates tensors along the first axis.
  ///
  /// - Precondition: all parts have the same per-example shape.
  public static func concatenate(batches parts: [Tensor]) -> Tensor {
    precondition(!parts.isEmpty, "concatenate of no tensors")
    let inner = parts[0].shape.dropFirst
    var all: [Float] = []
    all.reserveCapacity(parts.reduce(0) { $0 + $1.scalarCount })
    var n = 0
    for p in parts {
      precondition(p.shape.dropFirst == inner, "batch concatenation of \(inner) and \(p.shape.dropFirst)")
      all.append(contentsOf: p.scalars)
      n += p.shape[0]
    }
    return Tensor(shape: inner.prepending(n), scalars: all)
  }

  public var description: String {
    let head = scalars.prefix(8).map { "\($0)" }.joined(separator: ", ")
    return "Tensor(\(shape): [\(head)\(scalars.count > 8 ? ", …" : "")])"
  }
}

extension Tensor {
  /// The first NaN or infinity in row-major order, with its multi-index (one entry per
  /// axis), or nil when every scalar is finite.
  public func firstNonFinite() -> (index: [Int], value: Float)? {
    let bad = withUnsafeBufferPointer { $0.firstIndex { !$0.isFinite } }
    guard let bad else { return nil }
    var index = [Int](repeating: 0, count: rank)
    var rest = bad
    for axis in stride(from: rank - 1, through: 0, by: -1) where shape[axis] > 0 {
      index[axis] = rest % shape[axis]
      rest /= shape[axis]
    }
    return (index, withUnsafeBufferPointer { $0[bad] })
  }
}
