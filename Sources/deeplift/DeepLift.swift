import ArgumentParser
import Foundation
import LiftIO
import LiftTensor

#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

/// The `deeplift` command: explain, run and inspect Keras / ONNX models from the shell.
///
/// Every failure ends the process through ``exitReporting(_:)``: one `error: …` line on
/// standard error, exit status 1 for bad data and 2 for bad usage (see ``ExitStatus``).
@main
struct DeepLift: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "deeplift",
    abstract: "Explain neural-network predictions with DeepLIFT and related methods.",
    discussion: """
      MODEL is a Keras HDF5 (.h5), Keras 3 (.keras) or ONNX (.onnx) file; arrays are NumPy \
      .npy files (.npz for several model inputs). Outputs are written atomically and \
      together: on any error (or SIGINT, SIGTERM, SIGHUP) no output file is replaced or left \
      behind. Devices and named pipes (/dev/null, /dev/stdout) are written directly.

      Arrays are checked before any work: each must have the model input's shape with a \
      leading example axis, every value must be finite (a NaN or infinity in an input, \
      reference or background file is an error naming the file and the first bad index), \
      and `explain` refuses an input with no examples (N = 0); `predict` writes an empty \
      output for it. No output may be one of the files read or another output (exit 2); \
      every file read must be a regular file (not a pipe or device). Reading a model \
      that takes longer than DEEPLIFT_LOAD_TIMEOUT seconds (default 300, at most 86400) ends \
      with an error (exit 1): some damaged HDF5 files make the HDF5 library loop.

      Activations are held within a memory budget: half of the memory the process may use \
      (physical memory, cgroup limit, ulimit -v), or DEEPLIFT_MEMORY_BUDGET (bytes, or with \
      a suffix K, M, G, T: 512M, 8G). Batches are made smaller to fit it (a note says so); a \
      model one example of which does not fit is refused, naming its largest layer (exit 1).

      Exit status: 0 on success, 1 on bad data (unreadable or malformed file, wrong shape, \
      unsupported layer, task out of range), 2 on bad usage (unknown option or method, \
      malformed NAME=FILE or --task).
      """,
    version: toolVersion,
    subcommands: [Explain.self, Predict.self, Inspect.self, Shuffle.self, Plot.self, Merge.self])

  /// The tool version (`--version`, and the `tool_version` attribute of `.h5` outputs).
  static let toolVersion = "0.1.0"

  static func main() {
    // A closed pipe (`deeplift inspect m.h5 | head`) must not kill the process with SIGPIPE.
    signal(SIGPIPE, SIG_IGN)
    // Nor may a file-size limit (ulimit -f): writes then fail with EFBIG, the atomic writer
    // removes its temporary file and the tool reports one line.
    signal(SIGXFSZ, SIG_IGN)
    // SIGINT, SIGTERM and SIGHUP remove the temporary output files before the process dies.
    OutputTransaction.removeTemporaryFilesOnSignals()
    // Large tensors are allocated and freed once per batch; keeping freed pages mapped avoids
    // page-faulting every activation anew (measured: 1.3 s → 0.2 s of system time).
    Allocator.retainFreedMemory()
    do {
      var command = try parseAsRoot()
      try checkEnvironment()
      try command.run()
    } catch {
      exitReporting(error)
    }
  }
}
