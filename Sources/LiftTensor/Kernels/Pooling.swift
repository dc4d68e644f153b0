// Max and average pooling over 1 or 2 spatial axes, channels-last, with their adjoints.
//
// As for convolution, a 1-D input [N, L, C] runs as [N, 1, L, C] with a 1×k window.
// Loops run over output positions and window taps with the channel axis innermost, so every
// inner loop walks contiguous memory.

/// The pooling problem in canonical 2-D form (a 1-D problem has h == kh == 1).
struct PoolPlan {
  var n = 0, h = 1, w = 0, c = 0
  var kh = 1, kw = 1, sh = 1, sw = 1
  var padTop = 0, padLeft = 0
  var oh = 1, ow = 0
  var spatialRank = 2

  var outputShape: Shape { spatialRank == 1 ? [n, ow, c] : [n, oh, ow, c] }
  var outputCount: Int { n * oh * ow * c }

  init(inputShape: Shape, parameters p: PoolParameters, caller: String) {
    let d = p.size.count
    precondition(d == 1 || d == 2, "\(caller): window \(p.size) must have 1 or 2 axes")
    precondition(
      inputShape.rank == d + 2, "\(caller): input \(inputShape) must have rank \(d + 2) for a \(d)-D window")
    precondition(p.strides.count == d, "\(caller): strides \(p.strides) need \(d) entries")
    if case .explicit(let before, let after) = p.padding {
      precondition(
        before.count == d && after.count == d,
        "\(caller): explicit padding \(before)/\(after) needs \(d) entries per side")
    }
    let spatial = Array(inputShape.dimensions[1...d])
    guard let out = p.geometry.outputSpatial(input: spatial) else {
      preconditionFailure(
        "\(caller): window \(p.size) (strides \(p.strides), padding \(p.padding)) does not fit input \(inputShape)"
      )
    }
    let before = p.geometry.pads(input: spatial).before
    spatialRank = d
    n = inputShape[0]
    c = inputShape[d + 1]
    if d == 1 {
      w = spatial[0]
      kw = p.size[0]
      sw = p.strides[0]
      padLeft = before[0]
      ow = out[0]
    } else {
      h = spatial[0]
      w = spatial[1]
      kh = p.size[0]
      kw = p.size[1]
      sh = p.strides[0]
      sw = p.strides[1]
      padTop = before[0]
      padLeft = before[1]
      oh = out[0]
      ow = out[1]
    }
  }

  /// Calls `body(outputOffset, inputImageOffset, yLo, yHi, xLo, xHi)` for every output
  /// position, where rows `yLo..<yHi` and columns `xLo..<xHi` of the input image are the
  /// in-range part of its window (possibly empty) and offsets are in scalars.
  @inline(__always)
  func forEachWindow(_ body: (Int, Int, Int, Int, Int, Int) -> Void) {
    var o = 0
    for b in 0..<n {
      let image = b &* h &* w &* c
      for oy in 0..<oh {
        let y0 = oy &* sh &- padTop
        let yLo = max(y0, 0)
        let yHi = min(y0 &+ kh, h)
        for ox in 0..<ow {
          let x0 = ox &* sw &- padLeft
          let xLo = max(x0, 0)
          let xHi = min(x0 &+ kw, w)
          body(o, image, yLo, yHi, xLo, xHi)
          o &+= c
        }
      }
    }
  }
}

