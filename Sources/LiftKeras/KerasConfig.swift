import Foundation

/// Class names of models, which may appear as layers of other models (lower-cased).
let containerClassNames: Set<String> = ["sequential", "functional", "model"]

/// A reference to the output of a layer call: Keras' `[layer name, node index, tensor index]`
/// (`keras_history` in Keras 3).
struct TensorRef: Hashable, Sendable {
  var layer: String
  var node: Int
  var tensor: Int
}

/// One layer entry of a model configuration.
struct LayerSpec: Sendable {
  /// The Keras class name as written (`Dense`, `Conv1D`, …).
  var className: String
  /// The graph name: the Keras layer name, prefixed with `<model>/` for each enclosing
  /// nested model.
  var name: String
  /// The layer's `config` object.
  var config: JSONValue
  /// For functional models: the inputs of each call ("inbound node"), in call order.
  var inbound: [[TensorRef]]
  /// Names of the enclosing nested models (outermost first) and of the layer itself, as the
  /// weight files key them.
  var weightKey: [String]
  /// A nested model's own configuration.
  var nested: NestedModel?
  /// The synthetic node that carries a flattened nested model's output (an identity).
  var isNestedOutput = false
  /// The keyword arguments of each call (tf-keras `TFOpLambda`: the constant operand of
  /// `tf.math.multiply(x, y=…)`), `null` where the call has none.
  var callArguments: [JSONValue] = []
  /// For each call, the keywords of the tensors passed by keyword (`value=`, `key=` of
  /// `MultiHeadAttention`), in the order their references close that call's ``inbound`` list.
  /// Only converters that name their operands accept them (``LayerConverter/acceptsKeywordTensors``).
  var keywordInputs: [[String]] = []

  init(className: String, name: String, config: JSONValue, inbound: [[TensorRef]], nested: NestedModel? = nil)
  {
    self.className = className
    self.name = name
    self.config = config
    self.inbound = inbound
    self.weightKey = [name]
    self.nested = nested
  }
}

/// Box for a nested model's configuration (a struct cannot contain itself).
final class NestedModel: Sendable {
  let spec: ModelSpec
  init(_ spec: ModelSpec) { self.spec = spec }
}

/// The parsed model configuration.
struct ModelSpec: Sendable {
  enum Kind: Sendable { case sequential, functional }
  var kind: Kind
  var name: String
  var layers: [LayerSpec]
  /// Functional models only.
  var inputs: [TensorRef]
  var outputs: [TensorRef]
}

/// Reads a `{"class_name": …, "config": …}` model configuration (tf.keras `model_config`,
/// Keras 3 `config.json`, Keras 2.0–2.2 `model_config`).
func parseModelConfig(_ json: JSONValue, file: String) throws(KerasImportError) -> ModelSpec {
  guard let className = json["class_name"]?.string else {
    throw .invalidConfig(file: file, reason: "no top-level class_name")
  }
  let config = json["config"] ?? .null
  switch className {
  case "Sequential":
    // Keras < 2.2.3: the config is the layer list itself; later: {name, layers}.
    let list: [JSONValue]
    if let a = config.array {
      list = a
    } else if let a = config["layers"]?.array {
      list = a
    } else {
      throw .invalidConfig(file: file, reason: "Sequential config without a layer list")
    }
    let layers = try list.enumerated().map { (i, entry) throws(KerasImportError) in
      try parseLayer(entry, index: i, functional: false, file: file)
    }
    return ModelSpec(
      kind: .sequential, name: config["name"]?.string ?? "sequential", layers: layers, inputs: [],
      outputs: [])
  case "Functional", "Model":
    guard let list = config["layers"]?.array else {
      throw .invalidConfig(file: file, reason: "\(className) config without a layer list")
    }
    let layers = try list.enumerated().map { (i, entry) throws(KerasImportError) in
      try parseLayer(entry, index: i, functional: true, file: file)
    }
    let inputs = try parseEndpoints(config["input_layers"], what: "input_layers", file: file)
    let outputs = try parseEndpoints(config["output_layers"], what: "output_layers", file: file)
    guard !inputs.isEmpty, !outputs.isEmpty else {
      throw .invalidConfig(file: file, reason: "functional model without inputs or outputs")
    }
    return ModelSpec(
      kind: .functional, name: config["name"]?.string ?? "model", layers: layers, inputs: inputs,
      outputs: outputs)
  default:
    throw .unsupportedModel(
      file: file,
      reason: "top-level class \(className) (only Sequential and Functional models can be imported)")
  }
}

