import Foundation
import LiftNN
import LiftTensor

/// Converts one ONNX node whose inputs are already in the context into a ``Value`` for its
/// first output, emitting graph nodes as needed.
typealias ConvertFunction =
  @Sendable (Onnx_NodeProto, inout ConversionContext) throws(ONNXImportError) -> Value

/// A converter for the ONNX operator semantics introduced at `sinceVersion`.
struct OperatorConverter: Sendable {
  var sinceVersion: Int
  var convert: ConvertFunction
}

/// `op_type` → converters sorted by `sinceVersion`, newest last; the newest one at or below the
/// model's opset wins. Versions are listed where the semantics this importer relies on changed
/// (attributes moved to inputs, Softmax's axis meaning, …).
let converters: [String: [OperatorConverter]] = [
  // Linear algebra
  "Gemm": [OperatorConverter(sinceVersion: 1, convert: convertGemm)],
  "MatMul": [OperatorConverter(sinceVersion: 1, convert: convertMatMul)],
  "Einsum": [OperatorConverter(sinceVersion: 12, convert: convertEinsum)],
  "Conv": [OperatorConverter(sinceVersion: 1, convert: convertConv)],
  "BatchNormalization": [OperatorConverter(sinceVersion: 1, convert: convertBatchNormalization)],
  // Activations
  "Relu": [OperatorConverter(sinceVersion: 1, convert: activation { _, _ in .relu })],
  "Sigmoid": [OperatorConverter(sinceVersion: 1, convert: activation { _, _ in .sigmoid })],
  "Tanh": [OperatorConverter(sinceVersion: 1, convert: activation { _, _ in .tanh })],
  "Softplus": [OperatorConverter(sinceVersion: 1, convert: activation { _, _ in .softplus })],
  "LeakyRelu": [
    OperatorConverter(
      sinceVersion: 1, convert: activation { a, _ in .leakyRelu(alpha: a.float("alpha", 0.01)) })
  ],
  "Elu": [
    OperatorConverter(sinceVersion: 1, convert: activation { a, _ in .elu(alpha: a.float("alpha", 1)) })
  ],
  "Selu": [OperatorConverter(sinceVersion: 1, convert: convertSelu)],
  "Gelu": [OperatorConverter(sinceVersion: 20, convert: convertGelu)],
  "Clip": [OperatorConverter(sinceVersion: 1, convert: convertClip)],
  "HardSigmoid": [
    OperatorConverter(
      sinceVersion: 1,
      convert: activation { a, _ in .hardSigmoid(alpha: a.float("alpha", 0.2), beta: a.float("beta", 0.5)) })
  ],
  "HardSwish": [OperatorConverter(sinceVersion: 14, convert: activation { _, _ in .hardSwish })],
  "Mish": [OperatorConverter(sinceVersion: 18, convert: activation { _, _ in .mish })],
  "Reciprocal": [OperatorConverter(sinceVersion: 6, convert: activation { _, _ in .reciprocal })],
  "PRelu": [OperatorConverter(sinceVersion: 1, convert: convertPRelu)],
  "Softmax": [
    OperatorConverter(sinceVersion: 1, convert: convertSoftmaxFlattening),
    OperatorConverter(sinceVersion: 13, convert: convertSoftmax),
  ],
  // Pooling and reductions
  "MaxPool": [OperatorConverter(sinceVersion: 1, convert: pooling(max: true))],
  "AveragePool": [OperatorConverter(sinceVersion: 1, convert: pooling(max: false))],
  "GlobalAveragePool": [OperatorConverter(sinceVersion: 1, convert: globalPooling(max: false))],
  "GlobalMaxPool": [OperatorConverter(sinceVersion: 1, convert: globalPooling(max: true))],
  "ReduceMean": [
    OperatorConverter(sinceVersion: 1, convert: reduction(.mean, axesAsInput: false)),
    OperatorConverter(sinceVersion: 18, convert: reduction(.mean, axesAsInput: true)),
  ],
  "ReduceMax": [
    OperatorConverter(sinceVersion: 1, convert: reduction(.max, axesAsInput: false)),
    OperatorConverter(sinceVersion: 18, convert: reduction(.max, axesAsInput: true)),
  ],
  "ReduceSum": [
    OperatorConverter(sinceVersion: 1, convert: reduction(.sum, axesAsInput: false)),
    OperatorConverter(sinceVersion: 13, convert: reduction(.sum, axesAsInput: true)),
  ],
  "ReduceLogSumExp": [
    OperatorConverter(sinceVersion: 1, convert: reduction(.logSumExp, axesAsInput: false)),
    OperatorConverter(sinceVersion: 18, convert: reduction(.logSumExp, axesAsInput: true)),
  ],
  // Shapes and layout
  "Flatten": [OperatorConverter(sinceVersion: 1, convert: convertFlatten)],
  "Reshape": [OperatorConverter(sinceVersion: 5, convert: convertReshape)],
  "Transpose": [OperatorConverter(sinceVersion: 1, convert: convertTranspose)],
  "Squeeze": [
    OperatorConverter(sinceVersion: 1, convert: squeeze(unsqueeze: false, axesAsInput: false)),
    OperatorConverter(sinceVersion: 13, convert: squeeze(unsqueeze: false, axesAsInput: true)),
  ],
  "Unsqueeze": [
    OperatorConverter(sinceVersion: 1, convert: squeeze(unsqueeze: true, axesAsInput: false)),
    OperatorConverter(sinceVersion: 13, convert: squeeze(unsqueeze: true, axesAsInput: true)),
  ],
  "Concat": [OperatorConverter(sinceVersion: 4, convert: convertConcat)],
  "Pad": [OperatorConverter(sinceVersion: 11, convert: convertPad)],
  "Slice": [OperatorConverter(sinceVersion: 10, convert: convertSlice)],
  "Shape": [OperatorConverter(sinceVersion: 1, convert: convertShape)],
  "Gather": [OperatorConverter(sinceVersion: 1, convert: convertGather)],
  "GatherElements": [OperatorConverter(sinceVersion: 11, convert: convertGatherElements)],
  "Cast": [OperatorConverter(sinceVersion: 1, convert: convertCast)],
  "Constant": [OperatorConverter(sinceVersion: 1, convert: convertConstant)],
  "ConstantOfShape": [OperatorConverter(sinceVersion: 9, convert: convertConstantOfShape)],
  "Identity": [OperatorConverter(sinceVersion: 1, convert: convertIdentity)],
  "Dropout": [OperatorConverter(sinceVersion: 1, convert: convertIdentity)],
  // Elementwise arithmetic
  "Add": [OperatorConverter(sinceVersion: 7, convert: arithmetic(.add))],
  "Sub": [OperatorConverter(sinceVersion: 7, convert: arithmetic(.subtract))],
  "Mul": [OperatorConverter(sinceVersion: 7, convert: arithmetic(.multiply))],
  "Div": [OperatorConverter(sinceVersion: 7, convert: arithmetic(.divide))],
  "Neg": [OperatorConverter(sinceVersion: 1, convert: convertNeg)],
  "Sum": [OperatorConverter(sinceVersion: 8, convert: variadic(.add))],
  "Mean": [OperatorConverter(sinceVersion: 8, convert: variadic(.average))],
  "Max": [OperatorConverter(sinceVersion: 8, convert: variadic(.maximum))],
  "Min": [OperatorConverter(sinceVersion: 8, convert: variadic(.minimum))],
  "Exp": [OperatorConverter(sinceVersion: 1, convert: unary(.exp))],
  "Log": [OperatorConverter(sinceVersion: 1, convert: unary(.log))],
  "Sqrt": [OperatorConverter(sinceVersion: 1, convert: unary(.sqrt))],
  "Pow": [OperatorConverter(sinceVersion: 7, convert: convertPow)],
  // Resampling (ResamplingConverters.swift)
  "Resize": [
    OperatorConverter(sinceVersion: 10, convert: convertResize10),
    OperatorConverter(sinceVersion: 11, convert: convertResize),
  ],
  "Upsample": [OperatorConverter(sinceVersion: 7, convert: convertUpsample)],
  "ConvTranspose": [OperatorConverter(sinceVersion: 1, convert: convertConvTranspose)],
  // Shape arithmetic folded at import, and Split (ShapeFolding.swift)
  "Equal": [OperatorConverter(sinceVersion: 1, convert: comparison("Equal"))],
  "Less": [OperatorConverter(sinceVersion: 1, convert: comparison("Less"))],
  "Greater": [OperatorConverter(sinceVersion: 1, convert: comparison("Greater"))],
  "Not": [OperatorConverter(sinceVersion: 1, convert: unaryFold { $0 == 0 ? 1 : 0 })],
  "Where": [OperatorConverter(sinceVersion: 9, convert: convertWhere)],
  "Mod": [OperatorConverter(sinceVersion: 10, convert: convertMod)],
  "Range": [OperatorConverter(sinceVersion: 11, convert: convertRange)],
  "Expand": [OperatorConverter(sinceVersion: 8, convert: convertExpand)],
  "Floor": [OperatorConverter(sinceVersion: 1, convert: unaryFold({ $0.rounded(.down) }, keepsMarker: true))],
  "Ceil": [OperatorConverter(sinceVersion: 1, convert: unaryFold({ $0.rounded(.up) }, keepsMarker: true))],
  "Split": [OperatorConverter(sinceVersion: 2, convert: convertSplit)],
  "ScatterND": [OperatorConverter(sinceVersion: 11, convert: convertScatterND)],
  // Recurrent layers, unrolled over time (RecurrentConverters.swift)
  "LSTM": [OperatorConverter(sinceVersion: 7, convert: convertRecurrent)],
  "GRU": [OperatorConverter(sinceVersion: 7, convert: convertRecurrent)],
  "RNN": [OperatorConverter(sinceVersion: 7, convert: convertRecurrent)],
  // Normalisations
  "LayerNormalization": [OperatorConverter(sinceVersion: 17, convert: convertNormalization(rms: false))],
  "RMSNormalization": [OperatorConverter(sinceVersion: 23, convert: convertNormalization(rms: true))],
]

