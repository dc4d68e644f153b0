import Foundation

#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

/// A file (or directory) a run reads or writes, with the option that named it, for messages:
/// `FileRole("--input", "x.npy")`, `FileRole("the model", "m.h5")`,
/// `FileRole("--modisco", "mod", isDirectory: true)`.
public struct FileRole: Sendable, Hashable {
  /// The option or argument that named the file.
  public var role: String
  /// The path as given.
  public var path: String
  /// An output directory (created if missing) rather than a file.
  public var isDirectory: Bool

  public init(_ role: String, _ path: String, isDirectory: Bool = false) {
    self.role = role
    self.path = path
    self.isDirectory = isDirectory
  }

  /// `--input x.npy`.
  var phrase: String { "\(role) \(path)" }
}

/// All the outputs of one run, written to temporary files and renamed into place together
/// only after every one of them was written, or none of them.
///
/// Built from the run's inputs and planned outputs (``init(inputs:outputs:)``), it first
/// checks that no output is the same file as an input or as another output, and that each
/// output can be written (see ``AtomicFileWriter``); every file later written through it
/// (`NumPy.write(_:to:transaction:)` and the other writers with a `transaction` argument,
/// files inside a planned output directory included) is checked again the same way before
/// anything is created. Two paths are the same file when they resolve to the same path
/// (`realpath` of the path or of its existing parent, so `./a/../x.npy` and symbolic links
/// count), or when both exist with the same device and inode (hard links).
///
/// ``commit()`` renames the finished temporary files over their destinations, in the order
/// they were created. If a rename fails, the ones already done are undone (each replaced file
/// was kept as a hard link until the end, and is restored) and every temporary file is removed.
/// ``abort()`` — also on deinit without a commit — removes the temporary files and the
/// directories the transaction created. Devices and pipes among the outputs are written
/// directly as their bytes come (see ``AtomicFileWriter``) and cannot be taken back.
///
/// ```swift
/// let outputs = try OutputTransaction(
///   inputs: [FileRole("--input", "x.npy")], outputs: [FileRole("--output", "s.npy"), FileRole("--plot", "s.png")])
/// try NumPy.write(scores, to: URL(fileURLWithPath: "s.npy"), transaction: outputs)
/// try writeAtomically(to: URL(fileURLWithPath: "s.png"), data: png, transaction: outputs)
/// try outputs.commit()   // both appear, or neither
/// ```
///
/// Not thread-safe: use one transaction from one thread at a time.
public final class OutputTransaction {
  /// An existing or future file, resolved for comparison.
  struct Identity {
    var canonical: String
    var device: UInt64?
    var inode: UInt64?

    init(_ path: String) {
      canonical = canonicalPath(path)
      var info = stat()
      if stat(path, &info) == 0 {
        device = UInt64(info.st_dev)
        inode = UInt64(info.st_ino)
      }
    }

    func isSame(as other: Identity) -> Bool {
      if canonical == other.canonical { return true }
      guard let device, let inode else { return false }
      return device == other.device && inode == other.inode
    }
  }

  private let inputs: [(FileRole, Identity)]
  private let planned: [(FileRole, Identity)]
  private var writers: [(AtomicFileWriter, Identity, String)] = []
  /// Directories created for outputs, outermost first, with their signal-cleanup slots.
  private var createdDirectories: [(path: String, slot: Int?)] = []
  private var finished = false

  /// Checks the plan of a run: every output in `outputs` against every file in `inputs` and
  /// every other output, then that each output can be written (its directory exists and is
  /// writable, its name fits; an output directory exists or can be created).
  ///
  /// - Throws: ``NumpyIOError/sameFile(file:role:other:)`` for a clash,
  ///   ``NumpyIOError/writeFailed(file:reason:)`` for an output that cannot be written.
  public init(inputs: [FileRole] = [], outputs: [FileRole] = []) throws(NumpyIOError) {
    self.inputs = inputs.map { ($0, Identity($0.path)) }
    self.planned = outputs.map { ($0, Identity($0.path)) }
    for (k, (output, id)) in planned.enumerated() {
      if let clash = self.inputs.first(where: { $0.1.isSame(as: id) }) {
        throw .sameFile(file: output.path, role: output.role, other: clash.0.phrase)
      }
      if let clash = planned[..<k].first(where: { $0.1.isSame(as: id) }) {
        throw .sameFile(file: output.path, role: output.role, other: clash.0.phrase)
      }
    }
    for (output, id) in planned {
      if output.isDirectory {
        try OutputTransaction.checkDirectory(output.path)
      } else if !isInNewDirectory(id) {
        _ = try OutputTarget.classify(URL(fileURLWithPath: output.path), name: output.path)
      }
    }
  }

