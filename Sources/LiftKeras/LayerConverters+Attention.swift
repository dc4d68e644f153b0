import LiftNN
import LiftTensor

// Keras MultiHeadAttention, written with the IR's linear, product and softmax ops.

/// `MultiHeadAttention` (tf-keras 2 and Keras 3): query `[T, d_q]`, value `[S, d_v]` and key
/// `[S, d_k]` (the value when absent), passed by position (`query, value, key`) or by keyword.
/// Inputs with more axes (`[T₁, T₂, d]`, images) attend over `attention_axes` (by default all
/// but the features), merged into one sequence; the other axes act as batch axes (equal in
/// query and value); such inputs need fixed extents.
///
/// With `h` heads, `key_dim` `k` and `value_dim` `v` (default `k`), the layer is
///
///     q = (query·W_q + b_q)/√k      → [h, T, k]
///     K = key·W_k + b_k             → [h, k, S]   (transposed)
///     V = value·W_v + b_v           → [h, S, v]
///     o = softmax(q·K) · V          → [h, T, v], softmax over S
///     y = o·W_o + b_o               → [T, output_shape]
///
/// imported as `dense` projections (the `1/√k` folded into `W_q` and `b_q`), reshapes and
/// transposes to and from the heads axis, two `matmul` nodes (the bilinear rule) and a
/// `softmax`. Dropout is the identity at inference. `use_causal_mask=True` (fixed-length
/// sequences) adds Keras' −1e9 to the masked scores as a constant. Refused, each with a clear
/// error: mask inputs (`attention_mask`, `query_mask`, `value_mask`, `key_mask`),
/// `return_attention_scores=True`, `attention_axes` naming the features or an axis twice,
/// inputs of different ranks, Keras 3's `use_gate=True` and `sliding_window`.
func convertMultiHeadAttention(_ call: LayerCall, _ cx: inout Conversion) throws(KerasImportError) -> Value {
  let o = call.options
  let keywords = call.keywordInputNames
  let positional = call.inputs.count - keywords.count
  let roles = ["query", "value", "key"]
  guard positional >= 0, positional <= roles.count else {
    throw o.unsupported("MultiHeadAttention called with \(positional) positional tensors (query, value, key)")
  }
  var operand = [String: Value]()
  for i in 0..<positional { operand[roles[i]] = call.inputs[i] }
  for (k, keyword) in keywords.enumerated() {
    switch keyword {
    case "query", "value", "key":
      guard operand[keyword] == nil else { throw o.invalid("MultiHeadAttention '\(keyword)' given twice") }
      operand[keyword] = call.inputs[positional + k]
    case "attention_mask", "query_mask", "value_mask", "key_mask":
      throw o.unsupported("MultiHeadAttention with an '\(keyword)' input (attention masks are not supported)")
    default:
      throw o.unsupported("MultiHeadAttention with the tensor keyword argument '\(keyword)'")
    }
  }
  guard let query = operand["query"], let value = operand["value"] else {
    throw o.invalid("MultiHeadAttention needs a query and a value")
  }
  let key = operand["key"] ?? value
  let kwargs = call.keywordArguments
  let causal = kwargs["use_causal_mask"]?.bool == true
  if kwargs["return_attention_scores"]?.bool == true {
    throw o.unsupported("MultiHeadAttention with return_attention_scores=True")
  }
  if try o.bool("use_gate", default: false) { throw o.unsupported("MultiHeadAttention with use_gate=True") }
  if !o.isAbsent("sliding_window") { throw o.unsupported("MultiHeadAttention with a sliding_window") }

  // Per-example layouts: query [T…, d_q], key/value [S…, d]; `r` axes before the features.
  let r = query.rank - 1
  for (role, v) in [("value", value), ("key", key)] where v.rank != query.rank {
    throw o.unsupported("MultiHeadAttention with a \(role) of rank \(v.rank + 1) and a query of rank \(query.rank + 1)")
  }
  guard r >= 1 else { throw o.unsupported("MultiHeadAttention on inputs without a sequence axis") }
  guard !causal || (r == 1 && query.shape[0] != nil && key.shape[0] != nil) else {
    throw o.unsupported("MultiHeadAttention with use_causal_mask=True on inputs other than fixed-length sequences")
  }
  // Attention axes (per-example, before the features): Keras' default is all of them; the
  // others act as batch axes (attention within each of their positions).
  var attended = Array(0..<r)
  if let given = try o.intList("attention_axes") {
    var axes = [Int]()
    for a in given {
      let full = a < 0 ? a + r + 2 : a
      guard full >= 1, full <= r, !axes.contains(full - 1) else {
        throw o.unsupported(
          "MultiHeadAttention over attention_axes \(given) for inputs of rank \(r + 2) (axes 1 to \(r), once each)")
      }
      axes.append(full - 1)
    }
    guard !axes.isEmpty else { throw o.invalid("empty attention_axes") }
    attended = axes.sorted()
  }
  let batchAxes = (0..<r).filter { !attended.contains($0) }
  for a in 0..<r where query.shape[a] == nil || value.shape[a] == nil || key.shape[a] == nil {
    guard r == 1 else { throw o.unsupported("MultiHeadAttention on inputs of rank \(r + 2) with open extents") }
  }
  for a in batchAxes where query.shape[a] != value.shape[a] {
    throw .shapeMismatch(
      file: cx.file, layer: call.spec.name,
      reason: "MultiHeadAttention query and value differ along axis \(a + 1), which is not attended over")
  }
  for a in 0..<r where value.shape[a] != key.shape[a] && value.shape[a] != nil && key.shape[a] != nil {
    throw .shapeMismatch(
      file: cx.file, layer: call.spec.name,
      reason: "MultiHeadAttention value and key differ along axis \(a + 1)")
  }
  let heads = try o.int("num_heads")
  let keyDim = try o.int("key_dim")
  let valueDim = o.isAbsent("value_dim") ? keyDim : try o.int("value_dim")
  guard heads >= 1, keyDim >= 1, valueDim >= 1 else {
    throw o.invalid("num_heads, key_dim and value_dim must be positive")
  }
  let useBias = try o.bool("use_bias", default: true)
  /// A reshape target for per-example extents (`nil`, open, as −1; only the rank-3 case has one).
  func target(_ extents: [Int?]) -> [Int] { extents.map { $0 ?? -1 } }
  // The heads layout [B…, heads, A…, dim] of a projection [T…, heads, dim] (per-example axes:
  // T… are 0..<r, heads r, dim r + 1); the key's is [B…, heads, dim, A…].
  let headsFirst = batchAxes + [r] + attended + [r + 1]
  let keyLayout = batchAxes + [r, r + 1] + attended

  /// One input projection `[T…, d] → [T…, heads·dim]` → `[T…, heads, dim]` → `layout`, the
  /// attended axes then merged into one.
  func project(
    _ x: Value, _ role: String, keras3: String, dim: Int, scale: Float?, layout: [Int], cx: inout Conversion
  ) throws(KerasImportError) -> Value {
    let w = try cx.weights(
      call, sublayer: Sublayer(legacyName: role, keras3Path: keras3),
      expected: ["kernel"] + (useBias ? ["bias"] : []))
    var kernel = w["kernel"]!
    try cx.check(kernel, [x.shape[r], heads, dim], weight: "\(role)/kernel", call: call)
    var bias = w["bias"]
    if let b = bias { try cx.check(b, [heads, dim], weight: "\(role)/bias", call: call) }
    let d = kernel.shape[0]
    kernel = kernel.reshaped(Shape([d, heads * dim]))
    bias = bias?.reshaped(Shape([heads * dim]))
    if let scale {
      kernel = Tensor(shape: kernel.shape, scalars: kernel.scalars.map { $0 * scale })
      bias = bias.map { Tensor(shape: $0.shape, scalars: $0.scalars.map { $0 * scale }) }
    }
    let p = try cx.emit(.dense(weight: kernel, bias: bias), [x], name: "\(call.name)/\(role)", call: call)
    let split = try cx.emit(
      .reshape(target(Array(x.shape.prefix(r))) + [heads, dim]), [p], name: "\(call.name)/\(role)_heads", call: call)
    let moved = try cx.emit(.transpose([0] + layout.map { $0 + 1 }), [split], name: "\(call.name)/\(role)_t", call: call)
    guard attended.count > 1 else { return moved }
    // Fixed extents (checked above when more than one axis is attended); overflow refused.
    guard let length = Shape.checkedCount(attended.map { x.shape[$0] ?? -1 }), length <= LayerOptions.integerBound
    else { throw o.invalid("implausible attended extents \(attended.map { x.shape[$0] ?? -1 })") }
    let merged: [Int] =
      layout == keyLayout
      ? target(batchAxes.map { x.shape[$0] }) + [heads, dim, length]
      : target(batchAxes.map { x.shape[$0] }) + [heads, length, dim]
    return try cx.emit(.reshape(merged), [moved], name: "\(call.name)/\(role)_flat", call: call)
  }

  let scale = Float(1.0 / Double(keyDim).squareRoot())
  let q = try project(query, "query", keras3: "query_dense", dim: keyDim, scale: scale, layout: headsFirst, cx: &cx)
  let k = try project(key, "key", keras3: "key_dense", dim: keyDim, scale: nil, layout: keyLayout, cx: &cx)
  let v = try project(value, "value", keras3: "value_dense", dim: valueDim, scale: nil, layout: headsFirst, cx: &cx)
  var scores = try cx.emit(.matmul, [q, k], name: "\(call.name)/scores", call: call)
  if causal {
    // Keras' causal mask: query position i attends key positions j ≤ i (`tril(ones(T, S))`);
    // its softmax adds −1e9 to the scores it masks. Here a constant (Δ = 0) added to them.
    let (t, s) = (query.shape[0]!, key.shape[0]!)  // checked above
    var mask = [Float](repeating: 0, count: heads * t * s)
    for h in 0..<heads {
      for i in 0..<t {
        for j in 0..<s where j > i { mask[(h * t + i) * s + j] = -1e9 }
      }
    }
    let constant = try cx.emit(
      .constant(value: Tensor(shape: Shape([heads, t, s]), scalars: mask)), [query], name: "\(call.name)/causal_mask",
      call: call)
    scores = try cx.emit(.add, [scores, constant], name: "\(call.name)/masked_scores", call: call)
  }
  let weights = try cx.emit(.softmax(axis: batchAxes.count + 3), [scores], name: "\(call.name)/softmax", call: call)
  var context = try cx.emit(.matmul, [weights, v], name: "\(call.name)/context", call: call)
  if attended.count > 1 {
    context = try cx.emit(
      .reshape(target(batchAxes.map { query.shape[$0] }) + [heads] + target(attended.map { query.shape[$0] }) + [valueDim]),
      [context], name: "\(call.name)/context_split", call: call)
  }
  // Back to [T…, heads, value_dim]: the inverse of the heads-first layout.
  var inverse = [Int](repeating: 0, count: headsFirst.count)
  for (i, a) in headsFirst.enumerated() { inverse[a] = i }
  let back = try cx.emit(.transpose([0] + inverse.map { $0 + 1 }), [context], name: "\(call.name)/context_t", call: call)
  let merged = try cx.emit(
    .reshape(target(Array(query.shape.prefix(r))) + [heads * valueDim]), [back], name: "\(call.name)/context_merged",
    call: call)

  // The output projection: kernel [heads, value_dim, O…], bias [O…]; O is `output_shape`
  // (an int or a list) or the query's features.
  let outputShape: [Int]
  if o.isAbsent("output_shape") {
    guard let dq = query.shape[r] else { throw o.unsupported("MultiHeadAttention on a query of open width") }
    outputShape = [dq]
  } else {
    guard let given = try o.intList("output_shape"), !given.isEmpty, given.allSatisfy({ $0 >= 1 }) else {
      throw o.invalid("'output_shape' must be a positive int or a list of them")
    }
    outputShape = given
  }
  guard let units = Shape.checkedCount(outputShape), units <= LayerOptions.integerBound else {
    throw o.invalid("implausible output_shape \(outputShape)")
  }
  let w = try cx.weights(
    call, sublayer: Sublayer(legacyName: "attention_output", keras3Path: "output_dense"),
    expected: ["kernel"] + (useBias ? ["bias"] : []))
  try cx.check(w["kernel"]!, [heads, valueDim] + outputShape, weight: "attention_output/kernel", call: call)
  if let b = w["bias"] { try cx.check(b, outputShape, weight: "attention_output/bias", call: call) }
  let op = Op.dense(
    weight: w["kernel"]!.reshaped(Shape([heads * valueDim, units])), bias: w["bias"]?.reshaped(Shape([units])))
  guard outputShape.count > 1 else { return try cx.emit(op, [merged], name: call.name, call: call) }
  let flat = try cx.emit(op, [merged], name: "\(call.name)/output", call: call)
  return try cx.emit(.reshape(target(Array(query.shape.prefix(r))) + outputShape), [flat], name: call.name, call: call)
}
