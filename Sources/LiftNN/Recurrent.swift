import LiftTensor

// Recurrent layers (ONNX LSTM/GRU/RNN, Keras LSTM/GRU/SimpleRNN/Bidirectional) unrolled over
// time into existing ops at import (issue 20): one dense projection of every time step, then
// per step a slice, a dense of the previous state, the gates as elementwise activations and the
// gate products as two-tensor `multiply` ops — DeepSHAP's treatment of LSTMs. Every op keeps
// summation-to-delta under the existing rules, so the unrolled graph does. Both importers call
// ``unrollRecurrent(input:steps:cell:weights:initialHidden:initialCell:reverse:name:emit:)``.

/// The most time steps a recurrent layer is unrolled over (per direction): each step adds
/// about 16 graph nodes, so a file declaring a very long sequence is refused by the importers
/// (naming the layer) rather than building millions of nodes.
public let maximumUnrolledSteps = 1 << 16

/// The cell of a recurrent layer, with its activations (`nil`: identity).
public enum RecurrentCell: Sendable, Equatable {
  /// `h' = f(x·W + h·R + b)` (Keras `SimpleRNN`, ONNX `RNN`).
  case simple(activation: Activation?)
  /// LSTM with gate blocks `i, f, g, o` (input, forget, cell candidate, output):
  /// `i, f, o = σ(…)`, `g = φ(…)`, `c' = f ⊙ c + i ⊙ g`, `h' = o ⊙ ψ(c')` with `σ = gate`,
  /// `φ = candidate`, `ψ = output`.
  case lstm(gate: Activation?, candidate: Activation?, output: Activation?)
  /// GRU with gate blocks `z, r, n` (update, reset, candidate): `z, r = σ(…)`,
  /// `n = φ(x·W_n + b_n + r ⊙ (h·R_n + b_Rn))` with `resetAfter` (ONNX
  /// `linear_before_reset = 1`, torch, Keras `reset_after=True`), else
  /// `n = φ(x·W_n + (r ⊙ h)·R_n + b_n)`; `h' = (1 − z) ⊙ n + z ⊙ h`.
  case gru(gate: Activation?, candidate: Activation?, resetAfter: Bool)

  /// Number of gate blocks (1, 4 or 3).
  public var gateCount: Int {
    switch self {
    case .simple: 1
    case .lstm: 4
    case .gru: 3
    }
  }
}

/// The weights of one direction of a recurrent layer, gate blocks in ``RecurrentCell``'s order.
public struct RecurrentWeights: Sendable {
  /// `[inputSize, G·hidden]` (the Keras kernel layout).
  public var input: Tensor
  /// `[hidden, G·hidden]` (the Keras recurrent-kernel layout).
  public var recurrent: Tensor
  /// `[G·hidden]`: the input bias plus the recurrent bias, except for a GRU with reset after,
  /// whose candidate block holds only the input bias (its recurrent bias is ``candidateRecurrentBias``).
  public var bias: Tensor?
  /// A GRU with reset after: the candidate's recurrent bias `b_Rn`, `[hidden]`, inside `r ⊙ (…)`.
  public var candidateRecurrentBias: Tensor?

  /// Creates the weights of one direction; see the properties for layouts.
  public init(input: Tensor, recurrent: Tensor, bias: Tensor?, candidateRecurrentBias: Tensor? = nil) {
    self.input = input
    self.recurrent = recurrent
    self.bias = bias
    self.candidateRecurrentBias = candidateRecurrentBias
  }

  /// The hidden size (the recurrent kernel's rows).
  public var hidden: Int { recurrent.shape[0] }

