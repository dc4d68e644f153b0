import Foundation
import LiftIO
import LiftTensor
import Testing

/// Output files are written to a temporary file in the same directory and renamed into place
/// (LiftIO's AtomicFileWriter): whatever fails, and when, the destination keeps its old bytes
/// and no temporary file stays behind.
@Suite("deeplift atomic outputs")
struct AtomicOutputTests {
  static let existing = Data("existing output: must survive a failed run\n".utf8)

  /// Runs `deeplift` through `/bin/sh` with a file-size limit of `blocks` blocks (2: 1–2 KiB;
  /// the shell's block is 512 or 1024 bytes), so the write itself fails part-way (EFBIG; the
  /// tool ignores SIGXFSZ, which would otherwise kill it).
  static func runWithFileSizeLimit(_ arguments: [String], in directory: URL, blocks: Int = 2) throws -> CLIResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/bin/sh")
    process.arguments = ["-c", "ulimit -f \(blocks) && exec \"$0\" \"$@\"", try deepliftExecutable().path] + arguments
    process.currentDirectoryURL = directory
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    process.standardInput = FileHandle.nullDevice
    try process.run()
    nonisolated(unsafe) var errData = Data()
    let group = DispatchGroup()
    group.enter()
    DispatchQueue.global().async {
      errData = err.fileHandleForReading.readDataToEndOfFile()
      group.leave()
    }
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    group.wait()
    process.waitUntilExit()
    return CLIResult(
      status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
      stderr: String(decoding: errData, as: UTF8.self), exitedNormally: process.terminationReason == .exit)
  }

  @Test("a write that fails part-way leaves the old output and no temporary file", arguments: ["out.npy", "out.npz"])
  func failingWrite(output: String) throws {
    let dir = try makeTemporaryDirectory()
    defer { cleanup(dir) }
    try Self.existing.write(to: dir.appendingPathComponent(output))
    let r = try Self.runWithFileSizeLimit(
      [
        "explain", keras.appendingPathComponent("genomics_cnn.h5").path, "--input",
        keras.appendingPathComponent("genomics_cnn.x.npy").path, "--output", output, "-q",
      ], in: dir)
    expectCleanFailure(r, status: 1, mentions: [output, "cannot write"], context: r.stderr)
    #expect(try listing(dir) == [output])
    #expect(try Data(contentsOf: dir.appendingPathComponent(output)) == Self.existing)
  }

  @Test("the same run without the limit replaces the output")
  func succeedingWrite() throws {
    let dir = try makeTemporaryDirectory()
    defer { cleanup(dir) }
    try Self.existing.write(to: dir.appendingPathComponent("out.npy"))
    let r = try runDeeplift(
      arguments: [
        "explain", keras.appendingPathComponent("genomics_cnn.h5").path, "--input",
        keras.appendingPathComponent("genomics_cnn.x.npy").path, "--output", "out.npy", "-q",
      ], in: dir)
    #expect(r.status == 0, "\(r.stderr)")
    #expect(try listing(dir) == ["out.npy"])
    #expect(try NumPy.read(dir.appendingPathComponent("out.npy")).shape == [3, 50, 4])
  }

  /// Failures found before any output is written (bad task, bad input) keep an existing
  /// output byte for byte: every case of the bad-input matrix is also run with a pre-existing
  /// output (BadInputMatrixTests); this is the plain statement of it.
  @Test func badTaskKeepsExistingOutput() throws {
    let dir = try makeTemporaryDirectory()
    defer { cleanup(dir) }
    try Self.existing.write(to: dir.appendingPathComponent("out.npy"))
    let r = try runDeeplift(
      arguments: [
        "explain", keras.appendingPathComponent("mlp.h5").path, "--input",
        keras.appendingPathComponent("mlp.x.npy").path, "--output", "out.npy", "--task", "99",
      ], in: dir)
    expectCleanFailure(r, status: 1, mentions: ["task 99"], context: r.stderr)
    #expect(try listing(dir) == ["out.npy"])
    #expect(try Data(contentsOf: dir.appendingPathComponent("out.npy")) == Self.existing)
  }
}
