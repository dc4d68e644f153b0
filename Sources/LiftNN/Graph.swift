import LiftTensor

/// Identifies a node of a ``Graph`` by its position in topological order.
public struct NodeID: Hashable, Sendable, Comparable, CustomStringConvertible {
  public let rawValue: Int
  public init(_ rawValue: Int) { self.rawValue = rawValue }
  public static func < (a: NodeID, b: NodeID) -> Bool { a.rawValue < b.rawValue }
  public var description: String { "%\(rawValue)" }
}

/// One operation of a graph with the nodes it reads.
public struct Node: Sendable {
  public var op: Op
  /// Producers of this node's operands, in operand order. Each precedes this node.
  public var inputs: [NodeID]
  /// The importer's name (Keras layer name, ONNX output tensor name); unique in a graph.
  public var name: String
  /// Where the node came from, for messages and tables (Keras class name, ONNX op type).
  public var origin: String

  public init(op: Op, inputs: [NodeID], name: String, origin: String = "") {
    self.op = op
    self.inputs = inputs
    self.name = name
    self.origin = origin
  }
}

/// A DAG of ``Node``s in topological order (every node's inputs precede it), with several
/// inputs and outputs.
///
/// Backward passes walk `nodes.indices.reversed()`. Node names are unique, so a layer can be
/// addressed by name (`--layer`, `--target`).
public struct Graph: Sendable {
  public private(set) var nodes: [Node]
  /// The ``Op/input(shape:)`` nodes, in the model's input order.
  public private(set) var inputs: [NodeID]
  /// The model outputs, in the model's output order.
  public var outputs: [NodeID]
  /// What the importer changed or left out that the user should know (an ONNX label output
  /// skipped, a ZipMap output explained as the tensor it maps); one sentence each.
  public var notes: [String] = []
  /// The integer inputs read through an embedding table, by input name: the input node of
  /// that name takes the embedding vectors (``TokenEmbedding``). Empty for float-only models.
  public var tokenEmbeddings: [String: TokenEmbedding] = [:]
  /// Node index by name, so ``add(_:inputs:name:origin:)`` and ``node(named:)`` take constant
  /// time and building an n-node graph takes O(n), not O(n²) (a 170k-node ONNX chain).
  private var indexByName: [String: Int]

  /// Creates an empty graph; add nodes with ``add(_:inputs:name:origin:)``.
  public init() {
    nodes = []
    inputs = []
    outputs = []
    indexByName = [:]
  }

  /// Appends a node and returns its ID.
  ///
  /// - Precondition: every input ID refers to an existing node (topological order), and `name`
  ///   is not used yet.
  @discardableResult
  public mutating func add(_ op: Op, inputs: [NodeID] = [], name: String, origin: String = "")
    -> NodeID
  {
    precondition(inputs.allSatisfy { $0.rawValue < nodes.count }, "graph inputs must precede \(name)")
    precondition(node(named: name) == nil, "duplicate node name \(name)")
    let id = NodeID(nodes.count)
    nodes.append(Node(op: op, inputs: inputs, name: name, origin: origin))
    indexByName[name] = id.rawValue
    if case .input = op { self.inputs.append(id) }
    return id
  }

  public subscript(id: NodeID) -> Node { nodes[id.rawValue] }

  /// The node called `name`, if any.
  public func node(named name: String) -> NodeID? {
    indexByName[name].map(NodeID.init)
  }

  /// The names of the input nodes, in input order.
  public var inputNames: [String] { inputs.map { self[$0].name } }

  /// For each node, the nodes that read it.
  public var consumers: [[NodeID]] {
    var result = [[NodeID]](repeating: [], count: nodes.count)
    for (i, n) in nodes.enumerated() {
      for input in n.inputs where !result[input.rawValue].contains(NodeID(i)) {
        result[input.rawValue].append(NodeID(i))
      }
    }
    return result
  }

  /// Replaces the op of a node (importer post-processing such as weight normalisation).
  public mutating func replaceOp(of id: NodeID, with op: Op) {
    nodes[id.rawValue].op = op
  }
}
