import Foundation
import LiftIO
import Testing

/// LiftIO's CSV table reader (RFC 4180, numbers only): what it accepts and the row and column
/// it names for what it refuses. Expected values are the literal numbers of each text.
@Suite("CSV tables")
struct CSVTableTests {
  func parse(_ text: String) throws(CSVError) -> CSVTable { try CSVTable.parse(Array(text.utf8), name: "t.csv") }

  func failure(_ text: String) -> String {
    do {
      _ = try parse(text)
      return "no error"
    } catch { return error.description }
  }

  @Test("header and numbers, row-major")
  func plain() throws {
    let t = try parse("a,b\n1,2\n3.5,-4e-2\n")
    #expect(t.header == ["a", "b"])
    #expect(t.values == [1, 2, 3.5, -0.04])
    #expect(t.rowCount == 2)
    #expect(t.tensor.shape.dimensions == [2, 2])
  }

  @Test("RFC 4180 quoting: commas, doubled quotes and line breaks inside quotes; quoted numbers")
  func quoting() throws {
    let t = try parse("\"income, k\",\"say \"\"hi\"\"\",\"two\nlines\"\n\"1.5\",2,3\n")
    #expect(t.header == ["income, k", "say \"hi\"", "two\nlines"])
    #expect(t.values == [1.5, 2, 3])
  }

  @Test("a UTF-8 byte-order mark, CRLF line ends and no final line end")
  func bomAndCRLF() throws {
    let t = try CSVTable.parse([0xEF, 0xBB, 0xBF] + Array("age,debt\r\n30,0.25\r\n41,0.5".utf8), name: "t.csv")
    #expect(t.header == ["age", "debt"])
    #expect(t.values == [30, 0.25, 41, 0.5])
  }

  @Test("number forms: signs, leading or trailing point, exponents, surrounding spaces")
  func numbers() throws {
    let t = try parse("a,b,c,d,e,f\n+2,.5,5.,1E3, 7 ,-0\n")
    #expect(t.values == [2, 0.5, 5, 1000, 7, 0])
    // Parsed as Double, then rounded once to float32 (as numpy reads CSV into float32).
    let u = try parse("a\n0.1\n16777217\n")
    #expect(u.values == [Float(0.1), Float(Double(16_777_217))])
  }

  @Test("an empty cell, text, nan and inf name the row and the column")
  func badCells() {
    #expect(failure("age,debt\n30,0.2\n41,\n") == "t.csv: row 2 (line 3), column 2 'debt': empty cell; CSV tables hold numbers only")
    #expect(failure("age,debt\n30,0.2\nforty,1\n").contains("row 2 (line 3), column 1 'age': 'forty' is not a number"))
    #expect(failure("a,b\nnan,1\n").contains("column 1 'a': 'nan' is not a number"))
    #expect(failure("a,b\n1,inf\n").contains("column 2 'b': 'inf' is not a number"))
    #expect(failure("a\n0x10\n").contains("'0x10' is not a number"))
    #expect(failure("a\n1e\n").contains("'1e' is not a number"))
    #expect(failure("a\n1e39\n").contains("'1e39' is not a number"))
  }

  @Test("structure: field counts, quotes, header names")
  func structure() {
    #expect(failure("a,b\n1,2,3\n") == "t.csv: row 1 (line 2) has 3 field(s) but the header has 2")
    #expect(failure("a,b\n1,\"2\n") == "t.csv: line 2: a quoted field is not closed")
    #expect(failure("a,b\n1,2\"3\n").contains("line 2: a quote inside an unquoted field"))
    #expect(failure("a,b\n\"1\"x,2\n").contains("line 2: text after the closing quote"))
    #expect(failure("a,a\n1,2\n").contains("column name 'a' appears twice"))
    #expect(failure("a,\n1,2\n").contains("column 2 of the header has no name"))
    #expect(failure("") == "t.csv: empty file; a header row of column names is needed")
  }

  @Test("written text reads back to the same floats and names")
  func roundTrip() throws {
    let names = ["plain", "with, comma", "with \"quote\"", " padded"]
    let values: [Float] = [0.1, -2.5e-6, 3.4028235e38, Float.leastNonzeroMagnitude]
    let text = CSVTable.text(header: names) + CSVTable.text(row: values)
    let t = try parse(text)
    #expect(t.header == names)
    #expect(t.values.map(\.bitPattern) == values.map(\.bitPattern))
  }
}
