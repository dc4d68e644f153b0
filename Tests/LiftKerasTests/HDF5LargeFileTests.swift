import Foundation
import LiftHDF5
import LiftKeras
import LiftNN
import LiftTensor
import LiftTestSupport
import Testing

/// Valid files libhdf5 writes and reads must never be refused by our checks (issue 14): large
/// variable-length and fixed-length attributes (dense storage included) and attributes stored
/// past 16 MiB, written here with libhdf5 the way h5py and tf-keras write them.
@Suite("LiftHDF5: large valid files")
struct HDF5LargeFileTests {
  /// A JSON-like text of about `bytes` bytes, different at every position (no repeats for a
  /// byte scan to lock onto, and a truncated read back would be noticed).
  static func text(_ bytes: Int, seed: UInt64) -> String {
    var rng = SplitMix64(seed: seed)
    var s = "{\"class_name\": \"Functional\", \"config\": {\"layers\": ["
    while s.utf8.count < bytes {
      s += "{\"name\": \"layer_\(rng.next() % 100_000)\", \"units\": \(rng.next() % 4096)}, "
    }
    return s + "{}]}}"
  }

  /// Where `needle` first occurs in the file (to check the data really lies where intended).
  static func offset(of needle: String, in url: URL) throws -> Int? {
    let data = try Data(contentsOf: url)
    return data.range(of: Data(needle.utf8)).map(\.lowerBound)
  }

  /// tf-keras' `model.save("m.h5")` as h5py writes it (variable-length strings, HDF5's
  /// earliest format): `keras_version` and `backend`, then a 300 KB `model_config`, on the
  /// root; here after 20 MiB of data, so its global heap lies past 16 MiB.
  @Test func largeVariableLengthAttributesPast16MiB() throws {
    let dir = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let url = dir.appendingPathComponent("big.h5")
    let config = Self.text(300_000, seed: 1)
    let names = (0..<300).map { "block_\($0)/conv_\($0)/kernel:0" }
    let data = (0..<(5 << 20)).map { Float($0 % 1000) }  // 20 MiB
    do {
      let w = try HDF5Writer(path: url.path)
      try w.floatDataset("/padding", shape: [data.count], values: data)
      try w.stringAttribute(on: "/", "keras_version", ["2.21.0"], variableLength: true)
      try w.stringAttribute(on: "/", "backend", ["tensorflow"], variableLength: true)
      try w.stringAttribute(on: "/", "model_config", [config], variableLength: true)
      try w.group("/model_weights/dense")
      try w.stringAttribute(on: "/model_weights/dense", "weight_names", names, variableLength: true, scalar: false)
      try w.stringAttribute(on: "/model_weights", "layer_names", ["dense", "x"], variableLength: false, scalar: false)
    }
    let where_ = try #require(try Self.offset(of: String(config.prefix(64)), in: url))
    #expect(where_ > 16 << 20, "the model_config string lies at byte \(where_)")

    let file = try HDF5File(url: url)
    #expect(try file.root.stringAttribute("model_config") == config)
    #expect(try file.root.stringAttribute("backend") == "tensorflow")
    #expect(try file.root.stringAttribute("keras_version") == "2.21.0")
    #expect(try file.root.group("model_weights/dense").stringArrayAttribute("weight_names") == names)
    #expect(try file.root.group("model_weights").stringArrayAttribute("layer_names") == ["dense", "x"])
    let padding = try file.root.dataset("padding").readFloats()
    #expect(padding.count == data.count && padding[123_456] == 456 && padding.last == Float((data.count - 1) % 1000))
    // The same bytes in memory (a `.keras` member is opened this way).
    let image = try HDF5File(bytes: try Data(contentsOf: url), name: "big.h5")
    #expect(try image.root.stringAttribute("model_config") == config)
  }

