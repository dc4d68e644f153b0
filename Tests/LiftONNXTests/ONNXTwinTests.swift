import Foundation
import LiftAttribution
import LiftIO
import LiftKeras
import LiftNN
import LiftTensor
import Testing

@testable import LiftONNX

/// tf-keras twins (Fixtures/goldens/twins.json, Scripts/fixtures/make_onnx_goldens.py): the
/// weights of two Keras golden models (the original deeplift 0.6.13's scores, from
/// Scripts/fixtures/make_deeplift_goldens.py) loaded into torch networks, exported to ONNX.
/// RevealCancel and genomics-default on the ONNX graph must give the original's scores.
enum Twins {
  nonisolated(unsafe) static let manifest: [String: Any] = {
    let data = try! Data(contentsOf: ONNXGoldens.directory.appendingPathComponent("twins.json"))
    return try! JSONSerialization.jsonObject(with: data) as! [String: Any]
  }()
  static var models: [[String: Any]] { manifest["models"] as! [[String: Any]] }
  static func model(_ name: String) -> [String: Any] { models.first { $0["name"] as? String == name }! }
  static var cases: [TwinCase] {
    (manifest["cases"] as! [[String: Any]]).enumerated().map { i, c in
      let unstable = c["unstable_rows"] as? [String: [Int]]
      return TwinCase(
        index: i, model: c["model"] as! String, method: c["method"] as! String,
        reference: c["reference"] as! String,
        task: c["task"] as! Int, scores: c["scores"] as! String,
        unstable: Set(unstable?["scores"] ?? []).union(c["kink_rows"] as? [Int] ?? []),
        pseudocountRows: Set(c["pseudocount_rows"] as? [Int] ?? []))
    }
  }

  /// Keras layout `[N, L, C]` ↔ torch layout `[N, C, L]` (rank-3 tensors; others unchanged).
  static func swapLast(_ t: Tensor) -> Tensor { t.rank == 3 ? transposed(t, permutation: [0, 2, 1]) : t }

  /// Inputs and references in Keras layout (as the .h5 takes them).
  static func data(_ m: [String: Any], _ reference: String) throws -> (Tensor, References) {
    let x = try ONNXGoldens.read(m["inputs"] as! String)
    let file = (m["references"] as! [String: Any])[reference] as? String
    let refs: References
    switch reference {
    case "shared": refs = .shared([try ONNXGoldens.read(file!)])
    case "per-example": refs = .perExample([try ONNXGoldens.read(file!)])
    default: refs = .zeros
    }
    return (x, refs)
  }

  static func toTorch(_ refs: References) -> References {
    switch refs {
    case .shared(let r): return .shared(r.map { $0.rank == 2 ? transposed($0, permutation: [1, 0]) : $0 })
    case .perExample(let r): return .perExample(r.map(swapLast))
    default: return refs
    }
  }
}

struct TwinCase: Sendable, CustomTestStringConvertible {
  let index: Int
  let model, method, reference: String
  let task: Int
  let scores: String
  let unstable: Set<Int>
  let pseudocountRows: Set<Int>
  var testDescription: String { "#\(index) \(model).onnx \(method) \(reference) task \(task)" }
}

@Suite("ONNX twins of Keras models: the original deeplift's scores")
struct ONNXTwinTests {
  @Test(arguments: Twins.cases)
  func originalScores(_ c: TwinCase) throws {
    let m = Twins.model(c.model)
    let graph = try ONNXGoldens.graph(m["onnx"] as! String)
    let (x, refs) = try Twins.data(m, c.reference)
    var options = ExplainOptions()
    options.method = try #require(AttributionMethod(rawValue: c.method))
    options.tasks = [c.task]
    let ours = try Explainer(graph: graph, options: options)
      .explain(inputs: [Twins.swapLast(x)], references: Twins.toTorch(refs)).scores[0]
    let theirs = try ONNXGoldens.read(c.scores)
    // The same skips as GoldenTests: rows where the original's RevealCancel pseudocount noise
    // dominates (unstable) are skipped, rows where it fired are compared more loosely.
    let scale = theirs.scalars.map(abs).max() ?? 0
    let got = Twins.swapLast(ours)
    let row = theirs.scalarCount / theirs.shape[0]
    #expect(got.shape == theirs.shape)
    var worst: String? = nil
    var worstExcess: Float = 0
    for i in 0..<theirs.scalarCount where !c.unstable.contains(i / row) {
      let bound = (c.pseudocountRows.contains(i / row) ? 2e-2 : 5e-4) * scale + 1e-3 * abs(theirs.scalars[i])
      let excess = abs(got.scalars[i] - theirs.scalars[i]) - bound
      if excess > worstExcess {
        worstExcess = excess
        worst = "element \(i): ours \(got.scalars[i]) vs \(theirs.scalars[i])"
      }
    }
    #expect(worst == nil, "\(c): \(worst ?? "")")
  }

  /// The same network as `.h5` and as `.onnx` gives the same scores for every method.
  @Test(arguments: ["mlp", "genomics_avg"], AttributionMethod.allCases)
  func h5AndONNXAgree(_ name: String, _ method: AttributionMethod) throws {
    let m = Twins.model(name)
    let onnx = try ONNXGoldens.graph(m["onnx"] as! String)
    let keras = try loadKerasModel(at: ONNXGoldens.directory.appendingPathComponent(m["h5"] as! String))
    for reference in ["zeros", "shared", "per-example"] {
      let (x, refs) = try Twins.data(m, reference)
      for task in 0..<2 {
        var options = ExplainOptions()
        options.method = method
        options.tasks = [task]
        options.steps = 16
        let fromKeras = try Explainer(graph: keras, options: options).explain(inputs: [x], references: refs)
          .scores[0]
        let fromONNX = Twins.swapLast(
          try Explainer(graph: onnx, options: options)
            .explain(inputs: [Twins.swapLast(x)], references: Twins.toTorch(refs)).scores[0])
        let scale = fromKeras.scalars.map(abs).max() ?? 0
        #expect(fromONNX.shape == fromKeras.shape)
        let worst = zip(fromONNX.scalars, fromKeras.scalars).map { abs($0 - $1) - 1e-4 * abs($1) }.max() ?? 0
        #expect(
          worst <= 1e-5 * scale + 1e-6,
          "\(name) \(method.rawValue) \(reference) task \(task): \(worst), scale \(scale)")
      }
    }
  }
}
