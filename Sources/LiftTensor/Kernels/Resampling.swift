// Resizing (nearest and linear interpolation) over 1 or 2 spatial axes, channels-last, with
// its adjoint; and the geometry of transposed convolutions (their forward pass is the adjoint
// of a convolution, ``convBackwardInput(_:weight:inputShape:parameters:)``).
//
// Both resize modes are separable: each output position along an axis reads at most two input
// positions with weights `1 − t` and `t`, `t ∈ [0, 1]` (nearest: one position, weight 1). The
// coefficients are therefore non-negative, which the attribution rules rely on (a resize maps
// the positive and negative parts of a difference separately).

/// How an output coordinate maps to an input coordinate along one axis (ONNX
/// `coordinate_transformation_mode`; `s` is the axis' scale, `o` the output index, `in`/`out`
/// the extents). Computed in `Float`, as onnxruntime does.
public enum ResizeCoordinates: Hashable, Sendable {
  /// `(o + ½)/s − ½` (ONNX `half_pixel`, TensorFlow `half_pixel_centers`, Keras bilinear).
  case halfPixel
  /// `(o + ½)/s − ½`, and 0 when `out == 1` (torch `align_corners=False`).
  case pytorchHalfPixel
  /// `o·(in − 1)/(out − 1)`, 0 when `out == 1` (torch `align_corners=True`).
  case alignCorners
  /// `o/s` (torch nearest, Keras `UpSampling` nearest, ONNX `Upsample`).
  case asymmetric
  /// `(o + ½)/s` (ONNX `tf_half_pixel_for_nn`).
  case tfHalfPixelForNN
}

/// How nearest-neighbour resizing rounds an input coordinate (ONNX `nearest_mode`).
public enum NearestRounding: Hashable, Sendable {
  /// Round half down (ONNX default).
  case roundPreferFloor
  /// Round half up.
  case roundPreferCeil
  case floor
  case ceil
}

/// Interpolation of a resize.
public enum ResizeMode: Hashable, Sendable {
  /// The input position the coordinate rounds to (clamped into the input): 0/1 coefficients.
  case nearest(NearestRounding)
  /// Linear interpolation between the two neighbours of the coordinate clamped to
  /// `[0, in − 1]` (bilinear on two axes).
  case linear
}

/// Parameters of a resize over the spatial axes of a channels-last tensor.
public struct ResizeParameters: Hashable, Sendable {
  public var mode: ResizeMode
  public var coordinates: ResizeCoordinates
  /// Scale factor per spatial axis (> 0, finite); the output extent is `⌊in·scale⌋`
  /// (computed in `Float`) unless ``sizes`` is given.
  public var scales: [Float]
  /// Output extent per spatial axis; then the scale used in coordinates is `out/in`.
  public var sizes: [Int]?

  /// Creates resize parameters; `scales` (and `sizes`) have one entry per spatial axis.
  public init(mode: ResizeMode, coordinates: ResizeCoordinates, scales: [Float], sizes: [Int]? = nil) {
    self.mode = mode
    self.coordinates = coordinates
    self.scales = scales
    self.sizes = sizes
  }

  /// Number of spatial axes.
  public var spatialRank: Int { scales.count }

  /// The output extent of spatial axis `i` for input extent `input`, or nil when a parameter is
  /// malformed (a scale not positive and finite, a size below 1, an empty input) or the extent
  /// is implausibly large (over 2⁴⁰).
  public func outputExtent(axis i: Int, input: Int) -> Int? {
    guard i < scales.count, input >= 1 else { return nil }
    if let sizes {
      guard sizes.count == scales.count, sizes[i] >= 1, sizes[i] <= 1 << 40 else { return nil }
      return sizes[i]
    }
    let s = scales[i]
    guard s.isFinite, s > 0 else { return nil }
    let e = (Float(input) * s).rounded(.down)
    guard e >= 1, e <= Float(1 << 40) else { return nil }
    return Int(e)
  }

