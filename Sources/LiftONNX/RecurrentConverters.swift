import LiftNN
import LiftTensor

// ONNX LSTM, GRU and RNN, unrolled over time at import by LiftNN's
// ``LiftNN/unrollRecurrent(input:steps:cell:weights:initialHidden:initialCell:reverse:name:emit:)``.
//
// With `layout = 0` (what torch writes, batch_first or not) the tensors are time-major:
// X `[seq, N, in]`, Y `[seq, directions, N, hidden]`, Y_h / Y_c `[directions, N, hidden]`; the
// graph holds them in batch views (BatchViews.swift), batch axis 1 for X (torch's
// `Transpose(x, [1, 0, 2])` of a batch-first input gives that view) and axis 2 / 1 for the
// outputs, which torch's following Squeeze/Transpose/Reshape bring back to batch-first. With
// `layout = 1` they are batch-first: X `[N, seq, in]`, Y `[N, seq, directions, hidden]`,
// Y_h `[N, directions, hidden]`.

/// `LSTM`, `GRU` or `RNN` (ONNX opset 7+; `layout` from opset 14).
func convertRecurrent(_ node: Onnx_NodeProto, _ ctx: inout ConversionContext) throws(ONNXImportError) -> Value {
  let a = Attributes(node)
  let kind = node.opType
  let gates = kind == "LSTM" ? 4 : kind == "GRU" ? 3 : 1
  let x = try ctx.graphInput(node, 0)
  let layout = a.int("layout", 0)
  guard layout == 0 || layout == 1 else { throw usage(node, "layout \(layout) (0 or 1 expected)") }
  let direction = a.string("direction") ?? "forward"
  let directions: [Bool]  // reverse flags
  switch direction {
  case "forward": directions = [false]
  case "reverse": directions = [true]
  case "bidirectional": directions = [false, true]
  default: throw usage(node, "direction '\(direction)' (forward, reverse or bidirectional expected)")
  }
  let d = directions.count
  if a.has("clip") { throw usage(node, "clip (a clipped cell input) is not supported") }
  if a.int("input_forget", 0) != 0 { throw usage(node, "input_forget=1 (coupled input and forget gates) is not supported") }
  if a.has("activation_alpha") || a.has("activation_beta") {
    throw usage(node, "activation_alpha/activation_beta (parametrised activations) are not supported")
  }
  if kind == "LSTM", try ctx.optionalValue(node, 7) != nil {
    throw usage(node, "peephole weights P (input 7) are not supported")
  }

  // The sequence as a batch-first node of per-example shape [seq, in].
  let view = ctx.view(x.id)
  let steps: Int
  let inputSize: Int
  var sequence = x.id
  if layout == 0 {
    guard view.axis == 1, x.shape.count == 4, view.outer == 1, view.inner == 1 else {
      throw usage(
        node,
        view.isNormal
          ? "input X is [seq, batch, features] (layout 0) but its axis 0 is the model's batch axis; transpose a batch-first input to time-major first (torch does) or use layout 1"
          : "input X has its batch axis at \(view.axis) merged with other factors, not the [seq, batch, features] layout 0 expects")
    }
    steps = x.shape[0]
    inputSize = x.shape[3]
    guard case .node(let r, _) = try ctx.emit(
      .reshape([steps, inputSize]), inputs: [x.id], name: node.output[0] + ":sequence", origin: kind, onnxNode: node)
    else { preconditionFailure("emit returns a node") }
    sequence = r
  } else {
    guard view.isNormal, x.shape.count == 2 else {
      throw usage(node, "input X must be [batch, seq, features] with layout 1, has per-example shape \(x.shape)")
    }
    (steps, inputSize) = (x.shape[0], x.shape[1])
  }
  guard steps >= 1, inputSize >= 1 else { throw usage(node, "an empty sequence or feature axis") }
  guard steps <= maximumUnrolledSteps else {
    throw usage(node, "\(steps) time steps: at most \(maximumUnrolledSteps) are unrolled")
  }
  // sequence_lens: only every sequence at full length (what it means when absent).
  switch try ctx.optionalValue(node, 4) {
  case nil: break
  case .constant(let c) where !c.containsBatchMarker && c.integers?.allSatisfy({ $0 == steps }) == true && c.rank == 1:
    break
  default:
    throw usage(
      node,
      "sequence_lens (input 4) gives sequences shorter than the \(steps) steps: sequences of different lengths are not supported; export with every sequence at full length (no pack_padded_sequence)")
  }

  // Weights: W [d, G·h, in], R [d, G·h, h], B [d, 2·G·h].
  let w = try ctx.constantInput(node, 1)
  let r = try ctx.constantInput(node, 2)
  let b = try ctx.optionalConstant(node, 3)
  guard r.rank == 3, r.dims[0] == d, r.dims[1] % gates == 0, r.dims[1] / gates == r.dims[2], r.dims[2] >= 1 else {
    throw usage(node, "R of shape \(r.dims) is not [\(d), \(gates)·hidden, hidden] (direction '\(direction)')")
  }
  let h = r.dims[2]
  if a.has("hidden_size"), a.int("hidden_size", h) != h {
    throw usage(node, "hidden_size \(a.int("hidden_size", h)) but R of shape \(r.dims)")
  }
  guard w.dims == [d, gates * h, inputSize] else {
    throw usage(node, "W of shape \(w.dims) is not [\(d), \(gates * h), \(inputSize)] (direction, \(gates)·hidden, input features)")
  }
  if let b, b.dims != [d, 2 * gates * h] {
    throw usage(node, "B of shape \(b.dims) is not [\(d), \(2 * gates * h)]")
  }

  // Activations: per direction f, g (GRU, LSTM), h (LSTM).
  let perDirection = kind == "LSTM" ? 3 : kind == "GRU" ? 2 : 1
  let defaults = kind == "LSTM" ? ["Sigmoid", "Tanh", "Tanh"] : kind == "GRU" ? ["Sigmoid", "Tanh"] : ["Tanh"]
  var names = a.strings("activations") ?? []
  if names.isEmpty { names = [[String]](repeating: defaults, count: d).flatMap { $0 } }
  guard names.count == perDirection * d else {
    throw usage(node, "activations \(names): \(perDirection * d) expected (\(perDirection) per direction)")
  }
  var activations = [Activation?]()
  for n in names {
    switch n.lowercased() {
    case "sigmoid": activations.append(.sigmoid)
    case "tanh": activations.append(.tanh)
    case "relu": activations.append(.relu)
    case "softplus": activations.append(.softplus)
    default:
      throw usage(node, "activation '\(n)' in activations \(names) (Sigmoid, Tanh, Relu and Softplus are supported)")
    }
  }

  let initialH = try initialState(node, &ctx, input: 5, directions: d, hidden: h, layout: layout)
  let initialC = kind == "LSTM" ? try initialState(node, &ctx, input: 6, directions: d, hidden: h, layout: layout) : nil

  // ONNX gate blocks → the cell's order: LSTM i, o, f, c → i, f, g(c), o; GRU z, r, h and RNN as they are.
  let order = kind == "LSTM" ? [0, 2, 3, 1] : Array(0..<gates)
  let resetAfter = a.int("linear_before_reset", 0) != 0
  if resetAfter && kind != "GRU" { throw usage(node, "linear_before_reset is a GRU attribute") }
  var sequences = [NodeID](), lastHidden = [NodeID](), lastCells = [NodeID]()
  for (k, reverse) in directions.enumerated() {
    let acts = Array(activations[(k * perDirection)..<((k + 1) * perDirection)])
    let cell: RecurrentCell =
      switch kind {
      case "LSTM": .lstm(gate: acts[0], candidate: acts[1], output: acts[2])
      case "GRU": .gru(gate: acts[0], candidate: acts[1], resetAfter: resetAfter)
      default: .simple(activation: acts[0])
      }
    let weights = recurrentWeights(
      w: w, r: r, b: b, direction: k, gates: gates, hidden: h, inputSize: inputSize, order: order,
      gruResetAfter: kind == "GRU" && resetAfter)
    let name = node.output[0] + (d == 2 ? (reverse ? ":reverse" : ":forward") : "")
    let unrolled = try unrollRecurrent(
      input: sequence, steps: steps, cell: cell, weights: weights, initialHidden: initialH[k],
      initialCell: initialC?[k] ?? .zero, reverse: reverse, name: name
    ) { (op: Op, inputs: [NodeID], n: String) throws(ONNXImportError) -> NodeID in
      guard case .node(let id, _) = try ctx.emit(op, inputs: inputs, name: n, origin: kind, onnxNode: node) else {
        preconditionFailure("emit returns a node")
      }
      return id
    }
    let ordered = unrolled.timeOrdered(reverse: reverse)
    // [seq, 1, h] per direction.
    let joined = ordered.count == 1 ? ordered[0] : try emitNode(.concat(axis: 1), ordered, name + ":sequence_out", node, &ctx)
    sequences.append(try emitNode(.reshape([steps, 1, h]), [joined], name + ":steps", node, &ctx))
    lastHidden.append(unrolled.hiddenStates.last!)
    if let c = unrolled.lastCell { lastCells.append(c) }
  }

  // Y: [seq, d, h] per example; layout 0 holds it in view (axis 2).
  let y = d == 1 ? sequences[0] : try emitNode(.concat(axis: 2), sequences, node.output[0] + ":directions", node, &ctx)
  let result = try emitOutput(
    y, layout: layout, timeMajor: [steps, d, h], batchAxis: 2, name: node.output[0], node, &ctx)
  for (index, states) in [(1, lastHidden), (2, lastCells)] where index < node.output.count {
    let out = node.output[index]
    guard !out.isEmpty, (ctx.useCounts[out] ?? 0) > 0, states.count == d else { continue }
    let joined = d == 1 ? states[0] : try emitNode(.concat(axis: 1), states, out + ":directions", node, &ctx)
    ctx.values[out] = try emitOutput(joined, layout: layout, timeMajor: [d, h], batchAxis: 1, name: out, node, &ctx)
  }
  return result
}

