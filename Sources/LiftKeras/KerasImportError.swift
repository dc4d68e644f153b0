import LiftNN

/// Errors thrown while importing a Keras model. Every case names the file (last path
/// component) and, where there is one, the Keras layer; ``description`` is one line.
public enum KerasImportError: Error, Equatable, Sendable, CustomStringConvertible {
  /// The file could not be read (missing, a directory, no permission).
  case unreadable(file: String, reason: String)
  /// The content is neither a Keras HDF5 file nor a `.keras` archive (or is one without a
  /// model configuration, such as a weights-only file).
  case notAKerasFile(file: String, reason: String)
  /// The container is damaged: a truncated or corrupt HDF5 file or zip archive.
  case corrupt(file: String, reason: String)
  /// The model configuration JSON is malformed or lacks something the importer needs.
  case invalidConfig(file: String, reason: String)
  /// The model as a whole cannot be imported (subclassed model, unknown container class, …).
  case unsupportedModel(file: String, reason: String)
  /// A layer class with no converter (LSTM, Embedding, Lambda, custom layers, nested models).
  case unsupportedLayer(file: String, layer: String, className: String)
  /// Several layers without a converter, all listed by class (one such layer is
  /// ``unsupportedLayer(file:layer:className:)``).
  case unsupportedLayers(file: String, UnsupportedKinds)
  /// A supported layer class used with an option the importer does not implement.
  case unsupportedConfiguration(file: String, layer: String, reason: String)
  /// A weight the layer needs is absent from the file.
  case missingWeight(file: String, layer: String, weight: String)
  /// A weight has another shape than the layer's configuration and input imply.
  case weightShapeMismatch(file: String, layer: String, weight: String, expected: [Int], found: [Int])
  /// The layer's input shapes are inconsistent with what it does (rank, extents).
  case shapeMismatch(file: String, layer: String, reason: String)

  /// What to do about a `Lambda` layer: the file stores its Python code (or only its name),
  /// which no importer can run.
  static let lambdaAdvice =
    " (a Lambda layer holds Python code that the file cannot carry: re-save the model with built-in layers in place of the Lambda, or export it to ONNX)"
  static let embeddingAdvice =
    " (an Embedding is taken only when it reads a model input that no other layer reads: that input then takes token ids)"

  public var description: String {
    switch self {
    case .unreadable(let file, let reason): "\(file): cannot read file: \(reason)"
    case .notAKerasFile(let file, let reason): "\(file): not a Keras model: \(reason)"
    case .corrupt(let file, let reason): "\(file): damaged file: \(reason)"
    case .invalidConfig(let file, let reason): "\(file): invalid model configuration: \(reason)"
    case .unsupportedModel(let file, let reason): "\(file): unsupported model: \(reason)"
    case .unsupportedLayer(let file, let layer, let className):
      "\(file): layer '\(layer)' has unsupported class \(className)"
        + (className == "Lambda" ? KerasImportError.lambdaAdvice : "")
        + (className == "Embedding" ? KerasImportError.embeddingAdvice : "")
    case .unsupportedLayers(let file, let kinds):
      "\(file): unsupported layers: \(kinds.description(noun: "layer")) — \(kinds.totals(noun: "layer", kindNoun: "class"))"
        + (kinds.entries.contains { $0.kind == "Lambda" } ? KerasImportError.lambdaAdvice : "")
        + (kinds.entries.contains { $0.kind == "Embedding" } ? KerasImportError.embeddingAdvice : "")
    case .unsupportedConfiguration(let file, let layer, let reason):
      "\(file): layer '\(layer)': unsupported configuration: \(reason)"
    case .missingWeight(let file, let layer, let weight):
      "\(file): layer '\(layer)': weight '\(weight)' not found"
    case .weightShapeMismatch(let file, let layer, let weight, let expected, let found):
      "\(file): layer '\(layer)': weight '\(weight)' has shape \(found), expected \(expected)"
    case .shapeMismatch(let file, let layer, let reason): "\(file): layer '\(layer)': \(reason)"
    }
  }
}