/// The converter for `node` at `opset`.
///
/// - Throws: ``ONNXImportError/unsupportedOperator(opType:node:opset:)`` when there is none.
func converter(for node: Onnx_NodeProto, opset: Int) throws(ONNXImportError) -> OperatorConverter {
  guard let match = converters[node.opType]?.last(where: { $0.sinceVersion <= opset }) else {
    throw .unsupportedOperator(opType: node.opType, node: displayName(node), opset: opset)
  }
  return match
}

/// The operator types the importer converts (for documentation and `deeplift inspect`).
public var supportedONNXOperators: [String] { converters.keys.sorted() }

// MARK: - Linear algebra

func convertGemm(_ node: Onnx_NodeProto, _ ctx: inout ConversionContext) throws(ONNXImportError) -> Value {
  let a = Attributes(node)
  let x = try ctx.graphInput(node, 0)
  guard a.int("transA", 0) == 0 else { throw usage(node, "transA=1 would transpose the batch axis") }
  // (With the batch merged into axis 0 — torch attention's (L·N, E) — the node holds more
  // axes; the product still acts on the last.)
  guard ctx.logicalShape(x.id, x.shape).count == 2 else {
    throw usage(node, "input A must be 2-D (batch, features), has per-example shape \(x.shape)")
  }
  let b = try ctx.constantInput(node, 1)
  guard b.rank == 2 else { throw usage(node, "B must be a 2-D constant, has shape \(b.dims)") }
  let alpha = Double(a.float("alpha", 1))
  let beta = Double(a.float("beta", 1))
  // Keras layout [in, out]: B as is, or Bᵀ with transB.
  var w = b.tensor()
  if a.int("transB", 0) != 0 { w = transposed(w, permutation: [1, 0]) }
  if alpha != 1 { w = w.map { Float(alpha * Double($0)) } }
  let outF = w.shape[1]
  var bias: Tensor?
  if let c = try ctx.optionalConstant(node, 2) {
    guard c.count == 1 || c.dims.last == outF, c.count == 1 || c.count == outF else {
      throw usage(node, "bias C of shape \(c.dims) is not a per-output vector of \(outF)")
    }
    let values = c.count == 1 ? [Double](repeating: c.values[0], count: outF) : c.values
    bias = Tensor(shape: [outF], scalars: values.map { Float(beta * $0) })
  }
  return try ctx.emit(
    .dense(weight: w, bias: bias), inputs: [x.id], name: node.output[0], origin: "Gemm", onnxNode: node)
}

func convertMatMul(_ node: Onnx_NodeProto, _ ctx: inout ConversionContext) throws(ONNXImportError) -> Value {
  if case .node(let a, let sa) = try ctx.value(node, 0), case .node(let b, let sb) = try ctx.value(node, 1) {
    // Both operands computed from the inputs: a product of activations (attention's Q·Kᵀ).
    guard sa.count >= 2, sb.count == sa.count else {
      throw usage(
        node,
        "a product of two graph tensors needs operands of one rank with a matrix per example (batch axis first, never contracted); per-example shapes are \(sa) and \(sb)")
    }
    // Operands held in a batch view (Swin's windows merged with the batch, `(N·h, L, d)`
    // heads): the matrix product acts on the last two node axes, which are the last two ONNX
    // axes only when the batch lies before them, and the operands' examples line up only when
    // both views agree.
    let view = ctx.view(a)
    guard ctx.view(b) == view else { throw usage(node, "operands with their batch axes in different places") }
    guard view.isNormal || view.axis < sa.count - 3 else {
      throw usage(node, "the batch axis is one of the multiplied matrix axes")
    }
    return try ctx.emit(.matmul, inputs: [a, b], name: node.output[0], origin: "MatMul", onnxNode: node)
  }
  let x = try ctx.graphInput(node, 0)
  let w = try ctx.constantInput(node, 1)
  guard w.rank == 2 else {
    throw usage(node, "the second operand must be a 2-D constant, has shape \(w.dims)")
  }
  guard x.shape.count >= 1 else { throw usage(node, "the first operand needs a feature axis") }
  return try ctx.emit(
    .dense(weight: w.tensor(), bias: nil), inputs: [x.id], name: node.output[0], origin: "MatMul",
    onnxNode: node)
}

/// Explicit pads `(before, after)` per spatial axis from `pads`/`auto_pad` (ONNX semantics:
/// SAME_UPPER puts the odd element after, SAME_LOWER before).
func spatialPads(
  _ a: Attributes, input: [Int], kernel: [Int], strides: [Int], dilations: [Int], _ node: Onnx_NodeProto
) throws(ONNXImportError) -> (before: [Int], after: [Int]) {
  let d = input.count
  guard kernel.count == d, strides.count == d, dilations.count == d,
    (kernel + strides + dilations).allSatisfy({ $0 >= 1 })
  else {
    throw usage(
      node,
      "kernel \(kernel), strides \(strides) and dilations \(dilations) must be positive, one per spatial axis"
    )
  }
  try checkExtents(kernel, minimum: 1, "kernel", node)
  try checkExtents(strides, minimum: 1, "strides", node)
  try checkExtents(dilations, minimum: 1, "dilations", node)
  let mode = a.string("auto_pad") ?? "NOTSET"
  switch mode {
  case "NOTSET", "":
    let pads = a.ints("pads") ?? [Int](repeating: 0, count: 2 * d)
    guard pads.count == 2 * d, pads.allSatisfy({ $0 >= 0 }) else { throw usage(node, "bad pads \(pads)") }
    try checkExtents(pads, "pads", node)
    return (Array(pads[..<d]), Array(pads[d...]))
  case "VALID":
    return ([Int](repeating: 0, count: d), [Int](repeating: 0, count: d))
  case "SAME_UPPER", "SAME_LOWER":
    var before = [Int]()
    var after = [Int]()
    for i in 0..<d {
      // All terms are at most 2³¹ (checked above), so no product exceeds 2⁶²; (out − 1)·s − in
      // lies in (−s, 0], so adding the window extent last cannot overflow either.
      let out = (input[i] + strides[i] - 1) / strides[i]
      let total = max((out - 1) * strides[i] - input[i] + (kernel[i] - 1) * dilations[i] + 1, 0)
      let small = total / 2
      if mode == "SAME_UPPER" {
        before.append(small)
        after.append(total - small)
      } else {
        before.append(total - small)
        after.append(small)
      }
    }
    return (before, after)
  default:
    throw usage(node, "auto_pad \(mode) is not supported")
  }
}

