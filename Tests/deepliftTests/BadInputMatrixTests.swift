import Foundation
import LiftIO
import LiftTensor
import Testing

// The bad-input matrix of issue 9: every reader and every check of the `deeplift` tool, run as
// a process. Each case must end with the expected exit status (2 usage, 1 bad data), exactly
// one `error: …` line on standard error naming the file / layer / shape, nothing on standard
// output, no trap (`Fatal error`, crash report, signal), and the working directory exactly as
// before: no output or temporary file left, an existing output file byte-for-byte unchanged.

/// This target's fixtures (Scripts/fixtures/make_badinput_fixtures.py).
let matrixFixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

/// LiftONNXTests' fixtures (Scripts/fixtures/make_onnx_fixtures.py).
let onnxFixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
  .appendingPathComponent("LiftONNXTests/Fixtures")

/// LiftIOTests' fixtures (unsupported dtypes written by numpy, Scripts/fixtures/make_npy_fixtures.py).
let npyFixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
  .appendingPathComponent("LiftIOTests/Fixtures")

/// One row of the matrix.
struct BadCase: Sendable, CustomTestStringConvertible {
  /// What is wrong, for the test name.
  var label: String
  /// The command line. `@NAME` is a LiftKerasTests fixture, `%NAME` one of this target's,
  /// `^NAME` one of LiftIOTests', `&NAME` one of LiftONNXTests'; other paths are relative to a fresh working directory.
  var arguments: [String]
  /// Expected exit status.
  var status: Int32
  /// Fragments the error line must contain (file, layer, class, shape, index …).
  var mentions: [String]
  /// The output path (relative to the working directory) to pre-create in a second run to
  /// check it is not clobbered; `nil` when there is none or it cannot be created.
  var precreate: String? = "out.npy"
  /// Creates the files the case needs in the working directory.
  var setup: @Sendable (URL) throws -> Void = { _ in }
  /// Extra environment variables for the process.
  var environment: [String: String] = [:]
  /// Run under `ulimit -v` of this many KiB (see ``runDeeplift(arguments:in:environment:memoryLimitKB:)``).
  var memoryLimitKB: Int? = nil

  var testDescription: String { label }
}

// MARK: - Files made on the fly

/// A `.npy` image with a hand-written header (version 1.0, padded to 64 bytes).
func npyImage(descr: String, shape: String, fortran: Bool = false, data: Data = Data()) -> Data {
  var dict = "{'descr': '\(descr)', 'fortran_order': \(fortran ? "True" : "False"), 'shape': \(shape), }"
  let unpadded = 10 + dict.utf8.count + 1
  dict += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
  var d = Data([0x93] + Array("NUMPY".utf8) + [1, 0])
  let length = dict.utf8.count
  d.append(UInt8(length & 0xFF))
  d.append(UInt8(length >> 8))
  d.append(contentsOf: Array(dict.utf8))
  d.append(data)
  return d
}

/// Little-endian bytes of float64 values.
func float64Bytes(_ values: [Double]) -> Data {
  var d = Data()
  for v in values { withUnsafeBytes(of: v.bitPattern.littleEndian) { d.append(contentsOf: $0) } }
  return d
}

/// `count` reproducible pseudo-random bytes (SplitMix64).
func randomBytes(_ count: Int, seed: UInt64) -> Data {
  var state = seed
  var out = Data(capacity: count)
  while out.count < count {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    z ^= z >> 31
    withUnsafeBytes(of: z) { out.append(contentsOf: $0.prefix(count - out.count)) }
  }
  return out
}

/// A zip archive of stored (uncompressed) members, written by hand: local headers, central
/// directory, end record (what `zipfile.ZipFile(..., "w")` writes for `ZIP_STORED`).
func storedZip(_ members: [(name: String, data: Data)]) -> Data {
  func crc32(_ data: Data) -> UInt32 {
    var crc: UInt32 = 0xFFFF_FFFF
    for byte in data {
      crc ^= UInt32(byte)
      for _ in 0..<8 { crc = (crc >> 1) ^ (0xEDB8_8320 & (0 &- (crc & 1))) }
    }
    return ~crc
  }
  func le(_ v: UInt32, _ n: Int) -> [UInt8] { (0..<n).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } }
  var out = Data(), central = Data()
  for (name, data) in members {
    let offset = UInt32(out.count), crc = crc32(data), size = UInt32(data.count), nameBytes = Array(name.utf8)
    let common = le(20, 2) + le(0, 2) + le(0, 2) + le(0, 2) + le(0x21, 2) + le(crc, 4) + le(size, 4) + le(size, 4)
      + le(UInt32(nameBytes.count), 2) + le(0, 2)
    out += [0x50, 0x4B, 0x03, 0x04] + common + nameBytes
    out += data
    central += [0x50, 0x4B, 0x01, 0x02] + le(20, 2) + common + le(0, 2) + le(0, 2) + le(0, 2) + le(0, 4) + le(offset, 4)
      + nameBytes
  }
  let count = UInt32(members.count)
  let end: [UInt8] = [0x50, 0x4B, 0x05, 0x06] + le(0, 2) + le(0, 2) + le(count, 2) + le(count, 2)
    + le(UInt32(central.count), 4) + le(UInt32(out.count), 4) + le(0, 2)
  return out + central + Data(end)
}

/// A float32 tensor `[rows, cols]` with `value` at `(row, col)` and small numbers elsewhere.
func matrix(_ rows: Int, _ cols: Int, bad: (Int, Int, Float)? = nil) -> Tensor {
  var t = Tensor(shape: [rows, cols], scalars: (0..<(rows * cols)).map { Float($0 % 7) * 0.25 - 0.5 })
  if let (r, c, v) = bad { t[r, c] = v }
  return t
}

func write(_ tensor: Tensor, _ name: String) -> @Sendable (URL) throws -> Void {
  { dir in try NumPy.write(tensor, to: dir.appendingPathComponent(name)) }
}

func write(_ data: Data, _ name: String) -> @Sendable (URL) throws -> Void {
  { dir in try data.write(to: dir.appendingPathComponent(name)) }
}

