import Foundation
import LiftAttribution
import LiftKeras
import LiftNN
import LiftTensor
import Testing

/// Keras `MultiHeadAttention` (Scripts/fixtures/make_keras_attention_fixtures.py), tf-keras
/// 2.21 `.h5` and Keras 3.15 `.keras`: the forward pass equals Keras' (self-attention with
/// biases; cross-attention with a separate key, `value_dim`, no biases and a 2-D
/// `output_shape`), every DeepLIFT method sums to Δ, Rescale equals tangermeme 1.6
/// `deep_lift_shap` on the torch twin (products through its `BilinearOp`, nn.Softmax), and
/// masks are refused.
@Suite("Keras import: MultiHeadAttention (issue 19)")
struct KerasAttentionTests {
  static let files = [
    ("mha_tfk.h5", "mha_tfk"), ("mha_k3.keras", "mha_k3"), ("mha_img_tfk.h5", "mha_img_tfk"),
    ("mha_img_k3.keras", "mha_img_k3"), ("mha_causal_tfk.h5", "mha_causal_tfk"), ("mha_causal_k3.keras", "mha_causal_k3"),
    ("mha_kw_tfk.h5", "mha_kw_tfk"), ("mha_kw_k3.keras", "mha_kw_k3"),
  ]

  /// Sequences (self- and cross-attention, a causal mask, operands passed by keyword only in
  /// another order) and images (`[3, 4, 5]`: attention
  /// over both spatial axes jointly, and within each row, `attention_axes=(2,)`).
  @Test(arguments: files)
  func forwardMatchesKeras(file: String, prefix: String) throws {
    let graph = try loadKerasModel(at: try fixture(file))
    let values = try forward(graph, inputs: [try loadNpy("\(prefix).x.npy")])
    expectForwardClose(values[graph.outputs[0].rawValue], try loadNpy("\(prefix).y.npy"), "\(file) output")
    let taps =
      prefix.contains("img")
      ? ["img_all", "img_rows"]
      : prefix.contains("causal") ? ["causal"] : prefix.contains("kw") ? ["kw"] : ["mha_self", "mha_cross"]
    for tap in taps {
      let id = try #require(graph.node(named: tap), "\(file): no node \(tap)")
      expectForwardClose(values[id.rawValue], try loadNpy("\(prefix).at.\(tap).npy"), "\(file) layer \(tap)")
    }
    let kinds = graph.nodes.map(\.op.kindName)
    #expect(kinds.filter { $0 == "matmul" }.count == 2 * taps.count)
    #expect(kinds.filter { $0 == "softmax" }.count == taps.count)
  }

  /// Σ scores = f(x) − f(r) per example and task (Rescale and RevealCancel). genomics-default
  /// refuses: it picks a nonlinearity's rule by the dense/conv layer before it, and the
  /// attention softmax follows a product (or the causal mask's sum).
  @Test(arguments: files)
  func summationToDelta(file: String, prefix: String) throws {
    let graph = try loadKerasModel(at: try fixture(file))
    let x = try loadNpy("\(prefix).x.npy")
    let r = Tensor(shape: x.shape, scalars: x.scalars.reversed().map { 0.5 * $0 })
    var refused = ExplainOptions()
    refused.method = .genomicsDefault
    #expect {
      _ = try Explainer(graph: graph, options: refused)
    } throws: { error in
      "\(error)".contains("softmax") && "\(error)".contains("not a dense or conv layer")
    }
    for method in [AttributionMethod.rescale, .revealCancel] {
      var o = ExplainOptions()
      o.method = method
      o.tasks = [0, 1, 2]
      let e = try Explainer(graph: graph, options: o).explain(inputs: [x], references: .perExample([r]))
      #expect(e.summationErrors.count == 12)
      for (i, d) in e.summationErrors.enumerated() {
        #expect(d <= 1e-4 * max(1, e.targetDeltas[i]), "\(file) \(method) #\(i): error \(d), Δ \(e.targetDeltas[i])")
      }
      // The scores are not all zero (the check above would pass for a model that ignores x).
      #expect(e.scores[0].scalars.contains { abs($0) > 1e-3 })
    }
  }

  /// The cases of a golden manifest (`mha_gold.json`, `enc_gold.json`).
  static func goldCases(_ prefix: String) throws -> [[String: Any]] {
    let data = try Data(contentsOf: try fixture("\(prefix).json"))
    let manifest = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    return try #require(manifest["cases"] as? [[String: Any]])
  }

  /// Rescale equals tangermeme's scores on the torch twin (zero and random references, both
  /// targets) within 1e-5·max|theirs| + 1e-5·|theirs|; every method sums to Δ. `mha_gold`:
  /// attention alone; `enc_gold`: a transformer-encoder block (MHA, LayerNormalization, FFN).
  @Test(arguments: [
    ("mha_gold_tfk.h5", "mha_gold"), ("mha_gold_k3.keras", "mha_gold"), ("enc_gold_tfk.h5", "enc_gold"),
    ("enc_gold_k3.keras", "enc_gold"),
  ])
  func deepLiftMatchesTangermeme(file: String, prefix: String) throws {
    let graph = try loadKerasModel(at: try fixture(file))
    let x = try loadNpy("\(prefix).x.npy"), refs = try loadNpy("\(prefix).refs.npy")
    expectForwardClose(try forward(graph, inputs: [x])[graph.outputs[0].rawValue], try loadNpy("\(prefix).y.npy"), file)
    let cases = try Self.goldCases(prefix)
    #expect(cases.count == 4)
    for c in cases {
      let task = c["task"] as! Int
      let references: References = c["references"] as! String == "zeros" ? .zeros : .multiple([refs])
      let expected = try loadNpy(c["scores"] as! String)
      for method in [AttributionMethod.rescale, .revealCancel] {
        var o = ExplainOptions()
        o.method = method
        o.tasks = [task]
        let e = try Explainer(graph: graph, options: o).explain(inputs: [x], references: references)
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
        print("keras golden \(file) \(c["references"]!) task \(task): max |ours − tangermeme| / max|tangermeme| = \(raw / scale)")
        #expect(worst <= 1e-5 * scale, "\(file) \(c["references"]!) task \(task): off by \(worst) (scale \(scale))")
      }
    }
  }

  @Test(arguments: ["mha_mask_tfk.h5", "mha_mask_k3.keras"])
  func maskInputIsRefused(file: String) throws {
    #expect {
      _ = try loadKerasModel(at: try fixture(file))
    } throws: { error in
      let text = "\(error)"
      return text.contains("attention_mask") && text.contains("mha")
    }
  }
}

