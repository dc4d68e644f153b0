import Foundation
import LiftNN
import LiftTensor

// The pooling family: max and average pools, windowed and global (see Rules.swift).
extension Propagation {
  /// Split of a pool: max pools by the sign of their own Δy, average pools the pool of each
  /// of their operand's parts.
  mutating func poolingSplit(_ id: NodeID, _ op: PoolingOp) -> (pos: Tensor, neg: Tensor) {
    switch op {
    case .maxPool, .globalMaxPool:
      // The original leaves zeros here (its bug §8.5); re-deriving the parts from the sign of
      // Δy keeps Δy⁺ + Δy⁻ = Δy.
      return signSplit(delta(id))
    case .averagePool(let p): return splitOfParts(id) { averagePool($0[0], p) }
    case .globalAveragePool: return splitOfParts(id) { globalAveragePool($0[0]) }
    }
  }

  /// Multipliers through a pool. Max pools: collapsed by the sign of Δy, then routed to the
  /// input's maxima (gradient modes, or ``MaxPoolRule/gradient``) or the Captum/SHAP rule
  /// (``MaxPoolRule/deepshap`` under DeepLIFT); average pools: the adjoint of each part.
  /// `full`: the operand's shape with the batch axis holding all T·P rows.
  mutating func poolingMultipliers(
    _ id: NodeID, _ op: PoolingOp, input: NodeID, full: Shape, _ my: Multipliers
  ) -> Multipliers {
    let tasks = my.pos.shape[0] / pairs
    switch op {
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
    }
  }

  func modeIsDeepLIFT(_ id: NodeID) -> Bool {
    // Max pools have no mode of their own: the run's mode is that of any nonlinear node.
    guard let mode = modes.compactMap({ $0 }).first else { return true }
    return mode == .rescale || mode == .revealCancel
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
}