  /// HDF5 1.8+ object headers (h5py `libver="latest"`): a 300 KB fixed-length attribute and
  /// more than eight variable-length ones go to dense storage (a fractal heap), past 16 MiB.
  @Test func denseAttributeStorage() throws {
    let dir = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let url = dir.appendingPathComponent("dense.h5")
    let config = Self.text(300_000, seed: 2)
    let small = (0..<20).map { Self.text(200 + 37 * $0, seed: UInt64(10 + $0)) }
    do {
      let w = try HDF5Writer(path: url.path, latestFormat: true)
      try w.floatDataset("/padding", shape: [5 << 20], values: [Float](repeating: 0.5, count: 5 << 20))
      try w.stringAttribute(on: "/", "model_config", [config], variableLength: false)
      try w.group("/g")
      for (i, s) in small.enumerated() {
        try w.stringAttribute(on: "/g", "a\(i)", [s], variableLength: true)
      }
      try w.stringAttribute(on: "/g", "many", small, variableLength: true, scalar: false)
    }
    let file = try HDF5File(url: url)
    #expect(try file.root.stringAttribute("model_config") == config)
    let g = try file.root.group("g")
    for (i, s) in small.enumerated() { #expect(try g.stringAttribute("a\(i)") == s) }
    #expect(try g.stringArrayAttribute("many") == small)
  }

  /// A Keras model (the `mlp.h5` fixture) rewritten with a 300 KB `model_config` and every
  /// attribute and weight after 20 MiB of other data: it loads, with the same weights.
  @Test func kerasModelWithLargeConfigPast16MiB() throws {
    let original = try HDF5File(url: try fixture("mlp.h5"))
    let config = try original.root.stringAttribute("model_config")
    // A key Keras does not read, to make the configuration 300 KB.
    let padded = "{\"padding\": \"\(String(repeating: "p", count: 300_000))\", " + config.dropFirst()
    let dir = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let url = dir.appendingPathComponent("mlp_big.h5")
    do {
      let w = try HDF5Writer(path: url.path)
      try w.floatDataset("/padding", shape: [5 << 20], values: [Float](repeating: 1, count: 5 << 20))
      try w.stringAttribute(on: "/", "model_config", [padded], variableLength: true)
      let weights = try original.root.group("model_weights")
      try w.group("/model_weights")
      try w.stringAttribute(
        on: "/model_weights", "layer_names", try weights.stringArrayAttribute("layer_names"),
        variableLength: false, scalar: false)
      for layer in try weights.childNames() {
        let group = try weights.group(layer)
        try w.group("/model_weights/\(layer)")
        let names = try group.stringArrayAttribute("weight_names")
        if !names.isEmpty {
          try w.stringAttribute(on: "/model_weights/\(layer)", "weight_names", names, variableLength: true, scalar: false)
        }
        for name in names {
          let d = try group.dataset(name)
          try w.floatDataset("/model_weights/\(layer)/\(name)", shape: d.shape, values: try d.readFloats())
        }
      }
    }
    // Keras' own output for the fixture's input (Scripts/fixtures).
    let graph = try loadKerasModel(at: url)
    let values = try forward(graph, inputs: [try loadNpy("mlp.x.npy")])
    expectForwardClose(values[graph.outputs[0].rawValue], try loadNpy("mlp.y.npy"), "mlp_big.h5")
  }

  /// Weights are arbitrary bytes: here they spell a global heap collection header with a size
  /// past the end of the file, and a variable-length string element naming a real collection
  /// with an object index that does not exist. libhdf5 reads the file (the bytes are only
  /// floats); a check that scans the whole file for such patterns refused it.
  @Test func weightBytesThatSpellHeapStructures() throws {
    let dir = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let url = dir.appendingPathComponent("spell.h5")
    let placeholder = (0..<64).map { Float($0) + 0.5 }
    do {
      let w = try HDF5Writer(path: url.path)
      try w.stringAttribute(on: "/", "model_config", [Self.text(5000, seed: 3)], variableLength: true)
      try w.floatDataset("/kernel", shape: [64], values: placeholder)
    }
    var bytes = [UInt8](try Data(contentsOf: url))
    let collection = try #require(try Self.offset(of: "GCOL", in: url))
    let raw = placeholder.withUnsafeBytes { Data($0) }
    let at = try #require(Data(bytes).range(of: raw)?.lowerBound)
    func put(_ value: UInt64, _ width: Int, _ offset: Int) {
      for i in 0..<width { bytes[at + offset + i] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(i))) }
    }
    // A string element: length 7, the real collection's address, object 999.
    put(7, 4, 0)
    put(UInt64(collection), 8, 4)
    put(999, 4, 12)
    // A collection header "GCOL", version 1, declaring 4 GiB.
    put(0x4C4F_4347, 4, 32)
    put(1, 4, 36)
    put(1 << 32, 8, 40)
    try Data(bytes).write(to: url)
    let expected = bytes[at..<(at + 256)].withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }

    let file = try HDF5File(url: url)
    #expect(try file.root.stringAttribute("model_config") == Self.text(5000, seed: 3))
    let read = try file.root.dataset("kernel").readFloats()
    #expect(read.map(\.bitPattern) == expected.map(\.bitPattern))
  }
}

