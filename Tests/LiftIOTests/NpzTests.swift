import Foundation
import LiftIO
import LiftTensor
import Testing

@Suite(".npz archives")
struct NpzTests {
  @Test("np.savez and np.savez_compressed archives", arguments: ["archive_stored", "archive_deflated", "archive_zip64"])
  func readsNumPyArchives(name: String) throws {
    let arrays = try NumPy.readArchive(fixture(name, "npz"))
    #expect(arrays.map(\.name) == ["a", "b", "c"])
    expectIdentical(arrays[0].tensor, Tensor(shape: [2, 3], scalars: (0..<6).map { Float($0) * 1.5 }))
    expectIdentical(arrays[1].tensor, Tensor(shape: [4], scalars: [-2, -1, 0, 1]))
    expectIdentical(arrays[2].tensor, Tensor(scalar: 2.5))
    let files = try NumPy.readArchiveFiles(fixture(name, "npz"))
    #expect(files[1].file.dtype == NpyDType(kind: .signedInteger, itemSize: 8, isBigEndian: false))
    #expect(files[0].file.name.hasSuffix("\(name).npz:a.npy"))
  }

  @Test func emptyArchive() throws {
    #expect(try NumPy.readArchive(fixture("archive_empty", "npz")).isEmpty)
  }

  @Test func invalidArchives() throws {
    let text = try fixture("archive_text_member", "npz")
    #expect(
      npyError { _ = try NumPy.readArchive(text) }
        == .invalidMember(file: text.path, member: "readme.txt", reason: "is not a NAME.npy array"))
    let bad = try fixture("archive_bad_member", "npz")
    #expect(
      npyError { _ = try NumPy.readArchive(bad) }
        == .truncatedHeader(file: bad.path + ":x.npy", declaredEnd: 10 + 0x6167, fileSize: 15))  // length field "ga"
    let complex = try fixture("archive_complex_member", "npz")
    #expect(
      npyError { _ = try NumPy.readArchive(complex) }
        == .unsupportedDType(file: complex.path + ":z.npy", descr: "<c8", reason: "complex"))
    let npy = try fixture("dtype_f4_le")
    #expect(npyError { _ = try NumPy.readArchive(npy) } == .notNpz(file: npy.path, reason: "not a zip archive"))
    let missing = URL(fileURLWithPath: "missing.npz")
    guard case .cannotOpen(let file, _)? = npyError({ _ = try NumPy.readArchive(missing) }) else {
      Issue.record("missing archive opened")
      return
    }
    #expect(file == "missing.npz")
  }

  @Test func truncatedArchive() throws {
    let dir = try makeTemporaryDirectory()
    defer { cleanup(dir) }
    let data = try Data(contentsOf: fixture("archive_deflated", "npz"))
    for cut in [10, data.count / 2, data.count - 10] {
      let url = dir.appendingPathComponent("cut\(cut).npz")
      try data.prefix(cut).write(to: url)
      #expect(npyError { _ = try NumPy.readArchive(url) } != nil, "cut at \(cut)")
    }
    var corrupt = data
    corrupt[60] ^= 0xFF  // inside the first deflated member
    let url = dir.appendingPathComponent("corrupt.npz")
    try corrupt.write(to: url)
    #expect(npyError { _ = try NumPy.readArchive(url) } != nil)
  }

  @Test func corruptSecondMemberIsAnError() throws {
    let dir = try makeTemporaryDirectory()
    defer { cleanup(dir) }
    var data = try Data(contentsOf: fixture("archive_stored", "npz"))
    let signature = Data([0x50, 0x4B, 0x03, 0x04])
    let second = try #require(data.range(of: signature, in: 4..<data.count)).lowerBound
    data[second] = 0x58  // break the second member's local header signature
    let url = dir.appendingPathComponent("c.npz")
    try data.write(to: url)
    let error = npyError { _ = try NumPy.readArchive(url) }
    #expect(error != nil)
  }

  @Test func roundTrip() throws {
    let dir = try makeTemporaryDirectory()
    defer { cleanup(dir) }
    let url = dir.appendingPathComponent("out.npz")
    let arrays: [(name: String, tensor: Tensor)] = [
      ("input_2", Tensor(shape: [3, 5, 4], scalars: (0..<60).map { Float($0) / 3 })),
      ("a", Tensor(scalar: -1)),
      ("empty", Tensor(shape: [0, 2], scalars: [])),
    ]
    try NumPy.writeArchive(arrays, to: url)
    #expect(try listing(dir) == ["out.npz"])
    #expect(try NumPy.fileKind(at: url) == .zip)
    let back = try NumPy.readArchive(url)
    #expect(back.map(\.name) == arrays.map(\.name))
    for (b, a) in zip(back, arrays) { expectIdentical(b.tensor, a.tensor, a.name) }
    // Replacing an existing archive.
    try NumPy.writeArchive([("x", Tensor(scalar: 3))], to: url)
    #expect(try NumPy.readArchive(url).map(\.name) == ["x"])
    #expect(try listing(dir) == ["out.npz"])
    #expect(
      npyError { try NumPy.writeArchive([("", Tensor(scalar: 3))], to: url) }
        == .invalidArrayName(file: url.path, name: "", reason: "empty"))
  }
}
