import LiftNN
import LiftTensor

/// How multipliers cross one nonlinear node.
enum NonlinearMode: Sendable, Equatable {
  /// DeepLIFT Rescale: `m_x = m_y·Δy/Δx`, the derivative at the reference where |Δx| < ε.
  case rescale
  /// DeepLIFT RevealCancel: positive and negative parts of Δx propagated separately.
  case revealCancel
  /// Chain rule with the derivative at the actual input.
  case gradient
  /// Guided backpropagation (Captum): ReLUs pass only positive multipliers where `x > 0`.
  case guided
}

/// Positive and negative multipliers of one node for a stack of tasks (`[T·P, …]`).
/// `neg == nil` means `m⁻ == m⁺`, which holds everywhere unless a RevealCancel node (or a
/// max-pool/negative-scale swap after one) made them differ; it halves the work of the
/// common Rescale and gradient passes.
struct Multipliers {
  var pos: Tensor
  var neg: Tensor?

  var negative: Tensor { neg ?? pos }
  var isSymmetric: Bool { neg == nil }

  /// Applies the same linear map to both parts.
  func map(_ f: (Tensor) -> Tensor) -> Multipliers {
    Multipliers(pos: f(pos), neg: neg.map(f))
  }

  static func + (a: Multipliers, b: Multipliers) -> Multipliers {
    if a.neg == nil && b.neg == nil { return Multipliers(pos: .sum(a.pos, b.pos), neg: nil) }
    return Multipliers(pos: .sum(a.pos, b.pos), neg: .sum(a.negative, b.negative))
  }

  /// `½(m⁺ + m⁻)`: the multiplier the original reports (`Input.get_mxts`).
  var mean: Tensor {
    guard let neg else { return pos }
    return Tensor.zip2(pos, neg) { 0.5 * ($0 + $1) }
  }
}

/// DeepLIFT's near-zero threshold (`NEAR_ZERO_THRESHOLD` of the original), compared with `<`.
let nearZero: Float = 1e-7

/// The RevealCancel pseudocount: values with |t| < ε/2 are pushed to ±ε (exact 0 to +ε).
@inline(__always)
func pseudocount(_ t: Float) -> Float {
  guard abs(t) < nearZero / 2 else { return t }
  return t >= 0 ? t + nearZero : t - nearZero
}

/// The propagation state of one batch of explained pairs (input `x_p`, reference `r_p`).
///
/// Holds the forward activations of both sides for every node the target depends on, and
/// computes on demand each node's Δ and its own split `(Δ⁺, Δ⁻)` (see
/// reference/deeplift-original.md §1). Multipliers flow in reverse topological order.
struct Propagation {
  let graph: Graph
  let modes: [NonlinearMode?]
  let maxPoolRule: MaxPoolRule
  /// Activations of the inputs and of the references per node (`x[i]`: `[P, …]`, nil if
  /// unused; hot paths read the compact stored rows, see ``PairSide``).
  let x: PairSide
  let r: PairSide
  private var deltas: [Tensor?]
  private var splits: [(pos: Tensor, neg: Tensor)?]

  init(graph: Graph, modes: [NonlinearMode?], maxPoolRule: MaxPoolRule, x: PairSide, r: PairSide) {
    self.graph = graph
    self.modes = modes
    self.maxPoolRule = maxPoolRule
    self.x = x
    self.r = r
    deltas = Array(repeating: nil, count: graph.nodes.count)
    splits = Array(repeating: nil, count: graph.nodes.count)
  }

  var pairs: Int { x.pairs }

  /// `Δ = x − r` of a node's output.
  mutating func delta(_ id: NodeID) -> Tensor {
    if let d = deltas[id.rawValue] { return d }
    let d = Tensor.zip2(x[id.rawValue]!, r[id.rawValue]!) { $0 - $1 }
    deltas[id.rawValue] = d
    return d
  }

