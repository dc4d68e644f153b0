import LiftTensor

/// The float32 activations one example needs as it goes through a graph, from shape
/// inference (nothing is allocated to compute it).
public struct ActivationFootprint: Sendable, Equatable {
  /// `4 · Σ elements` of one example's outputs over the nodes counted (inputs included):
  /// what the executor holds for one example, since ``forward(_:inputs:computing:)`` keeps
  /// every computed node's output until the pass ends. Saturates at `Int.max`.
  public var bytesPerExample: Int
  /// The node with the largest per-example output.
  public var largest: NodeID
  /// That node's per-example output shape (batch axis dropped).
  public var largestShape: [Int]
  /// `4 · elements` of that node's output for one example.
  public var largestBytes: Int

  /// `a · b` or `Int.max` when it overflows (both non-negative): budgets compare against
  /// saturated products, so a huge count reads as "does not fit", never as a wrapped value.
  public static func saturatingProduct(_ a: Int, _ b: Int) -> Int {
    let (p, overflow) = a.multipliedReportingOverflow(by: b)
    return overflow ? Int.max : p
  }

  /// `a + b` or `Int.max` when it overflows (both non-negative).
  public static func saturatingSum(_ a: Int, _ b: Int) -> Int {
    let (s, overflow) = a.addingReportingOverflow(b)
    return overflow ? Int.max : s
  }

  /// The error for a run whose smallest unit (`what`: one example, perhaps with its
  /// references) needs `needed` bytes against `budget`, naming the largest layer.
  public func exceeding(_ budget: Int, needed: Int, what: String, in graph: Graph) -> GraphError {
    .memoryBudget(
      what: what, needed: needed, budget: budget, node: graph[largest].name, op: graph[largest].op.kindName,
      shape: largestShape)
  }
}

extension Graph {
  /// The per-example activation footprint of the nodes in `nodes` (all nodes when nil) for
  /// batches whose full shapes are `shapes` (``inferShapes(inputShapes:)``'s result).
  ///
  /// - Precondition: `shapes.count == nodes.count` (shapes of this graph).
  public func activationFootprint(shapes: [Shape], nodes counted: Set<NodeID>? = nil) -> ActivationFootprint {
    precondition(shapes.count == nodes.count, "shapes of another graph")
    var total = 0
    var largest = (id: NodeID(0), shape: [Int](), bytes: -1)
    for (i, shape) in shapes.enumerated() where counted?.contains(NodeID(i)) ?? true {
      let example = Array(shape.dimensions.dropFirst())
      // inferShapes checked the full shape's count; an empty batch (N = 0) says nothing about
      // one example, whose count is checked here.
      let elements = Shape.checkedCount(example) ?? Int.max
      let bytes = ActivationFootprint.saturatingProduct(elements, MemoryLayout<Float>.size)
      total = ActivationFootprint.saturatingSum(total, bytes)
      if bytes > largest.bytes { largest = (NodeID(i), example, bytes) }
    }
    return ActivationFootprint(
      bytesPerExample: total, largest: largest.id, largestShape: largest.shape, largestBytes: max(largest.bytes, 0))
  }

  /// Examples per forward pass (``forward(_:inputs:computing:)`` computing `targets` and
  /// their ancestors) that fit `budget` bytes: `min(requested, budget / bytesPerExample)`.
  ///
  /// - Parameters:
  ///   - inputShapes: full input shapes (any batch extent; only the per-example part counts).
  ///   - targets: the nodes wanted (nil: every node).
  ///   - requested: the batch size asked for (≥ 1).
  ///   - budget: bytes (``MemoryBudget/bytes`` by default).
  /// - Throws: ``GraphError/memoryBudget(what:needed:budget:node:op:shape:)`` when one
  ///   example does not fit; the shape errors of ``inferShapes(inputShapes:)``.
  public func examplesPerForwardPass(
    inputShapes: [Shape], computing targets: Set<NodeID>?, requested: Int, budget: Int = MemoryBudget.bytes
  ) throws(GraphError) -> Int {
    let shapes = try inferShapes(inputShapes: inputShapes)
    let footprint = activationFootprint(shapes: shapes, nodes: targets.map { ancestors(of: $0) })
    let perExample = max(footprint.bytesPerExample, 1)
    guard perExample <= budget else {
      throw footprint.exceeding(budget, needed: perExample, what: "one example", in: self)
    }
    return max(1, min(requested, budget / perExample))
  }

  /// Checks that every parameter of every node is finite: dense and convolution weights and
  /// biases, affine scales and offsets, PReLU slopes, padding values and activation
  /// parameters (leaky-ReLU / ELU slopes, hard-sigmoid α and β; a clip bound may be ±∞ — an open side — but not
  /// NaN), and the tables of ``tokenEmbeddings``. Called by the model loaders of every format, so a NaN or ±∞ read from a file is an
  /// error naming the layer, not NaN scores.
  ///
  /// - Throws: ``GraphError/nonFiniteParameter(node:op:parameter:index:value:)`` for the first
  ///   bad element, in node order.
  public func checkFiniteParameters() throws(GraphError) {
    for node in nodes {
      var tensors: [(String, Tensor)] = []
      var scalars: [(String, Float, allowInfinite: Bool)] = []
      switch node.op {
      case .dense(let w, let b), .conv(let w, let b, _), .convTranspose(let w, let b, _, _):
        tensors = [("weight", w)] + (b.map { [("bias", $0)] } ?? [])
      case .affine(let scale, let offset): tensors = [("scale", scale), ("offset", offset)]
      case .prelu(let alpha): tensors = [("alpha", alpha)]
      case .constant(let value): tensors = [("value", value)]
      case .pad(_, _, let value): scalars = [("padding value", value, false)]
      case .layerNorm(let p), .rmsNorm(let p):
        tensors = (p.scale.map { [("scale", $0)] } ?? []) + (p.bias.map { [("bias", $0)] } ?? [])
        scalars = [("epsilon", p.epsilon, false)]
      case .activation(let f):
        switch f {
        case .leakyRelu(let a), .elu(let a): scalars = [("alpha", a, false)]
        case .clip(let lower, let upper): scalars = [("lower bound", lower, true), ("upper bound", upper, true)]
        case .hardSigmoid(let alpha, let beta): scalars = [("alpha", alpha, false), ("beta", beta, false)]
        case .pow(let p): scalars = [("exponent", p, false)]
        default: break
        }
      default: break
      }
      for (name, value, allowInfinite) in scalars where value.isNaN || (!allowInfinite && value.isInfinite) {
        throw .nonFiniteParameter(node: node.name, op: node.op.kindName, parameter: name, index: [], value: value)
      }
      for (name, t) in tensors {
        guard let (index, value) = t.firstNonFinite() else { continue }
        throw .nonFiniteParameter(node: node.name, op: node.op.kindName, parameter: name, index: index, value: value)
      }
    }
    for (_, e) in tokenEmbeddings.sorted(by: { $0.key < $1.key }) {
      guard let (index, value) = e.table.firstNonFinite() else { continue }
      throw .nonFiniteParameter(node: e.layer, op: "embedding", parameter: "table", index: index, value: value)
    }
  }
}
