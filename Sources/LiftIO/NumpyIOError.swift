/// Everything that can go wrong reading or writing `.npy` / `.npz` files (and, through
/// ``AtomicFileWriter``, any output file).
///
/// Each case carries the file it is about (as the user spelled it, or `archive.npz:member.npy`
/// for an archive member) and the ``description`` is one line starting with that file, e.g.
/// `x.npy: unsupported dtype '<c8' (complex)`, suitable for printing as `error: …` by a CLI.
public enum NumpyIOError: Error, Equatable, Sendable, CustomStringConvertible {
  /// The file could not be opened or inspected (missing, permissions, a directory, …).
  case cannotOpen(file: String, reason: String)
  /// An I/O error while reading an opened file.
  case readFailed(file: String, reason: String)
  /// An I/O error while creating, writing or renaming an output file.
  case writeFailed(file: String, reason: String)
  /// The file does not start with the `.npy` magic `\x93NUMPY`.
  case notNpy(file: String)
  /// A format version other than 1.0, 2.0 or 3.0.
  case unsupportedVersion(file: String, major: UInt8, minor: UInt8)
  /// The file ends inside the fixed preamble or inside the declared header.
  case truncatedHeader(file: String, declaredEnd: Int, fileSize: Int)
  /// The header is not the Python dictionary literal the format requires.
  case malformedHeader(file: String, reason: String)
  /// The array's dtype cannot be converted to `Float` (complex, object, strings, structured, …).
  case unsupportedDType(file: String, descr: String, reason: String)
  /// The `shape` entry is not a tuple of non-negative integers.
  case invalidShape(file: String, reason: String)
  /// The number of elements or bytes of the declared shape does not fit in `Int`.
  case sizeOverflow(file: String, shape: String)
  /// The file holds fewer data bytes than the header declares.
  case truncatedData(file: String, shape: [Int], expectedBytes: Int, availableBytes: Int)
  /// A row range outside `0...rows` was requested from ``NpyFile/readRows(_:)``.
  case rowsOutOfRange(file: String, requested: Range<Int>, rows: Int)
  /// Row access on a rank-0 array, or an incremental writer for a rank-0 shape.
  case notBatched(file: String)
  /// A file that should be an `.npz` archive is not a zip archive (or cannot be read as one).
  case notNpz(file: String, reason: String)
  /// An archive member that is not a `NAME.npy` array, or two members with the same name.
  case invalidMember(file: String, member: String, reason: String)
  /// Rows appended to an ``NpyStreamWriter`` do not fit the declared shape, or too few rows
  /// were written before ``NpyStreamWriter/commit()``.
  case shapeMismatch(file: String, reason: String)
  /// An array name that cannot be stored in an archive (empty or duplicated).
  case invalidArrayName(file: String, name: String, reason: String)
  /// An output that is the same file as one of the run's inputs or another of its outputs
  /// (``OutputTransaction``): `role` named the output, `other` is the clashing file with its
  /// option (`--input x.npy`).
  case sameFile(file: String, role: String, other: String)

  /// One line, starting with the file name.
  public var description: String {
    switch self {
    case .cannotOpen(let file, let reason):
      return "\(file): cannot open (\(reason))"
    case .readFailed(let file, let reason):
      return "\(file): read failed (\(reason))"
    case .writeFailed(let file, let reason):
      return "\(file): cannot write (\(reason))"
    case .notNpy(let file):
      return "\(file): not a .npy file (bad magic string)"
    case .unsupportedVersion(let file, let major, let minor):
      return "\(file): unsupported .npy format version \(major).\(minor)"
    case .truncatedHeader(let file, let declaredEnd, let fileSize):
      return "\(file): truncated .npy header (header ends at byte \(declaredEnd), file has \(fileSize) bytes)"
    case .malformedHeader(let file, let reason):
      return "\(file): malformed .npy header (\(reason))"
    case .unsupportedDType(let file, let descr, let reason):
      return "\(file): unsupported dtype '\(descr)' (\(reason))"
    case .invalidShape(let file, let reason):
      return "\(file): invalid shape in .npy header (\(reason))"
    case .sizeOverflow(let file, let shape):
      return "\(file): declared shape \(shape) is too large"
    case .truncatedData(let file, let shape, let expected, let available):
      return "\(file): truncated data (shape \(shapeText(shape)) needs \(expected) bytes, file has \(available))"
    case .rowsOutOfRange(let file, let requested, let rows):
      return "\(file): rows \(requested.lowerBound)..<\(requested.upperBound) out of range for \(rows) rows"
    case .notBatched(let file):
      return "\(file): a rank-0 array has no rows"
    case .notNpz(let file, let reason):
      return "\(file): not a .npz archive (\(reason))"
    case .invalidMember(let file, let member, let reason):
      return "\(file): member '\(member)' \(reason)"
    case .shapeMismatch(let file, let reason):
      return "\(file): \(reason)"
    case .invalidArrayName(let file, let name, let reason):
      return "\(file): invalid array name '\(name)' (\(reason))"
    case .sameFile(let file, let role, let other):
      return "\(file): \(role) is the same file as \(other) and would overwrite it; choose another path"
    }
  }

  /// The file the error is about.
  public var file: String {
    switch self {
    case .cannotOpen(let f, _), .readFailed(let f, _), .writeFailed(let f, _), .notNpy(let f),
      .unsupportedVersion(let f, _, _), .truncatedHeader(let f, _, _), .malformedHeader(let f, _),
      .unsupportedDType(let f, _, _), .invalidShape(let f, _), .sizeOverflow(let f, _),
      .truncatedData(let f, _, _, _), .rowsOutOfRange(let f, _, _), .notBatched(let f),
      .notNpz(let f, _), .invalidMember(let f, _, _), .shapeMismatch(let f, _),
      .invalidArrayName(let f, _, _), .sameFile(let f, _, _):
      return f
    }
  }
}

/// A shape the way NumPy prints it: `()`, `(5,)`, `(4, 3)`.
func shapeText(_ dims: [Int]) -> String {
  dims.count == 1 ? "(\(dims[0]),)" : "(" + dims.map(String.init).joined(separator: ", ") + ")"
}