/// Max pooling over the spatial axes, channels-last:
///
/// ```
/// y[n, o…, c] = max_{k…} x[n, o…·stride + k… − padBefore…, c]
/// ```
///
/// 1-D `x [N, L, C]` with `p.size.count == 1`, 2-D `x [N, H, W, C]` with `p.size.count == 2`.
/// Padded positions never win (they act as −∞); a window lying entirely in the padding gives
/// −∞. NaN inputs are not propagated (a value must be `>` the running maximum to replace it),
/// so `y` always equals `x` at ``maxPoolArgmax(_:_:)``.
///
/// - Precondition: ranks and parameter counts agree and the window fits the padded input.
/// - Complexity: O(N·outSpatial·window·C).
public func maxPool(_ x: Tensor, _ p: PoolParameters) -> Tensor {
  let plan = PoolPlan(inputShape: x.shape, parameters: p, caller: "maxPool")
  let c = plan.c
  let w = plan.w
  return Tensor(shape: plan.outputShape) { out in
    guard plan.outputCount > 0 else { return }
    let y = out.baseAddress!
    x.withUnsafeBufferPointer { xb in
      let xp = xb.baseAddress!
      plan.forEachWindow { o, image, yLo, yHi, xLo, xHi in
        let dst = y + o
        guard yLo < yHi && xLo < xHi else {
          dst.update(repeating: -.infinity, count: c)
          return
        }
        dst.update(from: xp + (image &+ (yLo &* w &+ xLo) &* c), count: c)
        for iy in yLo..<yHi {
          for ix in xLo..<xHi {
            let src = xp + (image &+ (iy &* w &+ ix) &* c)
            for ch in 0..<c {
              let v = src[ch]
              dst[ch] = v > dst[ch] ? v : dst[ch]
            }
          }
        }
      }
    }
  }
}

/// For every output element of ``maxPool(_:_:)``, the flat index into `x.scalars` of the
/// **first** maximum of its window, scanning the window in row-major order (ties go to the
/// earliest tap). Same element order as `maxPool`'s output. A window lying entirely in the
/// padding gets −1.
///
/// - Precondition: as for `maxPool`.
/// - Complexity: O(N·outSpatial·window·C).
public func maxPoolArgmax(_ x: Tensor, _ p: PoolParameters) -> [Int] {
  let plan = PoolPlan(inputShape: x.shape, parameters: p, caller: "maxPoolArgmax")
  let c = plan.c
  let w = plan.w
  guard plan.outputCount > 0 else { return [] }
  // Running maximum and the pixel offset (from the window's first in-range tap) of its first
  // occurrence, per channel.
  // Same-width Float/Int32 lanes and a branch-free select let the channel loop vectorise.
  var best = [Float](repeating: 0, count: c)
  var tapOf = [Int32](repeating: 0, count: c)
  return [Int](unsafeUninitializedCapacity: plan.outputCount) { idx, count in
    count = plan.outputCount
    let ip = idx.baseAddress!
    best.withUnsafeMutableBufferPointer { bb in
      tapOf.withUnsafeMutableBufferPointer { tb in
        let bp = bb.baseAddress!
        let tp = tb.baseAddress!
        x.withUnsafeBufferPointer { xb in
          let xp = xb.baseAddress!
          plan.forEachWindow { o, image, yLo, yHi, xLo, xHi in
            let dst = ip + o
            guard yLo < yHi && xLo < xHi else {
              dst.update(repeating: -1, count: c)
              return
            }
            bp.update(from: xp + (image &+ (yLo &* w &+ xLo) &* c), count: c)
            tp.update(repeating: 0, count: c)
            for iy in yLo..<yHi {
              for ix in xLo..<xHi {
                let src = xp + (image &+ (iy &* w &+ ix) &* c)
                // Pixel offset from the window's first in-range tap (small: fits Int32).
                let tap = Int32(truncatingIfNeeded: (iy &- yLo) &* w &+ (ix &- xLo))
                let tapVector = SIMD8<Int32>(repeating: tap)
                var ch = 0
                while ch &+ 8 <= c {
                  let v = UnsafeRawPointer(src + ch).loadUnaligned(as: SIMD8<Float>.self)
                  var b = UnsafeRawPointer(bp + ch).loadUnaligned(as: SIMD8<Float>.self)
                  var t = UnsafeRawPointer(tp + ch).loadUnaligned(as: SIMD8<Int32>.self)
                  let greater = v .> b
                  b.replace(with: v, where: greater)
                  t.replace(with: tapVector, where: greater)
                  UnsafeMutableRawPointer(bp + ch).storeBytes(of: b, as: SIMD8<Float>.self)
                  UnsafeMutableRawPointer(tp + ch).storeBytes(of: t, as: SIMD8<Int32>.self)
                  ch &+= 8
                }
                while ch < c {
                  if src[ch] > bp[ch] {
                    bp[ch] = src[ch]
                    tp[ch] = tap
                  }
                  ch &+= 1
                }
              }
            }
            let origin = image &+ (yLo &* w &+ xLo) &* c
            for ch in 0..<c { dst[ch] = origin &+ Int(tp[ch]) &* c &+ ch }
          }
        }
      }
    }
  }
}

