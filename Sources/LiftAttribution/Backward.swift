import Foundation
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
  /// `|W|` of dense and conv nodes (RevealCancel), per node; missing entries are computed on
  /// first use and kept for this batch.
  private var absWeights: [Tensor?]

  /// `absWeights`: `|W|` per node, computed once per explainer (see ``absoluteWeights(_:nodes:)``);
  /// nil or nil entries: computed here when needed.
  init(
    graph: Graph, modes: [NonlinearMode?], maxPoolRule: MaxPoolRule, x: PairSide, r: PairSide,
    absWeights: [Tensor?]? = nil
  ) {
    self.graph = graph
    self.modes = modes
    self.maxPoolRule = maxPoolRule
    self.x = x
    self.r = r
    deltas = Array(repeating: nil, count: graph.nodes.count)
    splits = Array(repeating: nil, count: graph.nodes.count)
    if let absWeights, absWeights.count == graph.nodes.count {
      self.absWeights = absWeights
    } else {
      self.absWeights = Array(repeating: nil, count: graph.nodes.count)
    }
  }

  /// `|x − r|` of a node's output, in one pass over both sides (`Δ` itself is not kept).
  func absoluteDelta(_ id: NodeID) -> Tensor {
    let xs = x[id.rawValue]!, rs = r[id.rawValue]!
    precondition(xs.scalarCount == rs.scalarCount, "Δ of \(xs.shape) and \(rs.shape)")
    return Tensor(shape: xs.shape) { out in
      xs.withUnsafeBufferPointer { xp in
        rs.withUnsafeBufferPointer { rp in
          for i in 0..<xp.count { out[i] = abs(xp[i] - rp[i]) }
        }
      }
    }
  }

  /// `(½(Δ + d), ½(Δ − d))` with `Δ = x − r` of node `id`'s output: a linear node's parts from
  /// its own Δ (= P + N) and `d` = P − N, in one pass.
  func splitOwnDelta(_ id: NodeID, _ d: Tensor) -> (pos: Tensor, neg: Tensor) {
    let xs = x[id.rawValue]!, rs = r[id.rawValue]!
    precondition(xs.scalarCount == d.scalarCount && rs.scalarCount == d.scalarCount, "split of \(graph[id].name)")
    return Tensor.pair(shape: xs.shape) { p, n in
      xs.withUnsafeBufferPointer { xp in
        rs.withUnsafeBufferPointer { rp in
          d.withUnsafeBufferPointer { dp in
            for i in 0..<xp.count {
              let delta = xp[i] - rp[i]
              p[i] = 0.5 * (delta + dp[i])
              n[i] = 0.5 * (delta - dp[i])
            }
          }
        }
      }
    }
  }

  /// `|W|` of the dense or conv node `id` with weight `w`.
  mutating func absoluteWeight(_ id: NodeID, _ w: Tensor) -> Tensor {
    if let a = absWeights[id.rawValue] { return a }
    let a = absolute(w)
    absWeights[id.rawValue] = a
    return a
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
      // P + N = Δx·W is the node's own Δy (the bias cancels); P − N = |Δx|·|W|.
      let d = dense(absoluteDelta(node.inputs[0]), weight: absoluteWeight(id, w), bias: nil)
      s = splitOwnDelta(id, d)
    case .conv(let w, _, let p):
      let d = conv(absoluteDelta(node.inputs[0]), weight: absoluteWeight(id, w), bias: nil, parameters: p)
      s = splitOwnDelta(id, d)
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
    let n = x0.scalarCount
    precondition(ip.scalarCount == n && ineg.scalarCount == n, "reveal-cancel parts of \(node.name)")
    var a = Tensor.zeros(x0.shape), b = a
    let (yp, yn) = Tensor.pair(shape: x0.shape) { yp, yn in
      a.withUnsafeMutableBufferPointer { ap in
        b.withUnsafeMutableBufferPointer { bp in
          ip.withUnsafeBufferPointer { pp in
            ineg.withUnsafeBufferPointer { np in
              x0.withUnsafeBufferPointer { xp in
                func run<F: UnitFunction>(_ f: F) {
                  for i in 0..<n {
                    let v = revealCancelScalar(xp[i], pp[i], np[i], i, f)
                    yp[i] = v.yp
                    yn[i] = v.yn
                    ap[i] = v.a
                    bp[i] = v.b
                  }
                }
                switch UnitKind(node, input: x0) {
                case .relu: run(ReLUUnit())
                case .leaky(let alpha): run(LeakyUnit(alpha: alpha))
                case .prelu(let alpha): alpha.withUnsafeBufferPointer { run(PReLUUnit(alpha: $0)) }
                case .other(let act): run(ActivationUnit(activation: act))
                }
              }
            }
          }
        }
      }
    }
    return (yp, yn, a, b)
  }

  /// RevealCancel multipliers through an elementwise node, in one pass per task and no
  /// intermediate tensors: `m⁺_x = m⁺_y ⊙ tile(Δy⁺/a)`, `m⁻_x = m⁻_y ⊙ tile(Δy⁻/b)` with
  /// `Δy±, a, b` of ``revealCancelParts(_:)`` (the same operations, so the same values).
  mutating func revealCancelMultipliers(_ id: NodeID, _ my: Multipliers) -> Multipliers {
    let node = graph[id]
    let (ip, ineg) = split(node.inputs[0])
    let x0 = r[node.inputs[0].rawValue]!
    let k = x0.scalarCount, total = my.pos.scalarCount
    precondition(ip.scalarCount == k && ineg.scalarCount == k, "reveal-cancel parts of \(node.name)")
    precondition(k > 0 ? total % k == 0 : total == 0, "cannot tile \(x0.shape) over \(my.pos.shape)")
    let tasks = k > 0 ? total / k : 0
    let mPos = my.pos, mNeg = my.negative
    let (pos, neg) = Tensor.pair(shape: mPos.shape) { outP, outN in
      mPos.withUnsafeBufferPointer { mp in
        mNeg.withUnsafeBufferPointer { mn in
          ip.withUnsafeBufferPointer { pp in
            ineg.withUnsafeBufferPointer { np in
              x0.withUnsafeBufferPointer { xp in
                // Factors of a block of units (cache-resident), then applied to every task.
                let block = 1024
                let sp = UnsafeMutablePointer<Float>.allocate(capacity: 2 * block)
                defer { sp.deallocate() }
                let sn = sp + block
                func run<F: UnitFunction>(_ f: F) {
                  var j0 = 0
                  while j0 < k {
                    let len = min(block, k &- j0)
                    for j in 0..<len {
                      let v = revealCancelScalar(xp[j0 &+ j], pp[j0 &+ j], np[j0 &+ j], j0 &+ j, f)
                      sp[j] = v.yp / v.a
                      sn[j] = v.yn / v.b
                    }
                    for t in 0..<tasks {
                      let base = t &* k &+ j0
                      for j in 0..<len {
                        outP[base &+ j] = mp[base &+ j] * sp[j]
                        outN[base &+ j] = mn[base &+ j] * sn[j]
                      }
                    }
                    j0 &+= len
                  }
                }
                switch UnitKind(node, input: x0) {
                case .relu: run(ReLUUnit())
                case .leaky(let alpha): run(LeakyUnit(alpha: alpha))
                case .prelu(let alpha): alpha.withUnsafeBufferPointer { run(PReLUUnit(alpha: $0)) }
                case .other(let act): run(ActivationUnit(activation: act))
                }
              }
            }
          }
        }
      }
    }
    return Multipliers(pos: pos, neg: neg)
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
      return linearRule(id, my, input: input, weight: w) { denseBackward($0, weight: $1) }
    case .conv(let w, _, let p):
      return linearRule(id, my, input: input, weight: w) {
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
    case .activation, .prelu:
      return nonlinearRule(id, my)
    case .softmax(let axis):
      let my = collapsedBySign(id, my)
      switch modes[id.rawValue] ?? .rescale {
      case .rescale, .revealCancel: return softmaxRule(id, axis: axis, my)
      case .gradient, .guided: return nonlinearRule(id, my)
      }
    case .maxPool(let p):
      let my = collapsedBySign(id, my)
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
      let my = collapsedBySign(id, my)
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
    case .add: return my
    case .average:
      let w = 1 / Float(node.inputs.count)
      return my.map { $0.mapScalars { $0 * w } }
    case .subtract:
      // Δy⁺ = Δa⁺ − Δb⁻, Δy⁻ = Δa⁻ − Δb⁺: b's positive part is weighed by −m⁻, its negative
      // part by −m⁺.
      guard k == 1 else { return my }
      guard let neg = my.neg else { return my.map { $0.mapScalars { -$0 } } }
      return Multipliers(pos: neg.mapScalars { -$0 }, neg: my.pos.mapScalars { -$0 })
    case .maximum, .minimum:
      return extremumRule(id, operand: k, collapsedBySign(id, my))
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
    _ id: NodeID, _ my: Multipliers, input: NodeID, weight w: Tensor, _ back: (Tensor, Tensor) -> Tensor
  ) -> Multipliers {
    if my.isSymmetric { return Multipliers(pos: back(my.pos, w), neg: nil) }
    // a = m⁺W⁺ᵀ + m⁻W⁻ᵀ, b = m⁺W⁻ᵀ + m⁻W⁺ᵀ from two products instead of four:
    // a + b = (m⁺ + m⁻)Wᵀ, a − b = (m⁺ − m⁻)|W|ᵀ.
    let mPos = my.pos, mNeg = my.negative
    let (sum, difference) = Tensor.pair(shape: mPos.shape) { s, d in
      mPos.withUnsafeBufferPointer { pp in
        mNeg.withUnsafeBufferPointer { np in
          for i in 0..<pp.count {
            s[i] = pp[i] + np[i]
            d[i] = pp[i] - np[i]
          }
        }
      }
    }
    let sb = back(sum, w), db = back(difference, absoluteWeight(id, w))
    // The sign of Δx = x − r of the input, from both sides (no Δ tensor).
    let xi = x[input.rawValue]!, ri = r[input.rawValue]!
    let k = xi.scalarCount, n = sb.scalarCount
    precondition(k > 0 ? n % k == 0 : n == 0, "cannot tile \(xi.shape) over \(sb.shape)")
    let result = Tensor(shape: sb.shape) { out in
      sb.withUnsafeBufferPointer { sp in
        db.withUnsafeBufferPointer { dp in
          xi.withUnsafeBufferPointer { xp in
            ri.withUnsafeBufferPointer { rp in
              var base = 0
              while base < n {
                for j in 0..<k {
                  let a = 0.5 * (sp[base &+ j] + dp[base &+ j]), b = 0.5 * (sp[base &+ j] - dp[base &+ j])
                  let d = xp[j] - rp[j]
                  out[base &+ j] = d > 0 ? a : (d < 0 ? b : 0.5 * (a + b))
                }
                base &+= k
              }
            }
          }
        }
      }
    }
    return Multipliers(pos: result, neg: nil)
  }

  /// The multiplier handed on by a node whose split is the sign split of its own Δ (max
  /// pools, maximum/minimum, softmax — see ``split(_:)``): its output's contribution is
  /// `m⁺·Δy⁺ + m⁻·Δy⁻ = m·Δy` with
  /// ```
  /// m = [Δy>0]⊙m⁺ + [Δy<0]⊙m⁻ + [Δy=0]⊙½(m⁺ + m⁻)
  /// ```
  /// so the node's own rule must act on `m`, not on the two parts separately (its input's
  /// parts are not its output's). Symmetric multipliers pass unchanged.
  mutating func collapsedBySign(_ id: NodeID, _ my: Multipliers) -> Multipliers {
    guard let neg = my.neg else { return my }
    let dy = delta(id)
    let k = dy.scalarCount, n = my.pos.scalarCount
    precondition(k > 0 ? n % k == 0 : n == 0, "cannot tile \(dy.shape) over \(my.pos.shape)")
    let result = Tensor(shape: my.pos.shape) { out in
      my.pos.withUnsafeBufferPointer { pp in
        neg.withUnsafeBufferPointer { np in
          dy.withUnsafeBufferPointer { dp in
            var base = 0
            while base < n {
              for j in 0..<k {
                let d = dp[j], a = pp[base &+ j], b = np[base &+ j]
                out[base &+ j] = d > 0 ? a : (d < 0 ? b : 0.5 * (a + b))
              }
              base &+= k
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
      return revealCancelMultipliers(id, my)
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

  /// DeepLIFT rule of a softmax along `axis` (Rescale, RevealCancel and genomics-default
  /// alike), for multipliers `m` already collapsed by the sign of the node's Δy. Each output
  /// is `yⱼ = exp(zⱼ)` with `zⱼ = xⱼ − L(x)`, `L = log Σᵢ exp(xᵢ)`: Rescale on the exp with
  /// the secant `kⱼ = Δyⱼ/Δzⱼ` gives `Δyⱼ = kⱼ(Δxⱼ − ΔL)`, and because `Σⱼ Δyⱼ = 0` the shared
  /// `ΔL = Σⱼ kⱼΔxⱼ / Σⱼ kⱼ` exactly. So
  /// ```
  /// m_xⱼ = kⱼ·(mⱼ − m̄),   m̄ = Σᵢ kᵢmᵢ / Σᵢ kᵢ,   kⱼ = (e^{zⱼ} − e^{z⁰ⱼ}) / (zⱼ − z⁰ⱼ)
  /// ```
  /// (`kⱼ → y⁰ⱼ` as `Δzⱼ → 0`), and `Σⱼ m_xⱼΔxⱼ = Σⱼ mⱼΔyⱼ`: summation-to-delta holds across
  /// the coupled units. At `x = x⁰` this is the softmax's Jacobian-vector product
  /// `y⁰ ⊙ (m − Σ y⁰m)`. (The original applies elementwise Rescale, `m·Δyⱼ/Δxⱼ`, which loses
  /// `Δyⱼ` wherever `Δxⱼ ≈ 0` while the other units move.) Evaluated in double precision.
  func softmaxRule(_ id: NodeID, axis: Int, _ my: Multipliers) -> Multipliers {
    let input = graph[id].inputs[0]
    let xi = x[input.rawValue]!, ri = r[input.rawValue]!
    let a = xi.shape.normalizedAxis(axis)
    let dims = xi.shape.dimensions
    let n = dims[a], inner = dims[(a + 1)...].reduce(1, *), outer = dims[..<a].reduce(1, *)
    let size = xi.scalarCount
    // Secants kⱼ and the normalised weights kⱼ / Σᵢ kᵢ, per unit of the [P, …] pairs.
    var k = [Double](repeating: 0, count: size), w = k
    xi.withUnsafeBufferPointer { xp in
      ri.withUnsafeBufferPointer { rp in
        func logSumExp(_ p: UnsafeBufferPointer<Float>, _ base: Int) -> Double {
          var top = -Double.infinity
          for j in 0..<n { top = max(top, Double(p[base + j * inner])) }
          var sum = 0.0
          for j in 0..<n { sum += exp(Double(p[base + j * inner]) - top) }
          return top + log(sum)
        }
        for o in 0..<outer {
          for i in 0..<inner {
            let base = o * n * inner + i
            let lx = logSumExp(xp, base), lr = logSumExp(rp, base)
            var total = 0.0
            for j in 0..<n {
              let u = base + j * inner
              let z = Double(xp[u]) - lx, z0 = Double(rp[u]) - lr
              let dz = z - z0
              let y0 = exp(z0)
              // Near Δz = 0 the secant's quotient loses its digits; its series does not.
              k[u] = abs(dz) < 1e-5 ? y0 * (1 + dz * (0.5 + dz / 6)) : (exp(z) - y0) / dz
              total += k[u]
            }
            for j in 0..<n {
              let u = base + j * inner
              w[u] = total > 0 ? k[u] / total : 0
            }
          }
        }
      }
    }
    return my.map { mt in
      Tensor(shape: mt.shape) { out in
        mt.withUnsafeBufferPointer { mp in
          let blocks = size > 0 ? mp.count / size : 0
          for t in 0..<blocks {
            for o in 0..<outer {
              for i in 0..<inner {
                let base = o * n * inner + i, shift = t * size
                var mean = 0.0
                for j in 0..<n { mean += w[base + j * inner] * Double(mp[shift + base + j * inner]) }
                for j in 0..<n {
                  let u = base + j * inner
                  out[shift + u] = Float(k[u] * (Double(mp[shift + u]) - mean))
                }
              }
            }
          }
        }
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

/// `|W|` of every dense and conv node in `nodes`, indexed by node (nil elsewhere): the
/// RevealCancel split and linear rule use it for every batch.
func absoluteWeights(_ graph: Graph, nodes: Set<NodeID>) -> [Tensor?] {
  var out = [Tensor?](repeating: nil, count: graph.nodes.count)
  for id in nodes {
    switch graph[id].op {
    case .dense(let w, _), .conv(let w, _, _): out[id.rawValue] = absolute(w)
    default: continue
    }
  }
  return out
}

/// `|t|` elementwise.
func absolute(_ t: Tensor) -> Tensor {
  Tensor(shape: t.shape) { out in
    t.withUnsafeBufferPointer { p in
      for i in 0..<p.count { out[i] = abs(p[i]) }
    }
  }
}

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

/// RevealCancel of one unit: `a = pc(p)`, `b = pc(n)` and
/// `Δy⁺ = ½[(f(x⁰+a) − f(x⁰)) + (f(x⁰+a+b) − f(x⁰+b))]`,
/// `Δy⁻ = ½[(f(x⁰+b) − f(x⁰)) + (f(x⁰+a+b) − f(x⁰+a))]` in double precision
/// (`f(v, i)`: the activation of unit `i` at `v`).
@inline(__always)
func revealCancelScalar<F: UnitFunction>(
  _ x0: Float, _ p: Float, _ n: Float, _ i: Int, _ f: F
) -> (yp: Float, yn: Float, a: Float, b: Float) {
  let a = pseudocount(p), b = pseudocount(n)
  let x = Double(x0), pa = Double(a), pb = Double(b)
  let f0 = f(x, i), fa = f(x + pa, i), fb = f(x + pb, i), fab = f(x + pa + pb, i)
  return (Float(0.5 * ((fa - f0) + (fab - fb))), Float(0.5 * ((fb - f0) + (fab - fa))), a, b)
}

/// An elementwise activation in double precision, `f(v, i)` for unit `i` (the flat index
/// within the node's input `[P, …]`, for PReLU's α). Loops generic over it specialise.
protocol UnitFunction {
  func callAsFunction(_ v: Double, _ i: Int) -> Double
}

struct ReLUUnit: UnitFunction {
  @inline(__always) func callAsFunction(_ v: Double, _ i: Int) -> Double { v > 0 ? v : 0 }
}

/// `v > 0 ? v : α·v` (Leaky ReLU).
struct LeakyUnit: UnitFunction {
  let alpha: Double
  @inline(__always) func callAsFunction(_ v: Double, _ i: Int) -> Double { v > 0 ? v : alpha * v }
}

/// `v > 0 ? v : α[i]·v` (PReLU, α broadcast to the input's shape).
struct PReLUUnit: UnitFunction {
  let alpha: UnsafeBufferPointer<Float>
  @inline(__always) func callAsFunction(_ v: Double, _ i: Int) -> Double { v > 0 ? v : Double(alpha[i]) * v }
}

struct ActivationUnit: UnitFunction {
  let activation: Activation
  @inline(__always) func callAsFunction(_ v: Double, _ i: Int) -> Double { activation.apply(v) }
}

/// Which ``UnitFunction`` an elementwise node applies (callers switch over it and call a
/// generic loop with the concrete type, so that the loop specialises).
enum UnitKind {
  case relu
  case leaky(Double)
  /// α broadcast to the shape of the node's input.
  case prelu(Tensor)
  case other(Activation)

  init(_ node: Node, input x0: Tensor) {
    switch node.op {
    case .activation(.relu): self = .relu
    case .activation(.leakyRelu(let alpha)): self = .leaky(Double(alpha))
    case .activation(let act): self = .other(act)
    case .prelu(let alpha): self = .prelu(broadcast(exampleShaped(alpha, like: x0), to: x0.shape))
    default: preconditionFailure("reveal-cancel on \(node.op.kindName)")
    }
  }
}
