import Foundation
import LiftIO
import LiftTensor
import Testing

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

// Issue 15, "Outputs that destroy inputs or leave litter" and the named-pipe input: every
// output of a run (--output, --plot, each file in --modisco) is checked against every file the
// run reads and every other output, through one function (LiftIO's OutputTransaction); the
// outputs of a run appear together or not at all; devices and pipes are never replaced;
// non-regular inputs are refused before they are opened. The rows run through the matrix's
// checker: one error line, the expected status, and every file in the working directory (the
// inputs kept there included) byte for byte as before, nothing left behind.

/// Creates an empty directory `name` in the working directory.
func makeDirectory(_ name: String) -> @Sendable (URL) throws -> Void {
  { dir in try FileManager.default.createDirectory(at: dir.appendingPathComponent(name), withIntermediateDirectories: true) }
}

/// Creates a named pipe `name` (nobody writes to or reads from it).
func makeFIFO(_ name: String) -> @Sendable (URL) throws -> Void {
  { dir in
    guard mkfifo(dir.appendingPathComponent(name).path, 0o600) == 0 else { throw CocoaError(.fileWriteUnknown) }
  }
}

/// A symbolic link `name` → `target` (relative).
func symlink(_ name: String, to target: String) -> @Sendable (URL) throws -> Void {
  { dir in try FileManager.default.createSymbolicLink(atPath: dir.appendingPathComponent(name).path, withDestinationPath: target) }
}

/// A hard link `name` to the existing file `target`.
func hardLink(_ name: String, to target: String) -> @Sendable (URL) throws -> Void {
  { dir in try FileManager.default.linkItem(at: dir.appendingPathComponent(target), to: dir.appendingPathComponent(name)) }
}

let genomicsModel = keras.appendingPathComponent("genomics_cnn.h5")
let genomicsX = keras.appendingPathComponent("genomics_cnn.x.npy")

/// `explain m.h5 --input g.npy --output out.npy` on the one-hot sequence model (2 outputs),
/// with the model and input copied into the working directory, plus `extra`.
func explainGenomics(_ extra: [String], model: String = "m.h5", input: String = "g.npy", output: String = "out.npy") -> [String] {
  ["explain", model, "--input", input, "--output", output, "-q"] + extra
}

/// Copies the genomics model to `model` and its input to `input` (creating directories).
func genomicsFiles(model: String = "m.h5", input: String = "g.npy") -> @Sendable (URL) throws -> Void {
  { dir in
    for (source, name) in [(genomicsModel, model), (genomicsX, input)] {
      let url = dir.appendingPathComponent(name)
      try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
      try FileManager.default.copyItem(at: source, to: url)
    }
  }
}

