import Foundation
import FuzzDriver
import LiftKeras
import LiftNN
import LiftTensor

/// The weights mutated configurations are imported against: zoo.h5 (tf-keras, most layer
/// kinds); configurations of other fixtures get missing-weight errors for the layers zoo.h5
/// lacks, which still exercises parsing. `FUZZ_KERAS_WEIGHTS` overrides the file.
nonisolated(unsafe) let importer: KerasConfigImporter = {
  let path =
    ProcessInfo.processInfo.environment["FUZZ_KERAS_WEIGHTS"]
    ?? URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Tests/LiftKerasTests/Fixtures/zoo.h5").path
  do {
    return try KerasConfigImporter(weightsFrom: URL(fileURLWithPath: path), file: "fuzz.json")
  } catch {
    fatalError("fuzz harness setup: \(error)")  // the harness itself, not the code under test
  }
}()

/// libFuzzer entry: any bytes as a model configuration. Import must throw
/// `KerasImportError` or give a graph; an imported graph must infer shapes and run forward on
/// small inputs or throw `GraphError`.
///
/// Huge extents (issue 15: ZeroPadding to 2.1·10⁹, Reshape, pooling sizes and strides, Dense
/// units and Conv filters, from the seeds in Corpus/keras-config/huge-*.json): with the
/// declared input extents as they are (open ones as 1), shape inference, the per-example
/// footprint, the memory plan against a 256 MiB budget and the parameter check must throw or
/// answer, never trap; the forward pass below still runs only on small shapes.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
  let data = Data(bytes: start, count: count)
  guard let graph = try? importer.importGraph(configJSON: data) else { return 0 }
  _ = try? graph.checkFiniteParameters()
  let declared = graph.inputs.map { id -> Shape in
    guard case .input(let shape) = graph[id].op else { return [1] }
    return Shape([1] + shape.map { $0 ?? 1 })
  }
  if let all = try? graph.inferShapes(inputShapes: declared) {
    _ = graph.activationFootprint(shapes: all)
    _ = try? graph.examplesPerForwardPass(inputShapes: declared, computing: Set(graph.outputs), requested: 64, budget: 1 << 28)
  }
  var shapes = [Shape]()
  for id in graph.inputs {
    guard case .input(let shape) = graph[id].op else { return 0 }
    shapes.append(Shape([1] + shape.map { min($0 ?? 3, 32) }))
  }
  guard shapes.allSatisfy({ $0.scalarCount <= 1 << 12 }),
    let all = try? graph.inferShapes(inputShapes: shapes), all.allSatisfy({ $0.scalarCount <= 1 << 16 })
  else { return 0 }
  _ = try? forward(graph, inputs: shapes.map { Tensor(repeating: 0.5, shape: $0) })
  return 0
}

/// The process entry point (SwiftPM links it as `main`): libFuzzer's driver on ``fuzz(_:_:)``.
@_cdecl("FuzzKerasConfig_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
  deeplift_fuzz_run(argc, argv) { data, size in
    guard let data else { return 0 }
    return fuzz(UnsafeRawPointer(data), size)
  }
}
