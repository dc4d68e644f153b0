// Broadcasting of small parameter tensors (per-channel scales, offsets, PReLU slopes) against
// activations. Axes where every operand agrees on "full" or "broadcast" are merged first, so the
// inner loop is as long as possible (a per-channel scale on [N, L, C] runs over C; a full
// per-example scale on [N, L, C] runs over L·C).

/// Merged broadcast geometry of several operands against one target shape.
struct BroadcastPlan {
  /// Extents of the merged axes (at least one axis; all ≥ 1 unless the target is empty).
  var dims: [Int]
  /// For each operand, its stride on every merged axis (0 on broadcast axes).
  var strides: [[Int]]

  /// - Precondition: each operand has rank `target.count` or `target.count − 1` (then a
  ///   leading 1 is assumed) and every extent equals the target's or is 1.
  init(target: [Int], operands: [[Int]], caller: String) {
    let r = target.count
    var full: [[Int]] = []
    for s in operands {
      precondition(
        s.count == r || s.count == r - 1, "\(caller): operand shape \(s) cannot broadcast to \(target)")
      let p = s.count == r ? s : [1] + s
      for i in 0..<r {
        precondition(
          p[i] == target[i] || p[i] == 1, "\(caller): operand shape \(s) cannot broadcast to \(target)")
      }
      full.append(p)
    }
    // Keep the axes of extent > 1 (extent-1 axes change no offsets), merging neighbours whose
    // broadcast pattern is identical for every operand.
    var dims: [Int] = []
    var flags: [[Bool]] = []  // per merged axis, per operand: broadcast?
    for i in 0..<r where target[i] != 1 {
      let f = full.map { $0[i] == 1 }
      if let last = flags.last, last == f {
        dims[dims.count - 1] *= target[i]
      } else {
        dims.append(target[i])
        flags.append(f)
      }
    }
    if dims.isEmpty {
      dims = [1]
      flags = [full.map { _ in false }]
    }
    self.dims = dims
    strides = (0..<operands.count).map { o in
      var result = [Int](repeating: 0, count: dims.count)
      var s = 1
      for i in stride(from: dims.count - 1, through: 0, by: -1) where !flags[i][o] {
        result[i] = s
        s *= dims[i]
      }
      return result
    }
  }

  /// Calls `body(rowIndex, operandOffsets)` for every row of the merged target (all axes but
  /// the last, in row-major order); `rowIndex · dims.last` is the row's offset in the target.
  @inline(__always)
  func forEachRow(_ body: (Int, [Int]) -> Void) {
    let r = dims.count
    if dims.contains(0) { return }
    var offsets = [Int](repeating: 0, count: strides.count)
    var index = [Int](repeating: 0, count: max(r - 1, 0))
    var row = 0
    while true {
      body(row, offsets)
      row &+= 1
      var a = r - 2
      while a >= 0 {
        index[a] &+= 1
        for o in 0..<offsets.count { offsets[o] &+= strides[o][a] }
        if index[a] < dims[a] { break }
        for o in 0..<offsets.count { offsets[o] &-= strides[o][a] &* dims[a] }
        index[a] = 0
        a -= 1
      }
      if a < 0 { return }
    }
  }
}

/// Repeats `t` along its extent-1 axes to `shape`.
///
/// `t` has rank `shape.rank` or `shape.rank − 1` (per example: a leading batch axis of 1 is
/// assumed); each of its extents equals the target's or is 1.
///
/// - Precondition: the shapes are compatible as described.
/// - Complexity: O(shape.scalarCount).
public func broadcast(_ t: Tensor, to shape: Shape) -> Tensor {
  if t.shape == shape { return t }
  let plan = BroadcastPlan(target: shape.dimensions, operands: [t.shape.dimensions], caller: "broadcast")
  let run = plan.dims[plan.dims.count - 1]
  let innerStride = plan.strides[0][plan.dims.count - 1]
  return Tensor(shape: shape) { out in
    guard out.count > 0 else { return }
    let yp = out.baseAddress!
    t.withUnsafeBufferPointer { tb in
      let tp = tb.baseAddress!
      plan.forEachRow { row, offsets in
        let dst = yp + row &* run
        if innerStride == 0 {
          dst.update(repeating: tp[offsets[0]], count: run)
        } else {
          dst.update(from: tp + offsets[0], count: run)
        }
      }
    }
  }
}

/// Affine map with broadcast parameters: `y = x · scale + offset` elementwise.
///
/// `scale` and `offset` have the per-example rank `x.rank − 1` (or the full rank `x.rank`),
/// each extent equal to `x`'s or 1 — e.g. `[1, C]` or `[C]`-like `[1, 1, C]` for a
/// per-channel BatchNorm on `[N, L, C]`. `offset == nil` means 0.
///
/// - Precondition: the shapes broadcast to `x.shape` as described.
/// - Complexity: O(x.scalarCount).
public func broadcastMultiplyAdd(_ x: Tensor, scale: Tensor, offset: Tensor?) -> Tensor {
  var operands = [x.shape.dimensions, scale.shape.dimensions]
  if let offset { operands.append(offset.shape.dimensions) }
  let plan = BroadcastPlan(target: x.shape.dimensions, operands: operands, caller: "broadcastMultiplyAdd")
  let last = plan.dims.count - 1
  let run = plan.dims[last]
  let ss = plan.strides[1][last]
  let os = offset == nil ? 0 : plan.strides[2][last]
  let noOffset = Tensor(scalar: 0)
  let off = offset ?? noOffset
  return Tensor(shape: x.shape) { out in
    guard out.count > 0 else { return }
    let yp = out.baseAddress!
    x.withUnsafeBufferPointer { xb in
      scale.withUnsafeBufferPointer { sb in
        off.withUnsafeBufferPointer { ob in
          let xp = xb.baseAddress!
          let sp = sb.baseAddress!
          let op = ob.baseAddress!
          let hasOffset = offset != nil
          plan.forEachRow { row, offsets in
            let d = yp + row &* run
            let s = xp + offsets[0]
            let a = sp + offsets[1]
            let b = op + (hasOffset ? offsets[2] : 0)
            switch (ss, os) {
            case (1, 1): for t in 0..<run { d[t] = s[t] * a[t] + b[t] }
            case (1, 0):
              let bv = b[0]
              for t in 0..<run { d[t] = s[t] * a[t] + bv }
            case (0, 1):
              let av = a[0]
              for t in 0..<run { d[t] = s[t] * av + b[t] }
            default:
              let av = a[0]
              let bv = b[0]
              for t in 0..<run { d[t] = s[t] * av + bv }
            }
          }
        }
      }
    }
  }
}
