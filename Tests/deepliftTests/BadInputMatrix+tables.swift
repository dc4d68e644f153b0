import Foundation
import Testing

// Issue 16 (CSV tables): bad tables and table references, each one `error:` line naming the
// file, row and column; nothing written, an existing output untouched.
enum TablesMatrix {
  static let header = "age,income_k,debt_ratio,credit_lines,late_payments,years_employed,loan_amount_k,savings_k\n"
  static let good = header + "30,50,0.3,4,1,5,20,10\n41,62,0.2,3,0,9,12,30\n"

  /// Copies the bundled credit model and writes `files` (name → text) into the directory.
  static func files(_ files: [String: String]) -> @Sendable (URL) throws -> Void {
    { dir in
      try FileManager.default.copyItem(
        at: creditExample.appendingPathComponent("model.onnx"), to: dir.appendingPathComponent("model.onnx"))
      for (name, text) in files { try Data(text.utf8).write(to: dir.appendingPathComponent(name)) }
    }
  }

  static func explain(_ extra: [String], output: String = "out.csv") -> [String] {
    ["explain", "model.onnx", "--input", "x.csv", "--output", output] + extra
  }

  static let cases: [BadCase] = [
    BadCase(
      label: "CSV input: empty cell", arguments: explain([]), status: 1,
      mentions: ["x.csv", "row 2 (line 3)", "column 3 'debt_ratio'", "empty cell"], precreate: "out.csv",
      setup: files(["x.csv": header + "30,50,0.3,4,1,5,20,10\n41,62,,3,0,9,12,30\n"])),
    BadCase(
      label: "CSV input: text in a cell", arguments: explain([]), status: 1,
      mentions: ["x.csv", "row 1 (line 2)", "column 1 'age'", "'thirty' is not a number"], precreate: "out.csv",
      setup: files(["x.csv": header + "thirty,50,0.3,4,1,5,20,10\n"])),
    BadCase(
      label: "CSV input: NaN cell", arguments: explain([]), status: 1,
      mentions: ["x.csv", "column 8 'savings_k'", "'NaN' is not a number"], precreate: "out.csv",
      setup: files(["x.csv": header + "30,50,0.3,4,1,5,20,NaN\n"])),
    BadCase(
      label: "CSV input: a row with too few fields", arguments: explain([]), status: 1,
      mentions: ["x.csv", "row 2 (line 3) has 7 field(s) but the header has 8"], precreate: "out.csv",
      setup: files(["x.csv": header + "30,50,0.3,4,1,5,20,10\n30,50,0.3,4,1,5,20\n"])),
    BadCase(
      label: "CSV input: unclosed quote", arguments: explain([]), status: 1,
      mentions: ["x.csv", "line 2", "quoted field is not closed"], precreate: "out.csv",
      setup: files(["x.csv": header + "\"30,50,0.3,4,1,5,20,10\n"])),
    BadCase(
      label: "CSV input: header only", arguments: explain([]), status: 1,
      mentions: ["x.csv", "no rows after the header"], precreate: "out.csv", setup: files(["x.csv": header])),
    BadCase(
      label: "CSV input: columns do not fit the model", arguments: explain([]), status: 1,
      mentions: ["x.csv", "(1, 2)"], precreate: "out.csv", setup: files(["x.csv": "a,b\n1,2\n"])),
    BadCase(
      label: "CSV input: a feature called output", arguments: explain([]), status: 1,
      mentions: ["out.csv", "feature 'output'"], precreate: "out.csv",
      setup: files(["x.csv": header.replacingOccurrences(of: "savings_k", with: "output") + "30,50,0.3,4,1,5,20,10\n"])),
    BadCase(
      label: "--reference mean:B.csv with other columns", arguments: explain(["--reference", "mean:b.csv"]), status: 1,
      mentions: ["b.csv", "columns (a, b) differ from those of x.csv"], precreate: "out.csv",
      setup: files(["x.csv": good, "b.csv": "a,b\n1,2\n"])),
    BadCase(
      label: "--reference median:B.csv with a bad cell", arguments: explain(["--reference", "median:b.csv"]), status: 1,
      mentions: ["b.csv", "row 1 (line 2), column 2 'income_k'", "empty cell"], precreate: "out.csv",
      setup: files(["x.csv": good, "b.csv": header + "30,,0.3,4,1,5,20,10\n"])),
    BadCase(
      label: "--reference mean:B.csv missing", arguments: explain(["--reference", "mean:missing.csv"]), status: 1,
      mentions: ["missing.csv"], precreate: "out.csv", setup: files(["x.csv": good])),
    BadCase(
      label: "--reference R.csv with 3 rows for 2 examples", arguments: explain(["--reference", "r.csv"]), status: 1,
      mentions: ["r.csv", "3 rows", "one per example of x.csv (2)"], precreate: "out.csv",
      setup: files(["x.csv": good, "r.csv": good + "1,2,3,4,5,6,7,8\n"])),
    BadCase(
      label: "--background B.csv with other columns", arguments: explain(["--background", "b.csv"]), status: 1,
      mentions: ["b.csv", "differ from those of x.csv"], precreate: "out.csv",
      setup: files(["x.csv": good, "b.csv": "a\n1\n"])),
    BadCase(
      label: "--output .csv from .npy input (no feature names)",
      arguments: ["explain", "model.onnx", "--input", "x.npy", "--output", "out.csv"], status: 2,
      mentions: ["--output SCORES.csv needs --input DATA.csv"], precreate: "out.csv", setup: files([:])),
    BadCase(
      label: "--reference mean with .npy input",
      arguments: ["explain", "model.onnx", "--input", "x.npy", "--output", "out.npy", "--reference", "mean"], status: 2,
      mentions: ["--reference mean needs --input DATA.csv"], setup: files([:])),
    BadCase(
      label: "CSV output over the input", arguments: explain([], output: "x.csv"), status: 2,
      mentions: ["x.csv", "same file as --input"], precreate: nil, setup: files(["x.csv": good])),
    BadCase(
      label: "plot: a CSV that is not a table of scores", arguments: ["plot", "x.csv", "--output", "out.png"], status: 1,
      mentions: ["x.csv", "not a CSV of scores", "base_value and output"], precreate: "out.png",
      setup: files(["x.csv": good])),
    BadCase(
      label: "plot: waterfall example out of range",
      arguments: ["plot", "s.csv", "--kind", "waterfall", "--example", "2", "--output", "out.png"], status: 1,
      mentions: ["s.csv", "example 2 is out of range"], precreate: "out.png",
      setup: files(["s.csv": "a,b,base_value,output\n1,2,0,3\n3,4,0,7\n"])),
  ]
}

@Suite("deeplift bad-input matrix: CSV tables (issue 16)")
struct TablesMatrixTests {
  @Test("refused tables and table references", arguments: TablesMatrix.cases)
  func refused(_ c: BadCase) throws { try BadInputMatrixTests.check(c) }
}
