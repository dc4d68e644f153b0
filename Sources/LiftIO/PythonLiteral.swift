/// The subset of Python literals that can appear in a `.npy` header (what `ast.literal_eval`
/// would accept there): dicts, tuples, lists, strings, integers, `True`/`False`/`None`.
enum PythonLiteral: Equatable {
  case string(String)
  /// The integer's decimal text (sign included, Python 2 `L` suffix removed), so that values
  /// beyond `Int` can be reported instead of trapping.
  case integer(String)
  case bool(Bool)
  case none
  case tuple([PythonLiteral])
  case list([PythonLiteral])
  /// Keys and values in source order.
  case dict([(PythonLiteral, PythonLiteral)])

  static func == (a: PythonLiteral, b: PythonLiteral) -> Bool {
    switch (a, b) {
    case (.string(let x), .string(let y)): return x == y
    case (.integer(let x), .integer(let y)): return x == y
    case (.bool(let x), .bool(let y)): return x == y
    case (.none, .none): return true
    case (.tuple(let x), .tuple(let y)), (.list(let x), .list(let y)): return x == y
    case (.dict(let x), .dict(let y)):
      return x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
    default: return false
    }
  }

  /// A short Python-like rendering for error messages.
  var text: String {
    switch self {
    case .string(let s): return "'\(s)'"
    case .integer(let s): return s
    case .bool(let b): return b ? "True" : "False"
    case .none: return "None"
    case .tuple(let items):
      return items.count == 1 ? "(\(items[0].text),)" : "(" + items.map(\.text).joined(separator: ", ") + ")"
    case .list(let items): return "[" + items.map(\.text).joined(separator: ", ") + "]"
    case .dict(let pairs): return "{" + pairs.map { "\($0.text): \($1.text)" }.joined(separator: ", ") + "}"
    }
  }

  /// Parses exactly one literal surrounded by optional whitespace.
  ///
  /// - Throws: a one-line reason (without the file name) on any syntax error.
  static func parse(_ source: String) throws(PythonLiteralError) -> PythonLiteral {
    var parser = Parser(scalars: Array(source.unicodeScalars))
    let value = try parser.value(depth: 0)
    parser.skipSpace()
    guard parser.index == parser.scalars.count else {
      throw PythonLiteralError(reason: "unexpected \(parser.describeCurrent()) after the dictionary")
    }
    return value
  }
}

struct PythonLiteralError: Error {
  var reason: String
}

private struct Parser {
  let scalars: [Unicode.Scalar]
  var index = 0
  /// Nesting limit, so a hostile header cannot overflow the stack.
  static let maxDepth = 32

  init(scalars: [Unicode.Scalar]) { self.scalars = scalars }

  var current: Unicode.Scalar? { index < scalars.count ? scalars[index] : nil }

  func describeCurrent() -> String {
    guard let c = current else { return "end of header" }
    return c.isASCII && c.value >= 0x20 && c.value < 0x7f ? "'\(Character(c))' at offset \(index)"
      : "character U+\(String(c.value, radix: 16, uppercase: true)) at offset \(index)"
  }

  mutating func skipSpace() {
    while let c = current, c == " " || c == "\t" || c == "\n" || c == "\r" || c == "\u{0C}" || c == "\u{0B}" {
      index += 1
    }
  }

  mutating func value(depth: Int) throws(PythonLiteralError) -> PythonLiteral {
    guard depth < Parser.maxDepth else { throw PythonLiteralError(reason: "nesting too deep") }
    skipSpace()
    guard let c = current else { throw PythonLiteralError(reason: "unexpected end of header") }
    switch c {
    case "{": return try dict(depth: depth)
    case "(": return try sequence(close: ")", depth: depth)
    case "[": return try sequence(close: "]", depth: depth)
    case "'", "\"": return .string(try string())
    case "-", "+", "0"..."9": return .integer(try integer())
    default:
      var word = ""
      while let c = current, c.properties.isAlphabetic || c == "_" || ("0"..."9").contains(c) {
        word.unicodeScalars.append(c)
        index += 1
      }
      switch word {
      case "True": return .bool(true)
      case "False": return .bool(false)
      case "None": return .none
      case "": throw PythonLiteralError(reason: "unexpected \(describeCurrent())")
      default: throw PythonLiteralError(reason: "unexpected name '\(word)'")
      }
    }
  }

  mutating func expect(_ c: Unicode.Scalar) throws(PythonLiteralError) {
    skipSpace()
    guard current == c else {
      throw PythonLiteralError(reason: "expected '\(Character(c))', found \(describeCurrent())")
    }
    index += 1
  }

  mutating func dict(depth: Int) throws(PythonLiteralError) -> PythonLiteral {
    index += 1  // {
    var pairs: [(PythonLiteral, PythonLiteral)] = []
    while true {
      skipSpace()
      if current == "}" { index += 1; return .dict(pairs) }
      let key = try value(depth: depth + 1)
      try expect(":")
      let item = try value(depth: depth + 1)
      pairs.append((key, item))
      skipSpace()
      if current == "," { index += 1; continue }
      try expect("}")
      return .dict(pairs)
    }
  }

  /// A tuple `( … )` or list `[ … ]`. `(x)` without a comma is just `x`, as in Python.
  mutating func sequence(close: Unicode.Scalar, depth: Int) throws(PythonLiteralError) -> PythonLiteral {
    index += 1
    var items: [PythonLiteral] = []
    var sawComma = false
    while true {
      skipSpace()
      if current == close { index += 1; break }
      items.append(try value(depth: depth + 1))
      skipSpace()
      if current == "," { index += 1; sawComma = true; continue }
      try expect(close)
      break
    }
    if close == "]" { return .list(items) }
    if items.count == 1 && !sawComma { return items[0] }
    return .tuple(items)
  }

  mutating func string() throws(PythonLiteralError) -> String {
    let quote = scalars[index]
    index += 1
    var result = String.UnicodeScalarView()
    while let c = current {
      index += 1
      if c == quote { return String(result) }
      if c == "\n" { break }
      if c == "\\" {
        guard let e = current else { break }
        index += 1
        switch e {
        case "n": result.append("\n")
        case "t": result.append("\t")
        case "r": result.append("\r")
        case "0": result.append("\0")
        case "\\", "'", "\"": result.append(e)
        default: result.append("\\"); result.append(e)
        }
      } else {
        result.append(c)
      }
    }
    throw PythonLiteralError(reason: "unterminated string")
  }

  mutating func integer() throws(PythonLiteralError) -> String {
    var text = ""
    if let c = current, c == "-" || c == "+" {
      if c == "-" { text = "-" }
      index += 1
      skipSpace()
    }
    var digits = 0
    while let c = current, ("0"..."9").contains(c) {
      text.unicodeScalars.append(c)
      index += 1
      digits += 1
    }
    guard digits > 0 else { throw PythonLiteralError(reason: "expected a digit, found \(describeCurrent())") }
    if let c = current, c == "L" || c == "l" { index += 1 }  // Python 2 long suffix
    if let c = current, c == "." || c == "e" || c == "E" || c == "j" || c == "x" || c == "_" {
      throw PythonLiteralError(reason: "expected an integer, found \(describeCurrent())")
    }
    return text
  }
}