  /// The node's own split `(Δ⁺, Δ⁻)` with `Δ⁺ + Δ⁻ = Δ` (up to RevealCancel's pseudocounts).
  mutating func split(_ id: NodeID) -> (pos: Tensor, neg: Tensor) {
    if let s = splits[id.rawValue] { return s }
    let node = graph[id]
    let s: (pos: Tensor, neg: Tensor)
    func structural(_ f: ([Tensor]) -> Tensor, _ me: inout Propagation) -> (pos: Tensor, neg: Tensor) {
      let parts = node.inputs.map { me.split($0) }
      return (f(parts.map(\.pos)), f(parts.map(\.neg)))
    }
    switch node.op {
    case .input, .maxPool, .globalMaxPool, .maximum, .minimum, .softmax:
      // Inputs split by the sign of Δ. Max-like ops: the original leaves zeros here (its bug
      // §8.5); re-deriving the parts from the sign of Δy keeps Δy⁺ + Δy⁻ = Δy.
      s = signSplit(delta(id))
    case .dense(let w, _):
      let dx = delta(node.inputs[0])
      s = splitByIdentity(dense(dx, weight: w, bias: nil), dense(absolute(dx), weight: absolute(w), bias: nil))
    case .conv(let w, _, let p):
      let dx = delta(node.inputs[0])
      func c(_ a: Tensor, _ k: Tensor) -> Tensor { conv(a, weight: k, bias: nil, parameters: p) }
      s = splitByIdentity(c(dx, w), c(absolute(dx), absolute(w)))
    case .affine(let scale, _):
      let (ip, ineg) = split(node.inputs[0])
      let sc = broadcast(exampleShaped(scale, like: ip), to: ip.shape)
      s = (Tensor.zip3(ip, ineg, sc) { p, n, k in k > 0 ? k * p : (k < 0 ? k * n : 0) },
           Tensor.zip3(ip, ineg, sc) { p, n, k in k > 0 ? k * n : (k < 0 ? k * p : 0) })
    case .activation, .prelu:
      let (ip, ineg) = split(node.inputs[0])
      if modes[id.rawValue] == .revealCancel {
        let (yp, yn, _, _) = revealCancelParts(id)
        s = (yp, yn)
      } else {
        let k = rescaleFactor(id)
        s = (Tensor.zip2(ip, k) { $0 * $1 }, Tensor.zip2(ineg, k) { $0 * $1 })
      }
    case .averagePool(let p): s = structural({ averagePool($0[0], p) }, &self)
    case .globalAveragePool: s = structural({ globalAveragePool($0[0]) }, &self)
    case .reshape, .transpose, .pad, .slice, .concat, .identity:
      // Linear ops with 0/1 coefficients act on each part as on the whole (pad adds zeros).
      var op = node.op
      if case .pad(let b, let a, _) = op { op = .pad(before: b, after: a, value: 0) }
      s = structural({ evaluate(op, $0) }, &self)
    case .add: s = structural({ $0.dropFirst().reduce($0[0]) { Tensor.sum($0, $1) } }, &self)
    case .average:
      let n = Float(node.inputs.count)
      s = structural({ $0.dropFirst().reduce($0[0]) { Tensor.sum($0, $1) }.mapScalars { $0 / n } }, &self)
    case .subtract:
      let a = split(node.inputs[0]), b = split(node.inputs[1])
      s = (Tensor.zip2(a.pos, b.neg) { $0 - $1 }, Tensor.zip2(a.neg, b.pos) { $0 - $1 })
    }
    splits[id.rawValue] = s
    return s
  }

  /// Rescale factor `Δy/Δx` of an elementwise node, with the derivative at the reference
  /// input where |Δx| < ε. (The original evaluates that fallback at the reference *output*,
  /// wrong for sigmoid/tanh — reference §1.4 and §8.1; we use f′(x⁰).)
  mutating func rescaleFactor(_ id: NodeID) -> Tensor {
    let node = graph[id]
    let input = node.inputs[0]
    let dx = delta(input), dy = delta(id)
    let r0 = r[input.rawValue]!
    switch node.op {
    case .activation(let f):
      return Tensor.zip3(dx, dy, r0) { dx, dy, r0 in abs(dx) < nearZero ? f.derivative(r0) : dy / dx }
    case .prelu(let alpha):
      let a = broadcast(exampleShaped(alpha, like: r0), to: r0.shape)
      let q = Tensor.zip2(dx, dy) { dx, dy in abs(dx) < nearZero ? .nan : dy / dx }
      return Tensor.zip3(q, r0, a) { q, r0, a in q.isNaN ? (r0 > 0 ? 1 : a) : q }
    case .softmax:
      // Elementwise Rescale as the original applies it; fallback y⁰(1 − y⁰).
      let y0 = r[id.rawValue]!
      return Tensor.zip3(dx, dy, y0) { dx, dy, y in abs(dx) < nearZero ? y * (1 - y) : dy / dx }
    default: preconditionFailure("rescale factor of \(node.op.kindName)")
    }
  }

