import Foundation
import LiftKeras
import LiftNN
import LiftTensor
import Testing

/// Keras `Multiply` (three inputs: a chain of products) and `Dot` (vectors, and per-example
/// matrices contracted on either axis) against Keras' own outputs, tf_keras .h5 and Keras 3
/// .keras (Scripts/fixtures/make_keras_product_fixtures.py).
@Suite("Keras import: Multiply and Dot (issue 19)")
struct KerasProductTests {
  static let taps = ["mul3", "dot_vec", "dot_att", "dot_t"]

  @Test(arguments: [("products_tfk.h5", "products_tfk"), ("products_k3.keras", "products_k3")])
  func forwardMatchesKeras(file: String, prefix: String) throws {
    let graph = try loadKerasModel(at: try fixture(file))
    let values = try forward(graph, inputs: [try loadNpy("\(prefix).x.npy")])
    expectForwardClose(values[graph.outputs[0].rawValue], try loadNpy("\(prefix).y.npy"), file)
    for tap in Self.taps {
      let id = try #require(graph.node(named: tap), "\(file): no node \(tap)")
      expectForwardClose(values[id.rawValue], try loadNpy("\(prefix).at.\(tap).npy"), "\(file) layer \(tap)")
    }
    let kinds = graph.nodes.map(\.op.kindName)
    #expect(kinds.filter { $0 == "multiply" }.count == 3)  // mul3 (two) and dot_vec
    #expect(kinds.filter { $0 == "matmul" }.count == 2)
  }
}
