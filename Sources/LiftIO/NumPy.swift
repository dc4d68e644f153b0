import Foundation
import LiftTensor

/// Reading and writing NumPy `.npy` arrays and `.npz` archives as `Float` tensors.
///
/// Reading accepts `.npy` format versions 1.0, 2.0 and 3.0, either byte order, C or Fortran
/// order and the dtypes listed in ``NpyDType`` (all converted to `Float`). Writing produces
/// what `np.save` produces for a C-order little-endian `float32` array, byte for byte.
/// Every write is atomic (see ``AtomicFileWriter``). All errors are ``NumpyIOError`` values
/// whose description is one line naming the file.
public enum NumPy {
  /// What a file's first bytes say it is.
  public enum FileKind: Sendable, Equatable {
    /// Starts with the `.npy` magic `\x93NUMPY`.
    case npy
    /// Starts with a zip local-file or end-of-central-directory signature (`PK…`).
    case zip
    /// Anything else (including an empty file).
    case other
  }

  /// Sniffs the first bytes of `url`.
  ///
  /// - Throws: ``NumpyIOError/cannotOpen(file:reason:)`` if it cannot be opened.
  public static func fileKind(at url: URL) throws(NumpyIOError) -> FileKind {
    let name = displayName(url)
    let source = try FileByteSource(path: url.path, file: name)
    let head = try source.bytes(count: min(6, source.size), at: 0, file: name)
    if head == NpyHeader.magic { return .npy }
    if head.count >= 4, head[0] == 0x50, head[1] == 0x4B, [3, 5, 7].contains(head[2]), head[3] == head[2] + 1 {
      return .zip
    }
    return .other
  }

  // MARK: - .npy

  /// Reads a whole `.npy` file as a row-major `Float` tensor.
  ///
  /// - Throws: ``NumpyIOError`` (see ``NpyFile/init(url:)`` and ``NpyFile/readAll()``).
  public static func read(_ url: URL) throws(NumpyIOError) -> Tensor {
    try NpyFile(url: url).readAll()
  }

  /// Decodes a `.npy` image held in memory; `name` is used in error messages.
  public static func read(data: Data, name: String) throws(NumpyIOError) -> Tensor {
    try NpyFile(data: data, name: name).readAll()
  }

  /// The complete `.npy` image of `tensor`: float32, little-endian, C order, with the header
  /// `np.save` writes (version 1.0 unless the header needs 2.0; data at a multiple of 64 bytes).
  public static func encode(_ tensor: Tensor) -> Data {
    var data = Data(NpyHeader.encode(shape: tensor.shape))
    tensor.withUnsafeBufferPointer { appendLittleEndian($0, to: &data) }
    return data
  }

  /// Writes `tensor` to `url` as a float32 `.npy` file, atomically.
  ///
  /// - Throws: ``NumpyIOError/writeFailed(file:reason:)``; the destination is then untouched.
  public static func write(_ tensor: Tensor, to url: URL) throws(NumpyIOError) {
    let writer = try AtomicFileWriter(destination: url)
    try writer.write(NpyHeader.encode(shape: tensor.shape))
    try writeScalars(tensor, to: writer)
    try writer.commit()
  }

  /// Appends a tensor's scalars as little-endian float32 bytes.
  static func writeScalars(_ tensor: Tensor, to writer: AtomicFileWriter) throws(NumpyIOError) {
    var failure: NumpyIOError?
    tensor.withUnsafeBufferPointer { buffer in
      do throws(NumpyIOError) {
        if !hostIsBigEndian {
          try writer.write(UnsafeRawBufferPointer(buffer))
        } else {
          var data = Data()
          appendLittleEndian(buffer, to: &data)
          try writer.write(data)
        }
      } catch {
        failure = error
      }
    }
    if let failure { throw failure }
  }

  // MARK: - .npz

  /// Reads every array of an `.npz` archive (stored or deflated members), in archive order.
  ///
  /// Member `NAME.npy` gives the array named `NAME` (as `np.load(...)[NAME]`). Directory
  /// entries are skipped.
  ///
  /// - Throws: ``NumpyIOError/notNpz(file:reason:)`` if the file is not a zip archive,
  ///   ``NumpyIOError/invalidMember(file:member:reason:)`` for a member not named `*.npy`, a
  ///   duplicate name or a member that cannot be extracted, and any `.npy` error of a member
  ///   (its file then reads `archive.npz:member.npy`).
  public static func readArchive(_ url: URL) throws(NumpyIOError) -> [(name: String, tensor: Tensor)] {
    var result: [(name: String, tensor: Tensor)] = []
    for (arrayName, file) in try readArchiveFiles(url) {
      result.append((arrayName, try file.readAll()))
    }
    return result
  }

