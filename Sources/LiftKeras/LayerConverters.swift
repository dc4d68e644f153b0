import Foundation
import LiftNN
import LiftTensor

/// The converter a Keras class maps to.
enum LayerConverter: Sendable {
  case dense, batchNorm, flatten, reshape, permute, activation, relu, leakyRelu, elu, prelu
  case softmax, concatenate, rescaling, identity
  case conv(spatial: Int)
  case depthwiseConv(spatial: Int)
  case separableConv(spatial: Int)
  case pool(spatial: Int, max: Bool)
  case globalPool(spatial: Int, max: Bool)
  case zeroPadding(spatial: Int)
  case cropping(spatial: Int)
  case merge(Op)
  case multiply, dot
  case normalization
  case upSampling(spatial: Int)
  case convTranspose(spatial: Int)
  case tfOpLambda
  case slicingOpLambda
  case layerNorm, rmsNorm
  case layerScale
  case recurrent, bidirectional
  case multiHeadAttention

  /// Whether the converter looks at tensors passed by keyword (`MultiHeadAttention`'s
  /// `value=`, `key=`; `TFOpLambda`, to refuse them with its own message); other layers
  /// refuse them at once.
  var acceptsKeywordTensors: Bool {
    switch self {
    case .multiHeadAttention, .tfOpLambda: true
    default: false
    }
  }

  /// Converts one call of a layer into graph nodes and returns the node holding its output.
  func convert(_ c: LayerCall, _ x: inout Conversion) throws(KerasImportError) -> Value {
    switch self {
    case .dense: try convertDense(c, &x)
    case .batchNorm: try convertBatchNorm(c, &x)
    case .flatten: try convertFlatten(c, &x)
    case .reshape: try convertReshape(c, &x)
    case .permute: try convertPermute(c, &x)
    case .activation: try convertActivation(c, &x)
    case .relu: try convertReLU(c, &x)
    case .leakyRelu: try convertLeakyReLU(c, &x)
    case .elu: try convertELU(c, &x)
    case .prelu: try convertPReLU(c, &x)
    case .softmax: try convertSoftmax(c, &x)
    case .concatenate: try convertConcatenate(c, &x)
    case .rescaling: try convertRescaling(c, &x)
    case .identity: try x.emit(.identity, c.inputs, name: c.name, call: c)
    case .conv(let d): try convertConv(c, &x, spatial: d, kind: .standard)
    case .depthwiseConv(let d): try convertConv(c, &x, spatial: d, kind: .depthwise)
    case .separableConv(let d): try convertConv(c, &x, spatial: d, kind: .separable)
    case .pool(let d, let isMax): try convertPool(c, &x, spatial: d, max: isMax)
    case .globalPool(let d, let isMax): try convertGlobalPool(c, &x, spatial: d, max: isMax)
    case .zeroPadding(let d): try convertZeroPadding(c, &x, spatial: d)
    case .cropping(let d): try convertCropping(c, &x, spatial: d)
    case .merge(let op): try convertMerge(c, &x, op: op)
    case .multiply: try convertMultiply(c, &x)
    case .dot: try convertDot(c, &x)
    case .normalization: try convertNormalization(c, &x)
    case .upSampling(let d): try convertUpSampling(c, &x, spatial: d)
    case .convTranspose(let d): try convertConvTranspose(c, &x, spatial: d)
    case .tfOpLambda: try convertTFOpLambda(c, &x)
    case .slicingOpLambda: try convertSlicingOpLambda(c, &x)
    case .layerNorm: try convertNormalization(c, &x, rms: false)
    case .rmsNorm: try convertNormalization(c, &x, rms: true)
    case .layerScale: try convertLayerScale(c, &x)
    case .recurrent: try convertRecurrent(c, &x)
    case .bidirectional: try convertBidirectional(c, &x)
    case .multiHeadAttention: try convertMultiHeadAttention(c, &x)
    }
  }
}