/// What `Conv` and `ConvTranspose` read alike, checked: the graph input `x` with `d` (1 or 2)
/// spatial axes, the constant weight `w` (`[·, ·, k…]`), its kernel, `group`, `strides` and
/// `dilations` (one per spatial axis, defaults 1). `what` names the op in messages.
func convAttributes(_ node: Onnx_NodeProto, _ ctx: inout ConversionContext, what: String) throws(ONNXImportError)
  -> (x: (id: NodeID, shape: [Int]), d: Int, w: Constant, kernel: [Int], groups: Int, strides: [Int], dilations: [Int])
{
  let a = Attributes(node)
  let x = try ctx.graphInput(node, 0)
  let d = x.shape.count - 1
  guard d == 1 || d == 2 else {
    throw usage(node, "only 1-D and 2-D \(what)s are supported (input per-example shape \(x.shape))")
  }
  let w = try ctx.constantInput(node, 1)
  guard w.rank == d + 2 else { throw usage(node, "weight of shape \(w.dims) for a \(d)-D \(what)") }
  let kernel = Array(w.dims[2...])
  if let k = a.ints("kernel_shape"), k != kernel {
    throw usage(node, "kernel_shape \(k) differs from the weight \(w.dims)")
  }
  let groups = a.int("group", 1)
  let strides = a.ints("strides") ?? [Int](repeating: 1, count: d)
  let dilations = a.ints("dilations") ?? [Int](repeating: 1, count: d)
  guard strides.count == d, dilations.count == d, groups >= 1 else {
    throw usage(node, "bad strides \(strides), dilations \(dilations) or group \(groups)")
  }
  try checkExtents([groups], minimum: 1, "group", node)
  return (x, d, w, kernel, groups, strides, dilations)
}

func convertConv(_ node: Onnx_NodeProto, _ ctx: inout ConversionContext) throws(ONNXImportError) -> Value {
  let a = Attributes(node)
  let (x, d, w, kernel, groups, strides, dilations) = try convAttributes(node, &ctx, what: "convolution")
  let (before, after) = try spatialPads(
    a, input: Array(x.shape[1...]), kernel: kernel, strides: strides, dilations: dilations, node)
  // [C_out, C_in/g, k…] → [k…, C_in/g, C_out] (the IR's Keras HWIO layout).
  let weight = transposed(w.tensor(), permutation: Array(2..<(d + 2)) + [1, 0])
  var bias: Tensor?
  if let b = try ctx.optionalConstant(node, 2) {
    guard b.count == w.dims[0] else { throw usage(node, "bias of shape \(b.dims) for \(w.dims[0]) filters") }
    bias = b.tensor(shape: [b.count])
  }
  let parameters = ConvParameters(
    strides: strides, dilations: dilations, padding: .explicit(before: before, after: after), groups: groups)
  return try ctx.emitChannelsLast(
    .conv(weight: weight, bias: bias, parameters: parameters), input: x, node: node)
}

func convertBatchNormalization(_ node: Onnx_NodeProto, _ ctx: inout ConversionContext) throws(ONNXImportError)
  -> Value
{
  let a = Attributes(node)
  guard a.int("training_mode", 0) == 0 else { throw usage(node, "training_mode=1 is not an inference model") }
  // Before opset 9, spatial=0 normalised every position separately.
  guard a.int("spatial", 1) == 1 else { throw usage(node, "spatial=0 (per-position statistics) is not supported") }
  let x = try ctx.graphInput(node, 0)
  guard let c = x.shape.first else { throw usage(node, "needs a channel axis") }
  let eps = Double(a.float("epsilon", 1e-5))
  var p = [Constant]()
  for i in 1...4 {
    let t = try ctx.constantInput(node, i)
    guard t.count == c else { throw usage(node, "parameter \(i) of shape \(t.dims) for \(c) channels") }
    p.append(t)
  }
  var scale = [Float]()
  var offset = [Float]()
  for k in 0..<c {
    let s = p[0].values[k] / (p[3].values[k] + eps).squareRoot()
    scale.append(Float(s))
    offset.append(Float(p[1].values[k] - p[2].values[k] * s))
  }
  // Per-channel parameters on axis 1 of (N, C, S…): per-example shape [C, 1, …].
  let shape = Shape([c] + [Int](repeating: 1, count: x.shape.count - 1))
  return try ctx.emit(
    .affine(scale: Tensor(shape: shape, scalars: scale), offset: Tensor(shape: shape, scalars: offset)),
    inputs: [x.id], name: node.output[0], origin: "BatchNormalization", onnxNode: node)
}

// MARK: - Activations

func activation(_ make: @escaping @Sendable (Attributes, Onnx_NodeProto) -> Activation) -> ConvertFunction {
  { node, ctx throws(ONNXImportError) in
    let x = try ctx.graphInput(node, 0)
    return try ctx.emit(
      .activation(make(Attributes(node), node)), inputs: [x.id], name: node.output[0], origin: node.opType,
      onnxNode: node)
  }
}

func convertSelu(_ node: Onnx_NodeProto, _ ctx: inout ConversionContext) throws(ONNXImportError) -> Value {
  let a = Attributes(node)
  let alpha = a.float("alpha", 1.67326319217681884765625)
  let gamma = a.float("gamma", 1.05070102214813232421875)
  guard abs(alpha - Activation.seluAlpha) <= 1e-6 * Activation.seluAlpha,
    abs(gamma - Activation.seluScale) <= 1e-6 * Activation.seluScale
  else { throw usage(node, "Selu with alpha=\(alpha), gamma=\(gamma) differs from the standard constants") }
  let x = try ctx.graphInput(node, 0)
  return try ctx.emit(
    .activation(.selu), inputs: [x.id], name: node.output[0], origin: "Selu", onnxNode: node)
}

func convertGelu(_ node: Onnx_NodeProto, _ ctx: inout ConversionContext) throws(ONNXImportError) -> Value {
  let mode = Attributes(node).string("approximate") ?? "none"
  guard mode == "none" || mode == "tanh" else { throw usage(node, "approximate=\(mode) is not supported") }
  let x = try ctx.graphInput(node, 0)
  return try ctx.emit(
    .activation(.gelu(approximate: mode == "tanh")), inputs: [x.id], name: node.output[0], origin: "Gelu",
    onnxNode: node)
}

func convertClip(_ node: Onnx_NodeProto, _ ctx: inout ConversionContext) throws(ONNXImportError) -> Value {
  let a = Attributes(node)
  let x = try ctx.graphInput(node, 0)
  var lower = a.float("min", -.infinity)
  var upper = a.float("max", .infinity)
  for (i, isLower) in [(1, true), (2, false)] {
    guard let c = try ctx.optionalConstant(node, i) else { continue }
    guard c.count == 1 else { throw usage(node, "min/max must be scalars") }
    if isLower { lower = Float(c.values[0]) } else { upper = Float(c.values[0]) }
  }
  return try ctx.emit(
    .activation(.clip(lower: lower, upper: upper)), inputs: [x.id], name: node.output[0], origin: "Clip",
    onnxNode: node)
}

func convertPRelu(_ node: Onnx_NodeProto, _ ctx: inout ConversionContext) throws(ONNXImportError) -> Value {
  let x = try ctx.graphInput(node, 0)
  let slope = try exampleParameter(try ctx.constantInput(node, 1), example: x.shape, node)
  return try ctx.emit(
    .prelu(alpha: slope), inputs: [x.id], name: node.output[0], origin: "PRelu", onnxNode: node)
}

/// Softmax from opset 13: along one axis.
func convertSoftmax(_ node: Onnx_NodeProto, _ ctx: inout ConversionContext) throws(ONNXImportError) -> Value {
  let x = try ctx.graphInput(node, 0)
  let v = ctx.view(x.id)
  if !v.isNormal {
    // Batch axis elsewhere (Swin's windows, N·nW): an axis after it is the node's axis + 1.
    let r = ctx.logicalShape(x.id, x.shape).count
    let a = try normalizeAxis(Attributes(node).int("axis", -1), rank: r, node)
    guard a != v.axis else { throw usage(node, "softmax over the batch axis") }
    return try ctx.emitViewed(
      .softmax(axis: a < v.axis ? a + 1 : a + 2), input: x.id, view: v, name: node.output[0], node)
  }
  let axis = try normalizeAxis(Attributes(node).int("axis", -1), rank: x.shape.count + 1, node)
  guard axis >= 1 else { throw usage(node, "softmax over the batch axis") }
  return try ctx.emit(
    .softmax(axis: axis), inputs: [x.id], name: node.output[0], origin: "Softmax", onnxNode: node)
}

