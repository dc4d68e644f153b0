import Foundation
import LiftNN
import LiftTensor

// Converters for the layers keras.applications and decoders add around the classic ones:
// the Normalization preprocessing layer, UpSampling1D/2D, Conv1D/2DTranspose and tf-keras'
// TFOpLambda arithmetic (`x + 3`, `x * (1/6)` in MobileNetV3's hard-swish).

/// A number or a list of numbers from a JSON value (`[0.1, 0.2, 0.3]`, `3.0`, Keras 3's
/// `{"class_name": "__numpy__", "config": {"value": …}}`); nil when it is neither.
func numbers(_ v: JSONValue?) -> [Double]? {
  guard let v, v != .null else { return nil }
  if let d = v.double { return [d] }
  if let inner = v["config"]?["value"], v["class_name"]?.string == "__numpy__" { return numbers(inner) }
  guard let a = v.array, a.count <= LayerOptions.integerBound else { return nil }
  var out = [Double]()
  for x in a {
    // Nested lists (a [1, 1, 3] mean): flattened in row-major order.
    if let d = x.double {
      out.append(d)
    } else if let inner = numbers(x), x.array != nil {
      out += inner
    } else {
      return nil
    }
  }
  return out
}

/// `Normalization(axis, mean, variance, invert=False)`: `y = (x − mean) / max(√variance, ε)`
/// with Keras' ε = 1e-7 (tf-keras and Keras 3), the statistics from the config or the layer's
/// `mean`/`variance` weights, per position of the kept `axis` (default the last) → affine.
func convertNormalization(_ call: LayerCall, _ cx: inout Conversion) throws(KerasImportError) -> Value {
  let o = call.options
  if try o.bool("invert", default: false) {
    throw o.unsupported("Normalization with invert=True (the inverse map, y = x·√variance + mean) is not supported")
  }
  let rank = call.input.rank
  // Kept axes (per-example indices); `axis: null` means one scalar mean and variance.
  var kept = [Int]()
  if o.config["axis"] != .null {
    for a in try o.intList("axis") ?? [-1] {
      guard let full = fullAxis(a, rank: rank) else {
        throw o.unsupported("axis \(a) for an input of rank \(rank + 1)")
      }
      guard !kept.contains(full - 1) else { throw o.invalid("repeated axis \(a)") }
      kept.append(full - 1)
    }
    kept.sort()
  }
  var extents = [Int]()
  for a in kept {
    guard let e = call.input.shape[a] else {
      throw o.unsupported("normalised axis \(a + 1) has no fixed extent in the input")
    }
    extents.append(e)
  }
  guard let count = Shape.checkedCount(extents), count <= LayerOptions.integerBound else {
    throw o.invalid("implausible normalised extents \(extents)")
  }
  var mean: [Double], variance: [Double]
  if let m = numbers(o.config["mean"]), let v = numbers(o.config["variance"]) {
    mean = m
    variance = v
  } else if o.isAbsent("mean") && o.isAbsent("variance") {
    let w = try cx.weights(call, expected: ["mean", "variance", "count"])
    mean = w["mean"]!.scalars.map(Double.init)
    variance = w["variance"]!.scalars.map(Double.init)
  } else {
    throw o.invalid("'mean' and 'variance' must both be numbers or lists of numbers")
  }
  // A single value applies to every kept position (Keras broadcasts it).
  if mean.count == 1 { mean = [Double](repeating: mean[0], count: count) }
  if variance.count == 1 { variance = [Double](repeating: variance[0], count: count) }
  guard mean.count == count, variance.count == count else {
    throw .weightShapeMismatch(
      file: cx.file, layer: call.spec.name, weight: mean.count == count ? "variance" : "mean", expected: extents,
      found: [mean.count == count ? variance.count : mean.count])
  }
  var scales = [Float](), offsets = [Float]()
  for i in 0..<count {
    guard variance[i] >= 0, mean[i].isFinite, variance[i].isFinite else {
      throw o.invalid("mean \(mean[i]) / variance \(variance[i]) at position \(i)")
    }
    let s = 1 / max(variance[i].squareRoot(), 1e-7)
    scales.append(Float(s))
    offsets.append(Float(-mean[i] * s))
  }
  var shape = [Int](repeating: 1, count: rank)
  for (a, e) in zip(kept, extents) { shape[a] = e }
  return try cx.emit(
    .affine(scale: Tensor(shape: Shape(shape), scalars: scales), offset: Tensor(shape: Shape(shape), scalars: offsets)),
    call.inputs, name: call.name, call: call)
}

