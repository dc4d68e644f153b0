import Foundation
import LiftIO
import LiftTensor
import Testing

/// A fixture written by Scripts/fixtures/make_npy_fixtures.py.
func fixture(_ name: String, _ ext: String = "npy") throws -> URL {
  try #require(
    Bundle.module.url(forResource: name, withExtension: ext, subdirectory: "Fixtures"),
    "missing fixture \(name).\(ext)")
}

/// A fresh empty directory, removed by the caller with `cleanup`.
func makeTemporaryDirectory() throws -> URL {
  let url = FileManager.default.temporaryDirectory
    .appendingPathComponent("LiftIOTests-\(UUID().uuidString)", isDirectory: true)
  try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
  return url
}

func cleanup(_ url: URL) { try? FileManager.default.removeItem(at: url) }

/// Names in a directory (hidden ones included), sorted.
func listing(_ directory: URL) throws -> [String] {
  try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
}

/// Same shape and bit-identical scalars (any NaN matches any NaN; -0 differs from +0).
func expectIdentical(
  _ actual: Tensor, _ expected: Tensor, _ comment: String = "",
  sourceLocation: SourceLocation = #_sourceLocation
) {
  #expect(actual.shape == expected.shape, "\(comment) shape", sourceLocation: sourceLocation)
  guard actual.shape == expected.shape else { return }
  for i in 0..<actual.scalarCount {
    let a = actual.scalars[i], e = expected.scalars[i]
    if a.isNaN && e.isNaN { continue }
    if a.bitPattern != e.bitPattern {
      Issue.record("\(comment) [\(i)]: \(a) vs \(e)", sourceLocation: sourceLocation)
      return
    }
  }
}

/// The error a throwing expression throws, for `#expect(... == ...)` checks (`nil` if it
/// does not throw; another error type is recorded as an issue).
func npyError(_ body: () throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) -> NumpyIOError? {
  do {
    try body()
    return nil
  } catch let error as NumpyIOError {
    return error
  } catch {
    Issue.record("unexpected error \(error)", sourceLocation: sourceLocation)
    return nil
  }
}

/// A `.npy` image with an arbitrary header text (padded like NumPy) and data bytes.
func npyImage(header: String, version: UInt8 = 1, data: [UInt8] = [], pad: Bool = true) -> Data {
  var body = Array(header.utf8)
  let lengthBytes = version == 1 ? 2 : 4
  if pad {
    let total = 8 + lengthBytes + body.count + 1
    body += [UInt8](repeating: 0x20, count: (64 - total % 64) % 64)
    body.append(0x0A)
  }
  var out: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, version, 0]
  for i in 0..<lengthBytes { out.append(UInt8(truncatingIfNeeded: body.count >> (8 * i))) }
  return Data(out + body + data)
}

/// Little-endian float32 bytes.
func float32Bytes(_ values: [Float]) -> [UInt8] {
  values.flatMap { v in withUnsafeBytes(of: v.bitPattern.littleEndian) { Array($0) } }
}
