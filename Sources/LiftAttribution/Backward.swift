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

  /// The node's own split `(Δ⁺, Δ⁻)` with `Δ⁺ + Δ⁻ = Δ` (up to RevealCancel's pseudocounts),
  /// computed once by its family's rule (``ownSplit(_:)``).
  mutating func split(_ id: NodeID) -> (pos: Tensor, neg: Tensor) {
    if let s = splits[id.rawValue] { return s }
    let s = ownSplit(id)
    splits[id.rawValue] = s
    return s
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
}

/// `|W|` of every dense and conv node in `nodes`, indexed by node (nil elsewhere): the
/// RevealCancel split and linear rule use it for every batch.
func absoluteWeights(_ graph: Graph, nodes: Set<NodeID>) -> [Tensor?] {
  var out = [Tensor?](repeating: nil, count: graph.nodes.count)
  for id in nodes {
    switch rule(for: graph[id].op) {
    case .linear(.dense(let w)), .linear(.conv(let w, _)), .linear(.convTranspose(let w, _, _)):
      out[id.rawValue] = absolute(w)
    case .input, .linear(.affine), .elementwise, .softmax, .pooling, .structural, .merge, .reduction, .product,
      .resampling, .normalization:
      continue
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
