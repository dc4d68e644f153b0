// Convolution (cross-correlation) over 1 or 2 spatial axes, channels-last, as im2col + GEMM.
//
// Both ranks run through one 2-D implementation: a 1-D input [N, L, C] is viewed as
// [N, 1, L, C] with a 1×k kernel, unit stride/dilation and no padding on the dummy axis.
//
// im2col layout: one row per output position (n, oy, ox), row-major over the batch; the
// columns of a row are ordered (group, ky, kx, c) so that the columns of group g form the
// contiguous block [g·K, (g+1)·K) with K = kh·kw·C_in/groups, whose order (ky, kx, c) is the
// row order of the HWIO weight viewed as a [K·…, C_out] matrix. Group g is then one GEMM:
//   out[:, g·Cog ..< (g+1)·Cog] (+)= col[:, g·K ..< (g+1)·K] · W[:, g·Cog ..< (g+1)·Cog]
// with leading dimensions (colWidth, C_out, C_out): no weight repacking.

/// Target size of the im2col buffer, in scalars (2 MB of Float): the output rows are processed
/// in chunks whose column block stays cache-resident and is reused, instead of materialising
/// the whole matrix (which measured 2–3× slower from page faults and cache misses).
let im2colBudgetScalars = 512 * 1024
/// Fewest rows per chunk (GEMM efficiency drops for small M), unless the budget is forced
/// lower (tests) or the whole problem is smaller.
let im2colMinimumRows = 256

/// Hard ceiling of all workers' im2col buffers together, in scalars (64 MB of Float).
let im2colCeilingScalars = 16 * 1024 * 1024

/// Rows per im2col chunk: about `im2colBudgetScalars` scalars, at least `im2colMinimumRows`
/// rows, and never more than `im2colCeilingScalars` over all `workers` buffers (nor below
/// one row).
func im2colChunkRows(rows: Int, colWidth: Int, workers: Int) -> Int {
  let ceiling = im2colCeilingScalars / (colWidth * max(workers, 1))
  let chunk = min(max(im2colBudgetScalars / colWidth, im2colMinimumRows), ceiling)
  return max(1, min(rows, chunk))
}

/// The convolution problem in canonical 2-D form (a 1-D problem has h == kh == 1).
struct ConvPlan {
  var n = 0, h = 0, w = 0, cin = 0
  var kh = 1, kw = 1, cig = 0, cout = 0, cog = 0, groups = 1
  var sh = 1, sw = 1, dh = 1, dw = 1
  var padTop = 0, padLeft = 0, padBottom = 0, padRight = 0
  var oh = 0, ow = 0
  /// Spatial rank of the original problem (1 or 2).
  var spatialRank = 2

  /// Columns of one im2col row (all groups).
  var colWidth: Int { kh * kw * cin }
  /// Columns of one group (the GEMM depth).
  var groupDepth: Int { kh * kw * cig }
  /// Output rows of the whole batch.
  var rows: Int { n * oh * ow }
  /// The output shape, in the original rank.
  var outputShape: Shape { spatialRank == 1 ? [n, ow, cout] : [n, oh, ow, cout] }
  /// Whether every group has a single input channel (depthwise), handled by a direct loop.
  var isDepthwise: Bool { cig == 1 && groups > 1 }
  /// Whether out = x · W needs no im2col (1×1 kernel, unit stride, no padding).
  var isPointwise: Bool {
    kh == 1 && kw == 1 && sh == 1 && sw == 1 && padTop == 0 && padLeft == 0 && padBottom == 0
      && padRight == 0
  }