  /// The per-output taps of axis `i`: `(first, second, weight of second)`; the first input
  /// position has weight `1 − t`. Nearest gives `first == second`, `t = 0`.
  func taps(axis i: Int, input: Int, output: Int) -> [(Int, Int, Float)] {
    let scale: Float = sizes != nil ? Float(output) / Float(input) : scales[i]
    var result = [(Int, Int, Float)]()
    result.reserveCapacity(output)
    for o in 0..<output {
      let of = Float(o)
      let x: Float =
        switch coordinates {
        case .halfPixel: (of + 0.5) / scale - 0.5
        case .pytorchHalfPixel: output > 1 ? (of + 0.5) / scale - 0.5 : 0
        case .alignCorners: output == 1 ? 0 : of * Float(input - 1) / Float(output - 1)
        case .asymmetric: of / scale
        case .tfHalfPixelForNN: (of + 0.5) / scale
        }
      switch mode {
      case .nearest(let rounding):
        let r: Float
        switch rounding {
        case .roundPreferFloor: r = x == x.rounded(.towardZero) + 0.5 ? x.rounded(.down) : x.rounded()
        case .roundPreferCeil: r = x.rounded()
        case .floor: r = x.rounded(.down)
        case .ceil: r = x.rounded(.up)
        }
        let j = r.isFinite ? Int(max(0, min(r, Float(input - 1)))) : 0
        result.append((j, j, 0))
      case .linear:
        let c = x.isFinite ? max(0, min(x, Float(input - 1))) : 0
        let lo = min(Int(c), input - 1)
        let hi = min(lo + 1, input - 1)
        result.append((lo, hi, lo == hi ? 0 : c - Float(lo)))
      }
    }
    return result
  }
}

/// The resize problem in canonical 2-D form (a 1-D problem has `h == oh == 1`).
private struct ResizePlan {
  var n = 0, h = 1, w = 0, c = 0, oh = 1, ow = 0
  var rows: [(Int, Int, Float)] = [(0, 0, 0)]
  var cols: [(Int, Int, Float)] = []
  var outputShape: Shape

  init(inputShape: Shape, parameters p: ResizeParameters, caller: String) {
    let d = p.spatialRank
    precondition(d == 1 || d == 2, "\(caller): \(d) spatial axes")
    precondition(inputShape.rank == d + 2, "\(caller): input \(inputShape) for \(d) spatial axes")
    var out = [Int]()
    for i in 0..<d {
      guard let e = p.outputExtent(axis: i, input: inputShape[i + 1]) else {
        preconditionFailure("\(caller): parameters \(p) do not fit input \(inputShape)")
      }
      out.append(e)
    }
    n = inputShape[0]
    c = inputShape[d + 1]
    if d == 2 {
      h = inputShape[1]
      oh = out[0]
      rows = p.taps(axis: 0, input: h, output: oh)
    }
    w = inputShape[d]
    ow = out[d - 1]
    cols = p.taps(axis: d - 1, input: w, output: ow)
    outputShape = Shape([n] + out + [c])
  }
}

/// Resizes the spatial axes of a channels-last tensor (`[N, L, C]` or `[N, H, W, C]`):
///
/// ```
/// y[n, o, p, c] = Σ_{a, b} r_o(a)·s_p(b)·x[n, a, b, c]
/// ```
///
/// where `r_o` and `s_p` are the per-axis taps of ``ResizeParameters`` (two positions with
/// weights `1 − t`, `t`; nearest: one position with weight 1).
///
/// - Precondition: the rank matches `p.spatialRank` and every output extent is defined.
/// - Complexity: O(N·outSpatial·C).
public func resize(_ x: Tensor, _ p: ResizeParameters) -> Tensor {
  let plan = ResizePlan(inputShape: x.shape, parameters: p, caller: "resize")
  let c = plan.c, w = plan.w, h = plan.h
  return Tensor(shape: plan.outputShape) { out in
    x.withUnsafeBufferPointer { xb in
      var o = 0
      for b in 0..<plan.n {
        let image = b &* h &* w &* c
        for (y0, y1, ty) in plan.rows {
          for (x0, x1, tx) in plan.cols {
            let p00 = image &+ (y0 &* w &+ x0) &* c, p01 = image &+ (y0 &* w &+ x1) &* c
            let p10 = image &+ (y1 &* w &+ x0) &* c, p11 = image &+ (y1 &* w &+ x1) &* c
            if ty == 0 && tx == 0 {
              for ch in 0..<c { out[o &+ ch] = xb[p00 &+ ch] }
            } else {
              let a = (1 - ty) * (1 - tx), bb = (1 - ty) * tx, cc = ty * (1 - tx), dd = ty * tx
              for ch in 0..<c {
                out[o &+ ch] = a * xb[p00 &+ ch] + bb * xb[p01 &+ ch] + cc * xb[p10 &+ ch] + dd * xb[p11 &+ ch]
              }
            }
            o &+= c
          }
        }
      }
    }
  }
}

