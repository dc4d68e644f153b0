import Foundation
import LiftIO
import LiftTensor
import Testing

/// ``ZipReader`` on archives written by NumPy (Scripts/fixtures/make_npy_fixtures.py) and on
/// copies damaged byte by byte. The expected member lists and bytes come from the fixtures'
/// generator (np.savez: members a.npy, b.npy, c.npy); every damaged case must throw.
@Suite("zip reader")
struct ZipReaderTests {
  /// The archive's bytes with the first central directory record's 32-bit field at `field`
  /// (20 = compressed size, 24 = uncompressed size, 16 = CRC-32) set to `value`.
  func patchedDirectory(_ data: Data, field: Int, value: UInt32) throws -> Data {
    var bytes = [UInt8](data)
    let record = try #require(data.range(of: Data([0x50, 0x4B, 0x01, 0x02]))).lowerBound
    for k in 0..<4 { bytes[record + field + k] = UInt8(truncatingIfNeeded: value >> (8 * UInt32(k))) }
    return Data(bytes)
  }

  /// The ``ZipReadError`` reason `body` throws (nil if it returns; another error is recorded).
  func reason(_ body: () throws -> Void) -> String? {
    do { try body() } catch let error as ZipReadError { return error.description } catch {
      Issue.record("unexpected error \(error)")
      return "\(error)"
    }
    return nil
  }

  @Test("NumPy archives: members, kinds and sizes", arguments: ["archive_stored", "archive_deflated", "archive_zip64"])
  func readsNumPyArchives(name: String) throws {
    let url = try fixture(name, "npz")
    let reader = try ZipReader(path: url.path, name: name)
    #expect(reader.members.map(\.path) == ["a.npy", "b.npy", "c.npy"])
    #expect(reader.members.allSatisfy { $0.kind == .file })
    for member in reader.members {
      let bytes = try reader.extract(member)
      #expect(UInt64(bytes.count) == member.uncompressedSize)
      // Every member is an .npy image: the magic string first.
      #expect(bytes.prefix(6) == Data([0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]))
    }
    // The same bytes in memory read the same.
    let inMemory = try ZipReader(data: Data(contentsOf: url), name: name)
    #expect(inMemory.members == reader.members)
    #expect(try inMemory.extract(inMemory.members[1]) == reader.extract(reader.members[1]))
  }

  @Test func notAZipArchive() throws {
    #expect(reason { _ = try ZipReader(data: Data("hello".utf8), name: "x") } == "not a zip archive")
    let npy = try fixture("dtype_f4_le")
    #expect(reason { _ = try ZipReader(path: npy.path, name: "x") } == "not a zip archive")
  }

  /// The hang Fuzz/FuzzNpz found: a deflated member whose stream does not end before the end
  /// of the file. Cutting a member's compressed size to 5 bytes gives the same situation.
  @Test func deflateStreamThatDoesNotEndIsAnError() throws {
    let data = try Data(contentsOf: fixture("archive_deflated", "npz"))
    let cut = try patchedDirectory(data, field: 20, value: 5)
    let reader = try ZipReader(data: cut, name: "cut.npz")
    let message = try #require(reason { _ = try reader.extract(reader.members[0]) })
    #expect(message == "member 'a.npy' has a deflate stream that does not end within its 5 bytes")
  }

  @Test func sizesPastTheEndOrImpossibleAreErrors() throws {
    let stored = try Data(contentsOf: fixture("archive_stored", "npz"))
    let huge = try patchedDirectory(try patchedDirectory(stored, field: 20, value: 0xFFFF_FFF0), field: 24, value: 0xFFFF_FFF0)
    let reader = try ZipReader(data: huge, name: "huge.npz")
    let message = try #require(reason { _ = try reader.extract(reader.members[0]) })
    #expect(message.contains("declared past the end"), "\(message)")
    // Deflated: an uncompressed size deflate cannot reach from the compressed bytes.
    let deflated = try Data(contentsOf: fixture("archive_deflated", "npz"))
    let bomb = try patchedDirectory(deflated, field: 24, value: 0x7FFF_FFFF)
    let r2 = try ZipReader(data: bomb, name: "bomb.npz")
    #expect(reason { _ = try r2.extract(r2.members[0]) }?.contains("impossible") == true)
    // Declared one byte short of what the stream inflates to.
    let r3 = try ZipReader(data: deflated, name: "ok.npz")
    let short = try patchedDirectory(deflated, field: 24, value: UInt32(r3.members[0].uncompressedSize - 1))
    let r4 = try ZipReader(data: short, name: "short.npz")
    #expect(reason { _ = try r4.extract(r4.members[0]) }?.contains("inflates to more") == true)
    // A limit below the declared size.
    #expect(reason { _ = try r3.extract(r3.members[0], limit: 10) }?.contains("more than the 10 allowed") == true)
  }

