import Foundation

// Pattern matching on the ONNX node list before conversion.
//
// torch's exporter writes `nn.GELU()` (exact) below opset 20 as
//
//   d = Div(x, √2)   e = Erf(d)   a = Add(e, 1)   m = Mul(x, a)   y = Mul(m, 0.5)
//
// (or with `Mul(x, 0.5)` applied first). The graph IR has no Erf, and GELU is one
// elementwise activation for attribution, so the chain becomes a single Gelu node. Likewise
// `nn.SiLU` arrives as `Mul(x, Sigmoid(x))` and becomes one Swish activation, `nn.Mish` as
// `Mul(x, Tanh(Softplus(x)))` one Mish, and `nn.Hardswish` below opset 14 as
// `Mul(x, HardSigmoid(x))` one HardSwish.
//
// torch below opset 17 writes `nn.LayerNorm` as
//
//   m = ReduceMean(x)  d = Sub(x, m)  q = Pow(d, 2)  v = ReduceMean(q)  e = Add(v, ε)
//   s = Sqrt(e)  n = Div(d, s)  [Mul(n, γ)]  [Add(·, β)]
//
// and torch.export (opset 18) `nn.RMSNorm` as
//
//   q = Pow(x, 2)  v = ReduceMean(q)  e = Add(v, ε)  s = Sqrt(e)  r = Reciprocal(s)
//   n = Mul(x, r)  [Mul(n, γ)]
//
// (or `Div(x, s)`): each chain becomes one LayerNormalization / RMSNormalization node, so
// attribution sees one norm with its rule. A chain is fused only when it is exact: both
// reductions over the same axes keeping their dims — `[−k, …, −1]`, or `k` consecutive
// non-negative axes (torch.export writes `[1]` for the last axis of a matrix; ConvNeXt's
// channels-first LayerNorm reduces axis 1, which the converter moves to the end and back with
// transposes once the rank is known) — the exponent 2
// (or `Mul(d, d)`), a scalar ε ≥ 0, γ and β constants that vary only along the normalised axes,
// and every intermediate read only inside the chain.

