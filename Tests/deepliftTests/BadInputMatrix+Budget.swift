import Foundation
import LiftIO
import LiftTensor
import Testing

// Issue 15, memory budget and misleading messages: rows of the bad-input matrix run as a
// process, every one under `ulimit -v` (2 GiB), so a regression that allocates without bound
// fails here instead of taking the machine. Under that limit the tool's memory budget is half
// of it (1 GiB, ``LiftNN/MemoryBudget``).

/// The address-space limit of every run in this file, KiB.
let budgetTestMemoryLimitKB = 2 << 20

// MARK: - Models made on the fly

/// A `.keras` archive holding only `config.json`: a Sequential model with `layers` (JSON
/// objects as text) after an input of per-example shape `input` called `x`. Layers without
/// weights need no `model.weights.h5`.
func kerasArchive(input: [Int], layers: [String]) -> Data {
  let shape = "[null, " + input.map(String.init).joined(separator: ", ") + "]"
  let inputLayer = #"{"class_name": "InputLayer", "config": {"batch_shape": \#(shape), "name": "x"}}"#
  let config =
    #"{"module": "keras", "class_name": "Sequential", "config": {"name": "s", "layers": ["#
    + ([inputLayer] + layers).joined(separator: ", ") + "]}}"
  return storedZip([("config.json", Data(config.utf8))])
}

