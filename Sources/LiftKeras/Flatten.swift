/// A model with every nested model inlined: one functional layer list whose names are
/// unique graph names, plus the aliases that connect nested models' inputs and outputs.
struct FlatModel {
  /// Top-level InputLayers and every non-container layer, in configuration order.
  var layers = [LayerSpec]()
  var inputs = [TensorRef]()
  var outputs = [TensorRef]()
  /// A nested model's inner input → the outer tensor feeding it.
  var aliases = [TensorRef: TensorRef]()

  /// Follows aliases to the tensor a reference really means.
  func resolve(_ ref: TensorRef) -> TensorRef {
    var r = ref
    var steps = 0
    while let next = aliases[r], steps <= aliases.count {
      r = next
      steps += 1
    }
    return r
  }
}

/// Rewrites a Sequential configuration as a functional one: an input (its InputLayer entry,
/// or `<first layer>_input` built from the first layer's `batch_input_shape`), then a chain.
func functionalForm(_ spec: ModelSpec, file: String) throws(KerasImportError) -> ModelSpec {
  guard spec.kind == .sequential else { return spec }
  var layers = spec.layers[...]
  guard let first = layers.first else {
    throw .invalidConfig(file: file, reason: "Sequential model '\(spec.name)' without layers")
  }
  let input: LayerSpec
  if first.className == "InputLayer" {
    input = first
    layers = layers.dropFirst()
  } else {
    guard let shape = try inputShape(of: first, file: file) else {
      throw .invalidConfig(file: file, reason: "the first layer '\(first.name)' declares no input shape")
    }
    let batchShape = JSONValue.array([.null] + shape.map { $0.map { .number(Double($0)) } ?? .null })
    input = LayerSpec(
      className: "InputLayer", name: first.name + "_input",
      config: .object(["batch_input_shape": batchShape]), inbound: [])
  }
  var chained = [input]
  var previous = TensorRef(layer: input.name, node: 0, tensor: 0)
  for var layer in layers {
    guard layer.className != "InputLayer" else {
      throw .invalidConfig(file: file, reason: "InputLayer '\(layer.name)' inside a Sequential model")
    }
    layer.inbound = [[previous]]
    chained.append(layer)
    previous = TensorRef(layer: layer.name, node: 0, tensor: 0)
  }
  return ModelSpec(
    kind: .functional, name: spec.name, layers: chained,
    inputs: [TensorRef(layer: input.name, node: 0, tensor: 0)], outputs: [previous])
}

/// Inlines `spec` (and its nested models, recursively) into `flat` under `scope`; returns the
/// model's inputs and outputs as flat references.
@discardableResult
func flatten(_ spec: ModelSpec, scope: [String], into flat: inout FlatModel, file: String)
  throws(KerasImportError) -> (inputs: [TensorRef], outputs: [TensorRef])
{
  guard scope.count < 16 else {
    throw .unsupportedModel(file: file, reason: "models nested more than 16 deep")
  }
  let model = try functionalForm(spec, file: file)
  let prefix = scope.isEmpty ? "" : scope.joined(separator: "/") + "/"
  func rename(_ r: TensorRef) -> TensorRef {
    TensorRef(layer: prefix + r.layer, node: r.node, tensor: r.tensor)
  }

  for layer in model.layers {
    var l = layer
    l.name = prefix + layer.name
    l.weightKey = scope + [layer.name]
    l.inbound = layer.inbound.map { $0.map(rename) }
    if let nested = layer.nested {
      guard layer.keywordInputs.allSatisfy(\.isEmpty) else {
        throw .unsupportedConfiguration(file: file, layer: l.name, reason: "tensors passed as keyword arguments")
      }
      guard l.inbound.count == 1 else {
        throw .unsupportedConfiguration(
          file: file, layer: l.name, reason: "nested model called \(l.inbound.count) times")
      }
      let inner = try flatten(nested.spec, scope: scope + [layer.name], into: &flat, file: file)
      guard inner.outputs.count == 1 else {
        throw .unsupportedConfiguration(
          file: file, layer: l.name, reason: "nested model with several outputs")
      }
      guard inner.inputs.count == l.inbound[0].count else {
        throw .invalidConfig(
          file: file,
          reason:
            "nested model '\(l.name)' has \(inner.inputs.count) inputs but is called with \(l.inbound[0].count)"
        )
      }
      for (innerInput, outer) in zip(inner.inputs, l.inbound[0]) { flat.aliases[innerInput] = outer }
      // tf.keras / Keras 2 number a nested model's calls from 1 (node 0 is the model's own
      // construction; `_should_skip_first_node` in tf.keras, the "actual_node_idx += 1" of the
      // original DeepLIFT); Keras 3 numbers them from 0. A nested model is called once here, so
      // call 1 can only mean that first call.
      flat.aliases[TensorRef(layer: l.name, node: 1, tensor: 0)] = TensorRef(
        layer: l.name, node: 0, tensor: 0)
      l.nested = nil
      l.isNestedOutput = true
      l.inbound = [inner.outputs]
      flat.layers.append(l)
    } else if layer.className == "InputLayer" {
      // Nested InputLayers are aliases of the outer tensors; top-level ones are graph inputs.
      if scope.isEmpty { flat.layers.append(l) }
    } else {
      flat.layers.append(l)
    }
  }
  return (model.inputs.map(rename), model.outputs.map(rename))
}
