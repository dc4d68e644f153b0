import LiftHDF5
import LiftNN
import LiftTensor

// Keras LSTM, GRU, SimpleRNN and Bidirectional, unrolled over time at import by LiftNN's
// ``LiftNN/unrollRecurrent(input:steps:cell:weights:initialHidden:initialCell:reverse:name:emit:)``
// (the ONNX importer's LSTM/GRU/RNN use it too). Keras' gate orders are the cell's: LSTM
// kernel columns i, f, c, o; GRU z, r, h.

/// The recurrent layer classes.
enum RecurrentKind: Sendable {
  case lstm, gru, simple

  init?(className: String) {
    switch className.lowercased() {
    case "lstm", "lstmv1", "cudnnlstm": self = .lstm
    case "gru", "gruv1", "cudnngru": self = .gru
    case "simplernn": self = .simple
    default: return nil
    }
  }

  var gates: Int {
    switch self {
    case .lstm: 4
    case .gru: 3
    case .simple: 1
    }
  }
}

/// Which part of a layer's weights: the layer itself, or a Bidirectional's forward or
/// backward layer.
enum RecurrentPart: String, Sendable {
  case whole, forward, backward
}

/// One direction of a recurrent layer read from its configuration and weights.
private struct RecurrentSetup {
  var cell: RecurrentCell
  var weights: RecurrentWeights
  var goBackwards: Bool
  var returnSequences: Bool
}

/// Reads the configuration `o` of an LSTM/GRU/SimpleRNN (the layer, or the inner layer of a
/// Bidirectional) and its weights.
private func recurrentSetup(
  _ o: LayerOptions, className: String, part: RecurrentPart, inputSize: Int, call: LayerCall, _ cx: inout Conversion
) throws(KerasImportError) -> RecurrentSetup {
  guard let kind = RecurrentKind(className: className) else {
    throw o.unsupported("recurrent layer class '\(className)' (LSTM, GRU and SimpleRNN are supported)")
  }
  if try o.bool("return_state", default: false) {
    throw o.unsupported("return_state=True (the states are extra outputs; explain the sequence output instead)")
  }
  if try o.bool("stateful", default: false) { throw o.unsupported("stateful=True") }
  if try o.bool("time_major", default: false) { throw o.unsupported("time_major=True") }
  let units = try o.int("units")
  guard units >= 1, units <= TensorLimits.maximumElements / 4 else { throw o.invalid("units \(units)") }
  func act(_ key: String, _ fallback: String) throws(KerasImportError) -> Activation? {
    let value = o.config[key] ?? .string(fallback)
    let op = try cx.activationOp(value, rank: 1, call: call)
    switch op {
    case nil: return nil
    case .activation(let a)?: return a
    default: throw o.unsupported("\(key) \(value) (an elementwise activation is needed)")
    }
  }
  let activation = try act("activation", "tanh")
  let useBias = try o.bool("use_bias", default: true)
  var cell: RecurrentCell
  var resetAfter = false
  switch kind {
  case .lstm:
    let gate = try act("recurrent_activation", "sigmoid")
    cell = .lstm(gate: gate, candidate: activation, output: activation)
  case .gru:
    let gate = try act("recurrent_activation", "sigmoid")
    resetAfter = try o.bool("reset_after", default: true)
    cell = .gru(gate: gate, candidate: activation, resetAfter: resetAfter)
  case .simple:
    cell = .simple(activation: activation)
  }
  let g = kind.gates * units
  let w = try recurrentWeights(
    o, kind: kind, part: part, expected: ["kernel", "recurrent_kernel"] + (useBias ? ["bias"] : []), call: call, &cx)
  if kind == .gru, o.isAbsent("reset_after"), let b = w["bias"] {
    // Keras < 2.3 wrote no reset_after (and computed reset before); its bias is one row.
    resetAfter = b.rank == 2
    cell = .gru(gate: try act("recurrent_activation", "sigmoid"), candidate: activation, resetAfter: resetAfter)
  }
  let kernel = w["kernel"]!, recurrent = w["recurrent_kernel"]!
  try cx.check(kernel, [inputSize, g], weight: "kernel", call: call)
  try cx.check(recurrent, [units, g], weight: "recurrent_kernel", call: call)
  var bias: Tensor?
  var candidateBias: Tensor?
  if useBias, let b = w["bias"] {
    if kind == .gru && resetAfter {
      try cx.check(b, [2, g], weight: "bias", call: call)
      // Row 0: input bias; row 1: recurrent bias (its candidate block stays inside r ⊙ (…)).
      let s = b.scalars
      var sum = [Float](repeating: 0, count: g)
      for j in 0..<g { sum[j] = j < 2 * units ? s[j] + s[g + j] : s[j] }
      bias = Tensor(shape: [g], scalars: sum)
      candidateBias = Tensor(shape: [units], scalars: Array(s[(g + 2 * units)..<(2 * g)]))
    } else {
      try cx.check(b, [g], weight: "bias", call: call)
      bias = b
    }
  }
  let weights = RecurrentWeights(input: kernel, recurrent: recurrent, bias: bias, candidateRecurrentBias: candidateBias)
  if let reason = weights.mismatch(cell: cell, inputSize: inputSize) { throw o.invalid(reason) }
  return RecurrentSetup(
    cell: cell, weights: weights, goBackwards: try o.bool("go_backwards", default: false),
    returnSequences: try o.bool("return_sequences", default: false))
}

