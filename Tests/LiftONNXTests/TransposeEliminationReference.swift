import LiftNN
import LiftTensor

@testable import LiftONNX

// The layout pass as it was before it was made near-linear (issue 15): rescans the whole graph
// after every rewrite. Kept only as the reference the incremental pass must reproduce exactly.

/// Removes layout transposes that cancel, by sinking them through layout-agnostic ops.
///
/// The ONNX importer wraps every channels-last op (convolution, pooling) of a channels-first
/// tensor in a pair of ``LiftNN/Op/transpose(_:)`` nodes, so a torch `Conv → ReLU → MaxPool →
/// Conv` chain first reads `T⁻¹ conv T · relu · T⁻¹ pool T · T⁻¹ conv T`. This pass rewrites,
/// until nothing changes:
///
/// 1. `transpose(q) ∘ transpose(p)` → one `transpose(p ∘ q)`, or nothing when that is the
///    identity (each consumer separately, so a transpose read by several nodes still cancels
///    against each transpose consumer);
/// 2. `f(transpose(p)(x))` → `transpose(p)(f′(x))` when the transpose has no other reader and
///    `f` is elementwise or axis-aware with a permutable parameter: activations, identity,
///    ``LiftNN/Op/affine(scale:offset:)`` and ``LiftNN/Op/prelu(alpha:)`` (parameters
///    permuted), softmax (axis remapped), pad and slice (per-axis amounts permuted);
/// 3. `g(transpose(p)(x₁), …, transpose(p)(xₙ))` → `transpose(p)(g′(x₁, …, xₙ))` for the
///    n-ary ops add, subtract, average, maximum, minimum and concat (axis remapped) when every
///    operand is a transpose by the same `p` read only by `g`;
///
/// merges a reshape into a reshape that only it reads, turns transposes (and
/// transpose–reshape–transpose chains around extent-1 axes, as torch.export writes
/// `AdaptiveAvgPool1d`) that keep the order of the non-unit axes into reshapes, then drops
/// nodes no output depends on. A variant also sinks a transpose read by several such ops (a
/// copy below each, as the pre-activation residual block `x + f(relu(bn(x)))` needs) and is
/// kept when it ends with fewer transposes. Reshapes are never crossed, so a flatten still sees
/// channels-first element order. Values change only by not being copied: every kept node
/// computes exactly the same numbers, and the node that carries an ONNX tensor's name still
/// holds that tensor in ONNX layout.
///
/// - Complexity: O(n²) in the number of nodes per rewrite, a few hundred nodes at most for
///   the models this targets.
func referenceEliminateRedundantTransposes(_ graph: Graph) -> Graph {
  // Sinking a transpose read by several ops (rule 6) pays off when the copies cancel further
  // down, which is not known locally: run with and without it and keep the graph with fewer
  // transposes (then fewer nodes).
  let plain = sinkTransposes(graph, multipleReaders: false)
  let branching = sinkTransposes(graph, multipleReaders: true)
  func cost(_ g: Graph) -> (Int, Int) {
    (g.nodes.filter { if case .transpose = $0.op { true } else { false } }.count, g.nodes.count)
  }
  return cost(branching) < cost(plain) ? branching : plain
}