  /// `m ⊙ tile(Δy/Δx)` for an elementwise activation in one pass over the activations of both
  /// sides (no Δ or factor tensors), reading each pair's stored input and reference rows in
  /// place (``PairSide``): the same float operations as ``rescaleFactor(_:)`` followed by
  /// `multipliedTiled`, so the result is bit-identical. ReLU is specialised.
  func fusedRescale(_ id: NodeID, _ f: Activation, _ m: Tensor) -> Tensor {
    let input = graph[id].inputs[0]
    let xi = x.stored[input.rawValue]!, ri = r.stored[input.rawValue]!
    let xo = x.stored[id.rawValue]!, ro = r.stored[id.rawValue]!
    let k = x.rowSize(input.rawValue), n = m.scalarCount, pairs = x.pairs
    precondition(k == x.rowSize(id.rawValue) && k == r.rowSize(input.rawValue) && k == r.rowSize(id.rawValue))
    precondition(k > 0 && pairs > 0 ? n % (pairs * k) == 0 : n == 0, "cannot tile \(xi.shape) over \(m.shape)")
    let xm = x.map, rm = r.map
    let isReLU = f.isReLU
    let rows = k > 0 ? n / k : 0
    return Tensor(shape: m.shape) { out in
      m.withUnsafeBufferPointer { mb in
        xi.withUnsafeBufferPointer { xib in
          ri.withUnsafeBufferPointer { rib in
            xo.withUnsafeBufferPointer { xob in
              ro.withUnsafeBufferPointer { rob in
                guard n > 0 && k > 0 else { return }
                let (o0, m0) = (SharedPointer(out.baseAddress!), SharedPointer(mb.baseAddress!))
                let (xi0, xo0) = (SharedPointer(xib.baseAddress!), SharedPointer(xob.baseAddress!))
                let (ri0, ro0) = (SharedPointer(rib.baseAddress!), SharedPointer(rob.baseAddress!))
                forEachRowRange(rows, scalarsPerRow: k) { range in
                  for q in range {
                    let p = q % pairs
                    let xr = xm.row(p) &* k, rr = rm.row(p) &* k
                    let mp = m0.pointer + q &* k, o = o0.pointer + q &* k
                    let xip = xi0.pointer + xr, xop = xo0.pointer + xr
                    let rip = ri0.pointer + rr, rop = ro0.pointer + rr
                    if isReLU {
                      // Select form (both sides computed) so the loop vectorises; the quotient
                      // of a near-zero Δx is discarded.
                      for j in 0..<k {
                        let dx = xip[j] - rip[j]
                        let q = (xop[j] - rop[j]) / dx
                        let g: Float = rip[j] > 0 ? 1 : 0
                        let s = abs(dx) < nearZero ? g : q
                        o[j] = mp[j] * s
                      }
                    } else {
                      for j in 0..<k {
                        let dx = xip[j] - rip[j]
                        let s: Float = abs(dx) < nearZero ? f.derivative(rip[j]) : (xop[j] - rop[j]) / dx
                        o[j] = mp[j] * s
                      }
                    }
                  }
                }
              }
            }
          }
        }
      }
    }
  }

  /// `argmax` (flat indices into its argument) of the stored input rows that the pairs read,
  /// once per stored row rather than once per pair.
  func storedArgmax(_ input: NodeID, _ argmax: (Tensor) -> [Int]) -> [Int] {
    let stored = x.stored[input.rawValue]!
    let range = x.map.rows(pairs: pairs)
    return argmax(range == 0..<stored.shape[0] ? stored : stored.slice(batch: range))
  }

  /// Max-pool routing by the argmax of each pair's input rows (the DeepLIFT and gradient
  /// rule): `dx[q, argmax(x_p)[o]] += m[q, o]` for every task-pair row `q` (pair `p = q mod P`),
  /// the same additions in the same order as `scatterAdd` over per-pair indices.
  /// `indices` come from ``storedArgmax(_:_:)``.
  func routeMaxPool(_ m: Tensor, input: NodeID, indices idx: [Int], full: Shape) -> Tensor {
    let range = x.map.rows(pairs: pairs)
    let inRow = x.rowSize(input.rawValue)
    let rows = m.shape[0]
    let outRow = rows == 0 ? 0 : m.scalarCount / rows
    precondition(idx.count == range.count * outRow, "max-pool routing: \(idx.count) indices")
    var dx = Tensor.zeros(full)
    let (xm, pairs, lo) = (x.map, pairs, range.lowerBound)
    dx.withUnsafeMutableBufferPointer { db in
      m.withUnsafeBufferPointer { mb in
        idx.withUnsafeBufferPointer { ib in
          guard rows > 0 && outRow > 0 else { return }
          let (d, g0, i0) = (SharedPointer(db.baseAddress!), SharedPointer(mb.baseAddress!), SharedPointer(ib.baseAddress!))
          // Row q writes only into row q of dx (an argmax lies in its own example's row).
          forEachRowRange(rows, scalarsPerRow: outRow) { range in
            for q in range {
              let e = xm.row(q % pairs) &- lo
              let src = i0.pointer + e &* outRow
              let shift = q &* inRow &- e &* inRow
              let g = g0.pointer + q &* outRow
              for o in 0..<outRow {
                let j = src[o]
                if j < 0 { continue }
                d.pointer[j &+ shift] += g[o]
              }
            }
          }
        }
      }
    }
    return dx
  }

