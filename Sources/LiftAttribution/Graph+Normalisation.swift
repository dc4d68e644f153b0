import LiftGenomics
import LiftNN
import LiftTensor

// Weight normalisations applied to a graph before explaining it. Both leave the model's
// predictions unchanged where they claim to (softmax probabilities; outputs on one-hot input)
// and change only how DeepLIFT distributes the contributions.

extension Graph {
  /// The paper's softmax adjustment (Shrikumar et al. 2017, arXiv:1704.02685, §3.6), done as
  /// the original's README recommends: mean-normalise the weights of the layer that feeds the
  /// softmax.
  ///
  /// For a dense target with weight `W` (`[in, out]`) and bias `b`, and likewise for a conv
  /// target over its output channels (`[k…, C_in, C_out]`, the last axis):
  /// ```
  /// W'[i, j] = W[i, j] − (1/n)·Σ_j' W[i, j']
  /// b'[j]    = b[j]    − (1/n)·Σ_j' b[j']
  /// ```
  /// Every logit then becomes `z_j − mean_j' z_j'`, which leaves the softmax unchanged, and
  /// because DeepLIFT is linear in the target's weight column the contributions to class `j`
  /// become `C_j − (1/n)·Σ_j' C_j'`: the contributions to class `j` minus their mean over the
  /// classes, so features that push every class up alike no longer look important.
  ///
  /// - Parameter target: the node whose output is explained; a dense or (ungrouped) conv node.
  /// - Returns: a copy of the graph with that node's weights replaced.
  /// - Throws: ``ExplainError/unsupported(_:)`` when the target is not a dense or conv layer
  ///   (the adjustment is defined on the linear layer feeding the softmax), has a single unit
  ///   (every contribution would become zero) or is a grouped convolution.
  public func softmaxNormalised(target: NodeID) throws(ExplainError) -> Graph {
    guard target.rawValue >= 0 && target.rawValue < nodes.count else {
      throw .unsupported("target node \(target) does not exist")
    }
    let node = self[target]
    var graph = self
    switch node.op {
    case .dense(let w, _), .conv(let w, _, _):
      guard w.rank >= 1, w.shape[-1] >= 2 else {
        throw .unsupported(
          "softmax normalisation of '\(node.name)': it has one unit, whose contributions would all become zero")
      }
    default: break
    }
    switch node.op {
    case .dense(let w, let b):
      graph.replaceOp(of: target, with: .dense(weight: centredColumns(w), bias: b.map(centredColumns)))
    case .conv(let w, let b, let p):
      guard p.groups == 1 else {
        throw .unsupported("softmax normalisation: the target '\(node.name)' is a grouped convolution")
      }
      graph.replaceOp(
        of: target, with: .conv(weight: centredColumns(w), bias: b.map(centredColumns), parameters: p))
    default:
      throw .unsupported(
        "softmax normalisation needs a dense or conv target (the layer feeding the softmax); '\(node.name)' is \(node.op.kindName)"
      )
    }
    return graph
  }

  /// Whether `id`'s output reaches a softmax node directly or through identity nodes
  /// (Dropout): the case the softmax adjustment is made for.
  public func feedsSoftmax(_ id: NodeID) -> Bool {
    let users = consumers
    var stack = [id]
    var seen = Set<NodeID>()
    while let n = stack.popLast() {
      guard seen.insert(n).inserted else { continue }
      for u in users[n.rawValue] {
        switch self[u].op {
        case .softmax: return true
        case .identity: stack.append(u)
        default: continue
        }
      }
    }
    return false
  }

  /// The convolutions that read a model input directly (through identity and transpose nodes
  /// only, so an ONNX model's layout transpose is crossed), in node order.
  public var firstConvolutions: [NodeID] {
    let users = consumers
    var stack = inputs
    var seen = Set<NodeID>()
    var result = Set<NodeID>()
    while let n = stack.popLast() {
      guard seen.insert(n).inserted else { continue }
      for u in users[n.rawValue] {
        switch self[u].op {
        case .conv: result.insert(u)
        case .identity, .transpose: stack.append(u)
        default: continue
        }
      }
    }
    return result.sorted()
  }

  /// The original's `mean_normalise_weights_for_sequence_convolution` (reference §2.6), done
  /// right (``LiftGenomics/meanNormaliseFirstConv(weight:bias:)``), applied to every
  /// convolution in ``firstConvolutions``.
  ///
  /// On one-hot sequence input the model's outputs are unchanged (each kernel position's
  /// weights are centred over the channels and the mean moves into the bias); the scores
  /// against a zero or uniform reference become easier to read. Positions with all-zero rows
  /// (N bases, padding) are not preserved.
  ///
  /// - Returns: the new graph and the normalised convolutions.
  /// - Throws: ``ExplainError/unsupported(_:)`` when no convolution reads an input, or one of
  ///   them is grouped (channels of different groups cannot share one mean).
  public func normalisingFirstConvolutions() throws(ExplainError) -> (graph: Graph, layers: [NodeID]) {
    let convs = firstConvolutions
    guard !convs.isEmpty else {
      throw .unsupported(
        "first-conv normalisation: no convolution reads a model input directly (\(inputNames.joined(separator: ", ")))"
      )
    }
    var graph = self
    for id in convs {
      guard case .conv(let w, let b, let p) = self[id].op else { continue }
      guard p.groups == 1 else {
        throw .unsupported("first-conv normalisation: '\(self[id].name)' is a grouped convolution")
      }
      let normalised: (weight: Tensor, bias: Tensor)
      do { normalised = try meanNormaliseFirstConv(weight: w, bias: b) } catch {
        throw .unsupported("first-conv normalisation of '\(self[id].name)': \(error)")
      }
      graph.replaceOp(of: id, with: .conv(weight: normalised.weight, bias: normalised.bias, parameters: p))
    }
    return (graph, convs)
  }
}

/// `t` with the mean of its last axis subtracted from every row (accumulated in `Double`).
func centredColumns(_ t: Tensor) -> Tensor {
  let n = t.rank == 0 ? 1 : t.shape[-1]
  guard n > 0 else { return t }
  var s = t.scalars
  for row in 0..<(s.count / n) {
    var mean = 0.0
    for j in 0..<n { mean += Double(s[row * n + j]) }
    mean /= Double(n)
    for j in 0..<n { s[row * n + j] = Float(Double(s[row * n + j]) - mean) }
  }
  return Tensor(shape: t.shape, scalars: s)
}
