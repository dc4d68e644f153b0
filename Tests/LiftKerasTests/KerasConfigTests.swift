import Foundation
import LiftHDF5
import LiftNN
import LiftTensor
import Testing

@testable import LiftKeras

/// Weights from a dictionary, for configurations written inline.
struct DictionaryStore: WeightStore {
  var tensors: [String: [String: Tensor]]
  /// A sublayer's weights are stored under `<sublayer>/<weight>` in the layer's dictionary.
  func weights(of layer: LayerSpec, sublayer: Sublayer?, expected: [String]) throws(KerasImportError)
    -> [String: Tensor]
  {
    let stored = tensors[layer.name] ?? [:]
    let prefix = sublayer.map { $0.legacyName + "/" } ?? ""
    var w = sublayer == nil ? stored : [:]
    for name in expected {
      guard let t = stored[prefix + name] else {
        throw .missingWeight(file: "inline.json", layer: layer.name, weight: prefix + name)
      }
      w[name] = t
    }
    return w
  }
}

private func importJSON(_ text: String, weights: [String: [String: Tensor]] = [:]) throws(KerasImportError)
  -> Graph
{
  guard let json = JSONValue.parse(Data(text.utf8)) else {
    throw .invalidConfig(file: "inline.json", reason: "bad JSON in test")
  }
  let spec = try parseModelConfig(json, file: "inline.json")
  return try buildGraph(spec, store: DictionaryStore(tensors: weights), file: "inline.json")
}

private func randomTensor(_ shape: Shape, _ rng: inout SplitMix64) -> Tensor {
  Tensor(shape: shape, scalars: (0..<shape.scalarCount).map { _ in Float.random(in: -1...1, using: &rng) })
}

/// `[N, A, B, C] → [N, B, C, A]` (channels-first to channels-last), done naively.
private func toChannelsLast(_ x: Tensor) -> Tensor {
  let (n, a, b, c) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
  var out = [Float](repeating: 0, count: x.scalarCount)
  for i in 0..<n {
    for p in 0..<a {
      for q in 0..<b {
        for r in 0..<c {
          out[((i * b + q) * c + r) * a + p] = x.scalars[((i * a + p) * b + q) * c + r]
        }
      }
    }
  }
  return Tensor(shape: [n, b, c, a], scalars: out)
}

@Suite("Keras import: configurations")
struct KerasConfigTests {
  /// A channels_first Conv2D / MaxPooling2D / Flatten model equals its channels_last twin on
  /// the transposed input (Keras' channels_first Flatten moves channels last first).
  @Test func channelsFirstMatchesChannelsLast() throws {
    var rng = SplitMix64(seed: 1)
    let weights: [String: [String: Tensor]] = [
      "conv": ["kernel": randomTensor([3, 3, 2, 3], &rng), "bias": randomTensor([3], &rng)],
      "dense": ["kernel": randomTensor([27, 2], &rng), "bias": randomTensor([2], &rng)],
    ]
    func model(_ format: String, _ shape: String) -> String {
      """
      {"class_name": "Sequential", "config": {"name": "s", "layers": [
        {"class_name": "InputLayer", "config": {"name": "x", "batch_shape": [null, \(shape)]}},
        {"class_name": "Conv2D", "config": {"name": "conv", "filters": 3, "kernel_size": [3, 3],
          "padding": "same", "activation": "relu", "data_format": "\(format)"}},
        {"class_name": "MaxPooling2D", "config": {"name": "pool", "pool_size": 2, "data_format": "\(format)"}},
        {"class_name": "Flatten", "config": {"name": "flat", "data_format": "\(format)"}},
        {"class_name": "Dense", "config": {"name": "dense", "units": 2}}]}}
      """
    }
    let first = try importJSON(model("channels_first", "2, 6, 6"), weights: weights)
    let last = try importJSON(model("channels_last", "6, 6, 2"), weights: weights)
    #expect(first.nodes.map(\.name).contains("conv/channels_last"))
    let x = randomTensor([2, 2, 6, 6], &rng)
    let yFirst = try forward(first, inputs: [x])
    let yLast = try forward(last, inputs: [toChannelsLast(x)])
    expectForwardClose(yFirst[first.outputs[0].rawValue], yLast[last.outputs[0].rawValue], "dense")
    // The conv layer's output keeps Keras' channels_first layout.
    let convFirst = yFirst[first.node(named: "conv")!.rawValue]
    #expect(convFirst.shape == [2, 3, 6, 6])
    expectForwardClose(toChannelsLast(convFirst), yLast[last.node(named: "conv")!.rawValue], "conv")
  }

