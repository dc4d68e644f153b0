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
/// The bytes go to a new temporary file in the destination's directory (a short hidden name
/// `.dl-PID-RANDOM.tmp`, created exclusively, so any legal destination name works);
/// ``commit()`` flushes it to disk and renames it over the destination in one step (POSIX
/// `rename`). Until then the destination is untouched: a failed or abandoned write
/// (``abort()``, an error, or the writer being deallocated without a commit) removes the
/// temporary file and leaves any existing file as it was. Because the temporary file is in the
/// same directory, a missing or unwritable directory fails at ``init(destination:)``, before
/// any work is done. Temporary files are also removed on SIGINT, SIGTERM and SIGHUP once a
/// program has called ``OutputTransaction/removeTemporaryFilesOnSignals()``.
///
/// Destinations that are not regular files are never replaced:
///
/// - a character device (`/dev/null`, a terminal) or a named pipe is opened for writing
///   without `O_CREAT` / `O_TRUNC` and written directly, as the bytes come (a pipe with no
///   reader is an error, not a hang: it is opened with `O_NONBLOCK`); such a write cannot be
///   taken back by ``abort()``;
/// - `/dev/stdout`, `/dev/stderr`, `/dev/fd/N` and `/proc/self/fd/N` write to that open
///   descriptor (a duplicate of it), whatever it is: a shell redirection `> f` or `>> f`
///   keeps its meaning;
/// - a directory, a path ending in `/`, a block device and a socket are refused.
///
/// With an ``OutputTransaction``, ``commit()`` only finishes the file; the transaction renames
/// all of its files together.
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
  /// The temporary file being written; `nil` for a device or pipe written directly.
  let temporaryPath: String?
  /// The temporary file, for writers that fill it by path (libhdf5) rather than through
  /// ``write(_:)-(UnsafeRawBufferPointer)``; `nil` for a device or pipe. Call ``commit()`` once
  /// they closed it.
  public var temporaryFilePath: String? { temporaryPath }
  /// The signal-cleanup slot of the temporary file (``TemporaryFiles``).
  private var slot: Int?
  private var descriptor: Int32
  /// Whether an ``OutputTransaction`` renames the file (else ``commit()`` does).
  private let inTransaction: Bool

  enum State { case writing, written, done }
  /// `written`: the temporary file is complete and closed, waiting for its rename.
  private(set) var state = State.writing

  /// Creates the temporary file next to `destination` (or opens a device or pipe).
  ///
  /// - Throws: ``NumpyIOError/writeFailed(file:reason:)`` if the directory does not exist or
  ///   is not writable, or the destination is a directory, a block device, a socket or a pipe
  ///   with no reader.
  public convenience init(destination: URL) throws(NumpyIOError) {
    try self.init(destination: destination, transaction: nil)
  }

  /// Creates the temporary file next to `destination` as part of `transaction` (committed
  /// and renamed with its other files), after checking that `destination` is none of the
  /// files the transaction protects and no other file of it.
  ///
  /// - Throws: ``NumpyIOError/sameFile(output:file:other:)`` for such a clash, else as
  ///   ``init(destination:)``.
  public init(destination: URL, transaction: OutputTransaction?) throws(NumpyIOError) {
    self.destination = destination
    self.name = displayName(destination)
    self.inTransaction = transaction != nil
    try transaction?.admit(destination, name: name)
    switch try OutputTarget.classify(destination, name: name) {
    case .direct(let how):
      temporaryPath = nil
      descriptor = try OutputTarget.openDirect(destination.path, how: how, name: name)
    case .replace(let directory):
      let (path, fd, slot) = try AtomicFileWriter.createTemporary(in: directory, name: name)
      temporaryPath = path
      descriptor = fd
      self.slot = slot
    }
    transaction?.add(self)
  }

  deinit { abort() }

  /// A temporary name in `directory`: `.dl-PID-RANDOM.tmp` (at most 31 bytes, far below
  /// NAME_MAX whatever the destination's name).
  static func temporaryName(in directory: String) -> String {
    let suffix = String(UInt64.random(in: 0...UInt64.max), radix: 36)
    return (directory as NSString).appendingPathComponent(".dl-\(getpid())-\(suffix).tmp")
  }

  /// Creates a new temporary file in `directory` with `O_EXCL`, registered for removal on a
  /// signal (``TemporaryFiles``) before it exists, so no signal finds it unregistered. (The
  /// name holds this process's id: a name that exists already is this process's own.)
  static func createTemporary(in directory: String, name: String) throws(NumpyIOError) -> (String, Int32, Int?) {
    for _ in 0..<100 {
      let path = temporaryName(in: directory)
      let slot = TemporaryFiles.register(path)
      let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o666)
      if fd >= 0 { return (path, fd, slot) }
      let code = errno
      TemporaryFiles.unregister(slot)
      if code == EEXIST || code == EINTR { continue }
      throw .writeFailed(file: name, reason: errnoText(code))
    }
    throw .writeFailed(file: name, reason: "cannot create a temporary file in \(directory)")
  }

  /// Appends raw bytes.
  ///
  /// - Throws: ``NumpyIOError/writeFailed(file:reason:)`` on an I/O error (the write is then
  ///   abandoned) or after ``commit()`` / ``abort()``.
  public func write(_ bytes: UnsafeRawBufferPointer) throws(NumpyIOError) {
    guard state == .writing else { throw .writeFailed(file: name, reason: "write after the file was closed") }
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

  /// Flushes the data to disk, closes the file and renames it over ``destination`` (in a
  /// transaction: leaves the rename to ``OutputTransaction/commit()``).
  ///
  /// On failure the temporary file is removed and the destination is unchanged.
  ///
  /// - Throws: ``NumpyIOError/writeFailed(file:reason:)``, also after an earlier
  ///   ``commit()`` / ``abort()`` (including one caused by a failed write).
  public func commit() throws(NumpyIOError) {
    try finish()
    if !inTransaction { try OutputTransaction.publish([self]) }
  }

  /// Flushes and closes the file: `writing` → `written`.
  func finish() throws(NumpyIOError) {
    guard state == .writing else { throw .writeFailed(file: name, reason: "the write was abandoned or already committed") }
    // Devices and pipes have nothing to flush to disk (fsync fails with EINVAL on them).
    if temporaryPath != nil, fsync(descriptor) != 0, errno != EINVAL, errno != EROFS {
      let reason = errnoText()
      abort()
      throw .writeFailed(file: name, reason: reason)
    }
    let closed = close(descriptor)
    descriptor = -1
    if closed != 0 {
      let reason = errnoText()
      abort()
      throw .writeFailed(file: name, reason: reason)
    }
    state = .written
  }

  /// The temporary file was renamed into place (or removed): nothing left to clean up.
  func published() {
    state = .done
    TemporaryFiles.unregister(slot)
    slot = nil
  }

  /// Abandons the write: closes and removes the temporary file. Safe to call more than once;
  /// does nothing after a successful ``commit()``. Bytes already written to a device or pipe
  /// stay written.
  public func abort() {
    guard state != .done else { return }
    state = .done
    if descriptor >= 0 { close(descriptor) }
    descriptor = -1
    if let temporaryPath { unlink(temporaryPath) }
    TemporaryFiles.unregister(slot)
    slot = nil
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
/// place or the old file (if any) is untouched and no temporary file remains. With a
/// `transaction`, the file is renamed into place by its ``OutputTransaction/commit()``.
///
/// - Throws: ``NumpyIOError/writeFailed(file:reason:)``, ``NumpyIOError/sameFile(output:file:other:)``.
public func writeAtomically(to url: URL, data: Data, transaction: OutputTransaction? = nil) throws(NumpyIOError) {
  let writer = try AtomicFileWriter(destination: url, transaction: transaction)
  try writer.write(data)
  try writer.commit()
}

// `write` is shadowed by the method names above.
@inline(__always)
private func Glibc_write(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int {
  write(fd, buffer, count)
}

// MARK: - Destinations

/// What kind of thing an output path names, and how it is written.
enum OutputTarget {
  /// How a non-regular destination is opened.
  enum Direct {
    /// `/dev/stdout` and friends: a duplicate of this open descriptor.
    case descriptor(Int32)
    /// A character device: `open(O_WRONLY)` without `O_CREAT` / `O_TRUNC`.
    case device
    /// A named pipe: `open(O_WRONLY | O_NONBLOCK)` (no reader: `ENXIO`, not a hang).
    case pipe
  }

  /// Written directly.
  case direct(Direct)
  /// A temporary file in this directory, renamed over the destination.
  case replace(directory: String)

  /// Classifies `url` and checks that it can be written: a path that names a directory
  /// (`out/`, `.`, an existing directory), a block device or a socket is refused; for a
  /// regular (or new) file, its directory must exist and be writable and its name fit
  /// `NAME_MAX`.
  ///
  /// - Throws: ``NumpyIOError/writeFailed(file:reason:)``.
  static func classify(_ url: URL, name: String) throws(NumpyIOError) -> OutputTarget {
    let path = url.path
    let base = url.lastPathComponent
    if let fd = standardDescriptor(path) { return .direct(.descriptor(fd)) }
    var info = stat()
    let exists = stat(path, &info) == 0
    if !(exists && info.st_mode & S_IFMT == S_IFDIR),
      url.hasDirectoryPath || base.isEmpty || base == "/" || base == "." || base == ".."
    {
      // `out/` would otherwise write a file named `out`.
      throw .writeFailed(file: name, reason: "names a directory, not a file")
    }
    if exists {
      switch info.st_mode & S_IFMT {
      case S_IFREG: break
      case S_IFDIR: throw .writeFailed(file: name, reason: "is a directory")
      case S_IFCHR: return .direct(.device)
      case S_IFIFO: return .direct(.pipe)
      case S_IFBLK: throw .writeFailed(file: name, reason: "is a block device; refusing to write over it")
      default: throw .writeFailed(file: name, reason: "is not a regular file, a device or a pipe")
      }
    }
    let directory = url.deletingLastPathComponent().path
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) else {
      throw .writeFailed(file: name, reason: "directory \(directory) does not exist")
    }
    guard isDirectory.boolValue else { throw .writeFailed(file: name, reason: "\(directory) is not a directory") }
    guard access(directory, W_OK) == 0 else {
      throw .writeFailed(file: name, reason: "directory \(directory) is not writable")
    }
    let limit = pathconf(directory, Int32(_PC_NAME_MAX))
    if base.utf8.count > (limit > 0 ? limit : 255) {
      throw .writeFailed(file: name, reason: "file name too long (\(base.utf8.count) bytes, at most \(limit > 0 ? limit : 255))")
    }
    return .replace(directory: directory)
  }

  /// The descriptor `/dev/stdout`, `/dev/stderr`, `/dev/fd/N` or `/proc/self/fd/N` stands for.
  static func standardDescriptor(_ path: String) -> Int32? {
    switch path {
    case "/dev/stdout": return 1
    case "/dev/stderr": return 2
    default: break
    }
    for prefix in ["/dev/fd/", "/proc/self/fd/"] where path.hasPrefix(prefix) {
      if let n = Int32(path.dropFirst(prefix.count)), n >= 0 { return n }
    }
    return nil
  }

  /// Opens a non-regular destination for writing (never creating or truncating anything)
  /// and checks that it still is what ``classify(_:name:)`` found.
  static func openDirect(_ path: String, how: Direct, name: String) throws(NumpyIOError) -> Int32 {
    let fd: Int32
    switch how {
    case .descriptor(let n):
      fd = fcntl(n, F_DUPFD_CLOEXEC, 0)
      guard fd >= 0 else { throw .writeFailed(file: name, reason: errnoText()) }
      return fd
    case .device:
      fd = open(path, O_WRONLY | O_NOCTTY | O_CLOEXEC)
    case .pipe:
      fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC)
      if fd < 0 && errno == ENXIO { throw .writeFailed(file: name, reason: "named pipe with no reader") }
    }
    guard fd >= 0 else { throw .writeFailed(file: name, reason: errnoText()) }
    var info = stat()
    let expected = how == .pipe ? S_IFIFO : S_IFCHR
    guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == expected else {
      close(fd)
      throw .writeFailed(file: name, reason: "changed while it was opened")
    }
    if how == .pipe {
      // Blocking writes from here on: a slow reader must slow us down, not fail the write.
      let flags = fcntl(fd, F_GETFL)
      _ = fcntl(fd, F_SETFL, flags & ~O_NONBLOCK)
    }
    return fd
  }
}

extension OutputTarget.Direct: Equatable {}