/// A tensor passed by keyword to a layer that does not name its operands is refused (tf-keras
/// writes it as `[layer, node, tensor]` inside the call's kwargs; it used to be dropped).
@Test func keywordTensorsAreRefusedOutsideAttention() throws {
  let config = """
    {"class_name": "Functional", "config": {"name": "m", "layers": [
      {"class_name": "InputLayer", "name": "x", "config": {"batch_input_shape": [null, 4], "name": "x"},
       "inbound_nodes": []},
      {"class_name": "Activation", "name": "act", "config": {"name": "act", "activation": "relu"},
       "inbound_nodes": [[["x", 0, 0, {"other": ["x", 0, 0]}]]]}],
     "input_layers": [["x", 0, 0]], "output_layers": [["act", 0, 0]]}}
    """
  #expect {
    _ = try KerasConfigImporter().importGraph(configJSON: Data(config.utf8))
  } throws: { error in
    "\(error)".contains("keyword") && "\(error)".contains("other") && "\(error)".contains("act")
  }
}

/// MultiHeadAttention's refusals from its configuration and call, before any weight is read
/// (inline configurations, no weights): each names the layer and what is not supported.
@Test(arguments: [
  (#"{"num_heads": 2, "key_dim": 3}"#, #"{"use_causal_mask": true}"#, [3, 5, 4], "use_causal_mask"),
  (#"{"num_heads": 2, "key_dim": 3}"#, #"{"return_attention_scores": true}"#, [5, 4], "return_attention_scores"),
  (#"{"num_heads": 2, "key_dim": 3, "attention_axes": [2]}"#, "{}", [5, 4], "attention_axes"),
  (#"{"num_heads": 2, "key_dim": 3, "attention_axes": [3]}"#, "{}", [2, 5, 4], "attention_axes"),
  (#"{"num_heads": 2, "key_dim": 3, "attention_axes": [1, 1]}"#, "{}", [2, 5, 4], "attention_axes"),
  (#"{"num_heads": 2, "key_dim": 3}"#, "{}", [4], "sequence axis"),
  (#"{"num_heads": 2, "key_dim": 3, "use_gate": true}"#, "{}", [5, 4], "use_gate"),
])
func attentionRefusals(config: String, kwargs: String, shape: [Int], mentions: String) throws {
  let batchShape = "[null, " + shape.map(String.init).joined(separator: ", ") + "]"
  let text = """
    {"class_name": "Functional", "config": {"name": "m", "layers": [
      {"class_name": "InputLayer", "name": "x", "config": {"batch_input_shape": \(batchShape), "name": "x"},
       "inbound_nodes": []},
      {"class_name": "MultiHeadAttention", "name": "attn", "config": \(config),
       "inbound_nodes": [{"args": [{"class_name": "__keras_tensor__", "config": {"keras_history": ["x", 0, 0]}},
                                   {"class_name": "__keras_tensor__", "config": {"keras_history": ["x", 0, 0]}}],
                          "kwargs": \(kwargs)}]}],
     "input_layers": [["x", 0, 0]], "output_layers": [["attn", 0, 0]]}}
    """
  #expect {
    _ = try KerasConfigImporter().importGraph(configJSON: Data(text.utf8))
  } throws: { error in
    "\(error)".contains("attn") && "\(error)".contains(mentions)
  }
}
