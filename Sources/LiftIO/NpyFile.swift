import Foundation
import LiftTensor

/// An opened `.npy` array whose header has been read and validated, for reading all of it or
/// a range of rows at a time.
///
/// Opening reads only the header; ``readRows(_:)`` reads only the bytes of the requested rows
/// (with `pread`), so arrays larger than memory can be processed in batches:
///
/// ```swift
/// let file = try NpyFile(url: URL(fileURLWithPath: "x.npy"))
/// for start in stride(from: 0, to: file.rowCount, by: 64) {
///   let batch = try file.readRows(start..<min(start + 64, file.rowCount))  // [≤64, …]
/// }
/// ```
///
/// Every supported dtype (see ``NpyDType``) is converted to `Float`. Fortran-ordered arrays
/// are returned in row-major order; their rows are not contiguous in the file, so for rank ≥ 2
/// ``readRows(_:)`` reads them as one strided run per trailing element (still only the
/// requested rows' bytes).
///
/// Thread safety: reads keep no file position, so one `NpyFile` may be read from several
/// threads at once.
public final class NpyFile: Sendable {
  /// The file name used in error messages (the path as given, or `archive.npz:member.npy`).
  public let name: String
  /// The validated header.
  public let header: NpyHeader
  let source: any ByteSource

  /// Opens `url` and reads its header.
  ///
  /// - Throws: ``NumpyIOError`` if the file cannot be opened, is not a `.npy` file, has a
  ///   malformed header, an unsupported dtype, or fewer data bytes than its shape needs.
  public convenience init(url: URL) throws(NumpyIOError) {
    let name = displayName(url)
    try self.init(source: FileByteSource(path: url.path, file: name), name: name)
  }

  /// Reads the header of a `.npy` image held in memory (an archive member, a download).
  ///
  /// - Parameter name: the name used in error messages.
  public convenience init(data: Data, name: String) throws(NumpyIOError) {
    try self.init(source: DataByteSource(data), name: name)
  }

  init(source: any ByteSource, name: String) throws(NumpyIOError) {
    self.source = source
    self.name = name
    self.header = try NpyHeader.read(from: source, file: name)
  }

  /// The array's shape (`[]` for a 0-d array).
  public var shape: Shape { header.shape }
  /// The stored element type (converted to `Float` when read).
  public var dtype: NpyDType { header.dtype }
  /// The extent of the first axis; 0 for a rank-0 array, which has no rows (``readRows(_:)``
  /// throws ``NumpyIOError/notBatched(file:)`` for it).
  public var rowCount: Int { shape.dimensions.first ?? 0 }

  /// The whole array as a row-major `Float` tensor.
  ///
  /// - Complexity: O(scalarCount); reads the data once, in chunks of at most 1 MiB when a
  ///   conversion is needed (float32 data is read straight into the result).
  public func readAll() throws(NumpyIOError) -> Tensor {
    let scalars = try readScalars(from: 0, count: header.scalarCount)
    guard header.fortranOrder && shape.rank > 1 else { return Tensor(shape: shape, scalars: scalars) }
    return Tensor(shape: shape, scalars: fortranToRowMajor(scalars, shape: shape.dimensions))
  }

  /// Rows `range` of the first axis, shaped `[range.count] + shape[1...]`.
  ///
  /// - Throws: ``NumpyIOError/notBatched(file:)`` for a rank-0 array,
  ///   ``NumpyIOError/rowsOutOfRange(file:requested:rows:)`` unless
  ///   `0 <= range.lowerBound && range.upperBound <= rowCount`, or a read error.
  /// - Complexity: O(range.count · row size); only those bytes are read (one `pread` per
  ///   1 MiB chunk for C order, one per trailing element for Fortran order).
  public func readRows(_ range: Range<Int>) throws(NumpyIOError) -> Tensor {
    guard shape.rank > 0 else { throw .notBatched(file: name) }
    guard range.lowerBound >= 0, range.upperBound <= shape[0] else {
      throw .rowsOutOfRange(file: name, requested: range, rows: shape[0])
    }
    var rowShape = shape
    rowShape[0] = range.count
    let rowScalars = shape.dimensions.dropFirst().reduce(1, *)  // fits: ≤ scalarCount or rows == 0
    if rowScalars == 0 || range.isEmpty { return Tensor(shape: rowShape, scalars: []) }
    if header.fortranOrder && shape.rank > 1 {
      // Column-major: for each of the rowScalars trailing positions, the requested rows are
      // one contiguous run; the runs together are the batch in column-major order.
      let batch = try readRuns(
        start: range.lowerBound, runLength: range.count, runCount: rowScalars, runStride: shape[0])
      return Tensor(shape: rowShape, scalars: fortranToRowMajor(batch, shape: rowShape.dimensions))
    }
    let scalars = try readScalars(from: range.lowerBound * rowScalars, count: range.count * rowScalars)
    return Tensor(shape: rowShape, scalars: scalars)
  }