private func sinkTransposes(_ graph: Graph, multipleReaders: Bool) -> Graph {
  var nodes = graph.nodes
  var outputs = graph.outputs
  var names = Set(nodes.map(\.name))
  func unique(_ base: String) -> String {
    var name = base
    var k = 2
    while names.contains(name) {
      name = "\(base)#\(k)"
      k += 1
    }
    names.insert(name)
    return name
  }

  var layouts = [String: [Int]]()
  for n in nodes { noteChannelsLastLayout(n, nodes: nodes, into: &layouts) }
  var changed = true
  var budget = 20 * max(nodes.count, 10)  // a safety net; every rewrite moves a transpose down
  while changed && budget > 0 {
    changed = false
    budget -= 1
    var readers = [[Int]](repeating: [], count: nodes.count)  // one entry per operand use
    for (i, n) in nodes.enumerated() {
      for x in n.inputs { readers[x.rawValue].append(i) }
    }
    let outputSet = Set(outputs.map(\.rawValue))
    func soleReader(_ j: Int, is i: Int) -> Bool {
      !outputSet.contains(j) && !readers[j].isEmpty && readers[j].allSatisfy { $0 == i }
    }

    let shapes = exampleShapes(nodes)

    scan: for i in nodes.indices {
      let n = nodes[i]
      // 4. A transpose that keeps the order of the axes longer than 1 moves data nowhere: a
      //    reshape (so it can merge with neighbouring reshapes).
      if case .transpose(let p) = n.op, let x = shapes?[n.inputs[0].rawValue],
        isOrderPreserving(p, shape: x)
      {
        nodes[i].op = .reshape(p.dropFirst().map { x[$0] })
        changed = true
        break scan
      }
      // 5. transpose(q) ∘ reshape ∘ transpose(p) where the reshape only adds or drops axes of
      //    extent 1 and the whole chain keeps the order of the other axes: one reshape.
      if case .transpose(let q) = n.op, let shapes, case .reshape = nodes[n.inputs[0].rawValue].op,
        soleReader(n.inputs[0].rawValue, is: i)
      {
        let r = n.inputs[0].rawValue
        let t = nodes[r].inputs[0].rawValue
        if case .transpose(let p) = nodes[t].op, soleReader(t, is: r),
          let x = shapes[nodes[t].inputs[0].rawValue], let z = shapes[r],
          let out = collapsedChain(p: p, q: q, x: x, z: z)
        {
          nodes[i].op = .reshape(out)
          nodes[i].inputs = nodes[t].inputs
          changed = true
          break scan
        }
      }
      // 1. transpose ∘ transpose.
      if case .transpose(let q) = n.op, case .transpose(let p) = nodes[n.inputs[0].rawValue].op {
        let source = nodes[n.inputs[0].rawValue].inputs[0]
        let composed = q.map { p[$0] }
        if composed == Array(composed.indices) {
          // A model output keeps its ONNX name on the node that now carries its value.
          if outputSet.contains(i), nodes[source.rawValue].name.hasSuffix(channelsLastSuffix) {
            nodes[i].name = unique(n.name + ":cancelled")
            nodes[source.rawValue].name = n.name
          }
          for k in nodes.indices {
            nodes[k].inputs = nodes[k].inputs.map { $0.rawValue == i ? source : $0 }
          }
          outputs = outputs.map { $0.rawValue == i ? source : $0 }
          nodes[i] = Node(op: .identity, inputs: [source], name: n.name, origin: "dead")
        } else {
          nodes[i].op = .transpose(composed)
          nodes[i].inputs = [source]
        }
        changed = true
        break scan
      }
      // Reshape of a reshape read only there: one reshape (row-major order is unchanged).
      if case .reshape = n.op, case .reshape = nodes[n.inputs[0].rawValue].op,
        soleReader(n.inputs[0].rawValue, is: i)
      {
        nodes[i].inputs = nodes[n.inputs[0].rawValue].inputs
        changed = true
        break scan
      }
      // 2. unary ops after a transpose.
      if n.inputs.count == 1, case .transpose(let p) = nodes[n.inputs[0].rawValue].op {
        let j = n.inputs[0].rawValue
        if soleReader(j, is: i), let moved = permuted(n.op, through: p) {
          let source = nodes[j].inputs[0]
          nodes[j] = Node(
            op: moved, inputs: [source], name: unique(n.name + channelsLastSuffix), origin: n.origin)
          nodes[i] = Node(op: .transpose(p), inputs: [NodeID(j)], name: n.name, origin: "\(n.origin) layout")
          noteChannelsLastLayout(nodes[i], nodes: nodes, into: &layouts)
          changed = true
          break scan
        }
      }
      // 3. n-ary ops whose operands are all transposes by one permutation.
      if n.inputs.count >= 2, let p = commonPermutation(n.inputs, nodes),
        n.inputs.allSatisfy({ soleReader($0.rawValue, is: i) }),
        let moved = permutedNary(n.op, through: p)
      {
        let slots = Set(n.inputs.map(\.rawValue))
        let host = slots.max()!
        let sources = n.inputs.map { nodes[$0.rawValue].inputs[0] }
        for s in slots where s != host {
          nodes[s] = Node(op: .identity, inputs: [nodes[s].inputs[0]], name: nodes[s].name, origin: "dead")
        }
        nodes[host] = Node(
          op: moved, inputs: sources, name: unique(n.name + channelsLastSuffix), origin: n.origin)
        nodes[i] = Node(op: .transpose(p), inputs: [NodeID(host)], name: n.name, origin: "\(n.origin) layout")
        noteChannelsLastLayout(nodes[i], nodes: nodes, into: &layouts)
        changed = true
        break scan
      }
    }
    // 6. A transpose read by several ops, each of which could take it (a unary op, or an n-ary
    //    op whose operands are all transposed the same way): every reader gets its own copy of
    //    the transpose below it. New nodes go to the end; the order is restored after.
    if multipleReaders && !changed {
      rule6: for j in nodes.indices where !outputSet.contains(j) {
        guard case .transpose(let p) = nodes[j].op else { continue }
        let distinct = Array(Set(readers[j])).sorted()
        guard distinct.count >= 2 else { continue }
        var rewrites = [(reader: Int, op: Op, sources: [NodeID])]()
        for r in distinct {
          let n = nodes[r]
          if n.inputs.count == 1, let moved = permuted(n.op, through: p) {
            rewrites.append((r, moved, [nodes[j].inputs[0]]))
          } else if n.inputs.count >= 2, commonPermutation(n.inputs, nodes) == p,
            let moved = permutedNary(n.op, through: p)
          {
            rewrites.append((r, moved, n.inputs.map { nodes[$0.rawValue].inputs[0] }))
          } else {
            continue rule6
          }
        }
        for (r, op, sources) in rewrites {
          let n = nodes[r]
          nodes.append(
            Node(op: op, inputs: sources, name: unique(n.name + channelsLastSuffix), origin: n.origin))
          nodes[r] = Node(
            op: .transpose(p), inputs: [NodeID(nodes.count - 1)], name: n.name, origin: "\(n.origin) layout")
          noteChannelsLastLayout(nodes[r], nodes: nodes, into: &layouts)
        }
        (nodes, outputs) = topologicallySorted(nodes, outputs: outputs)
        changed = true
        break rule6
      }
    }
  }
  restoreONNXNames(&nodes, outputs: outputs, layouts: layouts)
  return buildGraph(nodes: nodes, outputs: outputs)
}

