import Foundation
import LiftHDF5
import LiftNN
import LiftTensor
import LiftIO

/// Imports a Keras model as a ``Graph``.
///
/// The format is recognised from the file's content, not its name:
/// - **HDF5** (signature `\x89HDF\r\n\x1a\n`): the legacy `.h5` format of Keras 2.0–2.2,
///   tf.keras / tf-keras 2.x and Keras 3's `save("m.h5")` — root attribute `model_config`
///   (JSON), weights under `model_weights/<layer>/` listed by the `weight_names` attributes.
/// - **zip** (`PK\x03\x04`): a Keras 3 `.keras` archive with `config.json` and
///   `model.weights.h5` (weights at `layers/<path>/vars/<i>`).
///
/// Sequential and functional models are supported, with several inputs and outputs, shared
/// layers (the k-th call of a shared layer `L`, k ≥ 1, becomes nodes named `L@k`) and nested
/// models called once with one output (inlined: inner nodes are named `<model>/<layer>`, and an
/// identity node named `<model>` carries the nested model's output). Recurrent layers,
/// Embedding, Lambda and custom layers are rejected, all of a model's in one error
/// (``KerasImportError/unsupportedLayers(file:_:)``). `hard_sigmoid` follows the writer's
/// formula, read from `keras_version` (tf-keras `clip(0.2x + 0.5, 0, 1)`, Keras 3
/// `relu6(x + 3)/6`).
///
/// The graph (layout channels-last like Keras):
/// - input nodes are named after the Keras `InputLayer`s, in the model's input order
///   (``Graph/inputNames``); a Sequential model without an `InputLayer` entry gets
///   `<first layer>_input`;
/// - each layer's output node carries the Keras layer name and its class as `origin`; a
///   Dense/Conv layer with a non-linear `activation` becomes two nodes, the linear
///   `<layer>/preact` and the activation `<layer>`; other helper nodes are `<layer>/<suffix>`;
/// - ``Graph/outputs`` follow the model's output order.
///
/// Lowerings: BatchNormalization (inference, moving statistics) → ``Op/affine(scale:offset:)``
/// with `scale = γ/√(σ² + ε)`, `offset = β − μ·scale`; Dropout-like layers → ``Op/identity``;
/// causal Conv1D → explicit left padding `(k − 1)·d`; `channels_first` convolutions and
/// pooling → transposes around the channels-last op; Keras `SAME` average pooling does not
/// count padding.
///
/// - Throws: ``KerasImportError`` for missing, foreign, truncated or damaged files (the CRC-32
///   of `.keras` members is checked), malformed configurations, unsupported layers and weight
///   shape mismatches; the importer itself never traps. Limitation: libhdf5 1.10 trusts the
///   metadata of an `.h5` file that has a valid signature and length, and can crash on
///   deliberately corrupted metadata inside it.
public func loadKerasModel(at url: URL) throws(KerasImportError) -> Graph {
  let file = url.lastPathComponent
  var isDirectory: ObjCBool = false
  guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
    throw .unreadable(file: file, reason: "no such file")
  }
  guard !isDirectory.boolValue else { throw .unreadable(file: file, reason: "is a directory") }
  guard let handle = try? FileHandle(forReadingFrom: url) else {
    throw .unreadable(file: file, reason: "cannot open for reading")
  }
  let head = (try? handle.read(upToCount: 4)).map { [UInt8]($0) } ?? []
  try? handle.close()
  if head.count == 4, head[0] == 0x50, head[1] == 0x4B,
    (head[2] == 3 && head[3] == 4) || (head[2] == 5 && head[3] == 6)
  {
    return try loadKerasArchive(url: url, file: file)
  }
  if HDF5File.hasSignature(at: url) {
    return try loadKerasHDF5(url: url, file: file)
  }
  throw .notAKerasFile(file: file, reason: "neither an HDF5 file nor a zip archive")
}