/// A recurrent layer's cell weights (`kernel`, `recurrent_kernel`, `bias`) through the weight
/// stores' ``Sublayer``: tf-keras `.h5` lists them as `<layer>/<cell>/<weight>` (a
/// Bidirectional's as `<layer>/forward_<inner>/<cell>/…` and `backward_<inner>/…`), Keras 3 keeps
/// them in `<layer path>/cell/vars` (`…/forward_layer/cell/vars`, `…/backward_layer/cell/vars`).
/// Files written without the cell level (Keras < 2.3: `<layer>/kernel:0`) are read too.
private func recurrentWeights(
  _ o: LayerOptions, kind: RecurrentKind, part: RecurrentPart, expected: [String], call: LayerCall,
  _ cx: inout Conversion
) throws(KerasImportError) -> [String: Tensor] {
  let cell =
    switch kind {
    case .lstm: "lstm_cell"
    case .gru: "gru_cell"
    case .simple: "simple_rnn_cell"
    }
  let keras3 = part == .whole ? "cell" : "\(part.rawValue)_layer/cell"
  var legacy = [cell]
  if part != .whole {
    // tf-keras names the two copies forward_<inner name> and backward_<inner name>.
    let inner = o.config["name"]?.string ?? ""
    let prefixed = inner.hasPrefix("\(part.rawValue)_") ? inner : "\(part.rawValue)_\(inner)"
    legacy = ["\(prefixed)/\(cell)", prefixed]
  } else {
    legacy.append("")
  }
  var firstError: KerasImportError?
  for name in legacy {
    do throws(KerasImportError) {
      // (An empty legacy name: the layer's own weights, for legacy files without the cell level.)
      return try cx.store.weights(of: call.spec, sublayer: Sublayer(legacyName: name, keras3Path: keras3), expected: expected)
    } catch {
      guard case .missingWeight = error else { throw error }
      firstError = firstError ?? error
    }
  }
  throw firstError!
}

/// The input of a recurrent layer call: one tensor of per-example shape `[steps, features]`,
/// both known.
private func sequenceInput(_ call: LayerCall) throws(KerasImportError) -> (Value, steps: Int, features: Int) {
  let o = call.options
  guard call.inputs.count == 1 else {
    throw o.unsupported("\(call.inputs.count) inputs (an initial_state or constants given to the call are not supported)")
  }
  let x = call.input
  guard x.rank == 2 else {
    throw .shapeMismatch(
      file: o.file, layer: call.spec.name,
      reason: "\(call.spec.className) expects a per-example input of shape (steps, features), got rank \(x.rank)")
  }
  guard let steps = x.shape[0], let features = x.shape[1], steps >= 1, features >= 1 else {
    throw o.unsupported(
      "a sequence of open length (per-example input shape (\(x.shape.map { $0.map(String.init) ?? "None" }.joined(separator: ", ")))): give the Input a fixed number of time steps")
  }
  guard steps <= maximumUnrolledSteps else {
    throw o.unsupported("\(steps) time steps: at most \(maximumUnrolledSteps) are unrolled")
  }
  return (x, steps, features)
}

