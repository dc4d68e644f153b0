import Foundation
import LiftNN

// Decoding of `TensorProto` payloads (initializers, `Constant` node values) to ``Constant``.
// ONNX stores numbers either in the typed repeated fields (`float_data`, `int64_data`, …) or
// little-endian in `raw_data`, or — for large models — in an external file next to the model.

/// ONNX `TensorProto.DataType` values the importer decodes.
enum ONNXDataType: Int {
  case float = 1
  case uint8 = 2
  case int8 = 3
  case uint16 = 4
  case int16 = 5
  case int32 = 6
  case int64 = 7
  case bool = 9
  case float16 = 10
  case double = 11
  case uint32 = 12
  case uint64 = 13
  case bfloat16 = 16
}

/// The name of an ONNX `TensorProto.DataType` (`7` → `int64`), for messages.
func onnxDataTypeName(_ type: Int) -> String {
  let names = [
    0: "undefined", 1: "float32", 2: "uint8", 3: "int8", 4: "uint16", 5: "int16", 6: "int32", 7: "int64",
    8: "string", 9: "bool", 10: "float16", 11: "float64", 12: "uint32", 13: "uint64", 14: "complex64",
    15: "complex128", 16: "bfloat16", 17: "float8e4m3fn", 18: "float8e4m3fnuz", 19: "float8e5m2",
    20: "float8e5m2fnuz", 21: "uint4", 22: "int4", 23: "float4e2m1",
  ]
  return names[type] ?? "unknown type"
}

/// float16 bits → Float (exact; subnormals, infinities and NaN included).
func halfToFloat(_ bits: UInt16) -> Float {
  let sign: UInt32 = UInt32(bits & 0x8000) << 16
  let exponent = Int((bits >> 10) & 0x1F)
  let mantissa = UInt32(bits & 0x3FF)
  if exponent == 0 {
    // Zero or subnormal: mantissa · 2⁻²⁴.
    let magnitude = Float(mantissa) * Float(sign: .plus, exponent: -24, significand: 1)
    return sign == 0 ? magnitude : -magnitude
  }
  if exponent == 31 {
    return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13))
  }
  return Float(bitPattern: sign | UInt32(exponent - 15 + 127) << 23 | (mantissa << 13))
}

/// Reads the value of `tensor`.
///
/// - Parameter baseDirectory: where external data files are looked up (the model's folder).
func decodeTensor(_ tensor: Onnx_TensorProto, baseDirectory: URL?) throws(ONNXImportError) -> Constant {
  let name = tensor.name
  let dims = tensor.dims.map { Int($0) }
  guard dims.allSatisfy({ $0 >= 0 }), let count = TensorLimits.checkedElements(dims) else {
    throw .invalidTensor(
      name: name, reason: "bad dimensions \(dims) (negative, or more than \(TensorLimits.maximumElements) elements)")
  }
  guard let type = ONNXDataType(rawValue: Int(tensor.dataType)) else {
    throw .unsupportedDataType(tensor: name, dataType: Int(tensor.dataType))
  }
  var raw: Data? = tensor.hasRawData ? tensor.rawData : nil
  if tensor.dataLocation == .external {
    // count ≤ 2³¹ and 8-byte elements at most: no overflow.
    raw = try readExternal(tensor, byteCount: count * elementSize(type), baseDirectory: baseDirectory)
  }
  let values: [Double]
  if let raw {
    values = try decodeRaw(raw, type: type, count: count, name: name)
  } else {
    switch type {
    case .float: values = tensor.floatData.map { Double($0) }
    case .double: values = tensor.doubleData
    case .int64: values = tensor.int64Data.map { Double($0) }
    case .uint32, .uint64: values = tensor.uint64Data.map { Double($0) }
    case .float16: values = tensor.int32Data.map { Double(halfToFloat(UInt16(truncatingIfNeeded: $0))) }
    case .bfloat16:
      values = tensor.int32Data.map {
        Double(Float(bitPattern: UInt32(UInt16(truncatingIfNeeded: $0)) << 16))
      }
    case .uint8, .int8, .uint16, .int16, .int32, .bool: values = tensor.int32Data.map { Double($0) }
    }
  }
  guard values.count == count else {
    throw .invalidTensor(name: name, reason: "\(values.count) values for dimensions \(dims)")
  }
  var c = Constant(dims: dims, values: values)
  c.isInteger = type.isInteger
  return c
}

extension ONNXDataType {
  /// Integer and boolean types: ONNX `Div` of them truncates (shape arithmetic).
  var isInteger: Bool {
    switch self {
    case .float, .float16, .double, .bfloat16: false
    case .uint8, .int8, .uint16, .int16, .int32, .int64, .bool, .uint32, .uint64: true
    }
  }
}

