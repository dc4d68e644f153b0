import LiftTensor

/// The parsed header of a `.npy` file.
///
/// Layout of the format (NumPy's `numpy.lib.format`): the magic `\x93NUMPY`, a major and a
/// minor version byte, the header length (little-endian `UInt16` for version 1.0, `UInt32` for
/// 2.0 and 3.0), then the header: a Python dict literal such as
/// `{'descr': '<f4', 'fortran_order': False, 'shape': (4, 3), }` padded with spaces and a final
/// newline (latin-1 text for 1.0/2.0, UTF-8 for 3.0). The raw data follows immediately.
public struct NpyHeader: Sendable, Equatable {
  /// Major format version: 1, 2 or 3 (the header length field is 2 bytes for 1, 4 for 2
  /// and 3; 3 has a UTF-8 header).
  public var majorVersion: UInt8
  /// Minor format version: always 0 for the versions NumPy defines.
  public var minorVersion: UInt8
  /// Element type of the stored data.
  public var dtype: NpyDType
  /// Whether the data is stored in column-major (Fortran) order.
  public var fortranOrder: Bool
  /// The array's shape; `[]` for a 0-d array.
  public var shape: Shape
  /// Number of elements (`shape.scalarCount`), checked not to overflow.
  public var scalarCount: Int
  /// Byte offset of the first data byte.
  public var dataOffset: Int
  /// Number of data bytes (`scalarCount · dtype.itemSize`), checked not to overflow.
  public var dataByteCount: Int

