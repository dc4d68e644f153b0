import CInflate
import Foundation

/// Writes a zip archive of stored (uncompressed) members through an ``AtomicFileWriter``.
///
/// Every member carries zip64 sizes and offsets and the archive ends with a zip64 end record
/// and locator before the classic end record, so one layout serves archives of any size (and
/// small test archives exercise the same code as 10 GB ones). NumPy's `np.savez` also writes
/// zip64 local headers; Python's `zipfile` (hence `np.load`) and ``ZipReader`` read this.
///
/// Layout per member: local header `PK\3\4` (30 bytes + name + 20-byte zip64 extra with the
/// uncompressed and compressed sizes; the 32-bit size fields hold `0xFFFFFFFF`), then the
/// bytes. Then the central directory (`PK\1\2`, 46 bytes + name + 28-byte zip64 extra: sizes
/// and the local header offset), the zip64 end record `PK\6\6` (56 bytes), its locator
/// `PK\6\7` (20 bytes) and the end record `PK\5\6` (22 bytes; counts and offsets saturated).
struct ZipWriter {
  private let writer: AtomicFileWriter
  private var offset: UInt64 = 0
  private var members: [(name: [UInt8], crc: UInt32, size: UInt64, offset: UInt64)] = []

  init(_ writer: AtomicFileWriter) { self.writer = writer }

  /// Appends a member of `size` bytes whose CRC-32 is `crc`; `body` must write exactly the
  /// bytes (the caller computed both beforehand: the output is written once, front to back).
  mutating func addStored(
    path: String, size: UInt64, crc: UInt32, body: (AtomicFileWriter) throws(NumpyIOError) -> Void
  ) throws(NumpyIOError) {
    let name = Array(path.utf8)
    var header = [UInt8]()
    header.le32(0x0403_4B50)
    header.le16(45)  // version needed: 4.5 (zip64)
    header.le16(name.allSatisfy { $0 < 0x80 } ? 0 : 0x0800)  // bit 11: UTF-8 name
    header.le16(0)  // stored
    header.le16(0)  // time 00:00
    header.le16(0x21)  // date 1980-01-01
    header.le32(crc)
    header.le32(0xFFFF_FFFF)
    header.le32(0xFFFF_FFFF)
    header.le16(UInt16(name.count))
    header.le16(20)
    header += name
    header.le16(1)  // zip64 extended information
    header.le16(16)
    header.le64(size)
    header.le64(size)
    try writer.write(header)
    try body(writer)
    members.append((name, crc, size, offset))
    offset += UInt64(header.count) + size
  }

  /// Writes the central directory and the end records. The writer is not committed.
  func finish() throws(NumpyIOError) {
    var directory = [UInt8]()
    for m in members {
      directory.le32(0x0201_4B50)
      directory.le16(0x032D)  // made by: Unix, 4.5
      directory.le16(45)
      directory.le16(m.name.allSatisfy { $0 < 0x80 } ? 0 : 0x0800)
      directory.le16(0)
      directory.le16(0)
      directory.le16(0x21)
      directory.le32(m.crc)
      directory.le32(0xFFFF_FFFF)
      directory.le32(0xFFFF_FFFF)
      directory.le16(UInt16(m.name.count))
      directory.le16(28)
      directory.le16(0)  // comment
      directory.le16(0)  // disk
      directory.le16(0)  // internal attributes
      directory.le32(0o100644 << 16)  // regular file, rw-r--r--
      directory.le32(0xFFFF_FFFF)
      directory += m.name
      directory.le16(1)
      directory.le16(24)
      directory.le64(m.size)
      directory.le64(m.size)
      directory.le64(m.offset)
    }
    let directoryOffset = offset, directorySize = UInt64(directory.count)
    let count = UInt64(members.count)
    var end = [UInt8]()
    end.le32(0x0606_4B50)
    end.le64(44)  // size of the rest of this record
    end.le16(0x032D)
    end.le16(45)
    end.le32(0)
    end.le32(0)
    end.le64(count)
    end.le64(count)
    end.le64(directorySize)
    end.le64(directoryOffset)
    end.le32(0x0706_4B50)
    end.le32(0)
    end.le64(directoryOffset + directorySize)  // where the zip64 end record starts
    end.le32(1)
    end.le32(0x0605_4B50)
    end.le16(0)
    end.le16(0)
    end.le16(UInt16(min(count, 0xFFFF)))
    end.le16(UInt16(min(count, 0xFFFF)))
    end.le32(UInt32(min(directorySize, 0xFFFF_FFFF)))
    end.le32(UInt32(min(directoryOffset, 0xFFFF_FFFF)))
    end.le16(0)
    try writer.write(directory + end)
  }
}

/// zlib's running CRC-32: `crc32(crc32(0, a), b) == crc32(0, a + b)`.
func crc32(_ crc: UInt32, _ bytes: UnsafeRawBufferPointer) -> UInt32 {
  var c = UInt(crc)
  var offset = 0
  while offset < bytes.count {
    let n = min(1 << 30, bytes.count - offset)
    c = CInflate.crc32(c, bytes.baseAddress!.assumingMemoryBound(to: UInt8.self) + offset, UInt32(n))
    offset += n
  }
  return UInt32(c)
}

extension [UInt8] {
  fileprivate mutating func le16(_ v: UInt16) { append(UInt8(v & 0xFF)); append(UInt8(v >> 8)) }
  fileprivate mutating func le16(_ v: Int) { le16(UInt16(v)) }
  fileprivate mutating func le32(_ v: UInt32) { for k in 0..<4 { append(UInt8((v >> (8 * UInt32(k))) & 0xFF)) } }
  fileprivate mutating func le32(_ v: Int) { le32(UInt32(v)) }
  fileprivate mutating func le64(_ v: UInt64) { for k in 0..<8 { append(UInt8((v >> (8 * UInt64(k))) & 0xFF)) } }
}
