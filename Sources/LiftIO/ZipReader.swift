import CInflate
import Foundation

/// One member of a zip archive, as its central directory record declares it.
public struct ZipMember: Sendable, Equatable {
  /// What a member is, from its name and its Unix or MS-DOS attributes.
  public enum Kind: Sendable, Equatable { case file, directory, symbolicLink }

  /// The member's path inside the archive (UTF-8; other bytes are replaced).
  public let path: String
  public let kind: Kind
  /// 0 = stored, 8 = deflated; other methods are refused by ``ZipReader/extract(_:limit:)``.
  public let method: UInt16
  public let crc32: UInt32
  public let compressedSize: UInt64
  public let uncompressedSize: UInt64
  let localHeaderOffset: UInt64
  let isEncrypted: Bool
}

/// Why an archive or one of its members cannot be read. ``description`` is the reason only;
/// callers prefix the file name in their own error type.
public enum ZipReadError: Error, Sendable, Equatable, CustomStringConvertible {
  /// No end-of-central-directory record: not a zip archive at all.
  case notZip
  /// The directory structure is damaged (the reason says where).
  case corrupt(String)
  /// One member cannot be extracted (the reason says why).
  case member(path: String, reason: String)
  /// Reading the underlying file failed.
  case io(NumpyIOError)

  public var description: String {
    switch self {
    case .notZip: return "not a zip archive"
    case .corrupt(let reason): return "corrupt archive: \(reason)"
    case .member(let path, let reason): return "member '\(path)' \(reason)"
    case .io(let error): return error.description
    }
  }
}

/// A read-only zip archive reader over a file or bytes in memory: the central directory
/// (with zip64), stored and deflated members, CRC-32 checked.
///
/// Written for files that may be damaged or hostile (issue 9): every offset and size is
/// checked against the archive's length before it is used, so a bad archive is a thrown
/// ``ZipReadError``, never a trap and never a hang. (ZIPFoundation's reader, used before,
/// spins for ever on a deflated member whose stream does not end before the end of the file:
/// its Linux inflate loop keeps asking for input at EOF; found by Fuzz/FuzzNpz. It also sets
/// `avail_in` to the buffer size for a short last chunk. This reader calls zlib directly with
/// the member's bytes and an output buffer of the declared size.)
///
/// Layouts (APPNOTE 6.3): end record `PK\5\6` (22 bytes + comment, searched in the last
/// 64 KiB + 22 bytes), zip64 locator `PK\6\7` just before it, zip64 end record `PK\6\6`,
/// central directory records `PK\1\2` (46 bytes + name + extra + comment), local headers
/// `PK\3\4` (30 bytes + name + extra) followed by the member's data.
public final class ZipReader: Sendable {
  /// The members in central directory order.
  public let members: [ZipMember]
  private let source: any ByteSource
  private let name: String

  /// Opens the archive at `path`; `name` is used in I/O errors.
  ///
  /// - Throws: ``ZipReadError/io(_:)`` (missing, unreadable, a directory),
  ///   ``ZipReadError/notZip`` or ``ZipReadError/corrupt(_:)``.
  public convenience init(path: String, name: String) throws(ZipReadError) {
    let source: FileByteSource
    do { source = try FileByteSource(path: path, file: name) } catch { throw .io(error) }
    try self.init(source: source, name: name)
  }

  /// Reads an archive held in memory.
  public convenience init(data: Data, name: String) throws(ZipReadError) {
    try self.init(source: DataByteSource(data), name: name)
  }

  init(source: any ByteSource, name: String) throws(ZipReadError) {
    self.source = source
    self.name = name
    members = try Self.readDirectory(source, name: name)
  }

  /// The first member called `path`, if any.
  public subscript(path: String) -> ZipMember? { members.first { $0.path == path } }

