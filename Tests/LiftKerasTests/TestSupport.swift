import Foundation
import LiftTensor
import Testing

/// URL of a committed fixture.
func fixture(_ name: String) throws -> URL {
  let url = Bundle.module.url(forResource: name, withExtension: nil, subdirectory: "Fixtures")
  return try #require(url, "missing fixture \(name)")
}

/// Minimal `.npy` reader for the fixtures (little-endian `<f4`, C order), so these tests do
/// not depend on another module's reader.
func loadNpy(_ name: String) throws -> Tensor {
  let bytes = [UInt8](try Data(contentsOf: try fixture(name)))
  try #require(bytes.count > 10 && bytes[0] == 0x93 && bytes[1...5].elementsEqual(Array("NUMPY".utf8)))
  let major = bytes[6]
  let headerLength: Int
  let start: Int
  if major == 1 {
    headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
    start = 10
  } else {
    headerLength = Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24
    start = 12
  }
  let header = String(decoding: bytes[start..<(start + headerLength)], as: UTF8.self)
  try #require(header.contains("'descr': '<f4'") && header.contains("'fortran_order': False"), "\(header)")
  let shapeText = try #require(header.split(separator: "(").dropFirst().first?.split(separator: ")").first)
  let shape = shapeText.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
  let count = shape.reduce(1, *)
  let data = Array(bytes[(start + headerLength)...])
  try #require(data.count == 4 * count)
  let scalars = (0..<count).map { i in
    Float(
      bitPattern: UInt32(data[4 * i]) | UInt32(data[4 * i + 1]) << 8 | UInt32(data[4 * i + 2]) << 16
        | UInt32(data[4 * i + 3]) << 24)
  }
  return Tensor(shape: Shape(shape), scalars: scalars)
}

/// `max|a − b| ≤ 1e-5·max|b| + 1e-6` with equal shapes.
func expectForwardClose(
  _ actual: Tensor, _ expected: Tensor, _ what: String, sourceLocation: SourceLocation = #_sourceLocation
) {
  guard actual.shape == expected.shape else {
    Issue.record("\(what): shape \(actual.shape) != \(expected.shape)", sourceLocation: sourceLocation)
    return
  }
  let scale = expected.scalars.map(abs).max() ?? 0
  let worst = zip(actual.scalars, expected.scalars).map { abs($0 - $1) }.max() ?? 0
  let bound = 1e-5 * scale + 1e-6
  #expect(worst <= bound, "\(what): max|diff| \(worst) > \(bound)", sourceLocation: sourceLocation)
}

/// A fresh temporary directory, removed by the caller.
func temporaryDirectory() throws -> URL {
  let url = FileManager.default.temporaryDirectory.appendingPathComponent("liftkeras-\(UUID().uuidString)")
  try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
  return url
}