enum OutputMatrix {
  /// An output that is the same file as an input or another output: usage error, nothing written.
  static let sameFile: [BadCase] = [
    BadCase(
      label: "--output inside --modisco under a name modisco writes (m/hyp.npz)",
      arguments: explainGenomics(["--modisco", "m"], output: "m/hyp.npz"), status: 2,
      mentions: ["m/hyp.npz", "--modisco", "--output"], precreate: "m/hyp.npz",
      setup: all(genomicsFiles(), makeDirectory("m"))),
    BadCase(
      label: "the model kept in the --modisco directory as hyp.npz",
      arguments: explainGenomics(["--modisco", "m"], model: "m/hyp.npz"), status: 2,
      mentions: ["m/hyp.npz", "the model"], setup: genomicsFiles(model: "m/hyp.npz")),
    BadCase(
      label: "the input kept in the --modisco directory as ohe.npz",
      arguments: explainGenomics(["--modisco", "m"], input: "m/ohe.npz"), status: 2,
      mentions: ["m/ohe.npz", "--input"], setup: genomicsFiles(input: "m/ohe.npz")),
    BadCase(
      label: "the input kept in the --modisco directory as hyp_task1.npz (--task 0,1)",
      arguments: explainGenomics(["--modisco", "m", "--task", "0,1"], input: "m/hyp_task1.npz"), status: 2,
      mentions: ["m/hyp_task1.npz", "--input"], setup: genomicsFiles(input: "m/hyp_task1.npz")),
    BadCase(
      // The task files of --task all are known only after the run: found when written, and
      // the scores and ohe.npz already staged are taken back (the existing out.npy stays).
      label: "the input kept in the --modisco directory as hyp_task1.npz (--task all, found after the run)",
      arguments: explainGenomics(["--modisco", "m", "--task", "all"], input: "m/hyp_task1.npz"), status: 2,
      mentions: ["m/hyp_task1.npz", "--input"], setup: genomicsFiles(input: "m/hyp_task1.npz")),
    BadCase(
      label: "--modisco equal to --output",
      arguments: explainGenomics(["--modisco", "out.npy"]), status: 2, mentions: ["out.npy", "--modisco", "--output"],
      setup: genomicsFiles()),
    BadCase(
      label: "--modisco equal to the input",
      arguments: explainGenomics(["--modisco", "g.npy"]), status: 2, mentions: ["g.npy", "--modisco", "--input"],
      setup: genomicsFiles()),
    BadCase(
      label: "--plot equal to --output",
      arguments: explainGenomics(["--plot", "fig.png"], output: "fig.png"), status: 2,
      mentions: ["fig.png", "--plot", "--output"], precreate: "fig.png", setup: genomicsFiles()),
    BadCase(
      label: "--plot equal to the model",
      arguments: explainGenomics(["--plot", "m.png"], model: "m.png"), status: 2, mentions: ["m.png", "the model"],
      setup: genomicsFiles(model: "m.png")),
    BadCase(
      label: "--output a symbolic link to the model",
      arguments: explainGenomics([], output: "link.npy"), status: 2, mentions: ["link.npy", "the model"], precreate: nil,
      setup: all(genomicsFiles(), symlink("link.npy", to: "m.h5"))),
    BadCase(
      label: "--output equal to the --background file",
      arguments: explainMLP(["--background", "b.npy"]).map { $0 == "out.npy" ? "b.npy" : $0 }, status: 2,
      mentions: ["b.npy", "--background"], precreate: nil, setup: all(write(mlpX, "x.npy"), write(matrix(2, 6), "b.npy"))),
    BadCase(
      label: "shuffle: --output equal to its input",
      arguments: ["shuffle", "--input", "g.npy", "--output", "g.npy", "--shuffles", "2"], status: 2,
      mentions: ["g.npy", "--input"], precreate: nil, setup: genomicsFiles()),
    BadCase(
      label: "shuffle: --output a hard link to its input",
      arguments: ["shuffle", "--input", "g.npy", "--output", "h.npy", "--shuffles", "2"], status: 2,
      mentions: ["h.npy", "--input g.npy"], precreate: nil, setup: all(genomicsFiles(), hardLink("h.npy", to: "g.npy"))),
    BadCase(
      label: "shuffle: --output its input by another spelling",
      arguments: ["shuffle", "--input", "g.npy", "--output", "d/../g.npy", "--shuffles", "2"], status: 2,
      mentions: ["d/../g.npy", "--input"], precreate: nil, setup: all(genomicsFiles(), makeDirectory("d"))),
    BadCase(
      label: "predict: --output a symbolic link to the input",
      arguments: ["predict", "@mlp.h5", "--input", "x.npy", "--output", "y.npy"], status: 2,
      mentions: ["y.npy", "--input x.npy"], precreate: nil, setup: all(write(mlpX, "x.npy"), symlink("y.npy", to: "x.npy"))),
    BadCase(
      label: "plot: --output equal to the scores file",
      arguments: ["plot", "s.png", "--output", "s.png"], status: 2, mentions: ["s.png", "the scores"], precreate: nil,
      setup: write(matrix(3, 7), "s.png")),
    BadCase(
      label: "plot: --output equal to the --sequence file",
      arguments: ["plot", "s.npy", "--output", "seq.png", "--sequence", "seq.png"], status: 2,
      mentions: ["seq.png", "--sequence"], precreate: nil,
      setup: all(write(matrix(3, 7), "s.npy"), write(matrix(3, 7), "seq.png"))),
    BadCase(
      label: "plot: --output equal to the --input file",
      arguments: ["plot", "s.npy", "--output", "img.png", "--input", "img.png"], status: 2,
      mentions: ["img.png", "--input"], precreate: nil,
      setup: all(write(matrix(3, 7), "s.npy"), write(matrix(3, 7), "img.png"))),
    BadCase(
      label: "plot: --output equal to the --features file",
      arguments: ["plot", "s.npy", "--output", "names.png", "--features", "names.png"], status: 2,
      mentions: ["names.png", "--features"], precreate: nil,
      setup: all(write(matrix(3, 7), "s.npy"), write(Data("a\nb\nc\nd\ne\nf\ng\n".utf8), "names.png"))),
  ]

