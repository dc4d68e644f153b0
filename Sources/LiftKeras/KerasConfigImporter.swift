import Foundation
import LiftHDF5
import LiftNN
import LiftTensor

/// Imports a Keras model configuration given as JSON bytes (the `model_config` attribute of a
/// legacy `.h5` file, or `config.json` of a `.keras` archive), with the weights of a legacy
/// `.h5` file or none.
///
/// This is the configuration half of ``loadKerasModel(at:)`` on its own: the entry point of the
/// Keras configuration fuzzer (Fuzz/), and a tool for checking a hand-edited configuration
/// against existing weights. Keep one importer to decode many configurations against the same
/// weights (the weight file is opened once).
///
/// ```swift
/// let importer = try KerasConfigImporter(weightsFrom: URL(fileURLWithPath: "zoo.h5"))
/// let graph = try importer.importGraph(configJSON: Data(text.utf8))
/// ```
public struct KerasConfigImporter {
  /// The group holding one subgroup per layer (`model_weights`, or the root of a file written
  /// by `save_weights`); `nil` when importing without weights.
  private let weights: HDF5Group?
  /// The name used in error messages.
  public let file: String
  /// The Keras version the configuration is read as (`hard_sigmoid` changed its formula in
  /// Keras 3); `nil` leaves such activations unsupported.
  public let kerasVersion: String?

  /// - Parameters:
  ///   - url: a legacy Keras `.h5` model (weights under `model_weights/<layer>`) or weights
  ///     file; `nil` imports without weights, so any layer that needs weights fails with
  ///     ``KerasImportError/missingWeight(file:layer:weight:)``.
  ///   - file: the name errors give for the configuration.
  ///   - kerasVersion: the writer's `keras_version` (`"2.21.0"`, `"3.15.1"`); by default the
  ///     weight file's `keras_version` attribute, if any.
  /// - Throws: ``KerasImportError`` when the weight file cannot be opened.
  public init(
    weightsFrom url: URL? = nil, file: String = "config.json", kerasVersion: String? = nil
  ) throws(KerasImportError) {
    self.file = file
    guard let url else {
      weights = nil
      self.kerasVersion = kerasVersion
      return
    }
    do {
      let h5 = try HDF5File(url: url)
      self.kerasVersion = kerasVersion ?? LiftKeras.kerasVersion(of: h5.root)
      weights = h5.root.containsGroup("model_weights") ? try h5.root.group("model_weights") : h5.root
    } catch {
      throw .corrupt(file: url.lastPathComponent, reason: error.description)
    }
  }

  /// Decodes `data` as a model configuration and builds its graph.
  ///
  /// - Throws: ``KerasImportError``; never traps, whatever the bytes.
  public func importGraph(configJSON data: Data) throws(KerasImportError) -> Graph {
    guard let json = JSONValue.parse(data) else {
      throw .invalidConfig(file: file, reason: "not valid JSON")
    }
    let spec = try parseModelConfig(json, file: file)
    let store: any WeightStore =
      if let weights { LegacyH5WeightStore(group: weights, file: file) } else { NoWeightStore(file: file) }
    return try buildGraph(spec, store: store, file: file, kerasVersion: kerasVersion)
  }
}

/// A store without weights: layers that need none import, the others fail naming the weight.
struct NoWeightStore: WeightStore {
  let file: String
  func weights(of layer: LayerSpec, sublayer: Sublayer?, expected: [String]) throws(KerasImportError)
    -> [String: Tensor]
  {
    if let first = expected.first {
      throw .missingWeight(file: file, layer: layer.name, weight: (sublayer.map { $0.legacyName + "/" } ?? "") + first)
    }
    return [:]
  }
}
