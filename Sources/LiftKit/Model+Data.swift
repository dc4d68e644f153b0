import Foundation
import LiftNN
import LiftONNX

extension Model {
  /// Loads a model from its serialized bytes (an in-memory `torch.onnx.export`, a Keras file
  /// read by the caller), recognising the format from the content as
  /// ``init(contentsOf:)`` does.
  ///
  /// ONNX is read in memory (external data is refused: there is no folder to read it from).
  /// Keras files (HDF5 or zip signature) are written to a private temporary folder, read with
  /// ``init(contentsOf:)`` and removed: their readers need a file.
  ///
  /// - Parameters:
  ///   - data: the whole file's content.
  ///   - name: the name that messages (and ``url``) give the model, e.g. `model.onnx`.
  /// - Throws: ``ModelError`` for empty, foreign, truncated or unsupported content; never traps.
  public init(data: Data, name: String = "model.onnx") throws(ModelError) {
    let file = name.isEmpty ? "model" : (name as NSString).lastPathComponent
    guard !data.isEmpty else { throw .unreadable(file: file, reason: "empty model bytes") }
    let head = [UInt8](data.prefix(8))
    let hdf5: [UInt8] = [0x89, 0x48, 0x44, 0x46, 0x0D, 0x0A, 0x1A, 0x0A]
    let isZip = head.count >= 4 && head[0] == 0x50 && head[1] == 0x4B
    if head.starts(with: hdf5) || isZip {
      let fm = FileManager.default
      let dir = fm.temporaryDirectory.appendingPathComponent("liftkit-model-\(UUID().uuidString)")
      do { try fm.createDirectory(at: dir, withIntermediateDirectories: false) } catch {
        throw .unreadable(file: file, reason: "cannot create a temporary folder: \(error.localizedDescription)")
      }
      defer { try? fm.removeItem(at: dir) }
      let ext = isZip ? "keras" : "h5"
      let base = (file as NSString).deletingPathExtension
      let url = dir.appendingPathComponent((base.isEmpty ? "model" : base) + "." + ext)
      do { try data.write(to: url) } catch {
        throw .unreadable(file: file, reason: "cannot write a temporary copy: \(error.localizedDescription)")
      }
      self = try Model(contentsOf: url)
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