  /// Destinations that are not files, or cannot be named: refused, nothing created or replaced.
  static let destinations: [BadCase] = [
    BadCase(
      label: "--output an existing named pipe with no reader (error, not a hang; the pipe stays)",
      arguments: explainMLP().map { $0 == "out.npy" ? "fifo.npy" : $0 }, status: 1,
      mentions: ["fifo.npy", "named pipe with no reader"], precreate: nil, setup: all(write(mlpX, "x.npy"), makeFIFO("fifo.npy"))),
    BadCase(
      label: "--output newdir/ (trailing slash)",
      arguments: explainMLP().map { $0 == "out.npy" ? "newdir/" : $0 }, status: 1,
      mentions: ["newdir/", "names a directory"], precreate: nil, setup: write(mlpX, "x.npy")),
    BadCase(
      label: "--output . (the working directory)",
      arguments: explainMLP().map { $0 == "out.npy" ? "." : $0 }, status: 1, mentions: ["directory"],
      precreate: nil, setup: write(mlpX, "x.npy")),
    BadCase(
      label: "--plot an existing directory",
      arguments: explainMLP(["--plot", "pic.png"]), status: 1, mentions: ["pic.png", "is a directory"],
      setup: all(write(mlpX, "x.npy"), makeDirectory("pic.png"))),
    BadCase(
      label: "--output a name longer than NAME_MAX (256 bytes)",
      arguments: explainMLP().map { $0 == "out.npy" ? String(repeating: "n", count: 252) + ".npy" : $0 }, status: 1,
      mentions: ["file name too long"], precreate: nil, setup: write(mlpX, "x.npy")),
    BadCase(
      label: "--modisco inside a regular file",
      arguments: explainGenomics(["--modisco", "afile/m"]), status: 1, mentions: ["afile/m", "not a directory"],
      setup: all(genomicsFiles(), write(Data("x".utf8), "afile"))),
  ]