private func loadKerasHDF5(url: URL, file: String) throws(KerasImportError) -> Graph {
  let h5: HDF5File
  do {
    h5 = try HDF5File(url: url)
  } catch {
    switch error {
    case .unreadable(_, let reason): throw .unreadable(file: file, reason: reason)
    case .notHDF5: throw .notAKerasFile(file: file, reason: "not an HDF5 file")
    case .corrupt(_, let reason): throw .corrupt(file: file, reason: reason)
    default: throw .corrupt(file: file, reason: "HDF5 library cannot open it (truncated or corrupt)")
    }
  }
  let root = h5.root
  guard root.hasAttribute("model_config") else {
    throw .notAKerasFile(
      file: file, reason: "HDF5 file without a model_config attribute (a weights-only file?)")
  }
  let text: String
  do {
    text = try root.stringAttribute("model_config")
  } catch {
    throw KerasImportError(error, file: file)
  }
  guard let json = JSONValue.parse(Data(text.utf8)) else {
    throw .invalidConfig(file: file, reason: "model_config is not valid JSON")
  }
  let spec = try parseModelConfig(json, file: file)
  let weights: HDF5Group
  do {
    weights = root.containsGroup("model_weights") ? try root.group("model_weights") : root
  } catch {
    throw KerasImportError(error, file: file)
  }
  return try buildGraph(
    spec, store: LegacyH5WeightStore(group: weights, file: file), file: file,
    kerasVersion: kerasVersion(of: root))
}

/// Largest archive member the importer extracts (config or weights).
private let maximumMemberSize: UInt64 = 1 << 32

private func loadKerasArchive(url: URL, file: String) throws(KerasImportError) -> Graph {
  let archive: ZipReader
  do {
    archive = try ZipReader(path: url.path, name: file)
  } catch {
    if case .io(let e) = error { throw .corrupt(file: file, reason: e.description) }
    throw .corrupt(file: file, reason: "unreadable zip archive (\(error))")
  }
  guard let configEntry = archive["config.json"] else {
    throw .notAKerasFile(file: file, reason: "zip archive without config.json")
  }
  let configData = try extract(configEntry, from: archive, file: file)
  guard let json = JSONValue.parse(configData) else {
    throw .invalidConfig(file: file, reason: "config.json is not valid JSON")
  }
  let spec = try parseModelConfig(json, file: file)
  var weights: HDF5File?
  if let entry = archive["model.weights.h5"] {
    let bytes = try extract(entry, from: archive, file: file)
    do {
      weights = try HDF5File(bytes: bytes, name: "\(file)/model.weights.h5")
    } catch {
      throw KerasImportError(error, file: file)
    }
  }
  let store = try Keras3WeightStore(file: file, hdf5: weights, model: spec)
  // metadata.json (`{"keras_version": "3.15.1", …}`) records the writer; tf-keras 2.13+ writes
  // `.keras` archives too.
  var version: String?
  if let entry = archive["metadata.json"], entry.uncompressedSize <= 1 << 16,
    let data = try? archive.extract(entry, limit: 1 << 16), let meta = JSONValue.parse(data)
  {
    version = meta["keras_version"]?.string
  }
  return try buildGraph(spec, store: store, file: file, kerasVersion: version)
}

/// A member's bytes: size-capped, bounded reads, CRC-32 checked (``ZipReader``), so a damaged
/// member never reaches the JSON or HDF5 parsers.
private func extract(_ entry: ZipMember, from archive: ZipReader, file: String) throws(KerasImportError) -> Data {
  do {
    return try archive.extract(entry, limit: maximumMemberSize)
  } catch {
    throw .corrupt(file: file, reason: "cannot extract from the zip archive: \(error)")
  }
}

// MARK: - Graph construction

func inputShape(of layer: LayerSpec, file: String) throws(KerasImportError) -> [Int?]? {
  let o = LayerOptions(spec: layer, file: file)
  var batchShape = try o.shapeList("batch_input_shape")
  if batchShape == nil { batchShape = try o.shapeList("batch_shape") }
  if let s = batchShape {
    guard !s.isEmpty else { throw o.invalid("empty batch shape") }
    return Array(s.dropFirst())
  }
  if let s = try o.shapeList("input_shape") { return s }
  if let a = layer.config["build_config"]?["input_shape"]?.array, a.count >= 1 {
    var shape = [Int?]()
    for extent in a.dropFirst() {
      if extent == .null {
        shape.append(nil)
      } else if let e = extent.int, e >= 0, e <= LayerOptions.integerBound {
        shape.append(e)
      } else {
        throw o.invalid("'build_config' input_shape is not a shape list")
      }
    }
    return shape
  }
  return nil
}

/// The `keras_version` root attribute of a Keras `.h5` file (`nil` when absent or unreadable).
func kerasVersion(of root: HDF5Group) -> String? {
  guard root.hasAttribute("keras_version") else { return nil }
  return try? root.stringAttribute("keras_version")
}