  /// Validates shapes and parameters (preconditions: these are programming errors by now; the
  /// importers validate file contents) and derives the output extents.
  init(inputShape: Shape, weightShape: Shape, parameters p: ConvParameters, caller: String) {
    let d = weightShape.rank - 2
    precondition(
      d == 1 || d == 2, "\(caller): weight \(weightShape) must have rank 3 or 4 ([k…, C_in/groups, C_out])")
    precondition(
      inputShape.rank == d + 2,
      "\(caller): input \(inputShape) must have rank \(d + 2) for weight \(weightShape)")
    precondition(
      p.strides.count == d && p.dilations.count == d,
      "\(caller): strides \(p.strides) and dilations \(p.dilations) need \(d) entries")
    precondition(p.groups >= 1, "\(caller): groups \(p.groups) must be ≥ 1")
    let kernel = Array(weightShape.dimensions.prefix(d))
    let geometry = p.geometry(kernel: kernel)
    let spatial = Array(inputShape.dimensions[1...d])
    if case .explicit(let before, let after) = p.padding {
      precondition(
        before.count == d && after.count == d,
        "\(caller): explicit padding \(before)/\(after) needs \(d) entries per side")
    }
    guard let out = geometry.outputSpatial(input: spatial) else {
      preconditionFailure(
        "\(caller): kernel \(kernel) (strides \(p.strides), dilations \(p.dilations), padding \(p.padding)) does not fit input \(inputShape)"
      )
    }
    let (before, after) = geometry.pads(input: spatial)
    spatialRank = d
    n = inputShape[0]
    cin = inputShape[d + 1]
    cig = weightShape[d]
    cout = weightShape[d + 1]
    groups = p.groups
    precondition(
      cig * groups == cin, "\(caller): input channels \(cin) ≠ weight C_in/groups \(cig) × groups \(groups)")
    precondition(cout % groups == 0, "\(caller): output channels \(cout) not divisible by groups \(groups)")
    cog = cout / groups
    if d == 1 {
      w = spatial[0]
      kw = kernel[0]
      sw = p.strides[0]
      dw = p.dilations[0]
      padLeft = before[0]
      padRight = after[0]
      ow = out[0]
    } else {
      h = spatial[0]
      w = spatial[1]
      kh = kernel[0]
      kw = kernel[1]
      sh = p.strides[0]
      sw = p.strides[1]
      dh = p.dilations[0]
      dw = p.dilations[1]
      padTop = before[0]
      padLeft = before[1]
      padBottom = after[0]
      padRight = after[1]
      oh = out[0]
      ow = out[1]
    }
    if d == 1 {
      h = 1
      oh = 1
    }
  }
}

/// Fills `rowCount` im2col rows starting at flat output row `firstRow` into `col`
/// (row stride `plan.colWidth`); padded positions become 0.
func im2col(
  _ plan: ConvPlan, x: UnsafePointer<Float>, firstRow: Int, rowCount: Int, col: UnsafeMutablePointer<Float>
) {
  let p = plan
  let colWidth = p.colWidth
  let groupDepth = p.groupDepth
  let kwc = p.kw &* p.cig
  // Contiguous taps: with one group and unit horizontal dilation, the in-range taps of a kernel
  // row are one contiguous run of the input row.
  let contiguous = p.groups == 1 && (p.dw == 1 || p.kw == 1)
  var ox = firstRow % p.ow
  var oy = (firstRow / p.ow) % p.oh
  var b = firstRow / (p.ow &* p.oh)
  var dst = col
  for _ in 0..<rowCount {
    let x0 = ox &* p.sw &- p.padLeft
    let y0 = oy &* p.sh &- p.padTop
    let image = x + b &* p.h &* p.w &* p.cin
    if contiguous {
      // Valid kx range: 0 ≤ x0 + kx < w.
      let jLo = max(0, -x0)
      let jHi = min(p.kw, p.w &- x0)
      for i in 0..<p.kh {
        let seg = dst + i &* kwc
        let iy = y0 &+ i &* p.dh
        if iy < 0 || iy >= p.h || jHi <= jLo {
          seg.update(repeating: 0, count: kwc)
          continue
        }
        if jLo > 0 { seg.update(repeating: 0, count: jLo &* p.cin) }
        (seg + jLo &* p.cin).update(
          from: image + (iy &* p.w &+ x0 &+ jLo) &* p.cin, count: (jHi &- jLo) &* p.cin)
        if jHi < p.kw { (seg + jHi &* p.cin).update(repeating: 0, count: (p.kw &- jHi) &* p.cin) }
      }
    } else {
      for g in 0..<p.groups {
        let gdst = dst + g &* groupDepth
        let gsrc = image + g &* p.cig
        for i in 0..<p.kh {
          let seg = gdst + i &* kwc
          let iy = y0 &+ i &* p.dh
          if iy < 0 || iy >= p.h {
            seg.update(repeating: 0, count: kwc)
            continue
          }
          let rowSrc = gsrc + iy &* p.w &* p.cin
          for j in 0..<p.kw {
            let ix = x0 &+ j &* p.dw
            let tap = seg + j &* p.cig
            if ix < 0 || ix >= p.w {
              tap.update(repeating: 0, count: p.cig)
            } else {
              let src = rowSrc + ix &* p.cin
              if p.cig >= 16 {
                tap.update(from: src, count: p.cig)
              } else {
                for c in 0..<p.cig { tap[c] = src[c] }
              }
            }
          }
        }
      }
    }
    dst += colWidth
    ox &+= 1
    if ox == p.ow {
      ox = 0
      oy &+= 1
      if oy == p.oh {
        oy = 0
        b &+= 1
      }
    }
  }
}