/// Issue 15: data from outside the file and implausible sizes are refused before reading;
/// legitimately compressed data is not.
@Suite("LiftHDF5: refused before reading")
struct HDF5RefusalTests {
  @Test func linksAndForeignStorageAreRefused() throws {
    let dir = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let secret = dir.appendingPathComponent("secret.h5").path
    do {
      let w = try HDF5Writer(path: secret)
      try w.floatDataset("/x", shape: [4], values: [1, 2, 3, 4])
    }
    let url = dir.appendingPathComponent("m.h5")
    do {
      let w = try HDF5Writer(path: url.path)
      try w.floatDataset("/plain", shape: [2], values: [5, 6])
      try w.externalLink("/g/ext", targetFile: secret, object: "/x")
      try w.externalLink("/extgroup", targetFile: secret, object: "/")
      try w.softLink("/g/soft", target: "/plain")
      try w.floatDataset("/g/efl", shape: [4], storage: .external(file: secret, offset: 0))
      try w.virtualDataset("/g/vds", count: 4, sourceFile: secret, sourceDataset: "/x")
    }
    let root = try HDF5File(url: url).root
    #expect(try root.dataset("plain").readFloats() == [5, 6])
    func refusal(_ path: String) -> String? {
      do {
        _ = try root.dataset(path).readFloats()
        return nil
      } catch {
        if case .refused(let file, let at, let reason) = error, file == "m.h5" { return "\(at) \(reason)" }
        return "other error: \(error)"
      }
    }
    #expect(refusal("g/ext")?.hasPrefix("/g/ext is an external link to '\(secret)' (object '/x')") == true)
    #expect(refusal("extgroup/x")?.hasPrefix("/extgroup is an external link") == true)
    #expect(refusal("g/soft")?.hasPrefix("/g/soft is a soft link") == true)
    #expect(refusal("g/efl")?.hasPrefix("/g/efl stores its data in the external file '\(secret)'") == true)
    #expect(refusal("g/vds")?.hasPrefix("/g/vds is a virtual dataset") == true)
    // Existence is reported without following the link; opening it as a group is refused too.
    #expect(root.contains("extgroup/x"))
    #expect(root.containsGroup("extgroup"))
    #expect(throws: HDF5Error.self) { try root.group("extgroup") }
  }

  @Test func declaredSizesAreBoundedByStoredBytes() throws {
    let dir = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let url = dir.appendingPathComponent("s.h5")
    // 80 MiB of slowly varying values, deflated (stored far below 80 MiB, above 1/1024 of it).
    let smooth = (0..<(20 << 20)).map { Float($0 >> 12) }
    do {
      let w = try HDF5Writer(path: url.path)
      try w.floatDataset("/compressed", shape: [smooth.count], values: smooth, storage: .compressed(chunks: [1 << 18]))
      try w.floatDataset("/small_unallocated", shape: [1024, 1024], storage: .unallocatedChunks([64, 64]))
      try w.floatDataset("/big_unallocated", shape: [5 << 20, 4], storage: .unallocatedChunks([1 << 16, 4]))
    }
    let size = try #require(try FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int)
    #expect(size < 8 << 20)
    let file = try HDF5File(url: url)
    #expect(try file.root.dataset("compressed").readFloats() == smooth)
    // 4 MiB declared, nothing stored: under the 64 MiB allowance, reads as the fill value 0.
    #expect(try file.root.dataset("small_unallocated").readFloats() == [Float](repeating: 0, count: 1 << 20))
    // 80 MiB declared, nothing stored.
    #expect(throws: HDF5Error.self) { try file.root.dataset("big_unallocated").readFloats() }
    // The element cap a caller passes (LiftKeras passes TensorLimits.maximumElements).
    #expect(throws: HDF5Error.self) { try file.root.dataset("small_unallocated").readFloats(maximumElements: 1000) }
  }
}
