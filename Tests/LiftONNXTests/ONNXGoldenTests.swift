import Foundation
import LiftAttribution
import LiftIO
import LiftNN
import LiftTensor
import Testing

@testable import LiftONNX

/// Goldens for ONNX models written by Scripts/fixtures/make_onnx_goldens.py: Captum 0.9, SHAP
/// DeepExplainer and tangermeme `deep_lift_shap` on torch models (float64), exported with
/// `torch.onnx.export` (TorchScript exporter, opset 17, dynamic batch).
enum ONNXGoldens {
  static let directory = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!
    .appendingPathComponent("goldens")

  nonisolated(unsafe) static let manifest: [String: Any] = {
    let data = try! Data(contentsOf: directory.appendingPathComponent("onnx_goldens.json"))
    return try! JSONSerialization.jsonObject(with: data) as! [String: Any]
  }()

  static var models: [[String: Any]] { manifest["models"] as! [[String: Any]] }
  static var modelNames: [String] { models.map { $0["name"] as! String } }

  static func model(_ name: String) -> [String: Any] {
    models.first { $0["name"] as? String == name }!
  }

  static func read(_ file: String) throws -> Tensor {
    try NumPy.read(directory.appendingPathComponent(file))
  }

  static func graph(_ file: String) throws -> Graph {
    try loadONNXModel(at: directory.appendingPathComponent(file))
  }

  static func references(_ model: [String: Any], _ kind: String) throws -> References {
    let files = model["references"] as! [String: String]
    switch kind {
    case "zeros": return .zeros
    case "per-example": return .perExample([try read(files["per-example"]!)])
    case "background": return .background([try read(files["background"]!)])
    case "multiple": return .multiple([try read(files["multiple"]!)])
    default: fatalError("unknown reference kind \(kind)")
    }
  }

  static var cases: [ONNXGoldenCase] {
    (manifest["cases"] as! [[String: Any]]).enumerated().map { i, c in
      ONNXGoldenCase(
        index: i, model: c["model"] as! String, oracle: c["oracle"] as! String,
        method: c["method"] as! String,
        reference: c["reference"] as! String, task: c["task"] as! Int, scores: c["scores"] as! String,
        maxPool: (c["maxpool"] as? String).flatMap(MaxPoolRule.init(rawValue:)),
        steps: c["steps"] as? Int, igMethod: c["ig_method"] as? String,
        hypothetical: c["hypothetical"] as? Bool ?? false,
        channelSum: c["compare"] as? String == "channel-sum")
    }
  }
}

struct ONNXGoldenCase: Sendable, CustomTestStringConvertible {
  let index: Int
  let model, oracle, method, reference: String
  let task: Int
  let scores: String
  let maxPool: MaxPoolRule?
  let steps: Int?
  let igMethod: String?
  let hypothetical: Bool
  let channelSum: Bool

  var testDescription: String {
    "#\(index) \(model) \(method) \(reference) task \(task) [\(oracle)]"
      + (maxPool.map { " maxpool \($0.rawValue)" } ?? "")
      + (igMethod.map { " \($0) \(steps ?? 0)" } ?? "") + (hypothetical ? " hyp" : "")
      + (channelSum ? " channel sums" : "")
  }
}

/// |ours − theirs| ≤ 5e-4·max|theirs| + 1e-3·|theirs| elementwise (the issue's tolerance).
func expectONNXGolden(
  _ ours: Tensor, _ theirs: Tensor, _ what: String, sourceLocation: SourceLocation = #_sourceLocation
) {
  guard ours.shape == theirs.shape else {
    Issue.record("\(what): shape \(ours.shape) vs \(theirs.shape)", sourceLocation: sourceLocation)
    return
  }
  let scale = theirs.scalars.map(abs).max() ?? 0
  var worst: (Int, Float, Float)? = nil
  var worstExcess: Float = 0
  for i in 0..<ours.scalarCount {
    let excess = abs(ours.scalars[i] - theirs.scalars[i]) - (5e-4 * scale + 1e-3 * abs(theirs.scalars[i]))
    if excess > worstExcess || ours.scalars[i].isNaN {
      worstExcess = ours.scalars[i].isNaN ? .infinity : excess
      worst = (i, ours.scalars[i], theirs.scalars[i])
    }
  }
  if let (i, a, b) = worst {
    Issue.record(
      "\(what): element \(i): ours \(a) vs theirs \(b), scale \(scale)", sourceLocation: sourceLocation)
  }
}

