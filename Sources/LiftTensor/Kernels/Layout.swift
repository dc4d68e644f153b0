// Structure ops on full tensors (batch axis included): transpose, pad, slice, concat, split.
// Each is a copy whose innermost loop moves a contiguous run (or a strided gather for
// transposes), driven by an odometer over the outer axes.

/// Axis permutation: `result.shape[i] == x.shape[permutation[i]]` and
///
/// ```
/// result[i₀, …, i_{r−1}] = x[j₀, …, j_{r−1}]   with j_{permutation[a]} = i_a
/// ```
///
/// - Precondition: `permutation` is a permutation of `0..<x.rank`.
/// - Complexity: O(x.scalarCount).
public func transposed(_ x: Tensor, permutation: [Int]) -> Tensor {
  let r = x.rank
  precondition(
    permutation.count == r && Set(permutation) == Set(0..<r),
    "transposed: \(permutation) is not a permutation of 0..<\(r)")
  let dims = x.shape.dimensions
  let inStrides = x.shape.strides
  let outShape = Shape(permutation.map { dims[$0] })
  if permutation == Array(0..<r) { return x }
  // Strides of the input seen in output-axis order.
  let strides = permutation.map { inStrides[$0] }
  let outDims = outShape.dimensions
  return Tensor(shape: outShape) { out in
    guard out.count > 0 else { return }
    x.withUnsafeBufferPointer { xb in
      let xp = xb.baseAddress!
      let yp = out.baseAddress!
      let inner = outDims[r - 1]
      let innerStride = strides[r - 1]
      var index = [Int](repeating: 0, count: r)
      var src = 0
      var dst = 0
      let total = out.count
      while dst < total {
        if innerStride == 1 {
          (yp + dst).update(from: xp + src, count: inner)
        } else {
          var s = src
          for t in 0..<inner {
            yp[dst &+ t] = xp[s]
            s &+= innerStride
          }
        }
        dst &+= inner
        // Advance the odometer over axes 0..<r−1.
        var a = r - 2
        while a >= 0 {
          index[a] &+= 1
          src &+= strides[a]
          if index[a] < outDims[a] { break }
          src &-= strides[a] &* outDims[a]
          index[a] = 0
          a -= 1
        }
      }
    }
  }
}

/// Calls `body(srcOffset, dstOffset)` for every row (all but the last axis) of `region`,
/// where the row starts at `srcStart` in a tensor of strides `srcStrides` and at `dstStart`
/// in one of strides `dstStrides`.
private func forEachRow(
  region: [Int], srcStart: Int, srcStrides: [Int], dstStart: Int, dstStrides: [Int],
  _ body: (Int, Int) -> Void
) {
  let r = region.count
  if region.contains(0) { return }
  if r <= 1 {
    body(srcStart, dstStart)
    return
  }
  var index = [Int](repeating: 0, count: r - 1)
  var src = srcStart
  var dst = dstStart
  while true {
    body(src, dst)
    var a = r - 2
    while a >= 0 {
      index[a] &+= 1
      src &+= srcStrides[a]
      dst &+= dstStrides[a]
      if index[a] < region[a] { break }
      src &-= srcStrides[a] &* region[a]
      dst &-= dstStrides[a] &* region[a]
      index[a] = 0
      a -= 1
    }
    if a < 0 { return }
  }
}

/// Constant padding of every axis of the full tensor:
/// `result.shape[i] = before[i] + x.shape[i] + after[i]`, with `x` placed at offset `before`
/// and every other scalar equal to `value`.
///
/// - Precondition: `before.count == after.count == x.rank`, all entries ≥ 0.
/// - Complexity: O(result.scalarCount).
public func padded(_ x: Tensor, before: [Int], after: [Int], value: Float) -> Tensor {
  let r = x.rank
  precondition(before.count == r && after.count == r, "padded: \(before)/\(after) for rank \(r)")
  precondition(
    before.allSatisfy { $0 >= 0 } && after.allSatisfy { $0 >= 0 },
    "padded: negative padding \(before)/\(after)")
  let dims = x.shape.dimensions
  let outShape = Shape((0..<r).map { before[$0] + dims[$0] + after[$0] })
  let outStrides = outShape.strides
  let start = (0..<r).reduce(0) { $0 + before[$1] * outStrides[$1] }
  return Tensor(shape: outShape) { out in
    guard out.count > 0 else { return }
    out.initialize(repeating: value)
    guard r > 0 else {
      out[0] = x.scalars[0]
      return
    }
    x.withUnsafeBufferPointer { xb in
      let xp = xb.baseAddress!
      let yp = out.baseAddress!
      let inner = dims[r - 1]
      forEachRow(
        region: dims, srcStart: 0, srcStrides: x.shape.strides, dstStart: start, dstStrides: outStrides
      ) { s, d in
        (yp + d).update(from: xp + s, count: inner)
      }
    }
  }
}