/// `ZeroPadding1D` of 1,050,000,000 on each side of a `(10, 1)` input: a 386-byte file whose
/// one example needs 8.4 GB (2,100,000,010 floats, under the 2³¹ element cap).
let hugePaddingModel = kerasArchive(
  input: [10, 1],
  layers: [#"{"class_name": "ZeroPadding1D", "config": {"name": "pad", "padding": [1050000000, 1050000000]}}"#])

/// `ZeroPadding1D` of 500,000 on each side of a `(10, 1)` input, then a global max: 4 MB of
/// activations per example, one output, `max(max(x), 0)`.
let widePaddingModel = kerasArchive(
  input: [10, 1],
  layers: [
    #"{"class_name": "ZeroPadding1D", "config": {"name": "pad", "padding": [500000, 500000]}}"#,
    #"{"class_name": "GlobalMaxPooling1D", "config": {"name": "top"}}"#,
  ])

/// A model whose output has no features: `(3, 0)` reshaped to `(0,)`.
let emptyOutputModel = kerasArchive(
  input: [3, 0], layers: [#"{"class_name": "Reshape", "config": {"name": "r", "target_shape": [0]}}"#])

/// `Rescaling` by 1e39, which is +inf in float32: an infinite weight read from a Keras file.
let infiniteScaleModel = kerasArchive(
  input: [4], layers: [#"{"class_name": "Rescaling", "config": {"name": "scale", "scale": 1e39, "offset": 0}}"#])

/// Two `Rescaling` layers by 3e38: finite weights whose output overflows to ±inf on inputs
/// of magnitude ≥ 1, so the scores and the summation-to-delta error are NaN.
let overflowingModel = kerasArchive(
  input: [4],
  layers: [
    #"{"class_name": "Rescaling", "config": {"name": "a", "scale": 3e38, "offset": 0}}"#,
    #"{"class_name": "Rescaling", "config": {"name": "b", "scale": 3e38, "offset": 0}}"#,
  ])

// ONNX models, encoded with the matrix's protobuf writer (`ONNXProto`, BadInputMatrix+ONNX.swift).

/// ONNX: `y = x + b` with `b` holding NaN at index 1 (an initializer read from the file).
let nanInitializerModel = ONNXProto.model(
  nodes: [ONNXProto.node("Add", ["x", "b"], ["y"], name: "y")],
  initializers: [ONNXProto.tensor("b", dims: [3], floats: [1, .nan, 2])],
  inputs: [ONNXProto.valueInfo("x", [nil, 3])], outputs: [ONNXProto.valueInfo("y", [])])

/// ONNX: Flatten of an input declared `[N, 2³¹, 2³¹, 2³¹]` (trapped in `inspect` before).
let hugeFlattenModel = ONNXProto.model(
  nodes: [ONNXProto.node("Flatten", ["x"], ["y"], name: "y", ["axis": .int(1)])],
  inputs: [ONNXProto.valueInfo("x", [nil, 1 << 31, 1 << 31, 1 << 31])], outputs: [ONNXProto.valueInfo("y", [])])

/// ONNX: MaxPool of `(1, 8)` with pads of 2⁶² (trapped in the window arithmetic before).
let hugePoolPadModel = ONNXProto.model(
  nodes: [ONNXProto.node("MaxPool", ["x"], ["y"], name: "y", ["kernel_shape": .ints([2]), "pads": .ints([1 << 62, 1 << 62])])],
  inputs: [ONNXProto.valueInfo("x", [nil, 1, 8])], outputs: [ONNXProto.valueInfo("y", [])])

/// ONNX: `out = a + b` with inputs named `a` and `b`.
func twoInputModel(_ a: String, _ b: String) -> Data {
  ONNXProto.model(
    nodes: [ONNXProto.node("Add", [a, b], ["out"], name: "out")],
    inputs: [ONNXProto.valueInfo(a, [nil, 3]), ONNXProto.valueInfo(b, [nil, 3])], outputs: [ONNXProto.valueInfo("out", [])])
}

// MARK: - The rows

extension BadCase {
  /// The case under the file's memory limit.
  var limited: BadCase {
    var c = self
    c.memoryLimitKB = budgetTestMemoryLimitKB
    return c
  }
}

enum BudgetMatrix {
  static let rows: [BadCase] = [
    // The memory budget: refused before anything is allocated, naming the layer and its shape.
    BadCase(
      label: "ZeroPadding1D to 2.1e9: explain refused (one example does not fit the budget)",
      arguments: ["explain", "pad.keras", "--input", "x.npy", "--output", "out.npy"], status: 1,
      mentions: ["'pad'", "(2100000010, 1)", "memory budget", "DEEPLIFT_MEMORY_BUDGET"],
      setup: all(write(hugePaddingModel, "pad.keras"), write(Tensor(repeating: 1, shape: [2, 10, 1]), "x.npy"))),
    BadCase(
      label: "ZeroPadding1D to 2.1e9: predict refused",
      arguments: ["predict", "pad.keras", "--input", "x.npy", "--output", "out.npy"], status: 1,
      mentions: ["'pad'", "(2100000010, 1)", "memory budget"],
      setup: all(write(hugePaddingModel, "pad.keras"), write(Tensor(repeating: 1, shape: [2, 10, 1]), "x.npy"))),
    BadCase(
      label: "budget set below one example (DEEPLIFT_MEMORY_BUDGET=1M)",
      arguments: ["predict", "wide.keras", "--input", "x.npy", "--output", "out.npy"], status: 1,
      mentions: ["'pad'", "(1000010, 1)", "1.0 MB"],
      setup: all(write(widePaddingModel, "wide.keras"), write(Tensor(repeating: 1, shape: [2, 10, 1]), "x.npy")),
      environment: ["DEEPLIFT_MEMORY_BUDGET": "1M"]),
    // Environment variables: usage errors naming the variable, never a trap.
    BadCase(
      label: "DEEPLIFT_LOAD_TIMEOUT=inf", arguments: explainMLP(), status: 2, mentions: ["DEEPLIFT_LOAD_TIMEOUT", "'inf'"],
      environment: ["DEEPLIFT_LOAD_TIMEOUT": "inf"]),
    BadCase(
      label: "DEEPLIFT_LOAD_TIMEOUT=1e300", arguments: explainMLP(), status: 2, mentions: ["DEEPLIFT_LOAD_TIMEOUT", "'1e300'"],
      environment: ["DEEPLIFT_LOAD_TIMEOUT": "1e300"]),
    BadCase(
      label: "DEEPLIFT_LOAD_TIMEOUT=nan", arguments: explainMLP(), status: 2, mentions: ["DEEPLIFT_LOAD_TIMEOUT"],
      environment: ["DEEPLIFT_LOAD_TIMEOUT": "nan"]),
    BadCase(
      label: "DEEPLIFT_LOAD_TIMEOUT=-5", arguments: explainMLP(), status: 2, mentions: ["DEEPLIFT_LOAD_TIMEOUT"],
      environment: ["DEEPLIFT_LOAD_TIMEOUT": "-5"]),
    BadCase(
      label: "DEEPLIFT_LOAD_TIMEOUT over a day", arguments: explainMLP(), status: 2, mentions: ["DEEPLIFT_LOAD_TIMEOUT", "86400"],
      environment: ["DEEPLIFT_LOAD_TIMEOUT": "86401"]),
    BadCase(
      label: "DEEPLIFT_MEMORY_BUDGET=1e9", arguments: explainMLP(), status: 2, mentions: ["DEEPLIFT_MEMORY_BUDGET", "'1e9'"],
      environment: ["DEEPLIFT_MEMORY_BUDGET": "1e9"]),
    BadCase(
      label: "DEEPLIFT_MEMORY_BUDGET=0", arguments: explainMLP(), status: 2, mentions: ["DEEPLIFT_MEMORY_BUDGET"],
      environment: ["DEEPLIFT_MEMORY_BUDGET": "0"]),
    BadCase(
      label: "DEEPLIFT_MEMORY_BUDGET=lots", arguments: explainMLP(), status: 2, mentions: ["DEEPLIFT_MEMORY_BUDGET"],
      environment: ["DEEPLIFT_MEMORY_BUDGET": "lots"]),
    // Weights that are not finite: refused at load for every format, naming the layer.
    BadCase(
      label: "infinite weight in a .keras (Rescaling 1e39)",
      arguments: ["predict", "inf.keras", "--input", "x.npy", "--output", "out.npy"], status: 1,
      mentions: ["inf.keras", "'scale'", "inf", "finite"],
      setup: all(write(infiniteScaleModel, "inf.keras"), write(matrix(2, 4), "x.npy"))),
    BadCase(
      label: "NaN in an ONNX initializer",
      arguments: ["explain", "nan.onnx", "--input", "x.npy", "--output", "out.npy"], status: 1,
      mentions: ["nan.onnx", "'y'", "NaN", "index [1]"],
      setup: all(write(nanInitializerModel, "nan.onnx"), write(matrix(2, 3), "x.npy"))),
    // Shape arithmetic from a file: an error naming the node, never a trap.
    BadCase(
      label: "ONNX Flatten of [N, 2^31, 2^31, 2^31] in inspect", arguments: ["inspect", "flat.onnx"], status: 1,
      mentions: ["flat.onnx", "more than 2147483648 elements"], precreate: nil, setup: write(hugeFlattenModel, "flat.onnx")),
    BadCase(
      label: "ONNX MaxPool pads of 2^62 in inspect", arguments: ["inspect", "pool.onnx"], status: 1,
      mentions: ["pool.onnx", "MaxPool", "must lie in"], precreate: nil, setup: write(hugePoolPadModel, "pool.onnx")),
    // .npz member names: two names that become one member.
    BadCase(
      label: "input names that make the same .npz member",
      arguments: ["explain", "two.onnx", "--input", "a/b=x.npy", "--input", "a_b=x.npy", "--output", "out.npz"], status: 1,
      mentions: ["out.npz", "a_b"], precreate: "out.npz",
      setup: all(write(twoInputModel("a/b", "a_b"), "two.onnx"), write(matrix(2, 3), "x.npy"))),
    // Messages that name the real problem.
    BadCase(
      label: "target with no outputs (not 'valid tasks 0...0')",
      arguments: ["explain", "empty.keras", "--input", "x.npy", "--output", "out.npy"], status: 1,
      mentions: ["'r'", "no outputs"],
      setup: all(write(emptyOutputModel, "empty.keras"), write(Tensor(shape: [2, 3, 0], scalars: []), "x.npy"))),
    BadCase(
      label: "--contrast out of range names --contrast", arguments: explainMLP(["--contrast", "5"]), status: 1,
      mentions: ["--contrast 5 is out of range", "3 output(s)"]),
    BadCase(
      label: "--threads -1 names the value", arguments: explainMLP(["--threads", "-1"]), status: 2,
      mentions: ["--threads must be at least 1, got -1"]),
    BadCase(
      label: "--batch-size -3 names the value", arguments: explainMLP(["--batch-size", "-3"]), status: 2,
      mentions: ["--batch-size must be at least 1, got -3"]),
    BadCase(
      label: "model path /dev/zero", arguments: ["explain", "/dev/zero", "--input", "x.npy", "--output", "out.npy"],
      status: 1, mentions: ["/dev/zero", "not a regular file"]),
    BadCase(
      label: "over-long --title blames --title",
      arguments: ["plot", "s.npy", "--output", "out.png", "--title", String(repeating: "W", count: 3000)], status: 2,
      mentions: ["--title", "3000 characters"], precreate: "out.png", setup: write(matrix(2, 6), "s.npy")),
  ].map(\.limited)
}

@Suite("deeplift bad-input matrix: memory budget and messages (issue 15)")
struct BadInputMatrixBudgetTests {
  @Test("rows", arguments: BudgetMatrix.rows)
  func rows(_ c: BadCase) throws { try BadInputMatrixTests.check(c) }

  /// `predict --batch-size N` whose batch would need more than the budget: the batch is
  /// lowered (one note says so) and the outputs are those of the model: `max(max(x), 0)` per
  /// example (global max over the zero-padded input).
  @Test func predictBatchIsClampedToTheBudget() throws {
    let dir = try makeTemporaryDirectory()
    defer { cleanup(dir) }
    try widePaddingModel.write(to: dir.appendingPathComponent("wide.keras"))
    let n = 40
    var values = [Float]()
    for e in 0..<n { for j in 0..<10 { values.append(Float((e * 7 + j * 3) % 11) - 7) } }
    try NumPy.write(Tensor(shape: [n, 10, 1], scalars: values), to: dir.appendingPathComponent("x.npy"))
    // 4,000,084 bytes of activations per example (input, padded, max); 64 MiB holds 16.
    let r = try runDeeplift(
      arguments: ["predict", "wide.keras", "--input", "x.npy", "--output", "y.npy", "--batch-size", "\(n)"], in: dir,
      environment: ["DEEPLIFT_MEMORY_BUDGET": "64M"], memoryLimitKB: budgetTestMemoryLimitKB)
    #expect(r.status == 0, "\(r.stderr)")
    #expect(r.stderrLines.count == 1 && r.stderr.hasPrefix("note: --batch-size lowered from 40 to 16"), "\(r.stderr)")
    let y = try NumPy.read(dir.appendingPathComponent("y.npy"))
    let expected = (0..<n).map { e in max(values[(e * 10)..<(e * 10 + 10)].max()!, 0) }
    #expect(y.shape == [n, 1])
    #expect(y.scalars == expected)
  }

  /// `explain` under a budget smaller than its batch: batches shrink (one note), the scores
  /// are the same as with room for the whole batch (the batch never changes a result).
  @Test func explainBatchIsClampedToTheBudget() throws {
    let dir = try makeTemporaryDirectory()
    defer { cleanup(dir) }
    try widePaddingModel.write(to: dir.appendingPathComponent("wide.keras"))
    let x = Tensor(shape: [6, 10, 1], scalars: (0..<60).map { Float(($0 * 5) % 13) - 4 })
    try NumPy.write(x, to: dir.appendingPathComponent("x.npy"))
    func run(_ budget: String, _ output: String) throws -> CLIResult {
      try runDeeplift(
        arguments: ["explain", "wide.keras", "--input", "x.npy", "--output", output, "--batch-size", "6"], in: dir,
        environment: ["DEEPLIFT_MEMORY_BUDGET": budget], memoryLimitKB: budgetTestMemoryLimitKB)
    }
    let small = try run("100M", "small.npy"), large = try run("1G", "large.npy")
    #expect(small.status == 0 && large.status == 0, "\(small.stderr) \(large.stderr)")
    #expect(small.stderr.contains("note: batches lowered from 6 to"), "\(small.stderr)")
    #expect(!large.stderr.contains("lowered"), "\(large.stderr)")
    let a = try NumPy.read(dir.appendingPathComponent("small.npy"))
    let b = try NumPy.read(dir.appendingPathComponent("large.npy"))
    #expect(a.shape == x.shape && a.scalars == b.scalars)
    // Rescale through a global max with a zero reference: the maximum's position gets
    // max(x) − 0 when positive, everything else 0; so each example's scores sum to max(max(x), 0).
    for e in 0..<6 {
      let row = x.scalars[(e * 10)..<(e * 10 + 10)]
      let sum = a.scalars[(e * 10)..<(e * 10 + 10)].reduce(0, +)
      #expect(abs(sum - max(row.max()!, 0)) < 1e-5)
    }
  }

  /// A NaN summation-to-delta error is reported as `nan`, never as 0.
  @Test func nanErrorIsNotReportedAsZero() throws {
    let dir = try makeTemporaryDirectory()
    defer { cleanup(dir) }
    try overflowingModel.write(to: dir.appendingPathComponent("big.keras"))
    try NumPy.write(Tensor(shape: [2, 4], scalars: [1, 2, 3, 4, -1, -2, -3, -4]), to: dir.appendingPathComponent("x.npy"))
    let r = try runDeeplift(
      arguments: ["explain", "big.keras", "--input", "x.npy", "--output", "s.npy"], in: dir,
      memoryLimitKB: budgetTestMemoryLimitKB)
    #expect(r.exitedNormally)
    #expect(r.stderr.contains("= nan"), "\(r.stderr)")
    #expect(!r.stderr.contains("= 0 "), "\(r.stderr)")
  }

  /// Names from the model become safe `.npz` member names: no path separator, no leading dot.
  @Test func npzMemberNamesAreSanitised() throws {
    let dir = try makeTemporaryDirectory()
    defer { cleanup(dir) }
    try twoInputModel("../../a", "/abs/b").write(to: dir.appendingPathComponent("m.onnx"))
    try NumPy.write(matrix(2, 3), to: dir.appendingPathComponent("x.npy"))
    let r = try runDeeplift(
      arguments: ["explain", "m.onnx", "--input", "../../a=x.npy", "--input", "/abs/b=x.npy", "--output", "s.npz"],
      in: dir, memoryLimitKB: budgetTestMemoryLimitKB)
    #expect(r.status == 0, "\(r.stderr)")
    let members = try NumPy.readArchive(dir.appendingPathComponent("s.npz")).map(\.name)
    #expect(members == ["_.._a", "_abs_b"])
    #expect(try listing(dir) == ["m.onnx", "s.npz", "x.npy"])
  }
}