/// Converts a parsed model configuration; `kerasVersion` is the writer's `keras_version`.
func buildGraph(
  _ spec: ModelSpec, store: any WeightStore, file: String, kerasVersion: String? = nil
) throws(KerasImportError) -> Graph {
  var cx = Conversion(file: file, store: store, kerasVersion: kerasVersion)
  var flat = FlatModel()
  let (modelInputs, modelOutputs) = try flatten(spec, scope: [], into: &flat, file: file)
  var byName = [String: LayerSpec]()
  for layer in flat.layers {
    guard byName[layer.name] == nil else {
      throw .invalidConfig(file: file, reason: "two layers are called '\(layer.name)'")
    }
    byName[layer.name] = layer
  }
  // Every layer without a converter is named in one error, before any conversion (a
  // converter can only run once its inputs exist, so converting would stop at the first).
  // Embedding layers on model inputs: the input takes token ids (TokenEmbedding); any other
  // Embedding is unsupported (named with the others below).
  let embeddings = embeddingsOnInputs(flat.layers, byName: byName)
  var unsupported = UnsupportedKinds()
  for layer in flat.layers where layer.className != "InputLayer" && !layer.isNestedOutput {
    if !isConvertible(layer) && embeddings[layer.name] == nil {
      unsupported.add(kind: layer.className, name: layer.name)
    }
  }
  if let only = unsupported.entries.first, unsupported.count == 1 {
    throw .unsupportedLayer(file: file, layer: only.names[0], className: only.kind)
  }
  if !unsupported.isEmpty { throw .unsupportedLayers(file: file, unsupported) }
  var values = [TensorRef: Value]()
  for ref in modelInputs {
    guard let layer = byName[ref.layer] else {
      throw .invalidConfig(file: file, reason: "model input '\(ref.layer)' is not a layer")
    }
    guard layer.className == "InputLayer", ref.node == 0, ref.tensor == 0 else {
      throw .unsupportedModel(
        file: file, reason: "model input '\(ref.layer)' is a \(layer.className), not an InputLayer")
    }
    guard values[ref] == nil else { continue }
    guard let shape = try inputShape(of: layer, file: file) else {
      throw .invalidConfig(file: file, reason: "InputLayer '\(layer.name)' has no shape")
    }
    if let embedding = embeddings.first(where: { $0.value == layer.name }).flatMap({ byName[$0.key] }) {
      let table = try embeddingTable(embedding, store: store, file: file)
      let v = try cx.assembler.add(
        .input(shape: shape + [table.shape[1]]), inputs: [], name: layer.name, origin: "InputLayer + Embedding",
        layer: layer.name)
      values[ref] = v
      values[TensorRef(layer: embedding.name, node: 0, tensor: 0)] = v
      cx.assembler.graph.tokenEmbeddings[layer.name] = TokenEmbedding(
        table: table, tokenShape: shape, layer: embedding.name)
      continue
    }
    values[ref] = try cx.assembler.add(
      .input(shape: shape), inputs: [], name: layer.name, origin: "InputLayer", layer: layer.name)
  }
  // Layer calls in dependency order (Keras lists layers topologically, but a shared layer's
  // later calls may depend on layers listed after it).
  var pending = [(layer: LayerSpec, node: Int, refs: [TensorRef])]()
  for layer in flat.layers where layer.className != "InputLayer" && embeddings[layer.name] == nil {
    for (k, inbound) in layer.inbound.enumerated() {
      let refs = inbound.map(flat.resolve)
      for ref in refs {
        guard byName[ref.layer] != nil else {
          throw .invalidConfig(file: file, reason: "layer '\(layer.name)' reads unknown layer '\(ref.layer)'")
        }
        guard ref.tensor == 0 else {
          throw .unsupportedConfiguration(
            file: file, layer: layer.name,
            reason: "reads output \(ref.tensor) of multi-output layer '\(ref.layer)'")
        }
      }
      guard !refs.isEmpty else {
        throw .invalidConfig(file: file, reason: "layer '\(layer.name)' is called without inputs")
      }
      pending.append((layer, k, refs))
    }
  }
  while !pending.isEmpty {
    var remaining = [(layer: LayerSpec, node: Int, refs: [TensorRef])]()
    for item in pending {
      let inputs = item.refs.compactMap { values[$0] }
      guard inputs.count == item.refs.count else {
        remaining.append(item)
        continue
      }
      let name = item.node == 0 ? item.layer.name : "\(item.layer.name)@\(item.node)"
      values[TensorRef(layer: item.layer.name, node: item.node, tensor: 0)] =
        try convertLayer(item.layer, name: name, callIndex: item.node, inputs: inputs, &cx)
    }
    if remaining.count == pending.count {
      let stuck = remaining[0]
      let missing = stuck.refs.first { values[$0] == nil }!
      throw .invalidConfig(
        file: file,
        reason:
          "layer '\(stuck.layer.name)' reads '\(missing.layer)' call \(missing.node), which is never computed"
      )
    }
    pending = remaining
  }
  var outputs = [NodeID]()
  for ref in modelOutputs {
    guard let v = values[flat.resolve(ref)] else {
      throw .invalidConfig(
        file: file, reason: "model output '\(ref.layer)' call \(ref.node) is never computed")
    }
    outputs.append(v.id)
  }
  cx.assembler.graph.outputs = outputs
  return cx.assembler.graph
}