/// Adds `rowCount` im2col rows (starting at flat output row `firstRow`) back into the image
/// buffer `dx` (the adjoint of ``im2col(_:x:firstRow:rowCount:col:)``); padded taps are dropped.
func col2imAdd(
  _ plan: ConvPlan, col: UnsafePointer<Float>, firstRow: Int, rowCount: Int, dx: UnsafeMutablePointer<Float>
) {
  let p = plan
  let colWidth = p.colWidth
  let groupDepth = p.groupDepth
  let kwc = p.kw &* p.cig
  var ox = firstRow % p.ow
  var oy = (firstRow / p.ow) % p.oh
  var b = firstRow / (p.ow &* p.oh)
  var src = col
  for _ in 0..<rowCount {
    let x0 = ox &* p.sw &- p.padLeft
    let y0 = oy &* p.sh &- p.padTop
    let image = dx + b &* p.h &* p.w &* p.cin
    let jLo = p.dw == 1 ? max(0, -x0) : 0
    let jHi = p.dw == 1 ? min(p.kw, p.w &- x0) : p.kw
    if p.groups == 1 && p.dw == 1 {
      // The in-range taps of a kernel row are one contiguous run of the image row.
      let run = (jHi &- jLo) &* p.cin
      if run > 0 {
        for i in 0..<p.kh {
          let iy = y0 &+ i &* p.dh
          if iy < 0 || iy >= p.h { continue }
          let s = src + (i &* kwc &+ jLo &* p.cin)
          let d = image + (iy &* p.w &+ x0 &+ jLo) &* p.cin
          for t in 0..<run { d[t] += s[t] }
        }
      }
      src += colWidth
      ox &+= 1
      if ox == p.ow {
        ox = 0
        oy &+= 1
        if oy == p.oh {
          oy = 0
          b &+= 1
        }
      }
      continue
    }
    for g in 0..<p.groups {
      let gsrc = src + g &* groupDepth
      let gdst = image + g &* p.cig
      for i in 0..<p.kh {
        let iy = y0 &+ i &* p.dh
        if iy < 0 || iy >= p.h { continue }
        let seg = gsrc + i &* kwc
        let rowDst = gdst + iy &* p.w &* p.cin
        var j = jLo
        while j < jHi {
          let ix = x0 &+ j &* p.dw
          if ix >= 0 && ix < p.w {
            let d = rowDst + ix &* p.cin
            let s = seg + j &* p.cig
            for c in 0..<p.cig { d[c] += s[c] }
          }
          j &+= 1
        }
      }
    }
    src += colWidth
    ox &+= 1
    if ox == p.ow {
      ox = 0
      oy &+= 1
      if oy == p.oh {
        oy = 0
        b &+= 1
      }
    }
  }
}

/// Workers for an im2col convolution: `requested` when given (tests), otherwise
/// ``BLAS/threads`` once the product has at least ``parallelGEMMMinimumFlops`` flops.
func convWorkers(_ plan: ConvPlan, requested: Int?) -> Int {
  if let requested { return max(1, requested) }
  let flops = 2.0 * Double(plan.rows) * Double(plan.colWidth) * Double(plan.cog)
  return flops < Double(parallelGEMMMinimumFlops) ? 1 : BLAS.threads
}

/// Calls `body(outputRow, imageOffset, y0, x0)` for every output position: its flat row index
/// over the batch, the offset of its example's image, and the input position of its window's
/// first tap (possibly in the padding).
@inline(__always)
private func forEachConvWindow(_ p: ConvPlan, _ body: (Int, Int, Int, Int) -> Void) {
  var row = 0
  for b in 0..<p.n {
    let image = b &* p.h &* p.w &* p.cin
    for oy in 0..<p.oh {
      for ox in 0..<p.ow {
        body(row, image, oy &* p.sh &- p.padTop, ox &* p.sw &- p.padLeft)
        row &+= 1
      }
    }
  }
}

