import Foundation
import LiftIO
import LiftTensor
import Testing

@Suite("Writing .npy files")
struct NpyWriteTests {
  /// `np.save` of float32 `arange(n) * 0.25 - 1` in these shapes (see the fixture script).
  static let goldens: [(String, Shape)] = [
    ("golden_2x3", [2, 3]), ("golden_5", [5]), ("golden_scalar", []), ("golden_0x4", [0, 4]),
    ("golden_3x1x2", [3, 1, 2]), ("golden_1234x1", [1234, 1]),
  ]

  @Test("Output is byte-identical to np.save", arguments: goldens)
  func matchesNumPy(name: String, shape: Shape) throws {
    let tensor = Tensor(shape: shape, scalars: (0..<shape.scalarCount).map { Float($0) * 0.25 - 1 })
    let expected = try Data(contentsOf: fixture(name))
    #expect(NumPy.encode(tensor) == expected)
    let dir = try makeTemporaryDirectory()
    defer { cleanup(dir) }
    let url = dir.appendingPathComponent("out.npy")
    try NumPy.write(tensor, to: url)
    #expect(try Data(contentsOf: url) == expected)
    #expect(try listing(dir) == ["out.npy"])
  }

  @Test func roundTripKeepsEveryBit() throws {
    var values: [Float] = [.nan, .infinity, -.infinity, -0.0, 0, .leastNonzeroMagnitude, .greatestFiniteMagnitude, 0.1]
    var state: UInt64 = 0x9E37_79B9_7F4A_7C15
    for _ in 0..<(4 * 5 * 6 - values.count) {
      state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
      values.append(Float(bitPattern: UInt32(truncatingIfNeeded: state >> 32)))
    }
    let tensor = Tensor(shape: [4, 5, 6], scalars: values)
    let dir = try makeTemporaryDirectory()
    defer { cleanup(dir) }
    let url = dir.appendingPathComponent("r.npy")
    try NumPy.write(tensor, to: url)
    let back = try NumPy.read(url)
    #expect(back.shape == tensor.shape)
    #expect(back.scalars.map(\.bitPattern) == tensor.scalars.map(\.bitPattern))
    let file = try NpyFile(url: url)
    #expect(file.header.dataOffset % 64 == 0 && file.header.majorVersion == 1)
    #expect(file.dtype == .float32 && !file.header.fortranOrder)
  }

  @Test func overwritesAnExistingFile() throws {
    let dir = try makeTemporaryDirectory()
    defer { cleanup(dir) }
    let url = dir.appendingPathComponent("o.npy")
    try Data("old contents".utf8).write(to: url)
    try NumPy.write(Tensor(shape: [2], scalars: [1, 2]), to: url)
    expectIdentical(try NumPy.read(url), Tensor(shape: [2], scalars: [1, 2]))
    #expect(try listing(dir) == ["o.npy"])
  }

  // MARK: - Atomicity

  @Test func missingDirectoryFailsAndLeavesNothing() throws {
    let dir = try makeTemporaryDirectory()
    defer { cleanup(dir) }
    let url = dir.appendingPathComponent("missing/sub/out.npy")
    let error = try #require(npyError { try NumPy.write(Tensor(scalar: 1), to: url) })
    guard case .writeFailed(let file, let reason) = error else {
      Issue.record("unexpected \(error)")
      return
    }
    #expect(file == url.path && reason.contains("does not exist"))
    #expect(try listing(dir) == [])
    #expect(npyError { try writeAtomically(to: url, data: Data([1])) } != nil)
    #expect(npyError { try NumPy.writeArchive([("a", Tensor(scalar: 1))], to: url) } != nil)
    #expect(npyError { _ = try NpyStreamWriter(url: url, shape: [1]) } != nil)
    #expect(try listing(dir) == [])
  }

