import Foundation
import LiftIO
import LiftTensor
import Testing

@Suite("Reading .npy fixtures written by NumPy")
struct NpyReadTests {
  static let dtypeFixtures = [
    "dtype_i1_le", "dtype_i2_le", "dtype_i2_be", "dtype_i4_le", "dtype_i4_be", "dtype_i8_le", "dtype_i8_be",
    "dtype_u1_le", "dtype_u2_le", "dtype_u2_be", "dtype_u4_le", "dtype_u4_be", "dtype_u8_le", "dtype_u8_be",
    "dtype_f2_le", "dtype_f2_be", "dtype_f4_le", "dtype_f4_be", "dtype_f8_le", "dtype_f8_be", "dtype_b1",
  ]

  /// The generator's formulas on `idx = arange(12).reshape(3, 4)`.
  static func formula(_ name: String) -> Tensor {
    let values: [Float] = (0..<12).map { i in
      if name.hasPrefix("dtype_i") { return Float(i - 5) }
      if name.hasPrefix("dtype_u") { return Float(i) }
      if name.hasPrefix("dtype_f") { return Float(i - 5) / 2 }
      return i % 3 == 0 ? 1 : 0
    }
    return Tensor(shape: [3, 4], scalars: values)
  }

  @Test("Every supported dtype and byte order", arguments: dtypeFixtures)
  func dtypes(name: String) throws {
    let url = try fixture(name)
    let file = try NpyFile(url: url)
    #expect(file.shape == [3, 4])
    #expect(file.dtype.descr.dropFirst() == name.split(separator: "_")[1])
    #expect(file.dtype.isBigEndian == name.hasSuffix("_be"))
    let tensor = try file.readAll()
    expectIdentical(tensor, Self.formula(name), name)
    expectIdentical(tensor, try NumPy.read(fixture(name + ".expected")), name)
  }

  @Test(
    "Rounding, overflow and special values match NumPy's astype(float32)",
    arguments: ["special_f2", "special_f8_be", "special_i8", "special_u8_be", "special_i4"])
  func specials(name: String) throws {
    expectIdentical(try NumPy.read(fixture(name)), try NumPy.read(fixture(name + ".expected")), name)
  }

  @Test func halfPrecisionValues() throws {
    let t = try NumPy.read(fixture("special_f2"))
    #expect(t.scalars[0].isNaN)
    #expect(t.scalars[1] == .infinity && t.scalars[2] == -.infinity)
    #expect(t.scalars[3] == 0 && t.scalars[3].sign == .minus)
    #expect(t.scalars[4] == 0x1p-14)  // smallest normal half
    #expect(t.scalars[5] == 0x1p-24)  // smallest subnormal half
    #expect(t.scalars[6] == 65504)
  }

  @Test("Fortran order is returned row-major")
  func fortranOrder() throws {
    let file = try NpyFile(url: fixture("fortran_f4_2x3x4"))
    #expect(file.header.fortranOrder)
    let t = try file.readAll()
    expectIdentical(t, Tensor(shape: [2, 3, 4], scalars: (0..<24).map(Float.init)))
    expectIdentical(try file.readRows(1..<2), Tensor(shape: [1, 3, 4], scalars: (12..<24).map(Float.init)))
    let be = try NpyFile(url: fixture("fortran_f8_be_3x2"))
    #expect(be.header.fortranOrder && be.dtype.isBigEndian)
    expectIdentical(try be.readAll(), Tensor(shape: [3, 2], scalars: (0..<6).map(Float.init)))
    expectIdentical(try NumPy.read(fixture("fortran_i2_1d")), Tensor(shape: [5], scalars: (0..<5).map(Float.init)))
  }