  /// Why these weights do not fit `cell` and inputs of `inputSize` features, or `nil`.
  public func mismatch(cell: RecurrentCell, inputSize: Int) -> String? {
    let h = recurrent.rank == 2 ? recurrent.shape[0] : 0
    let g = cell.gateCount * h
    guard h >= 1, recurrent.shape == [h, g] else {
      return "recurrent kernel of shape \(recurrent.shape) is not [hidden, \(cell.gateCount)·hidden]"
    }
    guard input.shape == [inputSize, g] else {
      return "input kernel of shape \(input.shape) is not [\(inputSize), \(g)] (\(inputSize) input features, hidden size \(h))"
    }
    if let bias, bias.shape != [g] { return "bias of shape \(bias.shape) is not [\(g)]" }
    if let b = candidateRecurrentBias, b.shape != [h] { return "candidate recurrent bias of shape \(b.shape) is not [\(h)]" }
    return nil
  }
}

/// The state a recurrent layer starts from, per example (the same for every example).
public enum RecurrentState: Sendable {
  /// Zeros (the default of every framework).
  case zero
  /// A constant vector `[hidden]`.
  case constant(Tensor)
}

/// What ``unrollRecurrent(input:steps:cell:weights:initialHidden:initialCell:reverse:name:emit:)``
/// emitted: the hidden state after each step, per example `[1, hidden]`, in processing order
/// (time order, or reversed with `reverse`), and the last cell state of an LSTM.
public struct RecurrentUnroll: Sendable {
  public var hiddenStates: [NodeID]
  public var lastCell: NodeID?

  /// The hidden states in time order (position `t` is the state after reading `x_t`).
  public func timeOrdered(reverse: Bool) -> [NodeID] { reverse ? hiddenStates.reversed() : hiddenStates }
}

/// A term of the unrolled arithmetic: a graph node, a constant `[1, hidden]`, or zero (terms
/// with a zero initial state are left out rather than emitted as nodes of zeros).
private enum Term {
  case zero
  case constant(Tensor)
  case node(NodeID)
}