/// Emits `op` and returns its node.
private func emitNode(
  _ op: Op, _ inputs: [NodeID], _ name: String, _ node: Onnx_NodeProto, _ ctx: inout ConversionContext
) throws(ONNXImportError) -> NodeID {
  guard case .node(let id, _) = try ctx.emit(op, inputs: inputs, name: name, origin: node.opType, onnxNode: node) else {
    preconditionFailure("emit returns a node")
  }
  return id
}

/// An output of per-example row-major content `timeMajor` (the ONNX layout-0 shape without the
/// batch axis): with layout 1 a plain node of that shape; with layout 0 a node in batch view,
/// the batch at ONNX axis `batchAxis`.
private func emitOutput(
  _ id: NodeID, layout: Int, timeMajor: [Int], batchAxis: Int, name: String, _ node: Onnx_NodeProto,
  _ ctx: inout ConversionContext
) throws(ONNXImportError) -> Value {
  if layout == 1 {
    return try ctx.emit(.reshape(timeMajor), inputs: [id], name: name, origin: node.opType, onnxNode: node)
  }
  let physical = Array(timeMajor[..<batchAxis]) + [1, 1] + Array(timeMajor[batchAxis...])
  return try ctx.emitViewed(
    .reshape(physical), input: id, view: BatchView(axis: batchAxis, outer: 1, inner: 1), name: name, node)
}

