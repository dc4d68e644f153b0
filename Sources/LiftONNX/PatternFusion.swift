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
      default: fused[out.count] = activation { _, _ in .swish }
      }
      out.append(r)
    } else {
      out.append(n)
    }
  }
  return (out, fused)
}