/// Softmax before opset 13: the input is flattened to 2-D at `axis` (default 1) and the
/// softmax runs over the second part. The last axis and axis 1 are expressible.
func convertSoftmaxFlattening(_ node: Onnx_NodeProto, _ ctx: inout ConversionContext) throws(ONNXImportError)
  -> Value
{
  let x = try ctx.graphInput(node, 0)
  let r = x.shape.count + 1
  let axis = try normalizeAxis(Attributes(node).int("axis", 1), rank: r, node)
  if axis == r - 1 {
    return try ctx.emit(
      .softmax(axis: axis), inputs: [x.id], name: node.output[0], origin: "Softmax", onnxNode: node)
  }
  guard axis == 1 else { throw usage(node, "opset<13 softmax over axes \(axis)…\(r - 1) is not supported") }
  let flat = try ctx.emit(
    .reshape([x.shape.reduce(1, *)]), inputs: [x.id], name: node.output[0] + ":flat",
    origin: "Softmax layout", onnxNode: node)
  guard case .node(let fid, _) = flat else { preconditionFailure() }
  let s = try ctx.emit(
    .softmax(axis: 1), inputs: [fid], name: node.output[0] + ":softmax", origin: "Softmax", onnxNode: node)
  guard case .node(let sid, _) = s else { preconditionFailure() }
  return try ctx.emit(
    .reshape(x.shape), inputs: [sid], name: node.output[0], origin: "Softmax layout", onnxNode: node)
}

// MARK: - Pooling and reductions

func pooling(max useMax: Bool) -> ConvertFunction {
  { node, ctx throws(ONNXImportError) in
    let a = Attributes(node)
    let x = try ctx.graphInput(node, 0)
    let d = x.shape.count - 1
    guard d == 1 || d == 2 else { throw usage(node, "only 1-D and 2-D pooling is supported") }
    guard let kernel = a.ints("kernel_shape"), kernel.count == d else {
      throw usage(node, "kernel_shape missing or wrong length")
    }
    let strides = a.ints("strides") ?? [Int](repeating: 1, count: d)
    guard strides.count == d else { throw usage(node, "bad strides \(strides)") }
    if let dil = a.ints("dilations"), dil.contains(where: { $0 != 1 }) {
      throw usage(node, "pooling dilations \(dil) are not supported")
    }
    let spatial = Array(x.shape[1...])
    let ones = [Int](repeating: 1, count: d)
    let (before, after) = try spatialPads(
      a, input: spatial, kernel: kernel, strides: strides, dilations: ones, node)
    let includePad = a.int("count_include_pad", 0) != 0
    // ceil_mode: ⌈(in + pads − k)/s⌉ + 1 windows, less one where the last would start past
    // the input and the front padding (torch's rule, which onnxruntime follows). The partial
    // last window reads past the padded end: extra padding after, which a max pool never
    // picks and an average pool leaves out of its divisor.
    var extra = [Int](repeating: 0, count: d)
    if a.int("ceil_mode", 0) != 0 {
      for i in 0..<d {
        let span = spatial[i] + before[i] + after[i] - kernel[i]
        guard span >= 0 else { continue }  // the window does not fit: refused below
        var windows = (span + strides[i] - 1) / strides[i] + 1
        if (windows - 1) * strides[i] >= spatial[i] + before[i] { windows -= 1 }
        extra[i] = max(0, (windows - 1) * strides[i] + kernel[i] - (spatial[i] + before[i] + after[i]))
      }
    }
    if includePad && !useMax && extra.contains(where: { $0 > 0 }) && (before + after).contains(where: { $0 > 0 }) {
      // count_include_pad counts the pads but not the ceil overhang (torch, onnxruntime): pad
      // with zeros first, then pool counting only the real (now padded) input.
      guard case .node(let padded, let shape) = try ctx.emit(
        .pad(before: [0] + before, after: [0] + after, value: 0), inputs: [x.id],
        name: node.output[0] + ":pads", origin: "AveragePool padding", onnxNode: node)
      else { preconditionFailure() }
      let p = PoolParameters(
        size: kernel, strides: strides, padding: .explicit(before: ones.map { _ in 0 }, after: extra),
        countIncludePad: false)
      return try ctx.emitChannelsLast(.averagePool(p), input: (padded, shape), node: node)
    }
    let p = PoolParameters(
      size: kernel, strides: strides, padding: .explicit(before: before, after: zip(after, extra).map { $0 + $1 }),
      countIncludePad: includePad && !extra.contains(where: { $0 > 0 }))
    return try ctx.emitChannelsLast(useMax ? .maxPool(p) : .averagePool(p), input: x, node: node)
  }
}

/// Channels-last global pooling followed by a reshape to ONNX's `(N, C, 1, …)` (or `(N, C)`).
func emitGlobalPool(
  max useMax: Bool, input x: (id: NodeID, shape: [Int]), keepDims: Bool, _ node: Onnx_NodeProto,
  _ ctx: inout ConversionContext
) throws(ONNXImportError) -> Value {
  guard x.shape.count >= 2 else { throw usage(node, "needs at least one spatial axis") }
  let c = x.shape[0]
  let op: Op = useMax ? .globalMaxPool : .globalAveragePool
  let pooled = try ctx.emitChannelsLast(op, input: x, node: node, transposeBack: false)
  guard keepDims else { return pooled }
  guard case .node(let pid, _) = pooled else { preconditionFailure() }
  ctx.rename(pid, to: node.output[0] + ":pooled")
  return try ctx.emit(
    .reshape([c] + [Int](repeating: 1, count: x.shape.count - 1)), inputs: [pid], name: node.output[0],
    origin: "\(node.opType) layout", onnxNode: node)
}

func globalPooling(max useMax: Bool) -> ConvertFunction {
  { node, ctx throws(ONNXImportError) in
    try emitGlobalPool(max: useMax, input: try ctx.graphInput(node, 0), keepDims: true, node, &ctx)
  }
}

/// ReduceSum / ReduceMean / ReduceMax / ReduceLogSumExp over `axes` (an attribute, or from
/// opset 13 for ReduceSum and 18 for the others an optional input; `noop_with_empty_axes`).
/// ReduceMean and ReduceMax over all spatial axes stay global pools, and ReduceMean over the
/// last axis alone a dense layer with weights 1/n (the forms older fixtures rely on); every
/// other reduction is the IR's ``Op/reduce(_:axes:keepDims:)`` in ONNX's layout.
func reduction(_ kind: Reduction, axesAsInput: Bool) -> ConvertFunction {
  { node, ctx throws(ONNXImportError) in
    let a = Attributes(node)
    let x = try ctx.graphInput(node, 0)
    let r = x.shape.count + 1
    let keepDims = a.int("keepdims", 1) != 0
    let rawAxes = axesAsInput ? try ctx.integerInput(node, 1) : a.ints("axes")
    if (rawAxes ?? []).isEmpty && a.int("noop_with_empty_axes", 0) != 0 {
      return try ctx.emit(.identity, inputs: [x.id], name: node.output[0], origin: node.opType, onnxNode: node)
    }
    var axes = [Int]()
    for ax in (rawAxes ?? []).isEmpty ? Array(0..<r) : rawAxes! { axes.append(try normalizeAxis(ax, rank: r, node)) }
    axes = Array(Set(axes)).sorted()
    guard !axes.contains(0) else { throw usage(node, "reduction over the batch axis (axes \(axes))") }
    if kind == .mean || kind == .max, r >= 3, axes == Array(2..<r) {
      return try emitGlobalPool(max: kind == .max, input: x, keepDims: keepDims, node, &ctx)
    }
    if kind == .mean, axes == [r - 1] {
      let n = x.shape[r - 2]
      let w = Tensor(repeating: 1 / Float(n), shape: [n, 1])
      if keepDims {
        return try ctx.emit(
          .dense(weight: w, bias: nil), inputs: [x.id], name: node.output[0], origin: node.opType,
          onnxNode: node)
      }
      let dense = try ctx.emit(
        .dense(weight: w, bias: nil), inputs: [x.id], name: node.output[0] + ":keepdims", origin: node.opType,
        onnxNode: node)
      guard case .node(let id, _) = dense else { preconditionFailure() }
      return try ctx.emit(
        .reshape(Array(x.shape.dropLast())), inputs: [id], name: node.output[0],
        origin: "\(node.opType) layout", onnxNode: node)
    }
    if kind != .sum, axes.contains(where: { x.shape[$0 - 1] == 0 }) {
      throw usage(node, "\(node.opType) over an empty axis of shape \(x.shape)")
    }
    return try ctx.emit(
      .reduce(kind, axes: axes, keepDims: keepDims), inputs: [x.id], name: node.output[0], origin: node.opType,
      onnxNode: node)
  }
}

// MARK: - Shapes and layout

func convertFlatten(_ node: Onnx_NodeProto, _ ctx: inout ConversionContext) throws(ONNXImportError) -> Value {
  let x = try ctx.graphInput(node, 0)
  // ONNX allows axis = rank: a batch of scalars (a reduction's output) becomes (N, 1).
  let raw = Attributes(node).int("axis", 1)
  let axis = x.shape.isEmpty && raw == 1 ? 1 : try normalizeAxis(raw, rank: x.shape.count + 1, node)
  guard axis == 1 else { throw usage(node, "Flatten at axis \(axis) would merge the batch axis") }
  // `-1`: shape inference computes the extent with overflow checks (a product here trapped
  // on an input declared [N, 2³¹, 2³¹, 2³¹]).
  return try ctx.emit(.reshape([-1]), inputs: [x.id], name: node.output[0], origin: "Flatten", onnxNode: node)
}

