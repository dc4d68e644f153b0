import LiftNN
import LiftTensor

// Resize, Upsample and ConvTranspose: the upsampling ops of U-Nets, FPNs and decoders.

/// `Resize` (opset 10: `mode` and `scales` only, asymmetric coordinates; opset 11+: the
/// `roi`/`scales`/`sizes` inputs and the coordinate and rounding attributes). Nearest and
/// linear modes over the trailing 1 or 2 spatial axes; the batch and channel scales must be 1.
func convertResize(_ node: Onnx_NodeProto, _ ctx: inout ConversionContext) throws(ONNXImportError) -> Value {
  try emitResize(node, &ctx, opset11: true)
}

/// `Resize` before opset 11 (`X`, `scales`; asymmetric coordinates, `round_prefer_floor`…
/// onnxruntime rounds with its opset-10 "simple" rule: floor when upsampling).
func convertResize10(_ node: Onnx_NodeProto, _ ctx: inout ConversionContext) throws(ONNXImportError) -> Value {
  try emitResize(node, &ctx, opset11: false)
}

/// `Upsample` (opsets 7–9): scales as an attribute (7) or input 1 (9); asymmetric coordinates.
func convertUpsample(_ node: Onnx_NodeProto, _ ctx: inout ConversionContext) throws(ONNXImportError) -> Value {
  try emitResize(node, &ctx, opset11: false)
}

private func emitResize(_ node: Onnx_NodeProto, _ ctx: inout ConversionContext, opset11: Bool)
  throws(ONNXImportError) -> Value
{
  let a = Attributes(node)
  let x = try ctx.graphInput(node, 0)
  let r = x.shape.count + 1
  let d = r - 2
  guard d == 1 || d == 2 else {
    throw usage(node, "only 1-D and 2-D resizing (N, C, spatial…) is supported (input per-example shape \(x.shape))")
  }
  if let axes = a.ints("axes"), axes != Array(0..<r) { throw usage(node, "axes \(axes) are not supported") }
  if a.int("antialias", 0) != 0 { throw usage(node, "antialias=1 is not supported") }
  let modeName = a.string("mode") ?? "nearest"
  // Scales: attribute (Upsample-7), input 1 (Upsample-9, Resize-10) or input 2 (Resize-11+);
  // sizes: input 3 (Resize-11+).
  var scales: [Double]?
  var sizes: [Int]?
  if opset11 {
    if node.input.count > 2, !node.input[2].isEmpty, let s = try ctx.optionalConstant(node, 2), s.count > 0 {
      scales = s.values
    }
    if node.input.count > 3, !node.input[3].isEmpty, let s = try ctx.optionalConstant(node, 3), s.count > 0 {
      guard let ints = s.integers else { throw usage(node, "sizes must be integers known at import time") }
      sizes = ints
    }
    guard (scales == nil) != (sizes == nil) else { throw usage(node, "needs exactly one of scales and sizes") }
  } else if let attribute = a.floats("scales") {
    scales = attribute.map(Double.init)
  } else {
    guard node.input.count > 1, !node.input[1].isEmpty else { throw usage(node, "scales missing") }
    scales = try ctx.constantInput(node, 1).values
  }
  if let s = scales {
    guard s.count == r else { throw usage(node, "scales \(s) need \(r) entries") }
    guard s[0] == 1, s[1] == 1 else { throw usage(node, "scales \(s) resize the batch or channel axis") }
    guard s.allSatisfy({ $0.isFinite && $0 > 0 && $0 <= 0x1p20 }) else { throw usage(node, "bad scales \(s)") }
  }
  if let s = sizes {
    guard s.count == r else { throw usage(node, "sizes \(s) need \(r) entries") }
    // sizes[0] is the batch extent (a folded Shape gives a marker for it).
    guard s[1] == x.shape[0] else { throw usage(node, "sizes \(s) resize the channel axis") }
    try checkExtents(Array(s[2...]), minimum: 1, "sizes", node)
  }
  let coordinates: ResizeCoordinates
  let rounding: NearestRounding
  if opset11 {
    let transform = a.string("coordinate_transformation_mode") ?? "half_pixel"
    switch transform {
    case "half_pixel": coordinates = .halfPixel
    case "pytorch_half_pixel": coordinates = .pytorchHalfPixel
    case "align_corners": coordinates = .alignCorners
    case "asymmetric": coordinates = .asymmetric
    case "tf_half_pixel_for_nn": coordinates = .tfHalfPixelForNN
    default: throw usage(node, "coordinate_transformation_mode \(transform) is not supported")
    }
    let nearest = a.string("nearest_mode") ?? "round_prefer_floor"
    switch nearest {
    case "round_prefer_floor": rounding = .roundPreferFloor
    case "round_prefer_ceil": rounding = .roundPreferCeil
    case "floor": rounding = .floor
    case "ceil": rounding = .ceil
    default: throw usage(node, "nearest_mode \(nearest) is not supported")
    }
    if let policy = a.string("keep_aspect_ratio_policy"), policy != "stretch", sizes != nil {
      throw usage(node, "keep_aspect_ratio_policy \(policy) is not supported")
    }
  } else {
    // Before opset 11 coordinates are asymmetric; onnxruntime's nearest truncates when
    // upsampling (floor: coordinates are non-negative) and rounds up when downsampling.
    coordinates = .asymmetric
    guard let s = scales else { preconditionFailure() }
    let up = s.allSatisfy { $0 >= 1 }, down = s[2...].allSatisfy { $0 < 1 }
    guard up || down || modeName != "nearest" else {
      throw usage(node, "nearest Upsample that enlarges one axis and shrinks another is not supported")
    }
    rounding = up ? .floor : .ceil
  }
  let mode: ResizeMode
  switch modeName {
  case "nearest": mode = .nearest(rounding)
  case "linear", "bilinear": mode = .linear
  default: throw usage(node, "mode \(modeName) is not supported (nearest and linear are)")
  }
  let p = ResizeParameters(
    mode: mode, coordinates: coordinates,
    scales: (scales.map { Array($0[2...]) } ?? [Double](repeating: 1, count: d)).map { Float($0) },
    sizes: sizes.map { Array($0[2...]) })
  return try ctx.emitChannelsLast(.resize(p), input: x, node: node)
}