  /// Files to read that are not regular files: refused before they are opened (a pipe with
  /// no writer would block open(2) for ever; a device never ends).
  static let nonRegularInputs: [BadCase] = [
    BadCase(
      label: "explain: --input a named pipe", arguments: explainMLP(input: "p.npy"), status: 1,
      mentions: ["p.npy", "not a regular file (a named pipe)"], setup: makeFIFO("p.npy")),
    BadCase(
      label: "explain: --reference a named pipe", arguments: explainMLP(["--reference", "p.npy"]), status: 1,
      mentions: ["p.npy", "not a regular file"], setup: all(write(mlpX, "x.npy"), makeFIFO("p.npy"))),
    BadCase(
      label: "explain: --background a named pipe", arguments: explainMLP(["--background", "p.npy"]), status: 1,
      mentions: ["p.npy", "not a regular file"], setup: all(write(mlpX, "x.npy"), makeFIFO("p.npy"))),
    BadCase(
      label: "explain: the model is /dev/zero",
      arguments: ["explain", "/dev/zero", "--input", "x.npy", "--output", "out.npy"], status: 1,
      mentions: ["/dev/zero", "not a regular file (a character device)"], setup: write(mlpX, "x.npy")),
    BadCase(
      label: "predict: --input a named pipe", arguments: ["predict", "@mlp.h5", "--input", "p.npy", "--output", "out.npy"],
      status: 1, mentions: ["p.npy", "not a regular file"], setup: makeFIFO("p.npy")),
    BadCase(
      label: "inspect: the model is a named pipe", arguments: ["inspect", "p.h5"], status: 1,
      mentions: ["p.h5", "not a regular file"], precreate: nil, setup: makeFIFO("p.h5")),
    BadCase(
      label: "shuffle: --input a named pipe", arguments: ["shuffle", "--input", "p.npy", "--output", "out.npy", "--shuffles", "2"],
      status: 1, mentions: ["p.npy", "not a regular file"], setup: makeFIFO("p.npy")),
    BadCase(
      label: "plot: the scores are a named pipe", arguments: ["plot", "p.npy", "--output", "fig.png"], status: 1,
      mentions: ["p.npy", "not a regular file"], precreate: "fig.png", setup: makeFIFO("p.npy")),
    BadCase(
      label: "plot: --sequence a named pipe", arguments: ["plot", "s.npy", "--output", "fig.png", "--sequence", "p.npy"],
      status: 1, mentions: ["p.npy", "not a regular file"], precreate: "fig.png",
      setup: all(write(matrix(3, 7), "s.npy"), makeFIFO("p.npy"))),
    BadCase(
      label: "plot: --features a named pipe", arguments: ["plot", "s.npy", "--output", "fig.png", "--features", "p.txt"],
      status: 1, mentions: ["p.txt", "not a regular file"], precreate: "fig.png",
      setup: all(write(matrix(3, 7), "s.npy"), makeFIFO("p.txt"))),
  ]
}

@Suite("deeplift bad-input matrix: outputs")
struct OutputMatrixTests {
  @Test("an output that is an input or another output", arguments: OutputMatrix.sameFile)
  func sameFile(_ c: BadCase) throws { try BadInputMatrixTests.check(c) }

  @Test("destinations that are not files", arguments: OutputMatrix.destinations)
  func destinations(_ c: BadCase) throws { try BadInputMatrixTests.check(c) }

  @Test("inputs that are not regular files", arguments: OutputMatrix.nonRegularInputs)
  func nonRegularInputs(_ c: BadCase) throws { try BadInputMatrixTests.check(c) }

  /// The scores `explain` writes for the genomics model, as a reference for the direct writes.
  static func referenceScores() throws -> Data {
    let dir = try makeTemporaryDirectory()
    defer { cleanup(dir) }
    let r = try runDeeplift(
      arguments: ["explain", genomicsModel.path, "--input", genomicsX.path, "--output", "s.npy", "-q"], in: dir)
    #expect(r.status == 0, "\(r.stderr)")
    return try Data(contentsOf: dir.appendingPathComponent("s.npy"))
  }

  /// The device outputs tested. A regressed binary running as root would rename its
  /// temporary file over the real `/dev/null` or `/dev/stdout` (this happened once, before the
  /// fix): as root only spellings that cannot harm the machine are used — a symbolic link in
  /// the working directory to `/dev/null`, and `/dev/fd/1` (no file can be created in
  /// /proc/self/fd). Otherwise the literal paths too.
  static let devicePaths: [String] =
    ["null.npy", "/dev/fd/1"] + (geteuid() == 0 ? [] : ["/dev/null", "/dev/stdout"])

