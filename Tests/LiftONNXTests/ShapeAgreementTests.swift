import Foundation
import LiftNN
import LiftONNX
import LiftTensor
import Testing

/// Issue 20 part 1: the per-example shapes LiftNN infers at import (unknown extents as nil)
/// agree with the shapes of an actual forward pass, and with the full shapes inferred for
/// those inputs, for every ONNX fixture that imports. An unknown input extent is given as 16.
@Suite("Import-time shapes agree with the forward pass (ONNX fixtures)")
struct ONNXShapeAgreementTests {
  static let fixtureDirectory = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!

  static var models: [String] {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: fixtureDirectory.path)) ?? []
    return names.filter { ["onnx"].contains(($0 as NSString).pathExtension) }.sorted()
  }

  @Test func agree() throws {
    var checked = 0
    for file in Self.models {
      guard let graph = try? loadONNXModel(at: Self.fixtureDirectory.appendingPathComponent(file)) else { continue }
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
}
