// Products of two tensors with numpy broadcasting: the elementwise product, the batched matrix
// product, and the sum that undoes a broadcast (the adjoint of broadcasting, which their
// backward passes need).

/// The numpy broadcast of two shapes of equal rank: per axis the common extent, where each is
/// equal or 1; nil otherwise.
public func broadcastShape(_ a: Shape, _ b: Shape) -> Shape? {
  guard a.rank == b.rank else { return nil }
  var out = [Int]()
  for (x, y) in zip(a.dimensions, b.dimensions) {
    guard x == y || x == 1 || y == 1 else { return nil }
    out.append(x == 1 ? y : x)
  }
  return Shape(out)
}

/// `a ⊙ b` elementwise, both broadcast to ``broadcastShape(_:_:)``.
///
/// - Precondition: equal ranks, every pair of extents equal or 1.
/// - Complexity: O(result count).
public func multiplied(_ a: Tensor, _ b: Tensor) -> Tensor {
  guard let target = broadcastShape(a.shape, b.shape) else {
    preconditionFailure("multiplied: shapes \(a.shape) and \(b.shape) do not broadcast")
  }
  if a.shape == b.shape {
    return Tensor(shape: target) { out in
      a.withUnsafeBufferPointer { ap in
        b.withUnsafeBufferPointer { bp in
          for i in 0..<out.count { out[i] = ap[i] * bp[i] }
        }
      }
    }
  }
  let plan = BroadcastPlan(
    target: target.dimensions, operands: [a.shape.dimensions, b.shape.dimensions], caller: "multiplied")
  let last = plan.dims.count - 1
  let run = plan.dims[last]
  let (sa, sb) = (plan.strides[0][last], plan.strides[1][last])
  return Tensor(shape: target) { out in
    guard out.count > 0 else { return }
    let yp = out.baseAddress!
    a.withUnsafeBufferPointer { ab in
      b.withUnsafeBufferPointer { bb in
        let ap = ab.baseAddress!, bp = bb.baseAddress!
        plan.forEachRow { row, offsets in
          let d = yp + row &* run
          let x = ap + offsets[0], y = bp + offsets[1]
          for t in 0..<run { d[t] = x[t &* sa] * y[t &* sb] }
        }
      }
    }
  }
}

/// `t` summed over the axes where `shape` has extent 1 and `t` does not: the adjoint of
/// ``broadcast(_:to:)`` (`t` has the broadcast shape, the result `shape`).
///
/// - Precondition: equal ranks; each extent of `shape` equals `t`'s or is 1.
/// - Complexity: O(t.scalarCount).
public func summedToShape(_ t: Tensor, _ shape: Shape) -> Tensor {
  if t.shape == shape { return t }
  precondition(
    t.rank == shape.rank && zip(t.shape.dimensions, shape.dimensions).allSatisfy { $1 == $0 || $1 == 1 },
    "summedToShape: \(t.shape) does not reduce to \(shape)")
  let plan = BroadcastPlan(target: t.shape.dimensions, operands: [shape.dimensions], caller: "summedToShape")
  let last = plan.dims.count - 1
  let run = plan.dims[last]
  let stride = plan.strides[0][last]
  var out = Tensor.zeros(shape)
  guard t.scalarCount > 0 else { return out }
  out.withUnsafeMutableBufferPointer { ob in
    t.withUnsafeBufferPointer { tb in
      let op = ob.baseAddress!, tp = tb.baseAddress!
      plan.forEachRow { row, offsets in
        let s = tp + row &* run, d = op + offsets[0]
        if stride == 0 {
          var acc: Float = 0
          for i in 0..<run { acc += s[i] }
          d[0] += acc
        } else {
          for i in 0..<run { d[i] += s[i] }
        }
      }
    }
  }
  return out
}

/// The batched matrix product `op(A)·op(B)` over the leading axes (numpy `matmul` for
/// operands of equal rank ≥ 2): `a` is `[L…, m, k]` (or `[L…, k, m]` with `transposeA`), `b`
/// `[L…, k, n]` (or `[L…, n, k]` with `transposeB`); the leading axes broadcast (equal or 1).
/// The result is `[L…, m, n]` with the broadcast leading extents.
///
/// - Precondition: equal ranks ≥ 2, inner extents agree, leading extents broadcast.
/// - Complexity: O(Π L · m·n·k), one `sgemm` per matrix.
public func batchedMatmul(_ a: Tensor, _ b: Tensor, transposeA: Bool = false, transposeB: Bool = false) -> Tensor {
  let r = a.rank
  precondition(r >= 2 && b.rank == r, "batchedMatmul: ranks \(a.rank) and \(b.rank)")
  let (a0, a1) = (a.shape[r - 2], a.shape[r - 1])
  let (b0, b1) = (b.shape[r - 2], b.shape[r - 1])
  let m = transposeA ? a1 : a0, k = transposeA ? a0 : a1
  let kb = transposeB ? b1 : b0, n = transposeB ? b0 : b1
  precondition(k == kb, "batchedMatmul: inner extents differ for \(a.shape) · \(b.shape)")
  let la = Shape(Array(a.shape.dimensions.prefix(r - 2))), lb = Shape(Array(b.shape.dimensions.prefix(r - 2)))
  guard let lead = broadcastShape(la, lb) else {
    preconditionFailure("batchedMatmul: leading axes \(la) and \(lb) do not broadcast")
  }
  let count = lead.scalarCount
  let result = Shape(lead.dimensions + [m, n])
  // Offsets (in matrices) of each operand's matrix for every output matrix.
  func strides(_ s: Shape) -> [Int] {
    var out = [Int](repeating: 0, count: s.rank)
    var acc = 1
    for i in stride(from: s.rank - 1, through: 0, by: -1) {
      out[i] = s[i] == 1 ? 0 : acc
      acc *= s[i]
    }
    return out
  }
  let (sa, sb) = (strides(la), strides(lb))
  return Tensor(shape: result) { out in
    guard out.count > 0 else { return }
    if k == 0 {
      out.initialize(repeating: 0)
      return
    }
    a.withUnsafeBufferPointer { ap in
      b.withUnsafeBufferPointer { bp in
        var index = [Int](repeating: 0, count: lead.rank)
        for q in 0..<count {
          var oa = 0, ob = 0
          for i in 0..<lead.rank {
            oa += index[i] * sa[i]
            ob += index[i] * sb[i]
          }
          sgemm(
            transA: transposeA, transB: transposeB, m: m, n: n, k: k, alpha: 1,
            a: ap.baseAddress! + oa * a0 * a1, lda: a1, b: bp.baseAddress! + ob * b0 * b1, ldb: b1,
            beta: 0, c: out.baseAddress! + q * m * n, ldc: n)
          var i = lead.rank - 1
          while i >= 0 {
            index[i] += 1
            if index[i] < lead[i] { break }
            index[i] = 0
            i -= 1
          }
        }
      }
    }
  }
}