func convertReshape(_ node: Onnx_NodeProto, _ ctx: inout ConversionContext) throws(ONNXImportError) -> Value {
  let data = try ctx.value(node, 0)
  let shapeConstant = try ctx.constantInput(node, 1)
  let allowZero = Attributes(node).int("allowzero", 0) != 0
  // Target extents; nil stands for the dynamic batch extent (from `Shape` of a graph tensor).
  var target = [Int?]()
  for v in shapeConstant.values {
    if Constant.batchFactor(v) != nil {
      target.append(nil)
      continue
    }
    guard v.rounded() == v, abs(v) < 0x1p50 else { throw usage(node, "shape must hold integers") }
    target.append(Int(v))
  }
  switch data {
  case .constant(let c):
    if c.batchBroadcast {
      // A constant broadcast over the batch keeps axis 0: the target must start with the
      // batch extent (or 0, "copy"); the rest reshapes each example.
      guard let first = target.first, first == nil || (first == 0 && !allowZero) else {
        throw usage(node, "reshaping a constant broadcast over the batch across its batch axis")
      }
      target[0] = 1
    }
    guard var dims = target as? [Int] else { throw usage(node, "reshaping a constant to a dynamic shape") }
    for i in dims.indices where dims[i] == 0 && !allowZero && i < c.rank { dims[i] = c.dims[i] }
    guard dims.allSatisfy({ $0 >= -1 }), dims.filter({ $0 == -1 }).count <= 1 else {
      throw usage(node, "bad target shape \(dims)")
    }
    if let u = dims.firstIndex(of: -1) {
      // Checked: the file's extents can multiply past Int.max.
      guard let known = Shape.checkedCount(dims.filter { $0 != -1 }), known > 0 else {
        throw usage(node, "cannot infer -1 in \(dims)")
      }
      dims[u] = c.count / known
    }
    guard TensorLimits.checkedElements(dims) == c.count else {
      throw usage(node, "cannot reshape \(c.dims) to \(dims)")
    }
    var reshaped = Constant(dims: dims, values: c.values)
    reshaped.batchBroadcast = c.batchBroadcast
    return .constant(reshaped)
  case .node(let id, let shape):
    guard !target.isEmpty else { throw usage(node, "reshape to a scalar") }
    // The batch elsewhere than first (in the input or the target): BatchViews.swift.
    let batchElsewhere =
      shapeConstant.values.enumerated().contains { i, v in
        Constant.batchFactor(v).map { $0 > 1 || i > 0 } ?? false
      }
    // A leading −1 that cannot be the batch alone holds it with other factors (Swin's
    // windows: `reshape(-1, ws·ws, C)`).
    let leadingMinusOne = target.first == -1 && Shape.checkedCount(target.dropFirst().compactMap { $0 }) != shape.reduce(1, *)
    if !ctx.view(id).isNormal || batchElsewhere || leadingMinusOne {
      return try reshapeViewed(node, &ctx, id: id, physical: shape, target: shapeConstant.values, allowZero: allowZero)
    }
    // Resolve 0 (copy the input extent) first.
    for i in target.indices where target[i] == 0 && !allowZero {
      guard i <= shape.count else { throw usage(node, "0 in the shape at axis \(i), beyond the input rank") }
      target[i] = i == 0 ? nil : shape[i - 1]
    }
    var rest = [Int]()
    for e in target.dropFirst() {
      guard let e else { throw usage(node, "the batch extent may only appear on axis 0") }
      rest.append(e)
    }
    // Products of the file's extents are checked: they can multiply past Int.max.
    let count = shape.reduce(1, *)  // capped when the node was emitted
    if let first = target[0], first != ctx.fixedBatch {
      // A literal first extent is acceptable only as −1 with the rest fully known.
      guard first == -1, Shape.checkedCount(rest) == count else {
        throw usage(node, "reshape to \(target.map { $0 ?? -1 }) changes the batch axis")
      }
    }
    if let u = rest.firstIndex(of: -1) {
      guard let known = Shape.checkedCount(rest.filter { $0 != -1 }), known > 0, count % known == 0 else {
        throw usage(node, "cannot reshape \(shape) to \(rest)")
      }
      rest[u] = count / known
    }
    guard Shape.checkedCount(rest) == count else {
      throw usage(node, "cannot reshape examples of shape \(shape) to \(rest)")
    }
    return try ctx.emit(.reshape(rest), inputs: [id], name: node.output[0], origin: "Reshape", onnxNode: node)
  }
}

func convertTranspose(_ node: Onnx_NodeProto, _ ctx: inout ConversionContext) throws(ONNXImportError) -> Value
{
  if case .constant(let c) = try ctx.value(node, 0) { return try transposeConstant(node, &ctx, c) }
  let x = try ctx.graphInput(node, 0)
  let r = ctx.logicalShape(x.id, x.shape).count
  let perm = Attributes(node).ints("perm") ?? Array((0..<r).reversed())
  guard perm.count == r, Set(perm) == Set(0..<r) else { throw usage(node, "bad perm \(perm) for rank \(r)") }
  if perm[0] != 0 || !ctx.view(x.id).isNormal {
    // The batch axis moves (torch's (L, N, E) attention layout): BatchViews.swift.
    return try transposeViewed(node, &ctx, id: x.id, physical: x.shape, perm: perm)
  }
  if perm == Array(0..<r) {
    return try ctx.emit(.identity, inputs: [x.id], name: node.output[0], origin: "Transpose", onnxNode: node)
  }
  return try ctx.emit(
    .transpose(perm), inputs: [x.id], name: node.output[0], origin: "Transpose", onnxNode: node)
}

func squeeze(unsqueeze: Bool, axesAsInput: Bool) -> ConvertFunction {
  { node, ctx throws(ONNXImportError) in
    let data = try ctx.value(node, 0)
    let rawAxes = axesAsInput ? try ctx.integerInput(node, 1) : Attributes(node).ints("axes")
    if case .node(let id, _) = data, rawAxes == nil, !ctx.view(id).isNormal {
      throw usage(node, "squeezing every unit axis of a tensor whose batch axis is not first (give the axes)")
    }
    if case .node(let id, let s) = data, let rawAxes,
      !ctx.view(id).isNormal || (unsqueeze && rawAxes.contains { $0 == 0 || $0 == -(s.count + 1 + rawAxes.count) })
    {
      return try squeezeViewed(node, &ctx, id: id, physical: s, axes: rawAxes, unsqueeze: unsqueeze)
    }
    let fullDims: [Int]
    let isNode: Bool
    switch data {
    case .constant(let c): (fullDims, isNode) = (c.dims, false)
    case .node(_, let s): (fullDims, isNode) = ([-1] + s, true)
    }
    var dims = fullDims
    if unsqueeze {
      guard let rawAxes else { throw usage(node, "axes missing") }
      let outRank = fullDims.count + rawAxes.count
      var axes = [Int]()
      for a in rawAxes { axes.append(try normalizeAxis(a, rank: outRank, node)) }
      guard Set(axes).count == axes.count else { throw usage(node, "repeated axes \(rawAxes)") }
      for a in axes.sorted() { dims.insert(1, at: a) }
      if isNode && dims[0] != -1 { throw usage(node, "unsqueeze at axis 0 would move the batch axis") }
    } else {
      var axes = [Int]()
      if let rawAxes {
        for a in rawAxes { axes.append(try normalizeAxis(a, rank: fullDims.count, node)) }
      } else {
        axes = fullDims.indices.filter { fullDims[$0] == 1 }
      }
      guard Set(axes).count == axes.count else { throw usage(node, "repeated axes \(axes)") }
      for a in axes.sorted().reversed() {
        guard dims[a] == 1 else {
          throw usage(
            node, "cannot squeeze axis \(a) of extent \(fullDims[a] == -1 ? "N" : String(fullDims[a]))")
        }
        dims.remove(at: a)
      }
    }
    switch data {
    case .constant(let c):
      var out = Constant(dims: dims, values: c.values)
      if c.batchBroadcast {
        // Axis 0 must stay the batch axis: no axis inserted before it or removed at it.
        guard (rawAxes ?? []).allSatisfy({ $0 != 0 && $0 != -fullDims.count - (unsqueeze ? rawAxes!.count : 0) }),
          dims.first == 1, dims.count >= 1
        else { throw usage(node, "\(node.opType) at the batch axis of a constant broadcast over it") }
        out.batchBroadcast = true
      }
      return .constant(out)
    case .node(let id, _):
      return try ctx.emit(
        .reshape(Array(dims.dropFirst())), inputs: [id], name: node.output[0], origin: node.opType,
        onnxNode: node)
    }
  }
}