/// Direct depthwise convolution (one input channel per group, `C_out = C_in · multiplier`):
/// for every output position and in-range tap, `y[c·m + j] += x[c] · W[tap, c·m + j]`, which
/// vectorises over the channel axis. Many tiny GEMMs (one per group) would be ~100× slower.
/// `y` must hold the bias (or zeros) on entry.
private func depthwiseForward(
  _ p: ConvPlan, x: UnsafePointer<Float>, w: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>
) {
  let cin = p.cin
  let cout = p.cout
  let mult = p.cog
  forEachConvWindow(p) { row, image, y0, x0 in
    let dst = y + row &* cout
    for i in 0..<p.kh {
      let iy = y0 &+ i &* p.dh
      if iy < 0 || iy >= p.h { continue }
      for j in 0..<p.kw {
        let ix = x0 &+ j &* p.dw
        if ix < 0 || ix >= p.w { continue }
        let src = x + (image &+ (iy &* p.w &+ ix) &* cin)
        let tap = w + (i &* p.kw &+ j) &* cout
        if mult == 1 {
          for c in 0..<cin { dst[c] += src[c] * tap[c] }
        } else {
          for c in 0..<cin {
            let v = src[c]
            let base = c &* mult
            for m in 0..<mult { dst[base &+ m] += v * tap[base &+ m] }
          }
        }
      }
    }
  }
}

/// The adjoint of ``depthwiseForward(_:x:w:y:)``: `dx[c] += Σⱼ dy[c·m + j] · W[tap, c·m + j]`.
/// `dx` must be zero on entry.
private func depthwiseBackward(
  _ p: ConvPlan, dy: UnsafePointer<Float>, w: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>
) {
  let cin = p.cin
  let cout = p.cout
  let mult = p.cog
  forEachConvWindow(p) { row, image, y0, x0 in
    let g = dy + row &* cout
    for i in 0..<p.kh {
      let iy = y0 &+ i &* p.dh
      if iy < 0 || iy >= p.h { continue }
      for j in 0..<p.kw {
        let ix = x0 &+ j &* p.dw
        if ix < 0 || ix >= p.w { continue }
        let dst = dx + (image &+ (iy &* p.w &+ ix) &* cin)
        let tap = w + (i &* p.kw &+ j) &* cout
        if mult == 1 {
          for c in 0..<cin { dst[c] += g[c] * tap[c] }
        } else {
          for c in 0..<cin {
            let base = c &* mult
            var s: Float = 0
            for m in 0..<mult { s += g[base &+ m] * tap[base &+ m] }
            dst[c] += s
          }
        }
      }
    }
  }
}

/// Convolution (cross-correlation, no kernel flip) over 1 or 2 spatial axes, channels-last:
///
/// ```
/// y[n, o…, co] = bias[co] + Σ_{k…, ci} x[n, o…·stride + k…·dilation − padBefore…, g·Cig + ci]
///                                     · weight[k…, ci, co]          with g = co / Cog
/// ```
///
/// Layouts: 1-D `x [N, L, C_in]`, `weight [k, C_in/groups, C_out]`, result `[N, L_out, C_out]`;
/// 2-D `x [N, H, W, C_in]`, `weight [kh, kw, C_in/groups, C_out]` (Keras HWIO), result
/// `[N, H_out, W_out, C_out]`. The spatial rank is `weight.rank − 2`. Input positions outside
/// the input (padding) are 0. `groups` splits input and output channels into equal parts
/// (`Cig = C_in/groups`, `Cog = C_out/groups`); output group g sees input group g only.
/// `bias` is `[C_out]` or `nil`. Output extents follow ``WindowGeometry/outputSpatial(input:)``
/// (TensorFlow `SAME` puts the odd pad element after).
///
/// Computed as im2col + one `sgemm` per group and chunk of output rows (each chunk's column
/// buffer is about 2 MB, cache-resident, never above 64 MB), chunks spread over
/// ``BLAS/threads`` workers. A 1×1 kernel with unit stride and no padding multiplies the input
/// directly; depthwise convolutions (`C_in/groups == 1`, `groups > 1`) use a direct loop.
///
/// - Precondition: ranks, channel counts, `groups`, strides/dilations counts agree, and the
///   window fits the (padded) input.
/// - Complexity: O(N·outSpatial·k·C_in·C_out / groups).
public func conv(_ x: Tensor, weight: Tensor, bias: Tensor?, parameters: ConvParameters) -> Tensor {
  conv(x, weight: weight, bias: bias, parameters: parameters, chunkRows: nil, threads: nil)
}