/// The sub-tensor `x[start[0]..<end[0], …, start[r−1]..<end[r−1]]` (every axis of the full
/// tensor).
///
/// - Precondition: `start.count == end.count == x.rank` and `0 ≤ start[i] ≤ end[i] ≤ x.shape[i]`.
/// - Complexity: O(result.scalarCount).
public func sliced(_ x: Tensor, start: [Int], end: [Int]) -> Tensor {
  let r = x.rank
  precondition(start.count == r && end.count == r, "sliced: \(start)..<\(end) for rank \(r)")
  let dims = x.shape.dimensions
  precondition(
    (0..<r).allSatisfy { 0 <= start[$0] && start[$0] <= end[$0] && end[$0] <= dims[$0] },
    "sliced: \(start)..<\(end) out of range for \(x.shape)")
  let region = (0..<r).map { end[$0] - start[$0] }
  if region == dims { return x }
  let outShape = Shape(region)
  let inStrides = x.shape.strides
  let first = (0..<r).reduce(0) { $0 + start[$1] * inStrides[$1] }
  return Tensor(shape: outShape) { out in
    guard out.count > 0 else { return }
    x.withUnsafeBufferPointer { xb in
      let xp = xb.baseAddress!
      let yp = out.baseAddress!
      let inner = region[r - 1]
      forEachRow(
        region: region, srcStart: first, srcStrides: inStrides, dstStart: 0, dstStrides: outShape.strides
      ) { s, d in
        (yp + d).update(from: xp + s, count: inner)
      }
    }
  }
}

/// Concatenation along `axis` (of the full tensor; negative counts from the end).
///
/// - Precondition: `xs` is not empty, all have the same rank and equal extents on every other axis.
/// - Complexity: O(result.scalarCount).
public func concatenated(_ xs: [Tensor], axis: Int) -> Tensor {
  precondition(!xs.isEmpty, "concatenated: no tensors")
  let first = xs[0].shape
  let a = first.normalizedAxis(axis)
  var total = 0
  for t in xs {
    var s = t.shape
    precondition(s.rank == first.rank, "concatenated: ranks \(first.rank) and \(s.rank)")
    total += s[a]
    s[a] = first[a]
    precondition(s == first, "concatenated: \(t.shape) and \(first) differ off axis \(a)")
  }
  if xs.count == 1 { return xs[0] }
  var outShape = first
  outShape[a] = total
  let outer = first.dimensions[..<a].reduce(1, *)
  let inner = first.dimensions[(a + 1)...].reduce(1, *)
  let outRow = total * inner
  return Tensor(shape: outShape) { out in
    guard out.count > 0 else { return }
    let yp = out.baseAddress!
    var offset = 0
    for t in xs {
      let run = t.shape[a] * inner
      if run > 0 {
        t.withUnsafeBufferPointer { tb in
          let tp = tb.baseAddress!
          for o in 0..<outer { (yp + (o &* outRow &+ offset)).update(from: tp + o &* run, count: run) }
        }
      }
      offset += run
    }
  }
}

/// Splits `x` along `axis` into consecutive parts of extents `sizes` (the adjoint of
/// ``concatenated(_:axis:)``).
///
/// - Precondition: all sizes ≥ 0 and `sizes.reduce(0, +) == x.shape[axis]`.
/// - Complexity: O(x.scalarCount).
public func split(_ x: Tensor, axis: Int, sizes: [Int]) -> [Tensor] {
  let a = x.shape.normalizedAxis(axis)
  precondition(
    sizes.allSatisfy { $0 >= 0 } && sizes.reduce(0, +) == x.shape[a],
    "split: sizes \(sizes) do not add up to axis \(a) of \(x.shape)")
  let outer = x.shape.dimensions[..<a].reduce(1, *)
  let inner = x.shape.dimensions[(a + 1)...].reduce(1, *)
  let inRow = x.shape[a] * inner
  var offset = 0
  return x.withUnsafeBufferPointer { xb in
    sizes.map { size in
      var s = x.shape
      s[a] = size
      let run = size * inner
      let part = Tensor(shape: s) { out in
        guard out.count > 0 else { return }
        for o in 0..<outer {
          (out.baseAddress! + o &* run).update(from: xb.baseAddress! + (o &* inRow &+ offset), count: run)
        }
      }
      offset += run
      return part
    }
  }
}
