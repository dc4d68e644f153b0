import LiftNN
import LiftTensor

extension Explainer {
  /// The live nodes whose op is undefined on part of the reals (log, sqrt, reciprocal, pow with a
  /// non-integer exponent; ``LiftNN/Activation/hasRestrictedDomain``).
  var restrictedDomainNodes: [NodeID] {
    graph.nodes.indices.map { NodeID($0) }.filter { id in
      guard live.contains(id), case .activation(let f) = graph[id].op else { return false }
      return f.hasRestrictedDomain
    }
  }

  /// Refuses activations where a restricted-domain node's output is NaN or infinite while its
  /// operand is finite (a value outside the op's domain): rows `< inputRows` are inputs, the
  /// rest references. A NaN that was already in the operand is left to the summation check.
  ///
  /// - Throws: ``ExplainError/outsideDomain(layer:op:side:value:)`` for the first such value.
  func checkDomains(_ acts: [Tensor?], inputRows: Int) throws(ExplainError) {
    for id in restrictedDomainNodes {
      guard let y = acts[id.rawValue], let xin = acts[graph[id].inputs[0].rawValue] else { continue }
      let rows = y.rank > 0 ? y.shape[0] : 1
      let k = rows > 0 ? y.scalarCount / rows : 0
      let bad: (row: Int, value: Float)? = y.withUnsafeBufferPointer { yp in
        xin.withUnsafeBufferPointer { xp in
          for i in 0..<yp.count where !yp[i].isFinite && xp[i].isFinite { return (k > 0 ? i / k : 0, xp[i]) }
          return nil
        }
      }
      if let bad {
        throw .outsideDomain(
          layer: graph[id].name, op: graph[id].op.kindName, side: bad.row < inputRows ? "input" : "reference",
          value: bad.value)
      }
    }
  }
}
