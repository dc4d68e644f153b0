import Foundation
import LiftIO
import LiftTensor
import Testing

/// Headers and files built byte by byte: every defect must give a typed error, never a trap.
@Suite("Header parsing and corrupt .npy files")
struct NpyCorruptTests {
  static func parse(_ header: String, version: UInt8 = 1, data: [UInt8] = []) -> Result<Tensor, NumpyIOError> {
    Result { () throws(NumpyIOError) in try NumPy.read(data: npyImage(header: header, version: version, data: data), name: "x.npy") }
  }

  static let six = float32Bytes([0, 1, 2, 3, 4, 5])

  @Test(
    "Legal header spellings",
    arguments: [
      "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
      "{'shape': (2, 3), 'fortran_order': False, 'descr': '<f4'}",
      "{ \"descr\" : \"<f4\" ,\n'fortran_order':False,'shape':( 2 ,3 , ) }",
      "{'descr': 'f4', 'fortran_order': False, 'shape': (2L, 3L), }",
      "{'descr': '=f4', 'fortran_order': False, 'shape': (2,3)}",
      "{'descr':'<f4','fortran_order':False,'shape':(2,3),}\t\r",
    ])
  func legalSpellings(header: String) throws {
    let t = try Self.parse(header, data: Self.six).get()
    expectIdentical(t, Tensor(shape: [2, 3], scalars: [0, 1, 2, 3, 4, 5]))
  }

  @Test func shapesOfRankZeroAndOne() throws {
    expectIdentical(
      try Self.parse("{'descr': '<f4', 'fortran_order': False, 'shape': (), }", data: float32Bytes([7])).get(),
      Tensor(scalar: 7))
    expectIdentical(
      try Self.parse("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", data: float32Bytes([7, 8])).get(),
      Tensor(shape: [2], scalars: [7, 8]))
    // Version 2.0 and 3.0 length fields; 3.0 is UTF-8.
    expectIdentical(
      try Self.parse("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", version: 2, data: float32Bytes([7, 8])).get(),
      Tensor(shape: [2], scalars: [7, 8]))
    expectIdentical(
      try Self.parse("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", version: 3, data: float32Bytes([9])).get(),
      Tensor(shape: [1], scalars: [9]))
  }

