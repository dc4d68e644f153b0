import LiftTensor

// Kernels of the gather and per-example constant ops (``Op/gather(axis:indices:)``,
// ``Op/constant(value:)``) and the gather's adjoint, which the attribution rules use.

/// `y[o, j, i] = x[o, indices[j], i]` along `axis` of the full tensor (`o` runs over the axes
/// before it, `i` over those after).
///
/// - Precondition: `axis` is an axis of `x` and every index lies in `0..<x.shape[axis]`.
/// - Complexity: O(result.scalarCount).
public func gathered(_ x: Tensor, axis: Int, indices: [Int]) -> Tensor {
  let dims = x.shape.dimensions
  let n = dims[axis]
  precondition(indices.allSatisfy { $0 >= 0 && $0 < n }, "gathered: indices \(indices) for extent \(n)")
  let outer = dims[..<axis].reduce(1, *), inner = dims[(axis + 1)...].reduce(1, *)
  var outDims = dims
  outDims[axis] = indices.count
  return Tensor(shape: Shape(outDims)) { out in
    guard out.count > 0 else { return }
    x.withUnsafeBufferPointer { xb in
      let xp = xb.baseAddress!, yp = out.baseAddress!
      for o in 0..<outer {
        for (j, k) in indices.enumerated() {
          (yp + (o * indices.count + j) * inner).update(from: xp + (o * n + k) * inner, count: inner)
        }
      }
    }
  }
}

/// The adjoint of ``gathered(_:axis:indices:)``: `x[o, k, i] = Σ_{j: indices[j] = k} m[o, j, i]`,
/// with extent `extent` on `axis` (zero where no index points).
///
/// - Precondition: `m.shape[axis] == indices.count` and every index lies in `0..<extent`.
/// - Complexity: O(m.scalarCount + result.scalarCount).
public func scatteredAdd(_ m: Tensor, axis: Int, indices: [Int], extent: Int) -> Tensor {
  let dims = m.shape.dimensions
  precondition(dims[axis] == indices.count, "scatteredAdd: \(m.shape) for \(indices.count) indices")
  let outer = dims[..<axis].reduce(1, *), inner = dims[(axis + 1)...].reduce(1, *)
  var outDims = dims
  outDims[axis] = extent
  return Tensor(shape: Shape(outDims)) { out in
    out.initialize(repeating: 0)
    guard out.count > 0, m.scalarCount > 0 else { return }
    m.withUnsafeBufferPointer { mb in
      let mp = mb.baseAddress!, yp = out.baseAddress!
      for o in 0..<outer {
        for (j, k) in indices.enumerated() {
          let src = mp + (o * indices.count + j) * inner, dst = yp + (o * extent + k) * inner
          for i in 0..<inner { dst[i] += src[i] }
        }
      }
    }
  }
}

/// `value` repeated `batch` times along a new leading axis: `[batch] + value.shape`.
public func broadcastOverBatch(_ value: Tensor, batch: Int) -> Tensor {
  let n = value.scalarCount
  return Tensor(shape: Shape([batch] + value.shape.dimensions)) { out in
    guard n > 0 else { return }
    value.withUnsafeBufferPointer { vb in
      for b in 0..<batch { (out.baseAddress! + b * n).update(from: vb.baseAddress!, count: n) }
    }
  }
}