/// `UpSampling1D(size)` (repeat each step), `UpSampling2D(size, interpolation)`: nearest
/// (each pixel repeated, asymmetric coordinates rounded down) or bilinear (TensorFlow's
/// `half_pixel_centers` resize); channels-first inputs are transposed around it.
func convertUpSampling(_ call: LayerCall, _ cx: inout Conversion, spatial d: Int) throws(KerasImportError) -> Value {
  let o = call.options
  try requireRank(call, d + 1, what: call.spec.className)
  let size = d == 1 ? [try o.int("size", default: 2)] : try o.ints("size", count: 2, default: [2, 2])
  guard size.allSatisfy({ $0 >= 1 && $0 <= 1 << 20 }) else { throw o.invalid("size \(size)") }
  let interpolation = d == 1 ? "nearest" : try o.string("interpolation", default: "nearest").lowercased()
  let p: ResizeParameters
  switch interpolation {
  case "nearest":
    p = ResizeParameters(mode: .nearest(.floor), coordinates: .asymmetric, scales: size.map(Float.init))
  case "bilinear":
    p = ResizeParameters(mode: .linear, coordinates: .halfPixel, scales: size.map(Float.init))
  default:
    throw o.unsupported("interpolation '\(interpolation)' (nearest and bilinear are supported)")
  }
  guard d == 2, try o.channelsFirst() else { return try cx.emit(.resize(p), call.inputs, name: call.name, call: call) }
  let x = try cx.emit(
    .transpose(toChannelsLast(rank: d + 1)), [call.input], name: call.name + "/channels_last", call: call)
  let y = try cx.emit(.resize(p), [x], name: call.name + "/channels_last_output", call: call)
  return try cx.emit(.transpose(toChannelsFirst(rank: d + 1)), [y], name: call.name, call: call)
}

/// `Conv1DTranspose` / `Conv2DTranspose`: kernel `[k…, filters, C_in]` (already the IR's
/// transposed-convolution layout), padding `valid` (`out = s·(in − 1) + k_eff`, or `in·s`
/// when the dilated kernel is shorter than the stride) or `same` (`out = in·s`); with
/// `output_padding` (each below its stride) Keras' `(in − 1)·s + k_eff − 2·p + output_padding`
/// and TensorFlow's pads.
func convertConvTranspose(_ call: LayerCall, _ cx: inout Conversion, spatial d: Int) throws(KerasImportError) -> Value
{
  let o = call.options
  try requireRank(call, d + 1, what: call.spec.className)
  let filters = try o.int("filters")
  let size = try o.ints("kernel_size", count: d)
  let strides = try o.ints("strides", count: d, default: [Int](repeating: 1, count: d))
  let dilations = try o.ints("dilation_rate", count: d, default: [Int](repeating: 1, count: d))
  let padding = try paddingMode(call, allowCausal: false)
  guard filters >= 1, (size + strides + dilations).allSatisfy({ $0 >= 1 }) else {
    throw o.invalid("non-positive kernel_size/strides/dilation_rate/filters")
  }
  let requestedPadding = o.isAbsent("output_padding") ? nil : try o.ints("output_padding", count: d)
  if let p = requestedPadding, zip(p, strides).contains(where: { $0 < 0 || $0 >= $1 }) {
    throw o.invalid("output_padding \(p) must lie in 0..<strides \(strides)")
  }
  if try o.int("groups", default: 1) != 1 { throw o.unsupported("groups ≠ 1") }
  let channelsFirst = try o.channelsFirst()
  var x = call.input
  if channelsFirst {
    x = try cx.emit(.transpose(toChannelsLast(rank: d + 1)), [x], name: call.name + "/channels_last", call: call)
  }
  let useBias = try o.bool("use_bias", default: true)
  let w = try cx.weights(call, expected: ["kernel"] + (useBias ? ["bias"] : []))
  let kernel = w["kernel"]!
  try cx.check(kernel, size + [filters, x.shape.last!], weight: "kernel", call: call)
  let bias = useBias ? w["bias"] : nil
  if let bias { try cx.check(bias, [filters], weight: "bias", call: call) }
  var outputPadding = [Int](repeating: 0, count: d)
  let pad: Padding
  if let requested = requestedPadding {
    // Keras: out = (in − 1)·s + k_eff − 2·p + output_padding, p = k_eff / 2 (same) or 0
    // (valid); TensorFlow then pads as a convolution from `out` to `in` would:
    // total = max((in − 1)·s + k_eff − out, 0), the smaller half before.
    let extents = Array(x.shape.dropLast())
    guard extents.allSatisfy({ $0 != nil }) else { throw o.unsupported("output_padding with an input extent left open") }
    var before = [Int](), after = [Int]()
    for i in 0..<d {
      let effective = (size[i] - 1) * dilations[i] + 1
      let p = padding == "same" ? effective / 2 : 0
      let full = (extents[i]! - 1) * strides[i] + effective
      let out = full - 2 * p + requested[i]
      let total = max(full - out, 0)
      before.append(total / 2)
      after.append(total - total / 2)
      outputPadding[i] = out - (full - total)
    }
    pad = .explicit(before: before, after: after)
  } else if padding == "same" {
    pad = .same
  } else {
    pad = .explicit(before: [Int](repeating: 0, count: d), after: [Int](repeating: 0, count: d))
    // Keras: in·s + max(k_eff − s, 0): the extra max(s − k_eff, 0) positions get the bias only.
    for i in 0..<d { outputPadding[i] = max(strides[i] - ((size[i] - 1) * dilations[i] + 1), 0) }
  }
  let parameters = ConvParameters(strides: strides, dilations: dilations, padding: pad)
  let outputName = channelsFirst ? call.name + "/channels_last_output" : call.name
  let y = try cx.emitWithActivation(
    .convTranspose(weight: kernel, bias: bias, parameters: parameters, outputPadding: outputPadding), input: x,
    call: call, outputName: outputName)
  guard channelsFirst else { return y }
  return try cx.emit(.transpose(toChannelsFirst(rank: d + 1)), [y], name: call.name, call: call)
}