  /// `/dev/null` and standard output are written directly, never replaced: the run succeeds,
  /// the device (and the link to it) is still there, nothing else is left in the working
  /// directory, and standard output carries exactly the bytes a file output gets.
  @Test("--output a device (/dev/null, standard output) is written, not replaced", arguments: devicePaths)
  func devices(device: String) throws {
    let expected = try Self.referenceScores()
    let dir = try makeTemporaryDirectory()
    defer { cleanup(dir) }
    try FileManager.default.createSymbolicLink(atPath: dir.appendingPathComponent("null.npy").path, withDestinationPath: "/dev/null")
    let process = Process()
    process.executableURL = try deepliftExecutable()
    process.arguments = ["explain", genomicsModel.path, "--input", genomicsX.path, "--output", device, "-q"]
    process.currentDirectoryURL = dir
    let out = Pipe()
    process.standardOutput = out
    process.standardError = FileHandle.nullDevice
    process.standardInput = FileHandle.nullDevice
    try process.run()
    let stdout = out.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    #expect(process.terminationReason == .exit && process.terminationStatus == 0)
    var info = stat()
    #expect(stat("/dev/null", &info) == 0 && info.st_mode & S_IFMT == S_IFCHR, "/dev/null is no longer a device")
    #expect(lstat(dir.appendingPathComponent("null.npy").path, &info) == 0 && info.st_mode & S_IFMT == S_IFLNK, "the link was replaced")
    #expect(try listing(dir) == ["null.npy"])
    let toStandardOutput = ["/dev/fd/1", "/dev/stdout"].contains(device)
    #expect(stdout == (toStandardOutput ? expected : Data()))
  }

  /// A named pipe with a reader gets the bytes (and stays a pipe). The test holds the read
  /// end, opened without blocking, so a regressed binary cannot make it wait for ever; the
  /// scores (2.5 KiB) fit in the pipe's buffer and are read after the run.
  @Test("--output a named pipe with a reader")
  func pipeWithReader() throws {
    let expected = try Self.referenceScores()
    let dir = try makeTemporaryDirectory()
    defer { cleanup(dir) }
    let fifo = dir.appendingPathComponent("fifo.npy")
    #expect(mkfifo(fifo.path, 0o600) == 0)
    let reader = open(fifo.path, O_RDONLY | O_NONBLOCK)
    #expect(reader >= 0)
    defer { close(reader) }
    let r = try runDeeplift(
      arguments: ["explain", genomicsModel.path, "--input", genomicsX.path, "--output", "fifo.npy", "-q"], in: dir)
    #expect(r.status == 0, "\(r.stderr)")
    var received = Data()
    var buffer = [UInt8](repeating: 0, count: 1 << 16)
    while true {
      let n = read(reader, &buffer, buffer.count)
      if n <= 0 { break }
      received.append(contentsOf: buffer[..<n])
    }
    #expect(received == expected)
    #expect(try listing(dir) == ["fifo.npy"])
    var info = stat()
    #expect(stat(fifo.path, &info) == 0 && info.st_mode & S_IFMT == S_IFIFO, "the pipe was replaced")
  }

  /// A legal 244-byte name (NAME_MAX is 255) works: the temporary name does not grow with it.
  @Test func longOutputName() throws {
    let dir = try makeTemporaryDirectory()
    defer { cleanup(dir) }
    let name = String(repeating: "o", count: 240) + ".npy"
    let r = try runDeeplift(
      arguments: ["explain", genomicsModel.path, "--input", genomicsX.path, "--output", name, "-q"], in: dir)
    #expect(r.status == 0, "\(r.stderr)")
    #expect(try listing(dir) == [name])
  }