  deinit { abort() }

  /// Whether `id` is a file in a planned output directory that does not exist yet (created
  /// when the file is written; checked as a directory instead).
  private func isInNewDirectory(_ id: Identity) -> Bool {
    let parent = (id.canonical as NSString).deletingLastPathComponent
    var info = stat()
    return planned.contains { $0.0.isDirectory && $0.1.canonical == parent } && stat(parent, &info) != 0
  }

  /// Makes SIGINT, SIGTERM and SIGHUP remove every temporary file (and directory created for
  /// outputs) before the process dies of the signal; a signal during ``commit()`` acts once
  /// the commit has finished. Programs call this once at start (a library never installs
  /// signal handlers by itself). Signals that are ignored (`nohup`) stay ignored.
  public static func removeTemporaryFilesOnSignals() {
    TemporaryFiles.installSignalHandlers()
  }

  /// Checks a destination before its temporary file is created: not an input, not another
  /// output of this transaction.
  func admit(_ destination: URL, name: String) throws(NumpyIOError) {
    guard !finished else { throw .writeFailed(file: name, reason: "the outputs were already committed or abandoned") }
    let id = Identity(destination.path)
    let role = self.role(of: id)
    if let clash = inputs.first(where: { $0.1.isSame(as: id) }) {
      throw .sameFile(file: name, role: role, other: clash.0.phrase)
    }
    if let clash = writers.first(where: { $0.1.isSame(as: id) }) {
      throw .sameFile(file: name, role: role, other: "\(clash.2) \(clash.0.name)")
    }
  }

  func add(_ writer: AtomicFileWriter) {
    writers.append((writer, Identity(writer.destination.path), role(of: Identity(writer.destination.path))))
  }

  /// The option that planned a destination: its own, that of the output directory holding
  /// it, or "output".
  private func role(of id: Identity) -> String {
    if let own = planned.first(where: { !$0.0.isDirectory && $0.1.isSame(as: id) }) { return own.0.role }
    let parent = (id.canonical as NSString).deletingLastPathComponent
    if let holder = planned.first(where: { $0.0.isDirectory && $0.1.canonical == parent }) { return holder.0.role }
    return "output"
  }

  /// Creates `url` and any missing parent directories; ``abort()`` removes them again (if
  /// still empty), as does a signal.
  ///
  /// - Throws: ``NumpyIOError/writeFailed(file:reason:)``.
  public func createDirectory(at url: URL) throws(NumpyIOError) {
    let name = displayName(url)
    guard !finished else { throw .writeFailed(file: name, reason: "the outputs were already committed or abandoned") }
    var missing: [String] = []
    var path = url.standardizedFileURL.path
    var info = stat()
    while stat(path, &info) != 0 {
      missing.append(path)
      let parent = (path as NSString).deletingLastPathComponent
      if parent == path || parent.isEmpty { break }
      path = parent
    }
    if missing.isEmpty {
      guard info.st_mode & S_IFMT == S_IFDIR else { throw .writeFailed(file: name, reason: "exists and is not a directory") }
      return
    }
    for directory in missing.reversed() {
      if mkdir(directory, 0o777) != 0 {
        if errno == EEXIST { continue }
        throw .writeFailed(file: name, reason: "cannot create directory \(directory) (\(errnoText()))")
      }
      createdDirectories.append((directory, TemporaryFiles.register(directory, isDirectory: true)))
    }
  }

  /// Renames every finished file into place (see the type's description).
  ///
  /// - Throws: ``NumpyIOError/writeFailed(file:reason:)`` when a file was not finished
  ///   (``AtomicFileWriter/commit()`` not called) or a rename fails; nothing is then changed
  ///   and nothing is left.
  public func commit() throws(NumpyIOError) {
    guard !finished else { throw .writeFailed(file: "outputs", reason: "already committed or abandoned") }
    do {
      try OutputTransaction.publish(writers.map(\.0))
    } catch {
      abort()
      throw error
    }
    finished = true
    for directory in createdDirectories { TemporaryFiles.unregister(directory.slot) }
    createdDirectories = []
  }

  /// Removes every temporary file and the directories created (when empty). Safe to call
  /// more than once; does nothing after ``commit()``.
  public func abort() {
    guard !finished else { return }
    finished = true
    for (writer, _, _) in writers { writer.abort() }
    for directory in createdDirectories.reversed() {
      rmdir(directory.path)
      TemporaryFiles.unregister(directory.slot)
    }
    createdDirectories = []
  }