/// The `Embedding` layers called once on an `InputLayer` that nothing else reads, by layer
/// name, with that input's name. Their inputs take token ids (``LiftNN/TokenEmbedding``).
private func embeddingsOnInputs(_ layers: [LayerSpec], byName: [String: LayerSpec]) -> [String: String] {
  var readers = [String: Int]()
  for layer in layers {
    for call in layer.inbound { for ref in call { readers[ref.layer, default: 0] += 1 } }
  }
  var result = [String: String]()
  for layer in layers where layer.className == "Embedding" {
    guard layer.inbound.count == 1, layer.inbound[0].count == 1 else { continue }
    let ref = layer.inbound[0][0]
    guard ref.node == 0, ref.tensor == 0, byName[ref.layer]?.className == "InputLayer", readers[ref.layer] == 1
    else { continue }
    result[layer.name] = ref.layer
  }
  return result
}

/// The `[input_dim, output_dim]` table of an `Embedding` layer, refusing `mask_zero`.
private func embeddingTable(_ layer: LayerSpec, store: any WeightStore, file: String) throws(KerasImportError)
  -> Tensor
{
  let o = LayerOptions(spec: layer, file: file)
  if try o.bool("mask_zero", default: false) {
    throw .unsupportedConfiguration(
      file: file, layer: layer.name,
      reason:
        "Embedding with mask_zero=True: the mask changes what later layers compute (masked pooling, skipped steps); re-save the model with mask_zero=False or export it to ONNX")
  }
  let table = try store.weights(of: layer, expected: ["embeddings"])["embeddings"]
  guard let table else { throw .missingWeight(file: file, layer: layer.name, weight: "embeddings") }
  let v = o.isAbsent("input_dim") ? nil : try o.int("input_dim")
  let d = o.isAbsent("output_dim") ? nil : try o.int("output_dim")
  guard table.rank == 2, v == nil || table.shape[0] == v, d == nil || table.shape[1] == d, table.shape[0] >= 1,
    table.shape[1] >= 1
  else {
    throw .weightShapeMismatch(
      file: file, layer: layer.name, weight: "embeddings", expected: [v ?? -1, d ?? -1],
      found: table.shape.dimensions)
  }
  return table
}

/// Whether `layer`'s class has a converter (containers that were not inlined have none).
private func isConvertible(_ layer: LayerSpec) -> Bool {
  let key = layer.className.lowercased()
  return !containerClassNames.contains(key) && layerConverters[key] != nil
}

private func convertLayer(
  _ layer: LayerSpec, name: String, callIndex: Int, inputs: [Value], _ cx: inout Conversion
)
  throws(KerasImportError) -> Value
{
  if layer.isNestedOutput {
    let call = LayerCall(
      spec: layer, name: name, inputs: inputs, options: LayerOptions(spec: layer, file: cx.file))
    return try cx.emit(.identity, inputs, name: name, call: call)
  }
  guard isConvertible(layer), let converter = layerConverters[layer.className.lowercased()] else {
    throw .unsupportedLayer(file: cx.file, layer: layer.name, className: layer.className)
  }
  let call = LayerCall(
    spec: layer, name: name, inputs: inputs, options: LayerOptions(spec: layer, file: cx.file), callIndex: callIndex)
  guard call.keywordInputNames.isEmpty || converter.acceptsKeywordTensors else {
    throw .unsupportedConfiguration(
      file: cx.file, layer: layer.name,
      reason: "tensors passed as keyword arguments (\(call.keywordInputNames.joined(separator: ", ")))")
  }
  return try converter.convert(call, &cx)
}