/// Replaces every erf-GELU chain by a synthetic `Gelu` node (op type `Gelu`, input `x`,
/// output `y`, the name of the chain's last node), and every SiLU (`Mul(x, Sigmoid(x))`, as
/// torch writes `nn.SiLU`) by a synthetic `Swish` node, and torch.export's thresholded
/// Softplus (`Where(Greater(x, 20), x, Softplus(x))`) by a `Softplus` node; likewise torch's
/// Mish and pre-opset-14 hard-swish chains by `Mish` and `HardSwish` nodes. Returns the new list and the indices of
/// the synthetic nodes with their converters, which apply regardless of opset.
func fuseErfGELU(_ nodes: [Onnx_NodeProto], context: ConversionContext) throws(ONNXImportError)
  -> ([Onnx_NodeProto], [Int: ConvertFunction])
{
  var producer = [String: Int]()
  var consumers = [String: [Int]]()
  for (i, n) in nodes.enumerated() {
    for o in n.output where !o.isEmpty { producer[o] = i }
    for x in n.input where !x.isEmpty { consumers[x, default: []].append(i) }
  }
  // Constants available before conversion: initializers (already in the context) and
  // Constant nodes with a tensor value.
  func scalar(_ name: String) -> Double? {
    if case .constant(let c) = context.values[name], c.count == 1 { return c.values[0] }
    // Only one-element tensors are decoded: decoding a large Constant once per reader would
    // make this scan quadratic in the file size.
    guard let n = producer[name], nodes[n].opType == "Constant",
      let t = Attributes(nodes[n]).tensor("value"), t.dims.allSatisfy({ $0 == 1 }),
      let c = try? decodeTensor(t, baseDirectory: nil), c.count == 1
    else { return nil }
    return c.values[0]
  }
  func near(_ v: Double?, _ target: Double) -> Bool {
    guard let v else { return false }
    return abs(v - target) <= 1e-6 * abs(target)
  }
  func uses(_ name: String) -> Int { context.useCounts[name] ?? 0 }
  /// The single consumer of `name`, if it has exactly one use.
  func soleConsumer(_ name: String) -> Int? {
    guard uses(name) == 1, let c = consumers[name], c.count == 1 else { return nil }
    return c[0]
  }
  /// For a binary node with one scalar-constant operand: the other operand.
  func other(_ n: Onnx_NodeProto, constant target: Double) -> String? {
    guard n.input.count == 2 else { return nil }
    if near(scalar(n.input[1]), target) { return n.input[0] }
    if near(scalar(n.input[0]), target) { return n.input[1] }
    return nil
  }

  var removed = Set<Int>()
  var replacements = [Int: Onnx_NodeProto]()
  // SiLU: y = Mul(x, Sigmoid(x)) with the sigmoid read only there.
  for (si, sig) in nodes.enumerated() where sig.opType == "Sigmoid" && sig.input.count == 1 {
    let x = sig.input[0]
    guard let mi = soleConsumer(sig.output[0]), nodes[mi].opType == "Mul", nodes[mi].input.count == 2,
      Set(nodes[mi].input) == [x, sig.output[0]], replacements[mi] == nil
    else { continue }
    var swish = Onnx_NodeProto()
    swish.opType = "Swish"
    swish.name = nodes[mi].name.isEmpty ? nodes[mi].output[0] : nodes[mi].name
    swish.input = [x]
    swish.output = [nodes[mi].output[0]]
    removed.insert(si)
    replacements[mi] = swish
  }
  // Mish: y = Mul(x, Tanh(Softplus(x))), as torch writes `nn.Mish` at every opset (also 18,
  // which has a Mish operator), with the softplus and tanh read only inside the chain.
  for (pi, sp) in nodes.enumerated() where sp.opType == "Softplus" && sp.input.count == 1 {
    let x = sp.input[0]
    guard let ti = soleConsumer(sp.output[0]), nodes[ti].opType == "Tanh",
      let mi = soleConsumer(nodes[ti].output[0]), nodes[mi].opType == "Mul", nodes[mi].input.count == 2,
      Set(nodes[mi].input) == [x, nodes[ti].output[0]], replacements[mi] == nil
    else { continue }
    var mish = Onnx_NodeProto()
    mish.opType = "Mish"
    mish.name = nodes[mi].name.isEmpty ? nodes[mi].output[0] : nodes[mi].name
    mish.input = [x]
    mish.output = [nodes[mi].output[0]]
    removed.formUnion([pi, ti])
    replacements[mi] = mish
  }
  // Hard-swish below opset 14: torch writes `nn.Hardswish` as Mul(x, HardSigmoid(x)) with
  // α = 1/6, β = 0.5.
  for (hi, hs) in nodes.enumerated() where hs.opType == "HardSigmoid" && hs.input.count == 1 {
    let a = Attributes(hs)
    let x = hs.input[0]
    guard near(Double(a.float("alpha", 0.2)), 1.0 / 6), near(Double(a.float("beta", 0.5)), 0.5),
      let mi = soleConsumer(hs.output[0]), nodes[mi].opType == "Mul", nodes[mi].input.count == 2,
      Set(nodes[mi].input) == [x, hs.output[0]], replacements[mi] == nil
    else { continue }
    var hardSwish = Onnx_NodeProto()
    hardSwish.opType = "HardSwish"
    hardSwish.name = nodes[mi].name.isEmpty ? nodes[mi].output[0] : nodes[mi].name
    hardSwish.input = [x]
    hardSwish.output = [nodes[mi].output[0]]
    removed.insert(hi)
    replacements[mi] = hardSwish
  }
  // torch.export's Softplus (threshold 20): Where(Greater(x, t), x, Softplus(x)). For x > t ≥ 15,
  // softplus(x) − x = log1p(e⁻ˣ) < e⁻¹⁵ ≈ 3.1e-7, less than half a float32 ulp at 15 (4.8e-7),
  // so the Where is the Softplus itself.
  for (wi, w) in nodes.enumerated() where w.opType == "Where" && w.input.count == 3 && replacements[wi] == nil
  {
    guard let gi = producer[w.input[0]], nodes[gi].opType == "Greater", nodes[gi].input.count == 2,
      uses(w.input[0]) == 1, let t = scalar(nodes[gi].input[1]), t >= 15,
      let si = producer[w.input[2]], nodes[si].opType == "Softplus", nodes[si].input.count == 1
    else { continue }
    let x = nodes[si].input[0]
    guard nodes[gi].input[0] == x, w.input[1] == x else { continue }
    var softplus = Onnx_NodeProto()
    softplus.opType = "Softplus"
    softplus.name = w.name.isEmpty ? w.output[0] : w.name
    softplus.input = [x]
    softplus.output = [w.output[0]]
    removed.insert(gi)
    replacements[wi] = softplus
  }
  for (e, erf) in nodes.enumerated() where erf.opType == "Erf" && erf.input.count == 1 {
    guard let di = producer[erf.input[0]], uses(erf.input[0]) == 1 else { continue }
    let div = nodes[di]
    let x: String
    if div.opType == "Div", div.input.count == 2, near(scalar(div.input[1]), 2.0.squareRoot()) {
      x = div.input[0]
    } else if div.opType == "Mul", let o = other(div, constant: 0.5.squareRoot()) {
      x = o
    } else {
      continue
    }
    guard let ai = soleConsumer(erf.output[0]), nodes[ai].opType == "Add",
      other(nodes[ai], constant: 1) == erf.output[0],
      let mi = soleConsumer(nodes[ai].output[0]), nodes[mi].opType == "Mul", nodes[mi].input.count == 2
    else { continue }
    let m = nodes[mi]
    let partner = m.input[0] == nodes[ai].output[0] ? m.input[1] : m.input[0]
    var chain: Set<Int> = [di, e, ai]
    let last: Int
    if partner == x {
      // y = Mul(Mul(x, a), 0.5)
      guard let hi = soleConsumer(m.output[0]), nodes[hi].opType == "Mul",
        other(nodes[hi], constant: 0.5) == m.output[0]
      else { continue }
      chain.insert(mi)
      last = hi
    } else if let hi = producer[partner], nodes[hi].opType == "Mul", uses(partner) == 1,
      other(nodes[hi], constant: 0.5) == x
    {
      // y = Mul(Mul(x, 0.5), a)
      chain.insert(hi)
      last = mi
    } else {
      continue
    }
    guard removed.isDisjoint(with: chain), replacements[last] == nil,
      chain.allSatisfy({ replacements[$0] == nil })
    else { continue }
    var gelu = Onnx_NodeProto()
    gelu.opType = "Gelu"
    gelu.name = nodes[last].name.isEmpty ? nodes[last].output[0] : nodes[last].name
    gelu.input = [x]
    gelu.output = [nodes[last].output[0]]
    removed.formUnion(chain)
    replacements[last] = gelu
  }
  // Layer and RMS norms written out (see the top of this file).
  func integers(_ name: String) -> [Int]? {
    if case .constant(let c) = context.values[name] { return c.containsBatchMarker ? nil : c.integers }
    guard let n = producer[name], nodes[n].opType == "Constant",
      let t = Attributes(nodes[n]).tensor("value"), t.dims.count <= 1, (t.dims.first ?? 1) <= 8,
      let c = try? decodeTensor(t, baseDirectory: nil)
    else { return nil }
    return c.integers
  }
  /// The dimensions of a constant (initializer or Constant node), not decoded.
  func constantDims(_ name: String) -> [Int]? {
    if case .constant(let c) = context.values[name] { return c.containsBatchMarker ? nil : c.dims }
    guard let n = producer[name], nodes[n].opType == "Constant", let t = Attributes(nodes[n]).tensor("value")
    else { return nil }
    return t.dims.map { Int($0) }
  }
  /// The axes of a ReduceMean that keeps its dims over `[−k, …, −1]` or `k` consecutive
  /// non-negative axes.
  func trailingMean(_ i: Int) -> [Int]? {
    let n = nodes[i]
    guard n.opType == "ReduceMean", !n.input.isEmpty else { return nil }
    let a = Attributes(n)
    guard a.int("keepdims", 1) == 1, a.int("noop_with_empty_axes", 0) == 0 else { return nil }
    let axes = a.ints("axes") ?? (n.input.count > 1 && !n.input[1].isEmpty ? integers(n.input[1]) : nil)
    guard let axes, !axes.isEmpty, axes.count <= 8 else { return nil }
    let sorted = axes.sorted()
    guard sorted == Array((-axes.count)...(-1)) || (sorted[0] >= 0 && sorted == Array(sorted[0]..<(sorted[0] + axes.count)))
    else { return nil }
    return sorted
  }
  /// `d` for `Pow(d, 2)` or `Mul(d, d)`.
  func squared(_ i: Int) -> String? {
    let n = nodes[i]
    if n.opType == "Pow", n.input.count == 2, near(scalar(n.input[1]), 2) { return n.input[0] }
    if n.opType == "Mul", n.input.count == 2, n.input[0] == n.input[1] { return n.input[0] }
    return nil
  }
  /// From a square `qi`: ReduceMean over the trailing `k` axes, `Add(·, ε)`, `Sqrt`, each read
  /// once; returns ε, the Sqrt and the chain.
  func rootMeanSquare(_ qi: Int) -> (axes: [Int], epsilon: Double, root: Int, chain: [Int])? {
    let q = nodes[qi].output[0]
    guard let vi = soleConsumer(q), let axes = trailingMean(vi), nodes[vi].input[0] == q,
      let ai = soleConsumer(nodes[vi].output[0]), nodes[ai].opType == "Add", nodes[ai].input.count == 2
    else { return nil }
    let v = nodes[vi].output[0]
    guard let eps = scalar(nodes[ai].input[0] == v ? nodes[ai].input[1] : nodes[ai].input[0]), eps >= 0,
      eps.isFinite, let ri = soleConsumer(nodes[ai].output[0]), nodes[ri].opType == "Sqrt", nodes[ri].input.count == 1
    else { return nil }
    return (axes, eps, ri, [qi, vi, ai, ri])
  }
  /// A constant that varies only along the trailing `k` axes (γ or β).
  func isNormParameter(_ name: String, axes k: Int) -> Bool {
    guard let dims = constantDims(name) else { return false }
    return dims.dropLast(k).allSatisfy { $0 == 1 }
  }
  /// The optional `Mul(·, γ)` and `Add(·, β)` after the normalised value of node `last`.
  func affineTail(_ last: Int, axes k: Int) -> (scale: String, bias: String, last: Int, chain: [Int]) {
    var last = last, chain = [Int](), scale = "", bias = ""
    for (op, isScale) in [("Mul", true), ("Add", false)] {
      let out = nodes[last].output[0]
      guard let i = soleConsumer(out), nodes[i].opType == op, nodes[i].input.count == 2, replacements[i] == nil,
        !removed.contains(i)
      else { continue }
      let partner = nodes[i].input[0] == out ? nodes[i].input[1] : nodes[i].input[0]
      guard partner != out, isNormParameter(partner, axes: k) else { continue }
      if isScale { scale = partner } else { bias = partner }
      chain.append(last)
      last = i
    }
    return (scale, bias, last, chain)
  }
  func fuseNorm(_ type: String, x: String, axes: [Int], epsilon: Double, chain: [Int], last: Int) {
    let tail = affineTail(last, axes: axes.count)
    let all = chain + tail.chain
    guard removed.isDisjoint(with: all + [tail.last]), all.allSatisfy({ replacements[$0] == nil }),
      replacements[tail.last] == nil
    else { return }
    var norm = Onnx_NodeProto()
    norm.opType = type
    norm.name = nodes[tail.last].name.isEmpty ? nodes[tail.last].output[0] : nodes[tail.last].name
    norm.input = [x, tail.scale, tail.bias]
    norm.output = [nodes[tail.last].output[0]]
    var axis = Onnx_AttributeProto()
    axis.name = "axes"
    axis.type = .ints
    axis.ints = axes.map(Int64.init)
    var eps = Onnx_AttributeProto()
    eps.name = "epsilon"
    eps.type = .float
    eps.f = Float(epsilon)
    norm.attribute = [axis, eps]
    removed.formUnion(all)
    replacements[tail.last] = norm
  }
  // LayerNorm: d = Sub(x, ReduceMean(x)) read by the square and the Div only.
  for (si, sub) in nodes.enumerated() where sub.opType == "Sub" && sub.input.count == 2 {
    let x = sub.input[0], d = sub.output[0]
    guard let mi = producer[sub.input[1]], uses(sub.input[1]) == 1, let axes = trailingMean(mi), nodes[mi].input[0] == x
    else { continue }
    let readers = Set(consumers[d] ?? [])
    guard readers.count == 2, let qi = readers.first(where: { squared($0) == d }),
      let di = readers.first(where: { $0 != qi }), uses(d) == (nodes[qi].opType == "Pow" ? 2 : 3),
      nodes[di].opType == "Div", nodes[di].input.count == 2, nodes[di].input[0] == d,
      let rms = rootMeanSquare(qi), rms.axes == axes, soleConsumer(nodes[rms.root].output[0]) == di,
      nodes[di].input[1] == nodes[rms.root].output[0]
    else { continue }
    fuseNorm("LayerNormalization", x: x, axes: axes, epsilon: rms.epsilon, chain: [mi, si] + rms.chain, last: di)
  }
  // RMSNorm: x·Reciprocal(Sqrt(…)) or Div(x, Sqrt(…)).
  for (qi, _) in nodes.enumerated() where !removed.contains(qi) && replacements[qi] == nil {
    guard let x = squared(qi), let rms = rootMeanSquare(qi) else { continue }
    let s = nodes[rms.root].output[0]
    guard let ni = soleConsumer(s) else { continue }
    var chain = rms.chain
    let last: Int
    if nodes[ni].opType == "Div", nodes[ni].input.count == 2, nodes[ni].input == [x, s] {
      last = ni
    } else if nodes[ni].opType == "Reciprocal", let mi = soleConsumer(nodes[ni].output[0]), nodes[mi].opType == "Mul",
      Set(nodes[mi].input) == [x, nodes[ni].output[0]], nodes[mi].input.count == 2
    {
      chain.append(ni)
      last = mi
    } else {
      continue
    }
    fuseNorm("RMSNormalization", x: x, axes: rms.axes, epsilon: rms.epsilon, chain: chain, last: last)
  }
  guard !replacements.isEmpty else { return (nodes, [:]) }
  var out = [Onnx_NodeProto]()
  var fused = [Int: ConvertFunction]()
  for (i, n) in nodes.enumerated() where !removed.contains(i) {
    if let r = replacements[i] {
      switch r.opType {
      case "Gelu": fused[out.count] = convertGelu
      case "Softplus": fused[out.count] = activation { _, _ in .softplus }
      case "Mish": fused[out.count] = activation { _, _ in .mish }
      case "HardSwish": fused[out.count] = activation { _, _ in .hardSwish }
      case "LayerNormalization": fused[out.count] = convertFusedNormalization(rms: false)
      case "RMSNormalization": fused[out.count] = convertFusedNormalization(rms: true)
      default: fused[out.count] = activation { _, _ in .swish }
      }
      out.append(r)
    } else {
      out.append(n)
    }
  }
  return (out, fused)
}