  /// Renames the finished temporary files of `writers` over their destinations as one unit
  /// (signals wait; a failed rename undoes the earlier ones).
  static func publish(_ writers: [AtomicFileWriter]) throws(NumpyIOError) {
    if let open = writers.first(where: { $0.state != .written }) {
      throw .writeFailed(file: open.name, reason: "the file was not finished before the outputs were committed")
    }
    let moving = writers.filter { $0.temporaryPath != nil }
    guard TemporaryFiles.beginCommit() else {
      // A signal handler is removing the files: the process is about to end.
      while true { pause() }
    }
    defer { TemporaryFiles.endCommit() }
    var done: [(writer: AtomicFileWriter, backup: String?, hadFile: Bool)] = []
    var failure: NumpyIOError? = nil
    for writer in moving {
      let destination = writer.destination.path
      var info = stat()
      let exists = lstat(destination, &info) == 0
      // A directory, device or pipe that appeared since the writer was created is never replaced.
      var target = stat()
      if exists, stat(destination, &target) == 0, target.st_mode & S_IFMT != S_IFREG {
        failure = .writeFailed(file: writer.name, reason: "is no longer a regular file")
        break
      }
      // With several files, keep each replaced one until all are in place, to undo.
      let backup = exists && moving.count > 1 ? hardLinkBackup(of: destination) : nil
      if rename(writer.temporaryPath!, destination) != 0 {
        failure = .writeFailed(file: writer.name, reason: errnoText())
        if let backup { unlink(backup) }
        break
      }
      done.append((writer, backup, exists))
    }
    if let failure {
      for (writer, backup, hadFile) in done.reversed() {
        if let backup {
          rename(backup, writer.destination.path)
        } else if !hadFile {
          unlink(writer.destination.path)
        }
      }
      for writer in moving { writer.abort() }
      throw failure
    }
    for (_, backup, _) in done { if let backup { unlink(backup) } }
    for writer in writers { writer.published() }
  }

  /// A hard link to `path` under a temporary name in its directory, or `nil` when the file
  /// system has no hard links (the replaced file then cannot be restored on a failure).
  private static func hardLinkBackup(of path: String) -> String? {
    let directory = (path as NSString).deletingLastPathComponent
    for _ in 0..<10 {
      let backup = AtomicFileWriter.temporaryName(in: directory.isEmpty ? "." : directory)
      if linkat(AT_FDCWD, path, AT_FDCWD, backup, 0) == 0 { return backup }
      if errno != EEXIST { return nil }
    }
    return nil
  }

  /// Checks that `path` is a writable directory, or can be created as one (its nearest
  /// existing ancestor is a writable directory).
  static func checkDirectory(_ path: String) throws(NumpyIOError) {
    var info = stat()
    if stat(path, &info) == 0 {
      guard info.st_mode & S_IFMT == S_IFDIR else { throw .writeFailed(file: path, reason: "exists and is not a directory") }
      guard access(path, W_OK) == 0 else { throw .writeFailed(file: path, reason: "directory is not writable") }
      return
    }
    var parent = (URL(fileURLWithPath: path).standardizedFileURL.path as NSString).deletingLastPathComponent
    while stat(parent, &info) != 0 {
      let next = (parent as NSString).deletingLastPathComponent
      if next == parent || next.isEmpty { break }
      parent = next
    }
    guard info.st_mode & S_IFMT == S_IFDIR else {
      throw .writeFailed(file: path, reason: "cannot create the directory (\(parent) is not a directory)")
    }
    guard access(parent, W_OK) == 0 else {
      throw .writeFailed(file: path, reason: "cannot create the directory (\(parent) is not writable)")
    }
  }
}

/// The absolute path of `path` with `.`, `..` and symbolic links resolved as far as the path
/// exists (`realpath` of the longest existing prefix, the rest appended), so that a file and
/// a future file can be compared.
func canonicalPath(_ path: String) -> String {
  let absolute = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
  var existing = absolute.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
  var rest: [String] = []
  while true {
    let prefix = "/" + existing.joined(separator: "/")
    if let resolved = realpath(prefix, nil) {
      defer { free(resolved) }
      var parts = String(cString: resolved).split(separator: "/").map(String.init)
      for part in rest.reversed() {
        switch part {
        case ".": continue
        case "..": if !parts.isEmpty { parts.removeLast() }
        default: parts.append(part)
        }
      }
      return "/" + parts.joined(separator: "/")
    }
    guard let last = existing.popLast() else { return absolute }
    rest.append(last)
  }
}
