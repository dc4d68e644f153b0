import Foundation
import LiftIO
import LiftTensor
import Testing

/// Issue 5's bad-input evidence for ONNX models at the CLI level: one line on stderr, a
/// non-zero exit, no output file. Models: LiftONNXTests fixtures (mlp.onnx: x (N, 10)
/// → y (N, 3); truncated.onnx: a valid model cut short; lstm.onnx: a torch LSTM export).
@Suite("ONNX bad input at the CLI")
struct ONNXBadInputTests {
  /// LiftONNXTests' fixtures (Scripts/fixtures/make_onnx_fixtures.py), read in place.
  static func fixture(_ name: String) throws -> URL {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .appendingPathComponent("LiftONNXTests/Fixtures/\(name).onnx")
  }

  /// Runs `explain` in a fresh directory holding x.npy (4 × 10), bg.npy (3 × 7) and
  /// random.onnx (4 KiB of pseudo-random bytes), and checks the failure contract.
  func expectCleanFailure(model: String, extra: [String] = [], mentions: [String]) throws {
    let dir = try makeTemporaryDirectory()
    defer { cleanup(dir) }
    try NumPy.write(
      Tensor(shape: [4, 10], scalars: (0..<40).map { Float($0) / 10 }),
      to: dir.appendingPathComponent("x.npy"))
    try NumPy.write(
      Tensor(shape: [3, 7], scalars: (0..<21).map { Float($0) / 7 }), to: dir.appendingPathComponent("bg.npy")
    )
    // Fixed pseudo-random bytes (a 64-bit LCG), so the test cannot flake.
    var state: UInt64 = 0x9E37_79B9_7F4A_7C15
    let noise = Data(
      (0..<4096).map { _ in
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return UInt8(truncatingIfNeeded: state >> 56)
      })
    try noise.write(to: dir.appendingPathComponent("random.onnx"))
    let modelPath = model == "random" ? "random.onnx" : try Self.fixture(model).path
    let result = try runDeeplift(
      arguments: ["explain", modelPath, "--input", "x.npy", "--output", "out.npy"] + extra, in: dir)
    #expect(result.status != 0, "\(model) \(extra): exit status")
    #expect(result.stderrLines.count == 1, "\(model) \(extra): stderr \(result.stderr)")
    for word in mentions {
      #expect(result.stderr.contains(word), "\(model) \(extra): '\(word)' not in \(result.stderr)")
    }
    #expect(
      !FileManager.default.fileExists(atPath: dir.appendingPathComponent("out.npy").path), "output written")
  }

  @Test func truncatedModel() throws {
    try expectCleanFailure(model: "truncated", mentions: ["truncated.onnx"])
  }

  @Test func randomBytes() throws { try expectCleanFailure(model: "random", mentions: ["random.onnx"]) }

  @Test func unsupportedOperators() throws {
    try expectCleanFailure(model: "unsupported_ops", mentions: ["DepthToSpace", "unsupported_ops.onnx"])
  }

  @Test func taskPastTheOutput() throws {
    try expectCleanFailure(model: "mlp", extra: ["--task", "3"], mentions: ["task 3", "out of range"])
  }

  @Test func backgroundWithTheWrongFeatureCount() throws {
    try expectCleanFailure(model: "mlp", extra: ["--background", "bg.npy"], mentions: ["(3, 7)"])
  }
}
