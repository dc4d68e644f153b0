import Foundation
import LiftNN
import LiftTensor
import Testing

@testable import LiftKeras

/// Issue 20 part 1: the per-example shapes LiftNN infers at import (unknown extents as nil)
/// agree with the shapes of an actual forward pass, and with the full shapes inferred for
/// those inputs, for every Keras fixture that imports. An unknown input extent is given as 16.
@Suite("Import-time shapes agree with the forward pass (Keras fixtures)")
struct KerasShapeAgreementTests {
  static let fixtureDirectory = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!

  static var models: [String] {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: fixtureDirectory.path)) ?? []
    return names.filter { ["h5", "keras"].contains(($0 as NSString).pathExtension) }.sorted()
  }

  @Test func agree() throws {
    var checked = 0
    for file in Self.models {
      guard let graph = try? loadKerasModel(at: Self.fixtureDirectory.appendingPathComponent(file)) else { continue }
      checked += 1
      let partial = try graph.inferExampleShapes()
      let inputs = graph.inputs.map { id -> Tensor in
        guard case .input(let declared) = graph[id].op else { return Tensor.zeros([2]) }
        return Tensor.zeros(Shape([2] + declared.map { $0 ?? 16 }))
      }
      let values = try forward(graph, inputs: inputs)
      let full = try graph.inferShapes(inputShapes: inputs.map(\.shape))
      for (i, node) in graph.nodes.enumerated() {
        let actual = values[i].shape.dimensions
        #expect(full[i].dimensions == actual, "\(file) \(node.name): full \(full[i]) vs forward \(actual)")
        let example = Array(actual.dropFirst())
        let p = partial[i]
        #expect(
          p.count == example.count && zip(p, example).allSatisfy { $0 == nil || $0 == $1 },
          "\(file) \(node.name): import \(p) vs forward \(example)")
        if graph.inputs.allSatisfy({ id in
          if case .input(let d) = graph[id].op { return !d.contains(nil) }
          return true
        }) {
          #expect(!p.contains(nil), "\(file) \(node.name): unknown extent \(p) with every input known")
        }
      }
    }
    #expect(checked >= 15, "only \(checked) fixtures imported")
  }

  /// No committed Keras fixture leaves an extent open, so this configuration does: a sequence
  /// model of unknown length (conv same/stride 2, pool, pad, global pool, dense; cropping
  /// needs a known extent) whose
  /// length-dependent shapes stay unknown at import and match the forward pass at 3 lengths.
  @Test func unknownLengthAgrees() throws {
    let json = """
      {"class_name": "Sequential", "config": [
        {"class_name": "InputLayer", "config": {"name": "x", "batch_input_shape": [null, null, 4]}},
        {"class_name": "Conv1D", "config": {"name": "c", "filters": 3, "kernel_size": 5, "strides": 2, "padding": "same"}},
        {"class_name": "MaxPooling1D", "config": {"name": "p", "pool_size": 2}},
        {"class_name": "ZeroPadding1D", "config": {"name": "z", "padding": [2, 1]}},
        {"class_name": "GlobalMaxPooling1D", "config": {"name": "g"}},
        {"class_name": "Dense", "config": {"name": "d", "units": 2}}]}
      """
    let spec = try parseModelConfig(try #require(JSONValue.parse(Data(json.utf8))), file: "inline.json")
    let weights: [String: [String: Tensor]] = [
      "c": ["kernel": Tensor.zeros([5, 4, 3]), "bias": Tensor.zeros([3])],
      "d": ["kernel": Tensor.zeros([3, 2]), "bias": Tensor.zeros([2])],
    ]
    let graph = try buildGraph(spec, store: DictionaryStore(tensors: weights), file: "inline.json")
    let partial = try graph.inferExampleShapes()
    // Length-dependent axes unknown; channels and the dense output known.
    #expect(partial.first == [nil, 4])
    #expect(partial.last == [2])
    #expect(partial.contains([nil, 3]))
    // Lengths L: conv ⌈L/2⌉, pool ⌊·/2⌋, pad +3 (checked against the forward pass).
    for length in [16, 23, 40] {
      let values = try forward(graph, inputs: [Tensor.zeros([2, length, 4])])
      for (i, node) in graph.nodes.enumerated() {
        let example = Array(values[i].shape.dimensions.dropFirst())
        let p = partial[i]
        #expect(
          p.count == example.count && zip(p, example).allSatisfy { $0 == nil || $0 == $1 },
          "L=\(length) \(node.name): import \(p) vs forward \(example)")
      }
      let pooled = ((length + 1) / 2) / 2
      #expect(values[graph.node(named: "z")!.rawValue].shape.dimensions == [2, pooled + 3, 3])
    }
  }

  /// A shape error at import names the Keras layer and shows unknown extents as `?`.
  @Test func mismatchNamesTheLayer() throws {
    let json = """
      {"class_name": "Model", "config": {"layers": [
        {"class_name": "InputLayer", "config": {"name": "i", "batch_input_shape": [null, null, 4]}, "inbound_nodes": []},
        {"class_name": "InputLayer", "config": {"name": "j", "batch_input_shape": [null, null, 5]}, "inbound_nodes": []},
        {"class_name": "Add", "name": "sum", "config": {"name": "sum"}, "inbound_nodes": [[["i", 0, 0, {}], ["j", 0, 0, {}]]]}],
        "input_layers": [["i", 0, 0], ["j", 0, 0]], "output_layers": [["sum", 0, 0]]}}
      """
    let spec = try parseModelConfig(try #require(JSONValue.parse(Data(json.utf8))), file: "inline.json")
    #expect {
      try buildGraph(spec, store: DictionaryStore(tensors: [:]), file: "inline.json")
    } throws: { error in
      guard case .shapeMismatch(let file, let layer, let reason) = error as? KerasImportError else { return false }
      return file == "inline.json" && layer == "sum" && reason.contains("(?, 4), (?, 5)")
    }
  }
}