private let channelsLastSuffix = ":channels_last"
/// Suffixes of helper nodes that stand for an ONNX tensor once the node that carried the
/// tensor's name is gone (a moved op; a global pool whose `(N, C, 1)` reshape merged away).
private let renamableSuffixes = [channelsLastSuffix, ":pooled", ":keepdims"]

/// `nodes` reordered so every node follows its inputs (depth-first from the lowest index, so
/// an already ordered list is unchanged and inputs keep their relative order), IDs remapped.
private func topologicallySorted(_ nodes: [Node], outputs: [NodeID]) -> ([Node], [NodeID]) {
  var order = [Int]()
  var state = [UInt8](repeating: 0, count: nodes.count)  // 0 new, 1 open, 2 done
  for root in nodes.indices where state[root] == 0 {
    var stack = [(root, 0)]
    state[root] = 1
    while let (i, k) = stack.last {
      if k < nodes[i].inputs.count {
        stack[stack.count - 1].1 += 1
        let x = nodes[i].inputs[k].rawValue
        if state[x] == 0 {
          state[x] = 1
          stack.append((x, 0))
        }
      } else {
        stack.removeLast()
        state[i] = 2
        order.append(i)
      }
    }
  }
  var newIndex = [Int](repeating: 0, count: nodes.count)
  for (position, i) in order.enumerated() { newIndex[i] = position }
  let sorted = order.map { i -> Node in
    var n = nodes[i]
    n.inputs = n.inputs.map { NodeID(newIndex[$0.rawValue]) }
    return n
  }
  return (sorted, outputs.map { NodeID(newIndex[$0.rawValue]) })
}

/// Full shapes (batch 1) of every node, or `nil` when an input extent is open or a shape does
/// not check (then the shape-dependent rewrites are skipped).
private func exampleShapes(_ nodes: [Node]) -> [[Int]?]? {
  var shapes = [[Int]?]()
  for n in nodes {
    if case .input(let declared) = n.op {
      guard declared.allSatisfy({ $0 != nil }) else { return nil }
      shapes.append([1] + declared.map { $0! })
      continue
    }
    let operands = n.inputs.map { shapes[$0.rawValue] }
    guard operands.allSatisfy({ $0 != nil }),
      let out = try? Graph.outputShape(n, inputs: operands.map { Shape($0!) })
    else {
      shapes.append(nil)
      continue
    }
    shapes.append(out.dimensions)
  }
  return shapes
}

