import Foundation
import LiftAttribution
import LiftNN
import LiftTensor
import Testing

@testable import LiftONNX

/// `Fixtures/unary/NAME.json`, written by Scripts/fixtures/make_unary_fixtures.py: inputs,
/// onnxruntime's outputs, a per-example reference (or one per input), and where present
/// DeepLIFT Rescale scores `[T, N, …]` computed by hand in float64 numpy from the definition.
private struct UnaryFixture: Decodable {
  var model: String
  var inputs: [FixtureArray]
  var outputs: [FixtureArray]
  var reference: FixtureArray?
  var references: [FixtureArray]?
  var rescale_reference: FixtureArray?
  var rescale_zeros: FixtureArray?

  static let directory = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!
    .appendingPathComponent("unary")

  static func load(_ name: String) throws -> (Graph, UnaryFixture) {
    let json = try Data(contentsOf: directory.appendingPathComponent(name + ".json"))
    let graph = try loadONNXModel(at: directory.appendingPathComponent(name + ".onnx"))
    return (graph, try JSONDecoder().decode(UnaryFixture.self, from: json))
  }

  var referenceTensors: [Tensor] { references?.map(\.tensor) ?? [reference!.tensor] }
}

/// Scores `[N, T, …]` (ours) against a golden `[T, N, …]`: max |diff| ≤ 1e-4·max(1, max|golden|).
private func expectScores(_ ours: Tensor, _ golden: FixtureArray, _ label: String) {
  let t = golden.shape[0], n = golden.shape[1], f = golden.shape[2...].reduce(1, *)
  #expect(ours.shape.dimensions == [n, t] + Array(golden.shape[2...]), "\(label): shape \(ours.shape)")
  guard ours.scalarCount == golden.data.count else { return }
  let scale = golden.data.map(abs).max() ?? 0
  var worst = 0.0
  for ti in 0..<t {
    for ni in 0..<n {
      for fi in 0..<f {
        worst = max(worst, abs(Double(ours.scalars[(ni * t + ti) * f + fi]) - golden.data[(ti * n + ni) * f + fi]))
      }
    }
  }
  #expect(worst <= 1e-4 * max(scale, 1), "\(label): max |diff| \(worst), max |score| \(scale)")
}

/// Σ scores over every input against Δ of each task, within 1e-4·max(1, |Δ|).
private func expectSummation(
  _ graph: Graph, inputs: [Tensor], references: [Tensor], method: AttributionMethod, maxPool: MaxPoolRule = .gradient,
  tasks: [Int], _ label: String
) throws {
  var options = ExplainOptions()
  options.method = method
  options.maxPool = maxPool
  options.tasks = tasks
  let e = try Explainer(graph: graph, options: options)
  let scores = try e.explain(inputs: inputs, references: .perExample(references)).scores
  let out = e.target.rawValue
  let fx = try forward(graph, inputs: inputs)[out], fr = try forward(graph, inputs: references)[out]
  let n = inputs[0].shape[0], size = fx.scalarCount / n
  for i in 0..<n {
    for (ti, task) in tasks.enumerated() {
      var total = 0.0
      for s in scores {
        let per = s.scalarCount / (n * tasks.count)
        let base = (i * tasks.count + ti) * per
        for j in 0..<per { total += Double(s.scalars[base + j]) }
      }
      let delta = Double(fx.scalars[i * size + task]) - Double(fr.scalars[i * size + task])
      #expect(
        abs(total - delta) <= 1e-4 * max(1, abs(delta)),
        "\(label) \(method) \(maxPool) example \(i) task \(task): Σ \(total) vs Δ \(delta)")
    }
  }
}

@Suite("ONNX Exp, Log, Sqrt, Pow (issue 19)")
struct ONNXUnaryTests {
  static let expected: [(String, Activation)] = [
    ("exp", .exp), ("log", .log), ("sqrt", .sqrt), ("pow2", .pow(exponent: 2)),
    ("pow_half", .pow(exponent: 0.5)), ("pow3", .pow(exponent: 3)),
  ]

  @Test(arguments: expected.map(\.0))
  func importsTheOpAndMatchesOnnxRuntime(_ name: String) throws {
    let (graph, fixture) = try UnaryFixture.load(name)
    let activations = graph.nodes.compactMap { n -> Activation? in
      if case .activation(let a) = n.op { a } else { nil }
    }
    let want = try #require(Self.expected.first { $0.0 == name }?.1)
    #expect(activations == [.softplus, want], "\(name): \(activations)")
    let y = try forward(graph, inputs: [fixture.inputs[0].tensor])[graph.outputs[0].rawValue]
    expectMatches(y, fixture.outputs[0], name)
  }

