import Foundation

#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

/// Writes a file so that it appears complete or not at all.
///
/// The bytes go to a new temporary file in the destination's directory (a hidden name
/// `.NAME.tmp-PID-RANDOM`, created exclusively); ``commit()`` flushes it to disk and renames
/// it over the destination in one step (POSIX `rename`). Until then the destination is
/// untouched: a failed or abandoned write (``abort()``, an error, or the writer being
/// deallocated without a commit) removes the temporary file and leaves any existing file as
/// it was. Because the temporary file is in the same directory, a missing or unwritable
/// directory fails at ``init(destination:)``, before any work is done.
///
/// ```swift
/// try AtomicFileWriter.write(to: url) { out in
///   try out.write(header)
///   try out.write(body)
/// }
/// ```
///
/// Not thread-safe: use one writer from one thread at a time.
public final class AtomicFileWriter {
  /// The file that ``commit()`` creates or replaces.
  public let destination: URL
  /// The destination as it is named in error messages.
  public let name: String
  /// The temporary file being written.
  let temporaryPath: String
  private var descriptor: Int32
  private var finished = false

  /// Creates the temporary file next to `destination`.
  ///
  /// - Throws: ``NumpyIOError/writeFailed(file:reason:)`` if the directory does not exist or
  ///   is not writable.
  public init(destination: URL) throws(NumpyIOError) {
    self.destination = destination
    self.name = displayName(destination)
    let (path, fd) = try AtomicFileWriter.createTemporary(for: destination, name: name, open: true)
    self.temporaryPath = path
    self.descriptor = fd
  }

  deinit { abort() }

  /// Picks an unused temporary path next to `destination`, creating it with `O_EXCL` when
  /// `open` is true (the descriptor is returned; otherwise it is -1 and nothing is created).
  static func createTemporary(for destination: URL, name: String, open shouldOpen: Bool) throws(NumpyIOError)
    -> (String, Int32)
  {
    let directory = destination.deletingLastPathComponent().path
    let base = destination.lastPathComponent
    guard !base.isEmpty, base != "/" else { throw .writeFailed(file: name, reason: "not a file path") }
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) else {
      throw .writeFailed(file: name, reason: "directory \(directory) does not exist")
    }
    guard isDirectory.boolValue else { throw .writeFailed(file: name, reason: "\(directory) is not a directory") }
    for _ in 0..<100 {
      let suffix = String(UInt64.random(in: 0...UInt64.max), radix: 36)
      let path = (directory as NSString).appendingPathComponent(".\(base).tmp-\(getpid())-\(suffix)")
      if !shouldOpen {
        if access(path, F_OK) != 0 && errno == ENOENT { return (path, -1) }
        continue
      }
      let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o666)
      if fd >= 0 { return (path, fd) }
      if errno == EEXIST || errno == EINTR { continue }
      throw .writeFailed(file: name, reason: errnoText())
    }
    throw .writeFailed(file: name, reason: "cannot create a temporary file in \(directory)")
  }

  /// Appends raw bytes.
  ///
  /// - Throws: ``NumpyIOError/writeFailed(file:reason:)`` on an I/O error (the write is then
  ///   abandoned) or after ``commit()`` / ``abort()``.
  public func write(_ bytes: UnsafeRawBufferPointer) throws(NumpyIOError) {
    guard !finished else { throw .writeFailed(file: name, reason: "write after the file was closed") }
    guard var address = bytes.baseAddress else { return }
    var left = bytes.count
    while left > 0 {
      let n = Glibc_write(descriptor, address, left)
      if n < 0 {
        if errno == EINTR { continue }
        let reason = errnoText()
        abort()
        throw .writeFailed(file: name, reason: reason)
      }
      left -= n
      address += n
    }
  }

  /// Appends bytes.
  public func write(_ bytes: [UInt8]) throws(NumpyIOError) {
    var failure: NumpyIOError?
    bytes.withUnsafeBytes { raw in
      do throws(NumpyIOError) { try write(raw) } catch { failure = error }
    }
    if let failure { throw failure }
  }

  /// Appends bytes.
  public func write(_ data: Data) throws(NumpyIOError) {
    var failure: NumpyIOError?
    data.withUnsafeBytes { raw in
      do throws(NumpyIOError) { try write(raw) } catch { failure = error }
    }
    if let failure { throw failure }
  }

  /// Flushes the data to disk, closes the file and renames it over ``destination``.
  ///
  /// On failure the temporary file is removed and the destination is unchanged.
  ///
  /// - Throws: ``NumpyIOError/writeFailed(file:reason:)``, also after an earlier
  ///   ``commit()`` / ``abort()`` (including one caused by a failed write).
  public func commit() throws(NumpyIOError) {
    guard !finished else { throw .writeFailed(file: name, reason: "the write was abandoned or already committed") }
    if fsync(descriptor) != 0 && errno != EINVAL && errno != EROFS {
      let reason = errnoText()
      abort()
      throw .writeFailed(file: name, reason: reason)
    }
    if close(descriptor) != 0 {
      let reason = errnoText()
      descriptor = -1
      abort()
      throw .writeFailed(file: name, reason: reason)
    }
    descriptor = -1
    finished = true
    try AtomicFileWriter.moveTemporary(temporaryPath, to: destination, name: name)
  }

  /// Renames a finished temporary file over `destination`, removing it on failure.
  static func moveTemporary(_ path: String, to destination: URL, name: String) throws(NumpyIOError) {
    if rename(path, destination.path) != 0 {
      let reason = errnoText()
      unlink(path)
      throw .writeFailed(file: name, reason: reason)
    }
  }

  /// Abandons the write: closes and removes the temporary file. Safe to call more than once;
  /// does nothing after a successful ``commit()``.
  public func abort() {
    guard !finished else { return }
    finished = true
    if descriptor >= 0 { close(descriptor) }
    descriptor = -1
    unlink(temporaryPath)
  }

  /// Writes a file atomically with `body`, committing if `body` returns and aborting if it
  /// throws (the error is rethrown).
  public static func write(to url: URL, _ body: (AtomicFileWriter) throws -> Void) throws {
    let writer = try AtomicFileWriter(destination: url)
    do {
      try body(writer)
    } catch {
      writer.abort()
      throw error
    }
    try writer.commit()
  }
}

/// Replaces (or creates) `url` with `data` atomically: either the whole new contents are in
/// place or the old file (if any) is untouched and no temporary file remains.
///
/// - Throws: ``NumpyIOError/writeFailed(file:reason:)``.
public func writeAtomically(to url: URL, data: Data) throws(NumpyIOError) {
  let writer = try AtomicFileWriter(destination: url)
  try writer.write(data)
  try writer.commit()
}

// `write` is shadowed by the method names above.
@inline(__always)
private func Glibc_write(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int {
  write(fd, buffer, count)
}