/// Scatter-add (the adjoint of a gather):
///
/// ```
/// dx = 0;  dx.scalars[indices[i]] += dy.scalars[i]   for every i with indices[i] ≥ 0
/// ```
///
/// With the indices of ``maxPoolArgmax(_:_:)`` this is the max-pooling gradient. Negative
/// indices (windows entirely in the padding) are skipped.
///
/// - Precondition: `indices.count == dy.scalarCount` and every index `< inputShape.scalarCount`.
/// - Complexity: O(dy.scalarCount + inputShape.scalarCount).
public func scatterAdd(_ dy: Tensor, indices: [Int], inputShape: Shape) -> Tensor {
  precondition(
    indices.count == dy.scalarCount, "scatterAdd: \(indices.count) indices for \(dy.scalarCount) values")
  var dx = Tensor.zeros(inputShape)
  let limit = inputShape.scalarCount
  dx.withUnsafeMutableBufferPointer { db in
    dy.withUnsafeBufferPointer { gb in
      indices.withUnsafeBufferPointer { ib in
        for i in 0..<ib.count {
          let j = ib[i]
          if j < 0 { continue }
          precondition(j < limit, "scatterAdd: index \(j) out of range for \(inputShape)")
          db[j] += gb[i]
        }
      }
    }
  }
  return dx
}

/// Average pooling over the spatial axes, channels-last:
///
/// ```
/// y[n, o…, c] = (1 / count) · Σ_{k… in range} x[n, o…·stride + k… − padBefore…, c]
/// ```
///
/// `count` is the number of in-range taps of the window (TensorFlow/Keras), or the full window
/// size `Π p.size` when `p.countIncludePad` (ONNX `count_include_pad=1`, padded taps count as
/// zeros). A window lying entirely in the padding gives 0. Layouts as in ``maxPool(_:_:)``.
///
/// - Precondition: as for `maxPool`.
/// - Complexity: O(N·outSpatial·window·C).
public func averagePool(_ x: Tensor, _ p: PoolParameters) -> Tensor {
  let plan = PoolPlan(inputShape: x.shape, parameters: p, caller: "averagePool")
  let c = plan.c
  let w = plan.w
  let full = plan.kh * plan.kw
  let includePad = p.countIncludePad
  return Tensor(shape: plan.outputShape) { out in
    guard plan.outputCount > 0 else { return }
    let y = out.baseAddress!
    x.withUnsafeBufferPointer { xb in
      let xp = xb.baseAddress!
      plan.forEachWindow { o, image, yLo, yHi, xLo, xHi in
        let dst = y + o
        dst.update(repeating: 0, count: c)
        guard yLo < yHi && xLo < xHi else { return }
        for iy in yLo..<yHi {
          for ix in xLo..<xHi {
            let src = xp + (image &+ (iy &* w &+ ix) &* c)
            for ch in 0..<c { dst[ch] += src[ch] }
          }
        }
        let count = includePad ? full : (yHi &- yLo) &* (xHi &- xLo)
        let scale = 1 / Float(count)
        for ch in 0..<c { dst[ch] *= scale }
      }
    }
  }
}

