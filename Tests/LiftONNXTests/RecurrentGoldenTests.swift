import Foundation
import LiftAttribution
import LiftIO
import LiftNN
import LiftTensor
import Testing

@testable import LiftONNX

/// ONNX LSTM, GRU and RNN unrolled over time (issue 20), against the goldens of
/// Scripts/fixtures/make_recurrent_fixtures.py: ONNX Runtime's forward pass of the models torch
/// exports (batch-first and time-major, bidirectional, two layers, given initial states) and a
/// hand-written GRU (reverse, linear_before_reset=0, layout 0 and 1), and tangermeme 1.6
/// `deep_lift_shap` (float64) on torch twins that unroll the recurrence with nn.Sigmoid/nn.Tanh
/// and its `BilinearOp` products.
@Suite("Recurrent layers (ONNX): ONNX Runtime forward and tangermeme goldens (issue 20)")
struct RecurrentGoldenTests {
  static let directory = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!
    .appendingPathComponent("recurrent")

  nonisolated(unsafe) static let models: [[String: Any]] = {
    let data = try! Data(contentsOf: directory.appendingPathComponent("recurrent.json"))
    let manifest = try! JSONSerialization.jsonObject(with: data) as! [String: Any]
    return manifest["models"] as! [[String: Any]]
  }()

  /// Every model file with its manifest entry (gru_before also as its layout-1 twin).
  static var files: [String] {
    models.flatMap { m in [m["onnx"] as! String] + ((m["layout1_onnx"] as? String).map { [$0] } ?? []) }
  }

  static func entry(_ file: String) -> [String: Any] {
    models.first { $0["onnx"] as? String == file || $0["layout1_onnx"] as? String == file }!
  }

  static func read(_ file: String) throws -> Tensor { try NumPy.read(directory.appendingPathComponent(file)) }

  static func load(_ file: String, optimize: Bool = true) throws -> Graph {
    try loadONNXModel(at: directory.appendingPathComponent(file), optimizeLayout: optimize)
  }

  @Test(arguments: files)
  func forwardMatchesONNXRuntime(file: String) throws {
    let m = Self.entry(file)
    for optimize in [true, false] {
      let graph = try Self.load(file, optimize: optimize)
      let x = try Self.read(m["input"] as! String), expected = try Self.read(m["ort_output"] as! String)
      let y = try LiftNN.forward(graph, inputs: [x])[graph.outputs[0].rawValue]
      #expect(y.shape == expected.shape)
      let scale = expected.scalars.map(abs).max()!
      for (a, b) in zip(y.scalars, expected.scalars) { #expect(abs(a - b) <= 1e-5 * max(1, scale), "\(file)") }
    }
  }

  /// The recurrence is unrolled into the existing ops: gates as sigmoid/tanh, gate products as
  /// two-tensor multiplies, one dense projection of the sequence per direction and layer.
  @Test func unrolledIntoExistingOps() throws {
    func count(_ file: String) throws -> [String: Int] {
      var c = [String: Int]()
      for n in try Self.load(file).nodes { c[n.op.kindName, default: 0] += 1 }
      return c
    }
    // 5 steps, zero initial state: f⊙c and h·R are left out at t = 0 (so is that step's forget
    // gate, read by nothing else).
    let lstm = try count("lstm.onnx")
    #expect(lstm["sigmoid"] == 14 && lstm["tanh"] == 10 && lstm["multiply"] == 14, "\(lstm)")
    let gru = try count("gru.onnx")  // r⊙(b_Rn) at t = 0 is an affine of r
    #expect(gru["sigmoid"] == 10 && gru["tanh"] == 5 && gru["multiply"] == 4 * 3 + 1, "\(gru)")
    let rnn = try count("rnn.onnx")
    #expect(rnn["tanh"] == 5 && rnn["multiply"] == nil, "\(rnn)")
    let bilstm = try count("bilstm.onnx")  // two layers, two directions
    #expect(bilstm["sigmoid"] == 4 * 14 && bilstm["multiply"] == 4 * 14, "\(bilstm)")
    // Given initial states: f⊙c₀ is an affine (constant c₀, so the first forget gate is kept),
    // h₀·R folds into the bias.
    let h0 = try count("lstm_h0.onnx")
    #expect(h0["multiply"] == 14 && h0["sigmoid"] == 15, "\(h0)")
    // No view is left at the output.
    for file in Self.files { #expect(try Self.load(file).outputs.count == 1) }
  }

  /// Rescale equals tangermeme (within 1e-5 or 5× tangermeme's own float32 error, relative to
  /// max|scores|), zero and random references, both targets; Rescale and
  /// RevealCancel sum to Δ. Genomics-default refuses the unrolled graph, naming a gate: the
  /// gates follow slices and products, not a dense or conv layer, so the original's
  /// resolution does not apply.
  @Test(arguments: files)
  func deepLiftMatchesTangermeme(file: String) throws {
    let m = Self.entry(file)
    let name = m["name"] as! String
    let graph = try Self.load(file)
    let x = try Self.read(m["input"] as! String), refs = try Self.read(m["references"] as! String)
    let cases = m["cases"] as! [[String: Any]]
    #expect(cases.count == 4)
    for c in cases {
      let task = c["task"] as! Int
      let references: References = c["references"] as! String == "zeros" ? .zeros : .multiple([refs])
      let expected = try Self.read(c["scores"] as! String)
      for method in [AttributionMethod.rescale, .revealCancel, .genomicsDefault] {
        var o = ExplainOptions()
        o.method = method
        o.tasks = [task]
        let explainer: Explainer
        do { explainer = try Explainer(graph: graph, options: o) } catch {
          #expect(method == .genomicsDefault, "\(file) \(method): \(error)")
          #expect("\(error)".contains("not a dense or conv layer"), "\(error)")
          continue
        }
        #expect(method != .genomicsDefault, "\(file): genomics-default resolved every gate")
        let e = try explainer.explain(inputs: [x], references: references)
        for (i, d) in e.summationErrors.enumerated() {
          #expect(d <= 1e-4 * max(1, e.targetDeltas[i]), "\(file) \(method) task \(task): summation error \(d)")
        }
        guard method == .rescale else { continue }
        let s = e.scores[0]
        #expect(s.shape == expected.shape)
        let scale = expected.scalars.map(abs).max()!
        var worst: Float = 0, raw: Float = 0
        for (a, b) in zip(s.scalars, expected.scalars) {
          worst = max(worst, abs(a - b) - 1e-5 * abs(b))
          raw = max(raw, abs(a - b))
        }
        // The float32 floor: tangermeme's own float32 run is this far from its float64 one
        // (up to ~5e-5 with two stacked recurrent layers, where near-zero differences of gate
        // inputs divide float32 rounding); ours may be a few times that, never more.
        let floor = Float(c["tangermeme_float32_rel"] as! Double)
        print("recurrent golden \(name) (\(file)) \(c["references"]!) task \(task): max |ours − tangermeme| / max|tangermeme| = \(raw / scale) (tangermeme float32 vs float64: \(floor))")
        #expect(
          worst <= max(1e-5, 5 * floor) * scale,
          "\(file) \(c["references"]!) task \(task): off by \(worst) (scale \(scale), tangermeme's float32 floor \(floor))")
      }
    }
  }
}
