import LiftNN
import LiftTensor

/// A node of the graph under construction with its inferred per-example shape (`nil` for an
/// extent the file leaves open).
struct Value {
  var id: NodeID
  var shape: [Int?]
  var rank: Int { shape.count }
}

/// Builds a ``Graph`` while inferring per-example shapes, so converters can check weights and
/// resolve negative axes, and so no `Graph` precondition can fire on a bad file.
struct GraphAssembler {
  var graph = Graph()
  var shapes = [[Int?]]()
  var names = Set<String>()
  let file: String

  init(file: String) { self.file = file }

  func value(_ id: NodeID) -> Value { Value(id: id, shape: shapes[id.rawValue]) }

  /// Appends a node after checking its name and inferring its shape.
  mutating func add(_ op: Op, inputs: [Value], name: String, origin: String, layer: String)
    throws(KerasImportError) -> Value
  {
    guard !names.contains(name) else {
      throw .invalidConfig(file: file, reason: "two graph nodes would be called '\(name)'")
    }
    let shape = try inferShape(op, inputs: inputs.map(\.shape), layer: layer)
    guard let count = TensorLimits.checkedElements(shape.map { $0 ?? 1 }) else {
      throw .shapeMismatch(file: file, layer: layer, reason: "implausibly large output shape")
    }
    _ = count
    names.insert(name)
    let id = graph.add(op, inputs: inputs.map(\.id), name: name, origin: origin)
    shapes.append(shape)
    return Value(id: id, shape: shape)
  }

  private func mismatch(_ layer: String, _ reason: String) -> KerasImportError {
    .shapeMismatch(file: file, layer: layer, reason: reason)
  }

  private func describe(_ shape: [Int?]) -> String {
    "[" + shape.map { $0.map(String.init) ?? "?" }.joined(separator: ", ") + "]"
  }

