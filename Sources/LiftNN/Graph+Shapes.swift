import LiftTensor

// One shape inference for every caller: ``Graph/exampleRule(_:_:)`` holds the rule of each op
// on per-example shapes whose extents may be unknown (`nil`). Explain time calls it through
// ``Graph/outputShape(_:inputs:)`` with full shapes (every extent known, batch axis first);
// importers call it through ``Graph/exampleShape(_:operands:)`` with the extents the file
// declares, so a Keras input of shape `(None, 4)` keeps its unknown length until the data
// fixes it. No op changes the batch axis, so the rules never see it.

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

  /// Per-example output shapes (batch axis dropped) of every node from the input shapes the
  /// graph declares, `nil` for an extent that stays unknown until the data is given (a Keras
  /// `None` length and everything computed from it).
  ///
  /// - Throws: ``GraphError/invalidShapes(node:op:shapes:reason:)`` (per-example shapes) for
  ///   the first node whose operands cannot fit it whatever the unknown extents turn out to be.
  public func inferExampleShapes() throws(GraphError) -> [[Int?]] {
    var shapes = [[Int?]]()
    shapes.reserveCapacity(nodes.count)
    for node in nodes {
      shapes.append(try Graph.exampleShape(node, operands: node.inputs.map { shapes[$0.rawValue] }))
    }
    return shapes
  }

  /// The full output shape of `node` for operands of full shapes `inputs` (batch axis first;
  /// the operands share one batch extent), with its element count checked
  /// (``checkCounts(_:node:operands:)``): importers call this for every node they add, so no
  /// later count can overflow.
  public static func outputShape(_ node: Node, inputs s: [Shape]) throws(GraphError) -> Shape {
    func fail(_ reason: String) -> GraphError {
      .invalidShapes(node: node.name, op: node.op.kindName, shapes: s.map(\.dimensions), reason: reason)
    }
    guard let batch = s.first.map({ $0.rank >= 1 ? $0[0] : -1 }) else {
      throw fail(node.op.isInput ? "input node used as an operation" : "no operands")
    }
    guard batch >= 0, s.allSatisfy({ $0.rank >= 1 && $0[0] == batch }) else {
      throw fail("operands need one batch axis of one extent")
    }
    let example: [Int?]
    do {
      example = try exampleRule(node.op, s.map { $0.dimensions.dropFirst().map { Optional($0) } })
    } catch {
      throw fail(error.reason)
    }
    // Known operands give known outputs (every rule's output extents are functions of them).
    let dims = example.compactMap { $0 }
    guard dims.count == example.count else { throw fail("output shape left unknown") }
    let shape = Shape([batch] + dims)
    try checkCounts(shape, node: node, operands: s)
    return shape
  }

  /// The per-example output shape of `node` (batch axis dropped) for operands of per-example
  /// shapes `operands`, `nil` for an extent that depends on an unknown one; an ``Op/input(shape:)``
  /// node (no operands) gives its declared shape.
  ///
  /// The same rule as ``outputShape(_:inputs:)``: it throws when no value of the unknown
  /// extents could make the operands fit, and when the known extents alone hold more than
  /// ``TensorLimits/maximumElements`` (then every non-empty example would); what depends on
  /// unknown extents is checked once they are known.
  ///
  /// - Throws: ``GraphError/invalidShapes(node:op:shapes:reason:)`` with the per-example
  ///   operand shapes.
  public static func exampleShape(_ node: Node, operands: [[Int?]]) throws(GraphError) -> [Int?] {
    do throws(ShapeRuleFailure) {
      let out = try exampleRule(node.op, operands)
      let known = out.compactMap { $0 }
      guard known.allSatisfy({ $0 >= 0 }), TensorLimits.checkedElements(known) != nil else {
        throw ShapeRuleFailure(
          "output shape \(describe(out)) has more elements than fit in memory (over \(TensorLimits.maximumElements) per example, or a count that overflows)")
      }
      return out
    } catch {
      throw .invalidShapes(node: node.name, op: node.op.kindName, shapes: operands, reason: error.reason)
    }
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

  /// `(?, 4)`: a per-example shape for messages.
  static func describe(_ shape: [Int?]) -> String {
    "(" + shape.map { $0.map(String.init) ?? "?" }.joined(separator: ", ") + ")"
  }

  /// The rule of every op: the per-example output shape for per-example operand shapes `s`
  /// (`nil` = unknown extent). An unknown extent stays unknown in the output unless the op
  /// forces it (an operand of a merge, a concatenation's other axes, a parameter that does
  /// not broadcast); a check that needs an unknown extent is left to the full shapes.
  static func exampleRule(_ op: Op, _ s: [[Int?]]) throws(ShapeRuleFailure) -> [Int?] {
    func fail(_ reason: String) -> ShapeRuleFailure { ShapeRuleFailure(reason) }
    func one() throws(ShapeRuleFailure) -> [Int?] {
      guard s.count == 1 else { throw fail("expects 1 operand, has \(s.count)") }
      return s[0]
    }
    /// A softmax or concatenation axis of the full tensor (negative counts from the end, as
    /// the executor reads it) when it is not the batch axis.
    func fullAxis(_ axis: Int, exampleRank r: Int) -> Int? {
      let a = axis < 0 ? axis + r + 1 : axis
      return a >= 1 && a <= r ? a : nil
    }
    /// `e` is unknown or equals `v`.
    func fits(_ e: Int?, _ v: Int) -> Bool { e == nil || e == v }
    switch op {
    case .input(let declared):
      guard s.isEmpty else { throw fail("input node used as an operation") }
      guard declared.allSatisfy({ ($0 ?? 0) >= 0 }) else { throw fail("negative extent in \(describe(declared))") }
      return declared
    case .dense(let w, let b):
      let x = try one()
      guard w.rank == 2 else { throw fail("weight of shape \(w.shape) is not a matrix") }
      guard let last = x.last, fits(last, w.shape[0]) else {
        throw fail("needs a last axis of \(w.shape[0]) features")
      }
      if let b, b.shape != [w.shape[1]] { throw fail("bias shape \(b.shape) does not match \(w.shape)") }
      return x.dropLast() + [w.shape[1]]
    case .conv(let w, let b, let p):
      let x = try one()
      let d = w.rank - 2
      guard d == 1 || d == 2, x.count == d + 1, p.groups >= 1, p.strides.count == d,
        p.dilations.count == d
      else { throw fail("needs a rank-\(w.rank) input (batch, \(max(d, 0)) spatial, channels)") }
      let cinPerGroup = w.shape[d], cout = w.shape[d + 1]
      let (cin, overflow) = cinPerGroup.multipliedReportingOverflow(by: p.groups)
      guard !overflow, fits(x[d], cin), cout % p.groups == 0 else {
        throw fail("\(x[d].map(String.init) ?? "?") input channels do not match the kernel \(w.shape) with \(p.groups) group(s)")
      }
      if let b, b.shape != [cout] { throw fail("bias shape \(b.shape) does not match \(cout) filters") }
      guard let out = windowOutput(p.geometry(kernel: Array(w.shape.dimensions[0..<d])), input: Array(x[0..<d]))
      else { throw fail("the kernel does not fit the input (or its padding, stride or dilation overflows)") }
      return out + [cout]
    case .affine(let scale, let offset):
      var x = try one()
      for t in [scale, offset] {
        guard let refined = broadcast(t.shape, toExample: x) else {
          throw fail("parameter of shape \(t.shape) does not broadcast to examples of shape \(describe(x))")
        }
        x = refined
      }
      return x
    case .prelu(let alpha):
      let x = try one()
      guard let refined = broadcast(alpha.shape, toExample: x) else {
        throw fail("alpha of shape \(alpha.shape) does not broadcast to \(describe(x))")
      }
      return refined
    case .activation, .identity: return try one()
    case .softmax(let axis):
      let x = try one()
      guard fullAxis(axis, exampleRank: x.count) != nil else { throw fail("axis \(axis) out of range") }
      return x
    case .maxPool(let p), .averagePool(let p):
      let x = try one()
      let d = p.size.count
      guard d == 1 || d == 2, x.count == d + 1 else { throw fail("needs \(d) spatial axes") }
      guard let out = windowOutput(p.geometry, input: Array(x[0..<d])) else {
        throw fail("the pool window does not fit the input (or its padding or stride overflows)")
      }
      return out + [x[d]]
    case .globalMaxPool, .globalAveragePool:
      let x = try one()
      guard x.count == 2 || x.count == 3, x.dropLast().allSatisfy({ ($0 ?? 1) >= 1 }) else {
        throw fail("needs 1 or 2 non-empty spatial axes")
      }
      return [x[x.count - 1]]
    case .reshape(let target):
      let x = try one()
      let unknown = target.filter { $0 == -1 }.count
      guard unknown <= 1, target.allSatisfy({ $0 >= -1 }) else { throw fail("bad target shape \(target)") }
      guard let known = Shape.checkedCount(target.filter { $0 != -1 }) else {
        throw fail("target shape \(target) has too many elements")
      }
      // −1 next to a zero extent is unresolvable whatever the input holds.
      if unknown == 1 && known == 0 { throw fail("cannot resolve -1 in \(target)") }
      let extents = x.compactMap { $0 }
      guard extents.count == x.count else { return target.map { $0 == -1 ? nil : $0 } }
      guard let count = Shape.checkedCount(extents) else { throw fail("input too large") }
      if unknown == 1 {
        guard count % known == 0 else { throw fail("cannot reshape \(count) values to \(target)") }
        return target.map { $0 == -1 ? count / known : $0 }
      }
      guard known == count else { throw fail("cannot reshape \(count) values to \(target)") }
      return target
    case .transpose(let perm):
      let x = try one()
      guard perm.count == x.count + 1, Set(perm) == Set(0...x.count), perm.first == 0 else {
        throw fail("bad permutation \(perm)")
      }
      return perm.dropFirst().map { x[$0 - 1] }
    case .pad(let before, let after, _):
      let x = try one()
      guard before.count == x.count, after.count == x.count,
        before.allSatisfy({ $0 >= 0 }), after.allSatisfy({ $0 >= 0 })
      else { throw fail("bad padding \(before) \(after)") }
      var padded = [Int?]()
      for i in x.indices {
        guard let e = x[i] else {
          padded.append(nil)
          continue
        }
        let (a, o1) = e.addingReportingOverflow(before[i])
        let (b, o2) = a.addingReportingOverflow(after[i])
        guard !o1, !o2 else { throw fail("padding \(before) \(after) overflows") }
        padded.append(b)
      }
      return padded
    case .slice(let start, let end):
      let x = try one()
      guard start.count == x.count, end.count == x.count,
        x.indices.allSatisfy({ 0 <= start[$0] && start[$0] < end[$0] && end[$0] <= (x[$0] ?? Int.max) })
      else { throw fail("bad crop \(start)..<\(end)") }
      return x.indices.map { end[$0] - start[$0] }
    case .concat(let axis):
      guard let first = s.first else { throw fail("no operands") }
      guard let full = fullAxis(axis, exampleRank: first.count) else { throw fail("axis \(axis) out of range") }
      let a = full - 1
      var out = first
      out[a] = 0
      for t in s {
        guard t.count == first.count else { throw fail("operands differ off the concatenation axis") }
        for i in t.indices where i != a {
          if let u = out[i], let v = t[i], u != v { throw fail("operands differ off the concatenation axis") }
          out[i] = out[i] ?? t[i]
        }
        guard let sum = out[a], let e = t[a] else {
          out[a] = nil
          continue
        }
        let (total, overflow) = sum.addingReportingOverflow(e)
        guard !overflow else { throw fail("concatenated extent overflows") }
        out[a] = total
      }
      return out
    case .add, .average, .maximum, .minimum, .subtract:
      guard let first = s.first else { throw fail("no operands") }
      if case .subtract = op, s.count != 2 { throw fail("subtract takes 2 operands") }
      var out = first
      for t in s {
        guard t.count == out.count else { throw fail("operand shapes differ") }
        for i in t.indices {
          if let u = out[i], let v = t[i], u != v { throw fail("operand shapes differ") }
          out[i] = out[i] ?? t[i]
        }
      }
      return out
    case .reduce(let kind, let axes, let keepDims):
      let x = try one()
      guard !axes.isEmpty, axes == Array(Set(axes)).sorted(), axes.allSatisfy({ $0 >= 1 && $0 <= x.count }) else {
        throw fail("reduction axes \(axes) must be distinct ascending axes 1...\(x.count) of the full tensor")
      }
      // A sum over nothing is 0, but a mean, maximum or log-sum-exp over nothing is not a number.
      if kind != .sum, axes.contains(where: { x[$0 - 1] == 0 }) { throw fail("reduction over an empty axis") }
      var out = [Int?]()
      for (i, e) in x.enumerated() {
        if axes.contains(i + 1) {
          if keepDims { out.append(1) }
        } else {
          out.append(e)
        }
      }
      return out
    case .multiply:
      guard s.count == 2 else { throw fail("multiply takes 2 operands, has \(s.count)") }
      guard let out = broadcastExamples(s[0], s[1]) else {
        throw fail("operand shapes \(describe(s[0])) and \(describe(s[1])) do not broadcast (equal ranks, extents equal or 1)")
      }
      return out
    case .matmul:
      guard s.count == 2 else { throw fail("matmul takes 2 operands, has \(s.count)") }
      let (a, b) = (s[0], s[1])
      guard a.count >= 2, b.count == a.count else {
        throw fail("needs two operands of one rank with a matrix per example, has \(describe(a)) and \(describe(b))")
      }
      let r = a.count
      if let k = a[r - 1], let kb = b[r - 2], k != kb {
        throw fail("inner extents differ: \(describe(a)) · \(describe(b))")
      }
      guard let lead = broadcastExamples(Array(a.prefix(r - 2)), Array(b.prefix(r - 2))) else {
        throw fail("leading axes of \(describe(a)) and \(describe(b)) do not broadcast")
      }
      return lead + [a[r - 2], b[r - 1]]
    case .resize(let p):
      let x = try one()
      let d = p.spatialRank
      guard d == 1 || d == 2, x.count == d + 1, p.sizes.map({ $0.count == d }) ?? true else {
        throw fail("needs \(d) spatial axes and a channel axis")
      }
      var out = [Int?]()
      for i in 0..<d {
        guard let e = x[i] else {
          // Fixed sizes do not depend on the input; scales are checked once it is known.
          guard p.sizes == nil || p.outputExtent(axis: i, input: 1) != nil else { throw fail("bad sizes \(p.sizes!)") }
          out.append(p.sizes?[i])
          continue
        }
        guard let o = p.outputExtent(axis: i, input: e) else {
          throw fail("scales \(p.scales) / sizes \(p.sizes.map { "\($0)" } ?? "none") give no output extent for input extent \(e)")
        }
        out.append(o)
      }
      return out + [x[d]]
    case .convTranspose(let w, let b, let p, let outputPadding):
      let x = try one()
      let d = w.rank - 2
      guard d == 1 || d == 2, x.count == d + 1, p.groups >= 1, p.strides.count == d, p.dilations.count == d,
        outputPadding.count == d
      else { throw fail("needs a rank-\(w.rank) input (batch, \(max(d, 0)) spatial, channels)") }
      let coutPerGroup = w.shape[d], cin = w.shape[d + 1]
      let (cout, overflow) = coutPerGroup.multipliedReportingOverflow(by: p.groups)
      guard !overflow, fits(x[d], cin), cin % p.groups == 0 else {
        throw fail("\(x[d].map(String.init) ?? "?") input channels do not match the kernel \(w.shape) with \(p.groups) group(s)")
      }
      if let b, b.shape != [cout] { throw fail("bias shape \(b.shape) does not match \(cout) filters") }
      let kernel = Array(w.shape.dimensions[0..<d])
      var out = [Int?]()
      for i in 0..<d {
        // Axis by axis, so that an unknown extent leaves only its own axis open.
        var axis = p
        axis.strides = [p.strides[i]]
        axis.dilations = [p.dilations[i]]
        if case .explicit(let before, let after) = p.padding {
          guard before.count == d, after.count == d else { throw fail("bad padding \(before) \(after)") }
          axis.padding = .explicit(before: [before[i]], after: [after[i]])
        }
        let probe = x[i] ?? 1
        guard let g = convTransposeGeometry(kernel: [kernel[i]], input: [probe], parameters: axis, outputPadding: [outputPadding[i]])
        else {
          if x[i] == nil { out.append(nil); continue }
          throw fail("the kernel, strides, padding and output padding do not fit input extent \(probe)")
        }
        out.append(x[i] == nil ? nil : g.output[0])
      }
      return out + [cout]
    case .gather(let axis, let indices):
      var x = try one()
      guard let full = fullAxis(axis, exampleRank: x.count) else { throw fail("axis \(axis) out of range") }
      guard !indices.isEmpty, indices.allSatisfy({ $0 >= 0 && $0 < (x[full - 1] ?? Int.max) }) else {
        throw fail("indices \(indices) out of range for extent \(x[full - 1].map(String.init) ?? "?")")
      }
      x[full - 1] = indices.count
      return x
    case .constant(let value):
      _ = try one()
      return value.shape.dimensions.map { Optional($0) }
    case .layerNorm(let p), .rmsNorm(let p):
      var x = try one()
      guard p.axes >= 1, p.axes <= x.count else {
        throw fail("normalises the last \(p.axes) axes of examples of rank \(x.count)")
      }
      guard p.epsilon >= 0 else { throw fail("negative epsilon \(p.epsilon)") }
      let trailing = x.count - p.axes
      for (name, t) in [("scale", p.scale), ("bias", p.bias)] {
        guard let t else { continue }
        guard t.rank == p.axes, x[trailing...].indices.allSatisfy({ fits(x[$0], t.shape[$0 - trailing]) }) else {
          throw fail("\(name) of shape \(t.shape) does not match the normalised axes \(describe(Array(x[trailing...])))")
        }
        for i in 0..<p.axes { x[trailing + i] = t.shape[i] }
      }
      return x
    }
  }

  /// The numpy broadcast of two per-example shapes of equal rank (extents equal or 1), nil
  /// when they cannot fit; an unknown extent facing a known one other than 1 becomes it
  /// (1 broadcasts to it and anything else must equal it), facing 1 or unknown stays unknown.
  static func broadcastExamples(_ a: [Int?], _ b: [Int?]) -> [Int?]? {
    guard a.count == b.count else { return nil }
    var out = [Int?]()
    for (x, y) in zip(a, b) {
      switch (x, y) {
      case (let u?, let v?):
        guard u == v || u == 1 || v == 1 else { return nil }
        out.append(u == 1 ? v : u)
      case (nil, let v?), (let v?, nil): out.append(v == 1 ? nil : v)
      case (nil, nil): out.append(nil)
      }
    }
    return out
  }

  /// The example shape `x` refined by a parameter of shape `p` that broadcasts to it, or nil
  /// when it does not: `p` has the example's rank with each extent equal or 1, or rank 1
  /// matching the last axis (or 1). An unknown extent of `x` facing an extent other than 1
  /// becomes that extent (nothing else fits).
  static func broadcast(_ p: Shape, toExample x: [Int?]) -> [Int?]? {
    var out = x
    if p.rank == 1, let last = x.last {
      if p[0] == 1 { return out }
      if last == nil || last == p[0] {
        out[x.count - 1] = p[0]
        return out
      }
    }
    guard p.rank == x.count else { return nil }
    for (i, e) in p.dimensions.enumerated() where e != 1 {
      guard x[i] == nil || x[i] == e else { return nil }
      out[i] = e
    }
    return out
  }

  /// ``WindowGeometry/outputSpatial(input:)`` axis by axis, `nil` on the axes whose input
  /// extent is unknown; nil when the geometry is malformed (counts, a size, stride or
  /// dilation below 1, a negative or overflowing pad) or does not fit a known extent.
  static func windowOutput(_ g: WindowGeometry, input: [Int?]) -> [Int?]? {
    let d = g.spatialRank
    guard input.count == d, g.strides.count == d, g.dilations.count == d else { return nil }
    if case .explicit(let before, let after) = g.padding, before.count != d || after.count != d { return nil }
    var out = [Int?]()
    for i in 0..<d {
      let padding: Padding
      switch g.padding {
      case .valid: padding = .valid
      case .same: padding = .same
      case .explicit(let before, let after): padding = .explicit(before: [before[i]], after: [after[i]])
      }
      let axis = WindowGeometry(size: [g.size[i]], strides: [g.strides[i]], dilations: [g.dilations[i]], padding: padding)
      if let e = input[i] {
        guard let o = axis.outputSpatial(input: [e]) else { return nil }
        out.append(o[0])
      } else {
        // The parameters alone: what an extent cannot repair.
        guard g.size[i] >= 1, g.strides[i] >= 1, g.dilations[i] >= 1,
          !(g.size[i] - 1).multipliedReportingOverflow(by: g.dilations[i]).overflow
        else { return nil }
        if case .explicit(let before, let after) = padding, before[0] < 0 || after[0] < 0 { return nil }
        out.append(nil)
      }
    }
    return out
  }
}

/// Why an op's rule refused its operands; ``Graph`` wraps it in a ``GraphError`` naming the node.
struct ShapeRuleFailure: Error {
  var reason: String
  init(_ reason: String) { self.reason = reason }
}

extension Op {
  /// Whether this is an ``input(shape:)`` node.
  var isInput: Bool {
    if case .input = self { return true }
    return false
  }
}
