import Foundation

/// A decoded JSON value. Keras configurations vary between versions (ints or lists for
/// kernel sizes, strings or objects for activations, …), so the importer decodes the whole
/// document into this tolerant tree and reads it with the optional accessors below, which
/// never trap.
enum JSONValue: Sendable, Equatable, Decodable {
  case null
  case bool(Bool)
  case number(Double)
  case string(String)
  case array([JSONValue])
  case object([String: JSONValue])

  init(from decoder: any Decoder) throws {
    let container = try decoder.singleValueContainer()
    if container.decodeNil() {
      self = .null
    } else if let b = try? container.decode(Bool.self) {
      self = .bool(b)
    } else if let d = try? container.decode(Double.self) {
      self = .number(d)
    } else if let s = try? container.decode(String.self) {
      self = .string(s)
    } else if let a = try? container.decode([JSONValue].self) {
      self = .array(a)
    } else {
      self = .object(try container.decode([String: JSONValue].self))
    }
  }

  /// Parses `data` as UTF-8 JSON. Python's `NaN`, `Infinity` and `-Infinity` literals (which
  /// `json.dumps` writes) become `null` first; Keras options that can hold them (ReLU
  /// `max_value`) treat `null` as "no limit". Invalid UTF-8 is rejected up front.
  static func parse(_ data: Data) -> JSONValue? {
    guard String(validating: data, as: UTF8.self) != nil else { return nil }
    return try? JSONDecoder().decode(JSONValue.self, from: replacingPythonConstants(data))
  }

  /// Replaces the tokens `NaN`, `Infinity`, `-Infinity` outside strings with `null`.
  static func replacingPythonConstants(_ data: Data) -> Data {
    let bytes = [UInt8](data)
    var out = [UInt8]()
    out.reserveCapacity(bytes.count)
    var inString = false
    var escaped = false
    var i = 0
    let tokens: [[UInt8]] = [Array("-Infinity".utf8), Array("Infinity".utf8), Array("NaN".utf8)]
    outer: while i < bytes.count {
      let b = bytes[i]
      if inString {
        if escaped {
          escaped = false
        } else if b == UInt8(ascii: "\\") {
          escaped = true
        } else if b == UInt8(ascii: "\"") {
          inString = false
        }
      } else if b == UInt8(ascii: "\"") {
        inString = true
      } else {
        for token in tokens where bytes[i...].starts(with: token) {
          out.append(contentsOf: Array("null".utf8))
          i += token.count
          continue outer
        }
      }
      out.append(b)
      i += 1
    }
    return Data(out)
  }

  subscript(key: String) -> JSONValue? {
    if case .object(let o) = self { return o[key] }
    return nil
  }

  var isNull: Bool { self == .null }
  var string: String? {
    if case .string(let s) = self { return s }
    return nil
  }
  var array: [JSONValue]? {
    if case .array(let a) = self { return a }
    return nil
  }
  var object: [String: JSONValue]? {
    if case .object(let o) = self { return o }
    return nil
  }
  var bool: Bool? {
    if case .bool(let b) = self { return b }
    return nil
  }
  var double: Double? {
    if case .number(let d) = self { return d }
    return nil
  }
  /// An integral number that fits `Int` (within ±2⁵³).
  var int: Int? {
    guard case .number(let d) = self, d.isFinite, d.rounded() == d, abs(d) <= 9e15 else { return nil }
    return Int(d)
  }
}
