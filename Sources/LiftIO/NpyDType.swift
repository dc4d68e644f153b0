/// The element type of a `.npy` array, as far as LiftIO can convert it to `Float`.
///
/// Parsed from the header's `descr` string (`'<f4'`, `'>i8'`, `'|b1'`, `'|u1'`, …): an optional
/// byte-order character (`<` little, `>` big, `|` not applicable, `=` native) followed by a
/// kind letter and the item size in bytes. `'?'` alone is accepted for bool.
///
/// Supported: float16/32/64 (`f2 f4 f8`), int8/16/32/64 (`i1 … i8`), uint8/16/32/64
/// (`u1 … u8`) and bool (`b1`). Everything else (complex `c8`/`c16`, object `O`, strings `U`/`S`,
/// void and structured dtypes, datetimes, long double) is rejected with
/// ``NumpyIOError/unsupportedDType(file:descr:reason:)``.
public struct NpyDType: Sendable, Hashable, CustomStringConvertible {
  /// The numeric family of the elements.
  public enum Kind: Sendable, Hashable {
    case float, signedInteger, unsignedInteger, bool
  }

  /// The numeric family.
  public let kind: Kind
  /// Bytes per element: 1, 2, 4 or 8.
  public let itemSize: Int
  /// Whether multi-byte elements are stored most significant byte first.
  public let isBigEndian: Bool

  /// Little-endian float32, the only type LiftIO writes.
  public static let float32 = NpyDType(kind: .float, itemSize: 4, isBigEndian: false)

  /// Creates a dtype description.
  ///
  /// - Precondition: `itemSize` is valid for `kind` (see the type's documentation).
  public init(kind: Kind, itemSize: Int, isBigEndian: Bool) {
    switch kind {
    case .float: precondition([2, 4, 8].contains(itemSize), "float itemSize \(itemSize)")
    case .signedInteger, .unsignedInteger:
      precondition([1, 2, 4, 8].contains(itemSize), "integer itemSize \(itemSize)")
    case .bool: precondition(itemSize == 1, "bool itemSize \(itemSize)")
    }
    self.kind = kind
    self.itemSize = itemSize
    self.isBigEndian = itemSize > 1 && isBigEndian
  }

  /// The canonical NumPy `descr` string (`'<f4'`, `'>i2'`, `'|b1'`, …).
  public var descr: String {
    let order = itemSize == 1 ? "|" : (isBigEndian ? ">" : "<")
    let letter: String
    switch kind {
    case .float: letter = "f"
    case .signedInteger: letter = "i"
    case .unsignedInteger: letter = "u"
    case .bool: letter = "b"
    }
    return "\(order)\(letter)\(itemSize)"
  }

  /// The NumPy name (`float32`, `uint8`, `bool`, …).
  public var description: String {
    switch kind {
    case .float: return "float\(itemSize * 8)"
    case .signedInteger: return "int\(itemSize * 8)"
    case .unsignedInteger: return "uint\(itemSize * 8)"
    case .bool: return "bool"
    }
  }

  /// Whether elements are stored as native-endian float32, so the data can be copied as is.
  var isNativeFloat32: Bool { kind == .float && itemSize == 4 && isBigEndian == hostIsBigEndian }

  /// Parses a header's `descr` string.
  ///
  /// - Throws: ``NumpyIOError/unsupportedDType(file:descr:reason:)`` naming `file`.
  static func parse(_ descr: String, file: String) throws(NumpyIOError) -> NpyDType {
    func unsupported(_ reason: String) -> NumpyIOError {
      .unsupportedDType(file: file, descr: descr, reason: reason)
    }
    var rest = Substring(descr)
    var bigEndian = hostIsBigEndian
    if let first = rest.first, "<>|=".contains(first) {
      if first == "<" { bigEndian = false } else if first == ">" { bigEndian = true }
      rest = rest.dropFirst()
    }
    if rest == "?" { return NpyDType(kind: .bool, itemSize: 1, isBigEndian: false) }
    guard let letter = rest.first else { throw unsupported("empty type code") }
    let digits = rest.dropFirst()
    let size = digits.isEmpty ? nil : Int(digits)
    switch letter {
    case "c": throw unsupported("complex")
    case "O": throw unsupported("object arrays need pickle")
    case "U", "S", "a": throw unsupported("string")
    case "V": throw unsupported("void / structured")
    case "M": throw unsupported("datetime")
    case "m": throw unsupported("timedelta")
    case "f", "i", "u", "b":
      guard let size, !digits.contains(where: { !$0.isASCII || !$0.isNumber }) else {
        throw unsupported("type code without a valid item size")
      }
      switch (letter, size) {
      case ("f", 2), ("f", 4), ("f", 8):
        return NpyDType(kind: .float, itemSize: size, isBigEndian: bigEndian)
      // Bits only for sizes that can be one (the size is any integer the header spells).
      case ("f", 1...16): throw unsupported("float\(size * 8) is not supported")
      case ("f", _): throw unsupported("no \(size)-byte float type")
      case ("i", 1), ("i", 2), ("i", 4), ("i", 8):
        return NpyDType(kind: .signedInteger, itemSize: size, isBigEndian: bigEndian)
      case ("u", 1), ("u", 2), ("u", 4), ("u", 8):
        return NpyDType(kind: .unsignedInteger, itemSize: size, isBigEndian: bigEndian)
      case ("b", 1): return NpyDType(kind: .bool, itemSize: 1, isBigEndian: false)
      default: throw unsupported("no \(size)-byte \(letter == "b" ? "bool" : "integer") type")
      }
    default:
      throw unsupported("unknown type code")
    }
  }
}

