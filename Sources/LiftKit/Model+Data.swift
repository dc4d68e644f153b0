import Foundation
import LiftNN
import LiftONNX

extension Model {
  /// Loads a model from its serialized bytes (an in-memory `torch.onnx.export`, a Keras file
  /// read by the caller), recognising the format from the content as
  /// ``init(contentsOf:)`` does.
  ///
  /// ONNX is read in memory (external data is refused: there is no folder to read it from).
  /// Keras files (HDF5 or zip signature, or a Keras name: `.h5`, `.keras`, `.hdf5`) are written
  /// to a private temporary folder, read with ``init(contentsOf:)`` and removed: their readers
  /// need a file.
  ///
  /// - Parameters:
  ///   - data: the whole file's content.
  ///   - name: the name that messages (and ``url``) give the model, e.g. `model.onnx`.
  /// - Throws: ``ModelError`` for empty, foreign, truncated or unsupported content; never traps.
  public init(data: Data, name: String = "model.onnx") throws(ModelError) {
    let file = name.isEmpty ? "model" : (name as NSString).lastPathComponent
    guard !data.isEmpty else { throw .unreadable(file: file, reason: "empty model bytes") }
    let (isHDF5, isZip) = Model.signatures([UInt8](data.prefix(8)))
    let ext = (file as NSString).pathExtension.lowercased()
    // A Keras name goes the file's way too: an HDF5 file with a user block has its signature
    // further in, which the Keras reader finds.
    if isHDF5 || isZip || ["h5", "keras", "hdf5"].contains(ext) {
      let fm = FileManager.default
      let dir = fm.temporaryDirectory.appendingPathComponent("liftkit-model-\(UUID().uuidString)")
      do { try fm.createDirectory(at: dir, withIntermediateDirectories: false) } catch {
        throw .unreadable(file: file, reason: "cannot create a temporary folder: \(error.localizedDescription)")
      }
      defer { try? fm.removeItem(at: dir) }
      let base = (file as NSString).deletingPathExtension
      let kind = ["h5", "keras", "hdf5"].contains(ext) ? ext : (isZip ? "keras" : "h5")
      let url = dir.appendingPathComponent((base.isEmpty ? "model" : base) + "." + kind)
      do { try data.write(to: url) } catch {
        throw .unreadable(file: file, reason: "cannot write a temporary copy: \(error.localizedDescription)")
      }
      let read = try Model(contentsOf: url)
      self.init(graph: read.graph, format: read.format, url: URL(fileURLWithPath: file))
      return
    }
    let graph: Graph
    do throws(ONNXImportError) {
      graph = try loadONNXModel(from: data)
    } catch {
      throw .onnx(file: file, message: "\(file): \(error.description)")
    }
    try Model.checkWeights(graph, file: file)
    self.init(graph: graph, format: .onnx, url: URL(fileURLWithPath: file))
  }
}
