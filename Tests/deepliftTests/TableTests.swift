import Foundation
import LiftIO
import LiftKit
import Testing

/// The bundled tabular example (Examples/credit, made by Scripts/fixtures/make_credit_example.py):
/// an 8 → 16 → 8 → 1 ReLU MLP on credit-style features, exported from torch to ONNX.
let creditExample = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
  .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Examples/credit")

/// A CSV of scores as written by `deeplift explain --output S.csv`: header and rows.
func readScoreTable(_ url: URL) throws -> CSVTable {
  try CSVTable.parse(Array(try Data(contentsOf: url)), name: url.lastPathComponent)
}

@Suite("deeplift explain: CSV tables (issue 16)")
struct TableCLITests {
  let model = creditExample.appendingPathComponent("model.onnx").path
  let applicants = creditExample.appendingPathComponent("applicants.csv").path
  let background = creditExample.appendingPathComponent("background.csv").path
  let features = [
    "age", "income_k", "debt_ratio", "credit_lines", "late_payments", "years_employed", "loan_amount_k", "savings_k",
  ]

  /// Runs `deeplift explain` in a fresh directory and returns it (the caller cleans up).
  func explain(_ extra: [String], output: String, input: String? = nil) throws -> URL {
    let dir = try makeTemporaryDirectory()
    let r = try runDeeplift(
      arguments: ["explain", model, "--input", input ?? applicants, "--output", output] + extra, in: dir)
    #expect(r.status == 0, "\(r.stderr)")
    return dir
  }

  @Test("CSV in and out equal the .npy path on the same numbers, bit for bit")
  func csvEqualsNpy() throws {
    let npyInput = matrixFixtures.appendingPathComponent("credit/applicants.npy").path
    for reference in [["--reference", "mean:" + background], ["--background", background], []] {
      let dir = try explain(reference, output: "s.csv")
      defer { cleanup(dir) }
      // The same rows from the .npy file, the same reference as an array: a shared row (.npy
      // of the column means read from the CSV scores' reference), or the background as .npy.
      let table = try readScoreTable(dir.appendingPathComponent("s.csv"))
      #expect(table.header == features + ["base_value", "output"])
      var npyArgs: [String] = []
      if reference.first == "--background" {
        let b = try CSVTable.parse(Array(try Data(contentsOf: URL(fileURLWithPath: background))), name: "b")
        try NumPy.write(b.tensor, to: dir.appendingPathComponent("b.npy"))
        npyArgs = ["--background", "b.npy"]
      } else if !reference.isEmpty {
        let b = try CSVTable.parse(Array(try Data(contentsOf: URL(fileURLWithPath: background))), name: "b")
        try NumPy.write(TableProfile.mean.row(of: b.tensor), to: dir.appendingPathComponent("r.npy"))
        npyArgs = ["--reference", "r.npy"]
      }
      let r = try runDeeplift(
        arguments: ["explain", model, "--input", npyInput, "--output", "s.npy"] + npyArgs, in: dir)
      #expect(r.status == 0, "\(r.stderr)")
      let npy = try NumPy.read(dir.appendingPathComponent("s.npy"))
      let fromCSV = (0..<table.rowCount).flatMap { i in table.values[(i * 10)..<(i * 10 + 8)] }
      #expect(npy.shape.dimensions == [20, 8])
      #expect(fromCSV.map(\.bitPattern) == npy.scalars.map(\.bitPattern), "\(reference)")
    }
  }

  @Test("each row's scores sum to output - base_value; base_value is f(reference) or the background mean of f")
  func columns() throws {
    // f(x) from `deeplift predict` on the same rows (a separate forward pass).
    let dir = try makeTemporaryDirectory()
    defer { cleanup(dir) }
    let npyInput = matrixFixtures.appendingPathComponent("credit/applicants.npy").path
    let b = try CSVTable.parse(Array(try Data(contentsOf: URL(fileURLWithPath: background))), name: "b")
    try NumPy.write(b.tensor, to: dir.appendingPathComponent("b.npy"))
    let zero = Tensor.zeros([1, 8])
    try NumPy.write(zero, to: dir.appendingPathComponent("zero.npy"))
    for (args, out) in [(["--input", npyInput], "fx.npy"), (["--input", "b.npy"], "fb.npy"), (["--input", "zero.npy"], "f0.npy")] {
      let r = try runDeeplift(arguments: ["predict", model] + args + ["--output", out], in: dir)
      #expect(r.status == 0, "\(r.stderr)")
    }
    let fx = try NumPy.read(dir.appendingPathComponent("fx.npy")).scalars
    let fb = try NumPy.read(dir.appendingPathComponent("fb.npy")).scalars
    let f0 = try NumPy.read(dir.appendingPathComponent("f0.npy")).scalars[0]
    let backgroundMean = Float(fb.reduce(0.0) { $0 + Double($1) } / Double(fb.count))
    for (reference, base) in [(["--background", background], backgroundMean), (["--reference", "zeros"], f0)] {
      let d = try explain(reference, output: "s.csv")
      defer { cleanup(d) }
      let t = try readScoreTable(d.appendingPathComponent("s.csv"))
      #expect(t.rowCount == 20)
      for i in 0..<20 {
        let row = Array(t.values[(i * 10)..<(i * 10 + 10)])
        #expect(abs(row[8] - base) <= 1e-5 * max(1, abs(base)), "\(reference) row \(i): base_value")
        #expect(abs(row[9] - fx[i]) <= 1e-5 * max(1, abs(fx[i])), "row \(i): output")
        let sum = row[0..<8].reduce(Float(0), +)
        #expect(abs(sum - (row[9] - row[8])) <= 1e-4, "\(reference) row \(i): sum \(sum) vs \(row[9] - row[8])")
      }
    }
  }