  /// Elements `first ..< first + count` in file order, converted to `Float`.
  func readScalars(from first: Int, count: Int) throws(NumpyIOError) -> [Float] {
    try readRuns(start: first, runLength: count, runCount: 1, runStride: 0)
  }

  /// `runCount` runs of `runLength` consecutive elements, run `k` starting at element
  /// `start + k · runStride` (file order), converted to `Float` and concatenated.
  func readRuns(start: Int, runLength: Int, runCount: Int, runStride: Int) throws(NumpyIOError) -> [Float] {
    let dtype = header.dtype
    let itemSize = dtype.itemSize
    let total = runLength * runCount
    var failure: NumpyIOError?
    let scalars = [Float](unsafeUninitializedCapacity: total) { buffer, initialized in
      do throws(NumpyIOError) {
        let chunkItems = max(1, min(runLength, (1 << 20) / itemSize))
        let scratch =
          dtype.isNativeFloat32
          ? UnsafeMutableRawBufferPointer(start: nil, count: 0)
          : UnsafeMutableRawBufferPointer.allocate(byteCount: chunkItems * itemSize, alignment: 16)
        defer { if scratch.baseAddress != nil { scratch.deallocate() } }
        for k in 0..<runCount {
          let base = header.dataOffset + (start + k * runStride) * itemSize
          let target = buffer.baseAddress! + k * runLength
          if dtype.isNativeFloat32 {
            try source.read(into: UnsafeMutableRawBufferPointer(start: target, count: runLength * 4), at: base, file: name)
            continue
          }
          var done = 0
          while done < runLength {
            let n = min(chunkItems, runLength - done)
            let part = UnsafeMutableRawBufferPointer(rebasing: scratch[0..<(n * itemSize)])
            try source.read(into: part, at: base + done * itemSize, file: name)
            dtype.convert(UnsafeRawBufferPointer(part), count: n, into: target + done)
            done += n
          }
        }
        initialized = total
      } catch {
        // Float is trivial, so leaving the buffer partly written is harmless; report 0.
        failure = error
        initialized = 0
      }
    }
    if let failure { throw failure }
    return scalars
  }
}

/// Reorders column-major data of `shape` into row-major order.
///
/// Column-major element `(i₀, …, iₖ₋₁)` is at `Σ iⱼ · Πₗ₍ₗ<ⱼ₎ shape[l]`.
func fortranToRowMajor(_ source: [Float], shape: [Int]) -> [Float] {
  let rank = shape.count
  let count = source.count
  guard count > 0, rank > 1 else { return source }
  var fortranStrides = [Int](repeating: 1, count: rank)
  for j in 1..<rank { fortranStrides[j] = fortranStrides[j - 1] * shape[j - 1] }
  var result = [Float](repeating: 0, count: count)
  var index = [Int](repeating: 0, count: rank)
  var offset = 0  // column-major offset of `index`
  source.withUnsafeBufferPointer { src in
    result.withUnsafeMutableBufferPointer { dst in
      for flat in 0..<count {
        dst[flat] = src[offset]
        // Odometer increment in row-major order, keeping `offset` in step.
        var axis = rank - 1
        while axis >= 0 {
          index[axis] += 1
          offset += fortranStrides[axis]
          if index[axis] < shape[axis] { break }
          offset -= fortranStrides[axis] * shape[axis]
          index[axis] = 0
          axis -= 1
        }
      }
    }
  }
  return result
}

/// The name of a file URL for messages: the path as the user gave it when it was relative.
func displayName(_ url: URL) -> String {
  url.isFileURL ? url.relativePath : url.absoluteString
}