func convertConcat(_ node: Onnx_NodeProto, _ ctx: inout ConversionContext) throws(ONNXImportError) -> Value {
  var values = [Value]()
  for i in node.input.indices where !node.input[i].isEmpty { values.append(try ctx.value(node, i)) }
  let axisAttribute = Attributes(node).int("axis", 0)
  let constants = values.compactMap { v -> Constant? in if case .constant(let c) = v { c } else { nil } }
  if constants.count == values.count, let first = constants.first {
    let axis = try normalizeAxis(axisAttribute, rank: first.rank, node)
    let flagged = constants.filter(\.batchBroadcast).count
    guard flagged == 0 || (flagged == constants.count && axis >= 1) else {
      throw usage(node, "concatenating a constant broadcast over the batch with plain constants, or along the batch axis")
    }
    var dims = first.dims
    dims[axis] = 0
    for c in constants where c.rank == first.rank {
      dims[axis] = min(dims[axis] + c.dims[axis], Int.max / 2)  // each extent ≤ 2³¹
    }
    _ = try ctx.reserveFolded(dims, node)
    guard var c = Constant.concat(constants, axis: axis) else {
      throw usage(node, "operand shapes differ off the axis")
    }
    c.batchBroadcast = flagged > 0
    return .constant(c)
  }
  let viewed = values.contains { v in
    if case .node(let id, _) = v { !ctx.view(id).isNormal } else { false }
  }
  if viewed { return try concatViewed(node, &ctx, values: values) }
  var ids = [NodeID]()
  var rank = 0
  for (k, v) in values.enumerated() {
    switch v {
    case .node(let id, let s):
      ids.append(id)
      rank = s.count + 1
    case .constant(let c):
      // A constant broadcast over the batch (ViT's class token) joins as a constant node.
      guard c.batchBroadcast else {
        throw usage(node, "concatenating constants with graph tensors is not supported (only constants broadcast over the batch)")
      }
      ids.append(try emitBatchConstant(c, name: "\(node.output[0]):constant\(k)", node, &ctx).id)
    }
  }
  let axis = try normalizeAxis(axisAttribute, rank: rank, node)
  guard axis >= 1 else { throw usage(node, "concatenation along the batch axis") }
  return try ctx.emit(
    .concat(axis: axis), inputs: ids, name: node.output[0], origin: "Concat", onnxNode: node)
}

func convertPad(_ node: Onnx_NodeProto, _ ctx: inout ConversionContext) throws(ONNXImportError) -> Value {
  let mode = Attributes(node).string("mode") ?? "constant"
  guard mode == "constant" else { throw usage(node, "pad mode '\(mode)' is not supported (only constant)") }
  let x = try ctx.graphInput(node, 0)
  let r = x.shape.count + 1
  guard let pads = try ctx.integerInput(node, 1) else { throw usage(node, "pads missing") }
  let value = try ctx.optionalConstant(node, 2).map { Float($0.values.first ?? 0) } ?? 0
  var axes = Array(0..<r)
  if let given = try ctx.integerInput(node, 3) {
    axes = []
    for a in given { axes.append(try normalizeAxis(a, rank: r, node)) }
  }
  guard pads.count == 2 * axes.count else { throw usage(node, "pads \(pads) for axes \(axes)") }
  var before = [Int](repeating: 0, count: r)
  var after = [Int](repeating: 0, count: r)
  for (k, a) in axes.enumerated() {
    before[a] = pads[k]
    after[a] = pads[k + axes.count]
  }
  guard before[0] == 0, after[0] == 0 else { throw usage(node, "padding the batch axis") }
  guard before.allSatisfy({ $0 >= 0 }), after.allSatisfy({ $0 >= 0 }) else {
    throw usage(node, "negative pads (cropping) are not supported")
  }
  try checkExtents(pads, "pads", node)
  return try ctx.emit(
    .pad(before: Array(before.dropFirst()), after: Array(after.dropFirst()), value: value), inputs: [x.id],
    name: node.output[0], origin: "Pad", onnxNode: node)
}

func convertSlice(_ node: Onnx_NodeProto, _ ctx: inout ConversionContext) throws(ONNXImportError) -> Value {
  let data = try ctx.value(node, 0)
  let dims: [Int]
  switch data {
  case .constant(let c): dims = c.dims
  case .node(_, let s): dims = [Int.max / 4] + s
  }
  let r = dims.count
  guard let starts = try ctx.integerInput(node, 1), let ends = try ctx.integerInput(node, 2) else {
    throw usage(node, "starts and ends are required")
  }
  var axes = Array(0..<starts.count)
  if let given = try ctx.integerInput(node, 3) {
    axes = []
    for a in given { axes.append(try normalizeAxis(a, rank: r, node)) }
  }
  let steps = try ctx.integerInput(node, 4) ?? [Int](repeating: 1, count: axes.count)
  guard starts.count == axes.count, ends.count == axes.count, steps.count == axes.count else {
    throw usage(node, "starts/ends/axes/steps lengths differ")
  }
  // Without `axes`, starts may not name more axes than there are (found by
  // Fuzz/FuzzONNXFolding: a trap indexing past the rank).
  guard axes.allSatisfy({ $0 < r }), Set(axes).count == axes.count else {
    throw usage(node, "slice axes \(axes) for a tensor of rank \(r)")
  }
  if !steps.allSatisfy({ $0 == 1 }) {
    return try slicedWithSteps(node, &ctx, data: data, dims: dims, axes: axes, starts: starts, ends: ends, steps: steps)
  }
  var lo = [Int](repeating: 0, count: r)
  var hi = dims
  for (k, a) in axes.enumerated() {
    func clamp(_ v: Int) -> Int { min(max(v < 0 ? v + dims[a] : v, 0), dims[a]) }
    lo[a] = clamp(starts[k])
    hi[a] = max(clamp(ends[k]), lo[a])
  }
  switch data {
  case .constant(let c):
    if c.batchBroadcast && (lo[0] != 0 || hi[0] != dims[0]) {
      throw usage(node, "slicing the batch axis of a constant broadcast over it")
    }
    _ = try ctx.reserveFolded(zip(lo, hi).map { $1 - $0 }, node)
    if let k = c.batchBroadcastAxis, lo[k] != 0 || hi[k] != dims[k] {
      throw usage(node, "slicing axis \(k), which stands for the batch, of a constant broadcast over it")
    }
    var part = c.slice(start: lo, end: hi)
    part.batchBroadcast = c.batchBroadcast
    part.batchBroadcastAxis = c.batchBroadcastAxis
    return .constant(part)
  case .node(let id, _):
    guard lo[0] == 0, hi[0] == dims[0] else { throw usage(node, "slicing the batch axis") }
    return try ctx.emit(
      .slice(start: Array(lo.dropFirst()), end: Array(hi.dropFirst())), inputs: [id], name: node.output[0],
      origin: "Slice", onnxNode: node)
  }
}

func convertShape(_ node: Onnx_NodeProto, _ ctx: inout ConversionContext) throws(ONNXImportError) -> Value {
  var values: [Double]
  switch try ctx.value(node, 0) {
  case .constant(let c):
    values = c.dims.map(Double.init)
    if c.batchBroadcast { values[0] = ctx.fixedBatch.map(Double.init) ?? Constant.batchMarker }
  case .node(let id, let s):
    let v = ctx.view(id)
    if v.isNormal {
      values = [ctx.fixedBatch.map(Double.init) ?? Constant.batchMarker] + s.map(Double.init)
    } else {
      // N·outer·inner on the batch axis (a multiple of the marker; with a fixed batch, its value).
      let k = Double(v.outer * v.inner)
      let batch = ctx.fixedBatch.map { Double($0) * k } ?? Constant.batchMarker * k
      values = ctx.logicalShape(id, s).map { $0.map(Double.init) ?? batch }
    }
  }
  let a = Attributes(node)
  let n = values.count
  func clamp(_ v: Int) -> Int { min(max(v < 0 ? v + n : v, 0), n) }
  let start = clamp(a.int("start", 0))
  let end = max(clamp(a.int("end", n)), start)
  return .constant(Constant(dims: [end - start], values: Array(values[start..<end])))
}