  @Test func functionalKeras3DictFormatAndNamedInputs() throws {
    let text = """
      {"class_name": "Functional", "config": {"name": "f",
        "layers": [
          {"class_name": "InputLayer", "name": "b_in", "config": {"name": "b_in", "batch_shape": [null, 2]}, "inbound_nodes": []},
          {"class_name": "InputLayer", "name": "a_in", "config": {"name": "a_in", "batch_shape": [null, 3]}, "inbound_nodes": []},
          {"class_name": "Concatenate", "name": "cat", "config": {"name": "cat", "axis": -1},
           "inbound_nodes": [{"args": [[
              {"class_name": "__keras_tensor__", "config": {"keras_history": ["a_in", 0, 0]}},
              {"class_name": "__keras_tensor__", "config": {"keras_history": ["b_in", 0, 0]}}]],
            "kwargs": {"mask": null}}]}],
        "input_layers": {"first": ["a_in", 0, 0], "second": ["b_in", 0, 0]},
        "output_layers": ["cat", 0, 0]}}
      """
    let g = try importJSON(text)
    #expect(g.inputNames == ["a_in", "b_in"])
    guard case .concat(let axis) = g[g.outputs[0]].op else {
      Issue.record("not concat")
      return
    }
    #expect(axis == 1)
    let y = try forward(
      g, inputs: [Tensor(shape: [1, 3], scalars: [1, 2, 3]), Tensor(shape: [1, 2], scalars: [4, 5])])
    #expect(y[g.outputs[0].rawValue].scalars == [1, 2, 3, 4, 5])
  }