  /// Contributions at an input node, `m⁺·Δ⁺ + m⁻·Δ⁻` with the sign split of `Δ = x − r`
  /// (the input's own split), computed from the stored rows without materialising Δ.
  func inputContributions(_ id: NodeID, _ mi: Multipliers) -> Tensor {
    let xs = x.stored[id.rawValue]!, rs = r.stored[id.rawValue]!
    let k = x.rowSize(id.rawValue), pairs = self.pairs
    let pos = mi.pos, neg = mi.negative
    let n = pos.scalarCount
    let (xm, rm) = (x.map, r.map)
    return Tensor(shape: pos.shape) { out in
      pos.withUnsafeBufferPointer { pb in
        neg.withUnsafeBufferPointer { nb in
          xs.withUnsafeBufferPointer { xb in
            rs.withUnsafeBufferPointer { rb in
              guard n > 0 && k > 0 else { return }
              var q = 0, base = 0
              while base < n {
                let p = q % pairs
                let xp = xb.baseAddress! + xm.row(p) &* k, rp = rb.baseAddress! + rm.row(p) &* k
                for j in 0..<k {
                  let d = xp[j] - rp[j]
                  let dp: Float = d > 0 ? d : 0, dn: Float = d < 0 ? d : 0
                  out[base &+ j] = pb[base &+ j] * dp + nb[base &+ j] * dn
                }
                q &+= 1
                base &+= k
              }
            }
          }
        }
      }
    }
  }

  /// RevealCancel for an elementwise node: `(Δy⁺, Δy⁻, a, b)` with `a = pc(Δx⁺)`,
  /// `b = pc(Δx⁻)` and
  /// ```
  /// Δy⁺ = ½[(f(x⁰+a) − f(x⁰)) + (f(x⁰+b+a) − f(x⁰+b))]
  /// Δy⁻ = ½[(f(x⁰+b) − f(x⁰)) + (f(x⁰+a+b) − f(x⁰+a))]
  /// ```
  /// evaluated in double precision: in float32 the differences are rounding noise when a
  /// part is tiny (reference §1.4 "numerical hazard", §8.10).
  mutating func revealCancelParts(_ id: NodeID) -> (Tensor, Tensor, Tensor, Tensor) {
    let node = graph[id]
    let (ip, ineg) = split(node.inputs[0])
    let x0 = r[node.inputs[0].rawValue]!
    let a = ip.mapScalars(pseudocount), b = ineg.mapScalars(pseudocount)
    let f: (Double, Int) -> Double
    switch node.op {
    case .activation(let act): f = { v, _ in act.apply(v) }
    case .prelu(let alpha):
      let al = broadcast(exampleShaped(alpha, like: x0), to: x0.shape).scalars
      f = { v, i in v > 0 ? v : Double(al[i]) * v }
    default: preconditionFailure("reveal-cancel on \(node.op.kindName)")
    }
    let n = x0.scalarCount
    var yp = [Float](repeating: 0, count: n), yn = [Float](repeating: 0, count: n)
    let xs = x0.scalars, av = a.scalars, bv = b.scalars
    for i in 0..<n {
      let x = Double(xs[i]), pa = Double(av[i]), pb = Double(bv[i])
      let f0 = f(x, i), fa = f(x + pa, i), fb = f(x + pb, i), fab = f(x + pa + pb, i)
      yp[i] = Float(0.5 * ((fa - f0) + (fab - fb)))
      yn[i] = Float(0.5 * ((fb - f0) + (fab - fa)))
    }
    return (Tensor(shape: x0.shape, scalars: yp), Tensor(shape: x0.shape, scalars: yn), a, b)
  }