  /// The member's bytes, checked against its declared size and CRC-32.
  ///
  /// - Parameter limit: refuse members that declare (or inflate to) more bytes than this.
  /// - Throws: ``ZipReadError/member(path:reason:)`` for a directory or link, encryption, an
  ///   unknown method, data past the end of the archive, a damaged or truncated deflate
  ///   stream, a size or CRC-32 mismatch; ``ZipReadError/io(_:)`` on read errors.
  public func extract(_ member: ZipMember, limit: UInt64 = UInt64(Int.max)) throws(ZipReadError) -> Data {
    func fail(_ reason: String) -> ZipReadError { .member(path: member.path, reason: reason) }
    guard member.kind == .file else {
      throw fail(member.kind == .directory ? "is a directory" : "is a symbolic link")
    }
    guard !member.isEncrypted else { throw fail("is encrypted") }
    guard member.method == 0 || member.method == 8 else {
      throw fail("uses compression method \(member.method) (only stored and deflated are read)")
    }
    guard member.uncompressedSize <= limit else {
      throw fail("declares \(member.uncompressedSize) bytes, more than the \(limit) allowed")
    }
    let size = UInt64(source.size)
    guard member.localHeaderOffset <= size, size - member.localHeaderOffset >= 30 else {
      throw fail("has its local header past the end of the archive")
    }
    let headerOffset = Int(member.localHeaderOffset)
    let header: [UInt8]
    do { header = try source.bytes(count: 30, at: headerOffset, file: name) } catch { throw .io(error) }
    guard header[0..<4] == [0x50, 0x4B, 0x03, 0x04] else { throw fail("has a damaged local header") }
    let dataOffset = UInt64(headerOffset) + 30 + UInt64(u16(header, 26)) + UInt64(u16(header, 28))
    let stored = member.method == 0 ? member.uncompressedSize : member.compressedSize
    guard dataOffset <= size, stored <= size - dataOffset else {
      throw fail("has \(stored) data bytes declared past the end of the \(size)-byte archive")
    }
    let start = Int(dataOffset), count = Int(stored)
    var data: Data
    if member.method == 0 {
      do { data = Data(try source.bytes(count: count, at: start, file: name)) } catch { throw .io(error) }
    } else {
      data = try inflate(member, from: start, count: count, limit: min(limit, member.uncompressedSize))
    }
    guard UInt64(data.count) == member.uncompressedSize else {
      throw fail("holds \(data.count) bytes, its directory record says \(member.uncompressedSize)")
    }
    guard data.withUnsafeBytes({ crc32(0, $0) }) == member.crc32 else { throw fail("fails its CRC-32 check") }
    return data
  }

  /// Inflates the `count` raw-deflate bytes at `start` into at most `limit` bytes.
  private func inflate(_ member: ZipMember, from start: Int, count: Int, limit: UInt64) throws(ZipReadError) -> Data {
    // Deflate expands at most 1032:1; a larger declared size is damage, and bounding the
    // output buffer by it keeps a 1 KiB file from reserving gigabytes.
    guard member.uncompressedSize <= UInt64(count) * 1032 + 64 else {
      throw .member(
        path: member.path, reason: "declares \(member.uncompressedSize) bytes from \(count) deflated bytes (impossible)")
    }
    var input: [UInt8]
    do { input = try source.bytes(count: count, at: start, file: name) } catch { throw .io(error) }
    // One byte of room beyond the declared size tells "inflates to more" from "exactly right".
    let capacity = Int(limit) + 1
    var output = Data(count: capacity)
    var stream = z_stream()
    guard inflateInit2_(&stream, -MAX_WBITS, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
      throw .member(path: member.path, reason: "cannot be inflated (zlib initialisation failed)")
    }
    defer { inflateEnd(&stream) }
    var status: Int32 = Z_OK
    var produced = 0
    input.withUnsafeMutableBufferPointer { inBuffer in
      output.withUnsafeMutableBytes { outBuffer in
        // zlib's counts are 32-bit: feed and drain in slices of at most 1 GiB.
        let slice = 1 << 30
        var consumed = 0
        repeat {
          let inChunk = min(slice, inBuffer.count - consumed)
          let outChunk = min(slice, capacity - produced)
          stream.next_in = inBuffer.baseAddress.map { $0 + consumed }
          stream.avail_in = UInt32(inChunk)
          stream.next_out = outBuffer.baseAddress.map { $0.assumingMemoryBound(to: UInt8.self) + produced }
          stream.avail_out = UInt32(outChunk)
          status = CInflate.inflate(&stream, Z_NO_FLUSH)
          consumed += inChunk - Int(stream.avail_in)
          produced += outChunk - Int(stream.avail_out)
          // Z_BUF_ERROR: no progress possible (input used up or output full).
        } while status == Z_OK && produced < capacity && (consumed < inBuffer.count || stream.avail_out == 0)
      }
    }
    if status == Z_STREAM_END {
      guard UInt64(produced) <= limit else {
        throw .member(path: member.path, reason: "inflates to more than the \(limit) bytes it declares")
      }
      output.count = produced
      return output
    }
    if produced >= capacity {
      throw .member(path: member.path, reason: "inflates to more than the \(limit) bytes it declares")
    }
    if status == Z_OK || status == Z_BUF_ERROR {
      throw .member(path: member.path, reason: "has a deflate stream that does not end within its \(count) bytes")
    }
    throw .member(path: member.path, reason: "has a damaged deflate stream")
  }

  // MARK: - Central directory