/// Keras class name (lower-cased: matching ignores case) → converter. Classes absent here
/// are rejected with ``KerasImportError/unsupportedLayer(file:layer:className:)``.
let layerConverters: [String: LayerConverter] = [
  "dense": .dense,
  "conv1d": .conv(spatial: 1), "conv2d": .conv(spatial: 2),
  "depthwiseconv1d": .depthwiseConv(spatial: 1), "depthwiseconv2d": .depthwiseConv(spatial: 2),
  "separableconv1d": .separableConv(spatial: 1), "separableconv2d": .separableConv(spatial: 2),
  "separableconvolution1d": .separableConv(spatial: 1), "separableconvolution2d": .separableConv(spatial: 2),
  "batchnormalization": .batchNorm, "batchnormalizationv1": .batchNorm, "batchnormalizationv2": .batchNorm,
  "flatten": .flatten, "reshape": .reshape, "permute": .permute,
  "activation": .activation, "relu": .relu, "leakyrelu": .leakyRelu, "elu": .elu, "prelu": .prelu,
  "softmax": .softmax,
  "zeropadding1d": .zeroPadding(spatial: 1), "zeropadding2d": .zeroPadding(spatial: 2),
  "cropping1d": .cropping(spatial: 1), "cropping2d": .cropping(spatial: 2),
  "concatenate": .concatenate,
  "add": .merge(.add), "subtract": .merge(.subtract), "average": .merge(.average),
  "maximum": .merge(.maximum), "minimum": .merge(.minimum),
  "multiply": .multiply, "dot": .dot,
  "rescaling": .rescaling,
  "dropout": .identity, "spatialdropout1d": .identity, "spatialdropout2d": .identity,
  "gaussiannoise": .identity, "gaussiandropout": .identity, "alphadropout": .identity,
  "activityregularization": .identity, "identity": .identity,
  "maxpooling1d": .pool(spatial: 1, max: true), "maxpool1d": .pool(spatial: 1, max: true),
  "maxpooling2d": .pool(spatial: 2, max: true), "maxpool2d": .pool(spatial: 2, max: true),
  "averagepooling1d": .pool(spatial: 1, max: false), "avgpool1d": .pool(spatial: 1, max: false),
  "averagepooling2d": .pool(spatial: 2, max: false), "avgpool2d": .pool(spatial: 2, max: false),
  "globalmaxpooling1d": .globalPool(spatial: 1, max: true),
  "globalmaxpool1d": .globalPool(spatial: 1, max: true),
  "globalmaxpooling2d": .globalPool(spatial: 2, max: true),
  "globalmaxpool2d": .globalPool(spatial: 2, max: true),
  "globalaveragepooling1d": .globalPool(spatial: 1, max: false),
  "globalavgpool1d": .globalPool(spatial: 1, max: false),
  "globalaveragepooling2d": .globalPool(spatial: 2, max: false),
  "globalavgpool2d": .globalPool(spatial: 2, max: false),
  "normalization": .normalization,
  "upsampling1d": .upSampling(spatial: 1), "upsampling2d": .upSampling(spatial: 2),
  "conv1dtranspose": .convTranspose(spatial: 1), "conv2dtranspose": .convTranspose(spatial: 2),
  "convolution1dtranspose": .convTranspose(spatial: 1), "convolution2dtranspose": .convTranspose(spatial: 2),
  "tfoplambda": .tfOpLambda, "slicingoplambda": .slicingOpLambda,
  "layernormalization": .layerNorm, "rmsnormalization": .rmsNorm,
  "layerscale": .layerScale,
  "lstm": .recurrent, "gru": .recurrent, "simplernn": .recurrent, "bidirectional": .bidirectional,
  "multiheadattention": .multiHeadAttention,
]

// MARK: - Helpers

/// Full-tensor axis (batch = 0) of a Keras axis for a per-example rank `rank`; `nil` if out
/// of range or the batch axis.
func fullAxis(_ axis: Int, rank: Int) -> Int? {
  let a = axis < 0 ? axis + rank + 1 : axis
  return a >= 1 && a <= rank ? a : nil
}

/// Permutations between channels-first `[C, S…]` and channels-last `[S…, C]` per-example layouts.
func toChannelsLast(rank: Int) -> [Int] { [0] + Array(2...rank) + [1] }
func toChannelsFirst(rank: Int) -> [Int] { [0, rank] + Array(1..<rank) }

func requireRank(_ call: LayerCall, _ rank: Int, what: String) throws(KerasImportError) {
  guard call.input.rank == rank else {
    throw .shapeMismatch(
      file: call.options.file, layer: call.spec.name,
      reason: "\(what) expects a per-example input of rank \(rank), got rank \(call.input.rank)")
  }
}