/// Sums a `[N, C, …]` tensor over axis 1 → `[N, …]`.
func channelSums(_ t: Tensor) -> Tensor {
  let n = t.shape[0]
  let c = t.shape[1]
  let inner = t.scalarCount / max(n * c, 1)
  var out = [Float](repeating: 0, count: n * inner)
  for i in 0..<n {
    for k in 0..<c {
      for j in 0..<inner { out[i * inner + j] += t.scalars[(i * c + k) * inner + j] }
    }
  }
  return Tensor(shape: Shape([n] + Array(t.shape.dimensions.dropFirst(2))), scalars: out)
}

@Suite("ONNX goldens: Captum 0.9, SHAP DeepExplainer, tangermeme")
struct ONNXGoldenTests {
  @Test("Forward pass equals ONNX Runtime", arguments: ONNXGoldens.modelNames)
  func forwardPass(_ name: String) throws {
    let m = ONNXGoldens.model(name)
    let graph = try ONNXGoldens.graph(m["file"] as! String)
    let x = try ONNXGoldens.read(m["input"] as! String)
    let expected = try ONNXGoldens.read(m["forward_ort"] as! String)
    let y = try forward(graph, inputs: [x])[graph.outputs[0].rawValue]
    #expect(y.shape == expected.shape)
    let scale = expected.scalars.map(abs).max() ?? 0
    for (a, b) in zip(y.scalars, expected.scalars) {
      #expect(abs(a - b) <= 1e-5 * scale + 1e-6, "\(name): \(a) vs \(b)")
    }
  }

  @Test(arguments: ONNXGoldens.cases)
  func golden(_ c: ONNXGoldenCase) throws {
    let m = ONNXGoldens.model(c.model)
    let graph = try ONNXGoldens.graph(m["file"] as! String)
    let x = try ONNXGoldens.read(m["input"] as! String)
    var options = ExplainOptions()
    options.method = try #require(AttributionMethod(rawValue: c.method))
    options.tasks = [c.task]
    options.channelAxis = 1
    options.hypothetical = c.hypothetical
    if let p = c.maxPool { options.maxPool = p }
    if let s = c.steps { options.steps = s }
    if let q = c.igMethod { options.integration = try #require(IntegrationRule(rawValue: q)) }
    let refs = try ONNXGoldens.references(m, c.reference)
    let ours = try Explainer(graph: graph, options: options).explain(inputs: [x], references: refs).scores[0]
    let theirs = try ONNXGoldens.read(c.scores)
    if c.channelSum {
      expectONNXGolden(channelSums(ours), channelSums(theirs), "\(c)")
    } else {
      expectONNXGolden(ours, theirs, "\(c)")
    }
  }

  /// A final Sigmoid node: the default target is its input, so the scores equal the logits
  /// model's (same weights) Captum goldens.
  @Test func defaultTargetIsThePreSigmoidLogit() throws {
    let m = ONNXGoldens.model("mlp")
    let twin = try ONNXGoldens.graph(m["default_target_twin"] as! String)
    let x = try ONNXGoldens.read(m["input"] as! String)
    for c in ONNXGoldens.cases where c.model == "mlp" && c.method == "rescale" && c.reference == "zeros" {
      var options = ExplainOptions()
      options.tasks = [c.task]
      let ours = try Explainer(graph: twin, options: options).explain(inputs: [x]).scores[0]
      expectONNXGolden(ours, try ONNXGoldens.read(c.scores), "sigmoid twin, task \(c.task)")
    }
  }
}

// MARK: - Summation-to-delta

struct DeltaCase: Sendable, CustomTestStringConvertible {
  let model: String
  let method: AttributionMethod
  let reference: String
  let maxPool: MaxPoolRule
  var testDescription: String { "\(model) \(method.rawValue) \(reference) maxpool \(maxPool.rawValue)" }