/// ``conv(_:weight:bias:parameters:)`` with an explicit number of im2col rows per chunk (tests
/// use tiny ones to exercise the chunking; `nil` picks ``im2colChunkRows(rows:colWidth:workers:)``) and
/// an explicit worker count (`nil`: ``BLAS/threads`` for problems above the parallel threshold).
func conv(
  _ x: Tensor, weight: Tensor, bias: Tensor?, parameters: ConvParameters, chunkRows: Int?, threads: Int?
) -> Tensor {
  let plan = ConvPlan(inputShape: x.shape, weightShape: weight.shape, parameters: parameters, caller: "conv")
  if let bias { precondition(bias.shape == [plan.cout], "conv: bias \(bias.shape), expected [\(plan.cout)]") }
  let rows = plan.rows
  let cout = plan.cout
  return Tensor(shape: plan.outputShape) { out in
    guard rows > 0 && cout > 0 else { return }
    let c = out.baseAddress!
    if let bias {
      bias.withUnsafeBufferPointer { bp in
        for r in 0..<rows { (c + r &* cout).update(from: bp.baseAddress!, count: cout) }
      }
    } else if plan.groupDepth == 0 {
      out.initialize(repeating: 0)
    }
    guard plan.groupDepth > 0 else { return }
    let beta: Float = bias == nil ? 0 : 1
    x.withUnsafeBufferPointer { xb in
      weight.withUnsafeBufferPointer { wb in
        let xp = xb.baseAddress!
        let wp = wb.baseAddress!
        if plan.isDepthwise {
          if bias == nil { out.initialize(repeating: 0) }
          depthwiseForward(plan, x: xp, w: wp, y: c)
          return
        }
        if plan.isPointwise {
          for g in 0..<plan.groups {
            sgemm(
              transA: false, transB: false, m: rows, n: plan.cog, k: plan.cig, alpha: 1,
              a: xp + g &* plan.cig, lda: plan.cin, b: wp + g &* plan.cog, ldb: cout,
              beta: beta, c: c + g &* plan.cog, ldc: cout, groupRows: plan.oh &* plan.ow, firstRow: 0)
          }
          return
        }
        let colWidth = plan.colWidth
        let chunk = max(
          1,
          min(
            rows,
            chunkRows ?? im2colChunkRows(rows: rows, colWidth: colWidth, workers: threads ?? BLAS.threads)))
        let chunkCount = (rows + chunk - 1) / chunk
        let workers = min(chunkCount, convWorkers(plan, requested: threads))
        let rowsPerExample = plan.oh &* plan.ow
        let xs = SendablePointer(xp)
        let ws = SendablePointer(wp)
        let cs = SendablePointer(c)
        // Worker t takes chunks t, t + workers, …: output rows are disjoint between chunks.
        // With one worker the GEMMs themselves may still split across threads.
        parallelFor(workers) { t in
          let col = UnsafeMutablePointer<Float>.allocate(capacity: chunk &* colWidth)
          defer { col.deallocate() }
          var index = t
          while index < chunkCount {
            let r0 = index &* chunk
            let m = min(chunk, rows &- r0)
            im2col(plan, x: xs.pointer, firstRow: r0, rowCount: m, col: col)
            for g in 0..<plan.groups {
              let a = UnsafePointer(col + g &* plan.groupDepth)
              let b = UnsafePointer(ws.pointer + g &* plan.cog)
              let cBlock = cs.pointer + r0 &* cout + g &* plan.cog
              // Rows come in groups of one example's output positions (see `serialSGEMM`).
              if workers > 1 {
                serialSGEMM(
                  transA: false, transB: false, m: m, n: plan.cog, k: plan.groupDepth, alpha: 1,
                  a: a, lda: colWidth, b: b, ldb: cout, beta: beta, c: cBlock, ldc: cout,
                  groupRows: rowsPerExample, firstRow: r0)
              } else {
                sgemm(
                  transA: false, transB: false, m: m, n: plan.cog, k: plan.groupDepth, alpha: 1,
                  a: a, lda: colWidth, b: b, ldb: cout, beta: beta, c: cBlock, ldc: cout,
                  groupRows: rowsPerExample, firstRow: r0)
              }
            }
            index &+= workers
          }
        }
      }
    }
  }
}