  @Test func unsupportedOptionsAreNamed() throws {
    func sequential(_ layer: String) -> String {
      """
      {"class_name": "Sequential", "config": [
        \(layer.replacingOccurrences(of: "CONFIG", with: "\"name\": \"l\", \"batch_input_shape\": [null, 4, 3]"))]}
      """
    }
    #expect(
      throws: KerasImportError.unsupportedConfiguration(
        file: "inline.json", layer: "l", reason: "ReLU threshold 0.5 ≠ 0")
    ) { try importJSON(sequential(#"{"class_name": "ReLU", "config": {CONFIG, "threshold": 0.5}}"#)) }
    #expect(
      throws: KerasImportError.unsupportedConfiguration(
        file: "inline.json", layer: "l", reason: "activation 'hard_tanh'")
    ) {
      try importJSON(
        sequential(#"{"class_name": "Activation", "config": {CONFIG, "activation": "hard_tanh"}}"#))
    }
    // An Embedding on the model input makes it a token-id input: its table is read.
    #expect(throws: KerasImportError.missingWeight(file: "inline.json", layer: "l", weight: "embeddings")) {
      try importJSON(sequential(#"{"class_name": "Embedding", "config": {CONFIG}}"#))
    }
    // One that does not read the input directly stays unsupported, saying when it is taken.
    let notOnInput = #expect(
      throws: KerasImportError.unsupportedLayer(file: "inline.json", layer: "e", className: "Embedding")
    ) {
      try importJSON(
        sequential(
          #"{"class_name": "ReLU", "config": {CONFIG}}, {"class_name": "Embedding", "config": {"name": "e", "input_dim": 4, "output_dim": 2}}"#
        ))
    }
    #expect(notOnInput?.description.contains("only when it reads a model input that no other layer reads") == true)
    #expect(
      throws: KerasImportError.invalidConfig(
        file: "inline.json", reason: "Sequential model 'l' without layers")
    ) {
      try importJSON(sequential(#"{"class_name": "Sequential", "config": {CONFIG, "layers": []}}"#))
    }
    #expect(
      throws: KerasImportError.unsupportedModel(
        file: "inline.json",
        reason: "top-level class MyModel (only Sequential and Functional models can be imported)")
    ) {
      try importJSON(#"{"class_name": "MyModel", "config": {}}"#)
    }
    // Case-insensitive class names, the ReLU max_value + negative_slope chain and causal padding.
    let g = try importJSON(
      sequential(#"{"class_name": "relu", "config": {CONFIG, "max_value": 2, "negative_slope": 0.5}}"#))
    #expect(g.nodes.map(\.name) == ["l_input", "l/leaky", "l"])
    let y = try forward(
      g, inputs: [Tensor(shape: [1, 4, 3], scalars: [-2, -1, 0, 1, 2, 3, 4, 5, -4, 0.5, 1.5, 2.5])])
    #expect(y[2].scalars == [-1, -0.5, 0, 1, 2, 2, 2, 2, -2, 0.5, 1.5, 2])
  }

  @Test func sequentialInsideSequential() throws {
    let text = """
      {"class_name": "Sequential", "config": {"name": "outer", "layers": [
        {"class_name": "InputLayer", "config": {"name": "in", "batch_input_shape": [null, 2]}},
        {"class_name": "Sequential", "config": {"name": "enc", "layers": [
          {"class_name": "Dense", "config": {"name": "d", "units": 2, "batch_input_shape": [null, 2]}},
          {"class_name": "ReLU", "config": {"name": "r"}}]}},
        {"class_name": "Dense", "config": {"name": "d", "units": 1, "use_bias": false}}]}}
      """
    let weights: [String: [String: Tensor]] = [
      "enc/d": [
        "kernel": Tensor(shape: [2, 2], scalars: [1, -1, 2, 1]), "bias": Tensor(shape: [2], scalars: [0, 1]),
      ],
      "d": ["kernel": Tensor(shape: [2, 1], scalars: [1, 10])],
    ]
    let g = try importJSON(text, weights: weights)
    #expect(g.nodes.map(\.name) == ["in", "enc/d", "enc/r", "enc", "d"])
    let y = try forward(g, inputs: [Tensor(shape: [2, 2], scalars: [1, 1, -1, 0])])
    // [1, 1] → [3, 1] → relu [3, 1] → 3 + 10 = 13;  [-1, 0] → [-1, 2] → [0, 2] → 20.
    #expect(y[g.outputs[0].rawValue].scalars == [13, 20])
  }

  /// Python's json.dumps writes NaN / Infinity; they read as null. Invalid UTF-8 is rejected.
  @Test func pythonConstantsAndInvalidUTF8() throws {
    let text = #"{"a": [NaN, Infinity, -Infinity, "NaN Infinity \" NaN"], "b": 1.5}"#
    let value = try #require(JSONValue.parse(Data(text.utf8)))
    #expect(value["a"] == .array([.null, .null, .null, .string("NaN Infinity \" NaN")]))
    #expect(value["b"]?.double == 1.5)
    #expect(JSONValue.parse(Data([0x7B, 0x22, 0xFF, 0xFE, 0x22, 0x3A, 0x31, 0x7D])) == nil)
    let g = try importJSON(
      """
      {"class_name": "Sequential", "config": [{"class_name": "ReLU",
        "config": {"name": "r", "max_value": Infinity, "batch_input_shape": [null, 2]}}]}
      """)
    guard case .activation(.relu) = g[g.outputs[0]].op else {
      Issue.record("ReLU(max_value=inf) is not a plain ReLU")
      return
    }
  }

  /// A Keras 3 Sequential built with `model.build(shape)` has no InputLayer entry; the first
  /// layer's `build_config` gives the input shape.
  @Test func keras3SequentialWithoutInputLayer() throws {
    let text = """
      {"module": "keras", "class_name": "Sequential", "config": {"name": "s", "layers": [
        {"module": "keras.layers", "class_name": "Dense", "config": {"name": "d", "units": 1},
         "build_config": {"input_shape": [null, 3]}}], "build_input_shape": [null, 3]}}
      """
    let g = try importJSON(
      text,
      weights: [
        "d": [
          "kernel": Tensor(shape: [3, 1], scalars: [1, 2, 3]), "bias": Tensor(shape: [1], scalars: [0.5]),
        ]
      ])
    #expect(g.inputNames == ["d_input"])
    guard case .input(let shape) = g[g.inputs[0]].op else { return }
    #expect(shape == [3])
    let y = try forward(g, inputs: [Tensor(shape: [1, 3], scalars: [1, 1, 1])])
    #expect(y[g.outputs[0].rawValue].scalars == [6.5])
  }

  @Test func malformedConfigurationsThrow() throws {
    let cases = [
      #"{"config": {}}"#,
      #"{"class_name": "Sequential", "config": 3}"#,
      #"{"class_name": "Sequential", "config": []}"#,
      #"{"class_name": "Sequential", "config": [{"class_name": "Dense", "config": {"name": "d", "units": 2}}]}"#,
      #"{"class_name": "Functional", "config": {"layers": [], "input_layers": [], "output_layers": []}}"#,
      #"{"class_name": "Model", "config": {"layers": [{"class_name": "InputLayer", "config": {"name": "i", "batch_input_shape": [null, 2]}, "inbound_nodes": []}, {"class_name": "Add", "name": "a", "config": {"name": "a"}, "inbound_nodes": [[["a", 0, 0, {}], ["i", 0, 0, {}]]]}], "input_layers": [["i", 0, 0]], "output_layers": [["a", 0, 0]]}}"#,
      #"{"class_name": "Model", "config": {"layers": [{"class_name": "InputLayer", "config": {"name": "i", "batch_input_shape": [null, 2]}, "inbound_nodes": []}, {"class_name": "Add", "name": "a", "config": {"name": "a"}, "inbound_nodes": [[["zz", 0, 0, {}], ["i", 0, 0, {}]]]}], "input_layers": [["i", 0, 0]], "output_layers": [["a", 0, 0]]}}"#,
      #"{"class_name": "Model", "config": {"layers": [{"class_name": "InputLayer", "config": {"name": "i", "batch_input_shape": [null, 2]}, "inbound_nodes": []}], "input_layers": [["i", 0, 0]], "output_layers": [["i", 1, 0]]}}"#,
    ]
    for layer in [
      #"{"class_name": "ZeroPadding1D", "config": {"name": "p", "padding": [1]}}"#,
      #"{"class_name": "Cropping1D", "config": {"name": "p", "cropping": [[1, 2]]}}"#,
      #"{"class_name": "ZeroPadding2D", "config": {"name": "p", "padding": [1, 2, 3]}}"#,
      #"{"class_name": "Cropping1D", "config": {"name": "p", "cropping": [3, 3]}}"#,
      #"{"class_name": "Reshape", "config": {"name": "p", "target_shape": [5, -1]}}"#,
      #"{"class_name": "Conv1D", "config": {"name": "p", "filters": 2, "kernel_size": 9}}"#,
      #"{"class_name": "MaxPooling1D", "config": {"name": "p", "pool_size": 0}}"#,
      #"{"class_name": "Permute", "config": {"name": "p", "dims": [1, 1]}}"#,
      #"{"class_name": "Softmax", "config": {"name": "p", "axis": 0}}"#,
    ] {
      let text = """
        {"class_name": "Sequential", "config": [{"class_name": "InputLayer",
          "config": {"name": "i", "batch_input_shape": [null, 4, 3]}}, \(layer)]}
        """
      #expect(throws: KerasImportError.self, "\(layer)") { try importJSON(text) }
    }
    for text in cases {
      #expect(throws: KerasImportError.self, "\(text)") { try importJSON(text) }
    }
  }

  /// Mutates random subtrees of real model configurations (wrong types, huge, negative or
  /// missing values) and checks that import either succeeds or throws — never traps — and
  /// that an imported graph runs forward or fails with a `GraphError`.
  @Test(arguments: ["zoo.h5", "residual.h5", "two_input.h5", "image_cnn.h5", "genomics_cnn.h5"])
  func mutatedConfigurationsNeverTrap(_ file: String) throws {
    let h5 = try HDF5File(url: try fixture(file))
    let original = try #require(JSONValue.parse(Data(try h5.root.stringAttribute("model_config").utf8)))
    let store = LegacyH5WeightStore(group: try h5.root.group("model_weights"), file: file)
    let replacements: [JSONValue] = [
      .null, .number(-1), .number(0), .number(3), .number(1e12), .number(2.5), .string("x"), .string("same"),
      .array([]), .object([:]), .array([.number(1), .number(2)]), .bool(true), .string("channels_first"),
    ]
    var rng = SplitMix64(seed: 42)
    var imported = 0
    var ran = 0
    for _ in 0..<400 {
      var json = original
      let count = nodeCount(json)
      let target = Int(rng.next() % UInt64(count))
      let replacement = replacements[Int(rng.next() % UInt64(replacements.count))]
      var index = 0
      json = replace(json, target: target, with: replacement, index: &index)
      guard let spec = try? parseModelConfig(json, file: file),
        let graph = try? buildGraph(spec, store: store, file: file)
      else { continue }
      imported += 1
      var shapes = [Shape]()
      for id in graph.inputs {
        guard case .input(let shape) = graph[id].op else { continue }
        shapes.append(Shape([1] + shape.map { min($0 ?? 3, 64) }))
      }
      guard shapes.allSatisfy({ $0.scalarCount <= 1 << 16 }),
        let all = try? graph.inferShapes(inputShapes: shapes), all.allSatisfy({ $0.scalarCount <= 1 << 20 })
      else { continue }
      if (try? forward(graph, inputs: shapes.map { Tensor(repeating: 0.5, shape: $0) })) != nil { ran += 1 }
    }
    #expect(imported > 0 && ran > 0, "\(imported) imported, \(ran) ran forward")
  }
}

private func nodeCount(_ v: JSONValue) -> Int {
  switch v {
  case .array(let a): 1 + a.map(nodeCount).reduce(0, +)
  case .object(let o): 1 + o.values.map(nodeCount).reduce(0, +)
  default: 1
  }
}

private func replace(_ v: JSONValue, target: Int, with r: JSONValue, index: inout Int) -> JSONValue {
  if index == target {
    index += 1
    return r
  }
  index += 1
  switch v {
  case .array(let a):
    return .array(a.map { replace($0, target: target, with: r, index: &index) })
  case .object(let o):
    var out = [String: JSONValue]()
    for key in o.keys.sorted() { out[key] = replace(o[key]!, target: target, with: r, index: &index) }
    return .object(out)
  default:
    return v
  }
}