func paddingMode(_ call: LayerCall, allowCausal: Bool) throws(KerasImportError) -> String {
  let padding = try call.options.string("padding", default: "valid").lowercased()
  guard padding == "valid" || padding == "same" || (allowCausal && padding == "causal") else {
    throw call.options.unsupported("padding '\(padding)'")
  }
  return padding
}

// MARK: - Converters

private func convertDense(_ call: LayerCall, _ cx: inout Conversion) throws(KerasImportError) -> Value {
  let o = call.options
  let units = o.isAbsent("units") ? nil : try o.int("units")
  let useBias = try o.bool("use_bias", default: true)
  let w = try cx.weights(call, expected: ["kernel"] + (useBias ? ["bias"] : []))
  let kernel = w["kernel"]!
  guard call.input.rank >= 1 else { throw o.invalid("input has no features axis") }
  try cx.check(kernel, [call.input.shape.last!, units], weight: "kernel", call: call)
  let bias = useBias ? w["bias"] : nil
  if let bias { try cx.check(bias, [kernel.shape[1]], weight: "bias", call: call) }
  return try cx.emitWithActivation(
    .dense(weight: kernel, bias: bias), input: call.input, call: call, outputName: call.name)
}

/// Which convolution layer family a Keras class belongs to.
enum ConvKind {
  /// Conv1D / Conv2D: kernel `[k…, C_in/groups, filters]`.
  case standard
  /// DepthwiseConv1D / 2D: kernel `[k…, C_in, m]` → a grouped convolution with `groups = C_in`
  /// and kernel `[k…, 1, C_in·m]` (output channel `c·m + j`, Keras' order).
  case depthwise
  /// SeparableConv1D / 2D: that depthwise convolution (no bias) followed by a pointwise
  /// `[1…, C_in·m, filters]` convolution carrying the bias and activation.
  case separable
}

private func convertConv(_ call: LayerCall, _ cx: inout Conversion, spatial d: Int, kind: ConvKind)
  throws(KerasImportError) -> Value
{
  let o = call.options
  try requireRank(call, d + 1, what: call.spec.className)
  let filters = kind == .depthwise ? 1 : try o.int("filters")
  let size = try o.ints("kernel_size", count: d)
  let strides = try o.ints("strides", count: d, default: [Int](repeating: 1, count: d))
  let dilations = try o.ints("dilation_rate", count: d, default: [Int](repeating: 1, count: d))
  let groups = kind == .standard ? try o.int("groups", default: 1) : 1
  let multiplier = kind == .standard ? 1 : try o.int("depth_multiplier", default: 1)
  let channelsFirst = try o.channelsFirst()
  let padding = try paddingMode(call, allowCausal: d == 1 && kind == .standard)
  guard filters >= 1, groups >= 1, multiplier >= 1, filters % groups == 0,
    (size + strides + dilations).allSatisfy({ $0 >= 1 })
  else { throw o.invalid("non-positive kernel_size/strides/dilation_rate/filters/groups/depth_multiplier") }
  if padding == "causal" && channelsFirst { throw o.unsupported("causal padding with channels_first") }

  var x = call.input
  if channelsFirst {
    x = try cx.emit(
      .transpose(toChannelsLast(rank: d + 1)), [x], name: call.name + "/channels_last", call: call)
  }
  let inChannels = x.shape.last!
  if let c = inChannels, c % groups != 0 {
    throw .shapeMismatch(
      file: cx.file, layer: call.spec.name, reason: "\(c) input channels not divisible into \(groups) groups")
  }
  let useBias = try o.bool("use_bias", default: true)
  let pad: Padding =
    switch padding {
    case "same": .same
    case "causal": .explicit(before: [(size[0] - 1) * dilations[0]], after: [0])
    default: .valid
    }
  let parameters = ConvParameters(strides: strides, dilations: dilations, padding: pad, groups: groups)
  let outputName = channelsFirst ? call.name + "/channels_last_output" : call.name
  let y: Value
  switch kind {
  case .standard:
    let w = try cx.weights(call, expected: ["kernel"] + (useBias ? ["bias"] : []))
    let kernel = w["kernel"]!
    try cx.check(kernel, size + [inChannels.map { $0 / groups }, filters], weight: "kernel", call: call)
    let bias = useBias ? w["bias"] : nil
    if let bias { try cx.check(bias, [filters], weight: "bias", call: call) }
    y = try cx.emitWithActivation(
      .conv(weight: kernel, bias: bias, parameters: parameters), input: x, call: call, outputName: outputName)
  case .depthwise, .separable:
    guard let c = inChannels else { throw o.unsupported("depthwise convolution of an open channel count") }
    let separable = kind == .separable
    let w = try cx.weights(
      call,
      expected: ["depthwise_kernel"] + (separable ? ["pointwise_kernel"] : []) + (useBias ? ["bias"] : []))
    let depthwise = w["depthwise_kernel"]!
    try cx.check(depthwise, size + [c, multiplier], weight: "depthwise_kernel", call: call)
    let grouped = depthwise.reshaped(Shape(size + [1, c * multiplier]))
    var depthwiseParameters = parameters
    depthwiseParameters.groups = c
    let bias = useBias ? w["bias"] : nil
    if !separable {
      if let bias { try cx.check(bias, [c * multiplier], weight: "bias", call: call) }
      y = try cx.emitWithActivation(
        .conv(weight: grouped, bias: bias, parameters: depthwiseParameters), input: x, call: call,
        outputName: outputName)
    } else {
      let pointwise = w["pointwise_kernel"]!
      let ones = [Int](repeating: 1, count: d)
      try cx.check(pointwise, ones + [c * multiplier, filters], weight: "pointwise_kernel", call: call)
      if let bias { try cx.check(bias, [filters], weight: "bias", call: call) }
      let dw = try cx.emit(
        .conv(weight: grouped, bias: nil, parameters: depthwiseParameters), [x],
        name: call.name + "/depthwise",
        call: call)
      y = try cx.emitWithActivation(
        .conv(
          weight: pointwise, bias: bias,
          parameters: ConvParameters(strides: ones, dilations: ones, padding: .valid)),
        input: dw, call: call, outputName: outputName)
    }
  }
  guard channelsFirst else { return y }
  return try cx.emit(.transpose(toChannelsFirst(rank: d + 1)), [y], name: call.name, call: call)
}