/// The first `fraction` of a fixture's bytes under a new name.
func prefixOf(_ fixture: URL, _ fraction: Double, _ name: String) -> @Sendable (URL) throws -> Void {
  { dir in
    let data = try Data(contentsOf: fixture)
    try data.prefix(Int(Double(data.count) * fraction)).write(to: dir.appendingPathComponent(name))
  }
}

func copy(_ fixture: URL, _ name: String) -> @Sendable (URL) throws -> Void {
  { dir in try FileManager.default.copyItem(at: fixture, to: dir.appendingPathComponent(name)) }
}

func all(_ steps: (@Sendable (URL) throws -> Void)...) -> @Sendable (URL) throws -> Void {
  { dir in for step in steps { try step(dir) } }
}

let keras = kerasFixtures
let mlpX = matrix(4, 6)

/// `explain @mlp.h5 --input x.npy --output out.npy` with `x.npy` a valid input, plus `extra`.
func explainMLP(_ extra: [String] = [], input: String = "x.npy") -> [String] {
  ["explain", "@mlp.h5", "--input", input, "--output", "out.npy"] + extra
}

// MARK: - The matrix

enum Matrix {
  /// Model files: damaged, foreign, unsupported.
  static let models: [BadCase] = [
    BadCase(
      label: "truncated .h5", arguments: ["explain", "cut.h5", "--input", "@mlp.x.npy", "--output", "out.npy"],
      status: 1, mentions: ["cut.h5"], setup: prefixOf(keras.appendingPathComponent("mlp.h5"), 0.5, "cut.h5")),
    BadCase(
      label: "truncated .h5 header", arguments: ["explain", "cut.h5", "--input", "@mlp.x.npy", "--output", "out.npy"],
      status: 1, mentions: ["cut.h5"], setup: prefixOf(keras.appendingPathComponent("mlp.h5"), 0.01, "cut.h5")),
    BadCase(
      label: ".h5 with bytes appended (superblock size check)",
      arguments: ["explain", "long.h5", "--input", "@mlp.x.npy", "--output", "out.npy"], status: 1,
      mentions: ["long.h5", "superblock"],
      setup: { dir in
        try (Data(contentsOf: keras.appendingPathComponent("mlp.h5")) + Data(count: 100))
          .write(to: dir.appendingPathComponent("long.h5"))
      }),
    BadCase(
      label: "fuzzer find: libhdf5 loops on it (refused from the superblock)",
      arguments: ["explain", "%fuzz_hdf5_heap_loop.h5", "--input", "@mlp.x.npy", "--output", "out.npy"], status: 1,
      mentions: ["fuzz_hdf5_heap_loop.h5", "superblock"]),
    BadCase(
      label: "fuzzer find: libhdf5 segfaults on it (global heap object size checked first)",
      arguments: ["explain", "%fuzz_hdf5_heap_segv.h5", "--input", "@mlp.x.npy", "--output", "out.npy"], status: 1,
      mentions: ["fuzz_hdf5_heap_segv.h5", "global heap"]),
    BadCase(
      label: "fuzzer find: libhdf5 segfaults on it (global heap free-space size checked first)",
      arguments: ["explain", "%fuzz_hdf5_heap_segv2.h5", "--input", "@mlp.x.npy", "--output", "out.npy"], status: 1,
      mentions: ["fuzz_hdf5_heap_segv2.h5", "global heap", "free space"]),
    BadCase(
      label: "fuzzer find: libhdf5 segfaults on it (a string's heap object index checked first)",
      arguments: ["explain", "%fuzz_hdf5_heap_segv3.h5", "--input", "@mlp.x.npy", "--output", "out.npy"], status: 1,
      mentions: ["fuzz_hdf5_heap_segv3.h5", "global heap object 262157", "does not exist"]),
    BadCase(
      // A zero-length string whose heap index is wild: found now that the attribute message
      // is parsed (before, libhdf5 crashed and the load crash guard reported it).
      label: "fuzzer find: libhdf5 segfaults on it (zero-length string's heap index checked first)",
      arguments: ["explain", "%fuzz_hdf5_heap_segv4.h5", "--input", "@mlp.x.npy", "--output", "out.npy"], status: 1,
      mentions: ["fuzz_hdf5_heap_segv4.h5", "global heap object 167772163", "does not exist"]),
    BadCase(
      label: "fuzzer find: libhdf5 loops on it (global heap free space of size 0, refused first)",
      arguments: ["explain", "%fuzz_hdf5_heap_loop2.h5", "--input", "@mlp.x.npy", "--output", "out.npy"], status: 1,
      mentions: ["fuzz_hdf5_heap_loop2.h5", "global heap", "free space declares 0 bytes"]),
    BadCase(
      // A named pipe nobody writes to would block open(2) for ever: it is refused before it
      // is opened (a long load timeout shows it is not the load watchdog that ends the run).
      label: "model is a named pipe with no writer (refused without opening it)",
      arguments: ["explain", "pipe.h5", "--input", "@mlp.x.npy", "--output", "out.npy"], status: 1,
      mentions: ["pipe.h5", "not a regular file", "named pipe"],
      setup: { dir in
        guard mkfifo(dir.appendingPathComponent("pipe.h5").path, 0o600) == 0 else { throw CocoaError(.fileWriteUnknown) }
      },
      environment: ["DEEPLIFT_LOAD_TIMEOUT": "600"]),
    BadCase(
      label: "truncated .keras",
      arguments: ["explain", "cut.keras", "--input", "@image_cnn3.x.npy", "--output", "out.npy"], status: 1,
      mentions: ["cut.keras"], setup: prefixOf(keras.appendingPathComponent("image_cnn3.keras"), 0.5, "cut.keras")),
    BadCase(
      label: "random bytes .h5", arguments: ["explain", "@random.h5", "--input", "@mlp.x.npy", "--output", "out.npy"],
      status: 1, mentions: ["random.h5"]),
    BadCase(
      label: "random bytes .keras",
      arguments: ["explain", "rnd.keras", "--input", "@mlp.x.npy", "--output", "out.npy"], status: 1,
      mentions: ["rnd.keras"], setup: write(randomBytes(4096, seed: 1), "rnd.keras")),
    BadCase(
      label: "random bytes .onnx", arguments: ["explain", "rnd.onnx", "--input", "@mlp.x.npy", "--output", "out.npy"],
      status: 1, mentions: ["rnd.onnx"], setup: write(randomBytes(4096, seed: 2), "rnd.onnx")),
    BadCase(
      label: "empty .h5", arguments: ["explain", "empty.h5", "--input", "@mlp.x.npy", "--output", "out.npy"],
      status: 1, mentions: ["empty.h5", "empty"], setup: write(Data(), "empty.h5")),
    BadCase(
      label: "empty .keras", arguments: ["explain", "empty.keras", "--input", "@mlp.x.npy", "--output", "out.npy"],
      status: 1, mentions: ["empty.keras", "empty"], setup: write(Data(), "empty.keras")),
    BadCase(
      label: "empty .onnx", arguments: ["explain", "empty.onnx", "--input", "@mlp.x.npy", "--output", "out.npy"],
      status: 1, mentions: ["empty.onnx", "empty"], setup: write(Data(), "empty.onnx")),
    BadCase(
      label: "zip archive (an .npz) named .keras",
      arguments: ["explain", "z.keras", "--input", "@mlp.x.npy", "--output", "out.npy"], status: 1,
      mentions: ["z.keras", "config.json"],
      setup: { dir in try NumPy.writeArchive([("a", matrix(2, 2))], to: dir.appendingPathComponent("z.keras")) }),
    BadCase(
      label: "config.json that is not UTF-8 (traps Foundation's JSON5 decoder)",
      arguments: ["explain", "bad.keras", "--input", "@mlp.x.npy", "--output", "out.npy"], status: 1,
      mentions: ["bad.keras", "config.json", "JSON"],
      setup: write(storedZip([("config.json", Data([0x7B] + [UInt8](repeating: 0xFF, count: 8)))]), "bad.keras")),
    BadCase(
      label: "config.json that is JSON but not a model",
      arguments: ["explain", "list.keras", "--input", "@mlp.x.npy", "--output", "out.npy"], status: 1,
      mentions: ["list.keras"], setup: write(storedZip([("config.json", Data("[1, 2, 3]".utf8))]), "list.keras")),
    BadCase(
      label: "an .npy file as the model", arguments: ["explain", "m.npy", "--input", "@mlp.x.npy", "--output", "out.npy"],
      status: 1, mentions: ["m.npy", "model"], setup: write(mlpX, "m.npy")),
    BadCase(
      label: "a directory as the model", arguments: ["explain", "sub", "--input", "@mlp.x.npy", "--output", "out.npy"],
      status: 1, mentions: ["sub", "directory"],
      setup: { dir in try FileManager.default.createDirectory(at: dir.appendingPathComponent("sub"), withIntermediateDirectories: false) }),
    BadCase(
      label: "HDF5 file that is not a model (h5py dataset)",
      arguments: ["explain", "%plain.h5", "--input", "@mlp.x.npy", "--output", "out.npy"], status: 1,
      mentions: ["plain.h5", "not a Keras model"]),
    BadCase(
      label: "HDF5 weights-only file (save_weights)",
      arguments: ["explain", "%weights_only.h5", "--input", "@mlp.x.npy", "--output", "out.npy"], status: 1,
      mentions: ["weights_only.h5", "not a Keras model"]),
    BadCase(
      label: ".keras zip without config.json",
      arguments: ["explain", "@no_config.keras", "--input", "@mlp.x.npy", "--output", "out.npy"], status: 1,
      mentions: ["no_config.keras", "config.json"]),
    BadCase(
      label: "model_config that is not JSON",
      arguments: ["explain", "@bad_json.h5", "--input", "@mlp.x.npy", "--output", "out.npy"], status: 1,
      mentions: ["bad_json.h5", "JSON"]),
    BadCase(
      label: "a layer's weights missing",
      arguments: ["explain", "@missing_weights.h5", "--input", "@mlp.x.npy", "--output", "out.npy"], status: 1,
      mentions: ["missing_weights.h5", "logits"]),
    BadCase(
      label: "a kernel of the wrong shape",
      arguments: ["explain", "@bad_weight_shape.h5", "--input", "@mlp.x.npy", "--output", "out.npy"], status: 1,
      mentions: ["bad_weight_shape.h5", "hidden2", "kernel"]),
    BadCase(
      label: "Embedding model given float features of the wrong shape",
      arguments: ["explain", "%embedding.h5", "--input", "@mlp.x.npy", "--output", "out.npy"], status: 1,
      mentions: ["mlp.x.npy", "(4, 6)", "'tokens'", "(N, 4)"]),
    BadCase(
      label: "custom layer class", arguments: ["explain", "@custom_layer.h5", "--input", "@mlp.x.npy", "--output", "out.npy"],
      status: 1, mentions: ["custom_layer.h5", "MyCustomDense"]),
    BadCase(
      label: "inspect: truncated .h5", arguments: ["inspect", "cut.h5"], status: 1, mentions: ["cut.h5"],
      precreate: nil, setup: prefixOf(keras.appendingPathComponent("genomics_cnn.h5"), 0.5, "cut.h5")),
    BadCase(
      label: "inspect: unsupported layer", arguments: ["inspect", "@custom_layer.h5"], status: 1,
      mentions: ["custom_layer.h5", "MyCustomDense"], precreate: nil),
    BadCase(
      label: "predict: random bytes .keras",
      arguments: ["predict", "rnd.keras", "--input", "@mlp.x.npy", "--output", "out.npy"], status: 1,
      mentions: ["rnd.keras"], setup: write(randomBytes(4096, seed: 3), "rnd.keras")),
  ]