  /// Opens every member of an `.npz` archive as an ``NpyFile`` (header parsed, data not yet
  /// converted), in archive order. Members are extracted into memory.
  public static func readArchiveFiles(_ url: URL) throws(NumpyIOError) -> [(name: String, file: NpyFile)] {
    let name = displayName(url)
    // Open once ourselves first: gives the usual "cannot open" errors (missing, directory).
    let source = try FileByteSource(path: url.path, file: name)
    guard source.size > 0 else { throw .notNpz(file: name, reason: "empty file") }
    return try readMembers(of: source, name: name)
  }

  /// Reads every array of an `.npz` image held in memory, as ``readArchive(_:)`` does for a
  /// file; `name` is used in error messages. (Also the entry point of the `.npz` fuzzer.)
  ///
  /// - Throws: ``NumpyIOError`` as ``readArchive(_:)``.
  public static func readArchive(data: Data, name: String) throws(NumpyIOError) -> [(name: String, tensor: Tensor)] {
    guard !data.isEmpty else { throw .notNpz(file: name, reason: "empty file") }
    var result: [(name: String, tensor: Tensor)] = []
    for (arrayName, file) in try readMembers(of: DataByteSource(data), name: name) {
      result.append((arrayName, try file.readAll()))
    }
    return result
  }

  /// The `NAME.npy` members of the archive whose bytes `source` holds, through ``ZipReader``
  /// (bounded: a damaged archive is an error, never a hang).
  private static func readMembers(of source: any ByteSource, name: String)
    throws(NumpyIOError) -> [(name: String, file: NpyFile)]
  {
    func npyError(_ error: ZipReadError) -> NumpyIOError {
      switch error {
      case .io(let e): return e
      case .notZip, .corrupt: return .notNpz(file: name, reason: error.description)
      case .member(let path, let reason): return .invalidMember(file: name, member: path, reason: reason)
      }
    }
    let archive: ZipReader
    do { archive = try ZipReader(source: source, name: name) } catch { throw npyError(error) }
    var result: [(name: String, file: NpyFile)] = []
    var seen = Set<String>()
    for member in archive.members {
      let path = member.path
      switch member.kind {
      case .directory: continue
      case .symbolicLink: throw .invalidMember(file: name, member: path, reason: "is a symbolic link")
      case .file: break
      }
      guard path.hasSuffix(".npy"), path.count > 4 else {
        throw .invalidMember(file: name, member: path, reason: "is not a NAME.npy array")
      }
      let arrayName = String(path.dropLast(4))
      guard seen.insert(arrayName).inserted else {
        throw .invalidMember(file: name, member: path, reason: "appears twice")
      }
      let data: Data
      do { data = try archive.extract(member) } catch { throw npyError(error) }
      result.append((arrayName, try NpyFile(data: data, name: "\(name):\(path)")))
    }
    return result
  }

