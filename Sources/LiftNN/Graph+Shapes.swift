import LiftTensor

extension Graph {
  /// Full output shapes (batch axis first) of every node for inputs of the given full shapes.
  ///
  /// - Throws: ``GraphError`` when an input has the wrong per-example shape or an op does not
  ///   fit its operands.
  public func inferShapes(inputShapes: [Shape]) throws(GraphError) -> [Shape] {
    guard inputShapes.count == inputs.count else {
      throw .inputCount(expected: inputs.count, found: inputShapes.count)
    }
    var shapes = [Shape]()
    shapes.reserveCapacity(nodes.count)
    var nextInput = 0
    for node in nodes {
      if case .input(let declared) = node.op {
        let s = inputShapes[nextInput]
        nextInput += 1
        let ok =
          s.rank == declared.count + 1
          && zip(declared, s.dimensions.dropFirst()).allSatisfy { d, e in d == nil || d == e }
        guard ok else { throw .inputShape(input: node.name, expected: declared, found: s.dimensions) }
        // A declared input of [N, 2³¹, 2³¹, 2³¹] must not reach a reshape or a count.
        try Graph.checkCounts(s, node: node, operands: [])
        shapes.append(s)
      } else {
        let operands = node.inputs.map { shapes[$0.rawValue] }
        shapes.append(try Graph.outputShape(node, inputs: operands))
      }
    }
    return shapes
  }

  /// The full output shape of `node` for operands of shapes `inputs`, with its element count
  /// checked (``checkCounts(_:node:operands:)``): importers call this for every node they
  /// add, so no later count can overflow.
  public static func outputShape(_ node: Node, inputs s: [Shape]) throws(GraphError) -> Shape {
    let shape = try uncheckedOutputShape(node, inputs: s)
    try checkCounts(shape, node: node, operands: s)
    return shape
  }

  /// Throws unless every extent of `shape` is non-negative, its element count fits `Int` and
  /// one example (the batch axis dropped) has at most ``TensorLimits/maximumElements``: an
  /// imported file can declare extents (Reshape targets, pads, Expand, Tile…) whose product
  /// overflows (found by Fuzz/FuzzONNX) or that no memory holds. Per-example memory against
  /// the budget is checked separately (``activationFootprint(shapes:nodes:)``).
  static func checkCounts(_ shape: Shape, node: Node, operands: [Shape]) throws(GraphError) {
    let example = Array(shape.dimensions.dropFirst())
    guard Shape.checkedCount(shape.dimensions) != nil, TensorLimits.checkedElements(example) != nil else {
      throw .invalidShapes(
        node: node.name, op: node.op.kindName, shapes: operands.map(\.dimensions),
        reason: "output shape \(shape.dimensions) has more elements than fit in memory (over \(TensorLimits.maximumElements) per example, or a count that overflows)")
    }
  }

