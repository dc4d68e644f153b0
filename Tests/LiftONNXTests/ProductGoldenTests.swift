import Foundation
import LiftAttribution
import LiftIO
import LiftNN
import LiftTensor
import Testing

@testable import LiftONNX

/// Goldens for products of two activations (issue 19), written by
/// Scripts/fixtures/make_product_goldens.py: tangermeme 1.6 `deep_lift_shap` (float64) on
/// torch models whose products go through its `BilinearOp` (its `_glu` rule for nn.GLU), and
/// ONNX Runtime's forward pass of their ONNX twins (plain `*`, `@`, nn.GLU's Split, `/`,
/// `torch.einsum`, and torch's own export of `nn.TransformerEncoderLayer`).
@Suite("Products of activations: tangermeme goldens and ONNX Runtime forward (issue 19)")
struct ProductGoldenTests {
  static let directory = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!
    .appendingPathComponent("products")

  nonisolated(unsafe) static let models: [[String: Any]] = {
    let data = try! Data(contentsOf: directory.appendingPathComponent("products.json"))
    let manifest = try! JSONSerialization.jsonObject(with: data) as! [String: Any]
    return manifest["models"] as! [[String: Any]]
  }()

  static var names: [String] { models.map { $0["name"] as! String } }

  static func model(_ name: String) -> [String: Any] { models.first { $0["name"] as? String == name }! }

  static func read(_ file: String) throws -> Tensor { try NumPy.read(directory.appendingPathComponent(file)) }

  @Test(arguments: names)
  func forwardMatchesONNXRuntime(name: String) throws {
    let m = Self.model(name)
    for optimize in [true, false] {
      let graph = try loadONNXModel(at: Self.directory.appendingPathComponent(m["onnx"] as! String), optimizeLayout: optimize)
      let x = try Self.read(m["input"] as! String), expected = try Self.read(m["ort_output"] as! String)
      let y = try LiftNN.forward(graph, inputs: [x])[graph.outputs[0].rawValue]
      #expect(y.shape == expected.shape)
      let scale = expected.scalars.map(abs).max()!
      for (a, b) in zip(y.scalars, expected.scalars) { #expect(abs(a - b) <= 1e-5 * max(1, scale), "\(name)") }
    }
  }

  @Test func theTwinsUseTheProductOps() throws {
    func kinds(_ name: String) throws -> Set<String> {
      let graph = try loadONNXModel(at: Self.directory.appendingPathComponent(Self.model(name)["onnx"] as! String))
      return Set(graph.nodes.map(\.op.kindName))
    }
    #expect(try kinds("gated").isSuperset(of: ["multiply", "sigmoid"]))
    #expect(try kinds("glu").isSuperset(of: ["multiply", "slice", "sigmoid"]))
    #expect(try kinds("attention").contains("matmul"))
    #expect(try kinds("divide").isSuperset(of: ["multiply", "reciprocal"]))
    #expect(try kinds("einsum").isSuperset(of: ["matmul", "transpose"]))
    #expect(try kinds("softmax_attention").isSuperset(of: ["matmul", "softmax"]))
    #expect(try kinds("se").isSuperset(of: ["conv1d", "multiply", "sigmoid", "relu"]))
    #expect(try kinds("encoder").isSuperset(of: ["matmul", "softmax", "layer_norm", "relu"]))
  }

  /// Rescale equals tangermeme (the bilinear rule, and `_glu` for the GLU: the same thing),
  /// zero and random (dinucleotide-shuffled for the one-hot `se`) references, both targets, and
  /// tangermeme's hypothetical contributions for `se`; every DeepLIFT method sums to Δ.
  @Test(arguments: ["gated", "glu", "attention", "einsum", "softmax_attention", "se", "encoder"])
  func deepLiftMatchesTangermeme(name: String) throws {
    let m = Self.model(name)
    let graph = try loadONNXModel(at: Self.directory.appendingPathComponent(m["onnx"] as! String))
    let x = try Self.read(m["input"] as! String), refs = try Self.read(m["references"] as! String)
    let cases = m["cases"] as! [[String: Any]]
    #expect(cases.count == (name == "se" ? 6 : 4))
    for c in cases {
      let task = c["task"] as! Int
      let hypothetical = c["hypothetical"] as? Bool ?? false
      let references: References = c["references"] as! String == "zeros" ? .zeros : .multiple([refs])
      let expected = try Self.read(c["scores"] as! String)
      for method in [AttributionMethod.rescale, .revealCancel, .genomicsDefault] {
        var o = ExplainOptions()
        o.method = method
        o.tasks = [task]
        if hypothetical {
          guard method == .rescale else { continue }
          o.hypothetical = true
          o.channelAxis = 1
        }
        let explainer: Explainer
        do { explainer = try Explainer(graph: graph, options: o) } catch {
          // genomics-default: the GLU's sigmoid follows a slice, the attention softmax a
          // product, not a dense layer.
          #expect(
            method == .genomicsDefault && ["glu", "softmax_attention", "encoder"].contains(name),
            "\(name) \(method): \(error)")
          continue
        }
        let e = try explainer.explain(inputs: [x], references: references)
        for (i, d) in e.summationErrors.enumerated() {
          #expect(d <= 1e-4 * max(1, e.targetDeltas[i]), "\(name) \(method) task \(task): summation error \(d)")
        }
        // genomics-default gives the sigmoid after a dense layer RevealCancel (the original's
        // resolution), which tangermeme does not have.
        guard method == .rescale else { continue }
        let s = e.scores[0]
        #expect(s.shape == expected.shape)
        let scale = expected.scalars.map(abs).max()!
        var worst: Float = 0, raw: Float = 0
        for (a, b) in zip(s.scalars, expected.scalars) {
          worst = max(worst, abs(a - b) - 1e-5 * abs(b))
          raw = max(raw, abs(a - b))
        }
        print("product golden \(name) \(c["references"]!)\(hypothetical ? " hypothetical" : "") task \(task): max |ours − tangermeme| / max|tangermeme| = \(raw / scale)")
        #expect(worst <= 1e-5 * scale, "\(name) \(method) \(c["references"]!) task \(task): off by \(worst) (scale \(scale))")
      }
    }
  }
}