private func parseLayer(_ entry: JSONValue, index: Int, functional: Bool, file: String)
  throws(KerasImportError) -> LayerSpec
{
  guard let className = entry["class_name"]?.string else {
    throw .invalidConfig(file: file, reason: "layer #\(index) has no class_name")
  }
  var config = entry["config"] ?? .null
  // Keras 3 keeps a layer's build shape beside its config; fold it in for the input-shape
  // fallback of Sequential models without an InputLayer.
  if var object = config.object, object["build_config"] == nil, let build = entry["build_config"] {
    object["build_config"] = build
    config = .object(object)
  }
  guard let name = entry["name"]?.string ?? config["name"]?.string, !name.isEmpty else {
    throw .invalidConfig(file: file, reason: "layer #\(index) (\(className)) has no name")
  }
  var inbound = [[TensorRef]]()
  var arguments = [JSONValue]()
  var keywordInputs = [[String]]()
  if functional, let nodes = entry["inbound_nodes"]?.array {
    for node in nodes {
      let (positional, keyword) = try parseInboundNode(node, layer: name, file: file)
      inbound.append(positional + keyword.map(\.ref))
      keywordInputs.append(keyword.map(\.keyword))
      arguments.append(callKeywordArguments(node))
    }
  }
  var nested: NestedModel?
  if containerClassNames.contains(className.lowercased()), config["layers"] != nil || config.array != nil {
    nested = NestedModel(try parseModelConfig(entry, file: file))
  }
  var spec = LayerSpec(className: className, name: name, config: config, inbound: inbound, nested: nested)
  spec.callArguments = arguments
  spec.keywordInputs = keywordInputs
  return spec
}

/// `[name, node, tensor]` or `[name, node, tensor, kwargs]`.
private func parseRefArray(_ value: JSONValue) -> TensorRef? {
  guard let a = value.array, a.count >= 3, let name = a[0].string, let node = a[1].int,
    let tensor = a[2].int, node >= 0, tensor >= 0
  else { return nil }
  return TensorRef(layer: name, node: node, tensor: tensor)
}

/// One inbound node: Keras 2 `[[name, node, tensor, kwargs], …]` or Keras 3
/// `{"args": [...keras tensors...], "kwargs": {...}}`. Returns the positional tensors and the
/// tensors passed by keyword (a keyword holding one tensor: a Keras 3 keras tensor, or a
/// tf-keras `[name, node, tensor]`), in sorted keyword order; a keyword holding several
/// tensors is refused.
private func parseInboundNode(_ node: JSONValue, layer: String, file: String)
  throws(KerasImportError) -> (positional: [TensorRef], keyword: [(keyword: String, ref: TensorRef)])
{
  if node.object != nil {
    var refs = [TensorRef]()
    collectKerasTensors(node["args"] ?? .null, into: &refs)
    return (refs, try keywordTensors(node["kwargs"] ?? .null, layer: layer, file: file))
  }
  guard let items = node.array else {
    throw .invalidConfig(file: file, reason: "layer '\(layer)' has a malformed inbound node")
  }
  if let single = parseRefArray(node), items.first?.string != nil {
    return ([single], try keywordTensors(items.dropFirst(3).first ?? .null, layer: layer, file: file))
  }
  var refs = [TensorRef]()
  var keyword = [(keyword: String, ref: TensorRef)]()
  for item in items {
    guard let ref = parseRefArray(item) else {
      throw .invalidConfig(file: file, reason: "layer '\(layer)' has a malformed inbound node")
    }
    if let kwargs = item.array?.dropFirst(3).first {
      keyword += try keywordTensors(kwargs, layer: layer, file: file)
    }
    refs.append(ref)
  }
  return (refs, keyword)
}

