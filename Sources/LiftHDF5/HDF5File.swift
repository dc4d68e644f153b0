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
    silenceHDF5Errors()
    let id = url.withUnsafeFileSystemRepresentation { path -> hid_t in
      guard let path else { return -1 }
      return H5Fopen(path, lift_h5f_acc_rdonly(), lift_h5p_default())
    }
    guard id >= 0 else { throw .openFailed(file: name) }
    try self.init(handle: FileHandleBox(id: id, name: name))
  }

  /// Opens an HDF5 image held in memory (for example a member of a zip archive) read-only.
  /// libhdf5 copies the bytes into memory it owns; `bytes` may be released afterwards.
  ///
  /// - Parameter name: the name used in error messages.
  /// - Throws: ``HDF5Error/notHDF5(file:)`` without the signature, ``HDF5Error/openFailed(file:)``
  ///   when libhdf5 rejects the image.
  public convenience init(bytes: some Collection<UInt8>, name: String) throws(HDF5Error) {
    let opened =
      bytes.withContiguousStorageIfAvailable { HDF5File.openImage($0, name: name) }
      ?? Array(bytes).withUnsafeBufferPointer { HDF5File.openImage($0, name: name) }
    try self.init(handle: FileHandleBox(id: try opened.get(), name: name))
  }

  private static func openImage(_ buffer: UnsafeBufferPointer<UInt8>, name: String) -> Result<
    hid_t, HDF5Error
  > {
    guard signatureOffset(in: buffer) != nil, let base = buffer.baseAddress else {
      return .failure(.notHDF5(file: name))
    }
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

  init(id: hid_t, name: String) {
    self.id = id
    self.name = name
  }

  deinit { H5Fclose(id) }
}

/// Turns off libhdf5's automatic error-stack printing for the calling thread. In the
/// thread-safe build the setting is per thread, so every entry point calls this.
@inline(__always)
func silenceHDF5Errors() { lift_h5_silence_errors() }