/// The exact adjoint of ``conv(_:weight:bias:parameters:)`` without bias (the transposed
/// convolution, i.e. the gradient with respect to the input):
///
/// ```
/// ⟨conv(x, W), dy⟩ = ⟨x, convBackwardInput(dy, W)⟩   for every x of shape `inputShape`
/// ```
///
/// `dy` has the shape `conv` produces for an input of `inputShape` (layouts as in `conv`);
/// the result has shape `inputShape`. Input positions that no window reads get 0.
///
/// Computed as one `sgemm` per group and chunk of rows (`dcol = dy · Wᵀ`) followed by a col2im
/// scatter-add, examples spread over ``BLAS/threads`` workers; a 1×1 kernel with unit stride
/// and no padding skips col2im; depthwise convolutions use a direct loop.
///
/// - Precondition: as for `conv`, and `dy.shape` equals the conv output shape.
/// - Complexity: O(N·outSpatial·k·C_in·C_out / groups).
public func convBackwardInput(_ dy: Tensor, weight: Tensor, inputShape: Shape, parameters: ConvParameters)
  -> Tensor
{
  convBackwardInput(
    dy, weight: weight, inputShape: inputShape, parameters: parameters, chunkRows: nil, threads: nil)
}

/// ``convBackwardInput(_:weight:inputShape:parameters:)`` with an explicit chunk size and
/// worker count (see ``conv(_:weight:bias:parameters:chunkRows:threads:)``).
func convBackwardInput(
  _ dy: Tensor, weight: Tensor, inputShape: Shape, parameters: ConvParameters, chunkRows: Int?, threads: Int?
) -> Tensor {
  let plan = ConvPlan(
    inputShape: inputShape, weightShape: weight.shape, parameters: parameters, caller: "convBackwardInput")
  precondition(
    dy.shape == plan.outputShape,
    "convBackwardInput: dy \(dy.shape), expected \(plan.outputShape) for input \(inputShape)")
  let rows = plan.rows
  let cout = plan.cout
  if plan.isPointwise && rows > 0 && plan.cin > 0 && plan.cog > 0 {
    return Tensor(shape: inputShape) { out in
      dy.withUnsafeBufferPointer { db in
        weight.withUnsafeBufferPointer { wb in
          for g in 0..<plan.groups {
            sgemm(
              transA: false, transB: true, m: rows, n: plan.cig, k: plan.cog, alpha: 1,
              a: db.baseAddress! + g &* plan.cog, lda: cout, b: wb.baseAddress! + g &* plan.cog, ldb: cout,
              beta: 0, c: out.baseAddress! + g &* plan.cig, ldc: plan.cin, groupRows: plan.oh &* plan.ow, firstRow: 0)
          }
        }
      }
    }
  }
  if rows > 0 && plan.cog > 0, let flipped = transposedConv(plan) {
    // dx = conv(dy, flipped kernel): one GEMM of depth k·C_out straight into dx (no k-times
    // wider column buffer to zero and scatter back).
    return conv(
      dy, weight: flippedTransposedWeight(weight, plan), bias: nil, parameters: flipped, chunkRows: chunkRows,
      threads: threads)
  }
  var dx = Tensor.zeros(inputShape)
  guard rows > 0 && plan.groupDepth > 0 && plan.cog > 0 else { return dx }
  dx.withUnsafeMutableBufferPointer { dxb in
    dy.withUnsafeBufferPointer { db in
      weight.withUnsafeBufferPointer { wb in
        let dyp = db.baseAddress!
        let wp = wb.baseAddress!
        let dxp = dxb.baseAddress!
        if plan.isDepthwise {
          depthwiseBackward(plan, dy: dyp, w: wp, dx: dxp)
          return
        }
        let colWidth = plan.colWidth
        let chunk = max(
          1,
          min(
            rows,
            chunkRows ?? im2colChunkRows(rows: rows, colWidth: colWidth, workers: threads ?? BLAS.threads)))
        // col2im of different chunks may add into the same input positions, so workers own
        // whole examples (windows never cross examples): worker t takes examples
        // t·N/W ..< (t+1)·N/W and walks their rows in chunks.
        let workers = min(plan.n, convWorkers(plan, requested: threads))
        let rowsPerExample = plan.oh &* plan.ow
        let dys = SendablePointer(dyp)
        let ws = SendablePointer(wp)
        let dxs = SendablePointer(dxp)
        parallelFor(workers) { t in
          let col = UnsafeMutablePointer<Float>.allocate(capacity: chunk &* colWidth)
          defer { col.deallocate() }
          let end = (t + 1) * plan.n / workers * rowsPerExample
          var r0 = t * plan.n / workers * rowsPerExample
          while r0 < end {
            let m = min(chunk, end &- r0)
            for g in 0..<plan.groups {
              let a = UnsafePointer(dys.pointer + r0 &* cout + g &* plan.cog)
              let b = UnsafePointer(ws.pointer + g &* plan.cog)
              let cBlock = col + g &* plan.groupDepth
              if workers > 1 {
                serialSGEMM(
                  transA: false, transB: true, m: m, n: plan.groupDepth, k: plan.cog, alpha: 1,
                  a: a, lda: cout, b: b, ldb: cout, beta: 0, c: cBlock, ldc: colWidth,
                  groupRows: rowsPerExample, firstRow: r0)
              } else {
                sgemm(
                  transA: false, transB: true, m: m, n: plan.groupDepth, k: plan.cog, alpha: 1,
                  a: a, lda: cout, b: b, ldb: cout, beta: 0, c: cBlock, ldc: colWidth,
                  groupRows: rowsPerExample, firstRow: r0)
              }
            }
            col2imAdd(plan, col: col, firstRow: r0, rowCount: m, dx: dxs.pointer)
            r0 &+= m
          }
        }
      }
    }
  }
  return dx
}