  /// Largest header LiftIO reads (a guard against hostile length fields; NumPy's own default
  /// limit is 10 000 characters).
  static let maxHeaderLength = 1 << 20
  /// Highest rank accepted (NumPy's `NPY_MAXDIMS` is 64).
  static let maxRank = 64
  static let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]  // \x93NUMPY

  /// Reads and validates the header at the start of `source`.
  ///
  /// Checks, in order: magic, version, that the declared header fits in the file, the dict's
  /// syntax and keys, the dtype, that the shape is a tuple of non-negative ints whose element
  /// and byte counts fit in `Int`, and that the file holds at least that many data bytes — all
  /// before anything of the data's size is allocated.
  static func read(from source: any ByteSource, file: String) throws(NumpyIOError) -> NpyHeader {
    let size = source.size
    guard size >= 10 else {
      if size >= 6, try prefix(source, 6, file) != magic { throw .notNpy(file: file) }
      if size < 6, try prefix(source, size, file) != Array(magic.prefix(size)) { throw .notNpy(file: file) }
      throw .truncatedHeader(file: file, declaredEnd: 10, fileSize: size)
    }
    let pre = try prefix(source, min(size, 12), file)
    guard Array(pre[0..<6]) == magic else { throw .notNpy(file: file) }
    let major = pre[6], minor = pre[7]
    let lengthBytes: Int
    switch (major, minor) {
    case (1, 0): lengthBytes = 2
    case (2, 0), (3, 0): lengthBytes = 4
    default: throw .unsupportedVersion(file: file, major: major, minor: minor)
    }
    guard pre.count >= 8 + lengthBytes else {
      throw .truncatedHeader(file: file, declaredEnd: 8 + lengthBytes, fileSize: size)
    }
    var headerLength = 0
    for i in 0..<lengthBytes { headerLength |= Int(pre[8 + i]) << (8 * i) }
    let start = 8 + lengthBytes
    guard headerLength <= size - start else {
      throw .truncatedHeader(file: file, declaredEnd: start + headerLength, fileSize: size)
    }
    guard headerLength <= maxHeaderLength else {
      throw .malformedHeader(file: file, reason: "header of \(headerLength) bytes is implausibly large")
    }
    let bytes = try source.bytes(count: headerLength, at: start, file: file)
    let text: String
    if major == 3 {
      guard let utf8 = String(validating: bytes, as: UTF8.self) else {
        throw .malformedHeader(file: file, reason: "version 3.0 header is not valid UTF-8")
      }
      text = utf8
    } else {
      var latin1 = String.UnicodeScalarView()
      for b in bytes { latin1.append(Unicode.Scalar(b)) }
      text = String(latin1)
    }
    var header = try parse(text, file: file)
    header.majorVersion = major
    header.minorVersion = minor
    header.dataOffset = start + headerLength
    let available = size - header.dataOffset
    guard header.dataByteCount <= available else {
      throw .truncatedData(
        file: file, shape: header.shape.dimensions, expectedBytes: header.dataByteCount, availableBytes: available)
    }
    return header
  }

  private static func prefix(_ source: any ByteSource, _ n: Int, _ file: String) throws(NumpyIOError) -> [UInt8] {
    try source.bytes(count: n, at: 0, file: file)
  }

  /// Parses the dict text of a header (everything after the length field). `dataOffset` and
  /// the version are left 0 for the caller to fill in.
  static func parse(_ text: String, file: String) throws(NumpyIOError) -> NpyHeader {
    let literal: PythonLiteral
    do {
      literal = try PythonLiteral.parse(text)
    } catch {
      throw .malformedHeader(file: file, reason: error.reason)
    }
    guard case .dict(let pairs) = literal else {
      throw .malformedHeader(file: file, reason: "header is not a dictionary")
    }
    var descr: PythonLiteral?, fortran: PythonLiteral?, shape: PythonLiteral?
    for (key, value) in pairs {
      guard case .string(let name) = key else {
        throw .malformedHeader(file: file, reason: "dictionary key \(key.text) is not a string")
      }
      switch name {
      case "descr" where descr == nil: descr = value
      case "fortran_order" where fortran == nil: fortran = value
      case "shape" where shape == nil: shape = value
      case "descr", "fortran_order", "shape":
        throw .malformedHeader(file: file, reason: "key '\(name)' appears twice")
      default:
        throw .malformedHeader(file: file, reason: "unexpected key '\(name)'")
      }
    }
    guard let descr else { throw .malformedHeader(file: file, reason: "missing key 'descr'") }
    guard let fortran else { throw .malformedHeader(file: file, reason: "missing key 'fortran_order'") }
    guard let shape else { throw .malformedHeader(file: file, reason: "missing key 'shape'") }

    guard case .bool(let fortranOrder) = fortran else {
      throw .malformedHeader(file: file, reason: "fortran_order \(fortran.text) is not True or False")
    }
    let dtype: NpyDType
    switch descr {
    case .string(let code): dtype = try NpyDType.parse(code, file: file)
    case .list, .tuple:
      throw .unsupportedDType(file: file, descr: clipped(descr.text), reason: "structured")
    default:
      throw .malformedHeader(file: file, reason: "descr \(clipped(descr.text)) is not a dtype string")
    }

    guard case .tuple(let items) = shape else {
      throw .invalidShape(file: file, reason: "\(clipped(shape.text)) is not a tuple")
    }
    guard items.count <= maxRank else {
      throw .invalidShape(file: file, reason: "rank \(items.count) exceeds \(maxRank)")
    }
    var dims: [Int] = []
    for item in items {
      guard case .integer(let digits) = item else {
        throw .invalidShape(file: file, reason: "\(clipped(shape.text)) is not a tuple of integers")
      }
      guard let d = Int(digits) else { throw .sizeOverflow(file: file, shape: clipped(shape.text)) }
      guard d >= 0 else { throw .invalidShape(file: file, reason: "negative extent in \(clipped(shape.text))") }
      dims.append(d)
    }
    // Every partial product of the non-zero extents must fit (Shape.strides computes them),
    // and so must the byte count.
    guard Shape.checkedCount(dims.map { max($0, 1) }) != nil,
      let count = Shape.checkedCount(dims),
      case let (bytes, overflow) = count.multipliedReportingOverflow(by: dtype.itemSize), !overflow
    else {
      throw .sizeOverflow(file: file, shape: shapeText(dims))
    }
    return NpyHeader(
      majorVersion: 0, minorVersion: 0, dtype: dtype, fortranOrder: fortranOrder, shape: Shape(dims),
      scalarCount: count, dataOffset: 0, dataByteCount: bytes)
  }

  private static func clipped(_ s: String) -> String {
    s.count <= 60 ? s : String(s.prefix(57)) + "..."
  }

  // MARK: - Writing

  /// The header bytes NumPy's `np.save` writes for a C-order array of `shape` and `descr`
  /// (byte for byte: keys sorted, 21-digit growth padding after the dict, padded with spaces
  /// and a newline so the data starts at a multiple of 64 bytes; version 1.0 unless the header
  /// needs 2.0).
  static func encode(shape: Shape, descr: String = NpyDType.float32.descr) -> [UInt8] {
    var dict = "{'descr': '\(descr)', 'fortran_order': False, 'shape': \(shapeText(shape.dimensions)), }"
    if let first = shape.dimensions.first {
      dict += String(repeating: " ", count: max(0, 21 - String(first).count))
    }
    let body = Array(dict.utf8)
    let hlen = body.count + 1  // + "\n"
    for lengthBytes in [2, 4] {
      let pad = 64 - ((6 + 2 + lengthBytes + hlen) % 64)
      let total = hlen + pad
      if lengthBytes == 2 && total > Int(UInt16.max) { continue }
      var out = magic + [lengthBytes == 2 ? 1 : 2, 0]
      for i in 0..<lengthBytes { out.append(UInt8(truncatingIfNeeded: total >> (8 * i))) }
      out += body
      out += [UInt8](repeating: 0x20, count: pad)
      out.append(0x0A)
      return out
    }
    preconditionFailure("npy header of \(hlen) bytes")
  }
}