  /// ONNX models (LiftONNXTests' fixtures; mlp.onnx: x (N, 10) → y (N, 3)).
  static let onnx: [BadCase] = [
    BadCase(
      label: "truncated .onnx", arguments: ["explain", "&truncated.onnx", "--input", "x10.npy", "--output", "out.npy"],
      status: 1, mentions: ["truncated.onnx"], setup: write(matrix(4, 10), "x10.npy")),
    BadCase(
      label: "truncated .onnx (first 100 bytes)",
      arguments: ["explain", "cut.onnx", "--input", "x10.npy", "--output", "out.npy"], status: 1, mentions: ["cut.onnx"],
      setup: all(write(matrix(4, 10), "x10.npy"), prefixOf(onnxFixtures.appendingPathComponent("mlp.onnx"), 0.1, "cut.onnx"))),
    BadCase(
      label: "ONNX external-data initializer missing",
      arguments: ["explain", "&external_missing.onnx", "--input", "x10.npy", "--output", "out.npy"], status: 1,
      mentions: ["external_missing.onnx"], setup: write(matrix(4, 10), "x10.npy")),
    BadCase(
      label: "unsupported op Loop (.onnx)", arguments: ["explain", "%loop.onnx", "--input", "x3.npy", "--output", "out.npy"],
      status: 1, mentions: ["loop.onnx", "Loop"], setup: write(matrix(4, 3), "x3.npy")),
    BadCase(
      label: "custom-domain op (.onnx)",
      arguments: ["explain", "&custom_domain.onnx", "--input", "x10.npy", "--output", "out.npy"], status: 1,
      mentions: ["custom_domain.onnx"], setup: write(matrix(4, 10), "x10.npy")),
    BadCase(
      label: "task out of range (.onnx)",
      arguments: ["explain", "&mlp.onnx", "--input", "x10.npy", "--output", "out.npy", "--task", "3"], status: 1,
      mentions: ["task 3"], setup: write(matrix(4, 10), "x10.npy")),
    BadCase(
      label: "wrong feature count (.onnx)", arguments: ["explain", "&mlp.onnx", "--input", "x7.npy", "--output", "out.npy"],
      status: 1, mentions: ["x7.npy", "(4, 7)"], setup: write(matrix(4, 7), "x7.npy")),
    BadCase(
      label: "NaN in the input (.onnx)", arguments: ["explain", "&mlp.onnx", "--input", "nan.npy", "--output", "out.npy"],
      status: 1, mentions: ["nan.npy", "NaN", "[3, 9]"], setup: write(matrix(4, 10, bad: (3, 9, .nan)), "nan.npy")),
    BadCase(
      label: "fuzzer find: ONNX Pad to an extent that overflows Int (trapped before)",
      arguments: ["predict", "%fuzz_onnx_shape_overflow.onnx", "--input", "x.npy", "--output", "out.npy"], status: 1,
      mentions: ["pad", "pads", "4611686018427387903"],
      setup: write(Tensor(repeating: 1, shape: [1, 2, 3, 4]), "x.npy")),
    BadCase(
      label: "predict: random bytes named .onnx",
      arguments: ["predict", "rnd.onnx", "--input", "x10.npy", "--output", "out.npy"], status: 1, mentions: ["rnd.onnx"],
      setup: all(write(matrix(4, 10), "x10.npy"), write(randomBytes(2048, seed: 9), "rnd.onnx"))),
  ]

