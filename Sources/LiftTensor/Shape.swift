/// The extent of each axis of a ``Tensor``, outermost first (row-major).
///
/// By the convention of the whole package the first axis of an activation is the batch axis.
/// A rank-0 shape (`[]`) describes a scalar and has `scalarCount == 1`.
public struct Shape: Hashable, Sendable, CustomStringConvertible, ExpressibleByArrayLiteral {
  /// Axis extents, outermost first. Every extent is ≥ 0.
  public var dimensions: [Int]

  /// Creates a shape from axis extents.
  ///
  /// - Precondition: every extent is ≥ 0.
  public init(_ dimensions: [Int]) {
    precondition(dimensions.allSatisfy { $0 >= 0 }, "negative extent in shape \(dimensions)")
    self.dimensions = dimensions
  }

  public init(arrayLiteral elements: Int...) { self.init(elements) }

  /// Number of axes.
  public var rank: Int { dimensions.count }

  /// Product of the extents (1 for a scalar).
  public var scalarCount: Int { dimensions.reduce(1, *) }

  /// The extent of `axis`; negative axes count from the end (`-1` is the last axis).
  public subscript(axis: Int) -> Int {
    get { dimensions[normalizedAxis(axis)] }
    set { dimensions[normalizedAxis(axis)] = newValue }
  }

  /// Row-major strides in scalars: `strides[i] = Π dimensions[i+1...]`.
  public var strides: [Int] {
    var result = [Int](repeating: 1, count: rank)
    var s = 1
    for i in stride(from: rank - 1, through: 0, by: -1) {
      result[i] = s
      s *= dimensions[i]
    }
    return result
  }

  /// The shape with the first axis removed (the per-example shape of a batch).
  public var dropFirst: Shape { Shape(Array(dimensions.dropFirst())) }

  /// The shape with `extent` prepended as a new first axis.
  public func prepending(_ extent: Int) -> Shape { Shape([extent] + dimensions) }

  /// Maps a possibly negative axis into `0..<rank`.
  ///
  /// - Precondition: `-rank <= axis < rank`.
  public func normalizedAxis(_ axis: Int) -> Int {
    let a = axis < 0 ? axis + rank : axis
    precondition(a >= 0 && a < rank, "axis \(axis) out of range for rank \(rank)")
    return a
  }

  /// Like ``normalizedAxis(_:)`` but returns `nil` instead of trapping (for values from files).
  public func checkedAxis(_ axis: Int) -> Int? {
    let a = axis < 0 ? axis + rank : axis
    return a >= 0 && a < rank ? a : nil
  }

  /// The product of the extents, or `nil` when it overflows `Int` (for sizes read from files).
  public static func checkedCount(_ dimensions: [Int]) -> Int? {
    var n = 1
    for d in dimensions {
      guard d >= 0 else { return nil }
      let (p, overflow) = n.multipliedReportingOverflow(by: d)
      if overflow { return nil }
      n = p
    }
    return n
  }

  public var description: String { "[" + dimensions.map(String.init).joined(separator: ", ") + "]" }
}
