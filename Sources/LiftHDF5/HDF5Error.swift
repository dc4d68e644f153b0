/// Errors thrown while reading an HDF5 file. Every case names the file (its last path
/// component, or the name given for an in-memory image) and, where there is one, the object.
public enum HDF5Error: Error, Equatable, Sendable, CustomStringConvertible {
  /// The file could not be read from disk (missing, unreadable, a directory).
  case unreadable(file: String, reason: String)
  /// The bytes do not start with the HDF5 signature `\x89HDF\r\n\x1a\n` (at offset 0 or at a
  /// power-of-two user-block offset ≥ 512).
  case notHDF5(file: String)
  /// libhdf5 refused to open the file (truncated, corrupt superblock, unsupported version).
  case openFailed(file: String)
  /// The superblock is damaged or disagrees with the file's size (checked before libhdf5
  /// opens the file).
  case corrupt(file: String, reason: String)
  /// No group, dataset or attribute at `path`.
  case missing(file: String, path: String)
  /// The object exists but has another kind or element type (`expected` names what was asked).
  case wrongType(file: String, path: String, expected: String)
  /// libhdf5 failed while reading the object (corrupt or truncated data).
  case readFailed(file: String, path: String)
  /// The object declares more elements than this wrapper reads (corrupt extents).
  case tooLarge(file: String, path: String, dimensions: [Int])
  /// The object is refused before anything is read: its data would come from outside the
  /// file (an external or soft link, external raw-data storage, a virtual dataset), or it
  /// declares more data than the file can plausibly hold. `reason` completes the sentence
  /// "'path' …".
  case refused(file: String, path: String, reason: String)

  public var description: String {
    switch self {
    case .unreadable(let file, let reason): "\(file): cannot read file: \(reason)"
    case .notHDF5(let file): "\(file): not an HDF5 file (no HDF5 signature)"
    case .openFailed(let file): "\(file): HDF5 library cannot open the file (truncated or corrupt)"
    case .corrupt(let file, let reason): "\(file): damaged HDF5 file: \(reason)"
    case .missing(let file, let path): "\(file): no object or attribute '\(path)'"
    case .wrongType(let file, let path, let expected): "\(file): '\(path)' is not \(expected)"
    case .readFailed(let file, let path): "\(file): reading '\(path)' failed (truncated or corrupt data)"
    case .tooLarge(let file, let path, let dims): "\(file): '\(path)' has implausible extents \(dims)"
    case .refused(let file, let path, let reason): "\(file): '\(path)' \(reason)"
    }
  }
}