  /// Propagates multipliers from `target` (seeded with `seed`, `[T·P, …]`) back to every
  /// node it depends on; returns the accumulated multipliers per node.
  /// Multipliers of nodes other than the inputs and `keeping` are released once passed on, so
  /// at most a few layers' multipliers are alive at a time (those entries are `nil`).
  mutating func backward(target: NodeID, seed: Tensor, keeping: Set<NodeID> = []) -> [Multipliers?] {
    var m = [Multipliers?](repeating: nil, count: graph.nodes.count)
    m[target.rawValue] = Multipliers(pos: seed, neg: nil)
    let inputs = Set(graph.inputs)
    for i in stride(from: target.rawValue, through: 0, by: -1) {
      guard let my = m[i] else { continue }
      let node = graph[NodeID(i)]
      if !node.inputs.isEmpty && !inputs.contains(NodeID(i)) && !keeping.contains(NodeID(i)) { m[i] = nil }
      for (k, input) in node.inputs.enumerated() {
        let contribution = inputMultipliers(NodeID(i), operand: k, my)
        m[input.rawValue] = m[input.rawValue].map { $0 + contribution } ?? contribution
      }
    }
    return m
  }

  /// The increment a node passes to its `operand`-th input.
  mutating func inputMultipliers(_ id: NodeID, operand k: Int, _ my: Multipliers) -> Multipliers {
    let node = graph[id]
    let input = node.inputs[k]
    let tasks = my.pos.shape[0] / pairs
    // The operand's shape with the batch axis holding all T·P rows.
    var full = r.shape(input.rawValue)!
    full[0] = my.pos.shape[0]
    switch node.op {
    case .input: preconditionFailure("input nodes have no operands")
    case .dense(let w, _):
      return linearRule(my, input: input, weight: w) { denseBackward($0, weight: $1) }
    case .conv(let w, _, let p):
      return linearRule(my, input: input, weight: w) {
        convBackwardInput($0, weight: $1, inputShape: full, parameters: p)
      }
    case .affine(let scale, _):
      let sc = broadcast(exampleShaped(scale, like: r.stored[input.rawValue]!), to: r.shape(input.rawValue)!)
      if my.isSymmetric { return my.map { $0.multipliedTiled(sc) } }
      let pos = Tensor.sum(
        Tensor.zipTiled(my.pos, sc) { m, s in s > 0 ? m * s : 0 },
        Tensor.zipTiled(my.negative, sc) { m, s in s < 0 ? m * s : 0 })
      let neg = Tensor.sum(
        Tensor.zipTiled(my.pos, sc) { m, s in s < 0 ? m * s : 0 },
        Tensor.zipTiled(my.negative, sc) { m, s in s > 0 ? m * s : 0 })
      return Multipliers(pos: pos, neg: neg)
    case .activation, .prelu, .softmax:
      return nonlinearRule(id, my)
    case .maxPool(let p):
      guard maxPoolRule == .deepshap, modeIsDeepLIFT(id) else {
        let idx = storedArgmax(input) { maxPoolArgmax($0, p) }
        return my.map { routeMaxPool($0, input: input, indices: idx, full: full) }
      }
      let xi = x[input.rawValue]!
      let idx = tiledIndices(maxPoolArgmax(xi, p), count: xi.scalarCount, tasks: tasks)
      let routed = my.map { scatterAdd($0, indices: idx, inputShape: full) }
      let ridx = tiledIndices(maxPoolArgmax(r[input.rawValue]!, p), count: xi.scalarCount, tasks: tasks)
      return deepShapMax(id, input: input, my, xIndices: idx, rIndices: ridx, routed: routed, full: full)
    case .globalMaxPool:
      guard maxPoolRule == .deepshap, modeIsDeepLIFT(id) else {
        let idx = storedArgmax(input) { globalMaxPoolArgmax($0) }
        return my.map { routeMaxPool($0, input: input, indices: idx, full: full) }
      }
      let xi = x[input.rawValue]!
      let idx = tiledIndices(globalMaxPoolArgmax(xi), count: xi.scalarCount, tasks: tasks)
      let routed = my.map { scatterAdd($0, indices: idx, inputShape: full) }
      let ridx = tiledIndices(globalMaxPoolArgmax(r[input.rawValue]!), count: xi.scalarCount, tasks: tasks)
      return deepShapMax(id, input: input, my, xIndices: idx, rIndices: ridx, routed: routed, full: full)
    case .averagePool(let p):
      return my.map { averagePoolBackward($0, inputShape: full, p) }
    case .globalAveragePool:
      return my.map { globalAveragePoolBackward($0, inputShape: full) }
    case .reshape: return my.map { $0.reshaped(full) }
    case .transpose(let perm):
      var inverse = perm
      for (i, p) in perm.enumerated() { inverse[p] = i }
      return my.map { transposed($0, permutation: inverse) }
    case .pad(let before, _, _):
      return my.map { mt in
        sliced(mt, start: [0] + before,
               end: [mt.shape[0]] + (1..<full.rank).map { before[$0 - 1] + full.dimensions[$0] })
      }
    case .slice(let start, _):
      return my.map { mt in
        padded(mt, before: [0] + start,
               after: [0] + (1..<full.rank).map { full.dimensions[$0] - start[$0 - 1] - mt.shape.dimensions[$0] },
               value: 0)
      }
    case .concat(let axis):
      let a = full.normalizedAxis(axis)
      let offset = node.inputs[..<k].reduce(0) { $0 + r.shape($1.rawValue)![a] }
      var start = [Int](repeating: 0, count: full.rank), end = my.pos.shape.dimensions
      start[a] = offset
      end[a] = offset + full[a]
      return my.map { sliced($0, start: start, end: end) }
    case .identity: return my
    case .add: return scalarLinearRule(my, input: input, weight: 1)
    case .average: return scalarLinearRule(my, input: input, weight: 1 / Float(node.inputs.count))
    case .subtract: return scalarLinearRule(my, input: input, weight: k == 0 ? 1 : -1)
    case .maximum, .minimum:
      return extremumRule(id, operand: k, my)
    }
  }

