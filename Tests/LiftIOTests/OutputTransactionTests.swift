import Foundation
import LiftIO
import Testing

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// LiftIO's OutputTransaction: the plan check (an output is never an input or another
/// output) and all-or-nothing commits.
@Suite struct OutputTransactionTests {
  /// A rename that fails part-way undoes the renames before it: a replaced file gets its old
  /// bytes back, a new file disappears, and no temporary or backup file is left.
  @Test func failedCommitUndoesEarlierRenames() throws {
    let dir = try makeTemporaryDirectory()
    defer { cleanup(dir) }
    let a = dir.appendingPathComponent("a.bin"), c = dir.appendingPathComponent("c.bin"), b = dir.appendingPathComponent("b.bin")
    try Data("old a".utf8).write(to: a)
    try Data("old b".utf8).write(to: b)
    let outputs = try OutputTransaction(outputs: [FileRole("--a", a.path), FileRole("--c", c.path), FileRole("--b", b.path)])
    try writeAtomically(to: a, data: Data("new a".utf8), transaction: outputs)
    try writeAtomically(to: c, data: Data("new c".utf8), transaction: outputs)
    try writeAtomically(to: b, data: Data("new b".utf8), transaction: outputs)
    // Nothing is visible before the commit.
    #expect(try Data(contentsOf: a) == Data("old a".utf8))
    #expect(!FileManager.default.fileExists(atPath: c.path))
    // b turns into a directory before the commit: its rename is refused after a's and c's.
    try FileManager.default.removeItem(at: b)
    try FileManager.default.createDirectory(at: b.appendingPathComponent("keep"), withIntermediateDirectories: true)
    let error = try #require(npyError { try outputs.commit() })
    #expect(error == .writeFailed(file: b.path, reason: "is no longer a regular file"))
    #expect(try Data(contentsOf: a) == Data("old a".utf8))
    #expect(!FileManager.default.fileExists(atPath: c.path))
    #expect(try listing(dir) == ["a.bin", "b.bin"])
    #expect(try listing(b) == ["keep"])
  }

  @Test func successfulCommitReplacesAllAndLeavesNothingElse() throws {
    let dir = try makeTemporaryDirectory()
    defer { cleanup(dir) }
    let a = dir.appendingPathComponent("a.bin"), sub = dir.appendingPathComponent("new/deeper")
    try Data("old a".utf8).write(to: a)
    let outputs = try OutputTransaction(outputs: [FileRole("--a", a.path), FileRole("--dir", sub.path, isDirectory: true)])
    try writeAtomically(to: a, data: Data("new a".utf8), transaction: outputs)
    try outputs.createDirectory(at: sub)
    try writeAtomically(to: sub.appendingPathComponent("x.bin"), data: Data([1]), transaction: outputs)
    try outputs.commit()
    #expect(try Data(contentsOf: a) == Data("new a".utf8))
    #expect(try listing(dir) == ["a.bin", "new"])
    #expect(try listing(sub) == ["x.bin"])
  }

  /// An abandoned transaction removes its temporary files and the directories it created.
  @Test func abortRemovesTemporaryFilesAndNewDirectories() throws {
    let dir = try makeTemporaryDirectory()
    defer { cleanup(dir) }
    let sub = dir.appendingPathComponent("new/deeper")
    do {
      let outputs = try OutputTransaction()
      try outputs.createDirectory(at: sub)
      try writeAtomically(to: sub.appendingPathComponent("x.bin"), data: Data([1]), transaction: outputs)
      try writeAtomically(to: dir.appendingPathComponent("y.bin"), data: Data([1]), transaction: outputs)
      #expect(try listing(sub).count == 1)  // the temporary file
      // dropped without a commit
    }
    #expect(try listing(dir) == [])
  }

  /// Every spelling of the same file is caught: the same path, `..`, a symbolic link, a hard
  /// link; an output against another output; a file written later against the inputs.
  @Test func sameFileIsRefusedInEverySpelling() throws {
    let dir = try makeTemporaryDirectory()
    defer { cleanup(dir) }
    let x = dir.appendingPathComponent("x.npy")
    try Data("input".utf8).write(to: x)
    try FileManager.default.createDirectory(at: dir.appendingPathComponent("d"), withIntermediateDirectories: false)
    try FileManager.default.createSymbolicLink(atPath: dir.appendingPathComponent("s.npy").path, withDestinationPath: "x.npy")
    try FileManager.default.linkItem(at: x, to: dir.appendingPathComponent("h.npy"))
    let input = FileRole("--input", x.path)
    for spelling in [x.path, dir.path + "/d/../x.npy", dir.path + "/s.npy", dir.path + "/h.npy"] {
      let error = npyError { _ = try OutputTransaction(inputs: [input], outputs: [FileRole("--output", spelling)]) }
      #expect(error == .sameFile(file: spelling, role: "--output", other: "--input \(x.path)"), "\(spelling)")
    }
    let out = dir.appendingPathComponent("o.npy").path
    #expect(
      npyError { _ = try OutputTransaction(outputs: [FileRole("--output", out), FileRole("--plot", dir.path + "/./o.npy")]) }
        == .sameFile(file: dir.path + "/./o.npy", role: "--plot", other: "--output \(out)"))
    // Not planned, found when written: refused before any temporary file exists.
    let outputs = try OutputTransaction(inputs: [input], outputs: [FileRole("--dir", dir.path, isDirectory: true)])
    #expect(npyError { try writeAtomically(to: dir.appendingPathComponent("h.npy"), data: Data([1]), transaction: outputs) } != nil)
    #expect(try Data(contentsOf: x) == Data("input".utf8))
    #expect(try listing(dir) == ["d", "h.npy", "s.npy", "x.npy"])
  }

  /// The temporary name is short whatever the destination's: a 255-byte name (NAME_MAX) works.
  @Test func longestLegalNameWorks() throws {
    let dir = try makeTemporaryDirectory()
    defer { cleanup(dir) }
    let url = dir.appendingPathComponent(String(repeating: "x", count: 251) + ".npy")
    try writeAtomically(to: url, data: Data([7]))
    #expect(try Data(contentsOf: url) == Data([7]))
    #expect(try listing(dir) == [url.lastPathComponent])
  }

  /// Reading refuses what is not a regular file before opening it (a pipe would block).
  @Test func nonRegularFilesAreRefusedWithoutBlocking() throws {
    let dir = try makeTemporaryDirectory()
    defer { cleanup(dir) }
    let fifo = dir.appendingPathComponent("p.npy")
    #expect(mkfifo(fifo.path, 0o600) == 0)
    #expect(npyError { try checkRegularFile(fifo.path) } == .cannotOpen(file: fifo.path, reason: "not a regular file (a named pipe)"))
    #expect(npyError { _ = try NumPy.read(fifo) } == .cannotOpen(file: fifo.path, reason: "not a regular file (a named pipe)"))
    #expect(npyError { try checkRegularFile("/dev/zero") } == .cannotOpen(file: "/dev/zero", reason: "not a regular file (a character device)"))
  }
}