private func decodeRaw(_ raw: Data, type: ONNXDataType, count: Int, name: String) throws(ONNXImportError)
  -> [Double]
{
  let size = elementSize(type)
  let (expected, overflow) = count.multipliedReportingOverflow(by: size)
  guard !overflow, raw.count == expected else {
    throw .invalidTensor(
      name: name, reason: "raw_data has \(raw.count) bytes for \(count) values of \(size) bytes")
  }
  let bytes = [UInt8](raw)
  func load<T: FixedWidthInteger>(_: T.Type, _ i: Int) -> T {
    var v: T = 0
    for b in 0..<size { v |= T(truncatingIfNeeded: bytes[i * size + b]) << (8 * b) }
    return v
  }
  return (0..<count).map { i -> Double in
    switch type {
    case .float: Double(Float(bitPattern: load(UInt32.self, i)))
    case .double: Double(bitPattern: load(UInt64.self, i))
    case .int64: Double(Int64(bitPattern: load(UInt64.self, i)))
    case .uint64: Double(load(UInt64.self, i))
    case .int32: Double(Int32(bitPattern: load(UInt32.self, i)))
    case .uint32: Double(load(UInt32.self, i))
    case .float16: Double(halfToFloat(load(UInt16.self, i)))
    case .bfloat16: Double(Float(bitPattern: UInt32(load(UInt16.self, i)) << 16))
    case .int16: Double(Int16(bitPattern: load(UInt16.self, i)))
    case .uint16: Double(load(UInt16.self, i))
    case .int8: Double(Int8(bitPattern: bytes[i]))
    case .uint8, .bool: Double(bytes[i])
    }
  }
}

/// Bytes per element of `type` in `raw_data` and external data.
private func elementSize(_ type: ONNXDataType) -> Int {
  switch type {
  case .float, .int32, .uint32: 4
  case .double, .int64, .uint64: 8
  case .float16, .bfloat16, .int16, .uint16: 2
  case .int8, .uint8, .bool: 1
  }
}

/// Reads the `byteCount` bytes of `tensor`'s external data.
///
/// The file must be a regular file inside `baseDirectory` (the model's folder) once every
/// symbolic link is resolved: `realpath(folder/location)` must start with
/// `realpath(folder) + "/"`. It is opened with `O_NONBLOCK | O_NOFOLLOW` (a FIFO cannot block
/// the open) and its type checked with `fstat` before a byte is read, so a location such as
/// `../../secret`, an absolute path, or a link to `/dev/zero` is refused. `offset + byteCount`
/// must lie within the file, and a `length` entry, when present, must equal `byteCount` (the
/// tensor's size): nothing is read beyond what the tensor needs.
private func readExternal(_ tensor: Onnx_TensorProto, byteCount: Int, baseDirectory: URL?)
  throws(ONNXImportError) -> Data
{
  var location = ""
  var offset = 0
  var length: Int?
  for entry in tensor.externalData {
    switch entry.key {
    case "location": location = entry.value
    case "offset": offset = Int(entry.value) ?? -1
    case "length": length = Int(entry.value) ?? -1
    default: break
    }
  }
  func refuse(_ reason: String) -> ONNXImportError {
    .invalidExternalData(tensor: tensor.name, location: location, reason: reason)
  }
  guard !location.isEmpty, !location.utf8.contains(0) else {
    throw refuse("external data without a location")
  }
  guard offset >= 0 else { throw refuse("bad offset") }
  if let length, length != byteCount {
    throw refuse("length \(length) differs from the tensor's \(byteCount) bytes")
  }
  guard !location.hasPrefix("/") else { throw refuse("an absolute path; it must lie in the model's folder") }
  guard let baseDirectory else { throw .missingExternalData(tensor: tensor.name, file: location) }
  let candidate = baseDirectory.appendingPathComponent(location).path
  guard let folder = resolvedPath(baseDirectory.path) else {
    throw .missingExternalData(tensor: tensor.name, file: candidate)
  }
  guard let resolved = resolvedPath(candidate) else {
    throw .missingExternalData(tensor: tensor.name, file: candidate)
  }
  let inside = folder.hasSuffix("/") ? folder : folder + "/"
  guard resolved.hasPrefix(inside) else { throw refuse("the file lies outside the model's folder") }
  let fd = open(resolved, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC)
  guard fd >= 0 else { throw .missingExternalData(tensor: tensor.name, file: candidate) }
  defer { close(fd) }
  var info = stat()
  guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
    throw refuse("not a regular file")
  }
  let size = Int(info.st_size)
  guard offset <= size, size - offset >= byteCount else {
    throw refuse("offset \(offset) + \(byteCount) bytes runs past the end of the file (\(size) bytes)")
  }
  var data = Data(count: byteCount)
  var done = 0
  let ok = data.withUnsafeMutableBytes { (buffer: UnsafeMutableRawBufferPointer) -> Bool in
    while done < byteCount {
      let n = pread(fd, buffer.baseAddress! + done, byteCount - done, off_t(offset + done))
      if n < 0 && errno == EINTR { continue }
      guard n > 0 else { return false }
      done += n
    }
    return true
  }
  guard ok else { throw refuse("read failed after \(done) of \(byteCount) bytes") }
  return data
}

/// `path` with every symbolic link, `.` and `..` resolved (realpath(3)); `nil` if it does not
/// exist.
private func resolvedPath(_ path: String) -> String? {
  guard let p = realpath(path, nil) else { return nil }
  defer { free(p) }
  return String(cString: p)
}
