import Foundation
import LiftTensor

/// Where each element of a tensor goes under a reduction over some of its axes: `index[i]` is
/// the flat (row-major) position, in the reduced tensor, of input element `i`. The reduced
/// tensor's layout does not depend on `keepDims` (removed axes have extent 1), so one map
/// serves both forms. Input elements of one output are visited in ascending order.
public struct ReductionLayout: Sendable {
  /// Flat output position of each input element.
  public let index: [Int]
  /// Number of outputs (the reduced tensor's scalar count).
  public let outputs: Int
  /// Elements per output: the product of the reduced extents.
  public let count: Int

  /// The layout of a reduction of a tensor of shape `shape` (batch included) over `axes`
  /// (valid, distinct axes of `shape`).
  public init(_ shape: Shape, axes: [Int]) {
    let dims = shape.dimensions
    let reduced = Set(axes)
    var outStride = [Int](repeating: 0, count: dims.count)
    var s = 1
    for a in stride(from: dims.count - 1, through: 0, by: -1) where !reduced.contains(a) {
      outStride[a] = s
      s *= dims[a]
    }
    outputs = s
    count = axes.reduce(1) { $0 * dims[$1] }
    let total = shape.scalarCount
    var index = [Int](repeating: 0, count: total)
    if total > 0 {
      // Odometer over the input's coordinates; `o` follows the output position.
      var coord = [Int](repeating: 0, count: dims.count)
      var o = 0
      for i in 0..<total {
        index[i] = o
        var a = dims.count - 1
        while a >= 0 {
          coord[a] += 1
          o += outStride[a]
          if coord[a] < dims[a] { break }
          o -= outStride[a] * coord[a]
          coord[a] = 0
          a -= 1
        }
      }
    }
    self.index = index
  }
}

/// The shape of `shape` reduced over `axes`: extent 1 there with `keepDims`, else removed.
public func reducedShape(_ shape: Shape, axes: [Int], keepDims: Bool) -> Shape {
  let reduced = Set(axes)
  var out = [Int]()
  for (a, d) in shape.dimensions.enumerated() {
    if reduced.contains(a) {
      if keepDims { out.append(1) }
    } else {
      out.append(d)
    }
  }
  return Shape(out)
}

/// `kind` of `x` over `axes` (axes of the full tensor). Sums accumulate in double precision;
/// log-sum-exp subtracts each group's maximum first (`c + log Σ e^{x−c}`; ±∞ when the maximum
/// is ±∞). Max keeps a NaN of its group.
public func reduce(_ x: Tensor, _ kind: Reduction, axes: [Int], keepDims: Bool) -> Tensor {
  let layout = ReductionLayout(x.shape, axes: axes)
  let shape = reducedShape(x.shape, axes: axes, keepDims: keepDims)
  let idx = layout.index
  return x.withUnsafeBufferPointer { xp -> Tensor in
    switch kind {
    case .sum, .mean:
      var acc = [Double](repeating: 0, count: layout.outputs)
      for i in 0..<xp.count { acc[idx[i]] += Double(xp[i]) }
      let scale = kind == .mean ? 1 / Double(layout.count) : 1
      return Tensor(shape: shape, scalars: acc.map { Float($0 * scale) })
    case .max:
      return Tensor(shape: shape, scalars: groupMaxima(xp, idx, layout.outputs))
    case .logSumExp:
      let top = groupMaxima(xp, idx, layout.outputs)
      var acc = [Double](repeating: 0, count: layout.outputs)
      for i in 0..<xp.count where top[idx[i]].isFinite {
        acc[idx[i]] += Foundation.exp(Double(xp[i]) - Double(top[idx[i]]))
      }
      let out = (0..<layout.outputs).map { o -> Float in
        top[o].isFinite ? Float(Double(top[o]) + Foundation.log(acc[o])) : top[o]
      }
      return Tensor(shape: shape, scalars: out)
    }
  }
}

/// Maximum per output group (NaN if the group holds one; −∞ for an empty group).
func groupMaxima(_ xp: UnsafeBufferPointer<Float>, _ idx: [Int], _ outputs: Int) -> [Float] {
  var top = [Float](repeating: -.infinity, count: outputs)
  for i in 0..<xp.count {
    let v = xp[i], o = idx[i]
    if v > top[o] || v.isNaN { top[o] = v }
  }
  return top
}

/// The flat input position of each group's maximum (the first on ties), in output order: the
/// routing of ``Reduction/max``'s multipliers, as max pooling's argmax.
public func reduceMaxArgmax(_ x: Tensor, axes: [Int]) -> [Int] {
  let layout = ReductionLayout(x.shape, axes: axes)
  var best = [Int](repeating: -1, count: layout.outputs)
  x.withUnsafeBufferPointer { xp in
    for i in 0..<xp.count {
      let o = layout.index[i]
      if best[o] < 0 || xp[i] > xp[best[o]] { best[o] = i }
    }
  }
  return best
}

/// The adjoint of a sum over `axes`: `out[i] = m[o(i)]` for every element `i` of a tensor of
/// shape `full`, where `m` is laid out like the reduction of `full`.
public func broadcastReduced(_ m: Tensor, to full: Shape, axes: [Int]) -> Tensor {
  let layout = ReductionLayout(full, axes: axes)
  precondition(m.scalarCount == layout.outputs, "reduced multipliers \(m.shape) for \(full)")
  return Tensor(shape: full) { out in
    m.withUnsafeBufferPointer { mp in
      for i in 0..<layout.index.count { out[i] = mp[layout.index[i]] }
    }
  }
}