/// `ConvTranspose`: 1-D and 2-D, any `group`, `strides`, `dilations`, `pads`,
/// `output_padding`; `auto_pad` NOTSET, VALID, SAME_UPPER or SAME_LOWER (`out = in·s`);
/// `output_shape` only where it equals the shape the other attributes give.
func convertConvTranspose(_ node: Onnx_NodeProto, _ ctx: inout ConversionContext) throws(ONNXImportError) -> Value {
  let a = Attributes(node)
  let (x, d, w, kernel, groups, strides, dilations) = try convAttributes(node, &ctx, what: "transposed convolution")
  let outputPadding = a.ints("output_padding") ?? [Int](repeating: 0, count: d)
  guard outputPadding.count == d else { throw usage(node, "bad output_padding \(outputPadding)") }
  try checkExtents(kernel, minimum: 1, "kernel", node)
  try checkExtents(strides, minimum: 1, "strides", node)
  try checkExtents(dilations, minimum: 1, "dilations", node)
  try checkExtents(outputPadding, "output_padding", node)
  let mode = a.string("auto_pad") ?? "NOTSET"
  var pads = [Int](repeating: 0, count: 2 * d)
  switch mode {
  case "NOTSET", "":
    pads = a.ints("pads") ?? pads
    guard pads.count == 2 * d else { throw usage(node, "bad pads \(pads)") }
    try checkExtents(pads, "pads", node)
  case "VALID": break
  case "SAME_UPPER", "SAME_LOWER":
    // out = in·s; total = s·(in − 1) + output_padding + k_eff − out, split with the odd
    // element at the end (SAME_UPPER) or the start (SAME_LOWER).
    for i in 0..<d {
      let total = outputPadding[i] + (kernel[i] - 1) * dilations[i] + 1 - strides[i]
      guard total >= 0 else { throw usage(node, "auto_pad \(mode) with a kernel shorter than the stride") }
      let small = total / 2
      pads[i] = mode == "SAME_UPPER" ? small : total - small
      pads[d + i] = total - pads[i]
    }
  default: throw usage(node, "auto_pad \(mode) is not supported")
  }
  let cin = x.shape[0]
  guard w.dims[0] == cin, cin % groups == 0 else {
    throw usage(node, "weight \(w.dims) for \(cin) input channels in \(groups) group(s)")
  }
  // [C_in, C_out/g, k…] → [k…, C_out/g, C_in]: the kernel of the convolution it is the
  // adjoint of, in the IR's layout.
  let weight = transposed(w.tensor(), permutation: Array(2..<(d + 2)) + [1, 0])
  let cout = w.dims[1] * groups
  var bias: Tensor?
  if let b = try ctx.optionalConstant(node, 2) {
    guard b.count == cout else { throw usage(node, "bias of shape \(b.dims) for \(cout) output channels") }
    bias = b.tensor(shape: [b.count])
  }
  let parameters = ConvParameters(
    strides: strides, dilations: dilations, padding: .explicit(before: Array(pads[..<d]), after: Array(pads[d...])),
    groups: groups)
  guard
    let geometry = convTransposeGeometry(
      kernel: kernel, input: Array(x.shape[1...]), parameters: parameters, outputPadding: outputPadding)
  else {
    throw usage(node, "kernel \(kernel), strides \(strides), pads \(pads) and output_padding \(outputPadding) do not fit the input \(x.shape)")
  }
  if let shape = a.ints("output_shape"), shape.suffix(d) != geometry.output[...] {
    throw usage(node, "output_shape \(shape) differs from the shape the pads give (\(geometry.output)); set pads instead")
  }
  return try ctx.emitChannelsLast(
    .convTranspose(weight: weight, bias: bias, parameters: parameters, outputPadding: outputPadding), input: x,
    node: node)
}
