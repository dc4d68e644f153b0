/// Errors from checking or running a ``Graph`` on concrete inputs.
public enum GraphError: Error, Equatable, CustomStringConvertible {
  /// The number of input tensors differs from the graph's inputs.
  case inputCount(expected: Int, found: Int)
  /// An input tensor does not have the declared per-example shape.
  case inputShape(input: String, expected: [Int?], found: [Int])
  /// An op cannot be applied to operands of these shapes: full shapes (batch axis first) from
  /// ``Graph/outputShape(_:inputs:)``, per-example shapes with `nil` for an unknown extent
  /// from ``Graph/exampleShape(_:operands:)`` (import time).
  case invalidShapes(node: String, op: String, shapes: [[Int?]], reason: String)
  /// A node name that does not exist.
  case unknownNode(String)
  /// `what` (one example, or one example with its references) needs `needed` bytes of
  /// activations, more than the memory budget (``MemoryBudget``); `node` is the layer with
  /// the largest activation and `shape` its per-example output shape.
  case memoryBudget(what: String, needed: Int, budget: Int, node: String, op: String, shape: [Int])
  /// A weight, bias or other parameter of `node` that is NaN or infinite: `parameter` names
  /// it (`weight`, `bias`, `alpha`, …), `index` is the first bad element's index.
  case nonFiniteParameter(node: String, op: String, parameter: String, index: [Int], value: Float)

  public var description: String {
    func fmt(_ s: [Int]) -> String { "(" + s.map(String.init).joined(separator: ", ") + ")" }
    switch self {
    case .inputCount(let e, let f): return "the model has \(e) input(s) but \(f) were given"
    case .inputShape(let name, let expected, let found):
      let e = "(" + expected.map { $0.map(String.init) ?? "?" }.joined(separator: ", ") + ")"
      return "input '\(name)' expects examples of shape \(e), got \(fmt(Array(found.dropFirst()))) (array shape \(fmt(found)))"
    case .invalidShapes(let node, let op, let shapes, let reason):
      let described = shapes.map { "(" + $0.map { $0.map(String.init) ?? "?" }.joined(separator: ", ") + ")" }
      return "layer '\(node)' (\(op)) cannot take input shape(s) \(described.joined(separator: ", ")): \(reason)"
    case .unknownNode(let name): return "no layer named '\(name)' in the model"
    case .memoryBudget(let what, let needed, let budget, let node, let op, let shape):
      return
        "\(what) would need \(MemoryBudget.describe(needed)) of activations, more than the memory budget of \(MemoryBudget.describe(budget)) (set \(MemoryBudget.environmentVariable) to change it); the largest is layer '\(node)' (\(op)) with output shape \(fmt(shape)) per example"
    case .nonFiniteParameter(let node, let op, let parameter, let index, let value):
      let what = value.isNaN ? "NaN" : (value > 0 ? "inf" : "-inf")
      return
        "layer '\(node)' (\(op)): \(what) in its \(parameter) at index [\(index.map(String.init).joined(separator: ", "))]; model weights must be finite"
    }
  }
}