  static var all: [DeltaCase] {
    var out: [DeltaCase] = []
    for model in ONNXGoldens.modelNames {
      for method in [AttributionMethod.rescale, .revealCancel, .genomicsDefault] {
        // Both max-pool rules keep summation-to-delta with a zero reference; with non-uniform
        // references only the deepshap rule does.
        out.append(DeltaCase(model: model, method: method, reference: "zeros", maxPool: .gradient))
        for ref in ["zeros", "per-example", "background"] + (model == "genomics" ? ["multiple"] : []) {
          out.append(DeltaCase(model: model, method: method, reference: ref, maxPool: .deepshap))
        }
      }
    }
    return out
  }
}

@Suite("ONNX summation-to-delta")
struct ONNXSummationTests {
  /// Σ scores = f(x) − mean over references of f(ref), for every output task, with f(ref)
  /// computed here by a separate forward pass.
  @Test(arguments: DeltaCase.all)
  func summationToDelta(_ c: DeltaCase) throws {
    let m = ONNXGoldens.model(c.model)
    let graph = try ONNXGoldens.graph(m["file"] as! String)
    let x = try ONNXGoldens.read(m["input"] as! String)
    let n = x.shape[0]
    let row = x.scalarCount / n
    let refs = try ONNXGoldens.references(m, c.reference)
    // The references of each example, as rows of one batch.
    var refRows: [[Float]] = Array(repeating: [], count: n)
    switch refs {
    case .zeros: refRows = Array(repeating: [Float](repeating: 0, count: row), count: n)
    case .perExample(let r): refRows = (0..<n).map { Array(r[0].scalars[$0 * row..<($0 + 1) * row]) }
    case .background(let b):
      refRows = Array(repeating: b[0].scalars, count: n)
    case .multiple(let r):
      refRows = (0..<n).map {
        Array(r[0].scalars[$0 * r[0].scalarCount / n..<($0 + 1) * r[0].scalarCount / n])
      }
    case .shared, .perInput: Issue.record("unused")
    }
    let out = graph.outputs[0]
    let fx = try forward(graph, inputs: [x])[out.rawValue]
    let tasks = fx.scalarCount / n
    for task in 0..<tasks {
      var options = ExplainOptions()
      options.method = c.method
      options.maxPool = c.maxPool
      options.tasks = [task]
      let scores = try Explainer(graph: graph, options: options).explain(inputs: [x], references: refs)
        .scores[0]
      for i in 0..<n {
        let rows = refRows[i].count / row
        let batch = Tensor(shape: Shape([rows] + Array(x.shape.dimensions.dropFirst())), scalars: refRows[i])
        let fr = try forward(graph, inputs: [batch])[out.rawValue]
        let fref = (0..<rows).map { Double(fr.scalars[$0 * tasks + task]) }.reduce(0, +) / Double(rows)
        let delta = Double(fx.scalars[i * tasks + task]) - fref
        let s = scores.scalars[i * row..<(i + 1) * row]
        let sum = s.reduce(0.0) { $0 + Double($1) }
        let mass = s.reduce(0.0) { $0 + abs(Double($1)) }
        #expect(
          abs(sum - delta) <= 2e-4 * (mass + abs(delta)) + 1e-5,
          "\(c) task \(task) example \(i): Σ \(sum) vs Δ \(delta)")
      }
    }
  }
}