  /// The per-example output shape of `op`, throwing when the input shapes cannot feed it.
  func inferShape(_ op: Op, inputs: [[Int?]], layer: String) throws(KerasImportError) -> [Int?] {
    switch op {
    case .input(let shape):
      return shape
    case .dense(let w, _):
      guard let x = inputs.first, let last = x.last else {
        throw mismatch(layer, "a dense layer needs an input of rank ≥ 1")
      }
      if let last, last != w.shape[0] {
        throw mismatch(layer, "input \(describe(x)) does not match kernel rows \(w.shape[0])")
      }
      return x.dropLast() + [w.shape[1]]
    case .conv(let w, _, let p):
      let k = Array(w.shape.dimensions.dropLast(2))
      let x = inputs[0]
      guard x.count == k.count + 1 else {
        throw mismatch(layer, "input \(describe(x)) has not \(k.count) spatial axes and channels")
      }
      if let c = x.last!, c != w.shape[k.count] * p.groups {
        throw mismatch(layer, "input channels \(c) ≠ \(w.shape[k.count]) × \(p.groups) groups")
      }
      let spatial = try windowOutput(
        Array(x.dropLast()), size: k, strides: p.strides, dilations: p.dilations, padding: p.padding,
        layer: layer)
      return spatial + [w.shape[k.count + 1]]
    case .maxPool(let p), .averagePool(let p):
      let x = inputs[0]
      guard x.count == p.size.count + 1 else {
        throw mismatch(layer, "input \(describe(x)) has not \(p.size.count) spatial axes and channels")
      }
      let spatial = try windowOutput(
        Array(x.dropLast()), size: p.size, strides: p.strides,
        dilations: [Int](repeating: 1, count: p.size.count), padding: p.padding, layer: layer)
      return spatial + [x.last!]
    case .globalMaxPool, .globalAveragePool:
      let x = inputs[0]
      guard x.count >= 2 else {
        throw mismatch(layer, "global pooling needs spatial axes, got \(describe(x))")
      }
      return [x.last!]
    case .affine(let scale, _), .prelu(let scale):
      let x = inputs[0]
      guard scale.rank == x.count else {
        throw mismatch(layer, "parameters of rank \(scale.rank) for input \(describe(x))")
      }
      for (i, e) in scale.shape.dimensions.enumerated() where e != 1 {
        if let xe = x[i], xe != e {
          throw mismatch(layer, "parameters \(scale.shape) for input \(describe(x))")
        }
      }
      return x
    case .activation, .identity:
      return inputs[0]
    case .softmax(let axis):
      guard axis >= 1, axis <= inputs[0].count else {
        throw mismatch(layer, "softmax axis \(axis) out of range")
      }
      return inputs[0]
    case .reshape(let target):
      let x = inputs[0]
      let known = x.allSatisfy { $0 != nil } ? Shape.checkedCount(x.map { $0! }) : nil
      guard target.filter({ $0 == -1 }).count <= 1, target.allSatisfy({ $0 >= -1 }) else {
        throw mismatch(layer, "invalid target shape \(target)")
      }
      let fixed = Shape.checkedCount(target.filter { $0 != -1 })
      guard let fixed else { throw mismatch(layer, "invalid target shape \(target)") }
      if target.contains(-1) {
        guard let known else { return target.map { $0 == -1 ? nil : $0 } }
        guard fixed > 0, known % fixed == 0 else {
          throw mismatch(layer, "cannot reshape \(describe(x)) to \(target)")
        }
        return target.map { $0 == -1 ? known / fixed : $0 }
      }
      if let known, known != fixed { throw mismatch(layer, "cannot reshape \(describe(x)) to \(target)") }
      return target
    case .transpose(let perm):
      let x = inputs[0]
      guard perm.count == x.count + 1, perm.first == 0, Set(perm) == Set(0...x.count) else {
        throw mismatch(layer, "permutation \(perm) for input \(describe(x))")
      }
      return perm.dropFirst().map { x[$0 - 1] }
    case .pad(let before, let after, _):
      let x = inputs[0]
      guard before.count == x.count, after.count == x.count else {
        throw mismatch(layer, "padding for input \(describe(x))")
      }
      return x.indices.map { i in x[i].map { $0 + before[i] + after[i] } }
    case .slice(let start, let end):
      let x = inputs[0]
      guard start.count == x.count, end.count == x.count else {
        throw mismatch(layer, "cropping for input \(describe(x))")
      }
      var out = [Int?]()
      for i in x.indices {
        guard start[i] >= 0, end[i] > start[i] else {
          throw mismatch(layer, "cropping leaves nothing of input \(describe(x))")
        }
        if let e = x[i], end[i] > e { throw mismatch(layer, "cropping exceeds input \(describe(x))") }
        out.append(end[i] - start[i])
      }
      return out
    case .concat(let axis):
      guard let first = inputs.first, axis >= 1, axis <= first.count else {
        throw mismatch(layer, "concatenation axis \(axis) out of range")
      }
      var out = first
      for x in inputs.dropFirst() {
        guard x.count == first.count else { throw mismatch(layer, "inputs of different ranks") }
        for i in x.indices where i != axis - 1 {
          if let a = out[i], let b = x[i], a != b {
            throw mismatch(layer, "inputs \(describe(first)) and \(describe(x)) differ off the axis")
          }
          out[i] = out[i] ?? x[i]
        }
        out[axis - 1] = out[axis - 1].flatMap { a in x[axis - 1].map { a + $0 } }
      }
      return out
    case .add, .subtract, .average, .maximum, .minimum:
      guard let first = inputs.first, inputs.count >= 2 else {
        throw mismatch(layer, "a merge needs at least two inputs")
      }
      var out = first
      for x in inputs.dropFirst() {
        guard x.count == out.count else {
          throw mismatch(layer, "inputs \(describe(first)) and \(describe(x)) differ (no broadcasting)")
        }
        for i in x.indices {
          if let a = out[i], let b = x[i], a != b {
            throw mismatch(layer, "inputs \(describe(first)) and \(describe(x)) differ (no broadcasting)")
          }
          out[i] = out[i] ?? x[i]
        }
      }
      return out
    }
  }

  private func windowOutput(
    _ input: [Int?], size: [Int], strides: [Int], dilations: [Int], padding: Padding, layer: String
  ) throws(KerasImportError) -> [Int?] {
    var out = [Int?]()
    for i in input.indices {
      guard let n = input[i] else {
        out.append(nil)
        continue
      }
      let effective = (size[i] - 1) * dilations[i] + 1
      switch padding {
      case .same:
        out.append((n + strides[i] - 1) / strides[i])
      case .valid, .explicit:
        var padded = n
        if case .explicit(let before, let after) = padding { padded += before[i] + after[i] }
        guard padded >= effective else {
          throw mismatch(layer, "window \(effective) larger than input extent \(padded)")
        }
        out.append((padded - effective) / strides[i] + 1)
      }
    }
    return out
  }
}
