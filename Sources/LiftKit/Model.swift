import Foundation
import LiftIO
import LiftKeras
import LiftONNX
import LiftNN
import LiftTensor

/// The file formats a ``Model`` can be read from.
public enum ModelFormat: String, Sendable, CaseIterable {
  /// Keras 2.0–2.2, tf.keras / tf-keras 2.x (and Keras 3 legacy) HDF5 `.h5`.
  case kerasHDF5 = "keras-h5"
  /// Keras 3 `.keras` zip archive.
  case kerasArchive = "keras"
  /// ONNX protobuf (`torch.onnx.export`).
  case onnx

  /// The axis that holds channels in the model's inputs: −1 for Keras (channels last), 1 for
  /// ONNX/torch (`[N, C, L]`, `[N, C, H, W]`).
  public var channelAxis: Int { self == .onnx ? 1 : -1 }
}

/// Errors from loading a model file; each prints as one line naming the file.
public enum ModelError: Error, CustomStringConvertible {
  /// The file is missing, empty, a directory or cannot be opened.
  case unreadable(file: String, reason: String)
  /// The content is neither a Keras nor an ONNX model.
  case unrecognized(file: String)
  /// The Keras importer rejected the file (its message names the file and layer).
  case keras(KerasImportError)
  /// The ONNX importer rejected the file.
  case onnx(file: String, message: String)
  /// The model holds a NaN or infinite weight (the error names the layer and index).
  case nonFiniteWeight(file: String, GraphError)

  /// One line naming the file and the problem.
  public var description: String {
    switch self {
    case .unreadable(let f, let r): return "\(f): \(r)"
    case .unrecognized(let f):
      return "\(f): not a model file (expected Keras .h5 / .keras or ONNX .onnx)"
    case .keras(let e): return e.description
    case .onnx(_, let m): return m
    case .nonFiniteWeight(let f, let e): return "\(f): \(e.description)"
    }
  }
}

/// A model loaded from a file: its graph (channels-last IR) and where it came from.
public struct Model: Sendable {
  /// The model as a graph of primitive operations (channels-last layout; node names are the
  /// importer's layer names).
  public var graph: Graph
  /// The file format it was read from.
  public let format: ModelFormat
  /// The file it was read from.
  public let url: URL

  /// Wraps a graph built or transformed in code.
  public init(graph: Graph, format: ModelFormat, url: URL) {
    self.graph = graph
    self.format = format
    self.url = url
  }

  /// Loads a Keras or ONNX model, recognising the format from the file's content (HDF5
  /// signature, zip signature, else an ONNX protobuf).
  ///
  /// - Throws: ``ModelError`` for a missing, truncated, foreign or unsupported file; never
  ///   traps.
  public init(contentsOf url: URL) throws(ModelError) {
    let file = url.lastPathComponent
    // A regular file only, checked without blocking (a named pipe would hang every reader
    // below, a device such as /dev/zero never ends).
    do throws(NumpyIOError) { try checkRegularFile(url.path, name: file) } catch {
      guard case .cannotOpen(_, let reason) = error else { throw .unreadable(file: file, reason: error.description) }
      throw .unreadable(file: file, reason: reason)
    }
    guard let handle = try? FileHandle(forReadingFrom: url) else {
      throw .unreadable(file: file, reason: "cannot open for reading")
    }
    let head = (try? handle.read(upToCount: 8)).map { [UInt8]($0) } ?? []
    try? handle.close()
    guard !head.isEmpty else { throw .unreadable(file: file, reason: "empty file") }
    let (isHDF5, isZip) = Model.signatures(head)
    // Content decides: HDF5 and zip signatures are Keras; anything else is tried as ONNX. A
    // Keras extension only matters when ONNX fails too (an HDF5 file with a user block has
    // its signature at 512, which the Keras loader finds; its error is the one reported).
    let kerasExtension = ["h5", "keras", "hdf5"].contains(url.pathExtension.lowercased())
    if !(isHDF5 || isZip), let onnx = Model.onnxLoader {
      do {
        graph = try onnx(url)
        try Model.checkWeights(graph, file: file)
        format = .onnx
        self.url = url
        return
      } catch {
        // A model ONNX did read is reported as such, whatever its name.
        if case .nonFiniteWeight = error { throw error }
        if !kerasExtension { throw error }
      }
    }
    if isHDF5 || isZip || kerasExtension {
      do {
        graph = try loadKerasModel(at: url)
      } catch {
        throw .keras(error)
      }
      try Model.checkWeights(graph, file: file)
      format = isZip ? .kerasArchive : .kerasHDF5
      self.url = url
      return
    }
    throw .unrecognized(file: file)
  }

  /// Whether the first bytes of a file are the HDF5 signature (Keras `.h5`) or a zip's
  /// (Keras 3 `.keras`); anything else is tried as ONNX.
  static func signatures(_ head: [UInt8]) -> (hdf5: Bool, zip: Bool) {
    let hdf5: [UInt8] = [0x89, 0x48, 0x44, 0x46, 0x0D, 0x0A, 0x1A, 0x0A]
    return (head.starts(with: hdf5), head.count >= 4 && head[0] == 0x50 && head[1] == 0x4B)
  }

  /// Refuses a graph with a NaN or infinite parameter (``LiftNN/Graph/checkFiniteParameters()``),
  /// for every format: such a model gives NaN scores.
  static func checkWeights(_ graph: Graph, file: String) throws(ModelError) {
    do { try graph.checkFiniteParameters() } catch { throw .nonFiniteWeight(file: file, error) }
  }

  /// The ONNX importer (LiftONNX); its errors keep their one-line descriptions.
  static let onnxLoader: (@Sendable (URL) throws(ModelError) -> Graph)? = { url throws(ModelError) in
    do throws(ONNXImportError) {
      return try loadONNXModel(at: url)
    } catch {
      throw .onnx(file: url.lastPathComponent, message: "\(url.lastPathComponent): \(error.description)")
    }
  }

  /// The channel axis of the inputs (see ``ModelFormat/channelAxis``).
  public var channelAxis: Int { format.channelAxis }
}