  /// ``outputShape(node:inputs:)`` before the count check.
  static func uncheckedOutputShape(_ node: Node, inputs s: [Shape]) throws(GraphError) -> Shape {
    func fail(_ reason: String) -> GraphError {
      .invalidShapes(node: node.name, op: node.op.kindName, shapes: s.map(\.dimensions), reason: reason)
    }
    func one() throws(GraphError) -> Shape {
      guard s.count == 1 else { throw fail("expects 1 operand, has \(s.count)") }
      return s[0]
    }
    switch node.op {
    case .input: throw fail("input node used as an operation")
    case .dense(let w, let b):
      let x = try one()
      guard x.rank >= 2, w.rank == 2, x[-1] == w.shape[0] else {
        throw fail("needs a last axis of \(w.shape[0]) features")
      }
      if let b, b.shape != [w.shape[1]] { throw fail("bias shape \(b.shape) does not match \(w.shape)") }
      var out = x
      out[-1] = w.shape[1]
      return out
    case .conv(let w, let b, let p):
      let x = try one()
      let d = w.rank - 2
      guard d == 1 || d == 2, x.rank == d + 2, p.groups >= 1, p.strides.count == d,
        p.dilations.count == d
      else { throw fail("needs a rank-\(w.rank) input (batch, \(d) spatial, channels)") }
      let cin = x[-1]
      let cinPerGroup = w.shape[d], cout = w.shape[d + 1]
      guard cin == cinPerGroup * p.groups, cout % p.groups == 0 else {
        throw fail("\(cin) input channels do not match the kernel \(w.shape) with \(p.groups) group(s)")
      }
      if let b, b.shape != [cout] { throw fail("bias shape \(b.shape) does not match \(cout) filters") }
      let spatial = Array(x.dimensions[1...d])
      guard let out = p.geometry(kernel: Array(w.shape.dimensions[0..<d])).outputSpatial(input: spatial)
      else { throw fail("the kernel does not fit the input (or its padding, stride or dilation overflows)") }
      return Shape([x[0]] + out + [cout])
    case .affine(let scale, let offset):
      let x = try one()
      for t in [scale, offset] where !broadcastable(t.shape, toExample: x) {
        throw fail("parameter of shape \(t.shape) does not broadcast to examples of shape \(x.dropFirst)")
      }
      return x
    case .prelu(let alpha):
      let x = try one()
      guard broadcastable(alpha.shape, toExample: x) else {
        throw fail("alpha of shape \(alpha.shape) does not broadcast to \(x.dropFirst)")
      }
      return x
    case .activation, .identity: return try one()
    case .softmax(let axis):
      let x = try one()
      guard let a = x.checkedAxis(axis), a >= 1 else { throw fail("axis \(axis) out of range") }
      return x
    case .maxPool(let p), .averagePool(let p):
      let x = try one()
      let d = p.size.count
      guard d == 1 || d == 2, x.rank == d + 2 else { throw fail("needs \(d) spatial axes") }
      guard let out = p.geometry.outputSpatial(input: Array(x.dimensions[1...d])) else {
        throw fail("the pool window does not fit the input (or its padding or stride overflows)")
      }
      return Shape([x[0]] + out + [x[-1]])
    case .globalMaxPool, .globalAveragePool:
      let x = try one()
      guard x.rank == 3 || x.rank == 4, x.dimensions[1..<(x.rank - 1)].allSatisfy({ $0 >= 1 }) else {
        throw fail("needs 1 or 2 non-empty spatial axes")
      }
      return [x[0], x[-1]]
    case .reshape(let target):
      let x = try one()
      guard let count = Shape.checkedCount(x.dropFirst.dimensions) else { throw fail("input too large") }
      let unknown = target.filter { $0 == -1 }.count
      guard unknown <= 1, target.allSatisfy({ $0 >= -1 }) else { throw fail("bad target shape \(target)") }
      guard let known = Shape.checkedCount(target.filter { $0 != -1 }) else {
        throw fail("target shape \(target) has too many elements")
      }
      var dims = target
      if unknown == 1 {
        guard known > 0, count % known == 0 else { throw fail("cannot reshape \(count) values to \(target)") }
        dims[dims.firstIndex(of: -1)!] = count / known
      } else if known != count {
        throw fail("cannot reshape \(count) values to \(target)")
      }
      return Shape([x[0]] + dims)
    case .transpose(let perm):
      let x = try one()
      guard perm.count == x.rank, Set(perm) == Set(0..<x.rank), perm.first == 0 else {
        throw fail("bad permutation \(perm)")
      }
      return Shape(perm.map { x.dimensions[$0] })
    case .pad(let before, let after, _):
      let x = try one()
      guard before.count == x.rank - 1, after.count == x.rank - 1,
        before.allSatisfy({ $0 >= 0 }), after.allSatisfy({ $0 >= 0 })
      else { throw fail("bad padding \(before) \(after)") }
      var padded = [x[0]]
      for i in 1..<x.rank {
        let (a, o1) = x.dimensions[i].addingReportingOverflow(before[i - 1])
        let (b, o2) = a.addingReportingOverflow(after[i - 1])
        guard !o1, !o2 else { throw fail("padding \(before) \(after) overflows") }
        padded.append(b)
      }
      return Shape(padded)
    case .slice(let start, let end):
      let x = try one()
      guard start.count == x.rank - 1, end.count == x.rank - 1,
        (1..<x.rank).allSatisfy({ 0 <= start[$0 - 1] && start[$0 - 1] < end[$0 - 1] && end[$0 - 1] <= x.dimensions[$0] })
      else { throw fail("bad crop \(start)..<\(end)") }
      return Shape([x[0]] + (0..<(x.rank - 1)).map { end[$0] - start[$0] })
    case .concat(let axis):
      guard let first = s.first else { throw fail("no operands") }
      guard let a = first.checkedAxis(axis), a >= 1 else { throw fail("axis \(axis) out of range") }
      var out = first
      out[a] = 0
      for t in s {
        guard t.rank == first.rank,
          (0..<t.rank).allSatisfy({ $0 == a || t.dimensions[$0] == first.dimensions[$0] })
        else { throw fail("operands differ off the concatenation axis") }
        let (sum, overflow) = out[a].addingReportingOverflow(t[a])
        guard !overflow else { throw fail("concatenated extent overflows") }
        out[a] = sum
      }
      return out
    case .add, .average, .maximum, .minimum, .subtract:
      guard let first = s.first, s.count >= (node.op.kindName == "subtract" ? 2 : 1) else {
        throw fail("no operands")
      }
      if case .subtract = node.op, s.count != 2 { throw fail("subtract takes 2 operands") }
      guard s.allSatisfy({ $0 == first }) else { throw fail("operand shapes differ") }
      return first
    }
  }

  /// Whether a parameter of shape `p` broadcasts to the examples of a batch of shape `x`:
  /// same rank as an example (or rank 1 matching the last axis), each extent equal or 1.
  static func broadcastable(_ p: Shape, toExample x: Shape) -> Bool {
    let e = x.dropFirst
    if p.rank == 1 && e.rank >= 1 && (p[0] == e[-1] || p[0] == 1) { return true }
    guard p.rank == e.rank else { return false }
    return zip(p.dimensions, e.dimensions).allSatisfy { $0 == $1 || $0 == 1 }
  }
}
