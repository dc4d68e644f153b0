import Foundation
import LiftNN
import LiftTensor

// The linear family: dense, conv, affine and transposed conv (see Rules.swift).
extension Propagation {
  /// Split of a dense or conv node by the sign of each term `wᵢΔxᵢ`; of an affine node, its
  /// operand's parts scaled (and swapped where the scale is negative).
  mutating func linearSplit(_ id: NodeID, _ op: LinearOp) -> (pos: Tensor, neg: Tensor) {
    let node = graph[id]
    switch op {
    case .dense(let w):
      // P + N = Δx·W is the node's own Δy (the bias cancels); P − N = |Δx|·|W|.
      let d = dense(absoluteDelta(node.inputs[0]), weight: absoluteWeight(id, w), bias: nil)
      return splitOwnDelta(id, d)
    case .conv(let w, let p):
      let d = conv(absoluteDelta(node.inputs[0]), weight: absoluteWeight(id, w), bias: nil, parameters: p)
      return splitOwnDelta(id, d)
    case .convTranspose(let w, let p, let outputPadding):
      // As for conv: P − N = |Δx| through the transposed convolution with |W|.
      let d = convTranspose(
        absoluteDelta(node.inputs[0]), weight: absoluteWeight(id, w), bias: nil, parameters: p,
        outputPadding: outputPadding)
      return splitOwnDelta(id, d)
    case .affine(let scale):
      let (ip, ineg) = split(node.inputs[0])
      let sc = broadcast(exampleShaped(scale, like: ip), to: ip.shape)
      return (Tensor.zip3(ip, ineg, sc) { p, n, k in k > 0 ? k * p : (k < 0 ? k * n : 0) },
              Tensor.zip3(ip, ineg, sc) { p, n, k in k > 0 ? k * n : (k < 0 ? k * p : 0) })
    }
  }

  /// Multipliers through a linear node, the same for every mode: ``linearRule(_:_:input:weight:_:)``
  /// for dense and conv, the scale (swapping the parts where it is negative) for affine.
  /// `full`: the operand's shape with the batch axis holding all T·P rows.
  mutating func linearMultipliers(
    _ id: NodeID, _ op: LinearOp, input: NodeID, full: Shape, _ my: Multipliers
  ) -> Multipliers {
    switch op {
    case .dense(let w):
      return linearRule(id, my, input: input, weight: w) { denseBackward($0, weight: $1) }
    case .conv(let w, let p):
      return linearRule(id, my, input: input, weight: w) {
        convBackwardInput($0, weight: $1, inputShape: full, parameters: p)
      }
    case .convTranspose(let w, let p, let outputPadding):
      // The adjoint of a transposed convolution is the convolution it transposes.
      let d = w.rank - 2
      guard
        let adjoint = convTransposeGeometry(
          kernel: Array(w.shape.dimensions[0..<d]), input: Array(full.dimensions[1...d]), parameters: p,
          outputPadding: outputPadding)?.conv
      else { preconditionFailure("transposed convolution of '\(graph[id].name)' does not fit \(full)") }
      return linearRule(id, my, input: input, weight: w) { conv($0, weight: $1, bias: nil, parameters: adjoint) }
    case .affine(let scale):
      let sc = broadcast(exampleShaped(scale, like: r.stored[input.rawValue]!), to: r.shape(input.rawValue)!)
      if my.isSymmetric { return my.map { $0.multipliedTiled(sc) } }
      let pos = Tensor.sum(
        Tensor.zipTiled(my.pos, sc) { m, s in s > 0 ? m * s : 0 },
        Tensor.zipTiled(my.negative, sc) { m, s in s < 0 ? m * s : 0 })
      let neg = Tensor.sum(
        Tensor.zipTiled(my.pos, sc) { m, s in s < 0 ? m * s : 0 },
        Tensor.zipTiled(my.negative, sc) { m, s in s > 0 ? m * s : 0 })
      return Multipliers(pos: pos, neg: neg)
    }
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
    let (sum, difference) = my.sumAndDifference
    let sb = back(sum, w), db = back(difference, absoluteWeight(id, w))
    return Multipliers(pos: signSelected(sum: sb, difference: db, input: input), neg: nil)
  }

  /// The multiplier of an operand whose terms are split by sign: with `a = ½(s + d)` (the
  /// weight of Δx > 0) and `b = ½(s − d)` (of Δx < 0), `[Δx>0]⊙a + [Δx<0]⊙b + [Δx=0]⊙½(a+b)`
  /// with `Δx` the `input`'s Δ tiled over the `[T·P, …]` rows of `s` and `d`.
  func signSelected(sum sb: Tensor, difference db: Tensor, input: NodeID) -> Tensor {
    // The sign of Δx = x − r of the input, from both sides (no Δ tensor).
    let xi = x[input.rawValue]!, ri = r[input.rawValue]!
    let k = xi.scalarCount, n = sb.scalarCount
    precondition(k > 0 ? n % k == 0 : n == 0, "cannot tile \(xi.shape) over \(sb.shape)")
    return Tensor(shape: sb.shape) { out in
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
  }
}

extension Multipliers {
  /// `(m⁺ + m⁻, m⁺ − m⁻)` in one pass: a sign-split rule's two products (``Propagation/signSelected(sum:difference:input:)``).
  var sumAndDifference: (Tensor, Tensor) {
    let mPos = pos, mNeg = negative
    return Tensor.pair(shape: mPos.shape) { s, d in
      mPos.withUnsafeBufferPointer { pp in
        mNeg.withUnsafeBufferPointer { np in
          for i in 0..<pp.count {
            s[i] = pp[i] + np[i]
            d[i] = pp[i] - np[i]
          }
        }
      }
    }
  }
}
