import Foundation
import LiftAttribution
import LiftKeras
import LiftNN
import LiftTensor
import Testing

/// hard_sigmoid, hard_silu, mish, relu6 and ReLU(max_value=6) against Keras' own outputs
/// (Scripts/fixtures/make_activation_fixtures.py), and the refusal that names every
/// unsupported layer (issue 20).
@Suite("Keras import: hard-sigmoid, hard-swish, Mish, ReLU6 (issue 20)")
struct KerasActivationTests {
  struct Case: CustomTestStringConvertible, Sendable {
    var file: String
    var prefix: String
    var taps: [String]
    /// α of `hard_sigmoid` in the writer's Keras: tf-keras 0.2, Keras 3 1/6.
    var hardSigmoidAlpha: Float
    var testDescription: String { file }
  }

  static let cases: [Case] = [
    Case(file: "acts_tfk.h5", prefix: "acts_tfk", taps: ["d_hsig", "d_mish", "relu_cap", "d_relu6"], hardSigmoidAlpha: 0.2),
    Case(
      file: "acts_k3.keras", prefix: "acts_k3", taps: ["d_hsig", "d_mish", "relu_cap", "d_relu6", "a_hswish"],
      hardSigmoidAlpha: 1.0 / 6),
    Case(
      file: "acts_k3.h5", prefix: "acts_k3", taps: ["d_hsig", "d_mish", "relu_cap", "d_relu6", "a_hswish"],
      hardSigmoidAlpha: 1.0 / 6),
  ]

  @Test(arguments: cases)
  func forwardMatchesKeras(_ c: Case) throws {
    let graph = try loadKerasModel(at: try fixture(c.file))
    let hsig = try #require(graph.node(named: "d_hsig"))
    guard case .activation(.hardSigmoid(let alpha, let beta)) = graph[hsig].op else {
      Issue.record("d_hsig is \(graph[hsig].op.kindName)")
      return
    }
    #expect(alpha == c.hardSigmoidAlpha && beta == 0.5)
    let values = try forward(graph, inputs: [try loadNpy("\(c.prefix).x.npy")])
    expectForwardClose(values[graph.outputs[0].rawValue], try loadNpy("\(c.prefix).y.npy"), c.file)
    for tap in c.taps {
      let id = try #require(graph.node(named: tap), "\(c.file): no node \(tap)")
      expectForwardClose(values[id.rawValue], try loadNpy("\(c.prefix).at.\(tap).npy"), "\(c.file) layer \(tap)")
    }
  }

  @Test(arguments: cases)
  func summationToDelta(_ c: Case) throws {
    let graph = try loadKerasModel(at: try fixture(c.file))
    let x = try loadNpy("\(c.prefix).x.npy")
    let r = Tensor(shape: x.shape, scalars: x.scalars.map { -0.5 * $0 })
    let out = graph.outputs[0].rawValue
    let fx = try forward(graph, inputs: [x])[out], fr = try forward(graph, inputs: [r])[out]
    for method in [AttributionMethod.rescale, .revealCancel] {
      var options = ExplainOptions()
      options.method = method
      options.tasks = [2]
      let s = try Explainer(graph: graph, options: options).explain(inputs: [x], references: .perExample([r])).scores[0]
      let (n, f) = (x.shape[0], x.shape[1])
      for i in 0..<n {
        let total = (0..<f).reduce(0.0) { $0 + Double(s.scalars[i * f + $1]) }
        let delta = Double(fx.scalars[i * 3 + 2] - fr.scalars[i * 3 + 2])
        #expect(abs(total - delta) <= 1e-4 * max(1, abs(delta)), "\(c.file) \(method) example \(i): \(total) vs \(delta)")
      }
    }
  }