private func convertPool(_ call: LayerCall, _ cx: inout Conversion, spatial d: Int, max isMax: Bool)
  throws(KerasImportError) -> Value
{
  let o = call.options
  try requireRank(call, d + 1, what: call.spec.className)
  let size = try o.ints("pool_size", count: d, default: [Int](repeating: 2, count: d))
  let strides = try o.ints("strides", count: d, default: size)
  let padding = try paddingMode(call, allowCausal: false)
  guard (size + strides).allSatisfy({ $0 >= 1 }) else { throw o.invalid("non-positive pool_size/strides") }
  let parameters = PoolParameters(
    size: size, strides: strides, padding: padding == "same" ? .same : .valid, countIncludePad: false)
  let op: Op = isMax ? .maxPool(parameters) : .averagePool(parameters)
  guard try o.channelsFirst() else { return try cx.emit(op, call.inputs, name: call.name, call: call) }
  let x = try cx.emit(
    .transpose(toChannelsLast(rank: d + 1)), [call.input], name: call.name + "/channels_last", call: call)
  let y = try cx.emit(op, [x], name: call.name + "/channels_last_output", call: call)
  return try cx.emit(.transpose(toChannelsFirst(rank: d + 1)), [y], name: call.name, call: call)
}

private func convertGlobalPool(_ call: LayerCall, _ cx: inout Conversion, spatial d: Int, max isMax: Bool)
  throws(KerasImportError) -> Value
{
  let o = call.options
  try requireRank(call, d + 1, what: call.spec.className)
  let keepdims = try o.bool("keepdims", default: false)
  let channelsFirst = try o.channelsFirst()
  let op: Op = isMax ? .globalMaxPool : .globalAveragePool
  var x = call.input
  if channelsFirst {
    x = try cx.emit(
      .transpose(toChannelsLast(rank: d + 1)), [x], name: call.name + "/channels_last", call: call)
  }
  guard keepdims else { return try cx.emit(op, [x], name: call.name, call: call) }
  let pooled = try cx.emit(op, [x], name: call.name + "/pool", call: call)
  let ones = [Int](repeating: 1, count: d)
  let target = channelsFirst ? [-1] + ones : ones + [-1]
  return try cx.emit(.reshape(target), [pooled], name: call.name, call: call)
}