  func modeIsDeepLIFT(_ id: NodeID) -> Bool {
    // Max pools have no mode of their own: the run's mode is that of any nonlinear node.
    guard let mode = modes.compactMap({ $0 }).first else { return true }
    return mode == .rescale || mode == .revealCancel
  }

  /// Linear rule for dense and conv layers (reference §1.2–1.3):
  /// ```
  /// m_x = [Δx>0]⊙(m⁺W⁺ᵀ + m⁻W⁻ᵀ) + [Δx<0]⊙(m⁺W⁻ᵀ + m⁻W⁺ᵀ) + [Δx=0]⊙½(m⁺+m⁻)Wᵀ
  /// ```
  /// given to both input parts. With `m⁺ = m⁻` this is the plain adjoint `m·Wᵀ`.
  mutating func linearRule(
    _ my: Multipliers, input: NodeID, weight w: Tensor, _ back: (Tensor, Tensor) -> Tensor
  ) -> Multipliers {
    if my.isSymmetric { return Multipliers(pos: back(my.pos, w), neg: nil) }
    // a = m⁺W⁺ᵀ + m⁻W⁻ᵀ, b = m⁺W⁻ᵀ + m⁻W⁺ᵀ from two products instead of four:
    // a + b = (m⁺ + m⁻)Wᵀ, a − b = (m⁺ − m⁻)|W|ᵀ.
    let (a, b) = splitByIdentity(
      back(Tensor.zip2(my.pos, my.negative) { $0 + $1 }, w),
      back(Tensor.zip2(my.pos, my.negative) { $0 - $1 }, absolute(w)))
    let dx = delta(input)
    let result = Tensor(shape: a.shape) { out in
      a.withUnsafeBufferPointer { ap in
        b.withUnsafeBufferPointer { bp in
          dx.withUnsafeBufferPointer { dp in
            let k = dp.count
            for i in 0..<ap.count {
              let d = dp[i % k]
              out[i] = d > 0 ? ap[i] : (d < 0 ? bp[i] : 0.5 * (ap[i] + bp[i]))
            }
          }
        }
      }
    }
    return Multipliers(pos: result, neg: nil)
  }

  /// The linear rule for a scalar weight (`add`, `average`, `subtract` operands).
  mutating func scalarLinearRule(_ my: Multipliers, input: NodeID, weight: Float) -> Multipliers {
    if my.isSymmetric { return weight == 1 ? my : my.map { $0.mapScalars { $0 * weight } } }
    let dx = delta(input)
    let (wp, wn): (Float, Float) = weight > 0 ? (weight, 0) : (0, weight)
    let result = Tensor(shape: my.pos.shape) { out in
      my.pos.withUnsafeBufferPointer { pp in
        my.negative.withUnsafeBufferPointer { np in
          dx.withUnsafeBufferPointer { dp in
            let k = dp.count
            for i in 0..<pp.count {
              let d = dp[i % k]
              let a = pp[i] * wp + np[i] * wn, b = pp[i] * wn + np[i] * wp
              out[i] = d > 0 ? a : (d < 0 ? b : 0.5 * (a + b))
            }
          }
        }
      }
    }
    return Multipliers(pos: result, neg: nil)
  }

