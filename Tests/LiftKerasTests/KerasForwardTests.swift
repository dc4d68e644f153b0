import Foundation
import LiftKeras
import LiftNN
import LiftTensor
import Testing

/// Imports each fixture model and compares our forward pass with Keras' own outputs (and some
/// intermediate layer outputs, by Keras layer name).
@Suite("Keras import: forward equality with Keras")
struct KerasForwardTests {
  struct Case: CustomTestStringConvertible, Sendable {
    var file: String
    var prefix: String
    var inputs: Int
    var outputs: Int
    var taps: [String]
    var testDescription: String { file }
  }

  static let cases: [Case] = [
    Case(file: "mlp.h5", prefix: "mlp", inputs: 1, outputs: 1, taps: ["hidden1"]),
    Case(file: "genomics_cnn.h5", prefix: "genomics_cnn", inputs: 1, outputs: 1, taps: ["conv", "pool"]),
    Case(file: "image_cnn.h5", prefix: "image_cnn", inputs: 1, outputs: 1, taps: ["conv", "bn", "avgpool"]),
    Case(
      file: "zoo.h5", prefix: "zoo", inputs: 1, outputs: 1,
      taps: ["prelu", "crop", "leaky", "bn_axis1", "gmax", "gavg", "d_gelu"]),
    Case(file: "two_input.h5", prefix: "two_input", inputs: 2, outputs: 2, taps: []),
    Case(file: "nested.h5", prefix: "nested", inputs: 1, outputs: 1, taps: ["encoder", "head"]),
    Case(file: "nested3.keras", prefix: "nested3", inputs: 1, outputs: 1, taps: ["encoder", "head"]),
    // Weights located by Keras' path rule only (no `vars/@name`, as in older Keras 3 files).
    Case(file: "nested3_noname.keras", prefix: "nested3", inputs: 1, outputs: 1, taps: ["encoder", "head"]),
    Case(file: "residual3_noname.keras", prefix: "residual3", inputs: 1, outputs: 1, taps: ["add", "min"]),
    Case(
      file: "conv_variants.h5", prefix: "conv_variants", inputs: 2, outputs: 1,
      taps: [
        "grouped", "rect", "crop2", "gmax_keep", "c1d", "ap1d", "mp1d", "perm", "softmax_axis1",
        "softmax_last", "depthwise", "separable", "separable1d",
      ]),
    Case(
      file: "conv_variants3.keras", prefix: "conv_variants3", inputs: 2, outputs: 1,
      taps: [
        "grouped", "rect", "crop2", "gmax_keep", "c1d", "ap1d", "mp1d", "perm", "softmax_axis1",
        "softmax_last", "depthwise", "separable", "separable1d",
      ]),
    Case(
      file: "residual.h5", prefix: "residual", inputs: 1, outputs: 1,
      taps: ["add", "sub", "avg", "max", "min"]),
    Case(file: "legacy22_mlp.h5", prefix: "legacy22_mlp", inputs: 1, outputs: 1, taps: []),
    Case(file: "legacy22_residual.h5", prefix: "legacy22_residual", inputs: 1, outputs: 1, taps: []),
    Case(file: "image_cnn3.keras", prefix: "image_cnn3", inputs: 1, outputs: 1, taps: ["conv", "bn"]),
    Case(file: "residual3.keras", prefix: "residual3", inputs: 1, outputs: 1, taps: ["add", "min"]),
    Case(file: "residual3.h5", prefix: "residual3", inputs: 1, outputs: 1, taps: ["add", "min"]),
    Case(
      file: "zoo3.keras", prefix: "zoo3", inputs: 1, outputs: 1,
      taps: ["prelu", "crop", "leaky", "bn_axis1", "gmax", "gavg", "d_gelu"]),
  ]

  @Test(arguments: cases)
  func forwardMatchesKeras(_ c: Case) throws {
    let graph = try loadKerasModel(at: try fixture(c.file))
    let xs =
      c.inputs == 1
      ? [try loadNpy("\(c.prefix).x.npy")] : try (0..<c.inputs).map { try loadNpy("\(c.prefix).x\($0).npy") }
    let ys =
      c.outputs == 1
      ? [try loadNpy("\(c.prefix).y.npy")] : try (0..<c.outputs).map { try loadNpy("\(c.prefix).y\($0).npy") }
    #expect(graph.inputs.count == c.inputs)
    #expect(graph.outputs.count == c.outputs)
    let values = try forward(graph, inputs: xs)
    for (i, (output, expected)) in zip(graph.outputs, ys).enumerated() {
      expectForwardClose(values[output.rawValue], expected, "\(c.file) output \(i)")
    }
    for tap in c.taps {
      let id = try #require(graph.node(named: tap), "\(c.file): no node \(tap)")
      expectForwardClose(
        values[id.rawValue], try loadNpy("\(c.prefix).at.\(tap).npy"), "\(c.file) layer \(tap)")
    }
  }
}
