import LiftNN
import LiftTensor

/// A node of the graph under construction with its inferred per-example shape (`nil` for an
/// extent the file leaves open).
struct Value {
  var id: NodeID
  var shape: [Int?]
  var rank: Int { shape.count }
}

/// Builds a ``Graph`` while inferring per-example shapes with LiftNN's rules
/// (``LiftNN/Graph/exampleShape(_:operands:)``, the same ones explain time applies to full
/// shapes), so converters can check weights and resolve negative axes, and so no `Graph`
/// precondition can fire on a bad file.
struct GraphAssembler {
  var graph = Graph()
  var shapes = [[Int?]]()
  var names = Set<String>()
  let file: String

  init(file: String) { self.file = file }

  func value(_ id: NodeID) -> Value { Value(id: id, shape: shapes[id.rawValue]) }

  /// Appends a node after checking its name and inferring its shape; a shape error names the
  /// Keras `layer` the node comes from.
  mutating func add(_ op: Op, inputs: [Value], name: String, origin: String, layer: String)
    throws(KerasImportError) -> Value
  {
    guard !names.contains(name) else {
      throw .invalidConfig(file: file, reason: "two graph nodes would be called '\(name)'")
    }
    let node = Node(op: op, inputs: inputs.map(\.id), name: name, origin: origin)
    let shape: [Int?]
    do {
      shape = try Graph.exampleShape(node, operands: inputs.map(\.shape))
    } catch {
      throw .shapeMismatch(file: file, layer: layer, reason: Self.reason(error))
    }
    names.insert(name)
    let id = graph.add(op, inputs: inputs.map(\.id), name: name, origin: origin)
    shapes.append(shape)
    return Value(id: id, shape: shape)
  }

  /// A ``LiftNN/GraphError`` as the reason of a Keras shape mismatch: the IR op, the
  /// per-example operand shapes (`?` unknown) and why they do not fit.
  static func reason(_ error: GraphError) -> String {
    guard case .invalidShapes(_, let op, let shapes, let reason) = error else { return error.description }
    let described = shapes.map { "(" + $0.map { $0.map(String.init) ?? "?" }.joined(separator: ", ") + ")" }
    return "\(op) cannot take examples of shape \(described.joined(separator: ", ")): \(reason)"
  }
}
