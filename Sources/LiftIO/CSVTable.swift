import Foundation
import LiftTensor

/// A bad CSV file; the description is one line naming the file, and the row and column at
/// fault where there is one.
public struct CSVError: Error, CustomStringConvertible, Equatable {
  public let description: String
  public init(_ description: String) { self.description = description }
}

/// A table of numbers read from a CSV file (RFC 4180): a header row of column names, then
/// one record per row, numbers only.
///
/// Accepted: fields quoted with `"` (a quote inside doubled, `""`; commas and line breaks
/// inside quotes), a UTF-8 byte-order mark, `\r\n` or `\n` line ends, a missing final line
/// end. Refused, with the row and column named: an empty cell, text that is not a decimal
/// number (`[+-]digits[.digits][e[+-]digits]`; `nan`, `inf` and hex floats are refused too), a
/// record with a different number of fields than the header, a stray quote, an unterminated
/// quoted field. The header's names must be non-empty and distinct.
///
/// Cells are parsed as `Double` (correctly rounded) and then rounded to float32, as
/// `pandas.read_csv(...).to_numpy(np.float32)` or `np.loadtxt(..., dtype=np.float32)` do.
///
/// A hand-written parser: the Swift packages for CSV (CodableCSV, SwiftCSV) parse into
/// strings or `Codable` records and have no row/column error positions for numeric cells;
/// the grammar is 30 lines here.
public struct CSVTable: Sendable, Equatable {
  /// The column names of the header row.
  public let header: [String]
  /// The cells, row-major: `values[r * header.count + c]`.
  public let values: [Float]

  /// The number of data rows (the header not counted).
  public var rowCount: Int { header.isEmpty ? 0 : values.count / header.count }

  /// A table of `values` (row-major, `rowCount × header.count`).
  public init(header: [String], values: [Float]) {
    precondition(header.isEmpty ? values.isEmpty : values.count % header.count == 0)
    self.header = header
    self.values = values
  }

  /// The table as a `[rows, columns]` float32 tensor.
  public var tensor: Tensor { Tensor(shape: Shape([rowCount, header.count]), scalars: values) }

  /// Reads `url` whole; it may hold at most `maximumBytes` bytes (checked from the file's
  /// size before anything is read).
  ///
  /// - Throws: ``CSVError`` naming the file: unreadable, too large, or malformed (see the
  ///   type's description).
  public static func read(url: URL, maximumBytes: Int) throws(CSVError) -> CSVTable {
    let name = url.relativePath
    let bytes: Data
    do {
      let size = (try FileManager.default.attributesOfItem(atPath: url.path)[.size] as? NSNumber)?.intValue ?? 0
      guard size <= maximumBytes else {
        throw CSVError("\(name): \(size) bytes is above the limit of \(maximumBytes) bytes for a CSV table")
      }
      let handle = try FileHandle(forReadingFrom: url)
      defer { try? handle.close() }
      bytes = try handle.read(upToCount: maximumBytes + 1) ?? Data()
      guard bytes.count <= maximumBytes else {
        throw CSVError("\(name): more than \(maximumBytes) bytes is above the limit for a CSV table")
      }
    } catch let error as CSVError {
      throw error
    } catch {
      throw CSVError("\(name): cannot read: \(error.localizedDescription)")
    }
    return try parse(Array(bytes), name: name)
  }

  /// Parses CSV bytes (see the type's description); `name` is used in messages.
  public static func parse(_ bytes: [UInt8], name: String) throws(CSVError) -> CSVTable {
    let records = try splitRecords(bytes, name: name)
    guard let first = records.first else { throw CSVError("\(name): empty file; a header row of column names is needed") }
    let header = first.fields
    for (c, h) in header.enumerated() where h.trimmingCharacters(in: .whitespaces).isEmpty {
      throw CSVError("\(name): line \(first.line): column \(c + 1) of the header has no name")
    }
    if let twice = header.enumerated().first(where: { i, h in header[..<i].contains(h) })?.element {
      throw CSVError("\(name): line \(first.line): column name '\(twice)' appears twice in the header")
    }
    var values: [Float] = []
    values.reserveCapacity((records.count - 1) * header.count)
    for (r, record) in records.dropFirst().enumerated() {
      guard record.fields.count == header.count else {
        throw CSVError(
          "\(name): row \(r + 1) (line \(record.line)) has \(record.fields.count) field(s) but the header has \(header.count)")
      }
      for (c, cell) in record.fields.enumerated() {
        guard let v = number(cell) else {
          let what = cell.isEmpty ? "empty cell" : "'\(cell.prefix(40))' is not a number"
          throw CSVError(
            "\(name): row \(r + 1) (line \(record.line)), column \(c + 1) '\(header[c])': \(what); CSV tables hold numbers only")
        }
        values.append(v)
      }
    }
    return CSVTable(header: header, values: values)
  }

  /// A decimal number (`[+-]digits[.digits][(e|E)[+-]digits]`, surrounding spaces allowed)
  /// rounded to float32 through `Double`; `nil` for anything else or a value beyond float32.
  static func number(_ cell: String) -> Float? {
    let text = cell.trimmingCharacters(in: .whitespaces)
    var digits = false, exponent = false, exponentDigits = false, dot = false
    var previous: UInt8 = 0
    for (i, ch) in text.utf8.enumerated() {
      defer { previous = ch }
      switch ch {
      case UInt8(ascii: "0")...UInt8(ascii: "9"):
        if exponent { exponentDigits = true } else { digits = true }
      case UInt8(ascii: "+"), UInt8(ascii: "-"):
        guard i == 0 || previous == UInt8(ascii: "e") || previous == UInt8(ascii: "E") else { return nil }
      case UInt8(ascii: "."):
        guard !dot && !exponent else { return nil }
        dot = true
      case UInt8(ascii: "e"), UInt8(ascii: "E"):
        guard digits && !exponent else { return nil }
        exponent = true
      default: return nil
      }
    }
    guard digits, !exponent || exponentDigits, let d = Double(text) else { return nil }
    let f = Float(d)
    return f.isFinite ? f : nil
  }