  /// Multipliers through an elementwise nonlinearity, by the node's mode.
  mutating func nonlinearRule(_ id: NodeID, _ my: Multipliers) -> Multipliers {
    let node = graph[id]
    let input = node.inputs[0]
    switch modes[id.rawValue] ?? .rescale {
    case .rescale:
      if case .activation(let f) = node.op, my.isSymmetric {
        return Multipliers(pos: fusedRescale(id, f, my.pos), neg: nil)
      }
      let s = rescaleFactor(id)
      return my.map { $0.multipliedTiled(s) }
    case .revealCancel:
      if case .softmax = node.op {
        let s = rescaleFactor(id)
        return my.map { $0.multipliedTiled(s) }
      }
      let (yp, yn, a, b) = revealCancelParts(id)
      let sp = Tensor.zip2(yp, a) { $0 / $1 }, sn = Tensor.zip2(yn, b) { $0 / $1 }
      return Multipliers(pos: my.pos.multipliedTiled(sp), neg: my.negative.multipliedTiled(sn))
    case .gradient, .guided:
      let xi = x[input.rawValue]!
      let guided = modes[id.rawValue] == .guided
      switch node.op {
      case .activation(let f):
        let g = xi.mapScalars { f.derivative($0) }
        if guided && f.isReLU { return my.map { Tensor.zipTiled($0, g) { m, g in max(m * g, 0) } } }
        return my.map { $0.multipliedTiled(g) }
      case .prelu(let alpha):
        let al = broadcast(exampleShaped(alpha, like: xi), to: xi.shape)
        let g = Tensor.zip2(xi, al) { $0 > 0 ? 1 : $1 }
        return my.map { $0.multipliedTiled(g) }
      case .softmax(let axis):
        // Jacobian-vector product: m_x = y ⊙ (m − Σ_axis m⊙y).
        let y = x[id.rawValue]!.tiledBatch(my.pos.shape[0] / pairs)
        return my.map { mt in
          let a = mt.shape.normalizedAxis(axis)
          let prod = Tensor.zip2(mt, y) { $0 * $1 }
          let dims = mt.shape.dimensions
          let n = dims[a], inner = dims[(a + 1)...].reduce(1, *), outer = dims[..<a].reduce(1, *)
          var out = prod.scalars
          let ys = y.scalars
          for o in 0..<outer {
            for i in 0..<inner {
              var s: Float = 0
              for j in 0..<n { s += prod.scalars[(o * n + j) * inner + i] }
              for j in 0..<n {
                let idx = (o * n + j) * inner + i
                out[idx] = prod.scalars[idx] - ys[idx] * s
              }
            }
          }
          return Tensor(shape: mt.shape, scalars: out)
        }
      default: preconditionFailure("nonlinear rule on \(node.op.kindName)")
      }
    }
  }

  /// Captum/SHAP max-pool rule: route `m·(max(y, y⁰) − y⁰)` to the maxima of the input and
  /// `m·(y − max(y, y⁰))` to those of the reference, divide by Δx (gradient where |Δx| < 1e-10).
  mutating func deepShapMax(
    _ id: NodeID, input: NodeID, _ my: Multipliers, xIndices: [Int], rIndices: [Int],
    routed: Multipliers, full: Shape
  ) -> Multipliers {
    let y = x[id.rawValue]!, y0 = r[id.rawValue]!
    let high = Tensor.zip2(y, y0) { max($0, $1) }
    let upX = Tensor.zip2(high, y0) { $0 - $1 }, upR = Tensor.zip2(y, high) { $0 - $1 }
    let dx = delta(input)
    return Multipliers(
      pos: deepShapPart(my.pos, upX, upR, xIndices, rIndices, dx, routed.pos, full),
      neg: my.neg.map { deepShapPart($0, upX, upR, xIndices, rIndices, dx, routed.negative, full) })
  }