/// Whether `transpose(p)` of a tensor of full shape `x` keeps the relative order of the axes
/// longer than 1 (so it is a reshape).
private func isOrderPreserving(_ p: [Int], shape x: [Int]) -> Bool {
  let moved = p.filter { x[$0] != 1 }
  return moved == moved.sorted()
}

/// For `transpose(q)(reshape(transpose(p)(x)))` with `x` of full shape `x` and the reshape's
/// output of full shape `z`: the per-example target of one equivalent reshape, or `nil` when
/// the reshape does more than add or drop extent-1 axes or the chain reorders the other axes.
private func collapsedChain(p: [Int], q: [Int], x: [Int], z: [Int]) -> [Int]? {
  // Follow each axis of x (by its index) through the chain; −1 marks an extent-1 axis.
  let y = p.map { x[$0] }
  let yLabels = p.filter { x[$0] != 1 }
  guard y.filter({ $0 != 1 }) == z.dropFirst().filter({ $0 != 1 }), z.first == y.first else { return nil }
  var next = yLabels.makeIterator()
  var zLabels = [0]
  for extent in z.dropFirst() { zLabels.append(extent == 1 ? -1 : next.next()!) }
  guard q.count == z.count else { return nil }
  let final = q.map { zLabels[$0] }.filter { $0 > 0 }
  guard final == final.sorted() else { return nil }
  return q.dropFirst().map { z[$0] }
}

/// The permutation shared by all operands when each is a transpose node.
private func commonPermutation(_ inputs: [NodeID], _ nodes: [Node]) -> [Int]? {
  var common: [Int]?
  for x in inputs {
    guard case .transpose(let p) = nodes[x.rawValue].op, common == nil || common == p else { return nil }
    common = p
  }
  return common
}

/// `op′` with `op(transpose(p)(x)) == transpose(p)(op′(x))`, for unary ops; `nil` when the op
/// cannot be moved.
private func permuted(_ op: Op, through p: [Int]) -> Op? {
  // Per-example permutation: axis a of the transposed example is axis q[a] of the source.
  let q = p.dropFirst().map { $0 - 1 }
  func parameter(_ t: Tensor) -> Tensor {
    // Expand a rank-1 (last-axis) parameter to the example rank, then move its axes.
    let full =
      t.rank == q.count ? t : t.reshaped(Shape([Int](repeating: 1, count: q.count - 1) + [t.scalarCount]))
    var inverse = [Int](repeating: 0, count: q.count)
    for (a, s) in q.enumerated() { inverse[s] = a }
    return transposed(full, permutation: inverse)
  }
  func perAxis(_ v: [Int]) -> [Int] {
    var out = [Int](repeating: 0, count: v.count)
    for (a, s) in q.enumerated() { out[s] = v[a] }
    return out
  }
  switch op {
  case .activation, .identity: return op
  case .affine(let scale, let offset):
    guard scale.rank == q.count || scale.rank == 1, offset.rank == q.count || offset.rank == 1 else {
      return nil
    }
    return .affine(scale: parameter(scale), offset: parameter(offset))
  case .prelu(let alpha):
    guard alpha.rank == q.count || alpha.rank == 1 else { return nil }
    return .prelu(alpha: parameter(alpha))
  case .softmax(let axis):
    guard axis >= 1, axis < p.count else { return nil }
    return .softmax(axis: p[axis])
  case .pad(let before, let after, let value):
    guard before.count == q.count, after.count == q.count else { return nil }
    return .pad(before: perAxis(before), after: perAxis(after), value: value)
  case .slice(let start, let end):
    guard start.count == q.count, end.count == q.count else { return nil }
    return .slice(start: perAxis(start), end: perAxis(end))
  default: return nil
  }
}

/// As ``permuted(_:through:)`` for n-ary ops.
private func permutedNary(_ op: Op, through p: [Int]) -> Op? {
  switch op {
  case .add, .subtract, .average, .maximum, .minimum: return op
  case .concat(let axis):
    guard axis >= 1, axis < p.count else { return nil }
    return .concat(axis: p[axis])
  default: return nil
  }
}