  /// The outputs of a run are committed together: when the last one (the picture, 22 KiB)
  /// cannot be written because of a file-size limit (8 or 16 KiB) the scores (2.5 KiB) and the
  /// modisco files fit under, the existing scores and picture keep their bytes, no modisco file is left and
  /// the new --modisco directory is removed again.
  @Test("a failing --plot takes back --output and --modisco")
  func failingLastOutputTakesBackTheOthers() throws {
    let dir = try makeTemporaryDirectory()
    defer { cleanup(dir) }
    try genomicsFiles()(dir)
    try AtomicOutputTests.existing.write(to: dir.appendingPathComponent("out.npy"))
    try AtomicOutputTests.existing.write(to: dir.appendingPathComponent("fig.png"))
    let before = try BadInputMatrixTests.snapshot(dir)
    let r = try AtomicOutputTests.runWithFileSizeLimit(
      explainGenomics(["--plot", "fig.png", "--modisco", "newmod/sub"]), in: dir, blocks: 16)
    expectCleanFailure(r, status: 1, mentions: ["fig.png", "File too large"], context: r.stderr)
    #expect(try BadInputMatrixTests.snapshot(dir) == before)
    // Without the limit the same run writes all of them.
    let ok = try runDeeplift(arguments: explainGenomics(["--plot", "fig.png", "--modisco", "newmod/sub"]), in: dir)
    #expect(ok.status == 0, "\(ok.stderr)")
    #expect(try listing(dir.appendingPathComponent("newmod/sub")) == ["hyp.npz", "ohe.npz"])
    #expect(try Data(contentsOf: dir.appendingPathComponent("out.npy")) != AtomicOutputTests.existing)
  }

  /// Starts `process` from a fresh thread that lets SIGINT, SIGTERM and SIGHUP through: a
  /// child inherits its parent thread's signal mask, and the test runner's (Dispatch) threads
  /// block them, which would leave the child deaf to them.
  static func runWithTerminationSignalsUnblocked(_ process: Process) throws {
    nonisolated(unsafe) var failure: (any Error)? = nil
    let started = DispatchSemaphore(value: 0)
    let thread = Thread {
      var set = sigset_t()
      sigemptyset(&set)
      for s in [SIGINT, SIGTERM, SIGHUP] { sigaddset(&set, s) }
      pthread_sigmask(SIG_UNBLOCK, &set, nil)
      do { try process.run() } catch { failure = error }
      started.signal()
    }
    thread.start()
    started.wait()
    if let failure { throw failure }
  }

  /// SIGTERM, SIGINT or SIGHUP in the middle of a run: the process dies of that signal (the
  /// status says so), no temporary file is left and the existing output keeps its bytes.
  @Test("a signal mid-run leaves no temporary file", arguments: [SIGTERM, SIGINT, SIGHUP])
  func signalRemovesTemporaryFiles(signal: Int32) throws {
    let dir = try makeTemporaryDirectory()
    defer { cleanup(dir) }
    // A slow streamed run: the temporary output exists from the first batch on.
    let x = try NumPy.read(genomicsX)
    let rows = 2400
    let big = Tensor(
      shape: [rows, x.shape[1], x.shape[2]],
      scalars: (0..<rows).flatMap { i in x.slice(batch: (i % x.shape[0])..<(i % x.shape[0] + 1)).scalars })
    try NumPy.write(big, to: dir.appendingPathComponent("big.npy"))
    try AtomicOutputTests.existing.write(to: dir.appendingPathComponent("out.npy"))
    let before = try BadInputMatrixTests.snapshot(dir)
    let process = Process()
    process.executableURL = try deepliftExecutable()
    process.arguments = [
      "explain", genomicsModel.path, "--input", "big.npy", "--output", "out.npy", "-q", "--method",
      "integrated-gradients", "--steps", "400",
    ]
    process.currentDirectoryURL = dir
    process.standardInput = FileHandle.nullDevice
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    try Self.runWithTerminationSignalsUnblocked(process)
    var sawTemporary = false
    for _ in 0..<600 where process.isRunning {
      if try listing(dir).contains(where: { $0.hasPrefix(".") }) {
        sawTemporary = true
        break
      }
      Thread.sleep(forTimeInterval: 0.05)
    }
    #expect(sawTemporary, "no temporary file appeared while the run went on")
    kill(process.processIdentifier, signal)
    process.waitUntilExit()
    #expect(process.terminationReason == .uncaughtSignal)
    #expect(process.terminationStatus == signal)
    let after = try BadInputMatrixTests.snapshot(dir)
    #expect(after.keys.sorted() == before.keys.sorted(), "files left behind")
    for (name, data) in before where after[name] != data { Issue.record("\(name) changed") }
  }
}
