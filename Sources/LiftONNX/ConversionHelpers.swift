import LiftNN
import LiftTensor

// Helpers the operator converters share: reading inputs and attributes, ONNX broadcasting of
// constant parameters, and emitting channels-last ops between layout transposes.

func usage(_ node: Onnx_NodeProto, _ reason: String) -> ONNXImportError {
  .unsupportedUsage(opType: node.opType, node: displayName(node), reason: reason)
}

/// Checks integer attributes or inputs that act as extents (pads, strides, dilations, kernel
/// sizes, group counts): each must satisfy ``LiftNN/TensorLimits/isPlausibleExtent(_:)``
/// (and be at least `minimum`), so the shape formulas built from them cannot overflow.
func checkExtents(_ values: [Int], minimum: Int = 0, _ what: String, _ node: Onnx_NodeProto)
  throws(ONNXImportError)
{
  for v in values where v < minimum || !TensorLimits.isPlausibleExtent(v) {
    throw usage(node, "\(what) \(values) must lie in \(minimum)…\(TensorLimits.maximumElements)")
  }
}

/// The attributes of a node by name, with ONNX defaults supplied by the caller.
struct Attributes {
  private var byName: [String: Onnx_AttributeProto] = [:]

  init(_ node: Onnx_NodeProto) {
    for a in node.attribute { byName[a.name] = a }
  }

  func has(_ name: String) -> Bool { byName[name] != nil }
  func int(_ name: String, _ fallback: Int) -> Int { byName[name].map { Int($0.i) } ?? fallback }
  func float(_ name: String, _ fallback: Float) -> Float { byName[name].map(\.f) ?? fallback }
  func ints(_ name: String) -> [Int]? { byName[name].map { $0.ints.map { Int($0) } } }
  func floats(_ name: String) -> [Float]? { byName[name].map(\.floats) }
  func string(_ name: String) -> String? { byName[name].map { String(decoding: $0.s, as: UTF8.self) } }
  func strings(_ name: String) -> [String]? { byName[name].map { $0.strings.map { String(decoding: $0, as: UTF8.self) } } }
  func tensor(_ name: String) -> Onnx_TensorProto? { byName[name].flatMap { $0.hasT ? $0.t : nil } }
}

extension ConversionContext {
  /// Reserves the elements of a constant `node` is about to compute, of dimensions `dims`,
  /// before it is allocated (see ``ConversionContext/foldingBudget``): every extent and the
  /// count at most ``LiftNN/TensorLimits/maximumElements``, and the count within what is left
  /// of the budget. Returns the count.
  mutating func reserveFolded(_ dims: [Int], _ node: Onnx_NodeProto) throws(ONNXImportError) -> Int {
    guard let n = TensorLimits.checkedElements(dims) else {
      throw usage(node, "the constant it computes, of shape \(dims), would have more than \(TensorLimits.maximumElements) elements")
    }
    guard n <= foldingBudget else {
      throw usage(
        node,
        "the constant it computes, of shape \(dims) (\(n) elements), exceeds what import-time folding may allocate (\(foldingBudget) elements left)"
      )
    }
    foldingBudget -= n
    return n
  }

  /// Input `i` of `node`; throws if it is absent or undefined.
  func value(_ node: Onnx_NodeProto, _ i: Int) throws(ONNXImportError) -> Value {
    guard let v = try optionalValue(node, i) else {
      throw usage(node, "input \(i) is missing")
    }
    return v
  }

  /// Input `i` of `node`, or `nil` when it is omitted (absent or named "").
  func optionalValue(_ node: Onnx_NodeProto, _ i: Int) throws(ONNXImportError) -> Value? {
    guard i < node.input.count, !node.input[i].isEmpty else { return nil }
    guard let v = values[node.input[i]] else {
      throw .missingTensor(name: node.input[i], node: displayName(node))
    }
    return v
  }

  /// Input `i`, which must be computed from the graph inputs.
  func graphInput(_ node: Onnx_NodeProto, _ i: Int) throws(ONNXImportError) -> (id: NodeID, shape: [Int]) {
    guard case .node(let id, let shape) = try value(node, i) else {
      throw usage(
        node, "input \(i) ('\(node.input[i])') must be computed from the model inputs, not a constant")
    }
    return (id, shape)
  }

  /// Input `i`, which must be known at import time (an initializer or constant expression).
  func constantInput(_ node: Onnx_NodeProto, _ i: Int) throws(ONNXImportError) -> Constant {
    guard let c = try optionalConstant(node, i) else { throw usage(node, "input \(i) is missing") }
    return c
  }

