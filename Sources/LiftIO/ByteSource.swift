import Foundation

#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

/// Random-access bytes: an open file (read with `pread`) or an in-memory buffer.
///
/// Both implementations are immutable after creation and `pread` keeps no file position, so
/// concurrent reads are safe.
protocol ByteSource: AnyObject, Sendable {
  /// Total number of bytes.
  var size: Int { get }
  /// Fills `buffer` with the bytes at `offset ..< offset + buffer.count`.
  func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int, file: String) throws(NumpyIOError)
}

/// A read-only file descriptor, closed on deinit.
final class FileByteSource: ByteSource, @unchecked Sendable {
  // @unchecked: `descriptor` and `size` never change after init; pread is thread-safe.
  let descriptor: Int32
  let size: Int

  /// Opens `path` for reading and records its size.
  ///
  /// - Throws: ``NumpyIOError/cannotOpen(file:reason:)`` if it is missing, unreadable or not a
  ///   regular file (see ``openRegularFile(_:name:)``).
  init(path: String, file: String) throws(NumpyIOError) {
    let (fd, size) = try openRegularFileDescriptor(path, name: file)
    descriptor = fd
    self.size = size
  }

  deinit { close(descriptor) }

  func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int, file: String) throws(NumpyIOError) {
    var done = 0
    while done < buffer.count {
      let n = pread(descriptor, buffer.baseAddress! + done, buffer.count - done, off_t(offset + done))
      if n < 0 {
        if errno == EINTR { continue }
        throw .readFailed(file: file, reason: errnoText())
      }
      if n == 0 { throw .readFailed(file: file, reason: "file ended early; was it truncated while reading?") }
      done += n
    }
  }
}

/// Opens `path` read-only if it is a regular file, never blocking: a named pipe with no
/// writer, a device (`/dev/zero` reads without end) or a directory is refused. The path is
/// checked with `stat` before it is opened (opening a pipe would wait for a writer), then
/// opened with `O_NONBLOCK` and checked again with `fstat` (it may have been swapped in
/// between); the descriptor is then switched back to blocking reads.
///
/// - Returns: the descriptor (the caller closes it) and the file's size.
/// - Throws: ``NumpyIOError/cannotOpen(file:reason:)``: `no such file`, `is a directory`,
///   `not a regular file (a named pipe)` …, or the system's reason.
func openRegularFileDescriptor(_ path: String, name: String) throws(NumpyIOError) -> (Int32, Int) {
  var info = stat()
  guard stat(path, &info) == 0 else {
    throw .cannotOpen(file: name, reason: errno == ENOENT ? "no such file" : errnoText())
  }
  try requireRegular(info.st_mode, name: name)
  let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
  guard fd >= 0 else { throw .cannotOpen(file: name, reason: errnoText()) }
  guard fstat(fd, &info) == 0 else {
    let reason = errnoText()
    close(fd)
    throw .cannotOpen(file: name, reason: reason)
  }
  do throws(NumpyIOError) { try requireRegular(info.st_mode, name: name) } catch {
    close(fd)
    throw error
  }
  let flags = fcntl(fd, F_GETFL)
  if flags >= 0 { _ = fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) }
  return (fd, Int(info.st_size))
}

private func requireRegular(_ mode: mode_t, name: String) throws(NumpyIOError) {
  let kind: String
  switch mode & S_IFMT {
  case S_IFREG: return
  case S_IFDIR: throw .cannotOpen(file: name, reason: "is a directory")
  case S_IFIFO: kind = "a named pipe"
  case S_IFCHR: kind = "a character device"
  case S_IFBLK: kind = "a block device"
  case S_IFSOCK: kind = "a socket"
  default: kind = "of an unknown kind"
  }
  throw .cannotOpen(file: name, reason: "not a regular file (\(kind))")
}

/// Checks that `path` is a readable regular file without blocking (see
/// ``openRegularFileDescriptor(_:name:)``): the one check every file a program reads should
/// pass before anything else is done with it (models, arrays, lists).
///
/// - Throws: ``NumpyIOError/cannotOpen(file:reason:)`` naming `name` (default: `path`).
public func checkRegularFile(_ path: String, name: String? = nil) throws(NumpyIOError) {
  let (fd, _) = try openRegularFileDescriptor(path, name: name ?? path)
  close(fd)
}

/// The whole contents of the regular file `path`, refused without reading when larger than
/// `maxBytes` (a small text file such as a list of names).
///
/// - Throws: ``NumpyIOError/cannotOpen(file:reason:)``, ``NumpyIOError/readFailed(file:reason:)``.
public func readRegularFile(_ path: String, name: String? = nil, maxBytes: Int) throws(NumpyIOError) -> Data {
  let name = name ?? path
  let source = try FileByteSource(path: path, file: name)
  guard source.size <= maxBytes else {
    throw .readFailed(file: name, reason: "\(source.size) bytes, more than the \(maxBytes) allowed")
  }
  return Data(try source.bytes(count: source.size, at: 0, file: name))
}

/// Bytes held in memory (an extracted archive member).
final class DataByteSource: ByteSource {
  let data: Data
  var size: Int { data.count }

  init(_ data: Data) { self.data = data }

  func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int, file: String) throws(NumpyIOError) {
    guard offset >= 0, offset <= data.count - buffer.count else {
      throw .readFailed(file: file, reason: "read past the end of the data")
    }
    let start = data.startIndex + offset
    data.copyBytes(to: buffer, from: start..<(start + buffer.count))
  }
}

/// `strerror(errno)` as a Swift string.
func errnoText(_ code: Int32 = errno) -> String {
  String(cString: strerror(code))
}

extension ByteSource {
  /// `count` bytes at `offset` as an array.
  func bytes(count: Int, at offset: Int, file: String) throws(NumpyIOError) -> [UInt8] {
    var failure: NumpyIOError?
    let result = [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
      do throws(NumpyIOError) {
        try read(into: UnsafeMutableRawBufferPointer(buffer), at: offset, file: file)
        initialized = count
      } catch {
        failure = error
        initialized = 0
      }
    }
    if let failure { throw failure }
    return result
  }
}
