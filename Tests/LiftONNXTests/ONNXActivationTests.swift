import Foundation
import LiftAttribution
import LiftNN
import LiftTensor
import Testing

@testable import LiftONNX

/// `Fixtures/activations/NAME.json`, written by Scripts/fixtures/make_activation_fixtures.py:
/// a torch `Linear-ACT-Linear` model's input, onnxruntime output, a per-example reference and
/// DeepLIFT Rescale scores `[task, N, features]` computed by hand in float64 numpy.
private struct ActivationFixture: Decodable {
  var model: String
  var inputs: [FixtureArray]
  var outputs: [FixtureArray]
  var reference: FixtureArray
  var rescale_reference: FixtureArray
  var rescale_zeros: FixtureArray

  static let directory = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!
    .appendingPathComponent("activations")

  static func load(_ name: String) throws -> (Graph, ActivationFixture) {
    let json = try Data(contentsOf: directory.appendingPathComponent(name + ".json"))
    let graph = try loadONNXModel(at: directory.appendingPathComponent(name + ".onnx"))
    return (graph, try JSONDecoder().decode(ActivationFixture.self, from: json))
  }
}

@Suite("ONNX import: hard-sigmoid, hard-swish, Mish, ReLU6 (issue 20)")
struct ONNXActivationTests {
  /// Fixture → the activation the importer must produce.
  static let expected: [(String, Activation)] = [
    ("hardswish", .hardSwish),
    ("hardswish_opset13", .hardSwish),  // Mul(x, HardSigmoid(x)) fused
    ("hardsigmoid", .hardSigmoid(alpha: 1.0 / 6, beta: 0.5)),  // torch's α
    ("hardsigmoid_default", .hardSigmoid(alpha: 0.2, beta: 0.5)),  // ONNX defaults
    ("mish", .mish),  // torch's Mul(x, Tanh(Softplus(x))) fused
    ("mish_node", .mish),
    ("relu6", .clip(lower: 0, upper: 6)),
  ]
  static var names: [String] { expected.map(\.0) }

  @Test(arguments: expected.map(\.0))
  func importsOneActivationAndMatchesOnnxRuntime(_ name: String) throws {
    let (graph, fixture) = try ActivationFixture.load(name)
    let activations = graph.nodes.compactMap { n -> Activation? in
      if case .activation(let a) = n.op { a } else { nil }
    }
    let want = try #require(Self.expected.first { $0.0 == name }?.1)
    #expect(activations == [want], "\(name): \(activations)")
    let y = try forward(graph, inputs: [fixture.inputs[0].tensor])[graph.outputs[0].rawValue]
    expectMatches(y, fixture.outputs[0], name)
  }

  /// Rescale scores against the hand computation, both references, every task.
  @Test(arguments: expected.map(\.0))
  func rescaleMatchesTheDefinition(_ name: String) throws {
    let (graph, fixture) = try ActivationFixture.load(name)
    let x = fixture.inputs[0].tensor
    for (refs, golden) in [
      (References.perExample([fixture.reference.tensor]), fixture.rescale_reference),
      (.zeros, fixture.rescale_zeros),
    ] {
      var options = ExplainOptions()
      options.method = .rescale
      options.tasks = [0, 1, 2]
      let ours = try Explainer(graph: graph, options: options).explain(inputs: [x], references: refs).scores[0]
      // Ours: [N, T, F]; the golden: [T, N, F].
      let (t, n, f) = (golden.shape[0], golden.shape[1], golden.shape[2])
      #expect(ours.shape.dimensions == [n, t, f])
      guard ours.shape.dimensions == [n, t, f] else { continue }
      let scale = golden.data.map(abs).max() ?? 0
      var worst = 0.0
      for ti in 0..<t {
        for ni in 0..<n {
          for fi in 0..<f {
            let a = Double(ours.scalars[(ni * t + ti) * f + fi])
            worst = max(worst, abs(a - golden.data[(ti * n + ni) * f + fi]))
          }
        }
      }
      #expect(worst <= 1e-4 * max(scale, 1), "\(name): max |diff| \(worst), max |score| \(scale)")
    }
  }

  /// Every DeepLIFT method sums to Δf through the new activations.
  @Test(arguments: expected.map(\.0))
  func summationToDelta(_ name: String) throws {
    let (graph, fixture) = try ActivationFixture.load(name)
    let x = fixture.inputs[0].tensor, r = fixture.reference.tensor
    let out = graph.outputs[0].rawValue
    let fx = try forward(graph, inputs: [x])[out], fr = try forward(graph, inputs: [r])[out]
    for method in [AttributionMethod.rescale, .revealCancel] {
      var options = ExplainOptions()
      options.method = method
      options.tasks = [1]
      let s = try Explainer(graph: graph, options: options)
        .explain(inputs: [x], references: .perExample([r])).scores[0]
      let (n, f) = (x.shape[0], x.shape[1])
      for i in 0..<n {
        let total = (0..<f).reduce(0.0) { $0 + Double(s.scalars[i * f + $1]) }
        let delta = Double(fx.scalars[i * 3 + 1] - fr.scalars[i * 3 + 1])
        #expect(abs(total - delta) <= 1e-4 * max(1, abs(delta)), "\(name) \(method) example \(i): \(total) vs \(delta)")
      }
    }
  }
}

@Suite("ONNX import: every unsupported operator is named (issue 20)")
struct ONNXUnsupportedListTests {
  /// Scripts/fixtures/make_activation_fixtures.py: Relu, LSTM `lstm_1` (supported since the
  /// recurrent layers are unrolled), Squeeze, DepthToSpace `up1`, DepthToSpace `up2`,
  /// com.microsoft FusedConv `fc`.
  @Test func fixtureWithLSTMDepthToSpaceAndAForeignDomain() throws {
    let error = #expect(throws: ONNXImportError.self) {
      try loadONNXModel(at: try fixtureURL("unsupported_ops", "onnx"))
    }
    let expected = UnsupportedKinds([
      .init(kind: "DepthToSpace", names: ["up1", "up2"]),
      .init(kind: "com.microsoft.FusedConv", names: ["fc"]),
    ])
    #expect(error == .unsupportedOperators(expected, opset: 17))
    #expect(
      error?.description
        == "unsupported operators (opset 17): DepthToSpace (nodes up1, up2), com.microsoft.FusedConv (node fc) — 3 nodes of 2 operator types"
    )
  }

  /// Two different operators built in Swift; a single one keeps the one-node message.
  @Test func handBuilt() throws {
    let two = try modelData(
      nodes: [
        nodeProto("Relu", ["x"], ["a"], name: "r"), nodeProto("Erf", ["a"], ["b"], name: "e"),
        nodeProto("Relu", ["b"], ["c"], name: "r2"), nodeProto("NonMaxSuppression", ["c"], ["y"], name: "sum"),
      ], inputDims: [.dimParam("n"), .dimValue(4)])
    #expect(
      throws: ONNXImportError.unsupportedOperators(
        UnsupportedKinds([.init(kind: "Erf", names: ["e"]), .init(kind: "NonMaxSuppression", names: ["sum"])]), opset: 17)
    ) { try loadONNXModel(from: two) }
    let one = try modelData(
      nodes: [nodeProto("Relu", ["x"], ["a"], name: "r"), nodeProto("Erf", ["a"], ["y"], name: "e")],
      inputDims: [.dimParam("n"), .dimValue(4)])
    #expect(throws: ONNXImportError.unsupportedOperator(opType: "Erf", node: "e", opset: 17)) {
      try loadONNXModel(from: one)
    }
  }
}