  @Test("Format versions 1.0, 2.0 and 3.0", arguments: [("dtype_f4_le", 1), ("version_2_0", 2), ("version_3_0", 3)])
  func versions(name: String, major: Int) throws {
    let file = try NpyFile(url: fixture(name))
    #expect(Int(file.header.majorVersion) == major && file.header.minorVersion == 0)
    #expect(file.header.dataOffset % 64 == 0)
    if major > 1 {
      expectIdentical(try file.readAll(), Tensor(shape: [2, 3], scalars: (0..<6).map(Float.init)))
    }
  }

  @Test func scalarsAndEmptyArrays() throws {
    let s = try NpyFile(url: fixture("scalar_f8"))
    #expect(s.shape == [])
    expectIdentical(try s.readAll(), Tensor(scalar: 3.25))
    #expect(npyError { _ = try s.readRows(0..<1) } == .notBatched(file: s.name))
    expectIdentical(try NumPy.read(fixture("scalar_i4")), Tensor(scalar: -7))

    let e = try NpyFile(url: fixture("empty_0x3"))
    #expect(e.shape == [0, 3] && e.rowCount == 0)
    expectIdentical(try e.readAll(), Tensor(shape: [0, 3], scalars: []))
    expectIdentical(try e.readRows(0..<0), Tensor(shape: [0, 3], scalars: []))
    expectIdentical(try NumPy.read(fixture("empty_0")), Tensor(shape: [0], scalars: []))
    let e3 = try NpyFile(url: fixture("empty_2x0x3"))
    expectIdentical(try e3.readAll(), Tensor(shape: [2, 0, 3], scalars: []))
    expectIdentical(try e3.readRows(1..<2), Tensor(shape: [1, 0, 3], scalars: []))
    expectIdentical(try NumPy.read(fixture("vector_5")), Tensor(shape: [5], scalars: [0, 0.5, 1, 1.5, 2]))
  }

  @Test("readRows reads a range of the first axis", arguments: ["dtype_f4_be", "dtype_i8_le", "dtype_b1"])
  func readRows(name: String) throws {
    let file = try NpyFile(url: fixture(name))
    let all = try file.readAll()
    for lower in 0...3 {
      for upper in lower...3 {
        expectIdentical(try file.readRows(lower..<upper), all.slice(batch: lower..<upper), "\(lower)..<\(upper)")
      }
    }
    #expect(npyError { _ = try file.readRows(2..<4) } == .rowsOutOfRange(file: file.name, requested: 2..<4, rows: 3))
    #expect(npyError { _ = try file.readRows(-1..<1) } != nil)
  }

  @Test func fileKinds() throws {
    #expect(try NumPy.fileKind(at: fixture("dtype_f4_le")) == .npy)
    #expect(try NumPy.fileKind(at: fixture("archive_stored", "npz")) == .zip)
    #expect(try NumPy.fileKind(at: fixture("archive_empty", "npz")) == .zip)
    #expect(try NumPy.fileKind(at: fixture("manifest", "json")) == .other)
  }

  @Test func missingFileAndDirectory() throws {
    let missing = URL(fileURLWithPath: "no-such-dir/missing.npy")
    let error = try #require(npyError { _ = try NumPy.read(missing) })
    #expect(error.description.hasPrefix("no-such-dir/missing.npy: cannot open ("))
    let dir = try makeTemporaryDirectory()
    defer { cleanup(dir) }
    #expect(npyError { _ = try NumPy.read(dir) } == .cannotOpen(file: dir.path, reason: "is a directory"))
  }
}

@Suite("Row streaming")
struct RowStreamingTests {
  @Test("Fortran-ordered rows equal the slices of the whole array", arguments: ["fortran_f4_2x3x4", "fortran_f8_be_3x2"])
  func fortranRows(name: String) throws {
    let file = try NpyFile(url: fixture(name))
    let all = try file.readAll()
    for lower in 0...file.rowCount {
      for upper in lower...file.rowCount {
        expectIdentical(try file.readRows(lower..<upper), all.slice(batch: lower..<upper), "\(name) \(lower)..<\(upper)")
      }
    }
  }
}