  /// Array files: format, dtype, shape and value checks.
  static let arrays: [BadCase] = [
    BadCase(
      label: "corrupt .npy header (unterminated dict)", arguments: explainMLP(input: "bad.npy"), status: 1,
      mentions: ["bad.npy", "malformed"],
      setup: write(
        Data([0x93] + Array("NUMPY".utf8) + [1, 0, 54, 0]) + Data("{'descr': '<f4', 'fortran_order': False, 'shape': (4, \n".utf8),
        "bad.npy")),
    BadCase(
      label: "not a .npy file", arguments: explainMLP(input: "text.npy"), status: 1, mentions: ["text.npy", "not a .npy"],
      setup: write(Data("just some text\n".utf8), "text.npy")),
    BadCase(
      label: "empty .npy file", arguments: explainMLP(input: "e.npy"), status: 1, mentions: ["e.npy"],
      setup: write(Data(), "e.npy")),
    BadCase(
      label: "truncated .npy data", arguments: explainMLP(input: "cut.npy"), status: 1, mentions: ["cut.npy", "truncated"],
      setup: write(NumPy.encode(mlpX).dropLast(5), "cut.npy")),
    BadCase(
      label: "object dtype", arguments: explainMLP(input: "^unsupported_object.npy"), status: 1,
      mentions: ["unsupported_object.npy", "dtype"]),
    BadCase(
      label: "complex dtype", arguments: explainMLP(input: "^unsupported_c8.npy"), status: 1,
      mentions: ["unsupported_c8.npy", "dtype", "complex"]),
    BadCase(
      label: "unicode string dtype", arguments: explainMLP(input: "^unsupported_U3.npy"), status: 1,
      mentions: ["unsupported_U3.npy", "dtype"]),
    BadCase(
      label: "byte string dtype", arguments: explainMLP(input: "^unsupported_S2.npy"), status: 1,
      mentions: ["unsupported_S2.npy", "dtype"]),
    BadCase(
      label: "structured dtype", arguments: explainMLP(input: "^unsupported_structured.npy"), status: 1,
      mentions: ["unsupported_structured.npy", "dtype"]),
    BadCase(
      label: "wrong rank (1-D)", arguments: explainMLP(input: "flat.npy"), status: 1,
      mentions: ["flat.npy", "(24,)", "features", "(N, 6)"], setup: write(mlpX.reshaped([24]), "flat.npy")),
    BadCase(
      label: "wrong rank (3-D)", arguments: explainMLP(input: "x3.npy"), status: 1,
      mentions: ["x3.npy", "(4, 6, 1)", "(N, 6)"], setup: write(mlpX.reshaped([4, 6, 1]), "x3.npy")),
    BadCase(
      label: "wrong rank (0-D)", arguments: explainMLP(input: "s.npy"), status: 1, mentions: ["s.npy", "()", "(N, 6)"],
      setup: write(Tensor(scalar: 1), "s.npy")),
    BadCase(
      label: "predict: wrong rank (0-D)",
      arguments: ["predict", "@mlp.h5", "--input", "s.npy", "--output", "out.npy"], status: 1,
      mentions: ["s.npy", "()", "(N, 6)"], setup: write(Tensor(scalar: 1), "s.npy")),
    BadCase(
      label: "wrong feature count", arguments: explainMLP(input: "x5.npy"), status: 1,
      mentions: ["x5.npy", "(4, 5)", "(N, 6)"], setup: write(matrix(4, 5), "x5.npy")),
    BadCase(
      label: "predict: wrong feature count",
      arguments: ["predict", "@mlp.h5", "--input", "x5.npy", "--output", "out.npy"], status: 1,
      mentions: ["x5.npy", "(4, 5)"], setup: write(matrix(4, 5), "x5.npy")),
    BadCase(
      label: "NaN in the input", arguments: explainMLP(input: "nan.npy"), status: 1, mentions: ["nan.npy", "NaN", "[2, 3]"],
      setup: write(matrix(4, 6, bad: (2, 3, .nan)), "nan.npy")),
    BadCase(
      label: "+Inf in the input", arguments: explainMLP(input: "inf.npy"), status: 1, mentions: ["inf.npy", "inf", "[0, 5]"],
      setup: write(matrix(4, 6, bad: (0, 5, .infinity)), "inf.npy")),
    BadCase(
      label: "-Inf in a float64 input", arguments: explainMLP(input: "ninf.npy"), status: 1,
      mentions: ["ninf.npy", "-inf", "[3, 1]"],
      setup: write(
        npyImage(
          descr: "<f8", shape: "(4, 6)", data: float64Bytes((0..<24).map { $0 == 19 ? -Double.infinity : Double($0) })),
        "ninf.npy")),
    BadCase(
      label: "float64 too large for float32 (overflows to inf)", arguments: explainMLP(input: "big.npy"), status: 1,
      mentions: ["big.npy", "inf", "[0, 2]"],
      setup: write(npyImage(descr: "<f8", shape: "(4, 6)", data: float64Bytes((0..<24).map { $0 == 2 ? 1e300 : 0 })), "big.npy")),
    BadCase(
      label: "predict: NaN in the input",
      arguments: ["predict", "@mlp.h5", "--input", "nan.npy", "--output", "out.npy"], status: 1,
      mentions: ["nan.npy", "NaN", "[1, 1]"], setup: write(matrix(4, 6, bad: (1, 1, .nan)), "nan.npy")),
    BadCase(
      label: "NaN in a per-example reference", arguments: explainMLP(["--reference", "r.npy"]), status: 1,
      mentions: ["r.npy", "NaN", "[1, 0]"], setup: all(write(mlpX, "x.npy"), write(matrix(4, 6, bad: (1, 0, .nan)), "r.npy"))),
    BadCase(
      label: "Inf in a shared reference", arguments: explainMLP(["--reference", "r.npy"]), status: 1,
      mentions: ["r.npy", "inf", "[3]"],
      setup: all(write(mlpX, "x.npy"), write(matrix(1, 6, bad: (0, 3, .infinity)).reshaped([6]), "r.npy"))),
    BadCase(
      label: "Inf in the background", arguments: explainMLP(["--background", "b.npy"]), status: 1,
      mentions: ["b.npy", "inf", "[2, 4]"], setup: all(write(mlpX, "x.npy"), write(matrix(3, 6, bad: (2, 4, .infinity)), "b.npy"))),
    BadCase(
      label: "declared shape overflows Int", arguments: explainMLP(input: "huge.npy"), status: 1,
      mentions: ["huge.npy", "too large"], setup: write(npyImage(descr: "<f4", shape: "(4611686018427387904, 6)"), "huge.npy")),
    BadCase(
      label: "declared shape beyond Int64", arguments: explainMLP(input: "huge.npy"), status: 1,
      mentions: ["huge.npy", "too large"],
      setup: write(npyImage(descr: "<f4", shape: "(99999999999999999999999999, 6)"), "huge.npy")),
    BadCase(
      label: "declared shape larger than the file (checked before allocating)", arguments: explainMLP(input: "big.npy"),
      status: 1, mentions: ["big.npy", "truncated", "(1000000000000, 6)"],
      setup: write(npyImage(descr: "<f4", shape: "(1000000000000, 6)", data: Data(count: 96)), "big.npy")),
    BadCase(
      label: "predict: declared shape larger than memory (sparse file, checked before allocating)",
      arguments: ["predict", "@mlp.h5", "--input", "sparse.npy", "--output", "out.npy"], status: 1,
      mentions: ["sparse.npy", "memory"],
      setup: { dir in
        let rows = Int(ProcessInfo.processInfo.physicalMemory / 24) * 2 + 1
        let header = npyImage(descr: "<f4", shape: "(\(rows), 6)")
        let url = dir.appendingPathComponent("sparse.npy")
        try header.write(to: url)
        let handle = try FileHandle(forWritingTo: url)
        try handle.truncate(atOffset: UInt64(header.count + rows * 24))
        try handle.close()
      }),
    BadCase(
      label: "explain to .npz (not streamed): declared shape larger than memory",
      arguments: ["explain", "@mlp.h5", "--input", "sparse.npy", "--output", "out.npz"], status: 1,
      mentions: ["sparse.npy", "memory"], precreate: "out.npz",
      setup: { dir in
        let rows = Int(ProcessInfo.processInfo.physicalMemory / 24) * 2 + 1
        let header = npyImage(descr: "<f4", shape: "(\(rows), 6)")
        let url = dir.appendingPathComponent("sparse.npy")
        try header.write(to: url)
        let handle = try FileHandle(forWritingTo: url)
        try handle.truncate(atOffset: UInt64(header.count + rows * 24))
        try handle.close()
      }),
    BadCase(
      label: "no examples (N = 0)", arguments: explainMLP(input: "x0.npy"), status: 1,
      mentions: ["x0.npy", "no examples", "(0, 6)"], setup: write(Tensor(shape: [0, 6], scalars: []), "x0.npy")),
    BadCase(
      label: "empty background (M = 0)", arguments: explainMLP(["--background", "b0.npy"]), status: 1,
      mentions: ["b0.npy", "no rows"], setup: all(write(mlpX, "x.npy"), write(Tensor(shape: [0, 6], scalars: []), "b0.npy"))),
  ]