  /// A bare configuration does not say which Keras wrote it, and `hard_sigmoid` changed its
  /// formula in Keras 3: refused unless the version is given.
  @Test func hardSigmoidOfAnUnknownVersionIsRefused() throws {
    let config = Data(
      #"""
      {"class_name": "Sequential", "config": [
        {"class_name": "Activation", "config": {"name": "hs", "batch_input_shape": [null, 4], "activation": "hard_sigmoid"}}]}
      """#.utf8)
    let error = #expect(throws: KerasImportError.self) { try KerasConfigImporter().importGraph(configJSON: config) }
    #expect(error?.description.contains("Keras version") == true, "\(String(describing: error))")
    for (version, alpha) in [("2.21.0", Float(0.2)), ("3.15.1", Float(1.0 / 6))] {
      let graph = try KerasConfigImporter(kerasVersion: version).importGraph(configJSON: config)
      let id = try #require(graph.node(named: "hs"))
      guard case .activation(.hardSigmoid(let a, 0.5)) = graph[id].op else {
        Issue.record("hs is \(graph[id].op.kindName)")
        continue
      }
      #expect(a == alpha, "Keras \(version)")
    }
  }

  /// `activation="exponential"` (tf-keras and Keras 3: `ops.exp`) is the exp activation.
  @Test func exponentialActivationIsExp() throws {
    let config = Data(
      #"""
      {"class_name": "Sequential", "config": [
        {"class_name": "Activation", "config": {"name": "ex", "batch_input_shape": [null, 3], "activation": "exponential"}}]}
      """#.utf8)
    let graph = try KerasConfigImporter().importGraph(configJSON: config)
    let id = try #require(graph.node(named: "ex"))
    guard case .activation(.exp) = graph[id].op else {
      Issue.record("ex is \(graph[id].op.kindName)")
      return
    }
    let x = Tensor(shape: [1, 3], scalars: [-1, 0, 2])
    let y = try forward(graph, inputs: [x])[id.rawValue]
    for (v, want) in zip(y.scalars, [Foundation.exp(-1.0), 1, Foundation.exp(2.0)]) {
      #expect(abs(Double(v) - want) <= 1e-6 * want)
    }
  }

  /// Every unsupported layer class is named in one error, with all its layers.
  @Test func everyUnsupportedLayerIsNamed() throws {
    let error = #expect(throws: KerasImportError.self) {
      try loadKerasModel(at: try fixture("unsupported_layers.h5"))
    }
    let expected = UnsupportedKinds([
      // Its Embedding reads the model input (a token-id input) and its LSTM is supported.
      .init(kind: "Lambda", names: ["double", "shift"]),
    ])
    #expect(error == .unsupportedLayers(file: "unsupported_layers.h5", expected))
    #expect(
      error?.description
        == "unsupported_layers.h5: unsupported layers: Lambda (layers double, shift) — 2 layers of 1 class"
          + " (a Lambda layer holds Python code that the file cannot carry: re-save the model with built-in layers in place of the Lambda, or export it to ONNX)"
    )
  }

  /// The same from an inline configuration: classes in first-met order, shared kinds grouped.
  @Test func configWithThreeUnsupportedClasses() throws {
    let config = Data(
      #"""
      {"class_name": "Sequential", "config": [
        {"class_name": "ConvLSTM1D", "config": {"name": "g", "batch_input_shape": [null, 4, 3], "units": 2}},
        {"class_name": "Dense", "config": {"name": "d", "units": 2}},
        {"class_name": "Masking", "config": {"name": "mask1"}},
        {"class_name": "Masking", "config": {"name": "mask2"}},
        {"class_name": "MyCustom", "config": {"name": "c"}}]}
      """#.utf8)
    let error = #expect(throws: KerasImportError.self) {
      try KerasConfigImporter(file: "m.json").importGraph(configJSON: config)
    }
    #expect(
      error?.description
        == "m.json: unsupported layers: ConvLSTM1D (layer g), Masking (layers mask1, mask2), MyCustom (layer c) — 4 layers of 3 classes")
  }
}
