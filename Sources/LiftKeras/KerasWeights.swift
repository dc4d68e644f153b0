import Foundation
import LiftHDF5
import LiftNN
import LiftTensor

/// Where a layer's weights come from.
protocol WeightStore {
  /// The layer's stored weights keyed by short name (`kernel`, `bias`, `gamma`, `beta`,
  /// `moving_mean`, `moving_variance`, `alpha`), or those of a `sublayer` the layer builds
  /// itself (`MultiHeadAttention`'s `query`, `key`, `value` and `attention_output`
  /// projections). `expected` lists the names the layer's class and configuration imply, in
  /// Keras' creation order; stores without names (Keras 3) map positions onto it.
  func weights(of layer: LayerSpec, sublayer: Sublayer?, expected: [String]) throws(KerasImportError)
    -> [String: Tensor]
}

extension WeightStore {
  /// The layer's own weights.
  func weights(of layer: LayerSpec, expected: [String]) throws(KerasImportError) -> [String: Tensor] {
    try weights(of: layer, sublayer: nil, expected: expected)
  }
}

/// A sublayer's place in the weight files: tf-keras lists its weights as
/// `<layer>/<legacyName>/<weight>` (`legacyName` may span several `/`-separated components: a
/// Bidirectional's `forward_lstm/lstm_cell`); Keras 3 keeps them in
/// `<layer path>/<keras3Path>/vars`.
struct Sublayer {
  var legacyName: String
  var keras3Path: String
}

func readTensor(_ dataset: HDF5Dataset, file: String) throws(KerasImportError) -> Tensor {
  do {
    let values = try dataset.readFloats(maximumElements: TensorLimits.maximumElements)
    return Tensor(shape: Shape(dataset.shape), scalars: values)
  } catch {
    throw KerasImportError(error, file: file)
  }
}

extension KerasImportError {
  /// The import error for a failure of the HDF5 layer: data refused before reading (outside
  /// the file, implausible sizes) is ``unsupportedModel(file:reason:)`` naming the dataset or
  /// link; everything else is a damaged file.
  init(_ error: HDF5Error, file: String) {
    if case .refused(_, let path, let reason) = error {
      self = .unsupportedModel(file: file, reason: "'\(path)' \(reason)")
    } else {
      self = .corrupt(file: file, reason: error.description)
    }
  }
}

/// Short name of a legacy weight name: `conv1d_1/kernel:0` → `kernel`,
/// `sequential/dense/bias` → `bias`.
func shortWeightName(_ full: String) -> String {
  var last = full.split(separator: "/").last.map(String.init) ?? full
  if let colon = last.lastIndex(of: ":"), last[last.index(after: colon)...].allSatisfy(\.isNumber) {
    last = String(last[..<colon])
  }
  return last
}

/// Legacy HDF5 (`model.save("m.h5")` in Keras 2.x / tf.keras): `model_weights/<layer>` has a
/// `weight_names` attribute listing dataset paths relative to that group.
struct LegacyH5WeightStore: WeightStore {
  let group: HDF5Group
  let file: String

  /// The layer's weights, or those listed as `…/<layer>/<sublayer>/<weight>`.
  func weights(of layer: LayerSpec, sublayer: Sublayer?, expected: [String]) throws(KerasImportError)
    -> [String: Tensor]
  {
    // A layer of a nested model: its weights are listed by the outermost nested model's group,
    // named `<layer>/<weight>` (tf.keras) or `<model>/<layer>/<weight>` (Keras 3 .h5).
    let key = layer.weightKey
    let groupName = key[0]
    guard group.containsGroup(groupName) else {
      if let first = expected.first {
        throw .missingWeight(file: file, layer: layer.name, weight: first)
      }
      return [:]
    }
    var names: [String]
    let layerGroup: HDF5Group
    do {
      layerGroup = try group.group(groupName)
      names =
        layerGroup.hasAttribute("weight_names") ? try layerGroup.stringArrayAttribute("weight_names") : []
    } catch {
      throw KerasImportError(error, file: file)
    }
    // The path components that must precede the weight's own name.
    let owners =
      (key.count > 1 ? [key[key.count - 1]] : []) + (sublayer.map { $0.legacyName.split(separator: "/").map(String.init) } ?? [])
    if !owners.isEmpty {
      names = names.filter { name in
        let parts = name.split(separator: "/").map(String.init)
        return parts.count > owners.count && Array(parts.dropLast().suffix(owners.count)) == owners
      }
    }
    var tensors = [(String, Tensor)]()
    for name in names {
      let dataset: HDF5Dataset
      do {
        dataset = try layerGroup.dataset(name)
      } catch {
        if case .refused = error { throw KerasImportError(error, file: file) }
        throw .missingWeight(file: file, layer: layer.name, weight: name)
      }
      tensors.append((shortWeightName(name), try readTensor(dataset, file: file)))
    }
    return try assign(tensors, expected: expected, layer: layer.name, file: file)
  }
}

/// Matches stored weights to the expected names: by short name when every stored name is an
/// expected one; otherwise by position when the counts agree (renamed variables such as
/// `kernel_1`).
func assign(_ tensors: [(String, Tensor)], expected: [String], layer: String, file: String)
  throws(KerasImportError) -> [String: Tensor]
{
  var result = [String: Tensor]()
  if tensors.allSatisfy({ expected.contains($0.0) }) {
    for (name, tensor) in tensors { result[name] = tensor }
  } else if tensors.count == expected.count {
    for (name, (_, tensor)) in zip(expected, tensors) { result[name] = tensor }
  } else {
    throw .missingWeight(
      file: file, layer: layer,
      weight: expected.first { name in !tensors.contains { $0.0 == name } }
        ?? tensors.map(\.0).joined(separator: ","))
  }
  for name in expected where result[name] == nil {
    throw .missingWeight(file: file, layer: layer, weight: name)
  }
  return result
}