  /// Command-line arguments that do not fit the model or the files.
  static let arguments: [BadCase] = [
    BadCase(
      label: "unknown method", arguments: explainMLP(["--method", "deepliftx"]), status: 2, mentions: ["'deepliftx'"],
      setup: write(mlpX, "x.npy")),
    BadCase(
      label: "plot: scores that are not one-hot shaped for a logo (error names the scores file)",
      arguments: ["plot", "s.npy", "--output", "fig.png", "--kind", "logo"], status: 1,
      mentions: ["s.npy", "one-hot"], precreate: "fig.png", setup: write(matrix(3, 7), "s.npy")),
    BadCase(
      label: "plot: example out of range (error names the scores file)",
      arguments: ["plot", "s.npy", "--output", "fig.png", "--example", "99"], status: 1,
      mentions: ["s.npy", "example 99"], precreate: "fig.png", setup: write(matrix(3, 7), "s.npy")),
    BadCase(
      label: "integrated gradients: --steps 0",
      arguments: explainMLP(["--method", "integrated-gradients", "--steps", "0"]), status: 2,
      mentions: ["--steps", "1...10000", "0"], setup: write(mlpX, "x.npy")),
    BadCase(
      label: "integrated gradients: --steps far too many (would allocate and stall)",
      arguments: explainMLP(["--method", "integrated-gradients", "--steps", "1000000000000"]), status: 2,
      mentions: ["--steps", "1000000000000"], setup: write(mlpX, "x.npy")),
    BadCase(
      label: "task out of range (.h5)", arguments: explainMLP(["--task", "3"]), status: 1, mentions: ["task 3", "3 output"],
      setup: write(mlpX, "x.npy")),
    BadCase(
      label: "task out of range in a list", arguments: explainMLP(["--task", "0,1,99"]), status: 1, mentions: ["task 99"],
      setup: write(mlpX, "x.npy")),
    BadCase(
      label: "task out of range (.keras)",
      arguments: ["explain", "@image_cnn3.keras", "--input", "@image_cnn3.x.npy", "--output", "out.npy", "--task", "1000"],
      status: 1, mentions: ["task 1000"]),
    BadCase(
      label: "unknown target layer", arguments: explainMLP(["--target", "nope"]), status: 1, mentions: ["'nope'"],
      setup: write(mlpX, "x.npy")),
    BadCase(
      label: "reference with the wrong feature count", arguments: explainMLP(["--reference", "r.npy"]), status: 1,
      mentions: ["r.npy", "(5,)"], setup: all(write(mlpX, "x.npy"), write(matrix(1, 5).reshaped([5]), "r.npy"))),
    BadCase(
      label: "per-example reference with another N", arguments: explainMLP(["--reference", "r.npy"]), status: 1,
      mentions: ["r.npy", "(3, 6)", "(4, 6)"], setup: all(write(mlpX, "x.npy"), write(matrix(3, 6), "r.npy"))),
    BadCase(
      label: "[N, M, …] reference with another N", arguments: explainMLP(["--reference", "r.npy"]), status: 1,
      mentions: ["r.npy", "(2, 3, 6)"],
      setup: all(write(mlpX, "x.npy"), write(matrix(6, 6).reshaped([2, 3, 6]), "r.npy"))),
    BadCase(
      label: "reference of rank + 2", arguments: explainMLP(["--reference", "r.npy"]), status: 1,
      mentions: ["r.npy", "(4, 1, 1, 6)"],
      setup: all(write(mlpX, "x.npy"), write(matrix(4, 6).reshaped([4, 1, 1, 6]), "r.npy"))),
    BadCase(
      label: "background with the wrong feature count", arguments: explainMLP(["--background", "b.npy"]), status: 1,
      mentions: ["b.npy", "(3, 5)"], setup: all(write(mlpX, "x.npy"), write(matrix(3, 5), "b.npy"))),
    BadCase(
      label: "multi-input: missing input name",
      arguments: ["explain", "@two_input.h5", "--input", "seq=@two_input.x0.npy", "--output", "out.npz"], status: 2,
      mentions: ["vec"], precreate: "out.npz"),
    BadCase(
      label: "multi-input: unknown input name",
      arguments: [
        "explain", "@two_input.h5", "--input", "seq=@two_input.x0.npy", "--input", "vec=@two_input.x1.npy",
        "--input", "bogus=@two_input.x1.npy", "--output", "out.npz",
      ], status: 2, mentions: ["bogus"], precreate: "out.npz"),
    BadCase(
      label: "multi-input: plain FILE",
      arguments: ["explain", "@two_input.h5", "--input", "@two_input.x0.npy", "--output", "out.npz"], status: 2,
      mentions: ["NAME=FILE"], precreate: "out.npz"),
    BadCase(
      label: "multi-input: inputs swapped (shape names the file)",
      arguments: [
        "explain", "@two_input.h5", "--input", "seq=@two_input.x1.npy", "--input", "vec=@two_input.x0.npy",
        "--output", "out.npz",
      ], status: 1, mentions: ["two_input.x1.npy", "seq", "(N, 10, 4)"], precreate: "out.npz"),
    BadCase(
      label: "multi-input: reference missing a name",
      arguments: [
        "explain", "@two_input.h5", "--input", "seq=@two_input.x0.npy", "--input", "vec=@two_input.x1.npy",
        "--reference", "seq=@two_input.x0.npy", "--output", "out.npz",
      ], status: 2, mentions: ["vec"], precreate: "out.npz"),
    BadCase(
      label: "output directory missing", arguments: explainMLP().map { $0 == "out.npy" ? "nodir/out.npy" : $0 }, status: 1,
      mentions: ["nodir/out.npy", "does not exist"], precreate: nil, setup: write(mlpX, "x.npy")),
    BadCase(
      label: "output directory is a regular file",
      arguments: explainMLP().map { $0 == "out.npy" ? "afile/out.npy" : $0 }, status: 1,
      mentions: ["afile/out.npy", "not a directory"],
      precreate: nil, setup: all(write(mlpX, "x.npy"), write(Data("a file".utf8), "afile"))),
    BadCase(
      label: "output directory not writable (/proc)",
      arguments: explainMLP().map { $0 == "out.npy" ? "/proc/self/deeplift-out.npy" : $0 }, status: 1,
      mentions: ["/proc/self/deeplift-out.npy"], precreate: nil, setup: write(mlpX, "x.npy")),
    BadCase(
      label: "output is a directory", arguments: explainMLP().map { $0 == "out.npy" ? "sub" : $0 }, status: 1,
      mentions: ["sub", "directory"], precreate: nil,
      setup: all(
        write(mlpX, "x.npy"),
        { dir in try FileManager.default.createDirectory(at: dir.appendingPathComponent("sub"), withIntermediateDirectories: false) })),
    BadCase(
      label: "output is the input", arguments: ["explain", "@mlp.h5", "--input", "x.npy", "--output", "x.npy"], status: 2,
      mentions: ["x.npy", "input"], precreate: nil, setup: write(mlpX, "x.npy")),
    BadCase(
      label: "output is the input (other spelling)",
      arguments: ["explain", "@mlp.h5", "--input", "x.npy", "--output", "./sub/../x.npy"], status: 2,
      mentions: ["x.npy", "input"], precreate: nil,
      setup: all(
        write(mlpX, "x.npy"),
        { dir in try FileManager.default.createDirectory(at: dir.appendingPathComponent("sub"), withIntermediateDirectories: false) })),
    BadCase(
      label: "output is a hard link to the input",
      arguments: ["explain", "@mlp.h5", "--input", "x.npy", "--output", "link.npy"], status: 2,
      mentions: ["link.npy", "input"], precreate: nil,
      setup: all(
        write(mlpX, "x.npy"),
        { dir in
          try FileManager.default.linkItem(at: dir.appendingPathComponent("x.npy"), to: dir.appendingPathComponent("link.npy"))
        })),
    BadCase(
      label: "output is the reference", arguments: explainMLP(["--reference", "r.npy"]).map { $0 == "out.npy" ? "r.npy" : $0 },
      status: 2, mentions: ["r.npy"], precreate: nil, setup: all(write(mlpX, "x.npy"), write(matrix(1, 6).reshaped([6]), "r.npy"))),
    BadCase(
      label: "output is the model", arguments: ["explain", "m.h5", "--input", "x.npy", "--output", "m.h5"], status: 2,
      mentions: ["m.h5"], precreate: nil, setup: all(write(mlpX, "x.npy"), copy(keras.appendingPathComponent("mlp.h5"), "m.h5"))),
    BadCase(
      label: "--shuffles overflowing Int",
      arguments: [
        "explain", "@genomics_cnn.h5", "--input", "@genomics_cnn.x.npy", "--output", "out.npy", "--shuffles",
        "9223372036854775807",
      ], status: 1, mentions: ["genomics_cnn.x.npy", "--shuffles", "memory"]),
    BadCase(
      label: "--shuffles beyond memory",
      arguments: [
        "explain", "@genomics_cnn.h5", "--input", "@genomics_cnn.x.npy", "--output", "out.npy", "--shuffles",
        "100000000000",
      ], status: 1, mentions: ["genomics_cnn.x.npy", "--shuffles", "memory"]),
    BadCase(
      label: "--shuffles of a non-sequence input", arguments: explainMLP(["--shuffles", "2"]), status: 1,
      mentions: ["x.npy", "--shuffles", "[N, L, D]"]),
    BadCase(
      label: "shuffle: --shuffles overflowing Int",
      arguments: ["shuffle", "--input", "@genomics_cnn.x.npy", "--output", "out.npy", "--shuffles", "9223372036854775807"],
      status: 1, mentions: ["genomics_cnn.x.npy", "memory"]),
    BadCase(
      label: "shuffle: NaN in the input", arguments: ["shuffle", "--input", "nan.npy", "--output", "out.npy", "--shuffles", "2"],
      status: 1, mentions: ["nan.npy", "NaN", "[0, 1, 2]"],
      setup: write(Tensor(shape: [1, 3, 4], scalars: (0..<12).map { $0 == 6 ? .nan : 0 }), "nan.npy")),
    BadCase(
      label: "predict: output is the input", arguments: ["predict", "@mlp.h5", "--input", "x.npy", "--output", "x.npy"],
      status: 2, mentions: ["x.npy"], precreate: nil, setup: write(mlpX, "x.npy")),
  ]
}

