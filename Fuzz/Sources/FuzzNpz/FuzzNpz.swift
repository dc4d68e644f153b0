import Foundation
import FuzzDriver
import LiftIO

/// libFuzzer entry: any bytes as an `.npz` archive. Must throw `NumpyIOError` or succeed.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
  let data = Data(bytes: start, count: count)
  if let arrays = try? NumPy.readArchive(data: data, name: "fuzz.npz") {
    for (_, tensor) in arrays { precondition(tensor.scalarCount == tensor.shape.scalarCount) }
  }
  return 0
}

/// The process entry point (SwiftPM links it as `main`): libFuzzer's driver on ``fuzz(_:_:)``.
@_cdecl("FuzzNpz_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
  deeplift_fuzz_run(argc, argv) { data, size in
    guard let data else { return 0 }
    return fuzz(UnsafeRawPointer(data), size)
  }
}
