import Foundation
import LiftIO
import LiftTensor
import Testing

@Suite("deeplift command line")
struct CLITests {
  /// A usage or data error: exactly one line on stderr, `error: …`, nothing on stdout.
  func expectOneLineError(
    _ result: CLIResult, status: Int32, containing fragment: String,
    sourceLocation: SourceLocation = #_sourceLocation
  ) {
    #expect(result.status == status, "\(result.stderr)", sourceLocation: sourceLocation)
    #expect(result.stderrLines.count == 1, "stderr: \(result.stderr)", sourceLocation: sourceLocation)
    #expect(result.stderr.hasPrefix("error: "), "stderr: \(result.stderr)", sourceLocation: sourceLocation)
    #expect(result.stderr.contains(fragment), "stderr: \(result.stderr)", sourceLocation: sourceLocation)
    #expect(result.stdout.isEmpty, sourceLocation: sourceLocation)
  }

  @Test func help() throws {
    for args in [["--help"], ["-h"], ["help"], []] {
      let result = try runDeeplift(args)
      #expect(result.status == 0, "\(args)")
      #expect(result.stdout.contains("USAGE: deeplift <subcommand>"))
      for sub in ["explain", "predict", "inspect", "shuffle"] { #expect(result.stdout.contains(sub)) }
      #expect(result.stderr.isEmpty)
    }
  }

  @Test("explain --help lists every option of the contract")
  func explainHelp() throws {
    let result = try runDeeplift("explain", "--help")
    #expect(result.status == 0)
    for option in [
      "<model>", "--input", "--output", "--method", "--reference", "--background", "--target", "--task",
      "--steps", "--ig-method", "--batch-size", "--maxpool", "--hypothetical", "--multipliers",
      "--shuffles", "--seed", "--channel-axis", "--threads", "--quiet",
      "reveal-cancel", "genomics-default", "input-x-gradient", "guided-backprop", "integrated-gradients",
      "riemann_trapezoid", "gausslegendre", "deepshap",
    ] {
      #expect(result.stdout.contains(option), "\(option)")
    }
    for sub in ["predict", "inspect", "shuffle"] {
      #expect(try runDeeplift(sub, "--help").status == 0)
    }
  }

  @Test func version() throws {
    let result = try runDeeplift("--version")
    #expect(result.status == 0)
    #expect(result.stdout == "0.1.0\n")
  }

  @Test(
    "Usage errors exit 2 with one line",
    arguments: [
      (["explain", "m.h5", "--input", "x.npy", "--output", "o.npy", "--method", "foo"], "'foo'"),
      (["explain", "m.h5", "--input", "x.npy", "--output", "o.npy", "--task", "abc"], "'abc'"),
      (["explain", "m.h5", "--input", "x.npy", "--output", "o.npy", "--task", "0,,3"], "'0,,3'"),
      (["explain", "m.h5", "--input", "x.npy", "--output", "o.npy", "--task", "-1"], "--task"),
      (["explain", "m.h5", "--input", "x.npy", "--output", "o.npy", "--ig-method", "simpson"], "'simpson'"),
      (["explain", "m.h5", "--input", "x.npy", "--output", "o.npy", "--maxpool", "avg"], "'avg'"),
      (["explain", "m.h5", "--input", "=x.npy", "--output", "o.npy"], "'=x.npy'"),
      (["explain", "m.h5", "--input", "a=", "--output", "o.npy"], "'a='"),
      (["explain", "m.h5", "--input", "a=x.npy", "--input", "y.npy", "--output", "o.npy"], "NAME=FILE"),
      (["explain", "m.h5", "--input", "a=x.npy", "--input", "a=y.npy", "--output", "o.npy"], "twice"),
      (["explain", "m.h5", "--input", "x.npy", "--output", "o.npy", "--reference", "a=r.npy"], "same form"),
      (["explain", "m.h5", "--input", "x.npy", "--output", "o.npy", "--reference", "r.npy", "--background", "b.npy"],
       "only one of"),
      (["explain", "m.h5", "--input", "x.npy", "--output", "o.npy", "--steps", "0"], "--steps"),
      (["explain", "m.h5", "--input", "x.npy", "--output", "o.npy", "--batch-size", "0"], "--batch-size"),
      (["explain", "m.h5", "--input", "x.npy", "--output", "o.npy", "--shuffles", "2", "--seed", "-3"], "--seed"),
      (["explain", "m.h5", "--input", "x.npy", "--output", "o.npy", "--threads", "0"], "--threads"),
      (["explain", "m.h5", "--output", "o.npy"], "--input"),
      (["explain", "m.h5", "--input", "x.npy"], "--output"),
      (["explain", "--input", "x.npy", "--output", "o.npy"], "<model>"),
      (["explain", "m.h5", "--input", "x.npy", "--output", "o.npy", "--bogus"], "--bogus"),
      (["frobnicate"], "frobnicate"),
      (["shuffle", "--input", "x.npy", "--output", "r.npy", "--shuffles", "0"], "--shuffles"),
      (["shuffle", "--input", "x.npy", "--output", "r.npy", "--shuffles", "2", "--channel-axis", "0"], "--channel-axis"),
    ])
  func usageErrors(arguments: [String], fragment: String) throws {
    let dir = try makeTemporaryDirectory()
    defer { cleanup(dir) }
    expectOneLineError(try runDeeplift(arguments, in: dir), status: 2, containing: fragment)
    #expect(try listing(dir) == [])
  }

  @Test func acceptedTaskForms() throws {
    // Parsing succeeds, so the run gets as far as the missing model file (status 1).
    for task in ["3", "0,3,7", "all", "12"] {
      let result = try runDeeplift("explain", "nomodel.h5", "--input", "x.npy", "--output", "o.npy", "--task", task)
      expectOneLineError(result, status: 1, containing: "nomodel.h5: no such file")
    }
  }

  @Test func missingFilesExit1NamingTheFile() throws {
    let dir = try makeTemporaryDirectory()
    defer { cleanup(dir) }
    expectOneLineError(
      try runDeeplift("explain", "missing.h5", "--input", "x.npy", "--output", "o.npy", in: dir),
      status: 1, containing: "missing.h5: no such file")
    try Data().write(to: dir.appendingPathComponent("m.h5"))
    expectOneLineError(
      try runDeeplift("explain", "m.h5", "--input", "a=x.npy", "--input", "b=gone.npy", "--output", "o.npz", in: dir),
      status: 1, containing: "x.npy: no such file")
    expectOneLineError(
      try runDeeplift("predict", "m.h5", "--input", "nothere.npy", "--output", "o.npy", in: dir),
      status: 1, containing: "nothere.npy: no such file")
    expectOneLineError(
      try runDeeplift("inspect", "absent.onnx", in: dir), status: 1, containing: "absent.onnx: no such file")
    expectOneLineError(
      try runDeeplift("shuffle", "--input", "none.npy", "--shuffles", "2", "--output", "r.npy", in: dir),
      status: 1, containing: "none.npy: no such file")
    #expect(try listing(dir) == ["m.h5"])
  }

  // MARK: - shuffle (fully implemented here)

  /// Two one-hot sequences of length 6 over 4 channels: ACGTAC and GGTACA.
  static func oneHot() -> Tensor {
    let tokens = [[0, 1, 2, 3, 0, 1], [2, 2, 3, 0, 1, 0]]
    var scalars = [Float](repeating: 0, count: 2 * 6 * 4)
    for (n, seq) in tokens.enumerated() {
      for (l, t) in seq.enumerated() { scalars[(n * 6 + l) * 4 + t] = 1 }
    }
    return Tensor(shape: [2, 6, 4], scalars: scalars)
  }

  @Test func shuffleWritesReferences() throws {
    let dir = try makeTemporaryDirectory()
    defer { cleanup(dir) }
    try NumPy.write(Self.oneHot(), to: dir.appendingPathComponent("x.npy"))
    let result = try runDeeplift("shuffle", "--input", "x.npy", "--shuffles", "3", "--seed", "7", "--output", "r.npy", in: dir)
    #expect(result.status == 0, "\(result.stderr)")
    let refs = try NumPy.read(dir.appendingPathComponent("r.npy"))
    #expect(refs.shape == [2, 3, 6, 4])
    // Every shuffle keeps the sequence's first and last letters and its letter counts.
    let x = Self.oneHot()
    for n in 0..<2 {
      for m in 0..<3 {
        for c in 0..<4 {
          let count = (0..<6).reduce(Float(0)) { $0 + refs[n, m, $1, c] }
          #expect(count == (0..<6).reduce(Float(0)) { $0 + x[n, $1, c] })
          #expect(refs[n, m, 0, c] == x[n, 0, c] && refs[n, m, 5, c] == x[n, 5, c])
        }
      }
    }
    // Deterministic for a seed.
    let again = try runDeeplift("shuffle", "--input", "x.npy", "--shuffles", "3", "--seed", "7", "--output", "s.npy", "-q", in: dir)
    #expect(again.status == 0 && again.stderr.isEmpty)
    #expect(
      try Data(contentsOf: dir.appendingPathComponent("r.npy")) == Data(contentsOf: dir.appendingPathComponent("s.npy")))
    #expect(try listing(dir) == ["r.npy", "s.npy", "x.npy"])
  }

