import Foundation
import LiftTensor

/// Runs the graph forward on a batch and returns the output of every node, indexed by
/// `NodeID.rawValue`.
///
/// Shapes are checked first (``Graph/inferShapes(inputShapes:)``), so a mismatch throws
/// instead of trapping inside a kernel.
public func forward(_ graph: Graph, inputs: [Tensor]) throws(GraphError) -> [Tensor] {
  try forward(graph, inputs: inputs, computing: nil).map { $0! }
}

/// Runs the graph forward, computing only the nodes in `needed` and their ancestors (all nodes
/// when `needed` is `nil`). Entries of nodes not computed are `nil`.
public func forward(_ graph: Graph, inputs: [Tensor], computing needed: Set<NodeID>?)
  throws(GraphError) -> [Tensor?]
{
  _ = try graph.inferShapes(inputShapes: inputs.map(\.shape))
  let live = needed.map { graph.ancestors(of: $0) }
  var values = [Tensor?](repeating: nil, count: graph.nodes.count)
  var nextInput = 0
  for (i, node) in graph.nodes.enumerated() {
    if case .input = node.op {
      values[i] = inputs[nextInput]
      nextInput += 1
      continue
    }
    if let live, !live.contains(NodeID(i)) { continue }
    values[i] = evaluate(node.op, node.inputs.map { values[$0.rawValue]! })
  }
  return values
}

extension Graph {
  /// `targets` and every node they depend on.
  public func ancestors(of targets: Set<NodeID>) -> Set<NodeID> {
    var seen = Set<NodeID>()
    var stack = Array(targets)
    while let id = stack.popLast() {
      guard seen.insert(id).inserted else { continue }
      stack.append(contentsOf: self[id].inputs)
    }
    return seen
  }
}

/// Applies one op to operand values whose shapes have been checked.
public func evaluate(_ op: Op, _ x: [Tensor]) -> Tensor {
  switch op {
  case .input: preconditionFailure("input nodes are not evaluated")
  case .dense(let w, let b): return dense(x[0], weight: w, bias: b)
  case .conv(let w, let b, let p): return conv(x[0], weight: w, bias: b, parameters: p)
  case .affine(let scale, let offset):
    return broadcastMultiplyAdd(
      x[0], scale: exampleShaped(scale, like: x[0]), offset: exampleShaped(offset, like: x[0]))
  case .activation(let f):
    if f.isReLU { return relu(x[0]) }
    return x[0].map { f.apply($0) }
  case .prelu(let alpha):
    let a = broadcast(exampleShaped(alpha, like: x[0]), to: x[0].shape)
    return x[0].zipMap(a) { v, a in v > 0 ? v : a * v }
  case .softmax(let axis): return softmax(x[0], axis: x[0].shape.normalizedAxis(axis))
  case .maxPool(let p): return maxPool(x[0], p)
  case .averagePool(let p): return averagePool(x[0], p)
  case .globalMaxPool: return globalMaxPool(x[0])
  case .globalAveragePool: return globalAveragePool(x[0])
  case .reshape(let target):
    let n = x[0].shape[0]
    let count = x[0].shape.dropFirst.scalarCount
    let known = target.filter { $0 != -1 }.reduce(1, *)
    return x[0].reshaped(Shape([n] + target.map { $0 == -1 ? count / max(known, 1) : $0 }))
  case .transpose(let perm): return transposed(x[0], permutation: perm)
  case .pad(let before, let after, let value):
    return padded(x[0], before: [0] + before, after: [0] + after, value: value)
  case .slice(let start, let end):
    return sliced(x[0], start: [0] + start, end: [x[0].shape[0]] + end)
  case .concat(let axis): return concatenated(x, axis: x[0].shape.normalizedAxis(axis))
  case .add: return x.dropFirst().reduce(x[0]) { $0 + $1 }
  case .subtract: return x[0] - x[1]
  case .average:
    let n = Float(x.count)
    return x.dropFirst().reduce(x[0]) { $0 + $1 }.map { $0 / n }
  case .maximum: return x.dropFirst().reduce(x[0]) { $0.zipMap($1) { max($0, $1) } }
  case .minimum: return x.dropFirst().reduce(x[0]) { $0.zipMap($1) { min($0, $1) } }
  case .identity: return x[0]
  case .reduce(let kind, let axes, let keepDims): return reduce(x[0], kind, axes: axes, keepDims: keepDims)
  case .multiply: return multiplied(x[0], x[1])
  case .matmul: return batchedMatmul(x[0], x[1])
  case .resize(let p): return resize(x[0], p)
  case .convTranspose(let w, let b, let p, let outputPadding):
    return convTranspose(x[0], weight: w, bias: b, parameters: p, outputPadding: outputPadding)
  case .gather(let axis, let indices): return gathered(x[0], axis: x[0].shape.normalizedAxis(axis), indices: indices)
  case .constant(let value): return broadcastOverBatch(value, batch: x[0].shape[0])
  case .layerNorm(let p): return normalized(x[0], p, centred: true)
  case .rmsNorm(let p): return normalized(x[0], p, centred: false)
  }
}

/// Reshapes an affine/PReLU parameter to the per-example rank of `x` (a rank-1 parameter
/// applies to the last axis).
/// `x > 0 ? x : 0` elementwise (ReLU's `apply`, bit for bit) in one branch-free pass.
func relu(_ x: Tensor) -> Tensor {
  Tensor(shape: x.shape, unsafeUninitialized: { out in
    x.withUnsafeBufferPointer { src in
      for i in 0..<src.count { out[i] = src[i] > 0 ? src[i] : 0 }
    }
  })
}

public func exampleShaped(_ p: Tensor, like x: Tensor) -> Tensor {
  let r = x.rank - 1
  if p.rank == r { return p }
  precondition(p.rank == 1, "parameter of shape \(p.shape) for examples of rank \(r)")
  return p.reshaped(Shape([Int](repeating: 1, count: r - 1) + [p.scalarCount]))
}

/// Softmax along `axis` (numerically stable: the maximum is subtracted first).
public func softmax(_ x: Tensor, axis: Int) -> Tensor {
  let dims = x.shape.dimensions
  let n = dims[axis]
  let inner = dims[(axis + 1)...].reduce(1, *)
  let outer = dims[..<axis].reduce(1, *)
  return Tensor(shape: x.shape) { out in
    x.withUnsafeBufferPointer { src in
      for o in 0..<outer {
        for i in 0..<inner {
          let base = o * n * inner + i
          var m = -Float.infinity
          for k in 0..<n { m = max(m, src[base + k * inner]) }
          var sum: Float = 0
          for k in 0..<n {
            let e = Foundation.exp(src[base + k * inner] - m)
            out[base + k * inner] = e
            sum += e
          }
          for k in 0..<n { out[base + k * inner] /= sum }
        }
      }
    }
  }
}
