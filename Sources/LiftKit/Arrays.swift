import Foundation
import LiftIO
import LiftTensor

extension LiftKitError {
  /// Wraps a `.npy` / `.npz` reading or writing error (its message names the file).
  public static func io(_ error: NumpyIOError) -> LiftKitError { .file(error) }
}

/// Reads a NumPy `.npy` file as float32 (any real or integer dtype, either byte order; see
/// LiftIO's `NumPy.read`).
///
/// - Throws: ``LiftKitError/file(_:)`` naming the file for a missing, truncated or
///   unsupported file.
public func readArray(at url: URL) throws(LiftKitError) -> Tensor {
  do { return try NumPy.read(url) } catch { throw .io(error) }
}

/// Reads every array of a NumPy `.npz` archive, in archive order.
///
/// - Throws: ``LiftKitError/file(_:)`` naming the file.
public func readArrays(at url: URL) throws(LiftKitError) -> [(name: String, tensor: Tensor)] {
  do { return try NumPy.readArchive(url).map { (name: $0.name, tensor: $0.tensor) } } catch {
    throw .io(error)
  }
}

extension Attribution {
  /// Writes the scores as the command line does, atomically: one input and no layers to a
  /// float32 `.npy` (unless `url` ends in `.npz`); otherwise an `.npz` with the members of
  /// ``namedArrays``.
  ///
  /// - Throws: ``LiftKitError/file(_:)`` when the file cannot be written (nothing is left
  ///   behind).
  public func write(to url: URL) throws(LiftKitError) {
    let arrays = namedArrays
    do {
      if arrays.count == 1 && layerScores.isEmpty && url.pathExtension.lowercased() != "npz" {
        try NumPy.write(arrays[0].tensor, to: url)
      } else {
        try NumPy.writeArchive(arrays, to: url)
      }
    } catch {
      throw .io(error)
    }
  }
}