  private func deepShapPart(
    _ m: Tensor, _ upX: Tensor, _ upR: Tensor, _ xi: [Int], _ ri: [Int], _ dx: Tensor,
    _ fallback: Tensor, _ full: Shape
  ) -> Tensor {
    let a = scatterAdd(m.multipliedTiled(upX), indices: xi, inputShape: full)
    let b = scatterAdd(m.multipliedTiled(upR), indices: ri, inputShape: full)
    let num = Tensor.sum(a, b)
    return Tensor(shape: full) { out in
      num.withUnsafeBufferPointer { np in
        fallback.withUnsafeBufferPointer { fp in
          dx.withUnsafeBufferPointer { dp in
            let k = dp.count
            for i in 0..<np.count {
              let d = dp[i % k]
              out[i] = abs(d) < 1e-10 ? fp[i] : np[i] / d
            }
          }
        }
      }
    }
  }

  /// Binary maximum / minimum. DeepLIFT modes write the op symmetrically through ReLUs,
  /// `max(a, b) = ½[(a + relu(b − a)) + (b + relu(a − b))]` (and `min` likewise with minus
  /// signs) and apply Rescale to each ReLU, so Σ m·Δ = Δy holds exactly; gradient modes route
  /// the multiplier to the larger (smaller) operand, the first on ties.
  mutating func extremumRule(_ id: NodeID, operand k: Int, _ my: Multipliers) -> Multipliers {
    let node = graph[id]
    let isMax: Bool = if case .maximum = node.op { true } else { false }
    let aID = node.inputs[0], bID = node.inputs[1]
    let mode = modes[id.rawValue] ?? .rescale
    if mode == .gradient || mode == .guided {
      let xa = x[aID.rawValue]!, xb = x[bID.rawValue]!
      let mask = Tensor.zip2(xa, xb) { a, b in
        let firstWins = isMax ? a >= b : a <= b
        return (k == 0) == firstWins ? 1 : 0
      }
      return my.map { $0.multipliedTiled(mask) }
    }
    let da = delta(aID), db = delta(bID)
    let ra = r[aID.rawValue]!, rb = r[bID.rawValue]!
    // s1: Rescale factor of relu(b − a), s2: of relu(a − b).
    func factor(_ d: Tensor, _ ref: Tensor) -> Tensor {
      Tensor.zip2(d, ref) { d, r0 in
        abs(d) < nearZero ? (r0 > 0 ? 1 : 0) : (max(r0 + d, 0) - max(r0, 0)) / d
      }
    }
    let dba = Tensor.zip2(db, da) { $0 - $1 }, rba = Tensor.zip2(rb, ra) { $0 - $1 }
    let dab = dba.mapScalars { -$0 }, rab = rba.mapScalars { -$0 }
    let s1 = factor(dba, rba), s2 = factor(dab, rab)
    // max: m_a = ½(1 − s1 + s2), m_b = ½(1 + s1 − s2); min: m_a = ½(1 − s2 + s1), m_b = ½(1 + s2 − s1).
    let coefficient = Tensor.zip2(s1, s2) { s1, s2 in
      let t = isMax ? s1 - s2 : s2 - s1
      return k == 0 ? 0.5 * (1 - t) : 0.5 * (1 + t)
    }
    return my.map { $0.multipliedTiled(coefficient) }
  }
}

/// `(½(s + d), ½(s − d))`: the two parts P, N of a linear map of split operands from their
/// sum `s = P + N` and difference `d = P − N` (e.g. `Δ⁺W⁺ + Δ⁻W⁻` and `Δ⁺W⁻ + Δ⁻W⁺` from `ΔW` and
/// `|Δ||W|`): two products instead of four.
func splitByIdentity(_ s: Tensor, _ d: Tensor) -> (Tensor, Tensor) {
  (Tensor.zip2(s, d) { 0.5 * ($0 + $1) }, Tensor.zip2(s, d) { 0.5 * ($0 - $1) })
}

/// `|t|` elementwise.
func absolute(_ t: Tensor) -> Tensor { t.mapScalars { abs($0) } }

/// `(t·[t>0], t·[t<0])`.
func signSplit(_ t: Tensor) -> (Tensor, Tensor) {
  (t.mapScalars { $0 > 0 ? $0 : 0 }, t.mapScalars { $0 < 0 ? $0 : 0 })
}

/// Flat indices into a `[P, …]` tensor of `count` scalars, repeated for T task blocks.
func tiledIndices(_ idx: [Int], count: Int, tasks: Int) -> [Int] {
  if tasks == 1 { return idx }
  var all = [Int]()
  all.reserveCapacity(idx.count * tasks)
  for t in 0..<tasks { all.append(contentsOf: idx.map { $0 + t * count }) }
  return all
}