  /// Rescale (and genomics-default, which takes Rescale for these ops) against the hand
  /// computation of the chained secants, both references, every task.
  @Test(arguments: expected.map(\.0))
  func rescaleMatchesTheDefinition(_ name: String) throws {
    let (graph, fixture) = try UnaryFixture.load(name)
    let x = fixture.inputs[0].tensor
    for (refs, golden) in [
      (References.perExample([fixture.reference!.tensor]), fixture.rescale_reference!), (.zeros, fixture.rescale_zeros!),
    ] {
      var options = ExplainOptions()
      options.tasks = [0, 1, 2]
      options.method = .rescale
      let ours = try Explainer(graph: graph, options: options).explain(inputs: [x], references: refs).scores[0]
      expectScores(ours, golden, "\(name) rescale")
    }
  }

  @Test(arguments: expected.map(\.0))
  func summationToDeltaForEveryDeepLIFTMethod(_ name: String) throws {
    let (graph, fixture) = try UnaryFixture.load(name)
    for method in [AttributionMethod.rescale, .revealCancel, .genomicsDefault] {
      try expectSummation(
        graph, inputs: [fixture.inputs[0].tensor], references: fixture.referenceTensors, method: method,
        tasks: [0, 2], name)
    }
  }

  /// A Pow whose exponent is a graph tensor is refused, naming the node.
  @Test func powWithAGraphExponentIsRefused() throws {
    let data = try modelData(
      nodes: [nodeProto("Pow", ["x", "x"], ["y"], name: "pw")], inputDims: [.dimParam("n"), .dimValue(3)], opset: 15)
    let error = #expect(throws: ONNXImportError.self) { try loadONNXModel(from: data) }
    #expect("\(error!)".contains("pw") && "\(error!)".contains("non-constant exponent"), "\(error!)")
  }
}

@Suite("ONNX ReduceSum, ReduceMean, ReduceMax, ReduceLogSumExp (issue 19)")
struct ONNXReductionTests {
  static let names = [
    "reducesum_attr_a1_keep", "reducesum_input_a12", "reducesum_input_neg1", "reducesum_noop",
    "reducemean_attr_a1", "reducemean_input_a1_keep", "reducemax_attr_a1", "reducemax_input_a12_keep",
    "reducelse_attr_a1", "reducelse_input_a2_keep", "reducelse_input_a12",
  ]

  @Test(arguments: names)
  func forwardMatchesOnnxRuntime(_ name: String) throws {
    let (graph, fixture) = try UnaryFixture.load(name)
    let y = try forward(graph, inputs: [fixture.inputs[0].tensor])[graph.outputs[0].rawValue]
    expectMatches(y, fixture.outputs[0], name)
  }

  /// Sums, means and log-sum-exp against Rescale by hand (linear adjoints; the
  /// exp → sum → log decomposition with its secants in numpy).
  @Test(arguments: names)
  func rescaleMatchesTheDefinition(_ name: String) throws {
    let (graph, fixture) = try UnaryFixture.load(name)
    guard let golden = fixture.rescale_reference else { return }
    var options = ExplainOptions()
    options.tasks = [0, 1]
    let ours = try Explainer(graph: graph, options: options)
      .explain(inputs: [fixture.inputs[0].tensor], references: .perExample([fixture.reference!.tensor])).scores[0]
    expectScores(ours, golden, name)
  }

  @Test(arguments: names)
  func summationToDelta(_ name: String) throws {
    let (graph, fixture) = try UnaryFixture.load(name)
    for method in [AttributionMethod.rescale, .revealCancel] {
      for rule in [MaxPoolRule.deepshap] + (name.hasPrefix("reducemax") ? [] : [.gradient]) {
        try expectSummation(
          graph, inputs: [fixture.inputs[0].tensor], references: fixture.referenceTensors, method: method,
          maxPool: rule, tasks: [0, 1], name)
      }
    }
  }
}

@Suite("bpnet-lite count heads load and sum to delta (issue 19)")
struct BPNetCountHeadTests {
  @Test(arguments: ["bpnet_counts", "chrombpnet_counts"])
  func loadsMatchesOnnxRuntimeAndSumsToDelta(_ name: String) throws {
    let (graph, fixture) = try UnaryFixture.load(name)
    let inputs = fixture.inputs.map(\.tensor)
    let y = try forward(graph, inputs: inputs)[graph.outputs[0].rawValue]
    expectMatches(y, fixture.outputs[0], name)
    for method in [AttributionMethod.rescale, .revealCancel] {
      try expectSummation(
        graph, inputs: inputs, references: fixture.referenceTensors, method: method, maxPool: .deepshap, tasks: [0],
        name)
    }
  }
}
