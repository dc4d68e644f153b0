import Foundation

#if canImport(Glibc)
  import Glibc
#endif

/// The checks libhdf5 1.10 does not make before it dereferences a variable-length string.
///
/// On disk a variable-length string element is `length (u32) | collection address (offset
/// size) | object index (u32)`, the address relative to the base address (the superblock's
/// position). `H5HG_read` indexes the collection's object table with the index unchecked and
/// copies the object's size into a buffer of `length` bytes, so a wild index read a wild
/// pointer (SEGV) and a larger object overflows the buffer; a collection whose free-space or
/// object sizes do not tile it made libhdf5 read before the heap or loop (all found by
/// Fuzz/FuzzKerasFile).
///
/// The elements are found by parsing, not guessed: before a variable-length string attribute
/// is read, every attribute message with that name is located in the file (its name followed
/// by NUL, preceded by a version 1, 2 or 3 attribute-message header whose name size matches,
/// with a variable-length string datatype and a dataspace that fit in the file), and each of
/// its elements is checked against the collection it names, which is parsed then. Collections
/// no string names are never read by libhdf5 and are not checked. (An earlier byte scan took
/// any 8 bytes equal to a collection's address for a string: in every keras.applications
/// `.h5` file an object header's prefix spelled one, and valid files were refused.)
///
/// Attribute messages are stored unfiltered (in object headers, or in the fractal heap of
/// dense attribute storage), so a real message is always found; if none is, the whole-file
/// scan of ``HDF5File/checkGlobalHeaps(_:name:)`` is the fallback.
final class StringHeapValidator {
  /// The file's bytes (memory-mapped for a file on disk).
  let bytes: Data
  /// The absolute offset addresses are relative to (the superblock's position).
  let base: Int
  /// Sizes of addresses and lengths from the superblock (2, 4 or 8).
  let offsetSize: Int
  let lengthSize: Int
  let name: String
  /// Attribute names already checked.
  private var checked = Set<String>()
  /// Parsed collections by relative address: object index → object size.
  private var collections = [UInt64: [Int: UInt64]]()

  init(bytes: Data, base: Int, offsetSize: Int, lengthSize: Int, name: String) {
    self.bytes = bytes
    self.base = base
    self.offsetSize = offsetSize
    self.lengthSize = lengthSize
    self.name = name
  }

  /// Checks every element of every variable-length string attribute called `attribute`.
  ///
  /// - Throws: ``HDF5Error/corrupt(file:reason:)`` naming the attribute, the element's byte
  ///   and the heap, when an element names a damaged collection or an object that does not
  ///   exist or has another size than the element's length.
  ///
  /// - Parameter elements: the element count libhdf5 reports for the attribute being read,
  ///   used for a message whose dataspace this parser does not decode.
  func checkAttribute(_ attribute: String, elements: Int) throws(HDF5Error) {
    let key = "\(elements) \(attribute)"
    guard !checked.contains(key) else { return }
    let failure = bytes.withUnsafeBytes { raw -> HDF5Error? in
      do throws(HDF5Error) {
        let located = try checkMessages(raw, attribute: attribute, elements: elements)
        if located == 0 { try HDF5File.checkGlobalHeaps(raw, name: name) }
        return nil
      } catch {
        return error
      }
    }
    if let failure { throw failure }
    checked.insert(key)
  }

  /// Locates the attribute messages called `attribute` and checks their elements; returns
  /// how many were found.
  private func checkMessages(_ b: UnsafeRawBufferPointer, attribute: String, elements: Int) throws(HDF5Error) -> Int {
    guard let start = b.baseAddress, b.count > 0 else { return 0 }
    let needle = Array(attribute.utf8) + [0]
    let n = b.count
    var from = 0
    var located = 0
    while from < n {
      // memchr for the first byte, then compare (memmem is a GNU extension Swift does not see).
      guard let hit = memchr(start + from, Int32(needle[0]), n - from) else { break }
      let q = start.distance(to: UnsafeRawPointer(hit))
      from = q + 1
      guard q + needle.count <= n, needle.withUnsafeBytes({ memcmp(start + q, $0.baseAddress!, needle.count) }) == 0 else {
        continue
      }
      guard let (data, count, character) = message(b, nameAt: q, nameSize: needle.count, elements: elements) else {
        continue
      }
      located += 1
      // libhdf5 sizes its conversion buffer as length × the base type's size: a damaged base
      // type of megabytes made it zero gigabytes (Fuzz/FuzzKerasFile). Strings have 1-byte
      // characters.
      if let character, character != 1 {
        throw .corrupt(
          file: name, reason: "attribute '\(attribute)' at byte \(q): a variable-length string of \(character)-byte characters")
      }
      let element = 8 + offsetSize
      for k in 0..<count {
        try checkElement(b, at: data + k * element, attribute: attribute)
      }
    }
    return located
  }