/// Unrolls one direction and returns its output: the hidden states `[steps, units]` in the
/// order given by `timeOrder` (`nil`: processing order) with return_sequences, else the last
/// hidden state `[units]`.
private func emitDirection(
  _ setup: RecurrentSetup, input x: Value, steps: Int, name: String, outputName: String, restoreTimeOrder: Bool,
  call: LayerCall, _ cx: inout Conversion
) throws(KerasImportError) -> Value {
  let unrolled = try unrollRecurrent(
    input: x.id, steps: steps, cell: setup.cell, weights: setup.weights, initialHidden: .zero, initialCell: .zero,
    reverse: setup.goBackwards, name: name
  ) { (op: Op, ids: [NodeID], n: String) throws(KerasImportError) -> NodeID in
    var operands = [Value]()
    for id in ids { operands.append(cx.assembler.value(id)) }
    return try cx.emit(op, operands, name: n, call: call).id
  }
  let units = setup.weights.hidden
  if setup.returnSequences {
    let states = restoreTimeOrder ? unrolled.timeOrdered(reverse: setup.goBackwards) : unrolled.hiddenStates
    var operands = [Value]()
    for id in states { operands.append(cx.assembler.value(id)) }
    let joined = operands.count == 1 ? operands[0] : try cx.emit(.concat(axis: 1), operands, name: name + "/sequence", call: call)
    return try cx.emit(.reshape([steps, units]), [joined], name: outputName, call: call)
  }
  return try cx.emit(.reshape([units]), [cx.assembler.value(unrolled.hiddenStates.last!)], name: outputName, call: call)
}

/// Keras `LSTM`, `GRU`, `SimpleRNN`: unrolled over the (fixed) time steps; zero initial
/// states; `go_backwards` returns the sequence in processing (reversed) order, as Keras does.
func convertRecurrent(_ call: LayerCall, _ cx: inout Conversion) throws(KerasImportError) -> Value {
  let (x, steps, features) = try sequenceInput(call)
  let setup = try recurrentSetup(
    call.options, className: call.spec.className, part: .whole, inputSize: features, call: call, &cx)
  return try emitDirection(
    setup, input: x, steps: steps, name: call.name, outputName: call.name, restoreTimeOrder: false, call: call, &cx)
}

/// Keras `Bidirectional(layer, merge_mode)`: the forward layer and the backward one (Keras 3
/// stores its configuration as `backward_layer`; tf-keras derives it with `go_backwards`
/// flipped), the backward sequence brought back to time order, merged by `concat` (last axis),
/// `sum`, `ave` or `mul`.
func convertBidirectional(_ call: LayerCall, _ cx: inout Conversion) throws(KerasImportError) -> Value {
  let o = call.options
  let (x, steps, features) = try sequenceInput(call)
  guard let inner = o.config["layer"], let innerClass = inner["class_name"]?.string, let innerConfig = inner["config"] else {
    throw o.invalid("Bidirectional without a 'layer' configuration")
  }
  let mergeMode = o.config["merge_mode"]?.string
  guard let mergeMode, ["concat", "sum", "ave", "mul"].contains(mergeMode) else {
    throw o.unsupported("merge_mode \(o.config["merge_mode"].map { "\($0)" } ?? "None") (concat, sum, ave and mul are supported; None returns two outputs)")
  }
  func options(_ className: String, _ config: JSONValue) -> LayerOptions {
    LayerOptions(spec: LayerSpec(className: className, name: call.spec.name, config: config, inbound: []), file: o.file)
  }
  let forward = try recurrentSetup(
    options(innerClass, innerConfig), className: innerClass, part: .forward, inputSize: features, call: call, &cx)
  var backward: RecurrentSetup
  if let b = o.config["backward_layer"], b != .null {
    guard let bClass = b["class_name"]?.string, let bConfig = b["config"] else {
      throw o.invalid("malformed backward_layer")
    }
    backward = try recurrentSetup(
      options(bClass, bConfig), className: bClass, part: .backward, inputSize: features, call: call, &cx)
  } else {
    backward = try recurrentSetup(
      options(innerClass, innerConfig), className: innerClass, part: .backward, inputSize: features, call: call, &cx)
    backward.goBackwards.toggle()
  }
  guard forward.returnSequences == backward.returnSequences else {
    throw o.unsupported("forward and backward layers that disagree on return_sequences")
  }
  let f = try emitDirection(
    forward, input: x, steps: steps, name: call.name + "/forward", outputName: call.name + "/forward_output",
    restoreTimeOrder: true, call: call, &cx)
  let b = try emitDirection(
    backward, input: x, steps: steps, name: call.name + "/backward", outputName: call.name + "/backward_output",
    restoreTimeOrder: true, call: call, &cx)
  switch mergeMode {
  case "concat": return try cx.emit(.concat(axis: f.rank), [f, b], name: call.name, call: call)
  case "sum": return try cx.emit(.add, [f, b], name: call.name, call: call)
  case "ave": return try cx.emit(.average, [f, b], name: call.name, call: call)
  default: return try cx.emit(.multiply, [f, b], name: call.name, call: call)
  }
}
