/// Errors from checking or running a ``Graph`` on concrete inputs.
public enum GraphError: Error, Equatable, CustomStringConvertible {
  /// The number of input tensors differs from the graph's inputs.
  case inputCount(expected: Int, found: Int)
  /// An input tensor does not have the declared per-example shape.
  case inputShape(input: String, expected: [Int?], found: [Int])
  /// An op cannot be applied to operands of these shapes.
  case invalidShapes(node: String, op: String, shapes: [[Int]], reason: String)
  /// A node name that does not exist.
  case unknownNode(String)

  public var description: String {
    func fmt(_ s: [Int]) -> String { "(" + s.map(String.init).joined(separator: ", ") + ")" }
    switch self {
    case .inputCount(let e, let f): return "the model has \(e) input(s) but \(f) were given"
    case .inputShape(let name, let expected, let found):
      let e = "(" + expected.map { $0.map(String.init) ?? "?" }.joined(separator: ", ") + ")"
      return "input '\(name)' expects examples of shape \(e), got \(fmt(Array(found.dropFirst()))) (array shape \(fmt(found)))"
    case .invalidShapes(let node, let op, let shapes, let reason):
      return "layer '\(node)' (\(op)) cannot take input shape(s) \(shapes.map(fmt).joined(separator: ", ")): \(reason)"
    case .unknownNode(let name): return "no layer named '\(name)' in the model"
    }
  }
}