private func convertBatchNorm(_ call: LayerCall, _ cx: inout Conversion) throws(KerasImportError) -> Value {
  let o = call.options
  let rank = call.input.rank
  let axes = try o.intList("axis") ?? [-1]
  guard !axes.isEmpty else { throw o.invalid("empty axis list") }
  var perExample = [Int]()
  for a in axes {
    guard let full = fullAxis(a, rank: rank) else {
      throw o.unsupported("axis \(a) for an input of rank \(rank + 1)")
    }
    guard !perExample.contains(full - 1) else { throw o.invalid("repeated axis \(a)") }
    perExample.append(full - 1)
  }
  perExample.sort()
  var extents = [Int]()
  for a in perExample {
    guard let e = call.input.shape[a] else {
      throw o.unsupported("normalised axis \(a + 1) has no fixed extent in the input")
    }
    extents.append(e)
  }
  let epsilon = try o.double("epsilon", default: 1e-3)
  let center = try o.bool("center", default: true)
  let scale = try o.bool("scale", default: true)
  guard epsilon >= 0 else { throw o.invalid("negative epsilon") }
  let expected = (scale ? ["gamma"] : []) + (center ? ["beta"] : []) + ["moving_mean", "moving_variance"]
  let w = try cx.weights(call, expected: expected)
  guard let count = Shape.checkedCount(extents), count <= LayerOptions.integerBound else {
    throw o.invalid("implausible normalised extents \(extents)")
  }
  for name in expected {
    let t = w[name]!
    // Keras stores the parameters with the normalised axes' extents ([C] for one axis).
    if t.shape.dimensions != extents && !(t.scalarCount == count && t.rank == 1) {
      throw .weightShapeMismatch(
        file: cx.file, layer: call.spec.name, weight: name, expected: extents, found: t.shape.dimensions)
    }
  }
  let gamma = w["gamma"]?.scalars ?? [Float](repeating: 1, count: count)
  let beta = w["beta"]?.scalars ?? [Float](repeating: 0, count: count)
  let mean = w["moving_mean"]!.scalars
  let variance = w["moving_variance"]!.scalars
  var scales = [Float]()
  var offsets = [Float]()
  for i in 0..<count {
    let s = Double(gamma[i]) / (Double(variance[i]) + epsilon).squareRoot()
    guard s.isFinite else { throw o.invalid("moving_variance + epsilon is not positive") }
    scales.append(Float(s))
    offsets.append(Float(Double(beta[i]) - Double(mean[i]) * s))
  }
  var broadcast = [Int](repeating: 1, count: rank)
  for (a, e) in zip(perExample, extents) { broadcast[a] = e }
  let op = Op.affine(
    scale: Tensor(shape: Shape(broadcast), scalars: scales),
    offset: Tensor(shape: Shape(broadcast), scalars: offsets))
  return try cx.emit(op, call.inputs, name: call.name, call: call)
}

private func convertFlatten(_ call: LayerCall, _ cx: inout Conversion) throws(KerasImportError) -> Value {
  var x = call.input
  if try call.options.channelsFirst(), x.rank >= 2 {
    x = try cx.emit(
      .transpose(toChannelsLast(rank: x.rank)), [x], name: call.name + "/channels_last", call: call)
  }
  let known = x.shape.allSatisfy { $0 != nil } ? Shape.checkedCount(x.shape.map { $0! }) : nil
  return try cx.emit(.reshape([known ?? -1]), [x], name: call.name, call: call)
}

private func convertReshape(_ call: LayerCall, _ cx: inout Conversion) throws(KerasImportError) -> Value {
  guard let target = try call.options.intList("target_shape"), !target.isEmpty else {
    throw call.options.invalid("no target_shape")
  }
  return try cx.emit(.reshape(target), call.inputs, name: call.name, call: call)
}

private func convertPermute(_ call: LayerCall, _ cx: inout Conversion) throws(KerasImportError) -> Value {
  guard let dims = try call.options.intList("dims"), Set(dims) == Set(1...max(call.input.rank, 1)),
    dims.count == call.input.rank
  else { throw call.options.invalid("dims is not a permutation of 1...\(call.input.rank)") }
  return try cx.emit(.transpose([0] + dims), call.inputs, name: call.name, call: call)
}

private func convertActivation(_ call: LayerCall, _ cx: inout Conversion) throws(KerasImportError) -> Value {
  let op = try cx.activationOp(call.options.config["activation"], rank: call.input.rank, call: call)
  return try cx.emit(op ?? .identity, call.inputs, name: call.name, call: call)
}

