import LiftNN
import LiftTensor

// Keras layers that multiply activations: Multiply and Dot.

/// `Multiply` of two or more inputs: a chain of binary products `((x₀ ⊙ x₁) ⊙ x₂) …`, the
/// inner ones named `<layer>/mul<k>` (numpy broadcasting of inputs of one rank).
func convertMultiply(_ call: LayerCall, _ cx: inout Conversion) throws(KerasImportError) -> Value {
  guard call.inputs.count >= 2 else { throw call.options.invalid("Multiply needs at least two inputs") }
  var acc = call.inputs[0]
  for (k, operand) in call.inputs.dropFirst().enumerated() {
    let last = k == call.inputs.count - 2
    acc = try cx.emit(.multiply, [acc, operand], name: last ? call.name : "\(call.name)/mul\(k + 1)", call: call)
  }
  return acc
}

/// `Dot(axes, normalize=False)` of two inputs (Keras' `batch_dot`): the contracted axes are
/// summed over, the result holds the other axes of the first input, then of the second.
/// Per-example vectors `[d]·[d]` give `[1]` (a product and a dense sum); per-example matrices
/// give a `matmul` (with transposes as the axes require). Other ranks, and `normalize=True`
/// (an L2 normalisation first), are refused.
func convertDot(_ call: LayerCall, _ cx: inout Conversion) throws(KerasImportError) -> Value {
  let o = call.options
  guard call.inputs.count == 2 else { throw o.invalid("Dot needs exactly two inputs, got \(call.inputs.count)") }
  guard try !o.bool("normalize", default: false) else {
    throw o.unsupported("Dot with normalize=True (L2 normalisation of the operands) is not supported")
  }
  let (x, y) = (call.inputs[0], call.inputs[1])
  guard x.rank == y.rank, x.rank == 1 || x.rank == 2 else {
    throw o.unsupported("Dot of inputs of ranks \(x.rank + 1) and \(y.rank + 1) (only 2 and 3 are supported)")
  }
  let given = try o.intList("axes") ?? []
  guard given.count == 1 || given.count == 2 else { throw o.invalid("'axes' must be an int or a pair of ints") }
  // Full-tensor axes (1 or 2); negative axes count from the end; the batch axis is refused.
  var axes = [Int]()
  for (i, a) in (given.count == 1 ? [given[0], given[0]] : given).enumerated() {
    let rank = (i == 0 ? x : y).rank
    let full = a < 0 ? a + rank + 1 : a
    guard full >= 1 && full <= rank else { throw o.unsupported("Dot axis \(a) for inputs of rank \(rank + 1)") }
    axes.append(full)
  }
  if x.rank == 1 {
    let d = x.shape[0] ?? y.shape[0]
    guard let d else { throw o.unsupported("Dot of vectors of unknown length") }
    let product = try cx.emit(.multiply, [x, y], name: "\(call.name)/mul", call: call)
    return try cx.emit(
      .dense(weight: Tensor(repeating: 1, shape: [d, 1]), bias: nil), [product], name: call.name, call: call)
  }
  // [N, p, q]: contract x's axis axes[0] with y's axes[1] → [N, x_other, y_other] = A·B with
  // A = x (contracted axis last) and B = y (contracted axis first).
  let a = axes[0] == 2 ? x : try cx.emit(.transpose([0, 2, 1]), [x], name: "\(call.name)/lhs_t", call: call)
  let b = axes[1] == 1 ? y : try cx.emit(.transpose([0, 2, 1]), [y], name: "\(call.name)/rhs_t", call: call)
  return try cx.emit(.matmul, [a, b], name: call.name, call: call)
}
