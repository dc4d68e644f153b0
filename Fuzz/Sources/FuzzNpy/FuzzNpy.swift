import Foundation
import FuzzDriver
import LiftIO

/// libFuzzer entry: any bytes as a `.npy` image. Must throw `NumpyIOError` or succeed.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
  let data = Data(bytes: start, count: count)
  if let tensor = try? NumPy.read(data: data, name: "fuzz.npy") {
    precondition(tensor.scalarCount == tensor.shape.scalarCount)
  }
  if let file = try? NpyFile(data: data, name: "fuzz.npy"), file.shape.rank > 0 {
    let rows = file.rowCount
    _ = try? file.readRows(0..<min(rows, 2))
    _ = try? file.readRows(max(0, rows - 1)..<rows)
    _ = try? file.readRows(rows..<(rows + 1))  // out of range: must throw
  }
  return 0
}

/// The process entry point (SwiftPM links it as `main`): libFuzzer's driver on ``fuzz(_:_:)``.
@_cdecl("FuzzNpy_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
  deeplift_fuzz_run(argc, argv) { data, size in
    guard let data else { return 0 }
    return fuzz(UnsafeRawPointer(data), size)
  }
}
