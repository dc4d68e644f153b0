import Foundation
import FuzzDriver
import LiftKeras

#if canImport(Glibc)
  import Glibc
#endif

/// Each input is written to this file (in /dev/shm when there is one) and loaded from it.
let scratch: String = {
  let directory = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
  return "\(directory)/deeplift-fuzz-\(getpid()).model"
}()

/// libFuzzer entry: any bytes as a model file (HDF5 through libhdf5, or a `.keras` zip).
/// Loading must throw `KerasImportError` or give a graph.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
  let fd = open(scratch, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
  guard fd >= 0 else { return 0 }
  var written = 0
  while written < count {
    let n = write(fd, start + written, count - written)
    if n <= 0 { break }
    written += n
  }
  close(fd)
  _ = try? loadKerasModel(at: URL(fileURLWithPath: scratch))
  return 0
}

/// The process entry point (SwiftPM links it as `main`): libFuzzer's driver on ``fuzz(_:_:)``.
@_cdecl("FuzzKerasFile_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
  deeplift_fuzz_run(argc, argv) { data, size in
    guard let data else { return 0 }
    return fuzz(UnsafeRawPointer(data), size)
  }
}