/// tf-keras `TFOpLambda`: a TensorFlow function applied to a Keras tensor, saved as its name
/// (`function`) and its other arguments (the call's keyword arguments). The arithmetic with
/// constants that keras.applications writes maps onto existing ops:
/// `__operators__.add`/`math.add` (`x + y`), `__operators__.sub`/`math.subtract`,
/// `math.multiply`/`__operators__.mul` (`x·y`), `math.truediv`/`__operators__.truediv`
/// (`x / y`) with `y` a number or a per-channel list → affine; `nn.relu6`, `nn.relu`,
/// `math.sigmoid`, `nn.silu`/`nn.swish` → activations. A tensor `y` (a product or sum of two
/// activations) is refused naming the layer.
func convertTFOpLambda(_ call: LayerCall, _ cx: inout Conversion) throws(KerasImportError) -> Value {
  let o = call.options
  let function = try o.string("function", default: "")
  let kwargs = call.keywordArguments
  // A tensor passed by keyword (`tf.math.multiply(x, y=other)`): an op of two activations.
  guard call.keywordInputNames.isEmpty else {
    throw o.unsupported(
      "TFOpLambda '\(function)' of two tensors (a product or sum of activations) is not supported; use a Multiply or Add layer")
  }
  func emitActivation(_ a: Activation) throws(KerasImportError) -> Value {
    try cx.emit(.activation(a), call.inputs, name: call.name, call: call)
  }
  switch function {
  case "nn.relu6": return try emitActivation(.clip(lower: 0, upper: 6))
  case "nn.relu": return try emitActivation(.relu)
  case "math.sigmoid", "nn.sigmoid", "sigmoid": return try emitActivation(.sigmoid)
  case "nn.silu", "nn.swish": return try emitActivation(.swish)
  case "math.tanh", "nn.tanh": return try emitActivation(.tanh)
  default: break
  }
  enum Arithmetic { case add, subtract, multiply, divide }
  let kind: Arithmetic
  switch function {
  case "__operators__.add", "math.add": kind = .add
  case "__operators__.sub", "math.subtract": kind = .subtract
  case "__operators__.mul", "math.multiply", "__operators__.multiply": kind = .multiply
  case "__operators__.truediv", "math.truediv", "math.divide": kind = .divide
  default:
    throw o.unsupported(
      "TFOpLambda function '\(function)' (supported: add, subtract, multiply and divide by constants; relu, relu6, sigmoid, silu, tanh); re-save the model with Keras layers instead of TensorFlow functions, or export it to ONNX")
  }
  guard call.inputs.count == 1 else {
    throw o.unsupported("TFOpLambda '\(function)' with \(call.inputs.count) tensor operands")
  }
  let operand = kwargs["y"]
  guard let values = numbers(operand) else {
    if operand?.array != nil || operand?.object != nil {
      throw o.unsupported(
        "TFOpLambda '\(function)' of two tensors (a product or sum of activations) is not supported; use a Multiply or Add layer")
    }
    throw o.invalid("TFOpLambda '\(function)' without a constant operand 'y'")
  }
  guard values.allSatisfy(\.isFinite), !(kind == .divide && values.contains(0)) else {
    throw o.invalid("operand \(values) of '\(function)'")
  }
  let x = call.input
  // A scalar, or one value per position of the last axis.
  let shape: [Int]
  if values.count == 1 {
    shape = [Int](repeating: 1, count: x.rank)
  } else {
    guard x.rank >= 1, x.shape.last! == nil || x.shape.last! == values.count else {
      throw o.unsupported("operand of \(values.count) values for an input of shape \(x.shape)")
    }
    shape = [Int](repeating: 1, count: x.rank - 1) + [values.count]
  }
  let scale: [Double], offset: [Double]
  switch kind {
  case .add: (scale, offset) = (values.map { _ in 1 }, values)
  case .subtract: (scale, offset) = (values.map { _ in 1 }, values.map { -$0 })
  case .multiply: (scale, offset) = (values, values.map { _ in 0 })
  case .divide: (scale, offset) = (values.map { 1 / $0 }, values.map { _ in 0 })
  }
  return try cx.emit(
    .affine(
      scale: Tensor(shape: Shape(shape), scalars: scale.map { Float($0) }),
      offset: Tensor(shape: Shape(shape), scalars: offset.map { Float($0) })),
    call.inputs, name: call.name, call: call)
}

