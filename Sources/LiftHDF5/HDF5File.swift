import CHDF5
import Foundation

/// A read-only HDF5 file, opened from disk or from bytes in memory.
///
/// The wrapper checks the HDF5 signature before libhdf5 sees the bytes (libhdf5 should never
/// be handed arbitrary garbage), silences libhdf5's error printing, and turns every failure
/// into an ``HDF5Error``. Handles are closed when the Swift objects are released; a group or
/// dataset keeps its file open. Truncated files fail cleanly (libhdf5 checks the end of file
/// against the superblock); corrupted metadata inside a file of the right length is trusted by
/// libhdf5 1.10 and can crash it.
///
/// ```swift
/// let file = try HDF5File(url: URL(fileURLWithPath: "model.h5"))
/// let config = try file.root.stringAttribute("model_config")
/// let kernel = try file.root.dataset("model_weights/dense/dense/kernel:0")
/// let values = try kernel.readFloats()        // row-major, `kernel.shape` extents
/// ```
public final class HDF5File {
  /// The name used in error messages: the file's last path component, or the name given
  /// for an in-memory image.
  public let name: String
  let handle: FileHandleBox

  /// The root group `/`.
  public let root: HDF5Group

  /// Opens the file at `url` read-only.
  ///
  /// - Throws: ``HDF5Error/unreadable(file:reason:)`` when the file cannot be read,
  ///   ``HDF5Error/notHDF5(file:)`` when it lacks the HDF5 signature,
  ///   ``HDF5Error/openFailed(file:)`` when libhdf5 rejects it (e.g. truncated).
  public convenience init(url: URL) throws(HDF5Error) {
    let name = url.lastPathComponent
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
      throw .unreadable(file: name, reason: "no such file")
    }
    guard !isDirectory.boolValue else { throw .unreadable(file: name, reason: "is a directory") }
    guard FileManager.default.isReadableFile(atPath: url.path) else {
      throw .unreadable(file: name, reason: "permission denied")
    }
    guard HDF5File.hasSignature(at: url) else { throw .notHDF5(file: name) }
    try HDF5File.checkSuperblock(at: url, name: name)
    guard let mapped = try? Data(contentsOf: url, options: .alwaysMapped) else {
      throw .unreadable(file: name, reason: "cannot read")
    }
    let strings = try HDF5File.stringValidator(mapped, name: name)
    silenceHDF5Errors()
    let id = url.withUnsafeFileSystemRepresentation { path -> hid_t in
      guard let path else { return -1 }
      return H5Fopen(path, lift_h5f_acc_rdonly(), lift_h5p_default())
    }
    guard id >= 0 else { throw .openFailed(file: name) }
    try self.init(handle: FileHandleBox(id: id, name: name, strings: strings))
  }

  /// Opens an HDF5 image held in memory (for example a member of a zip archive) read-only.
  /// libhdf5 copies the bytes into memory it owns; `bytes` may be released afterwards.
  ///
  /// - Parameter name: the name used in error messages.
  /// - Throws: ``HDF5Error/notHDF5(file:)`` without the signature, ``HDF5Error/openFailed(file:)``
  ///   when libhdf5 rejects the image.
  public convenience init(bytes: some Collection<UInt8>, name: String) throws(HDF5Error) {
    let data = (bytes as? Data) ?? Data(bytes)
    let strings = try HDF5File.stringValidator(data, name: name)
    let opened = data.withUnsafeBytes { HDF5File.openImage($0.bindMemory(to: UInt8.self), name: name) }
    try self.init(handle: FileHandleBox(id: try opened.get(), name: name, strings: strings))
  }

  /// Checks the superblock of `bytes` (the whole file) and prepares the checks of
  /// variable-length strings (``StringHeapValidator``).
  private static func stringValidator(_ bytes: Data, name: String) throws(HDF5Error) -> StringHeapValidator {
    let found = bytes.withUnsafeBytes { raw -> Result<StringHeapValidator, HDF5Error> in
      let buffer = raw.bindMemory(to: UInt8.self)
      guard let offset = signatureOffset(in: buffer) else { return .failure(.notHDF5(file: name)) }
      do throws(HDF5Error) {
        let sizes = try checkSuperblock(
          Array(buffer[offset..<min(buffer.count, offset + 64)]), fileSize: buffer.count, name: name)
        return .success(
          StringHeapValidator(bytes: bytes, base: offset, offsetSize: sizes.offsets, lengthSize: sizes.lengths, name: name))
      } catch {
        return .failure(error)
      }
    }
    return try found.get()
  }

  private static func openImage(_ buffer: UnsafeBufferPointer<UInt8>, name: String) -> Result<
    hid_t, HDF5Error
  > {
    guard let base = buffer.baseAddress else { return .failure(.notHDF5(file: name)) }
    silenceHDF5Errors()
    // Flags 0: read-only, and libhdf5 copies the image (it only reads from `base`). The
    // no-copy flags would save that copy but leak libhdf5's callback data in HDF5 1.10.
    let id = H5LTopen_file_image(UnsafeMutableRawPointer(mutating: base), buffer.count, 0)
    return id >= 0 ? .success(id) : .failure(.openFailed(file: name))
  }

  private init(handle: FileHandleBox) throws(HDF5Error) {
    self.handle = handle
    self.name = handle.name
    let rootID = H5Gopen2(handle.id, "/", lift_h5p_default())
    guard rootID >= 0 else { throw .openFailed(file: handle.name) }
    self.root = HDF5Group(id: rootID, file: handle, path: "/")
  }

  /// The 8-byte HDF5 format signature `\x89HDF\r\n\x1a\n`.
  public static let signature: [UInt8] = [0x89, 0x48, 0x44, 0x46, 0x0D, 0x0A, 0x1A, 0x0A]

  /// The offset of the HDF5 superblock signature in `bytes`: 0, or a power of two ≥ 512 when
  /// the file has a user block; `nil` if there is none.
  public static func signatureOffset<Bytes: RandomAccessCollection>(in bytes: Bytes) -> Int?
  where Bytes.Element == UInt8, Bytes.Index == Int {
    var offset = 0
    while offset + signature.count <= bytes.count {
      let start = bytes.startIndex + offset
      if bytes[start..<(start + signature.count)].elementsEqual(signature) { return offset }
      offset = offset == 0 ? 512 : offset * 2
    }
    return nil
  }

  /// Checks the superblock before libhdf5 sees the file: a known version (0–3), sizes of
  /// offsets and lengths of 2, 4 or 8 bytes, and an end-of-file address equal to the file's
  /// size (absolute, or relative to the base address). Writers record the size they wrote, so
  /// a mismatch means a truncated file or bytes cut out or inserted. libhdf5 1.10 itself only
  /// refuses a file shorter than its end-of-file address; a longer one with shifted contents
  /// can make it loop for minutes in its global-heap code (found by Fuzz/FuzzKerasFile), so it
  /// is refused here.
  ///
  /// - Parameter superblock: the bytes from the signature on (at least 64 when the file has them).
  /// - Returns: the sizes of addresses and lengths (2, 4 or 8 bytes).
  /// - Throws: ``HDF5Error/corrupt(file:reason:)``.
  @discardableResult
  static func checkSuperblock(_ superblock: [UInt8], fileSize: Int, name: String) throws(HDF5Error) -> (
    offsets: Int, lengths: Int
  ) {
    func field(_ at: Int, _ width: Int) -> UInt64? {
      guard at >= 0, at + width <= superblock.count else { return nil }
      var value: UInt64 = 0
      for i in 0..<width { value |= UInt64(superblock[at + i]) << (8 * UInt64(i)) }
      return value
    }
    guard superblock.count > 9 else { throw .corrupt(file: name, reason: "truncated superblock") }
    let version = superblock[8]
    let offsets: Int
    let lengths: Int
    let addresses: Int
    switch version {
    case 0, 1:
      offsets = superblock.count > 13 ? Int(superblock[13]) : 0
      lengths = superblock.count > 14 ? Int(superblock[14]) : 0
      addresses = version == 0 ? 24 : 28
    case 2, 3:
      offsets = Int(superblock[9])
      lengths = superblock.count > 10 ? Int(superblock[10]) : 0
      addresses = 12
    default:
      throw .corrupt(file: name, reason: "unknown superblock version \(version)")
    }
    guard [2, 4, 8].contains(offsets) else {
      throw .corrupt(file: name, reason: "superblock declares \(offsets)-byte addresses")
    }
    guard [2, 4, 8].contains(lengths) else {
      throw .corrupt(file: name, reason: "superblock declares \(lengths)-byte lengths")
    }
    guard let base = field(addresses, offsets), let end = field(addresses + 2 * offsets, offsets) else {
      throw .corrupt(file: name, reason: "truncated superblock")
    }
    let size = UInt64(fileSize)
    guard end == size || (base <= size && end == size - base) else {
      throw .corrupt(
        file: name,
        reason: end > size
          ? "truncated: the superblock records \(end) bytes, the file has \(size)"
          : "the superblock records \(end) bytes but the file has \(size) (bytes added or shifted)")
    }
    return (offsets, lengths)
  }

  /// Checks every global heap collection (signature `GCOL`, version 1) in `bytes`
  /// (``parseCollection(_:at:name:)``), then every byte pattern that may be a
  /// variable-length string naming one (``checkHeapReferences(_:collections:name:)``).
  ///
  /// A guess, not a parse: the raw data of a dataset can spell `GCOL`, and any 8 bytes equal
  /// to a collection's address look like a reference, so valid files can be refused. Only the
  /// fallback of ``StringHeapValidator`` when it cannot locate an attribute's message.
  ///
  /// - Complexity: one pass over the bytes.
  static func checkGlobalHeaps(_ bytes: UnsafeRawBufferPointer, name: String) throws(HDF5Error) {
    let count = bytes.count
    guard count >= 16 else { return }
    // Collections found: address → (size, object sizes by index).
    var collections: [(address: UInt64, size: Int, objects: [Int: UInt64])] = []
    var i = 0
    while i + 16 <= count {
      // G C O L, version 1.
      guard bytes[i] == 0x47, bytes[i + 1] == 0x43, bytes[i + 2] == 0x4F, bytes[i + 3] == 0x4C, bytes[i + 4] == 1 else {
        i += 1
        continue
      }
      let objects = try parseCollection(bytes, at: i, name: name)
      var size: UInt64 = 0
      for k in 0..<8 { size |= UInt64(bytes[i + 8 + k]) << (8 * UInt64(k)) }
      collections.append((UInt64(i), Int(size), objects))
      i += 4
    }
    try checkHeapReferences(bytes, collections: collections, name: name)
  }

  /// Parses the global heap collection whose signature `GCOL` (version 1) is at byte `i`:
  /// its size must lie inside the file and its objects (16-byte headers `index (u16),
  /// reference count (u16), reserved (4), size (u64)`, data padded to 8 bytes) and its free
  /// space (index 0) must tile it. libhdf5 1.10 trusts these sizes when it reads
  /// variable-length strings (tf.keras' `model_config`, `weight_names`): a damaged object
  /// size made `H5HG_read` memcpy past the end of its buffer and crash, and a damaged
  /// free-space size made it read far before the heap or loop (Fuzz/FuzzKerasFile).
  ///
  /// - Returns: object index → object size.
  static func parseCollection(_ bytes: UnsafeRawBufferPointer, at i: Int, name: String) throws(HDF5Error)
    -> [Int: UInt64]
  {
    let count = bytes.count
    func u64(_ at: Int) -> UInt64 {
      var v: UInt64 = 0
      for k in 0..<8 { v |= UInt64(bytes[at + k]) << (8 * UInt64(k)) }
      return v
    }
    let size = u64(i + 8)
    guard size >= 16, size <= UInt64(count - i) else {
      throw .corrupt(file: name, reason: "global heap at byte \(i) declares \(size) bytes past the end of the file")
    }
    let end = i + Int(size)
    var objects: [Int: UInt64] = [:]
    var p = i + 16
    while p + 16 <= end {
      let index = Int(bytes[p]) | Int(bytes[p + 1]) << 8
      let objectSize = u64(p + 8)
      if index == 0 {
        // Free space. libhdf5 steps over it by its size field alone (header included, not
        // aligned) and goes on parsing: a size past the collection made its pointer wrap
        // and read 4 GiB before the heap (SEGV, Fuzz/FuzzKerasFile), a size below one
        // header would make it loop. Writers give it exactly the rest of the collection.
        guard objectSize >= 16, objectSize <= UInt64(end - p) else {
          throw .corrupt(file: name, reason: "global heap at byte \(i): free space declares \(objectSize) bytes, \(end - p) remain")
        }
        p += Int(objectSize)
        continue
      }
      let padded = (objectSize &+ 7) & ~7
      guard objectSize <= UInt64(end - p - 16), padded <= UInt64(end - p - 16) else {
        throw .corrupt(file: name, reason: "global heap at byte \(i): object \(index) declares \(objectSize) bytes past the collection")
      }
      objects[index] = objectSize
      p += 16 + Int(padded)
    }
    return objects
  }

  /// Checks the variable-length string elements that point into the global heaps. On disk an
  /// element is `length (u32) | collection address (u64) | object index (u32)`; libhdf5's
  /// `H5HG_read` indexes its object table with the index unchecked and copies the object's
  /// size into a buffer of `length` bytes, so an index that names no object read a wild
  /// pointer (SEGV, Fuzz/FuzzKerasFile) and a size above the length would overflow the buffer.
  /// Elements are recognised outside the collections by the collection address (only heap
  /// IDs hold it) with a length between 1 and the collection's size; each must name an object
  /// of exactly that size.
  static func checkHeapReferences(
    _ bytes: UnsafeRawBufferPointer, collections: [(address: UInt64, size: Int, objects: [Int: UInt64])], name: String
  ) throws(HDF5Error) {
    guard !collections.isEmpty, bytes.count >= 16 else { return }
    let addresses = collections.map(\.address)
    let low = addresses.min()!, high = addresses.max()!
    // Collections in file order (they do not overlap): `next` is the first one not yet passed.
    let ordered = collections.sorted { $0.address < $1.address }
    var next = 0
    var p = 4
    while p + 12 <= bytes.count {
      // Not inside a collection: the strings' own bytes can spell anything.
      while next < ordered.count && Int(ordered[next].address) + ordered[next].size <= p - 4 { next += 1 }
      if next < ordered.count && p - 4 >= Int(ordered[next].address) {
        p = Int(ordered[next].address) + ordered[next].size + 4
        continue
      }
      let address = bytes.loadUnaligned(fromByteOffset: p, as: UInt64.self).littleEndian
      if address >= low, address <= high, let c = collections.first(where: { $0.address == address }) {
        let length = UInt64(bytes.loadUnaligned(fromByteOffset: p - 4, as: UInt32.self).littleEndian)
        let index = Int(bytes.loadUnaligned(fromByteOffset: p + 8, as: UInt32.self).littleEndian)
        if length > 0, length <= UInt64(c.size), c.objects[index] != length {
          throw .corrupt(
            file: name,
            reason: "a string at byte \(p - 4) points to global heap object \(index) at byte \(address) "
              + (c.objects[index].map { "of \($0) bytes, not \(length)" } ?? "that does not exist"))
        }
      }
      p += 1
    }
  }

  /// ``checkSuperblock(_:fileSize:name:)`` on a file: finds the signature, reads 64 bytes.
  static func checkSuperblock(at url: URL, name: String) throws(HDF5Error) {
    guard let fh = try? FileHandle(forReadingFrom: url) else { throw .unreadable(file: name, reason: "cannot open") }
    defer { try? fh.close() }
    guard let size = try? fh.seekToEnd() else { throw .unreadable(file: name, reason: "cannot seek") }
    var offset: UInt64 = 0
    while offset + UInt64(signature.count) <= size {
      guard (try? fh.seek(toOffset: offset)) != nil, let head = try? fh.read(upToCount: 64) else {
        throw .unreadable(file: name, reason: "read failed")
      }
      if [UInt8](head.prefix(signature.count)) == signature {
        try checkSuperblock([UInt8](head), fileSize: Int(size), name: name)
        return
      }
      offset = offset == 0 ? 512 : offset * 2
    }
    throw .notHDF5(file: name)
  }

  /// Whether the file at `url` carries the HDF5 signature (read without libhdf5).
  public static func hasSignature(at url: URL) -> Bool {
    guard let fh = try? FileHandle(forReadingFrom: url) else { return false }
    defer { try? fh.close() }
    guard let size = try? fh.seekToEnd() else { return false }
    var offset: UInt64 = 0
    while offset + UInt64(signature.count) <= size {
      do {
        try fh.seek(toOffset: offset)
        if let head = try fh.read(upToCount: signature.count), [UInt8](head) == signature {
          return true
        }
      } catch {
        return false
      }
      offset = offset == 0 ? 512 : offset * 2
    }
    return false
  }
}

/// Owns the libhdf5 file identifier; closed when the last group, dataset or file referring
/// to it is released.
final class FileHandleBox {
  let id: hid_t
  let name: String
  /// Checks variable-length strings before libhdf5 reads them.
  let strings: StringHeapValidator
  /// Bytes of the datasets read so far (``HDF5Dataset/readFloats(maximumElements:)``).
  var declaredBytes = 0

  init(id: hid_t, name: String, strings: StringHeapValidator) {
    self.id = id
    self.name = name
    self.strings = strings
  }

  deinit { H5Fclose(id) }
}

/// Turns off libhdf5's automatic error-stack printing for the calling thread. In the
/// thread-safe build the setting is per thread, so every entry point calls this.
@inline(__always)
func silenceHDF5Errors() { lift_h5_silence_errors() }