  /// One record: its fields and the line it starts on (1-based).
  struct Record {
    var fields: [String]
    var line: Int
  }

  /// Splits RFC 4180 text into records of unquoted fields; a final empty line is no record.
  static func splitRecords(_ input: [UInt8], name: String) throws(CSVError) -> [Record] {
    var bytes = input[...]
    if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes = bytes.dropFirst(3) }
    var records: [Record] = []
    var fields: [String] = []
    var field: [UInt8] = []
    var line = 1, recordLine = 1
    var i = bytes.startIndex
    let quote = UInt8(ascii: "\""), comma = UInt8(ascii: ","), cr = UInt8(ascii: "\r"), lf = UInt8(ascii: "\n")
    func text(_ b: [UInt8]) throws(CSVError) -> String {
      guard let s = String(validating: b, as: UTF8.self) else {
        throw CSVError("\(name): line \(line): the text is not UTF-8")
      }
      return s
    }
    var atFieldStart = true
    while i < bytes.endIndex {
      let b = bytes[i]
      if b == quote && atFieldStart {
        // A quoted field: up to the closing quote, `""` standing for one quote.
        let start = line
        i += 1
        var closed = false
        while i < bytes.endIndex {
          if bytes[i] == quote {
            if i + 1 < bytes.endIndex && bytes[i + 1] == quote {
              field.append(quote)
              i += 2
              continue
            }
            closed = true
            i += 1
            break
          }
          if bytes[i] == lf { line += 1 }
          field.append(bytes[i])
          i += 1
        }
        guard closed else { throw CSVError("\(name): line \(start): a quoted field is not closed") }
        guard i == bytes.endIndex || bytes[i] == comma || bytes[i] == lf || (bytes[i] == cr) else {
          throw CSVError("\(name): line \(line): text after the closing quote of a field")
        }
        atFieldStart = false
        continue
      }
      switch b {
      case comma:
        fields.append(try text(field))
        field = []
        atFieldStart = true
        i += 1
      case cr, lf:
        // `\r\n`, `\n` (and a lone `\r`) end a record.
        if b == cr && i + 1 < bytes.endIndex && bytes[i + 1] == lf { i += 1 }
        i += 1
        fields.append(try text(field))
        records.append(Record(fields: fields, line: recordLine))
        fields = []
        field = []
        line += 1
        recordLine = line
        atFieldStart = true
      case quote:
        throw CSVError("\(name): line \(line): a quote inside an unquoted field (quote the whole field and double the quote)")
      default:
        field.append(b)
        atFieldStart = false
        i += 1
      }
    }
    if !fields.isEmpty || !field.isEmpty || !atFieldStart {
      fields.append(try text(field))
      records.append(Record(fields: fields, line: recordLine))
    }
    return records
  }

  /// CSV text for `header` and rows of `columns` values each: names quoted where RFC 4180
  /// needs it (a comma, quote, line break or surrounding space), numbers in Swift's shortest
  /// form that reads back to the same float32 (`0.1`, `-2.5e-06`), `\n` line ends.
  public static func text(header: [String]) -> String {
    header.map(quoted).joined(separator: ",") + "\n"
  }

  /// One data row (see ``text(header:)``).
  public static func text(row: some Sequence<Float>) -> String {
    row.map { "\($0)" }.joined(separator: ",") + "\n"
  }

  static func quoted(_ name: String) -> String {
    let special = name.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" })
      || name.first == " " || name.last == " "
    return special ? "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : name
  }
}

/// A CSV of scores as `deeplift explain --output SCORES.csv` writes it: feature columns, then
/// `base_value` and `output`.
public struct ScoreColumns: Sendable {
  /// The feature names (the header without the last two columns).
  public let featureNames: [String]
  /// `[N, F]`: one row of scores per example.
  public let scores: Tensor
  /// Each example's `base_value` (the target at its reference).
  public let baseValues: [Float]
  /// Each example's `output` (f(x)).
  public let outputs: [Float]

  /// The columns of `table`.
  ///
  /// - Throws: ``CSVError`` naming `name` unless the last two columns are `base_value` and
  ///   `output` after at least one feature, with at least one row.
  public init(_ table: CSVTable, name: String) throws(CSVError) {
    let c = table.header.count
    guard c >= 3, Array(table.header.suffix(2)) == ["base_value", "output"], table.rowCount > 0 else {
      throw CSVError(
        "\(name): not a CSV of scores: expected feature columns, then base_value and output, and at least one row (header: \(table.header.prefix(12).joined(separator: ", ")))")
    }
    let f = c - 2
    let n = table.rowCount
    featureNames = Array(table.header.prefix(f))
    scores = Tensor(shape: Shape([n, f]), scalars: (0..<n).flatMap { table.values[($0 * c)..<($0 * c + f)] })
    baseValues = (0..<n).map { table.values[$0 * c + f] }
    outputs = (0..<n).map { table.values[$0 * c + f + 1] }
  }

  /// Each feature's mean |score| over the examples, `[F]` (summed in `Double`).
  public var meanAbsoluteScores: Tensor {
    let (n, f) = (scores.shape[0], scores.shape[1])
    let s = scores.scalars
    return Tensor(
      shape: Shape([f]),
      scalars: (0..<f).map { j in Float((0..<n).reduce(0.0) { $0 + Double(abs(s[$1 * f + j])) } / Double(n)) })
  }
}
