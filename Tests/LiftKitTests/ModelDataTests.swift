import Foundation
import LiftKit
import LiftNN
import LiftTensor
import Testing

/// `Model(data:name:)` (the C ABI's and the Python package's in-memory models) reads what
/// `Model(contentsOf:)` reads from the same bytes, and refuses junk with a message naming it.
@Suite("Model from bytes")
struct ModelDataTests {
  let onnxFixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("LiftONNXTests/Fixtures/genomics_cnn.onnx")

  /// The same explanation as from the file, for ONNX (read in memory) and Keras HDF5 (through a
  /// temporary file).
  @Test func sameModelAsTheFile() throws {
    let cases: [(URL, String, Shape)] = [
      (onnxFixture, "genomics_cnn.onnx", [3, 4, 40]),
      (layerFixtures.appendingPathComponent("cnn.h5"), "cnn.h5", try array("cnn.x.npy").shape),
    ]
    for (url, name, shape) in cases {
      let fromFile = try Model(contentsOf: url)
      let fromBytes = try Model(data: try Data(contentsOf: url), name: name)
      #expect(fromBytes.format == fromFile.format)
      #expect(fromBytes.layerNames == fromFile.layerNames)
      #expect(fromBytes.inputNames == fromFile.inputNames)
      #expect(fromBytes.url.lastPathComponent == name)
      var rng = SystemRandomNumberGenerator()
      let x = Tensor(shape: shape, scalars: (0..<shape.scalarCount).map { _ in Float.random(in: -1...1, using: &rng) })
      let a = try fromFile.explainer(method: .revealCancel).explain(inputs: [x])
      let b = try fromBytes.explainer(method: .revealCancel).explain(inputs: [x])
      #expect(a.scores == b.scores, "\(name)")
    }
  }

  @Test func junkIsRefusedNamingTheModel() throws {
    let onnx = try Data(contentsOf: onnxFixture)
    let hdf5 = Data([0x89, 0x48, 0x44, 0x46, 0x0D, 0x0A, 0x1A, 0x0A] + [UInt8](repeating: 0, count: 64))
    let cases: [(Data, String)] = [
      (Data(), "empty model bytes"), (onnx.prefix(200), "m.onnx"), (hdf5, "m"), (Data("PK\u{3}\u{4}zz".utf8), "m"),
    ]
    for (data, needle) in cases {
      do {
        _ = try Model(data: data, name: "m.onnx")
        Issue.record("no error for \(data.count) bytes")
      } catch {
        #expect(error.description.contains(needle), "\(error.description)")
      }
    }
  }
}
