import LiftNN

/// Errors thrown while reading an ONNX model into a ``LiftNN/Graph``.
///
/// Every case prints as one line naming the file, tensor or node concerned
/// (`description`), so the command-line tool can show it unchanged.
public enum ONNXImportError: Error, Equatable, CustomStringConvertible {
  /// The file could not be read at all.
  case unreadableFile(path: String, reason: String)
  /// The bytes are not a valid serialized `ModelProto` (truncated or not ONNX).
  case invalidProtobuf(reason: String)
  /// The model imports the default (`ai.onnx`) operator set at a version outside 7…23, or
  /// not at all.
  case unsupportedOpset(version: Int?)
  /// A node uses an operator domain other than the default one (`com.microsoft`, …).
  case unsupportedDomain(domain: String, opType: String, node: String)
  /// An operator without a converter (LSTM, If, Loop, Attention, …).
  case unsupportedOperator(opType: String, node: String, opset: Int)
  /// Several nodes with operators (or domains, as `domain.OpType`) the importer does not
  /// convert, all listed (one such node is ``unsupportedOperator(opType:node:opset:)`` or
  /// ``unsupportedDomain(domain:opType:node:)``).
  case unsupportedOperators(UnsupportedKinds, opset: Int)
  /// A supported operator used in a way the importer cannot express in the graph IR
  /// (an attribute value, a broadcast between two graph tensors, an op on the batch axis, …).
  case unsupportedUsage(opType: String, node: String, reason: String)
  /// A node reads a tensor that no earlier node, input or initializer produces.
  case missingTensor(name: String, node: String)
  /// A tensor's element type is not one the importer can decode (or, for a model input,
  /// not float32).
  case unsupportedDataType(tensor: String, dataType: Int)
  /// A tensor's stored data does not match its dimensions, or is otherwise malformed.
  case invalidTensor(name: String, reason: String)
  /// An initializer keeps its data in an external file that is missing or too short.
  case missingExternalData(tensor: String, file: String)
  /// An initializer's external data may not be read: the location is absolute or resolves
  /// outside the model's folder, the file is not a regular file, or its offset and length do
  /// not fit the file or the tensor.
  case invalidExternalData(tensor: String, location: String, reason: String)
  /// A model input has a symbolic or missing extent on an axis other than the batch axis.
  case dynamicDimension(input: String, axis: Int)
  /// Anything else structurally wrong with the model (no outputs, an output that is a
  /// constant, …).
  case invalidModel(String)

  public var description: String {
    switch self {
    case .unreadableFile(let path, let reason): "cannot read ONNX model \(path): \(reason)"
    case .invalidProtobuf(let reason): "not a valid ONNX model (protobuf decoding failed: \(reason))"
    case .unsupportedOpset(let v):
      if let v {
        "ONNX opset \(v) is not supported (supported: 7…23)"
      } else {
        "the model imports no default-domain ONNX opset"
      }
    case .unsupportedDomain(let domain, let op, let node):
      "node '\(node)' (\(op)) uses operator domain '\(domain)'; only the default ONNX domain is supported"
    case .unsupportedOperator(let op, let node, let opset):
      "node '\(node)': operator \(op) (opset \(opset)) is not supported"
    case .unsupportedOperators(let kinds, let opset):
      "unsupported operators (opset \(opset)): \(kinds.description(noun: "node")) — \(kinds.totals(noun: "node", kindNoun: "operator type"))"
    case .unsupportedUsage(let op, let node, let reason): "node '\(node)' (\(op)): \(reason)"
    case .missingTensor(let name, let node): "node '\(node)' reads tensor '\(name)', which is never defined"
    case .unsupportedDataType(let tensor, let type):
      "tensor '\(tensor)' has unsupported ONNX data type \(type) (\(onnxDataTypeName(type)))"
    case .invalidTensor(let name, let reason): "tensor '\(name)': \(reason)"
    case .missingExternalData(let tensor, let file):
      "initializer '\(tensor)' stores its data in external file '\(file)', which is missing or too short"
    case .invalidExternalData(let tensor, let location, let reason):
      "initializer '\(tensor)' stores its data in external file '\(location)', which cannot be read: \(reason)"
    case .dynamicDimension(let input, let axis):
      "input '\(input)' has a dynamic extent on axis \(axis); only the batch axis (0) may be dynamic"
    case .invalidModel(let reason): "invalid ONNX model: \(reason)"
    }
  }
}