@Suite("deeplift bad-input matrix")
struct BadInputMatrixTests {
  static func resolve(_ argument: String) -> String {
    var text = argument
    var prefix = ""
    if let eq = text.firstIndex(of: "="), !text.hasPrefix("/") {
      prefix = String(text[...eq])
      text = String(text[text.index(after: eq)...])
    }
    switch text.first {
    case "@": return prefix + keras.appendingPathComponent(String(text.dropFirst())).path
    case "%": return prefix + matrixFixtures.appendingPathComponent(String(text.dropFirst())).path
    case "^": return prefix + npyFixtures.appendingPathComponent(String(text.dropFirst())).path
    case "&": return prefix + onnxFixtures.appendingPathComponent(String(text.dropFirst())).path
    default: return argument
    }
  }

  /// Every regular file and directory under `dir` with its bytes (directories: empty).
  static func snapshot(_ dir: URL) throws -> [String: Data] {
    var result = [String: Data]()
    let fm = FileManager.default
    for name in try fm.subpathsOfDirectory(atPath: dir.path) {
      let url = dir.appendingPathComponent(name)
      var isDirectory: ObjCBool = false
      _ = fm.fileExists(atPath: url.path, isDirectory: &isDirectory)
      let type = try fm.attributesOfItem(atPath: url.path)[.type] as? FileAttributeType
      if isDirectory.boolValue {
        result[name] = Data()
      } else if type != .typeRegular {
        // A named pipe (the watchdog case) cannot be read without blocking: its kind stands in.
        result[name] = Data("\(type.map { "\($0)" } ?? "unknown")".utf8)
      } else if let size = try fm.attributesOfItem(atPath: url.path)[.size] as? Int, size > 1 << 24 {
        // Too big to read (the sparse-file case): size and modification time stand in.
        let date = try fm.attributesOfItem(atPath: url.path)[.modificationDate] as? Date
        result[name] = Data("size \(size), modified \(date?.timeIntervalSince1970 ?? 0)".utf8)
      } else {
        result[name] = try Data(contentsOf: url)
      }
    }
    return result
  }

