import LiftNN
import LiftTensor

/// One call of a layer being converted: the layer, the name its output node gets, its inputs.
struct LayerCall {
  let spec: LayerSpec
  /// Name of the node that carries the layer's output (the Keras layer name, or
  /// `<layer>@<k>` for the k-th call of a shared layer). Helper nodes are `<name>/<suffix>`.
  let name: String
  let inputs: [Value]
  let options: LayerOptions
  /// Which call of the layer this is (0 unless the layer is shared).
  var callIndex = 0

  var input: Value { inputs[0] }

  /// The keywords of the tensors this call was given by keyword (``LayerSpec/keywordInputs``):
  /// the last `count` of ``inputs``, in this order.
  var keywordInputNames: [String] {
    callIndex < spec.keywordInputs.count ? spec.keywordInputs[callIndex] : []
  }

  /// The call's keyword arguments (``LayerSpec/callArguments``), `null` when none.
  var keywordArguments: JSONValue {
    callIndex < spec.callArguments.count ? spec.callArguments[callIndex] : .null
  }
}

/// State shared by the converters: the graph under construction and the weights.
struct Conversion {
  var assembler: GraphAssembler
  let store: any WeightStore
  let file: String
  /// Major version of the Keras that wrote the file (`keras_version`), `nil` when unrecorded:
  /// some activations changed their formula between versions (`hard_sigmoid`).
  let kerasMajorVersion: Int?
  private var weightCache = [String: [String: Tensor]]()

  init(file: String, store: any WeightStore, kerasVersion: String?) {
    self.file = file
    self.store = store
    self.assembler = GraphAssembler(file: file)
    self.kerasMajorVersion = kerasVersion.flatMap { Int($0.prefix { $0.isNumber }) }
  }

  /// Adds a node whose `origin` is the layer's Keras class name.
  mutating func emit(_ op: Op, _ inputs: [Value], name: String, call: LayerCall)
    throws(KerasImportError) -> Value
  {
    try assembler.add(op, inputs: inputs, name: name, origin: call.spec.className, layer: call.spec.name)
  }

  /// The layer's weights (read once per layer, so shared layers share them).
  mutating func weights(_ call: LayerCall, expected: [String]) throws(KerasImportError) -> [String: Tensor] {
    if let cached = weightCache[call.spec.name] { return cached }
    let w = try store.weights(of: call.spec, expected: expected)
    weightCache[call.spec.name] = w
    return w
  }

  /// The weights of a sublayer the layer builds itself (read once per layer and sublayer).
  mutating func weights(_ call: LayerCall, sublayer: Sublayer, expected: [String]) throws(KerasImportError)
    -> [String: Tensor]
  {
    let key = call.spec.name + "\u{0}" + sublayer.legacyName
    if let cached = weightCache[key] { return cached }
    let w = try store.weights(of: call.spec, sublayer: sublayer, expected: expected)
    weightCache[key] = w
    return w
  }

  /// Checks a weight's shape (`nil` entries of `expected` match anything).
  func check(_ tensor: Tensor, _ expected: [Int?], weight: String, call: LayerCall) throws(KerasImportError) {
    let found = tensor.shape.dimensions
    let ok = found.count == expected.count && zip(found, expected).allSatisfy { f, e in e == nil || e == f }
    if !ok {
      throw .weightShapeMismatch(
        file: file, layer: call.spec.name, weight: weight,
        expected: zip(expected.indices, expected).map { i, e in e ?? (i < found.count ? found[i] : -1) },
        found: found)
    }
  }

  /// Emits `linear` followed by the `activation` option of Dense/Conv layers. Without a
  /// non-linear activation the linear node is called `outputName`; otherwise it is
  /// `<call.name>/preact` and the activation node is `outputName`.
  mutating func emitWithActivation(
    _ linear: Op, input: Value, call: LayerCall, outputName: String
  ) throws(KerasImportError) -> Value {
    guard try activationOp(call.options.config["activation"], rank: nil, call: call) != nil else {
      return try emit(linear, [input], name: outputName, call: call)
    }
    let pre = try emit(linear, [input], name: call.name + "/preact", call: call)
    let op = try activationOp(call.options.config["activation"], rank: pre.rank, call: call)!
    return try emit(op, [pre], name: outputName, call: call)
  }

  /// The op of a Keras activation (string or serialized object); `nil` for `linear`.
  /// `rank` is the per-example rank of the tensor it acts on (softmax uses the last axis).
  func activationOp(_ value: JSONValue?, rank: Int?, call: LayerCall) throws(KerasImportError) -> Op? {
    guard let value, value != .null else { return nil }
    var name: String?
    if let s = value.string {
      name = s
    } else if value.object != nil {
      name = value["config"]?.string ?? value["registered_name"]?.string ?? value["class_name"]?.string
    }
    guard let name else { throw call.options.invalid("malformed activation") }
    switch name.lowercased() {
    case "linear", "identity": return nil
    case "relu": return .activation(.relu)
    case "relu6": return .activation(.clip(lower: 0, upper: 6))
    case "sigmoid": return .activation(.sigmoid)
    case "tanh": return .activation(.tanh)
    case "softplus": return .activation(.softplus)
    case "selu": return .activation(.selu)
    case "elu": return .activation(.elu(alpha: 1))
    case "swish", "silu": return .activation(.swish)
    case "gelu": return .activation(.gelu(approximate: false))
    case "hard_sigmoid":
      // tf-keras / Keras 2: clip(0.2x + 0.5, 0, 1); Keras 3: relu6(x + 3)/6.
      guard let major = kerasMajorVersion else {
        throw call.options.unsupported(
          "activation 'hard_sigmoid' (its formula depends on the Keras version, which the file does not record)")
      }
      return .activation(major >= 3 ? .hardSigmoid(alpha: 1.0 / 6, beta: 0.5) : .hardSigmoid(alpha: 0.2, beta: 0.5))
    case "hard_silu", "hard_swish": return .activation(.hardSwish)
    case "mish": return .activation(.mish)
    case "exponential": return .activation(.exp)
    case "leaky_relu": return .activation(.leakyRelu(alpha: 0.2))
    case "softmax": return .softmax(axis: max(rank ?? 1, 1))
    default: throw call.options.unsupported("activation '\(name)'")
    }
  }
}
