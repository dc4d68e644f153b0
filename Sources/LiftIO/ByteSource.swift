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
  ///   regular file.
  init(path: String, file: String) throws(NumpyIOError) {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw .cannotOpen(file: file, reason: errnoText()) }
    var info = stat()
    guard fstat(fd, &info) == 0 else {
      let reason = errnoText()
      close(fd)
      throw .cannotOpen(file: file, reason: reason)
    }
    guard (info.st_mode & S_IFMT) == S_IFREG else {
      close(fd)
      throw .cannotOpen(file: file, reason: (info.st_mode & S_IFMT) == S_IFDIR ? "is a directory" : "not a regular file")
    }
    descriptor = fd
    size = Int(info.st_size)
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