  /// Runs one case twice (without an output file, then with one holding known bytes) and
  /// checks the contract.
  static func check(_ c: BadCase, sourceLocation: SourceLocation = #_sourceLocation) throws {
    let variants = c.precreate == nil ? [false] : [false, true]
    for precreate in variants {
      let dir = try makeTemporaryDirectory()
      defer { cleanup(dir) }
      try c.setup(dir)
      if precreate, let out = c.precreate {
        try Data("existing output: must survive a failed run\n".utf8).write(to: dir.appendingPathComponent(out))
      }
      if c.arguments.contains("x.npy"), !FileManager.default.fileExists(atPath: dir.appendingPathComponent("x.npy").path) {
        try NumPy.write(mlpX, to: dir.appendingPathComponent("x.npy"))
      }
      let expected = try snapshot(dir)
      let r = try runDeeplift(
        arguments: c.arguments.map(resolve), in: dir, environment: c.environment, memoryLimitKB: c.memoryLimitKB)
      let context = "\(c.label)\(precreate ? " (existing output)" : ""): status \(r.status), stderr: \(r.stderr)"
      // DEEPLIFT_MATRIX_LOG=file appends "label | status | message" per case (for reports).
      if !precreate, let log = ProcessInfo.processInfo.environment["DEEPLIFT_MATRIX_LOG"],
        let handle = FileHandle(forWritingAtPath: log) ?? {
          _ = FileManager.default.createFile(atPath: log, contents: nil)
          return FileHandle(forWritingAtPath: log)
        }()
      {
        handle.seekToEndOfFile()
        let message = r.stderr.trimmingCharacters(in: .newlines).replacingOccurrences(of: dir.path + "/", with: "")
          .replacingOccurrences(of: kerasFixtures.path + "/", with: "").replacingOccurrences(of: matrixFixtures.path + "/", with: "")
          .replacingOccurrences(of: npyFixtures.path + "/", with: "")
        handle.write(Data("\(c.label) | \(r.status) | \(message)\n".utf8))
        try? handle.close()
      }
      expectCleanFailure(r, status: c.status, mentions: c.mentions, context: context, sourceLocation: sourceLocation)
      let after = try snapshot(dir)
      #expect(
        after.keys.sorted() == expected.keys.sorted(), "files left behind: \(context)", sourceLocation: sourceLocation)
      for (name, data) in expected where after[name] != data {
        Issue.record("\(name) changed: \(context)", sourceLocation: sourceLocation)
      }
    }
  }

  @Test("model files", arguments: Matrix.models)
  func models(_ c: BadCase) throws { try Self.check(c) }

  @Test("ONNX models", arguments: Matrix.onnx)
  func onnx(_ c: BadCase) throws { try Self.check(c) }

  @Test("array files", arguments: Matrix.arrays)
  func arrays(_ c: BadCase) throws { try Self.check(c) }

  @Test("arguments", arguments: Matrix.arguments)
  func arguments(_ c: BadCase) throws { try Self.check(c) }

  /// The file type is recognised from the content: an HDF5 model named `.keras` or `.onnx`
  /// and a `.keras` archive named `.h5` all work.
  @Test(
    "content decides the model format",
    arguments: [
      ("mlp.h5", "m.keras", "mlp.x.npy"), ("mlp.h5", "m.onnx", "mlp.x.npy"),
      ("image_cnn3.keras", "m.h5", "image_cnn3.x.npy"),
    ])
  func contentDecides(source: String, renamed: String, input: String) throws {
    let dir = try makeTemporaryDirectory()
    defer { cleanup(dir) }
    try FileManager.default.copyItem(at: keras.appendingPathComponent(source), to: dir.appendingPathComponent(renamed))
    let r = try runDeeplift(
      arguments: ["predict", renamed, "--input", keras.appendingPathComponent(input).path, "--output", "y.npy"], in: dir)
    #expect(r.status == 0, "\(r.stderr)")
    #expect(r.exitedNormally)
    #expect(try listing(dir) == [renamed, "y.npy"].sorted())
  }

  /// An ONNX model named `.h5` or `.keras` is still read as ONNX.
  @Test("content decides: ONNX under a Keras name", arguments: ["m.h5", "m.keras", "m.onnx"])
  func onnxUnderAnotherName(renamed: String) throws {
    let dir = try makeTemporaryDirectory()
    defer { cleanup(dir) }
    try FileManager.default.copyItem(at: onnxFixtures.appendingPathComponent("mlp.onnx"), to: dir.appendingPathComponent(renamed))
    try NumPy.write(matrix(4, 10), to: dir.appendingPathComponent("x.npy"))
    let r = try runDeeplift(arguments: ["predict", renamed, "--input", "x.npy", "--output", "y.npy"], in: dir)
    #expect(r.status == 0, "\(r.stderr)")
    #expect(try NumPy.read(dir.appendingPathComponent("y.npy")).shape == [4, 3])
  }

  /// `predict` on N = 0 examples is not an error: the output has zero rows.
  @Test func predictOnNoExamplesWritesAnEmptyOutput() throws {
    let dir = try makeTemporaryDirectory()
    defer { cleanup(dir) }
    try NumPy.write(Tensor(shape: [0, 6], scalars: []), to: dir.appendingPathComponent("x0.npy"))
    let r = try runDeeplift(
      arguments: ["predict", keras.appendingPathComponent("mlp.h5").path, "--input", "x0.npy", "--output", "y.npy"], in: dir)
    #expect(r.status == 0, "\(r.stderr)")
    #expect(try NumPy.read(dir.appendingPathComponent("y.npy")).shape == [0, 3])
  }
}

/// The failure contract: status, one `error: ` line naming what is wrong, nothing on
/// standard output, no trap.
func expectCleanFailure(
  _ r: CLIResult, status: Int32, mentions: [String], context: String,
  sourceLocation: SourceLocation = #_sourceLocation
) {
  #expect(r.exitedNormally, "killed by a signal: \(context)", sourceLocation: sourceLocation)
  #expect(r.status == status, "\(context)", sourceLocation: sourceLocation)
  #expect(r.stderrLines.count == 1, "\(context)", sourceLocation: sourceLocation)
  #expect(r.stderr.hasPrefix("error: "), "\(context)", sourceLocation: sourceLocation)
  #expect(r.stdout.isEmpty, "stdout: \(r.stdout); \(context)", sourceLocation: sourceLocation)
  for trap in ["Fatal error", "Stack dump", "crashed", "Backtrace", "backtrace", "Thread 0", "#0 ", "SIG"] {
    #expect(!r.stderr.contains(trap), "\(trap): \(context)", sourceLocation: sourceLocation)
  }
  for fragment in mentions {
    #expect(r.stderr.contains(fragment), "missing '\(fragment)': \(context)", sourceLocation: sourceLocation)
  }
}