/// Keras 3 `model.weights.h5` inside a `.keras` archive: `layers/<path>/vars/<i>`, where
/// `<path>` is the snake-cased class name made unique in the order of `model.layers`
/// (`dense`, `dense_1`, …; Sequential models leave out the InputLayer) and the `vars` group
/// carries the layer name in its `name` attribute (Keras ≥ 3.x). Variables are numbered in
/// creation order, trainable first (Dense/Conv: kernel, bias; BatchNormalization: gamma, beta,
/// moving_mean, moving_variance, absent ones skipped; PReLU: alpha).
struct Keras3WeightStore: WeightStore {
  let file: String
  let hdf5: HDF5File?
  /// Weight key (enclosing model names + layer name) → group path, found through the
  /// `vars/@name` attributes or, failing that, Keras' naming rule.
  let paths: [[String]: String]

  init(file: String, hdf5: HDF5File?, model: ModelSpec) throws(KerasImportError) {
    self.file = file
    self.hdf5 = hdf5
    var paths = [[String]: String]()
    if let hdf5 {
      try Self.assignPaths(model, prefix: "layers", scope: [], root: hdf5.root, into: &paths, file: file)
    }
    self.paths = paths
  }

  /// Paths of `model`'s layers stored under `prefix` (`layers`, `layers/sequential/layers`, …).
  private static func assignPaths(
    _ model: ModelSpec, prefix: String, scope: [String], root: HDF5Group,
    into paths: inout [[String]: String],
    file: String
  ) throws(KerasImportError) {
    guard scope.count < 16 else { return }
    // Keras' rule.
    var used = [String: Int]()
    for layer in model.layers {
      if model.kind == .sequential && layer.className == "InputLayer" { continue }
      let base = kerasSnakeCase(layer.className)
      let unique: String
      if let n = used[base] {
        used[base] = n + 1
        unique = "\(base)_\(n + 1)"
      } else {
        used[base] = 0
        unique = base
      }
      paths[scope + [layer.name]] = "\(prefix)/\(unique)"
    }
    // The recorded names win where present and unambiguous.
    if root.containsGroup(prefix) {
      do {
        let layers = try root.group(prefix)
        var byName = [String: String]()
        for child in try layers.childNames() where layers.containsGroup(child + "/vars") {
          let vars = try layers.group(child + "/vars")
          if vars.hasAttribute("name"), let name = try? vars.stringAttribute("name") {
            byName[name] = byName[name] == nil ? "\(prefix)/\(child)" : ""
          }
        }
        for layer in model.layers {
          if let path = byName[layer.name], !path.isEmpty { paths[scope + [layer.name]] = path }
        }
      } catch {
        throw KerasImportError(error, file: file)
      }
    }
    for layer in model.layers {
      guard let nested = layer.nested, let path = paths[scope + [layer.name]] else { continue }
      try assignPaths(
        nested.spec, prefix: path + "/layers", scope: scope + [layer.name], root: root, into: &paths,
        file: file)
    }
  }

  /// The variables in `<layer path>[/<sublayer's Keras 3 path>]/vars`, mapped by position onto
  /// `expected`.
  func weights(of layer: LayerSpec, sublayer: Sublayer?, expected: [String]) throws(KerasImportError)
    -> [String: Tensor]
  {
    let subpath = sublayer?.keras3Path
    guard !expected.isEmpty else { return [:] }
    guard let hdf5 else {
      throw .missingWeight(file: file, layer: layer.name, weight: "model.weights.h5")
    }
    guard let base = paths[layer.weightKey] else {
      throw .missingWeight(file: file, layer: layer.name, weight: expected[0])
    }
    let path = subpath.map { base + "/" + $0 } ?? base
    guard hdf5.root.containsGroup(path + "/vars") else {
      throw .missingWeight(file: file, layer: layer.name, weight: (subpath.map { $0 + "/" } ?? "") + expected[0])
    }
    var datasets = [HDF5Dataset]()
    do {
      let vars = try hdf5.root.group(path + "/vars")
      let count = try vars.childNames().count
      for i in 0..<count {
        guard vars.contains(String(i)) else { break }
        datasets.append(try vars.dataset(String(i)))
      }
    } catch {
      throw KerasImportError(error, file: file)
    }
    var tensors = [(String, Tensor)]()
    for (i, dataset) in datasets.enumerated() {
      tensors.append((String(i), try readTensor(dataset, file: file)))
    }
    guard tensors.count >= expected.count else {
      throw .missingWeight(file: file, layer: layer.name, weight: expected[tensors.count])
    }
    var result = [String: Tensor]()
    for (name, (_, tensor)) in zip(expected, tensors) { result[name] = tensor }
    return result
  }
}

/// `keras.src.utils.naming.to_snake_case`: drop non-word characters, then
/// `(.)([A-Z][a-z]+)` → `\1_\2`, `([a-z])([A-Z])` → `\1_\2`, lower-cased.
func kerasSnakeCase(_ name: String) -> String {
  var s = name.filter { $0.isLetter || $0.isNumber || $0 == "_" }
  func replace(_ pattern: String, in text: String) -> String {
    guard let regex = try? NSRegularExpression(pattern: pattern) else { return text }
    let range = NSRange(text.startIndex..., in: text)
    return regex.stringByReplacingMatches(in: text, range: range, withTemplate: "$1_$2")
  }
  s = replace("(.)([A-Z][a-z]+)", in: s)
  s = replace("([a-z])([A-Z])", in: s)
  return s.lowercased()
}