private func convertReLU(_ call: LayerCall, _ cx: inout Conversion) throws(KerasImportError) -> Value {
  let o = call.options
  let maxValue = try o.optionalDouble("max_value")
  let slope = try o.double("negative_slope", default: 0)
  let threshold = try o.double("threshold", default: 0)
  guard threshold == 0 else { throw o.unsupported("ReLU threshold \(threshold) ≠ 0") }
  if let m = maxValue, m < 0 { throw o.invalid("negative max_value") }
  switch (maxValue, slope) {
  case (nil, 0):
    return try cx.emit(.activation(.relu), call.inputs, name: call.name, call: call)
  case (nil, let s):
    return try cx.emit(.activation(.leakyRelu(alpha: Float(s))), call.inputs, name: call.name, call: call)
  case (let m?, 0):
    return try cx.emit(
      .activation(.clip(lower: 0, upper: Float(m))), call.inputs, name: call.name, call: call)
  case (let m?, let s):
    let leaky = try cx.emit(
      .activation(.leakyRelu(alpha: Float(s))), call.inputs, name: call.name + "/leaky", call: call)
    return try cx.emit(
      .activation(.clip(lower: -.infinity, upper: Float(m))), [leaky], name: call.name, call: call)
  }
}

private func convertLeakyReLU(_ call: LayerCall, _ cx: inout Conversion) throws(KerasImportError) -> Value {
  let o = call.options
  var slope = try o.optionalDouble("negative_slope")
  if slope == nil { slope = try o.optionalDouble("alpha") }
  let alpha = slope ?? 0.3
  return try cx.emit(.activation(.leakyRelu(alpha: Float(alpha))), call.inputs, name: call.name, call: call)
}

private func convertELU(_ call: LayerCall, _ cx: inout Conversion) throws(KerasImportError) -> Value {
  let alpha = try call.options.double("alpha", default: 1)
  return try cx.emit(.activation(.elu(alpha: Float(alpha))), call.inputs, name: call.name, call: call)
}

private func convertSoftmax(_ call: LayerCall, _ cx: inout Conversion) throws(KerasImportError) -> Value {
  let axes = try call.options.intList("axis") ?? [-1]
  guard axes.count == 1, let axis = fullAxis(axes[0], rank: call.input.rank) else {
    throw call.options.unsupported("softmax axis \(axes)")
  }
  return try cx.emit(.softmax(axis: axis), call.inputs, name: call.name, call: call)
}

private func convertPReLU(_ call: LayerCall, _ cx: inout Conversion) throws(KerasImportError) -> Value {
  let w = try cx.weights(call, expected: ["alpha"])
  let alpha = w["alpha"]!
  let x = call.input
  // Keras stores alpha with the per-example shape and extent 1 on the shared axes.
  var expected = x.shape
  for a in try call.options.intList("shared_axes") ?? [] {
    guard a >= 1, a <= x.rank else { throw call.options.invalid("shared axis \(a)") }
    expected[a - 1] = 1
  }
  if alpha.rank == x.rank {
    try cx.check(alpha, expected, weight: "alpha", call: call)
    return try cx.emit(.prelu(alpha: alpha), call.inputs, name: call.name, call: call)
  }
  throw .weightShapeMismatch(
    file: cx.file, layer: call.spec.name, weight: "alpha", expected: expected.map { $0 ?? -1 },
    found: alpha.shape.dimensions)
}

private func convertZeroPadding(_ call: LayerCall, _ cx: inout Conversion, spatial d: Int)
  throws(KerasImportError) -> Value
{
  let o = call.options
  try requireRank(call, d + 1, what: call.spec.className)
  let pairs = try symmetricPairs(o, key: "padding", spatial: d, default: 1)
  return try cx.emit(
    .pad(
      before: try placeSpatial(pairs.map(\.0), call: call, d: d),
      after: try placeSpatial(pairs.map(\.1), call: call, d: d), value: 0),
    call.inputs, name: call.name, call: call)
}

private func convertCropping(_ call: LayerCall, _ cx: inout Conversion, spatial d: Int)
  throws(KerasImportError) -> Value
{
  let o = call.options
  try requireRank(call, d + 1, what: call.spec.className)
  let pairs = try symmetricPairs(o, key: "cropping", spatial: d, default: 0)
  let start = try placeSpatial(pairs.map(\.0), call: call, d: d)
  let cropEnd = try placeSpatial(pairs.map(\.1), call: call, d: d)
  var end = [Int]()
  for (i, extent) in call.input.shape.enumerated() {
    guard let extent else { throw o.unsupported("cropping an axis without a fixed extent") }
    end.append(extent - cropEnd[i])
  }
  return try cx.emit(.slice(start: start, end: end), call.inputs, name: call.name, call: call)
}