  @Test func crcMismatchIsAnError() throws {
    for name in ["archive_stored", "archive_deflated"] {
      let data = try Data(contentsOf: fixture(name, "npz"))
      let reader = try ZipReader(data: data, name: name)
      let bad = try patchedDirectory(data, field: 16, value: reader.members[0].crc32 ^ 1)
      let r = try ZipReader(data: bad, name: name)
      #expect(reason { _ = try r.extract(r.members[0]) } == "member 'a.npy' fails its CRC-32 check")
    }
  }

  @Test func damagedDirectoryIsAnError() throws {
    let data = try Data(contentsOf: fixture("archive_stored", "npz"))
    var bytes = [UInt8](data)
    let record = try #require(data.range(of: Data([0x50, 0x4B, 0x01, 0x02]))).lowerBound
    bytes[record] = 0x58
    #expect(reason { _ = try ZipReader(data: Data(bytes), name: "d.npz") }?.hasPrefix("corrupt archive") == true)
    // Every truncation of a valid archive throws (or reads fewer members cleanly), never traps.
    for cut in stride(from: 0, to: data.count, by: 7) {
      do {
        let r = try ZipReader(data: data.prefix(cut), name: "cut.npz")
        for m in r.members { _ = try? r.extract(m) }
      } catch {}
    }
  }

  /// The 576-byte input on which FuzzNpz ran for over 30 s (ZIPFoundation's inflate loop).
  @Test func fuzzerTimeoutInputReturnsAtOnce() throws {
    let url = try fixture("fuzz_npz_timeout", "npz")
    #expect(throws: NumpyIOError.self) { try NumPy.readArchive(url) }
    #expect(throws: NumpyIOError.self) { try NumPy.readArchive(data: Data(contentsOf: url), name: "t.npz") }
  }
}

/// ``NumPy/writeArchive(_:to:)`` writes zip64 records for every member (checked here byte by
/// byte against APPNOTE's layout); `np.load` and `zipfile.testzip()` read such archives (checked
/// by hand with NumPy 2.4 when the writer was added).
@Suite("zip writer")
struct ZipWriterTests {
  @Test func layoutAndRoundTrip() throws {
    let dir = try makeTemporaryDirectory()
    defer { cleanup(dir) }
    let url = dir.appendingPathComponent("w.npz")
    let a = Tensor(shape: [3, 2], scalars: [1, -2, 3.5, 0, -0, 7])
    let b = Tensor(shape: [0, 4], scalars: [])
    try NumPy.writeArchive([("a", a), ("größe", b)], to: url)
    let data = try Data(contentsOf: url)
    let bytes = [UInt8](data)
    func u32(_ i: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(bytes[i + $1]) << (8 * UInt32($1)) } }
    #expect(u32(0) == 0x0403_4B50)
    // Local header: stored, sizes in the zip64 extra (32-bit fields all ones).
    #expect(bytes[8] == 0 && bytes[9] == 0)
    #expect(u32(18) == 0xFFFF_FFFF && u32(22) == 0xFFFF_FFFF)
    // The archive ends with the zip64 end record, its locator and the classic end record.
    let n = bytes.count
    #expect(u32(n - 22) == 0x0605_4B50)
    #expect(u32(n - 42) == 0x0706_4B50)
    #expect(u32(n - 98) == 0x0606_4B50)
    let reader = try ZipReader(data: data, name: "w.npz")
    #expect(reader.members.map(\.path) == ["a.npy", "größe.npy"])
    #expect(reader.members.allSatisfy { $0.method == 0 && $0.kind == .file })
    // The member bytes are exactly NumPy.encode's .npy image (CRC-32 checked by extract).
    #expect(try reader.extract(reader.members[0]) == NumPy.encode(a))
    #expect(try reader.extract(reader.members[1]) == NumPy.encode(b))
    let back = try NumPy.readArchive(url)
    #expect(back.map(\.name) == ["a", "größe"])
    // A name zip cannot store (16-bit length) is an error, not a trap; the old file stays.
    let long = String(repeating: "n", count: 70_000)
    #expect(throws: NumpyIOError.self) { try NumPy.writeArchive([(long, a)], to: url) }
    #expect(try Data(contentsOf: url) == data)
    expectIdentical(back[0].tensor, a)
    expectIdentical(back[1].tensor, b)
  }
}