/// tf-keras `SlicingOpLambda` (`x[:, 1:4]`, `x[..., 2]`): the call's `slice_spec` over the
/// full tensor's axes (batch first): slices with step 1 (or none), integer indices (the axis is
/// dropped) and one ellipsis. The batch axis must be kept whole. → `slice` (+ `reshape` when an
/// index drops an axis).
func convertSlicingOpLambda(_ call: LayerCall, _ cx: inout Conversion) throws(KerasImportError) -> Value {
  let o = call.options
  let function = try o.string("function", default: "__operators__.getitem")
  guard function == "__operators__.getitem" else { throw o.unsupported("SlicingOpLambda function '\(function)'") }
  let spec = call.keywordArguments["slice_spec"]
  // A single entry may be written without the list.
  guard let specValue = spec, specValue != .null else { throw o.invalid("no slice_spec") }
  let items = specValue.array ?? [specValue]
  let x = call.input
  let rank = x.rank + 1
  let ellipses = items.filter { $0["class_name"]?.string == "__ellipsis__" }.count
  guard ellipses <= 1, items.count - ellipses <= rank else {
    throw o.unsupported("slice_spec with \(items.count) entries for a tensor of rank \(rank)")
  }
  // One entry per full axis: the ellipsis stands for the axes the others leave.
  enum Entry { case all, range(Int?, Int?), index(Int) }
  var entries = [Entry]()
  for item in items {
    if item["class_name"]?.string == "__ellipsis__" {
      entries += [Entry](repeating: .all, count: rank - (items.count - 1))
    } else if let i = item.int {
      entries.append(.index(i))
    } else if item.object != nil {
      let step = item["step"]
      guard step == nil || step == .null || step?.int == 1 else {
        throw o.unsupported("slicing with a step other than 1 (\(items.count) entries)")
      }
      func bound(_ key: String) throws(KerasImportError) -> Int? {
        guard let v = item[key], v != .null else { return nil }
        guard let i = v.int, abs(i) <= LayerOptions.integerBound else { throw o.invalid("slice bound '\(key)'") }
        return i
      }
      let (start, stop) = (try bound("start"), try bound("stop"))
      entries.append(start == nil && stop == nil ? .all : .range(start, stop))
    } else {
      throw o.unsupported("slice_spec entry \(item) (slices, integers and ... are supported)")
    }
  }
  entries += [Entry](repeating: .all, count: rank - entries.count)
  guard case .all = entries[0] else { throw o.unsupported("slicing the batch axis") }
  var start = [Int](), end = [Int](), kept = [Int]()
  for (a, e) in entries.dropFirst().enumerated() {
    if case .all = e {
      start.append(0)
      guard let n = x.shape[a] else { throw o.unsupported("slicing next to an axis without a fixed extent") }
      end.append(n)
      kept.append(a)
      continue
    }
    guard let n = x.shape[a] else { throw o.unsupported("slicing an axis without a fixed extent") }
    func resolve(_ v: Int) -> Int { min(max(v < 0 ? v + n : v, 0), n) }
    switch e {
    case .all: break
    case .range(let s, let t):
      let lo = resolve(s ?? 0), hi = resolve(t ?? n)
      guard lo < hi else { throw o.unsupported("an empty slice \(lo)..<\(hi) of axis \(a + 1)") }
      start.append(lo)
      end.append(hi)
      kept.append(a)
    case .index(let i):
      guard i >= -n, i < n else { throw o.invalid("index \(i) out of range for axis \(a + 1) of extent \(n)") }
      let j = i < 0 ? i + n : i
      start.append(j)
      end.append(j + 1)
    }
  }
  let dropsAxes = kept.count < x.rank
  let sliced = try cx.emit(
    .slice(start: start, end: end), call.inputs, name: dropsAxes ? call.name + "/slice" : call.name, call: call)
  guard dropsAxes else { return sliced }
  let target = kept.map { end[$0] - start[$0] }
  return try cx.emit(.reshape(target.isEmpty ? [1] : target), [sliced], name: call.name, call: call)
}
