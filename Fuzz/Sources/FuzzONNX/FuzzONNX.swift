import Foundation
import FuzzDriver
import LiftNN
import LiftONNX
import LiftTensor

/// libFuzzer entry: any bytes as an ONNX model (protobuf). Import must throw
/// `ONNXImportError` or give a graph; an imported graph must infer shapes and run forward on
/// small inputs or throw `GraphError`. External data is looked up nowhere (no directory).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
  let data = Data(bytes: start, count: count)
  guard let graph = try? loadONNXModel(from: data, externalDataDirectory: nil) else { return 0 }
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
@_cdecl("FuzzONNX_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
  deeplift_fuzz_run(argc, argv) { data, size in
    guard let data else { return 0 }
    return fuzz(UnsafeRawPointer(data), size)
  }
}