/// Fewest input channels for which ``convBackwardInput(_:weight:inputShape:parameters:)`` runs
/// as a forward convolution of `dy` (below it the GEMM would be too narrow: `N = C_in`).
let transposedConvMinimumChannels = 16

/// The parameters under which the adjoint of a unit-stride, single-group convolution is itself a
/// forward convolution of `dy` with the flipped, transposed kernel:
///
/// ```
/// dx[i, ci] = Σ_{k, co} dy[i + padBefore − k·d, co] · W[k, ci, co]
///           = Σ_{k', co} dy[i − padBefore' + k'·d, co] · W[K−1−k', ci, co]
/// ```
/// with `padBefore' = (K−1)·d − padBefore` (and likewise after), per spatial axis. Nil when
/// that form does not apply (strides, groups, depthwise/pointwise, few input channels, or a pad
/// wider than the dilated kernel).
func transposedConv(_ p: ConvPlan, minimumChannels: Int = transposedConvMinimumChannels) -> ConvParameters? {
  guard p.groups == 1 && p.sh == 1 && p.sw == 1 && !p.isPointwise && p.cin >= minimumChannels else { return nil }
  let top = (p.kh - 1) * p.dh - p.padTop, bottom = (p.kh - 1) * p.dh - p.padBottom
  let left = (p.kw - 1) * p.dw - p.padLeft, right = (p.kw - 1) * p.dw - p.padRight
  guard top >= 0 && bottom >= 0 && left >= 0 && right >= 0 else { return nil }
  if p.spatialRank == 1 {
    return ConvParameters(strides: [1], dilations: [p.dw], padding: .explicit(before: [left], after: [right]))
  }
  return ConvParameters(
    strides: [1, 1], dilations: [p.dh, p.dw], padding: .explicit(before: [top, left], after: [bottom, right]))
}

/// `W'[kh−1−i, kw−1−j, co, ci] = W[i, j, ci, co]`: the kernel of the adjoint as a forward
/// convolution (``transposedConv(_:minimumChannels:)``), in the weight's rank.
func flippedTransposedWeight(_ w: Tensor, _ p: ConvPlan) -> Tensor {
  let (kh, kw, cin, cout) = (p.kh, p.kw, p.cin, p.cout)
  let shape: Shape = p.spatialRank == 1 ? [kw, cout, cin] : [kh, kw, cout, cin]
  return Tensor(shape: shape) { out in
    w.withUnsafeBufferPointer { src in
      for i in 0..<kh {
        for j in 0..<kw {
          let s = (i &* kw &+ j) &* cin &* cout
          let d = ((kh &- 1 &- i) &* kw &+ (kw &- 1 &- j)) &* cout &* cin
          for ci in 0..<cin {
            for co in 0..<cout { out[d &+ co &* cin &+ ci] = src[s &+ ci &* cout &+ co] }
          }
        }
      }
    }
  }
}
