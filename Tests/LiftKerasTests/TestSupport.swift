import Foundation
import LiftIO
import LiftTensor
import Testing

/// URL of a committed fixture.
func fixture(_ name: String) throws -> URL {
  let url = Bundle.module.url(forResource: name, withExtension: nil, subdirectory: "Fixtures")
  return try #require(url, "missing fixture \(name)")
}

/// A committed `.npy` fixture (read with LiftIO).
func loadNpy(_ name: String) throws -> Tensor {
  try NumPy.read(try fixture(name))
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