/// The exact adjoint of ``averagePool(_:_:)`` (its gradient with respect to the input): every
/// in-range tap of output window `o` receives `dy[o] / count(o)`, summed over windows.
///
/// `dy` has the shape `averagePool` produces for an input of `inputShape`; the result has
/// shape `inputShape`.
///
/// - Precondition: as for `averagePool`, and `dy.shape` equals its output shape.
/// - Complexity: O(N·outSpatial·window·C + inputShape.scalarCount).
public func averagePoolBackward(_ dy: Tensor, inputShape: Shape, _ p: PoolParameters) -> Tensor {
  let plan = PoolPlan(inputShape: inputShape, parameters: p, caller: "averagePoolBackward")
  precondition(
    dy.shape == plan.outputShape,
    "averagePoolBackward: dy \(dy.shape), expected \(plan.outputShape) for input \(inputShape)")
  let c = plan.c
  let w = plan.w
  let full = plan.kh * plan.kw
  let includePad = p.countIncludePad
  var dx = Tensor.zeros(inputShape)
  guard plan.outputCount > 0 else { return dx }
  var scaled = [Float](repeating: 0, count: c)
  dx.withUnsafeMutableBufferPointer { db in
    let dxp = db.baseAddress!
    dy.withUnsafeBufferPointer { gb in
      scaled.withUnsafeMutableBufferPointer { sb in
        let gp = gb.baseAddress!
        let sp = sb.baseAddress!
        plan.forEachWindow { o, image, yLo, yHi, xLo, xHi in
          guard yLo < yHi && xLo < xHi else { return }
          let count = includePad ? full : (yHi &- yLo) &* (xHi &- xLo)
          let scale = 1 / Float(count)
          for ch in 0..<c { sp[ch] = gp[o &+ ch] * scale }
          for iy in yLo..<yHi {
            for ix in xLo..<xHi {
              let d = dxp + (image &+ (iy &* w &+ ix) &* c)
              for ch in 0..<c { d[ch] += sp[ch] }
            }
          }
        }
      }
    }
  }
  return dx
}

// MARK: - Global pooling

/// The parameters of a window covering all spatial axes of `shape` (`[N, S…, C]`).
private func globalWindow(_ shape: Shape, caller: String) -> PoolParameters {
  precondition(
    shape.rank == 3 || shape.rank == 4, "\(caller): input \(shape) must be [N, L, C] or [N, H, W, C]")
  let spatial = Array(shape.dimensions[1..<(shape.rank - 1)])
  precondition(spatial.allSatisfy { $0 >= 1 }, "\(caller): empty spatial extent in \(shape)")
  return PoolParameters(size: spatial, strides: spatial.map { _ in 1 }, padding: .valid)
}

/// Mean over all spatial axes: `[N, S…, C] → [N, C]`.
///
/// - Precondition: rank 3 or 4 and every spatial extent ≥ 1.
public func globalAveragePool(_ x: Tensor) -> Tensor {
  let p = globalWindow(x.shape, caller: "globalAveragePool")
  return averagePool(x, p).reshaped([x.shape[0], x.shape[-1]])
}

/// The adjoint of ``globalAveragePool(_:)``: `dx[n, s…, c] = dy[n, c] / Π spatial`.
///
/// - Precondition: `dy.shape == [N, C]` of `inputShape`.
public func globalAveragePoolBackward(_ dy: Tensor, inputShape: Shape) -> Tensor {
  let p = globalWindow(inputShape, caller: "globalAveragePoolBackward")
  precondition(
    dy.shape == [inputShape[0], inputShape[-1]],
    "globalAveragePoolBackward: dy \(dy.shape) for input \(inputShape)")
  var pooled = inputShape.dimensions.map { _ in 1 }
  pooled[0] = inputShape[0]
  pooled[pooled.count - 1] = inputShape[-1]
  return averagePoolBackward(dy.reshaped(Shape(pooled)), inputShape: inputShape, p)
}

/// Maximum over all spatial axes: `[N, S…, C] → [N, C]`.
///
/// - Precondition: rank 3 or 4 and every spatial extent ≥ 1.
public func globalMaxPool(_ x: Tensor) -> Tensor {
  let p = globalWindow(x.shape, caller: "globalMaxPool")
  return maxPool(x, p).reshaped([x.shape[0], x.shape[-1]])
}

/// For each `[n, c]` of ``globalMaxPool(_:)``, the flat index into `x.scalars` of the first
/// maximum in row-major spatial order (use with ``scatterAdd(_:indices:inputShape:)``).
public func globalMaxPoolArgmax(_ x: Tensor) -> [Int] {
  maxPoolArgmax(x, globalWindow(x.shape, caller: "globalMaxPoolArgmax"))
}
