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
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
  let data = Data(bytes: start, count: count)
  guard let graph = try? importer.importGraph(configJSON: data) else { return 0 }
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