/// The exact adjoint of ``resize(_:_:)``: every output element's value is scattered back to
/// the input positions it read, times their weights. `dy` has the shape `resize` produces for
/// an input of `inputShape`.
///
/// - Precondition: as for `resize`, and `dy.shape` equals its output shape.
public func resizeBackward(_ dy: Tensor, inputShape: Shape, _ p: ResizeParameters) -> Tensor {
  let plan = ResizePlan(inputShape: inputShape, parameters: p, caller: "resizeBackward")
  precondition(dy.shape == plan.outputShape, "resizeBackward: dy \(dy.shape), expected \(plan.outputShape)")
  let c = plan.c, w = plan.w, h = plan.h
  var dx = Tensor.zeros(inputShape)
  dx.withUnsafeMutableBufferPointer { out in
    dy.withUnsafeBufferPointer { gb in
      var o = 0
      for b in 0..<plan.n {
        let image = b &* h &* w &* c
        for (y0, y1, ty) in plan.rows {
          for (x0, x1, tx) in plan.cols {
            let p00 = image &+ (y0 &* w &+ x0) &* c, p01 = image &+ (y0 &* w &+ x1) &* c
            let p10 = image &+ (y1 &* w &+ x0) &* c, p11 = image &+ (y1 &* w &+ x1) &* c
            if ty == 0 && tx == 0 {
              for ch in 0..<c { out[p00 &+ ch] += gb[o &+ ch] }
            } else {
              let a = (1 - ty) * (1 - tx), bb = (1 - ty) * tx, cc = ty * (1 - tx), dd = ty * tx
              for ch in 0..<c {
                let g = gb[o &+ ch]
                out[p00 &+ ch] += a * g
                out[p01 &+ ch] += bb * g
                out[p10 &+ ch] += cc * g
                out[p11 &+ ch] += dd * g
              }
            }
            o &+= c
          }
        }
      }
    }
  }
  return dx
}

// MARK: - Transposed convolution

