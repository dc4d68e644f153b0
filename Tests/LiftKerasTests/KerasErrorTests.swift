import Foundation
import LiftKeras
import Testing

/// Bad files must give typed errors with one-line messages, never traps.
@Suite("Keras import: errors")
struct KerasErrorTests {
  @Test func unsupportedLayerNamesLayerClassAndFile() throws {
    #expect(
      throws: KerasImportError.unsupportedLayer(
        file: "custom_layer.h5", layer: "hidden2", className: "MyCustomDense")
    ) {
      try loadKerasModel(at: try fixture("custom_layer.h5"))
    }
  }

  @Test func weightProblems() throws {
    #expect(
      throws: KerasImportError.weightShapeMismatch(
        file: "bad_weight_shape.h5", layer: "hidden2", weight: "kernel", expected: [8, 5], found: [7, 5])
    ) { try loadKerasModel(at: try fixture("bad_weight_shape.h5")) }
    #expect(
      throws: KerasImportError.missingWeight(file: "missing_weights.h5", layer: "logits", weight: "kernel")
    ) {
      try loadKerasModel(at: try fixture("missing_weights.h5"))
    }
  }

  @Test func notKerasFiles() throws {
    let random = #expect(throws: KerasImportError.self) { try loadKerasModel(at: try fixture("random.h5")) }
    guard case .notAKerasFile(let file, _) = random else {
      Issue.record("\(String(describing: random))")
      return
    }
    #expect(file == "random.h5")
    let plain = #expect(throws: KerasImportError.self) {
      try loadKerasModel(at: try fixture("hdf5_kinds.h5"))
    }
    guard case .notAKerasFile = plain else {
      Issue.record("\(String(describing: plain))")
      return
    }
    let noConfig = #expect(throws: KerasImportError.self) {
      try loadKerasModel(at: try fixture("no_config.keras"))
    }
    #expect(noConfig == .notAKerasFile(file: "no_config.keras", reason: "zip archive without config.json"))
    let badJSON = #expect(throws: KerasImportError.self) {
      try loadKerasModel(at: try fixture("bad_json.h5"))
    }
    guard case .invalidConfig = badJSON else {
      Issue.record("\(String(describing: badJSON))")
      return
    }
  }

  @Test func missingFileAndDirectory() throws {
    #expect(throws: KerasImportError.unreadable(file: "m.h5", reason: "no such file")) {
      try loadKerasModel(at: URL(fileURLWithPath: "/nonexistent/m.h5"))
    }
    let dir = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    #expect(throws: KerasImportError.unreadable(file: dir.lastPathComponent, reason: "is a directory")) {
      try loadKerasModel(at: dir)
    }
  }

  /// Random bytes under either name, zip magic followed by garbage, and every tried prefix of
  /// a real .h5 / .keras file.
  @Test func garbageAndTruncation() throws {
    let dir = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    var rng = SplitMix64(seed: 7)
    let garbage = (0..<4096).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
    for (name, bytes) in [
      ("g.keras", garbage), ("g.h5", garbage), ("z.keras", [0x50, 0x4B, 3, 4] + garbage),
      ("e.keras", []), ("hdf5sig.h5", [0x89, 0x48, 0x44, 0x46, 0x0D, 0x0A, 0x1A, 0x0A] + garbage),
    ] {
      let url = dir.appendingPathComponent(name)
      try Data(bytes).write(to: url)
      let error = #expect(throws: KerasImportError.self, "\(name)") { try loadKerasModel(at: url) }
      switch error {
      case .notAKerasFile?, .corrupt?: break
      default: Issue.record("\(name): unexpected \(String(describing: error))")
      }
    }
    for source in ["mlp.h5", "image_cnn3.keras"] {
      let bytes = [UInt8](try Data(contentsOf: try fixture(source)))
      let ext = (source as NSString).pathExtension
      for length in [
        0, 3, 4, 8, 30, 100, 512, 2048, bytes.count / 3, bytes.count / 2, bytes.count - 30, bytes.count - 1,
      ] {
        let url = dir.appendingPathComponent("t\(length).\(ext)")
        try Data(bytes.prefix(length)).write(to: url)
        let error = #expect(throws: KerasImportError.self, "\(source) prefix \(length)") {
          try loadKerasModel(at: url)
        }
        switch error {
        case .notAKerasFile?, .corrupt?: break
        default: Issue.record("\(source) prefix \(length): unexpected \(String(describing: error))")
        }
      }
    }
  }
}

extension KerasErrorTests {
  /// Random byte changes anywhere in a .keras archive give a clean error (or, where they only
  /// hit unused bytes, a model): the zip CRC-32 guards the members before any parser sees them.
  /// (Corrupt *metadata* inside an .h5 file can crash libhdf5 1.10 itself; not tested.)
  @Test func corruptedArchivesGiveCleanErrors() throws {
    let dir = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let bytes = [UInt8](try Data(contentsOf: try fixture("image_cnn3.keras")))
    var rng = SplitMix64(seed: 99)
    for i in 0..<120 {
      var b = bytes
      for _ in 0..<(1 + Int(rng.next() % 4)) {
        b[Int(rng.next() % UInt64(b.count))] = UInt8(truncatingIfNeeded: rng.next())
      }
      let url = dir.appendingPathComponent("c\(i).keras")
      try Data(b).write(to: url)
      do {
        _ = try loadKerasModel(at: url)
      } catch {
        #expect(!error.description.isEmpty)
      }
    }
  }
}

/// A small deterministic generator (SplitMix64) for reproducible test data.
struct SplitMix64: RandomNumberGenerator {
  var state: UInt64
  init(seed: UInt64) { state = seed }
  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
}
