import Foundation
import LiftTensor

/// Writes a float32 `.npy` file row block by row block, for outputs too large to hold at once.
///
/// The final shape is given up front (the header is written first); ``append(_:)`` adds rows
/// of the first axis in order, and ``commit()`` checks that exactly `shape[0]` rows were
/// written and then renames the file into place atomically (see ``AtomicFileWriter``).
/// Abandoning the writer (``abort()``, or dropping it without a commit) leaves no file and
/// does not touch an existing one. The result is byte-identical to ``NumPy/write(_:to:)`` of
/// the concatenated rows.
///
/// ```swift
/// let out = try NpyStreamWriter(url: url, shape: [n, 1000, 4])
/// for batch in batches { try out.append(scores(batch)) }   // each [b, 1000, 4]
/// try out.commit()
/// ```
public final class NpyStreamWriter {
  /// The shape declared in the header.
  public let shape: Shape
  /// Rows appended so far.
  public private(set) var rowsWritten = 0
  private let writer: AtomicFileWriter

  /// Starts a file of `shape`, writing its header to a temporary file next to `url` (with a
  /// `transaction`: renamed into place by its ``OutputTransaction/commit()``).
  ///
  /// - Throws: ``NumpyIOError/notBatched(file:)`` for a rank-0 shape,
  ///   ``NumpyIOError/sizeOverflow(file:shape:)`` if the byte size overflows,
  ///   ``NumpyIOError/writeFailed(file:reason:)``, ``NumpyIOError/sameFile(file:role:other:)``.
  public init(url: URL, shape: Shape, transaction: OutputTransaction? = nil) throws(NumpyIOError) {
    let name = displayName(url)
    guard shape.rank > 0 else { throw .notBatched(file: name) }
    guard Shape.checkedCount(shape.dimensions.map { max($0, 1) }) != nil,
      let count = Shape.checkedCount(shape.dimensions), !count.multipliedReportingOverflow(by: 4).overflow
    else { throw .sizeOverflow(file: name, shape: shapeText(shape.dimensions)) }
    self.shape = shape
    self.writer = try AtomicFileWriter(destination: url, transaction: transaction)
    try writer.write(NpyHeader.encode(shape: shape))
  }

  /// Appends `rows` (shape `[k] + shape[1...]`) after the rows written so far.
  ///
  /// - Throws: ``NumpyIOError/shapeMismatch(file:reason:)`` if the per-row shape differs or
  ///   the rows would exceed `shape[0]` (the file is then abandoned), or a write error.
  public func append(_ rows: Tensor) throws(NumpyIOError) {
    guard rows.rank == shape.rank, rows.shape.dropFirst == shape.dropFirst else {
      writer.abort()
      throw .shapeMismatch(file: writer.name, reason: "rows of shape \(rows.shape) do not fit an array of shape \(shape)")
    }
    guard rows.shape[0] <= shape[0] - rowsWritten else {
      writer.abort()
      throw .shapeMismatch(
        file: writer.name, reason: "\(rowsWritten + rows.shape[0]) rows written to an array of \(shape[0]) rows")
    }
    try NumPy.writeScalars(rows, to: writer)
    rowsWritten += rows.shape[0]
  }

  /// Checks that all `shape[0]` rows were written and moves the file into place.
  ///
  /// - Throws: ``NumpyIOError/shapeMismatch(file:reason:)`` if rows are missing (the file is
  ///   abandoned), ``NumpyIOError/writeFailed(file:reason:)``.
  public func commit() throws(NumpyIOError) {
    guard rowsWritten == shape[0] else {
      writer.abort()
      throw .shapeMismatch(file: writer.name, reason: "only \(rowsWritten) of \(shape[0]) rows were written")
    }
    try writer.commit()
  }

  /// Abandons the file (nothing is left behind). Safe to call more than once.
  public func abort() { writer.abort() }
}