/// Output extents of a transposed convolution and the convolution whose adjoint it is.
///
/// A transposed convolution with kernel `k`, stride `s`, dilation `d` and padding maps
/// `x [N, in…, C_in]` to `y [N, out…, C_out]` with
///
/// ```
/// y[p] = Σ_{j, t : p = j·s − before + t·d} x[j]·W[t]        (each spatial axis)
/// ```
///
/// - `.explicit(before, after)` (ONNX `pads`): `out = s·(in − 1) + (k − 1)·d + 1 − before − after + outputPadding`;
/// - `.valid`: the same with no pads;
/// - `.same` (TensorFlow): `out = in·s`, pads as a `SAME` convolution of an `out`-long input.
///
/// That is the adjoint of the convolution of an `out`-long input with the same kernel, stride,
/// dilation, `before` and an `after` pad chosen so that it has exactly `in` windows
/// (`max(0, after − outputPadding)`; taps past `out` read padding). Returns `(out, conv)` or nil
/// when a parameter is malformed or the extents do not fit (`out < 1`, or `outputPadding`
/// too large for the stride).
public func convTransposeGeometry(
  kernel: [Int], input: [Int], parameters p: ConvParameters, outputPadding: [Int]
) -> (output: [Int], conv: ConvParameters)? {
  let d = kernel.count
  guard input.count == d, p.strides.count == d, p.dilations.count == d, outputPadding.count == d,
    (kernel + p.strides + p.dilations).allSatisfy({ $0 >= 1 && $0 <= 1 << 31 }),
    outputPadding.allSatisfy({ $0 >= 0 && $0 <= 1 << 31 }), input.allSatisfy({ $0 >= 1 && $0 <= 1 << 40 })
  else { return nil }
  var out = [Int](), before = [Int](), after = [Int]()
  for i in 0..<d {
    let effective = (kernel[i] - 1) * p.dilations[i] + 1
    // strides ≤ 2³¹ and input ≤ 2⁴⁰ could overflow: checked.
    let (span, overflow) = p.strides[i].multipliedReportingOverflow(by: input[i] - 1)
    guard !overflow, span <= 1 << 60, effective <= 1 << 61 else { return nil }
    let full = span + effective
    switch p.padding {
    case .same:
      let (e, o) = input[i].multipliedReportingOverflow(by: p.strides[i])
      guard !o, e <= 1 << 60 else { return nil }
      out.append(e)
      before.append(0)
      after.append(0)
    case .valid:
      out.append(full + outputPadding[i])
      before.append(0)
      after.append(0)
    case .explicit(let b, let a):
      guard b.count == d, a.count == d, b[i] >= 0, a[i] >= 0, b[i] <= 1 << 40, a[i] <= 1 << 40 else { return nil }
      out.append(full - b[i] - a[i] + outputPadding[i])
      before.append(b[i])
      after.append(max(0, a[i] - outputPadding[i]))
    }
    guard out[i] >= 1 else { return nil }
  }
  let padding: Padding
  if case .same = p.padding { padding = .same } else { padding = .explicit(before: before, after: after) }
  let conv = ConvParameters(strides: p.strides, dilations: p.dilations, padding: padding, groups: p.groups)
  // The convolution must read exactly `in` windows from an `out`-long input.
  guard conv.geometry(kernel: kernel).outputSpatial(input: out) == input else { return nil }
  return (out, conv)
}

/// Transposed convolution (ONNX `ConvTranspose`, Keras `Conv{1,2}DTranspose`), channels-last:
/// ``convTransposeGeometry(kernel:input:parameters:outputPadding:)``'s formula plus `bias`.
///
/// Layouts: `x [N, in…, C_in]`, `weight [k…, C_out/groups, C_in]` (the kernel of the
/// convolution it is the adjoint of, Keras' `Conv2DTranspose` layout), `bias [C_out]`.
///
/// - Precondition: the geometry fits (`convTransposeGeometry` is not nil) and channels agree.
public func convTranspose(
  _ x: Tensor, weight: Tensor, bias: Tensor?, parameters p: ConvParameters, outputPadding: [Int]
) -> Tensor {
  let d = weight.rank - 2
  guard
    let (out, adjoint) = convTransposeGeometry(
      kernel: Array(weight.shape.dimensions[0..<d]), input: Array(x.shape.dimensions[1...d]), parameters: p,
      outputPadding: outputPadding)
  else { preconditionFailure("convTranspose: parameters do not fit input \(x.shape)") }
  let cout = weight.shape[d] * p.groups
  var y = convBackwardInput(x, weight: weight, inputShape: Shape([x.shape[0]] + out + [cout]), parameters: adjoint)
  guard let bias else { return y }
  precondition(bias.shape == [cout], "convTranspose: bias \(bias.shape), expected [\(cout)]")
  y.withUnsafeMutableBufferPointer { yb in
    bias.withUnsafeBufferPointer { bb in
      var i = 0
      while i < yb.count {
        for ch in 0..<cout { yb[i &+ ch] += bb[ch] }
        i &+= cout
      }
    }
  }
  return y
}