  @Test("SHAP DeepExplainer golden (shap 0.51, torch twin) with the background's column means as reference")
  func shapGolden() throws {
    struct Golden: Decodable {
      var features: [String]
      var reference: [Float]
      var expected_value: Float
      var shap_values: [[Float]]
      var output: [Float]
    }
    let golden = try JSONDecoder().decode(
      Golden.self, from: Data(contentsOf: matrixFixtures.appendingPathComponent("credit/shap_mean.json")))
    let dir = try explain(["--reference", "mean:" + background], output: "s.csv")
    defer { cleanup(dir) }
    let t = try readScoreTable(dir.appendingPathComponent("s.csv"))
    #expect(Array(t.header.prefix(8)) == golden.features)
    for i in 0..<20 {
      let row = Array(t.values[(i * 10)..<(i * 10 + 10)])
      for j in 0..<8 {
        #expect(abs(row[j] - golden.shap_values[i][j]) <= 1e-5 * max(1, abs(golden.shap_values[i][j])), "row \(i) \(features[j])")
      }
      #expect(abs(row[8] - golden.expected_value) <= 1e-5)
      #expect(abs(row[9] - golden.output[i]) <= 1e-5)
    }
  }

  @Test("median and plain mean (of the input itself) are shared rows of the table's columns")
  func profiles() throws {
    let input = try CSVTable.parse(Array(try Data(contentsOf: URL(fileURLWithPath: applicants))), name: "x")
    for profile in TableProfile.allCases {
      let dir = try explain(["--reference", profile.rawValue], output: "s.npy")
      defer { cleanup(dir) }
      try NumPy.write(profile.row(of: input.tensor), to: dir.appendingPathComponent("r.npy"))
      let r = try runDeeplift(
        arguments: ["explain", model, "--input", applicants, "--output", "t.npy", "--reference", "r.npy"], in: dir)
      #expect(r.status == 0, "\(r.stderr)")
      let a = try NumPy.read(dir.appendingPathComponent("s.npy"))
      let b = try NumPy.read(dir.appendingPathComponent("t.npy"))
      #expect(a.scalars.map(\.bitPattern) == b.scalars.map(\.bitPattern), "\(profile)")
    }
  }

  @Test("a CSV reference of one row is shared; of N rows, one per example")
  func csvReference() throws {
    let dir = try makeTemporaryDirectory()
    defer { cleanup(dir) }
    let names = features.joined(separator: ",")
    try Data((names + "\n" + "40,50,0.3,4,1,5,20,10\n").utf8).write(to: dir.appendingPathComponent("one.csv"))
    try NumPy.write(Tensor(shape: [8], scalars: [40, 50, 0.3, 4, 1, 5, 20, 10]), to: dir.appendingPathComponent("one.npy"))
    for (ref, out) in [("one.csv", "a.npy"), ("one.npy", "b.npy")] {
      let r = try runDeeplift(arguments: ["explain", model, "--input", applicants, "--output", out, "--reference", ref], in: dir)
      #expect(r.status == 0, "\(r.stderr)")
    }
    #expect(try NumPy.read(dir.appendingPathComponent("a.npy")) == NumPy.read(dir.appendingPathComponent("b.npy")))
    // One row per example: the input itself as reference gives zero scores and base = output.
    let r = try runDeeplift(
      arguments: ["explain", model, "--input", applicants, "--output", "same.csv", "--reference", applicants], in: dir)
    #expect(r.status == 0, "\(r.stderr)")
    let t = try readScoreTable(dir.appendingPathComponent("same.csv"))
    for i in 0..<20 {
      #expect(t.values[(i * 10)..<(i * 10 + 8)].allSatisfy { $0 == 0 })
      #expect(t.values[i * 10 + 8] == t.values[i * 10 + 9])
    }
  }

  @Test("plot SCORES.csv: bars of mean |score| and one example's waterfall, as PNG")
  func plots() throws {
    let dir = try explain(["--reference", "mean:" + background], output: "s.csv")
    defer { cleanup(dir) }
    for args in [["--output", "bars.png"], ["--kind", "waterfall", "--example", "3", "--output", "w.png"]] {
      let r = try runDeeplift(arguments: ["plot", "s.csv"] + args, in: dir)
      #expect(r.status == 0, "\(r.stderr)")
    }
    for name in ["bars.png", "w.png"] {
      let data = try Data(contentsOf: dir.appendingPathComponent(name))
      #expect(data.starts(with: [0x89, 0x50, 0x4E, 0x47]), "\(name) is a PNG")
    }
  }
}