/// The initial state of each direction from input `input` (`initial_h`, `initial_c`): absent →
/// zeros; a constant the same for every example (batch extent 1, or filled over the batch as
/// torch writes `zeros(d, N, h)`) → that vector; anything else is refused.
private func initialState(
  _ node: Onnx_NodeProto, _ ctx: inout ConversionContext, input: Int, directions d: Int, hidden h: Int, layout: Int
) throws(ONNXImportError) -> [RecurrentState] {
  let what = input == 5 ? "initial_h" : "initial_c"
  switch try ctx.optionalValue(node, input) {
  case nil:
    return [RecurrentState](repeating: .zero, count: d)
  case .node:
    throw usage(
      node,
      "\(what) (input \(input)) is computed from the model inputs; only initial states known at import time (zeros or constants) are supported")
  case .constant(let c):
    // layout 0: [d, N, h]; layout 1: [N, d, h].
    let batchAxis = layout == 0 ? 1 : 0
    let expected = layout == 0 ? [d, 1, h] : [1, d, h]
    guard c.dims == expected, !c.containsBatchMarker else {
      throw usage(node, "\(what) of shape \(c.dims) is not \(layout == 0 ? "[\(d), batch, \(h)]" : "[batch, \(d), \(h)]") with one value for every example")
    }
    guard c.batchBroadcastAxis == nil || c.batchBroadcastAxis == batchAxis, !c.batchBroadcast || batchAxis == 0 else {
      throw usage(node, "\(what) is broadcast over the batch on another axis than its batch axis \(batchAxis)")
    }
    return (0..<d).map { k in
      let v = Array(c.values[(k * h)..<((k + 1) * h)]).map { Float($0) }
      return v.allSatisfy { $0 == 0 } ? .zero : .constant(Tensor(shape: [h], scalars: v))
    }
  }
}

/// One direction's weights in the cell's layout: kernels transposed to `[in, G·h]` / `[h, G·h]`
/// with the gate blocks reordered by `order` (cell block `j` is ONNX block `order[j]`), biases
/// summed (a GRU with linear_before_reset keeps its candidate's recurrent bias apart).
private func recurrentWeights(
  w: Constant, r: Constant, b: Constant?, direction k: Int, gates: Int, hidden h: Int, inputSize: Int, order: [Int],
  gruResetAfter: Bool
) -> RecurrentWeights {
  let g = gates * h
  func kernel(_ c: Constant, columns n: Int) -> Tensor {
    // c[k] is [G·h, n] (ONNX): out[i, j·h + u] = c[k, order[j]·h + u, i].
    var out = [Float](repeating: 0, count: n * g)
    let base = k * g * n
    for j in 0..<gates {
      for u in 0..<h {
        let row = base + (order[j] * h + u) * n
        for i in 0..<n { out[i * g + j * h + u] = Float(c.values[row + i]) }
      }
    }
    return Tensor(shape: [n, g], scalars: out)
  }
  var bias: Tensor?
  var candidate: Tensor?
  if let b {
    let base = k * 2 * g
    var sum = [Float](repeating: 0, count: g)
    var rn = [Float](repeating: 0, count: h)
    for j in 0..<gates {
      for u in 0..<h {
        let wb = b.values[base + order[j] * h + u]
        let rb = b.values[base + g + order[j] * h + u]
        if gruResetAfter && j == 2 {
          sum[j * h + u] = Float(wb)
          rn[u] = Float(rb)
        } else {
          sum[j * h + u] = Float(wb + rb)
        }
      }
    }
    bias = Tensor(shape: [g], scalars: sum)
    if gruResetAfter { candidate = Tensor(shape: [h], scalars: rn) }
  }
  return RecurrentWeights(
    input: kernel(w, columns: inputSize), recurrent: kernel(r, columns: h), bias: bias, candidateRecurrentBias: candidate)
}