  private static func readDirectory(_ source: any ByteSource, name: String) throws(ZipReadError) -> [ZipMember] {
    func read(_ count: Int, at offset: Int) throws(ZipReadError) -> [UInt8] {
      do { return try source.bytes(count: count, at: offset, file: name) } catch { throw .io(error) }
    }
    let size = source.size
    let tailLength = min(size, 22 + 65535)
    let tailStart = size - tailLength
    let tail = try read(tailLength, at: tailStart)
    var e = tail.count - 22
    while e >= 0 && !(tail[e] == 0x50 && tail[e + 1] == 0x4B && tail[e + 2] == 0x05 && tail[e + 3] == 0x06) { e -= 1 }
    guard e >= 0 else { throw .notZip }
    var count = UInt64(u16(tail, e + 10))
    var directorySize = UInt64(u32(tail, e + 12))
    var directoryStart = UInt64(u32(tail, e + 16))
    // Zip64: the locator sits just before the end record and points at the zip64 end record.
    let locatorOffset = tailStart + e - 20
    if locatorOffset >= 0 {
      let locator = try read(20, at: locatorOffset)
      if locator[0..<4] == [0x50, 0x4B, 0x06, 0x07] {
        let recordOffset = u64(locator, 8)
        guard recordOffset <= UInt64(size), UInt64(size) - recordOffset >= 56 else {
          throw .corrupt("zip64 end record at byte \(recordOffset) is past the end")
        }
        let record = try read(56, at: Int(recordOffset))
        guard record[0..<4] == [0x50, 0x4B, 0x06, 0x06] else {
          throw .corrupt("damaged zip64 end record")
        }
        count = u64(record, 32)
        directorySize = u64(record, 40)
        directoryStart = u64(record, 48)
      }
    }
    guard directoryStart <= UInt64(size), directorySize <= UInt64(size) - directoryStart else {
      throw .corrupt("central directory (\(directorySize) bytes at \(directoryStart)) past the end")
    }
    // Each record takes at least 46 bytes: a count the directory cannot hold is damage.
    guard count <= directorySize / 46 else {
      throw .corrupt("\(count) entries declared in a \(directorySize)-byte directory")
    }
    let directory = try read(Int(directorySize), at: Int(directoryStart))
    var members: [ZipMember] = []
    members.reserveCapacity(Int(count))
    var p = 0
    for k in 0..<Int(count) {
      guard p + 46 <= directory.count, directory[p..<(p + 4)] == [0x50, 0x4B, 0x01, 0x02] else {
        throw .corrupt("\(count) entries declared, record \(k + 1) is damaged")
      }
      let nameLength = u16(directory, p + 28), extraLength = u16(directory, p + 30)
      let commentLength = u16(directory, p + 32)
      let end = p + 46 + nameLength + extraLength + commentLength
      guard end <= directory.count else {
        throw .corrupt("\(count) entries declared, record \(k + 1) is damaged")
      }
      let path = String(decoding: directory[(p + 46)..<(p + 46 + nameLength)], as: UTF8.self)
      var uncompressed = UInt64(u32(directory, p + 24))
      var compressed = UInt64(u32(directory, p + 20))
      var offset = UInt64(u32(directory, p + 42))
      // Zip64 extended information (id 1): 64-bit values for the 32-bit fields set to all ones,
      // in this order.
      var x = p + 46 + nameLength
      let extraEnd = x + extraLength
      while x + 4 <= extraEnd {
        let id = u16(directory, x), length = u16(directory, x + 2)
        let body = x + 4, bodyEnd = min(extraEnd, body + length)
        if id == 0x0001 {
          var w = body
          func next() -> UInt64? {
            guard w + 8 <= bodyEnd else { return nil }
            defer { w += 8 }
            return u64(directory, w)
          }
          if uncompressed == 0xFFFF_FFFF, let v = next() { uncompressed = v }
          if compressed == 0xFFFF_FFFF, let v = next() { compressed = v }
          if offset == 0xFFFF_FFFF, let v = next() { offset = v }
        }
        x = body + length
      }
      let flags = u16(directory, p + 8)
      let host = u16(directory, p + 4) >> 8
      let external = u32(directory, p + 38)
      var kind = ZipMember.Kind.file
      if host == 3 {  // Unix: st_mode in the high 16 bits.
        switch (external >> 16) & 0xF000 {
        case 0xA000: kind = .symbolicLink
        case 0x4000: kind = .directory
        default: break
        }
      } else if external & 0x10 != 0 {  // MS-DOS directory attribute.
        kind = .directory
      }
      if path.hasSuffix("/") && kind == .file { kind = .directory }
      members.append(
        ZipMember(
          path: path, kind: kind, method: UInt16(u16(directory, p + 10)), crc32: UInt32(u32(directory, p + 16)),
          compressedSize: compressed, uncompressedSize: uncompressed, localHeaderOffset: offset,
          isEncrypted: flags & 1 != 0))
      p = end
    }
    return members
  }
}

private func u16(_ b: [UInt8], _ i: Int) -> Int { Int(b[i]) | Int(b[i + 1]) << 8 }
private func u32(_ b: [UInt8], _ i: Int) -> Int { u16(b, i) | u16(b, i + 2) << 16 }
private func u64(_ b: [UInt8], _ i: Int) -> UInt64 {
  (0..<8).reduce(UInt64(0)) { $0 | UInt64(b[i + $1]) << (8 * UInt64($1)) }
}