  /// If the name at `q` is the name of an attribute message holding variable-length strings:
  /// the offset of its data and its element count.
  ///
  /// Header layouts (HDF5 file format, "Attribute Message"): version 1 `1, 0, nameSize(2),
  /// datatypeSize(2), dataspaceSize(2)`, then name, datatype and dataspace each padded to 8
  /// bytes; version 2 `2, flags, sizes…` unpadded; version 3 adds an encoding byte before the
  /// name. A shared (committed) datatype or dataspace (flags bits 0–1) is skipped: its class
  /// is not visible here.
  ///
  /// A dataspace this parser does not decode (libhdf5 1.10 reads some damaged ones) counts
  /// as `elements`, libhdf5's own count for the attribute being read.
  private func message(_ b: UnsafeRawBufferPointer, nameAt q: Int, nameSize: Int, elements: Int) -> (
    data: Int, count: Int, character: Int?
  )? {
    let n = b.count
    func u16(_ at: Int) -> Int { Int(b[at]) | Int(b[at + 1]) << 8 }
    func pad8(_ v: Int) -> Int { (v + 7) & ~7 }
    var layout: (datatype: Int, datatypeSize: Int, dataspace: Int, dataspaceSize: Int, data: Int)?
    if q >= 8, b[q - 8] == 1, b[q - 7] == 0, u16(q - 6) == nameSize {
      let dt = q + pad8(nameSize)
      let ds = dt + pad8(u16(q - 4))
      layout = (dt, u16(q - 4), ds, u16(q - 2), ds + pad8(u16(q - 2)))
    } else if q >= 8, b[q - 8] == 2, b[q - 7] == 0, u16(q - 6) == nameSize {
      let dt = q + nameSize
      let ds = dt + u16(q - 4)
      layout = (dt, u16(q - 4), ds, u16(q - 2), ds + u16(q - 2))
    } else if q >= 9, b[q - 9] == 3, b[q - 8] == 0, u16(q - 7) == nameSize, b[q - 1] <= 1 {
      let dt = q + nameSize
      let ds = dt + u16(q - 5)
      layout = (dt, u16(q - 5), ds, u16(q - 3), ds + u16(q - 3))
    }
    guard let l = layout, l.datatypeSize >= 8, l.dataspaceSize >= 4, l.data <= n else { return nil }
    // Datatype: class 9 (variable-length), versions 1–5, type 1 (string).
    let dt = l.datatype
    guard b[dt] & 0x0F == 9, (1...5).contains(b[dt] >> 4), b[dt + 1] & 0x0F == 1 else { return nil }
    // Dataspace: version 1 `1, rank, flags, 0, reserved(4)` or version 2 `2, rank, flags,
    // type` (0 scalar, 1 simple, 2 null); then `rank` extents of the length size.
    // The base type (the character type) follows the 8-byte header; its size is at bytes 4–7.
    let character = l.datatypeSize >= 16 ? Int(b[dt + 12]) | Int(b[dt + 13]) << 8 | Int(b[dt + 14]) << 16 | Int(b[dt + 15]) << 24 : nil
    let elementSize = 8 + offsetSize
    let fallback = elements * elementSize <= n - l.data ? (l.data, elements, character) : nil
    let ds = l.dataspace
    let rank = Int(b[ds + 1])
    guard rank <= 32 else { return fallback }
    var dims = ds + 8
    if b[ds] == 2 {
      switch b[ds + 3] {
      case 0: return (l.data, 1, character)
      case 2: return (l.data, 0, character)
      case 1: dims = ds + 4
      default: return fallback
      }
    } else if b[ds] != 1 {
      return fallback
    }
    guard dims + rank * lengthSize <= l.dataspace + l.dataspaceSize else { return fallback }
    var count = 1
    for r in 0..<rank {
      var extent: UInt64 = 0
      for i in 0..<lengthSize { extent |= UInt64(b[dims + r * lengthSize + i]) << (8 * UInt64(i)) }
      guard extent <= 1 << 24 else { return fallback }
      count *= Int(extent)
      guard count <= 1 << 24 else { return fallback }
    }
    guard count * elementSize <= n - l.data else { return fallback }
    return (l.data, count, character)
  }

  /// Checks one element at `e`: null elements (address 0) are not read by libhdf5; others
  /// must name an existing object of exactly the element's length.
  private func checkElement(_ b: UnsafeRawBufferPointer, at e: Int, attribute: String) throws(HDF5Error) {
    func uN(_ at: Int, _ width: Int) -> UInt64 {
      var v: UInt64 = 0
      for i in 0..<width { v |= UInt64(b[at + i]) << (8 * UInt64(i)) }
      return v
    }
    let length = uN(e, 4)
    let address = uN(e + 4, offsetSize)
    let index = Int(uN(e + 4 + offsetSize, 4))
    // Only address 0 is a null element to libhdf5 1.10 (H5T__vlen_disk_isnull); any other,
    // the undefined address included, is read: it first sizes a conversion buffer by
    // `length` (up to 4 GiB, zeroed: Fuzz/FuzzKerasFile ran out of memory on it).
    guard address != 0 else { return }
    let objects = try collection(b, at: address, attribute: attribute, element: e)
    let where_ = "attribute '\(attribute)': a string at byte \(e) points to global heap object \(index) at byte \(address)"
    guard let size = objects[index] else {
      throw .corrupt(file: name, reason: "\(where_) that does not exist")
    }
    guard size == length || length == 0 else {
      throw .corrupt(file: name, reason: "\(where_) of \(size) bytes, not \(length)")
    }
  }

  /// The collection at relative `address`, parsed and checked once: signature `GCOL`, version
  /// 1, size inside the file, objects (16-byte headers, 8-byte aligned data) and free space
  /// tiling it.
  private func collection(_ b: UnsafeRawBufferPointer, at address: UInt64, attribute: String, element: Int)
    throws(HDF5Error) -> [Int: UInt64]
  {
    if let known = collections[address] { return known }
    let count = b.count
    guard address <= UInt64(count - base), Int(address) + base + 16 <= count else {
      throw .corrupt(
        file: name,
        reason: "attribute '\(attribute)': a string at byte \(element) points to byte \(address), past the end of the file")
    }
    let i = base + Int(address)
    guard b[i] == 0x47, b[i + 1] == 0x43, b[i + 2] == 0x4F, b[i + 3] == 0x4C, b[i + 4] == 1 else {
      throw .corrupt(
        file: name,
        reason: "attribute '\(attribute)': a string at byte \(element) points to byte \(address), where there is no global heap")
    }
    let objects = try HDF5File.parseCollection(b, at: i, name: name)
    collections[address] = objects
    return objects
  }
}