func convertGather(_ node: Onnx_NodeProto, _ ctx: inout ConversionContext) throws(ONNXImportError) -> Value {
  let indices = try ctx.constantInput(node, 1)
  let data: Constant
  switch try ctx.value(node, 0) {
  case .node(let id, let shape):
    if !ctx.view(id).isNormal { return try gatherViewed(node, &ctx, id: id, physical: shape, indices: indices) }
    return try gatherActivation(node, &ctx, id: id, shape: shape, indices: indices)
  case .constant(let c): data = c
  }
  let axis = try normalizeAxis(Attributes(node).int("axis", 0), rank: data.rank, node)
  if data.batchBroadcast && axis == 0 {
    throw usage(node, "gathering along the batch axis of a constant broadcast over it")
  }
  _ = try ctx.reserveFolded(data.gatherDims(indices: indices, axis: axis), node)
  guard var c = data.gather(indices: indices, axis: axis) else { throw usage(node, "indices out of range") }
  c.batchBroadcast = data.batchBroadcast
  return .constant(c)
}

func convertCast(_ node: Onnx_NodeProto, _ ctx: inout ConversionContext) throws(ONNXImportError) -> Value {
  let to = Attributes(node).int("to", 1)
  switch try ctx.value(node, 0) {
  case .constant(let c):
    _ = try ctx.reserveFolded(c.dims, node)
    guard let type = ONNXDataType(rawValue: to) else {
      throw .unsupportedDataType(tensor: node.output[0], dataType: to)
    }
    let values: [Double]
    switch type {
    case .float, .double, .float16, .bfloat16:
      // The marker test hoisted out of the map: per element it made a Cast quadratic (a
      // 10⁵-element constant took minutes; Fuzz/FuzzONNXFolding find).
      let keep = c.containsBatchMarker
      values = keep ? c.values : c.values.map { Double(Float($0)) }
    case .bool: values = c.values.map { $0 != 0 ? 1 : 0 }  // the batch marker: N ≥ 1 is true
    default: values = c.values.map { $0 == Constant.batchMarker ? $0 : $0.rounded(.towardZero) }
    }
    var out = Constant(dims: c.dims, values: values)
    out.batchBroadcast = c.batchBroadcast
    return .constant(out)
  case .node(let id, _):
    guard to == ONNXDataType.float.rawValue else { throw usage(node, "casting a graph tensor to type \(to)") }
    return try ctx.emit(.identity, inputs: [id], name: node.output[0], origin: "Cast", onnxNode: node)
  }
}

func convertConstant(_ node: Onnx_NodeProto, _ ctx: inout ConversionContext) throws(ONNXImportError) -> Value
{
  let a = Attributes(node)
  if var t = a.tensor("value") {
    if t.name.isEmpty { t.name = node.output[0] }
    let c = try decodeTensor(t, baseDirectory: nil)
    ctx.foldingBudget += c.count  // stored in the file, like an initializer
    return .constant(c)
  }
  if let f = a.floats("value_floats") {
    return .constant(Constant(dims: [f.count], values: f.map(Double.init)))
  }
  if let i = a.ints("value_ints") { return .constant(Constant(dims: [i.count], values: i.map(Double.init))) }
  if a.has("value_float") { return .constant(Constant(scalar: Double(a.float("value_float", 0)))) }
  if a.has("value_int") { return .constant(Constant(scalar: Double(a.int("value_int", 0)))) }
  throw usage(node, "Constant without a numeric value")
}

func convertConstantOfShape(_ node: Onnx_NodeProto, _ ctx: inout ConversionContext) throws(ONNXImportError)
  -> Value
{
  // A shape starting with the batch extent (`ones(B, L)`, an attention mask) gives a constant
  // broadcast over the batch.
  var shape = try ctx.constantInput(node, 0)
  let overBatch = shape.values.first == Constant.batchMarker && shape.rank == 1
  if overBatch { shape.values[0] = 1 }
  // zeros(layers·directions, N, hidden): a recurrent layer's initial state (batchBroadcastAxis).
  var uniformAxis: Int?
  if !overBatch, shape.rank == 1, let k = shape.values.firstIndex(of: Constant.batchMarker), k > 0 {
    uniformAxis = k
    shape.values[k] = 1
  }
  guard !shape.containsBatchMarker, let dims = shape.integers, dims.allSatisfy({ $0 >= 0 }) else {
    throw usage(node, "the shape must be known at import time (the batch extent only on axis 0)")
  }
  let count = try ctx.reserveFolded(dims, node)
  var fill = 0.0
  if let t = Attributes(node).tensor("value") {
    fill = try decodeTensor(t, baseDirectory: nil).values.first ?? 0
  }
  var out = Constant(dims: dims, values: [Double](repeating: fill, count: count))
  out.batchBroadcast = overBatch
  out.batchBroadcastAxis = uniformAxis
  return .constant(out)
}

func convertIdentity(_ node: Onnx_NodeProto, _ ctx: inout ConversionContext) throws(ONNXImportError) -> Value
{
  switch try ctx.value(node, 0) {
  case .constant(let c): return .constant(c)
  case .node(let id, _):
    return try ctx.emit(.identity, inputs: [id], name: node.output[0], origin: node.opType, onnxNode: node)
  }
}

// MARK: - Elementwise arithmetic

enum ArithmeticKind: Sendable {
  case add, subtract, multiply, divide

  func apply(_ a: Double, _ b: Double) -> Double {
    switch self {
    case .add: a + b
    case .subtract: a - b
    case .multiply: a * b
    case .divide: a / b
    }
  }
}

func arithmetic(_ kind: ArithmeticKind) -> ConvertFunction {
  { node, ctx throws(ONNXImportError) in
    let lhs = try ctx.value(node, 0)
    let rhs = try ctx.value(node, 1)
    let name = node.output[0]
    switch (lhs, rhs) {
    case (.constant(let a), .constant(let b)):
      if kind == .multiply && (a.containsBatchMarker || b.containsBatchMarker), a.count == 1, b.count == 1 {
        // N·k times a positive integer c: N·(k·c) (torch's bsz * num_heads, tgt_len * bsz).
        let (m, c) = a.containsBatchMarker ? (a.values[0], b.values[0]) : (b.values[0], a.values[0])
        guard let k = Constant.batchFactor(m), c >= 1, c.rounded() == c, Double(k) * c <= 0x1p20 else {
          throw usage(node, "arithmetic on a dynamic shape")
        }
        let dims = a.rank >= b.rank ? a.dims : b.dims
        return .constant(Constant(dims: dims, values: [Constant.batchMarker * Double(k) * c]))
      }
      if kind == .divide && a.containsBatchMarker && !b.containsBatchMarker, a.count == 1, b.count == 1 {
        // N·k divided by a positive integer c that divides k: N·(k/c) (Swin's windows back to
        // the batch, `B = B_·nW / nW`); exact for every N, integer or not.
        let c = b.values[0]
        guard let k = Constant.batchFactor(a.values[0]), c >= 1, c.rounded() == c,
          Double(k).truncatingRemainder(dividingBy: c) == 0
        else { throw usage(node, "arithmetic on a dynamic shape") }
        let dims = a.rank >= b.rank ? a.dims : b.dims
        return .constant(Constant(dims: dims, values: [Constant.batchMarker * (Double(k) / c)]))
      }
      guard !a.containsBatchMarker && !b.containsBatchMarker else {
        throw usage(node, "arithmetic on a dynamic shape")
      }
      guard let out = Constant.broadcastShape(a.dims, b.dims) else {
        throw usage(node, "shapes \(a.dims) and \(b.dims) do not broadcast")
      }
      let flag = try foldedBatchFlag([a, b], out: out, node)
      _ = try ctx.reserveFolded(out, node)
      // Integer Div truncates toward zero (ONNX, as C).
      let integer = kind == .divide && a.isInteger && b.isInteger
      if integer && b.values.contains(0) { throw usage(node, "integer division by zero") }
      guard var c = Constant.broadcast(a, b, integer ? { ($0 / $1).rounded(.towardZero) } : kind.apply)
      else { preconditionFailure("checked above") }
      c.batchBroadcast = flag
      return .constant(c)
    case (.node(let a, let sa), .node(let b, let sb)):
      if kind == .multiply || kind == .divide {
        return try ctx.emitProduct(a: (a, sa), b: (b, sb), divide: kind == .divide, name: name, node: node)
      }
      guard sa == sb else {
        // Same rank, extents equal or 1 (bpnet-lite's `logits - mean(logits, keepdims)`): the
        // extent-1 axes are repeated by a `gather` of index 0, a structural op.
        guard sa.count == sb.count, zip(sa, sb).allSatisfy({ $0 == $1 || $0 == 1 || $1 == 1 }) else {
          throw usage(node, "broadcasting between graph tensors of shapes \(sa) and \(sb)")
        }
        let target = zip(sa, sb).map { max($0, $1) }
        func broadcast(_ id: NodeID, _ shape: [Int], _ tag: String) throws(ONNXImportError) -> NodeID {
          var (id, shape) = (id, shape)
          for axis in shape.indices where shape[axis] != target[axis] {
            guard case .node(let g, let gs) = try ctx.emit(
              .gather(axis: axis + 1, indices: [Int](repeating: 0, count: target[axis])), inputs: [id],
              name: "\(name):broadcast_\(tag)\(axis + 1)", origin: node.opType, onnxNode: node)
            else { preconditionFailure("emit returns a node") }
            (id, shape) = (g, gs)
          }
          return id
        }
        let (ba, bb) = (try broadcast(a, sa, "a"), try broadcast(b, sb, "b"))
        return try ctx.emit(
          kind == .add ? .add : .subtract, inputs: [ba, bb], name: name, origin: node.opType, onnxNode: node)
      }
      return try ctx.emit(
        kind == .add ? .add : .subtract, inputs: [a, b], name: name, origin: node.opType, onnxNode: node)
    case (.node(let id, let shape), .constant(let c)), (.constant(let c), .node(let id, let shape)):
      let constantFirst: Bool = if case .constant = lhs { true } else { false }
      // A constant broadcast over the batch lines up with the tensor's batch axis only at
      // its full rank (then it is the same for every example: a per-example parameter).
      if c.batchBroadcast && c.rank != shape.count + 1 {
        throw usage(node, "a constant broadcast over the batch (shape \(c.dims)) against a tensor of rank \(shape.count + 1)")
      }
      let p = try exampleParameter(c, example: shape, node)
      let rank = shape.count
      let op: Op
      switch kind {
      case .add:
        if let folded = try ctx.foldBias(into: id, constant: c, name: name, node: node) { return folded }
        op = .affine(scale: filled(1, rank: rank), offset: p)
      case .subtract:
        op =
          constantFirst
          ? .affine(scale: filled(-1, rank: rank), offset: p)
          : .affine(scale: filled(1, rank: rank), offset: p.map { -$0 })
      case .multiply:
        op = .affine(scale: p, offset: filled(0, rank: rank))
      case .divide:
        if constantFirst {
          // c / x = c · (1/x).
          let inverse = try ctx.emit(
            .activation(.reciprocal), inputs: [id], name: name + ":reciprocal", origin: "Div", onnxNode: node)
          guard case .node(let inv, _) = inverse else { preconditionFailure("emit returns a node") }
          return try ctx.emit(
            .affine(scale: p, offset: filled(0, rank: rank)), inputs: [inv], name: name, origin: "Div", onnxNode: node)
        }
        op = .affine(scale: p.map { 1 / $0 }, offset: filled(0, rank: rank))
      }
      return try ctx.emit(op, inputs: [id], name: name, origin: node.opType, onnxNode: node)
    }
  }
}