  static let badHeaders: [(String, NumpyIOError)] = [
    ("{'descr': '<f4', 'fortran_order': False, 'shape': [2, 3], }",
     .invalidShape(file: "x.npy", reason: "[2, 3] is not a tuple")),
    ("{'descr': '<f4', 'fortran_order': False, 'shape': (6), }",
     .invalidShape(file: "x.npy", reason: "6 is not a tuple")),
    ("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 'a'), }",
     .invalidShape(file: "x.npy", reason: "(2, 'a') is not a tuple of integers")),
    ("{'descr': '<f4', 'fortran_order': False, 'shape': (-2, 3), }",
     .invalidShape(file: "x.npy", reason: "negative extent in (-2, 3)")),
    ("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999999,), }",
     .sizeOverflow(file: "x.npy", shape: "(99999999999999999999999,)")),
    ("{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296), }",
     .sizeOverflow(file: "x.npy", shape: "(4294967296, 4294967296)")),
    ("{'descr': '<f4', 'fortran_order': False, 'shape': (0, 4294967296, 4294967296), }",
     .sizeOverflow(file: "x.npy", shape: "(0, 4294967296, 4294967296)")),
    ("{'descr': '<f8', 'fortran_order': False, 'shape': (2305843009213693952,), }",
     .sizeOverflow(file: "x.npy", shape: "(2305843009213693952,)")),
    ("{'descr': '<f4', 'fortran_order': False, 'shape': (1000000000, 1000), }",
     .truncatedData(file: "x.npy", shape: [1_000_000_000, 1000], expectedBytes: 4_000_000_000_000, availableBytes: 24)),
    ("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 4), }",
     .truncatedData(file: "x.npy", shape: [2, 4], expectedBytes: 32, availableBytes: 24)),
    ("{'descr': '|O', 'fortran_order': False, 'shape': (2,), }",
     .unsupportedDType(file: "x.npy", descr: "|O", reason: "object arrays need pickle")),
    ("{'descr': '<c8', 'fortran_order': False, 'shape': (2,), }",
     .unsupportedDType(file: "x.npy", descr: "<c8", reason: "complex")),
    ("{'descr': '<c16', 'fortran_order': False, 'shape': (1,), }",
     .unsupportedDType(file: "x.npy", descr: "<c16", reason: "complex")),
    ("{'descr': '<U3', 'fortran_order': False, 'shape': (2,), }",
     .unsupportedDType(file: "x.npy", descr: "<U3", reason: "string")),
    ("{'descr': '|S2', 'fortran_order': False, 'shape': (2,), }",
     .unsupportedDType(file: "x.npy", descr: "|S2", reason: "string")),
    ("{'descr': '|V8', 'fortran_order': False, 'shape': (2,), }",
     .unsupportedDType(file: "x.npy", descr: "|V8", reason: "void / structured")),
    ("{'descr': [('x', '<f4'), ('y', '<i4')], 'fortran_order': False, 'shape': (2,), }",
     .unsupportedDType(file: "x.npy", descr: "[('x', '<f4'), ('y', '<i4')]", reason: "structured")),
    ("{'descr': '<f16', 'fortran_order': False, 'shape': (1,), }",
     .unsupportedDType(file: "x.npy", descr: "<f16", reason: "float128 is not supported")),
    // Fuzz/FuzzNpy: an item size whose bit count overflows Int trapped in the message.
    ("{'descr': '<f2305843009213693952', 'fortran_order': False, 'shape': (1,), }",
     .unsupportedDType(file: "x.npy", descr: "<f2305843009213693952", reason: "no 2305843009213693952-byte float type")),
    ("{'descr': '<i3', 'fortran_order': False, 'shape': (1,), }",
     .unsupportedDType(file: "x.npy", descr: "<i3", reason: "no 3-byte integer type")),
    ("{'descr': '<q8', 'fortran_order': False, 'shape': (1,), }",
     .unsupportedDType(file: "x.npy", descr: "<q8", reason: "unknown type code")),
    ("{'descr': '<M8[D]', 'fortran_order': False, 'shape': (1,), }",
     .unsupportedDType(file: "x.npy", descr: "<M8[D]", reason: "datetime")),
    ("{'descr': '<f4', 'shape': (2, 3), }", .malformedHeader(file: "x.npy", reason: "missing key 'fortran_order'")),
    ("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), 'extra': 1}",
     .malformedHeader(file: "x.npy", reason: "unexpected key 'extra'")),
    ("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)}",
     .malformedHeader(file: "x.npy", reason: "key 'descr' appears twice")),
    ("{'descr': '<f4', 'fortran_order': 0, 'shape': (2, 3)}",
     .malformedHeader(file: "x.npy", reason: "fortran_order 0 is not True or False")),
    ("{'descr': 4, 'fortran_order': False, 'shape': (2, 3)}",
     .malformedHeader(file: "x.npy", reason: "descr 4 is not a dtype string")),
    ("('descr', '<f4')", .malformedHeader(file: "x.npy", reason: "header is not a dictionary")),
    ("{1: 2}", .malformedHeader(file: "x.npy", reason: "dictionary key 1 is not a string")),
    ("{'descr': '<f4', 'fortran_order': False, 'shape': (2.5,), }",
     .malformedHeader(file: "x.npy", reason: "expected an integer, found '.' at offset 52")),
    ("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)",
     .malformedHeader(file: "x.npy", reason: "expected '}', found end of header")),
    ("{'descr': '<f4, 'fortran_order': False}",
     .malformedHeader(file: "x.npy", reason: "expected '}', found 'f' at offset 17")),
    ("{'descr': '<f4', 'fortran_order': Flase, 'shape': (2, 3)}",
     .malformedHeader(file: "x.npy", reason: "unexpected name 'Flase'")),
    ("", .malformedHeader(file: "x.npy", reason: "unexpected end of header")),
    ("{} {}", .malformedHeader(file: "x.npy", reason: "unexpected '{' at offset 3 after the dictionary")),
  ]

  @Test("Bad headers give typed errors", arguments: badHeaders)
  func badHeader(header: String, expected: NumpyIOError) {
    let result = Self.parse(header, data: Self.six)
    guard case .failure(let error) = result else {
      Issue.record("accepted: \(header)")
      return
    }
    #expect(error == expected)
  }

  @Test func errorMessagesAreOneLineNamingTheFile() {
    let complex = NumpyIOError.unsupportedDType(file: "x.npy", descr: "<c8", reason: "complex")
    #expect(complex.description == "x.npy: unsupported dtype '<c8' (complex)")
    for (header, _) in Self.badHeaders {
      if case .failure(let error) = Self.parse(header, data: Self.six) {
        #expect(error.description.hasPrefix("x.npy: "))
        #expect(!error.description.contains("\n"))
        #expect(error.file == "x.npy")
      }
    }
  }