/// Keras padding/cropping arguments: `n`, `(a, b)` (1D: before/after; 2D: symmetric per
/// axis) or `((t, b), (l, r))`.
private func symmetricPairs(_ o: LayerOptions, key: String, spatial d: Int, default value: Int)
  throws(KerasImportError) -> [(Int, Int)]
{
  guard let v = o.config[key], v != .null else { return [(Int, Int)](repeating: (value, value), count: d) }
  if let n = v.int, n >= 0, n <= LayerOptions.integerBound {
    return [(Int, Int)](repeating: (n, n), count: d)
  }
  guard let a = v.array, (d == 1 && a.count == 2) || (d == 2 && a.count == 2) else {
    throw o.invalid("malformed '\(key)'")
  }
  var pairs = [(Int, Int)]()
  if d == 1 {
    guard let p = a[0].int, let q = a[1].int else { throw o.invalid("malformed '\(key)'") }
    pairs = [(p, q)]
  } else {
    for item in a {
      if let n = item.int {
        pairs.append((n, n))
      } else if let pair = item.array, pair.count == 2, let p = pair[0].int, let q = pair[1].int {
        pairs.append((p, q))
      } else {
        throw o.invalid("malformed '\(key)'")
      }
    }
  }
  let bound = LayerOptions.integerBound
  guard pairs.allSatisfy({ $0.0 >= 0 && $0.1 >= 0 && $0.0 <= bound && $0.1 <= bound }) else {
    throw o.invalid("negative or implausible '\(key)'")
  }
  return pairs
}

/// Spreads per-spatial-axis values over the per-example axes (0 on the channel axis).
private func placeSpatial(_ values: [Int], call: LayerCall, d: Int) throws(KerasImportError) -> [Int] {
  try call.options.channelsFirst() ? [0] + values : values + [0]
}

private func convertConcatenate(_ call: LayerCall, _ cx: inout Conversion) throws(KerasImportError) -> Value {
  let axis = try call.options.int("axis", default: -1)
  guard call.inputs.count >= 1 else { throw call.options.invalid("no inputs") }
  guard let full = fullAxis(axis, rank: call.input.rank) else {
    throw call.options.unsupported("concatenation axis \(axis) for inputs of rank \(call.input.rank + 1)")
  }
  return try cx.emit(.concat(axis: full), call.inputs, name: call.name, call: call)
}

private func convertMerge(_ call: LayerCall, _ cx: inout Conversion, op: Op) throws(KerasImportError) -> Value
{
  if case .subtract = op, call.inputs.count != 2 {
    throw call.options.invalid("Subtract needs exactly two inputs, got \(call.inputs.count)")
  }
  guard call.inputs.count >= 2 else { throw call.options.invalid("a merge needs at least two inputs") }
  return try cx.emit(op, call.inputs, name: call.name, call: call)
}

private func convertRescaling(_ call: LayerCall, _ cx: inout Conversion) throws(KerasImportError) -> Value {
  // `y = x·scale + offset`, each a number or one value per channel (last axis).
  let o = call.options
  guard let scale = o.isAbsent("scale") ? [1] : numbers(o.config["scale"]),
    let offset = o.isAbsent("offset") ? [0] : numbers(o.config["offset"])
  else { throw o.invalid("'scale' and 'offset' must be numbers or lists of numbers") }
  let rank = call.input.rank
  let channels = max(scale.count, offset.count)
  guard scale.count == 1 || offset.count == 1 || scale.count == offset.count, rank >= 1,
    channels == 1 || call.input.shape[rank - 1] == nil || call.input.shape[rank - 1] == channels,
    (scale + offset).allSatisfy(\.isFinite)
  else { throw o.unsupported("scale \(scale) / offset \(offset) for an input of shape \(call.input.shape)") }
  let shape = Shape([Int](repeating: 1, count: max(rank - 1, 0)) + [channels])
  func spread(_ v: [Double]) -> Tensor {
    Tensor(shape: shape, scalars: (0..<channels).map { Float(v.count == 1 ? v[0] : v[$0]) })
  }
  return try cx.emit(.affine(scale: spread(scale), offset: spread(offset)), call.inputs, name: call.name, call: call)
}