/// The tensors among a call's keyword arguments, one per keyword (sorted keyword order).
private func keywordTensors(_ kwargs: JSONValue, layer: String, file: String)
  throws(KerasImportError) -> [(keyword: String, ref: TensorRef)]
{
  guard let object = kwargs.object else { return [] }
  var result = [(keyword: String, ref: TensorRef)]()
  for key in object.keys.sorted() {
    let value = object[key]!
    var refs = [TensorRef]()
    collectKerasTensors(value, into: &refs)
    // tf-keras writes a keras tensor argument as its `[layer, node, tensor]` history.
    if refs.isEmpty, value.array?.count == 3, value.array?.first?.string != nil, let ref = parseRefArray(value) {
      refs = [ref]
    }
    guard refs.count <= 1 else {
      throw .unsupportedConfiguration(
        file: file, layer: layer, reason: "several tensors passed in keyword argument '\(key)'")
    }
    if let ref = refs.first { result.append((key, ref)) }
  }
  return result
}

/// The keyword arguments of one inbound node: tf-keras `[name, node, tensor, kwargs]` (alone
/// or first in a list), Keras 3 `{"kwargs": …}`; `null` when there are none.
private func callKeywordArguments(_ node: JSONValue) -> JSONValue {
  if node.object != nil { return node["kwargs"] ?? .null }
  guard let items = node.array else { return .null }
  let first = items.first?.string != nil ? node : (items.first ?? .null)
  return first.array?.dropFirst(3).first ?? .null
}

/// Collects Keras 3 `__keras_tensor__` references in document order.
private func collectKerasTensors(_ value: JSONValue, into refs: inout [TensorRef], depth: Int = 0) {
  guard depth < 64 else { return }
  switch value {
  case .array(let a):
    for v in a { collectKerasTensors(v, into: &refs, depth: depth + 1) }
  case .object(let o):
    if o["class_name"]?.string == "__keras_tensor__",
      let history = o["config"]?["keras_history"], let ref = parseRefArray(history)
    {
      refs.append(ref)
    } else {
      for key in o.keys.sorted() { collectKerasTensors(o[key]!, into: &refs, depth: depth + 1) }
    }
  default:
    break
  }
}

/// `input_layers` / `output_layers`: a list of refs, a single flat ref (Keras 3, one input),
/// or a dict of refs (Keras 3 named inputs; flattened in sorted key order like `keras.tree`).
private func parseEndpoints(_ value: JSONValue?, what: String, file: String)
  throws(KerasImportError) -> [TensorRef]
{
  guard let value else { throw .invalidConfig(file: file, reason: "no \(what)") }
  if let ref = parseRefArray(value), value.array?.first?.string != nil { return [ref] }
  if let items = value.array {
    var refs = [TensorRef]()
    for item in items {
      guard let ref = parseRefArray(item) else {
        throw .invalidConfig(file: file, reason: "malformed entry in \(what)")
      }
      refs.append(ref)
    }
    return refs
  }
  if let dict = value.object {
    var refs = [TensorRef]()
    for key in dict.keys.sorted() {
      guard let ref = parseRefArray(dict[key]!) else {
        throw .invalidConfig(file: file, reason: "malformed entry in \(what)")
      }
      refs.append(ref)
    }
    return refs
  }
  throw .invalidConfig(file: file, reason: "malformed \(what)")
}

// MARK: - Typed reads of layer options

/// Reads options from a layer's `config`, throwing ``KerasImportError`` on wrong types.
struct LayerOptions {
  /// Integers read from a configuration must lie in ±2³¹, so sizes derived from them cannot
  /// overflow `Int`.
  static let integerBound = 1 << 31

  let spec: LayerSpec
  let file: String
  var config: JSONValue { spec.config }