  /// Writes arrays to an `.npz` archive (stored members `NAME.npy`, float32), atomically.
  ///
  /// `np.load` reads the result; names keep their order. Names are made safe member names
  /// first (``memberNames(_:file:)``: `conv1/preact` is stored as `conv1_preact`).
  ///
  /// - Throws: ``NumpyIOError/invalidArrayName(file:name:reason:)`` for an empty or repeated
  ///   name, ``NumpyIOError/writeFailed(file:reason:)`` on I/O errors (nothing is left behind).
  public static func writeArchive(_ arrays: [(name: String, tensor: Tensor)], to url: URL) throws(NumpyIOError) {
    let name = displayName(url)
    var seen = Set<String>()
    for (arrayName, _) in arrays {
      guard !arrayName.isEmpty else { throw .invalidArrayName(file: name, name: arrayName, reason: "empty") }
      guard !arrayName.contains("\0") else {
        throw .invalidArrayName(file: name, name: arrayName, reason: "contains NUL")
      }
      guard seen.insert(arrayName).inserted else {
        throw .invalidArrayName(file: name, name: arrayName, reason: "used twice")
      }
      // Zip stores a member name's length in 16 bits (the name gets ".npy" appended).
      guard arrayName.utf8.count <= 65_531 else {
        throw .invalidArrayName(file: name, name: String(arrayName.prefix(40)) + "…", reason: "longer than 65,531 bytes")
      }
    }
    let writer = try AtomicFileWriter(destination: url)
    do throws(NumpyIOError) {
      var zip = ZipWriter(writer)
      for (arrayName, tensor) in Swift.zip(try memberNames(arrays.map(\.name), file: name), arrays.map(\.tensor)) {
        let header = NpyHeader.encode(shape: tensor.shape)
        // The CRC-32 first (one read of the data), then the bytes: written once, in order.
        var crc = header.withUnsafeBytes { crc32(0, $0) }
        forEachLittleEndianChunk(tensor) { crc = crc32(crc, $0) }
        var failure: NumpyIOError?
        try zip.addStored(
          path: arrayName + ".npy", size: UInt64(header.count + tensor.scalarCount * 4), crc: crc
        ) { (w: AtomicFileWriter) throws(NumpyIOError) in
          try w.write(header)
          forEachLittleEndianChunk(tensor) { chunk in
            guard failure == nil else { return }
            do throws(NumpyIOError) { try w.write(chunk) } catch { failure = error }
          }
          if let failure { throw failure }
        }
      }
      try zip.finish()
      try writer.commit()
    } catch {
      writer.abort()
      throw error
    }
  }

  /// The `.npz` member names (without `.npy`) under which arrays called `names` are stored:
  /// each `/`, `\`, NUL and other control character (U+0000–U+001F, U+007F) becomes `_`, and
  /// leading dots are removed (a name left empty becomes `_`). Model layer and tensor names
  /// (`conv1/preact`, ONNX `input.1`, or a crafted `../../x` or `/etc/x`) thus never make a
  /// member that an unzip tool would place outside its directory or hide.
  ///
  /// - Throws: ``NumpyIOError/invalidArrayName(file:name:reason:)`` when two names become the
  ///   same member (`a/b` and `a_b`).
  public static func memberNames(_ names: [String], file: String) throws(NumpyIOError) -> [String] {
    var result: [String] = []
    var owner: [String: String] = [:]
    for original in names {
      var scalars = String.UnicodeScalarView()
      for u in original.unicodeScalars {
        let unsafe = u == "/" || u == "\\" || u.value < 0x20 || u.value == 0x7F
        scalars.append(unsafe ? "_" : u)
      }
      var member = String(scalars)
      while member.hasPrefix(".") { member.removeFirst() }
      if member.isEmpty { member = "_" }
      if let other = owner[member], other != original {
        throw .invalidArrayName(
          file: file, name: original, reason: "would be stored as member '\(member).npy' like '\(other)'")
      }
      owner[member] = original
      result.append(member)
    }
    return result
  }

  /// Calls `body` with the tensor's scalars as little-endian float32 bytes, in order, in
  /// chunks of at most 4 MiB (no copy on a little-endian host).
  private static func forEachLittleEndianChunk(_ tensor: Tensor, _ body: (UnsafeRawBufferPointer) -> Void) {
    let chunk = 1 << 20
    tensor.withUnsafeBufferPointer { buffer in
      var start = 0
      while start < buffer.count {
        let part = UnsafeBufferPointer(rebasing: buffer[start..<min(buffer.count, start + chunk)])
        if !hostIsBigEndian {
          body(UnsafeRawBufferPointer(part))
        } else {
          var data = Data()
          appendLittleEndian(part, to: &data)
          data.withUnsafeBytes { body($0) }
        }
        start += chunk
      }
    }
  }
}

/// Appends `values` as little-endian float32 bytes.
func appendLittleEndian(_ values: UnsafeBufferPointer<Float>, to data: inout Data) {
  if !hostIsBigEndian {
    data.append(UnsafeBufferPointer(start: UnsafeRawPointer(values.baseAddress)?.assumingMemoryBound(to: UInt8.self),
                                    count: values.count * 4))
  } else {
    data.reserveCapacity(data.count + values.count * 4)
    for v in values {
      withUnsafeBytes(of: v.bitPattern.littleEndian) { data.append(contentsOf: $0) }
    }
  }
}