  @Test func deepNestingIsRejected() {
    let header = String(repeating: "(", count: 10_000) + String(repeating: ")", count: 10_000)
    guard case .failure(.malformedHeader) = Self.parse(header) else {
      Issue.record("deep nesting accepted")
      return
    }
  }

  // MARK: - Damaged files

  static func valid() throws -> Data { try Data(contentsOf: fixture("dtype_f4_le")) }

  static func read(_ data: Data) -> NumpyIOError? {
    npyError { _ = try NumPy.read(data: data, name: "x.npy") }
  }

  @Test func badMagic() throws {
    var data = try Self.valid()
    data[0] = 0x92
    #expect(Self.read(data) == .notNpy(file: "x.npy"))
    #expect(Self.read(Data("PK\u{3}\u{4}hello world".utf8)) == .notNpy(file: "x.npy"))
    #expect(Self.read(Data([0x93, 0x4E])) == .truncatedHeader(file: "x.npy", declaredEnd: 10, fileSize: 2))
    #expect(Self.read(Data()) == .truncatedHeader(file: "x.npy", declaredEnd: 10, fileSize: 0))
  }

  @Test func unsupportedVersions() throws {
    var data = try Self.valid()
    data[6] = 4
    #expect(Self.read(data) == .unsupportedVersion(file: "x.npy", major: 4, minor: 0))
    data[6] = 1
    data[7] = 1
    #expect(Self.read(data) == .unsupportedVersion(file: "x.npy", major: 1, minor: 1))
  }

  @Test func truncatedFiles() throws {
    let data = try Self.valid()  // 128-byte header + 48 data bytes
    #expect(data.count == 176)
    #expect(Self.read(data.prefix(50)) == .truncatedHeader(file: "x.npy", declaredEnd: 128, fileSize: 50))
    #expect(Self.read(data.prefix(9)) == .truncatedHeader(file: "x.npy", declaredEnd: 10, fileSize: 9))
    #expect(
      Self.read(data.prefix(172))
        == .truncatedData(file: "x.npy", shape: [3, 4], expectedBytes: 48, availableBytes: 44))
    #expect(
      Self.read(data.prefix(128))
        == .truncatedData(file: "x.npy", shape: [3, 4], expectedBytes: 48, availableBytes: 0))
    var huge = data
    huge[8] = 0x60
    huge[9] = 0xEA  // header length 60000
    #expect(Self.read(huge) == .truncatedHeader(file: "x.npy", declaredEnd: 60010, fileSize: 176))
    // Trailing bytes after the data are ignored, as np.load does.
    expectIdentical(try NumPy.read(data: data + Data([1, 2, 3]), name: "x.npy"), try NumPy.read(data: data, name: "x.npy"))
  }

  @Test func invalidUTF8InVersion3() {
    var image = npyImage(header: "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", version: 3, data: float32Bytes([1]))
    image[20] = 0xFF
    #expect(Self.read(image) == .malformedHeader(file: "x.npy", reason: "version 3.0 header is not valid UTF-8"))
  }

  @Test func truncatedFileOnDisk() throws {
    let dir = try makeTemporaryDirectory()
    defer { cleanup(dir) }
    let url = dir.appendingPathComponent("t.npy")
    try Self.valid().prefix(100).write(to: url)
    let error = try #require(npyError { _ = try NumPy.read(url) })
    #expect(error == .truncatedHeader(file: url.path, declaredEnd: 128, fileSize: 100))
  }

  @Test(
    "Unsupported dtypes written by NumPy",
    arguments: [
      ("unsupported_c8", "<c8", "complex"), ("unsupported_c16", "<c16", "complex"),
      ("unsupported_U3", "<U3", "string"), ("unsupported_S2", "|S2", "string"),
      ("unsupported_object", "|O", "object arrays need pickle"),
      ("unsupported_datetime", "<M8[D]", "datetime"),
    ])
  func unsupportedFixtures(name: String, descr: String, reason: String) throws {
    let url = try fixture(name)
    #expect(npyError { _ = try NumPy.read(url) } == .unsupportedDType(file: url.path, descr: descr, reason: reason))
  }

  @Test func structuredFixture() throws {
    let url = try fixture("unsupported_structured")
    guard case .unsupportedDType(_, _, let reason)? = npyError({ _ = try NumPy.read(url) }) else {
      Issue.record("structured dtype accepted")
      return
    }
    #expect(reason == "structured")
  }
}