  func invalid(_ reason: String) -> KerasImportError {
    .invalidConfig(file: file, reason: "layer '\(spec.name)' (\(spec.className)): \(reason)")
  }
  func unsupported(_ reason: String) -> KerasImportError {
    .unsupportedConfiguration(file: file, layer: spec.name, reason: reason)
  }

  /// Whether the key is absent or null.
  func isAbsent(_ key: String) -> Bool { config[key] == nil || config[key] == .null }

  func string(_ key: String, default value: String) throws(KerasImportError) -> String {
    guard let v = config[key], v != .null else { return value }
    guard let s = v.string else { throw invalid("'\(key)' is not a string") }
    return s
  }

  func bool(_ key: String, default value: Bool) throws(KerasImportError) -> Bool {
    guard let v = config[key], v != .null else { return value }
    guard let b = v.bool else { throw invalid("'\(key)' is not a boolean") }
    return b
  }

  func double(_ key: String, default value: Double) throws(KerasImportError) -> Double {
    guard let v = config[key], v != .null else { return value }
    guard let d = v.double else { throw invalid("'\(key)' is not a number") }
    return d
  }

  func optionalDouble(_ key: String) throws(KerasImportError) -> Double? {
    guard let v = config[key], v != .null else { return nil }
    guard let d = v.double else { throw invalid("'\(key)' is not a number") }
    return d
  }

  func int(_ key: String, default value: Int? = nil) throws(KerasImportError) -> Int {
    guard let v = config[key], v != .null else {
      if let value { return value }
      throw invalid("'\(key)' is missing")
    }
    guard let i = v.int, abs(i) <= Self.integerBound else {
      throw invalid("'\(key)' is not a plausible integer")
    }
    return i
  }

  /// An int or a list of `count` ints (Keras accepts both for sizes and strides).
  func ints(_ key: String, count: Int, default value: [Int]? = nil) throws(KerasImportError) -> [Int] {
    guard let v = config[key], v != .null else {
      if let value { return value }
      throw invalid("'\(key)' is missing")
    }
    if let i = v.int, abs(i) <= Self.integerBound { return [Int](repeating: i, count: count) }
    guard let a = v.array, a.count == count else {
      throw invalid("'\(key)' is not an integer or a list of \(count) integers")
    }
    var out = [Int]()
    for x in a {
      guard let i = x.int, abs(i) <= Self.integerBound else {
        throw invalid("'\(key)' is not a list of plausible integers")
      }
      out.append(i)
    }
    return out
  }

  /// A list of ints of any length (or a single int as a one-element list).
  func intList(_ key: String) throws(KerasImportError) -> [Int]? {
    guard let v = config[key], v != .null else { return nil }
    if let i = v.int, abs(i) <= Self.integerBound { return [i] }
    guard let a = v.array else { throw invalid("'\(key)' is not a list of integers") }
    var out = [Int]()
    for x in a {
      guard let i = x.int, abs(i) <= Self.integerBound else {
        throw invalid("'\(key)' is not a list of plausible integers")
      }
      out.append(i)
    }
    return out
  }

  /// A list whose entries are ints or `null` (shapes).
  func shapeList(_ key: String) throws(KerasImportError) -> [Int?]? {
    guard let v = config[key], v != .null else { return nil }
    guard let a = v.array else { throw invalid("'\(key)' is not a shape list") }
    var out = [Int?]()
    for x in a {
      if x == .null {
        out.append(nil)
      } else if let i = x.int, i >= 0, i <= Self.integerBound {
        out.append(i)
      } else {
        throw invalid("'\(key)' is not a shape list")
      }
    }
    return out
  }

  /// `channels_last` (default) or `channels_first`.
  func channelsFirst() throws(KerasImportError) -> Bool {
    let format = try string("data_format", default: "channels_last")
    switch format {
    case "channels_last": return false
    case "channels_first": return true
    default: throw invalid("unknown data_format '\(format)'")
    }
  }
}