  func optionalConstant(_ node: Onnx_NodeProto, _ i: Int) throws(ONNXImportError) -> Constant? {
    switch try optionalValue(node, i) {
    case nil: return nil
    case .constant(let c):
      return c
    case .node:
      throw usage(
        node, "input \(i) ('\(node.input[i])') must be a constant (initializer), not computed from the inputs"
      )
    }
  }

  /// Integer data of a constant input (axes, shapes, pads), without batch markers.
  func integerInput(_ node: Onnx_NodeProto, _ i: Int) throws(ONNXImportError) -> [Int]? {
    guard let c = try optionalConstant(node, i) else { return nil }
    guard let ints = c.integers, !c.containsBatchMarker else {
      throw usage(node, "input \(i) must hold integers known at import time")
    }
    return ints
  }

  /// Emits `op` on the channels-last view of a channels-first (ONNX `N, C, S…`) tensor:
  /// transpose to `N, S…, C`, apply `op`, and (with `transposeBack`) transpose back.
  /// The node holding the ONNX value is named after the ONNX output.
  mutating func emitChannelsLast(
    _ op: Op, input x: (id: NodeID, shape: [Int]), node: Onnx_NodeProto, transposeBack: Bool = true
  ) throws(ONNXImportError) -> Value {
    let name = node.output[0]
    let r = x.shape.count + 1
    let t = try emit(
      .transpose(toChannelsLast(rank: r)), inputs: [x.id], name: name + ":to_channels_last",
      origin: "\(node.opType) layout", onnxNode: node)
    guard case .node(let tid, _) = t else { preconditionFailure() }
    let body = try emit(
      op, inputs: [tid], name: transposeBack ? name + ":channels_last" : name, origin: node.opType,
      onnxNode: node)
    guard transposeBack, case .node(let bid, let bshape) = body else { return body }
    return try emit(
      .transpose(toChannelsFirst(rank: bshape.count + 1)), inputs: [bid], name: name,
      origin: "\(node.opType) layout", onnxNode: node)
  }
}

/// Full-tensor permutation `N, C, S… → N, S…, C` for rank `r`.
func toChannelsLast(rank r: Int) -> [Int] { [0] + Array(2..<max(r, 2)) + [1] }

/// Full-tensor permutation `N, S…, C → N, C, S…` for rank `r`.
func toChannelsFirst(rank r: Int) -> [Int] { [0, r - 1] + Array(1..<max(r - 1, 1)) }

/// Normalises an ONNX axis (negative counts from the end) for a tensor of full rank `rank`.
func normalizeAxis(_ axis: Int, rank: Int, _ node: Onnx_NodeProto) throws(ONNXImportError) -> Int {
  let a = axis < 0 ? axis + rank : axis
  guard a >= 0, a < rank else { throw usage(node, "axis \(axis) out of range for rank \(rank)") }
  return a
}

/// A constant broadcast (ONNX/NumPy rules, right-aligned) against a graph tensor whose
/// per-example shape is `example`, as a parameter of per-example rank for
/// ``LiftNN/Op/affine(scale:offset:)`` or ``LiftNN/Op/prelu(alpha:)``: a leading batch extent
/// of 1 is dropped, missing leading axes become 1. Throws when the constant would enlarge the
/// tensor (an extent ≠ 1 where the tensor's differs) or varies along the batch axis.
func exampleParameter(_ c: Constant, example: [Int], _ node: Onnx_NodeProto) throws(ONNXImportError) -> Tensor
{
  var dims = c.dims
  let full = example.count + 1
  guard dims.count <= full else {
    throw usage(node, "constant of shape \(c.dims) has a higher rank than the tensor (\(full))")
  }
  if dims.count == full {
    guard dims[0] == 1 else { throw usage(node, "constant of shape \(c.dims) varies along the batch axis") }
    dims.removeFirst()
  }
  dims = [Int](repeating: 1, count: example.count - dims.count) + dims
  for (p, e) in zip(dims, example) where p != e && p != 1 {
    throw usage(node, "constant of shape \(c.dims) does not broadcast to examples of shape \(example)")
  }
  guard !c.containsBatchMarker else { throw usage(node, "arithmetic on a dynamic shape is not supported") }
  return c.tensor(shape: dims)
}

/// A tensor of ones (or `value`) with `rank` axes of extent 1.
func filled(_ value: Float, rank: Int) -> Tensor {
  Tensor(repeating: value, shape: Shape([Int](repeating: 1, count: rank)))
}
