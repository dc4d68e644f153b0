import Foundation
import LiftNN
import LiftTensor
import Testing

@testable import LiftKeras

/// keras.applications ConvNeXt's `LayerScale` (Keras ConvNeXtTiny in issue 19's table) against
/// Keras' own output (Scripts/fixtures/make_integration_fixtures.py).
@Suite("Keras import: ConvNeXt LayerScale")
struct KerasLayerScaleTests {
  @Test func forwardMatchesKeras() throws {
    let graph = try loadKerasModel(at: try fixture("layerscale_k3.keras"))
    #expect(graph.nodes.contains { $0.origin == "LayerScale" && $0.op.kindName == "affine" })
    let y = try forward(graph, inputs: [try loadNpy("layerscale_k3.x.npy")])[graph.outputs[0].rawValue]
    expectForwardClose(y, try loadNpy("layerscale_k3.y.npy"), "layerscale_k3.keras")
  }
}
