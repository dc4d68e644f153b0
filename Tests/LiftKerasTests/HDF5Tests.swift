import Foundation
import LiftHDF5
import Testing

@Suite("LiftHDF5")
struct HDF5Tests {
  @Test func stringAttributesOfEveryKind() throws {
    let file = try HDF5File(url: try fixture("hdf5_kinds.h5"))
    #expect(file.name == "hdf5_kinds.h5")
    let root = file.root
    #expect(try root.stringAttribute("fixed") == "fixed-length bytes")
    #expect(try root.stringAttribute("vlen") == "variable-length str \u{e9}")
    #expect(try root.stringArrayAttribute("bytes_array") == ["conv/kernel:0", "conv/bias:0"])
    #expect(try root.stringArrayAttribute("str_array") == ["a", "bc", "def"])
    #expect(try root.stringArrayAttribute("empty_float_array") == [])
    #expect(try root.intAttribute("int_scalar") == -7)
    #expect(try root.intArrayAttribute("int_array") == [1, 2, 3])
    #expect(root.hasAttribute("fixed"))
    #expect(!root.hasAttribute("nope"))
  }

  @Test func attributeErrorsAreTyped() throws {
    let root = try HDF5File(url: try fixture("hdf5_kinds.h5")).root
    #expect(throws: HDF5Error.missing(file: "hdf5_kinds.h5", path: "/@nope")) {
      try root.stringAttribute("nope")
    }
    #expect(
      throws: HDF5Error.wrongType(
        file: "hdf5_kinds.h5", path: "/@float_scalar", expected: "a string attribute")
    ) {
      try root.stringAttribute("float_scalar")
    }
    #expect(
      throws: HDF5Error.wrongType(file: "hdf5_kinds.h5", path: "/@str_array", expected: "a single string")
    ) {
      try root.stringAttribute("str_array")
    }
    #expect(throws: HDF5Error.self) { try root.intAttribute("fixed") }
  }

  @Test func datasetsConvertToFloat() throws {
    let file = try HDF5File(url: try fixture("hdf5_kinds.h5"))
    let g = try file.root.group("group/nested")
    #expect(g.path == "/group/nested")
    #expect(try g.childNames() == ["f16", "f32", "f64", "i32", "kernel:0", "scalar", "strings"])
    let f16 = try g.dataset("f16")
    #expect(f16.shape == [2, 2])
    #expect(try f16.readFloats() == [0.5, -1.0, 2.0, 0.25])
    let f32 = try g.dataset("f32")
    #expect(f32.shape == [1, 2, 3])
    #expect(try f32.readFloats() == [0, 0.25, 0.5, 0.75, 1.0, 1.25])
    #expect(try g.dataset("f64").readFloats() == [1.0, -2.5, Float(1e-3)])
    #expect(try g.dataset("i32").readFloats() == [3, -4])
    let scalar = try g.dataset("scalar")
    #expect(scalar.shape == [])
    #expect(try scalar.readFloats() == [42])
    #expect(try file.root.dataset("group/nested/kernel:0").readFloats() == [1, 1, 1, 1])
    #expect(throws: HDF5Error.self) { try g.dataset("strings").readFloats() }
  }

  @Test func navigation() throws {
    let root = try HDF5File(url: try fixture("hdf5_kinds.h5")).root
    #expect(root.contains("group/nested/f16"))
    #expect(!root.contains("group/missing/f16"))
    #expect(root.containsGroup("group/nested"))
    #expect(!root.containsGroup("group/nested/f16"))
    #expect(throws: HDF5Error.missing(file: "hdf5_kinds.h5", path: "/group/missing")) {
      try root.group("group/missing")
    }
    #expect(
      throws: HDF5Error.wrongType(file: "hdf5_kinds.h5", path: "/group/nested/f16", expected: "a group")
    ) {
      try root.group("group/nested/f16")
    }
    #expect(throws: HDF5Error.wrongType(file: "hdf5_kinds.h5", path: "/group", expected: "a dataset")) {
      try root.dataset("group")
    }
  }

  @Test func userBlockAndInMemoryImages() throws {
    let url = try fixture("hdf5_userblock.h5")
    let bytes = [UInt8](try Data(contentsOf: url))
    #expect(HDF5File.signatureOffset(in: bytes) == 512)
    #expect(try HDF5File(url: url).root.dataset("values").readFloats() == [1, 2])
    let image = try HDF5File(bytes: bytes, name: "image")
    #expect(image.name == "image")
    #expect(try image.root.dataset("values").readFloats() == [1, 2])
    let kinds = [UInt8](try Data(contentsOf: try fixture("hdf5_kinds.h5")))
    #expect(try HDF5File(bytes: kinds, name: "k").root.stringAttribute("fixed") == "fixed-length bytes")
  }

  @Test func garbageAndMissingFilesAreRejected() throws {
    #expect(throws: HDF5Error.notHDF5(file: "random.h5")) { try HDF5File(url: try fixture("random.h5")) }
    #expect(throws: HDF5Error.notHDF5(file: "b")) { try HDF5File(bytes: [1, 2, 3], name: "b") }
    #expect(throws: HDF5Error.notHDF5(file: "e")) { try HDF5File(bytes: [], name: "e") }
    let missing = URL(fileURLWithPath: "/nonexistent/dir/x.h5")
    #expect(throws: HDF5Error.unreadable(file: "x.h5", reason: "no such file")) { try HDF5File(url: missing) }
    let dir = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    #expect(throws: HDF5Error.self) { try HDF5File(url: dir) }
  }

  /// Every prefix length tried must give a clean error, never a crash or a usable file.
  @Test func truncatedFilesGiveCleanErrors() throws {
    let bytes = [UInt8](try Data(contentsOf: try fixture("mlp.h5")))
    let dir = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    for length in [0, 4, 8, 64, 512, 1000, 2048, bytes.count / 2, bytes.count - 100, bytes.count - 1] {
      let prefix = Array(bytes.prefix(length))
      let url = dir.appendingPathComponent("t\(length).h5")
      try Data(prefix).write(to: url)
      #expect(throws: HDF5Error.self, "prefix \(length)") { try HDF5File(url: url) }
      #expect(throws: HDF5Error.self, "prefix \(length) in memory") { try HDF5File(bytes: prefix, name: "t") }
    }
  }
}