/// Unrolls one direction of a recurrent layer over the `steps` time steps of `input` (a node of
/// per-example shape `[steps, inputSize]`), emitting nodes through `emit(op, inputs, name)`
/// (names are `name` + `/…`; the caller makes them unique and checks shapes).
///
/// Per step `t`: `x_t·W + b` is a slice of one dense projection of every step; `h·R` a dense of
/// the previous hidden state; each gate block a slice with its activation; the products of
/// gates and states `multiply` nodes (bilinear rule), or ``Op/affine(scale:offset:)`` where
/// the state is a constant (a given initial state). With a zero initial state the terms it
/// multiplies are left out.
///
/// - Precondition: `weights.mismatch(cell:inputSize:) == nil`, `steps ≥ 1`, and an initial state
///   given as a constant has `hidden` elements.
public func unrollRecurrent<E: Error>(
  input: NodeID, steps: Int, cell: RecurrentCell, weights: RecurrentWeights, initialHidden: RecurrentState,
  initialCell: RecurrentState, reverse: Bool, name: String,
  emit: (Op, [NodeID], String) throws(E) -> NodeID
) throws(E) -> RecurrentUnroll {
  precondition(steps >= 1)
  let h = weights.hidden
  let g = cell.gateCount * h
  func state(_ s: RecurrentState) -> Term {
    switch s {
    case .zero: return .zero
    case .constant(let t):
      precondition(t.scalarCount == h)
      return t.scalars.allSatisfy { $0 == 0 } ? .zero : .constant(t.reshaped([1, h]))
    }
  }
  func vector(_ t: Tensor) -> [Float] { t.scalars }
  // h·M + bias for a constant h ([1, h]) and a matrix M ([h, k]).
  func constantProduct(_ v: Tensor, _ m: Tensor, bias: [Float]?) -> Tensor {
    let k = m.shape[1]
    var out = bias ?? [Float](repeating: 0, count: k)
    let hv = v.scalars, ms = m.scalars
    for i in 0..<h where hv[i] != 0 {
      for j in 0..<k { out[j] += hv[i] * ms[i * k + j] }
    }
    return Tensor(shape: [1, k], scalars: out)
  }
  func columns(_ m: Tensor, _ range: Range<Int>) -> Tensor {
    let rows = m.shape[0], k = m.shape[1]
    var out = [Float]()
    out.reserveCapacity(rows * range.count)
    let s = m.scalars
    for r in 0..<rows { out.append(contentsOf: s[(r * k + range.lowerBound)..<(r * k + range.upperBound)]) }
    return Tensor(shape: [rows, range.count], scalars: out)
  }
  // Helpers emitting the arithmetic on terms.
  func activate(_ a: Activation?, _ x: NodeID, _ n: String) throws(E) -> NodeID {
    guard let a else { return x }
    return try emit(.activation(a), [x], n)
  }
  func slice(_ x: NodeID, _ lo: Int, _ hi: Int, rows: (Int, Int) = (0, 1), _ n: String) throws(E) -> NodeID {
    try emit(.slice(start: [rows.0, lo], end: [rows.1, hi]), [x], n)
  }
  func multiply(_ a: NodeID, _ b: Term, _ n: String) throws(E) -> Term {
    switch b {
    case .zero: return .zero
    case .constant(let c):
      if c.scalars.allSatisfy({ $0 == 0 }) { return .zero }
      return .node(try emit(.affine(scale: c, offset: Tensor(repeating: 0, shape: [1, h])), [a], n))
    case .node(let id): return .node(try emit(.multiply, [a, id], n))
    }
  }
  func add(_ a: Term, _ b: Term, _ n: String) throws(E) -> Term {
    switch (a, b) {
    case (.zero, let x), (let x, .zero): return x
    case (.node(let x), .node(let y)): return .node(try emit(.add, [x, y], n))
    case (.node(let x), .constant(let c)), (.constant(let c), .node(let x)):
      return .node(try emit(.affine(scale: Tensor(repeating: 1, shape: c.shape), offset: c), [x], n))
    case (.constant(let c), .constant(let d)):
      return .constant(Tensor(shape: c.shape, scalars: zip(c.scalars, d.scalars).map { $0 + $1 }))
    }
  }
  // Every step's input projection at once: [steps, G·h].
  let projected = try emit(.dense(weight: weights.input, bias: weights.bias), [input], name + "/input_projection")
  var hidden = state(initialHidden)
  var cellState = state(initialCell)
  var outputs = [NodeID]()
  // A GRU without reset after multiplies r ⊙ h before its candidate block of R.
  let resetBefore: Bool = if case .gru(_, _, false) = cell { true } else { false }
  let recurrentGates = resetBefore ? columns(weights.recurrent, 0..<(2 * h)) : weights.recurrent
  let candidateRecurrent = resetBefore ? columns(weights.recurrent, (2 * h)..<g) : nil
  var recurrentBias: [Float]?
  if case .gru(_, _, true) = cell {
    recurrentBias = [Float](repeating: 0, count: 2 * h) + vector(weights.candidateRecurrentBias ?? Tensor(repeating: 0, shape: [h]))
  }
  for step in 0..<steps {
    let t = reverse ? steps - 1 - step : step
    let p = "\(name)/t\(t)"
    let xt = try slice(projected, 0, g, rows: (t, t + 1), p + "/x")
    // h·R (+ b_Rn for a GRU with reset after): [1, G·h] or [1, 2h].
    let rk = recurrentGates.shape[1]
    var recurrentTerm: Term
    switch hidden {
    case .zero:
      recurrentTerm = recurrentBias.map { .constant(Tensor(shape: [1, rk], scalars: $0)) } ?? .zero
    case .constant(let v):
      recurrentTerm = .constant(constantProduct(v, recurrentGates, bias: recurrentBias))
    case .node(let id):
      let b = recurrentBias.map { Tensor(shape: [rk], scalars: $0) }
      recurrentTerm = .node(try emit(.dense(weight: recurrentGates, bias: b), [id], p + "/recurrent"))
    }
    switch cell {
    case .simple(let f):
      guard case .node(let pre) = try add(.node(xt), recurrentTerm, p + "/preactivation") else { preconditionFailure() }
      hidden = .node(try activate(f, pre, p + "/h"))
    case .lstm(let gate, let candidate, let output):
      guard case .node(let pre) = try add(.node(xt), recurrentTerm, p + "/preactivation") else { preconditionFailure() }
      let i = try activate(gate, try slice(pre, 0, h, p + "/i_pre"), p + "/i")
      let f = try activate(gate, try slice(pre, h, 2 * h, p + "/f_pre"), p + "/f")
      let c = try activate(candidate, try slice(pre, 2 * h, 3 * h, p + "/g_pre"), p + "/g")
      let o = try activate(gate, try slice(pre, 3 * h, 4 * h, p + "/o_pre"), p + "/o")
      let kept = try multiply(f, cellState, p + "/f*c")
      let written = try multiply(i, .node(c), p + "/i*g")
      let newCell = try add(kept, written, p + "/c")
      guard case .node(let cid) = newCell else { preconditionFailure() }
      cellState = newCell
      hidden = try multiply(o, .node(try activate(output, cid, p + "/c_act")), p + "/h")
    case .gru(let gate, let candidate, let resetAfter):
      // Gates z, r from the first 2h columns; the candidate's input part from the last h.
      let xn = try slice(xt, 2 * h, 3 * h, p + "/n_x")
      let zrInput = try slice(xt, 0, 2 * h, p + "/zr_x")
      let zrRecurrent: Term
      var candidateRecurrentTerm: Term = .zero
      switch recurrentTerm {
      case .zero: zrRecurrent = .zero
      case .constant(let c):
        zrRecurrent = .constant(columns(c, 0..<(2 * h)))
        if resetAfter { candidateRecurrentTerm = .constant(columns(c, (2 * h)..<g)) }
      case .node(let id):
        zrRecurrent = resetAfter ? .node(try slice(id, 0, 2 * h, p + "/zr_recurrent")) : .node(id)
        if resetAfter { candidateRecurrentTerm = .node(try slice(id, 2 * h, g, p + "/n_recurrent")) }
      }
      guard case .node(let zrPre) = try add(.node(zrInput), zrRecurrent, p + "/zr_preactivation") else {
        preconditionFailure()
      }
      let z = try activate(gate, try slice(zrPre, 0, h, p + "/z_pre"), p + "/z")
      let r = try activate(gate, try slice(zrPre, h, 2 * h, p + "/r_pre"), p + "/r")
      var nPre: Term
      if resetAfter {
        let gated = try multiply(r, candidateRecurrentTerm, p + "/r*n_recurrent")
        nPre = try add(.node(xn), gated, p + "/n_preactivation")
      } else {
        let resetState = try multiply(r, hidden, p + "/r*h")
        switch resetState {
        case .node(let rh):
          let rr = try emit(.dense(weight: candidateRecurrent!, bias: nil), [rh], p + "/n_recurrent")
          nPre = try add(.node(xn), .node(rr), p + "/n_preactivation")
        default:
          nPre = .node(xn)
        }
      }
      guard case .node(let nPreID) = nPre else { preconditionFailure() }
      let n = try activate(candidate, nPreID, p + "/n")
      let keep = try emit(
        .affine(scale: Tensor(repeating: -1, shape: [1, h]), offset: Tensor(repeating: 1, shape: [1, h])), [z],
        p + "/1-z")
      let fresh = try multiply(keep, .node(n), p + "/(1-z)*n")
      let kept = try multiply(z, hidden, p + "/z*h")
      hidden = try add(fresh, kept, p + "/h")
    }
    guard case .node(let hid) = hidden else { preconditionFailure() }
    outputs.append(hid)
  }
  var lastCell: NodeID?
  if case .node(let c) = cellState { lastCell = c }
  return RecurrentUnroll(hiddenStates: outputs, lastCell: lastCell)
}