  @Test func shuffleBadDataExits1AndLeavesNoOutput() throws {
    let dir = try makeTemporaryDirectory()
    defer { cleanup(dir) }
    let good = NumPy.encode(Self.oneHot())
    try good.prefix(good.count - 8).write(to: dir.appendingPathComponent("cut.npy"))
    expectOneLineError(
      try runDeeplift("shuffle", "--input", "cut.npy", "--shuffles", "2", "--output", "r.npy", in: dir),
      status: 1, containing: "cut.npy: truncated data")
    try NumPy.write(Tensor(shape: [2, 3], scalars: [1, 0, 0, 0, 1, 0]), to: dir.appendingPathComponent("flat.npy"))
    expectOneLineError(
      try runDeeplift("shuffle", "--input", "flat.npy", "--shuffles", "2", "--output", "r.npy", in: dir),
      status: 1, containing: "flat.npy")
    try Data("not numpy".utf8).write(to: dir.appendingPathComponent("text.npy"))
    expectOneLineError(
      try runDeeplift("shuffle", "--input", "text.npy", "--shuffles", "2", "--output", "r.npy", in: dir),
      status: 1, containing: "text.npy: not a .npy file")
    try NumPy.write(Self.oneHot(), to: dir.appendingPathComponent("x.npy"))
    expectOneLineError(
      try runDeeplift("shuffle", "--input", "x.npy", "--shuffles", "2", "--output", "nodir/r.npy", in: dir),
      status: 1, containing: "nodir/r.npy")
    #expect(try listing(dir) == ["cut.npy", "flat.npy", "text.npy", "x.npy"])
  }
}

extension CLITests {
  func runDeeplift(_ arguments: [String], in directory: URL? = nil) throws -> CLIResult {
    try deepliftTests.runDeeplift(arguments: arguments, in: directory)
  }
  func runDeeplift(_ arguments: String..., in directory: URL? = nil) throws -> CLIResult {
    try deepliftTests.runDeeplift(arguments: arguments, in: directory)
  }
}
