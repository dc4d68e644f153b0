import Foundation
import LiftIO
import LiftTensor

/// Where the examples of a streamed explanation come from: one array per model input, all
/// with the same number of rows (examples), read a range of rows at a time by
/// ``ModelExplainer/explain(rows:references:into:progress:)``.
///
/// Conformances here: ``ArrayRows`` (arrays in memory), ``NpyRows`` (`.npy` files read
/// row range by row range, never whole), ``FastaRows`` and ``GenomeRows`` (one-hot DNA from
/// FASTA records or genome windows at BED regions). A new input format (CSV tables, image
/// folders) is a new conformance: it states its shapes up
/// front and turns a row range into float32 tensors laid out for the model.
public protocol RowSource: Sendable {
  /// The full shape of each array, `[N, …]`, in the model's input order; every array has
  /// the same N.
  var shapes: [Shape] { get }
  /// A name for messages (a file, or a description of the arrays).
  var name: String { get }
  /// Rows `range` of every array (`[range.count, …]` each), in the order of ``shapes``.
  ///
  /// - Precondition: `range` lies within `0..<rowCount`.
  /// - Throws: ``LiftKitError`` naming the file and row for unreadable or non-finite data.
  func rows(_ range: Range<Int>) throws(LiftKitError) -> [Tensor]
}

extension RowSource {
  /// The number of rows (examples): the first extent of the first array, 0 when there is
  /// none.
  public var rowCount: Int { shapes.first.flatMap { $0.rank > 0 ? $0[0] : nil } ?? 0 }
}

/// Rows of arrays held in memory.
public struct ArrayRows: RowSource {
  /// The arrays, `[N, …]` each.
  public let arrays: [Tensor]
  public let name: String

  /// Rows of `arrays` (one per model input, each `[N, …]` with the same N).
  public init(_ arrays: [Tensor], name: String = "the input arrays") {
    self.arrays = arrays
    self.name = name
  }

  public var shapes: [Shape] { arrays.map(\.shape) }

  public func rows(_ range: Range<Int>) throws(LiftKitError) -> [Tensor] {
    arrays.map { $0.slice(batch: range) }
  }
}

/// Rows of `.npy` files, read with `pread` only when asked for (LiftIO's `NpyFile`): memory
/// stays flat in the number of examples. Every row read is checked to be finite
/// (``checkFinite(_:name:firstRow:)``).
public final class NpyRows: RowSource {
  /// The opened files, one per model input.
  public let files: [NpyFile]

  /// Opens `urls` (one per model input) and reads their headers.
  ///
  /// - Throws: ``LiftKitError/file(_:)`` naming the file when it cannot be read.
  public convenience init(urls: [URL]) throws(LiftKitError) {
    var files: [NpyFile] = []
    for url in urls {
      do { files.append(try NpyFile(url: url)) } catch { throw .io(error) }
    }
    self.init(files)
  }

  /// Rows of files already opened.
  public init(_ files: [NpyFile]) {
    self.files = files
  }

  public var shapes: [Shape] { files.map(\.shape) }
  public var name: String { files.map(\.name).joined(separator: ", ") }

  public func rows(_ range: Range<Int>) throws(LiftKitError) -> [Tensor] {
    var result: [Tensor] = []
    for file in files {
      let rows: Tensor
      do { rows = try file.readRows(range) } catch { throw .io(error) }
      try checkFinite(rows, name: file.name, firstRow: range.lowerBound)
      result.append(rows)
    }
    return result
  }
}

/// Throws naming `name` and the index of the first NaN or infinity in `tensor`, whose rows
/// start at row `firstRow` of the file: inputs, references and backgrounds must be finite.
///
/// - Throws: ``LiftKitError/arrays(_:)``: `x.npy: NaN at index [3, 0, 1]; inputs, references
///   and backgrounds must be finite`.
public func checkFinite(_ tensor: Tensor, name: String, firstRow: Int = 0) throws(LiftKitError) {
  guard let found = tensor.firstNonFinite() else { return }
  var index = found.index
  let value = found.value
  if !index.isEmpty { index[0] += firstRow }
  let what = value.isNaN ? "NaN" : (value > 0 ? "inf" : "-inf")
  throw .arrays(
    "\(name): \(what) at index [\(index.map(String.init).joined(separator: ", "))]; inputs, references and backgrounds must be finite")
}
