// Naive reference kernels: plain loops over multi-indices, `Double` accumulation, written
// directly from the definitions (any spatial rank, no im2col, no BLAS), for tests to compare
// the optimised LiftTensor kernels against. Slow on purpose; use them on tiny shapes.

import LiftTensor

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

// MARK: - Index helpers

/// Calls `body` with every multi-index of `dims` in row-major order (once with `[]` for rank 0;
/// never when an extent is 0).
public func forEachIndex(_ dims: [Int], _ body: ([Int]) -> Void) {
  if dims.contains(0) { return }
  var index = [Int](repeating: 0, count: dims.count)
  while true {
    body(index)
    var a = dims.count - 1
    while a >= 0 {
      index[a] += 1
      if index[a] < dims[a] { break }
      index[a] = 0
      a -= 1
    }
    if a < 0 { return }
  }
}

/// Row-major flat offset of `index` in `dims`.
public func flatOffset(_ index: [Int], _ dims: [Int]) -> Int {
  precondition(index.count == dims.count)
  var flat = 0
  for (i, d) in zip(index, dims) {
    precondition(i >= 0 && i < d)
    flat = flat * d + i
  }
  return flat
}

// MARK: - Window geometry

/// TensorFlow-style pads, computed from the definitions: `.valid` none; `.same` output
/// `ceil(in/stride)` and total pad `max((out−1)·stride + (k−1)·dilation + 1 − in, 0)`, the
/// smaller half before; `.explicit` as given.
public func naivePads(_ padding: Padding, input: [Int], kernel: [Int], strides: [Int], dilations: [Int])
  -> (before: [Int], after: [Int])
{
  switch padding {
  case .valid: return (input.map { _ in 0 }, input.map { _ in 0 })
  case .explicit(let b, let a): return (b, a)
  case .same:
    var before: [Int] = []
    var after: [Int] = []
    for i in input.indices {
      let out = Int((Double(input[i]) / Double(strides[i])).rounded(.up))
      let total = max((out - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1 - input[i], 0)
      before.append(total / 2)
      after.append(total - total / 2)
    }
    return (before, after)
  }
}

/// Output extents `floor((in + before + after − ((k−1)·dilation + 1)) / stride) + 1`, or `nil`
/// when a window does not fit.
public func naiveOutputExtents(
  input: [Int], kernel: [Int], strides: [Int], dilations: [Int], before: [Int], after: [Int]
) -> [Int]? {
  var out: [Int] = []
  for i in input.indices {
    let span = (kernel[i] - 1) * dilations[i] + 1
    let padded = input[i] + before[i] + after[i]
    if padded < span { return nil }
    out.append((padded - span) / strides[i] + 1)
  }
  return out
}

// MARK: - Matrix products

/// `op(A)·op(B)` for rank-2 tensors, in Double.
public func naiveMatmul(_ a: Tensor, _ b: Tensor, transposeA: Bool = false, transposeB: Bool = false)
  -> Tensor
{
  let m = transposeA ? a.shape[1] : a.shape[0]
  let k = transposeA ? a.shape[0] : a.shape[1]
  let n = transposeB ? b.shape[0] : b.shape[1]
  var c = [Float](repeating: 0, count: m * n)
  for i in 0..<m {
    for j in 0..<n {
      var s = 0.0
      for p in 0..<k {
        let av = transposeA ? a.scalars[p * m + i] : a.scalars[i * k + p]
        let bv = transposeB ? b.scalars[j * k + p] : b.scalars[p * n + j]
        s += Double(av) * Double(bv)
      }
      c[i * n + j] = Float(s)
    }
  }
  return Tensor(shape: [m, n], scalars: c)
}

/// `y[…, j] = Σᵢ x[…, i]·W[i, j] + b[j]`, in Double.
public func naiveDense(_ x: Tensor, weight: Tensor, bias: Tensor?) -> Tensor {
  let inF = weight.shape[0]
  let outF = weight.shape[1]
  let rows = inF == 0 ? x.scalarCount : x.scalarCount / inF
  var y = [Float](repeating: 0, count: rows * outF)
  for r in 0..<rows {
    for j in 0..<outF {
      var s = Double(bias?.scalars[j] ?? 0)
      for i in 0..<inF { s += Double(x.scalars[r * inF + i]) * Double(weight.scalars[i * outF + j]) }
      y[r * outF + j] = Float(s)
    }
  }
  var shape = x.shape
  shape[-1] = outF
  return Tensor(shape: shape, scalars: y)
}

// MARK: - Convolution

/// Visits every (input position, weight position, output position) triple of a convolution:
/// `body(xFlat, wFlat, yFlat)` for every n, output position o, output channel co, kernel tap k
/// and group-local input channel ci whose input position `o·s + k·d − padBefore` is inside.
private func forEachConvTerm(
  inputShape: Shape, weightShape: Shape, parameters p: ConvParameters, _ body: (Int, Int, Int) -> Void
) -> Shape? {
  let d = weightShape.rank - 2
  let spatial = Array(inputShape.dimensions[1...d])
  let kernel = Array(weightShape.dimensions[0..<d])
  let (before, after) = naivePads(
    p.padding, input: spatial, kernel: kernel, strides: p.strides, dilations: p.dilations)
  guard
    let out = naiveOutputExtents(
      input: spatial, kernel: kernel, strides: p.strides, dilations: p.dilations, before: before, after: after
    )
  else { return nil }
  let n = inputShape[0]
  let cin = inputShape[d + 1]
  let cig = weightShape[d]
  let cout = weightShape[d + 1]
  let cog = cout / p.groups
  let xDims = inputShape.dimensions
  let wDims = weightShape.dimensions
  let yDims = [n] + out + [cout]
  for b in 0..<n {
    forEachIndex(out) { o in
      for co in 0..<cout {
        let g = co / cog
        let yFlat = flatOffset([b] + o + [co], yDims)
        forEachIndex(kernel) { k in
          var pos: [Int] = []
          for i in 0..<d { pos.append(o[i] * p.strides[i] + k[i] * p.dilations[i] - before[i]) }
          for i in 0..<d where pos[i] < 0 || pos[i] >= spatial[i] { return }
          for ci in 0..<cig {
            precondition(g * cig + ci < cin)
            body(flatOffset([b] + pos + [g * cig + ci], xDims), flatOffset(k + [ci, co], wDims), yFlat)
          }
        }
      }
    }
  }
  return Shape(yDims)
}

/// The conv output shape for `inputShape`, or `nil` when the window does not fit.
public func naiveConvOutputShape(inputShape: Shape, weightShape: Shape, parameters p: ConvParameters)
  -> Shape?
{
  let d = weightShape.rank - 2
  let spatial = Array(inputShape.dimensions[1...d])
  let kernel = Array(weightShape.dimensions[0..<d])
  let (before, after) = naivePads(
    p.padding, input: spatial, kernel: kernel, strides: p.strides, dilations: p.dilations)
  guard
    let out = naiveOutputExtents(
      input: spatial, kernel: kernel, strides: p.strides, dilations: p.dilations, before: before, after: after
    )
  else { return nil }
  return Shape([inputShape[0]] + out + [weightShape[d + 1]])
}

/// Grouped, strided, dilated, padded cross-correlation (channels-last, HWIO weight), in Double.
public func naiveConv(_ x: Tensor, weight: Tensor, bias: Tensor?, parameters p: ConvParameters) -> Tensor {
  guard let yShape = naiveConvOutputShape(inputShape: x.shape, weightShape: weight.shape, parameters: p)
  else {
    preconditionFailure("naiveConv: window does not fit")
  }
  let cout = weight.shape[-1]
  var acc = [Double](repeating: 0, count: yShape.scalarCount)
  if let bias { for i in acc.indices { acc[i] = Double(bias.scalars[i % cout]) } }
  _ = forEachConvTerm(inputShape: x.shape, weightShape: weight.shape, parameters: p) { xi, wi, yi in
    acc[yi] += Double(x.scalars[xi]) * Double(weight.scalars[wi])
  }
  return Tensor(shape: yShape, scalars: acc.map { Float($0) })
}

/// The transposed convolution: `dx[x] = Σ dy[y]·W[w]` over the same terms as ``naiveConv``.
public func naiveConvBackwardInput(
  _ dy: Tensor, weight: Tensor, inputShape: Shape, parameters p: ConvParameters
) -> Tensor {
  var acc = [Double](repeating: 0, count: inputShape.scalarCount)
  _ = forEachConvTerm(inputShape: inputShape, weightShape: weight.shape, parameters: p) { xi, wi, yi in
    acc[xi] += Double(dy.scalars[yi]) * Double(weight.scalars[wi])
  }
  return Tensor(shape: inputShape, scalars: acc.map { Float($0) })
}

// MARK: - Pooling

/// Visits every output position of a pooling window: `body(yBase, taps)` where `yBase` is the
/// flat offset of channel 0 of the output position and `taps` the flat offsets of channel 0 of
/// the in-range input positions in row-major window order; returns the output shape.
@discardableResult
private func forEachPoolWindow(inputShape: Shape, _ p: PoolParameters, _ body: (Int, [Int]) -> Void) -> Shape?
{
  let d = p.size.count
  let spatial = Array(inputShape.dimensions[1...d])
  let ones = p.size.map { _ in 1 }
  let (before, after) = naivePads(
    p.padding, input: spatial, kernel: p.size, strides: p.strides, dilations: ones)
  guard
    let out = naiveOutputExtents(
      input: spatial, kernel: p.size, strides: p.strides, dilations: ones, before: before, after: after)
  else { return nil }
  let n = inputShape[0]
  let c = inputShape[d + 1]
  let yDims = [n] + out + [c]
  for b in 0..<n {
    forEachIndex(out) { o in
      var taps: [Int] = []
      forEachIndex(p.size) { k in
        var pos: [Int] = []
        for i in 0..<d { pos.append(o[i] * p.strides[i] + k[i] - before[i]) }
        for i in 0..<d where pos[i] < 0 || pos[i] >= spatial[i] { return }
        taps.append(flatOffset([b] + pos + [0], inputShape.dimensions))
      }
      body(flatOffset([b] + o + [0], yDims), taps)
    }
  }
  return Shape(yDims)
}

/// Max pooling and the flat index of the first maximum of every window (padding never wins;
/// an all-padding window gives −∞ and index −1).
public func naiveMaxPool(_ x: Tensor, _ p: PoolParameters) -> (values: Tensor, argmax: [Int]) {
  let c = x.shape[-1]
  var values: [Float] = []
  var argmax: [Int] = []
  var slots: [(Int, Float, Int)] = []
  let shape = forEachPoolWindow(inputShape: x.shape, p) { yBase, taps in
    for ch in 0..<c {
      var best = -Float.infinity
      var at = -1
      for t in taps where at == -1 || x.scalars[t + ch] > best {
        best = x.scalars[t + ch]
        at = t + ch
      }
      slots.append((yBase + ch, best, at))
    }
  }!
  slots.sort { $0.0 < $1.0 }
  values = slots.map { $0.1 }
  argmax = slots.map { $0.2 }
  return (Tensor(shape: shape, scalars: values), argmax)
}

/// Average pooling in Double: mean over in-range taps, or sum / Π size with `countIncludePad`
/// (0 for a window entirely in the padding).
public func naiveAveragePool(_ x: Tensor, _ p: PoolParameters) -> Tensor {
  let c = x.shape[-1]
  let full = p.size.reduce(1, *)
  var slots: [(Int, Float)] = []
  let shape = forEachPoolWindow(inputShape: x.shape, p) { yBase, taps in
    for ch in 0..<c {
      var s = 0.0
      for t in taps { s += Double(x.scalars[t + ch]) }
      let count = p.countIncludePad ? full : taps.count
      slots.append((yBase + ch, taps.isEmpty ? 0 : Float(s / Double(count))))
    }
  }!
  slots.sort { $0.0 < $1.0 }
  return Tensor(shape: shape, scalars: slots.map { $0.1 })
}

/// The adjoint of average pooling in Double.
public func naiveAveragePoolBackward(_ dy: Tensor, inputShape: Shape, _ p: PoolParameters) -> Tensor {
  let c = inputShape[-1]
  let full = p.size.reduce(1, *)
  var acc = [Double](repeating: 0, count: inputShape.scalarCount)
  forEachPoolWindow(inputShape: inputShape, p) { yBase, taps in
    let count = p.countIncludePad ? full : taps.count
    for ch in 0..<c {
      for t in taps { acc[t + ch] += Double(dy.scalars[yBase + ch]) / Double(count) }
    }
  }
  return Tensor(shape: inputShape, scalars: acc.map { Float($0) })
}

// MARK: - Layout

/// `result[i] = x[j]` with `j[perm[a]] = i[a]`.
public func naiveTranspose(_ x: Tensor, permutation: [Int]) -> Tensor {
  let dims = x.shape.dimensions
  let outDims = permutation.map { dims[$0] }
  var y: [Float] = []
  forEachIndex(outDims) { i in
    var j = [Int](repeating: 0, count: dims.count)
    for a in 0..<dims.count { j[permutation[a]] = i[a] }
    y.append(x.scalars[flatOffset(j, dims)])
  }
  return Tensor(shape: Shape(outDims), scalars: y)
}

/// Constant padding of every axis.
public func naivePad(_ x: Tensor, before: [Int], after: [Int], value: Float) -> Tensor {
  let dims = x.shape.dimensions
  let outDims = dims.indices.map { before[$0] + dims[$0] + after[$0] }
  var y: [Float] = []
  forEachIndex(outDims) { i in
    let j = dims.indices.map { i[$0] - before[$0] }
    let inside = dims.indices.allSatisfy { j[$0] >= 0 && j[$0] < dims[$0] }
    y.append(inside ? x.scalars[flatOffset(j, dims)] : value)
  }
  return Tensor(shape: Shape(outDims), scalars: y)
}

/// `x[start..<end]` on every axis.
public func naiveSlice(_ x: Tensor, start: [Int], end: [Int]) -> Tensor {
  let dims = x.shape.dimensions
  let outDims = dims.indices.map { end[$0] - start[$0] }
  var y: [Float] = []
  forEachIndex(outDims) { i in y.append(x.scalars[flatOffset(dims.indices.map { i[$0] + start[$0] }, dims)]) }
  return Tensor(shape: Shape(outDims), scalars: y)
}

/// Concatenation along `axis` (non-negative).
public func naiveConcat(_ xs: [Tensor], axis: Int) -> Tensor {
  var outDims = xs[0].shape.dimensions
  outDims[axis] = xs.reduce(0) { $0 + $1.shape[axis] }
  var y: [Float] = []
  forEachIndex(outDims) { i in
    var j = i
    for t in xs {
      if j[axis] < t.shape[axis] {
        y.append(t.scalars[flatOffset(j, t.shape.dimensions)])
        return
      }
      j[axis] -= t.shape[axis]
    }
  }
  return Tensor(shape: Shape(outDims), scalars: y)
}

/// `t` repeated along its extent-1 axes (rank `shape.rank` or `shape.rank − 1`).
public func naiveBroadcast(_ t: Tensor, to shape: Shape) -> Tensor {
  let dims = shape.dimensions
  let tDims = t.rank == dims.count ? t.shape.dimensions : [1] + t.shape.dimensions
  var y: [Float] = []
  forEachIndex(dims) { i in
    y.append(t.scalars[flatOffset(dims.indices.map { tDims[$0] == 1 ? 0 : i[$0] }, tDims)])
  }
  return Tensor(shape: shape, scalars: y)
}

// MARK: - Softmax

/// Softmax along `axis` (non-negative) in Double, straight from the definition (with the
/// maximum subtracted); a reference for LiftNN's `softmax(_:axis:)`.
public func naiveSoftmax(_ x: Tensor, axis: Int) -> Tensor {
  let dims = x.shape.dimensions
  var y = [Float](repeating: 0, count: x.scalarCount)
  var reduced = dims
  reduced[axis] = 1
  forEachIndex(reduced) { base in
    var idx = base
    var m = -Double.infinity
    for j in 0..<dims[axis] {
      idx[axis] = j
      m = max(m, Double(x.scalars[flatOffset(idx, dims)]))
    }
    var s = 0.0
    for j in 0..<dims[axis] {
      idx[axis] = j
      s += _exp(Double(x.scalars[flatOffset(idx, dims)]) - m)
    }
    for j in 0..<dims[axis] {
      idx[axis] = j
      let f = flatOffset(idx, dims)
      y[f] = Float(_exp(Double(x.scalars[f]) - m) / s)
    }
  }
  return Tensor(shape: x.shape, scalars: y)
}

/// `exp` through Foundation-free libm.
private func _exp(_ v: Double) -> Double {
  #if canImport(Glibc)
    return Glibc.exp(v)
  #else
    return Darwin.exp(v)
  #endif
}