extension ConversionContext {
  /// MatMul followed by Add of a per-output vector: the bias goes into the dense node when
  /// the MatMul result has no other reader. Returns `nil` when the pattern does not apply.
  mutating func foldBias(into id: NodeID, constant c: Constant, name: String, node: Onnx_NodeProto)
    throws(ONNXImportError) -> Value?
  {
    let producer = nodes[id.rawValue]
    guard case .dense(let w, nil) = producer.op, producer.origin == "MatMul",
      useCounts[producer.name] == 1, !c.containsBatchMarker
    else { return nil }
    let out = w.shape[1]
    guard c.count == out, c.dims.last == out else { return nil }
    nodes[id.rawValue].op = .dense(weight: w, bias: c.tensor(shape: [out]))
    nodes[id.rawValue].origin = "MatMul+Add"
    rename(id, to: name)
    return .node(id, shape: shapes[id.rawValue])
  }

  /// Gives an emitted node a new (unique) name.
  mutating func rename(_ id: NodeID, to name: String) {
    usedNames.remove(nodes[id.rawValue].name)
    nodes[id.rawValue].name = uniqueName(name)
  }
}

func convertNeg(_ node: Onnx_NodeProto, _ ctx: inout ConversionContext) throws(ONNXImportError) -> Value {
  switch try ctx.value(node, 0) {
  case .constant(let c):
    guard !c.containsBatchMarker else { throw usage(node, "arithmetic on a dynamic shape") }
    _ = try ctx.reserveFolded(c.dims, node)
    var out = Constant(dims: c.dims, values: c.values.map { -$0 })
    out.batchBroadcast = c.batchBroadcast
    return .constant(out)
  case .node(let id, let shape):
    return try ctx.emit(
      .affine(scale: filled(-1, rank: shape.count), offset: filled(0, rank: shape.count)), inputs: [id],
      name: node.output[0], origin: "Neg", onnxNode: node)
  }
}

/// Sum / Mean / Max / Min of graph tensors of one shape.
func variadic(_ op: Op) -> ConvertFunction {
  { node, ctx throws(ONNXImportError) in
    var ids = [NodeID]()
    var shape: [Int]?
    for i in node.input.indices where !node.input[i].isEmpty {
      let x = try ctx.graphInput(node, i)
      guard shape == nil || shape == x.shape else { throw usage(node, "operands of different shapes") }
      shape = x.shape
      ids.append(x.id)
    }
    guard !ids.isEmpty else { throw usage(node, "no operands") }
    return try ctx.emit(
      ids.count == 1 ? .identity : op, inputs: ids, name: node.output[0], origin: node.opType, onnxNode: node)
  }
}

/// Exp / Log / Sqrt: the activation on a graph tensor, folded on a constant (in double
/// precision, as shape arithmetic such as `Sqrt` of a head size needs).
func unary(_ f: Activation) -> ConvertFunction {
  { node, ctx throws(ONNXImportError) in
    switch try ctx.value(node, 0) {
    case .constant(let c):
      guard !c.containsBatchMarker else { throw usage(node, "\(node.opType) of a dynamic shape") }
      _ = try ctx.reserveFolded(c.dims, node)
      return .constant(Constant(dims: c.dims, values: c.values.map { f.apply($0) }))
    case .node(let id, _):
      return try ctx.emit(.activation(f), inputs: [id], name: node.output[0], origin: node.opType, onnxNode: node)
    }
  }
}

/// `Pow(X, Y)` with a constant exponent `Y` whose elements are all equal (a scalar, or a
/// constant that broadcasts without changing `X`'s shape): ``Activation/pow(exponent:)``.
/// Both constant: folded. A graph tensor as the exponent is refused.
func convertPow(_ node: Onnx_NodeProto, _ ctx: inout ConversionContext) throws(ONNXImportError) -> Value {
  let base = try ctx.value(node, 0)
  guard case .constant(let e) = try ctx.value(node, 1) else {
    throw usage(node, "Pow with a non-constant exponent '\(node.input[1])' is not supported (only a constant exponent)")
  }
  switch base {
  case .constant(let c):
    guard !c.containsBatchMarker && !e.containsBatchMarker else { throw usage(node, "Pow of a dynamic shape") }
    guard let out = Constant.broadcastShape(c.dims, e.dims) else {
      throw usage(node, "shapes \(c.dims) and \(e.dims) do not broadcast")
    }
    _ = try ctx.reserveFolded(out, node)
    guard let folded = Constant.broadcast(c, e, { Foundation.pow($0, $1) }) else { preconditionFailure("checked above") }
    return .constant(folded)
  case .node(let id, let shape):
    guard !e.containsBatchMarker, let p = e.values.first, p.isFinite else {
      throw usage(node, "Pow exponent \(e.values.first.map { "\($0)" } ?? "(empty)") is not a finite number")
    }
    guard e.values.allSatisfy({ $0 == p }) else {
      throw usage(node, "Pow with an exponent that varies by element (shape \(e.dims)) is not supported")
    }
    // The exponent must not widen X: rank at most X's (batch included), extents 1 or equal.
    let full = [Int?](repeating: nil, count: 1) + shape.map { Optional($0) }
    guard e.rank <= full.count,
      zip(e.dims.reversed(), full.reversed()).allSatisfy({ $0 == 1 || $0 == $1 })
    else { throw usage(node, "exponent of shape \(e.dims) would broadcast X of per-example shape \(shape)") }
    return try ctx.emit(
      .activation(.pow(exponent: Float(p))), inputs: [id], name: node.output[0], origin: "Pow", onnxNode: node)
  }
}