  @Test func failedWritesDoNotClobberAnExistingFile() throws {
    let dir = try makeTemporaryDirectory()
    defer { cleanup(dir) }
    let url = dir.appendingPathComponent("keep.npy")
    let old = Data("precious".utf8)
    try old.write(to: url)

    // A body that throws: the writer aborts.
    struct Boom: Error {}
    #expect(throws: Boom.self) {
      try AtomicFileWriter.write(to: url) { out in
        try out.write(Data(repeating: 7, count: 1000))
        throw Boom()
      }
    }
    // A stream that is abandoned, or commits too few rows, or gets rows of the wrong shape.
    let stream = try NpyStreamWriter(url: url, shape: [3, 2])
    try stream.append(Tensor(shape: [1, 2], scalars: [1, 2]))
    #expect(npyError { try stream.commit() } == .shapeMismatch(file: url.path, reason: "only 1 of 3 rows were written"))
    #expect(npyError { try stream.commit() } != nil)  // no trap after an abort
    let wrong = try NpyStreamWriter(url: url, shape: [3, 2])
    #expect(npyError { try wrong.append(Tensor(shape: [1, 3], scalars: [1, 2, 3])) } != nil)
    #expect(npyError { try wrong.append(Tensor(shape: [1, 2], scalars: [1, 2])) } != nil)
    let tooMany = try NpyStreamWriter(url: url, shape: [1, 2])
    #expect(npyError { try tooMany.append(Tensor(shape: [2, 2], scalars: [1, 2, 3, 4])) } != nil)
    do {
      let dropped = try NpyStreamWriter(url: url, shape: [1])
      try dropped.append(Tensor(shape: [1], scalars: [5]))
      // dropped without commit
    }
    // An archive with a repeated name.
    #expect(npyError { try NumPy.writeArchive([("a", Tensor(scalar: 1)), ("a", Tensor(scalar: 2))], to: url) } != nil)
    // Destination is a directory: the rename fails, the temporary file is removed.
    let sub = dir.appendingPathComponent("sub.npy")
    try FileManager.default.createDirectory(at: sub, withIntermediateDirectories: false)
    try FileManager.default.createDirectory(at: sub.appendingPathComponent("x"), withIntermediateDirectories: false)
    #expect(npyError { try NumPy.write(Tensor(scalar: 1), to: sub) } != nil)

    #expect(try Data(contentsOf: url) == old)
    #expect(try listing(dir) == ["keep.npy", "sub.npy"])
  }

  @Test func writerAPIs() throws {
    let dir = try makeTemporaryDirectory()
    defer { cleanup(dir) }
    let url = dir.appendingPathComponent("w.bin")
    try writeAtomically(to: url, data: Data([1, 2, 3]))
    #expect(try Data(contentsOf: url) == Data([1, 2, 3]))
    let writer = try AtomicFileWriter(destination: url)
    try writer.write([9, 8])
    #expect(try Data(contentsOf: url) == Data([1, 2, 3]))  // not visible before commit
    try writer.commit()
    #expect(try Data(contentsOf: url) == Data([9, 8]))
    #expect(npyError { try writer.write([1]) } != nil)
    #expect(try listing(dir) == ["w.bin"])
  }

  // MARK: - Streaming

  @Test func streamWriterMatchesWholeWriteAndStreamsBack() throws {
    let dir = try makeTemporaryDirectory()
    defer { cleanup(dir) }
    let full = Tensor(shape: [103, 3, 2], scalars: (0..<(103 * 6)).map { Float($0) * 0.5 - 7 })
    let url = dir.appendingPathComponent("s.npy")
    let out = try NpyStreamWriter(url: url, shape: full.shape)
    for start in stride(from: 0, to: 103, by: 10) {
      try out.append(full.slice(batch: start..<min(start + 10, 103)))
    }
    #expect(out.rowsWritten == 103)
    #expect(!FileManager.default.fileExists(atPath: url.path))
    try out.commit()
    #expect(try Data(contentsOf: url) == NumPy.encode(full))
    #expect(try listing(dir) == ["s.npy"])

    let file = try NpyFile(url: url)
    var parts: [Tensor] = []
    for start in stride(from: 0, to: file.rowCount, by: 16) {
      parts.append(try file.readRows(start..<min(start + 16, file.rowCount)))
    }
    expectIdentical(Tensor.concatenate(batches: parts), full)

    #expect(npyError { _ = try NpyStreamWriter(url: url, shape: []) } == .notBatched(file: url.path))
    let empty = try NpyStreamWriter(url: dir.appendingPathComponent("e.npy"), shape: [0, 5])
    try empty.commit()
    expectIdentical(try NumPy.read(dir.appendingPathComponent("e.npy")), Tensor(shape: [0, 5], scalars: []))
  }
}