/// Whether this machine stores integers most significant byte first.
let hostIsBigEndian = 1.bigEndian == 1

// MARK: - Conversion to Float

extension NpyDType {
  /// Converts `count` elements of this dtype starting at `source` into `Float`s at `target`.
  ///
  /// float64 and 64-bit integers round to the nearest `Float`; bool becomes 0 or 1 (any
  /// non-zero byte is true, as NumPy's `astype(bool)`); NaN and infinities are preserved.
  ///
  /// - Precondition: `source.count >= count * itemSize`.
  func convert(_ source: UnsafeRawBufferPointer, count: Int, into target: UnsafeMutablePointer<Float>) {
    precondition(source.count >= count * itemSize, "convert: \(source.count) bytes for \(count) × \(itemSize)")
    let big = isBigEndian
    switch (kind, itemSize) {
    case (.float, 2):
      load(UInt16.self, source, count, big, target) { halfToFloat($0) }
    case (.float, 4):
      load(UInt32.self, source, count, big, target) { Float(bitPattern: $0) }
    case (.float, 8):
      load(UInt64.self, source, count, big, target) { Float(Double(bitPattern: $0)) }
    case (.signedInteger, 1): load(Int8.self, source, count, big, target) { Float($0) }
    case (.signedInteger, 2): load(Int16.self, source, count, big, target) { Float($0) }
    case (.signedInteger, 4): load(Int32.self, source, count, big, target) { Float($0) }
    case (.signedInteger, 8): load(Int64.self, source, count, big, target) { Float($0) }
    case (.unsignedInteger, 1): load(UInt8.self, source, count, big, target) { Float($0) }
    case (.unsignedInteger, 2): load(UInt16.self, source, count, big, target) { Float($0) }
    case (.unsignedInteger, 4): load(UInt32.self, source, count, big, target) { Float($0) }
    case (.unsignedInteger, 8): load(UInt64.self, source, count, big, target) { Float($0) }
    case (.bool, _): load(UInt8.self, source, count, big, target) { $0 == 0 ? 0 : 1 }
    default: preconditionFailure("convert: invalid dtype \(self)")
    }
  }
}

@inline(__always)
private func load<T: FixedWidthInteger>(
  _ type: T.Type, _ source: UnsafeRawBufferPointer, _ count: Int, _ bigEndian: Bool,
  _ target: UnsafeMutablePointer<Float>, _ transform: (T) -> Float
) {
  let size = MemoryLayout<T>.size
  if bigEndian {
    for i in 0..<count {
      target[i] = transform(T(bigEndian: source.loadUnaligned(fromByteOffset: i * size, as: T.self)))
    }
  } else {
    for i in 0..<count {
      target[i] = transform(T(littleEndian: source.loadUnaligned(fromByteOffset: i * size, as: T.self)))
    }
  }
}

/// IEEE 754 binary16 → binary32, exact (every half value is a float value).
func halfToFloat(_ h: UInt16) -> Float {
  let sign: Float = h & 0x8000 != 0 ? -1 : 1
  let exponent = UInt32(h >> 10) & 0x1f
  let mantissa = UInt32(h & 0x3ff)
  switch exponent {
  case 0:  // zero or subnormal: mantissa · 2⁻²⁴
    return sign * Float(mantissa) * 0x1p-24
  case 0x1f:  // infinity or NaN (payload kept)
    return Float(bitPattern: (UInt32(h & 0x8000) << 16) | 0x7f80_0000 | (mantissa << 13))
  default:  // rebias 15 → 127
    return Float(bitPattern: (UInt32(h & 0x8000) << 16) | ((exponent + 112) << 23) | (mantissa << 13))
  }
}
