// Matrix products on tensors: matmul, dense (fully connected) and its input adjoint.

/// The matrix product `op(A) · op(B)` of two rank-2 tensors.
///
/// `op(A)` is `a` (`[m, k]`) or, with `transposeA`, `aᵀ` for `a` of shape `[k, m]`; likewise
/// `op(B)` is `b` (`[k, n]`) or `bᵀ` for `b` of shape `[n, k]`. The result is `[m, n]`.
///
/// - Precondition: both ranks are 2 and the inner extents agree.
/// - Complexity: O(m·n·k), one `sgemm`.
public func matmul(_ a: Tensor, _ b: Tensor, transposeA: Bool = false, transposeB: Bool = false)
  -> Tensor
{
  precondition(a.rank == 2 && b.rank == 2, "matmul: ranks \(a.rank) and \(b.rank), expected 2 and 2")
  let m = transposeA ? a.shape[1] : a.shape[0]
  let k = transposeA ? a.shape[0] : a.shape[1]
  let kb = transposeB ? b.shape[1] : b.shape[0]
  let n = transposeB ? b.shape[0] : b.shape[1]
  precondition(
    k == kb,
    "matmul: inner extents differ for \(a.shape)\(transposeA ? "ᵀ" : "") · \(b.shape)\(transposeB ? "ᵀ" : "")"
  )
  return Tensor(shape: [m, n]) { out in
    guard m > 0 && n > 0 else { return }
    a.withUnsafeBufferPointer { ap in
      b.withUnsafeBufferPointer { bp in
        if k == 0 {
          out.initialize(repeating: 0)
          return
        }
        sgemm(
          transA: transposeA, transB: transposeB, m: m, n: n, k: k, alpha: 1,
          a: ap.baseAddress!, lda: a.shape[1], b: bp.baseAddress!, ldb: b.shape[1],
          beta: 0, c: out.baseAddress!, ldc: n)
      }
    }
  }
}

/// Fully connected layer on the last axis:
///
/// ```
/// y[…, j] = Σᵢ x[…, i] · weight[i, j] + bias[j]
/// ```
///
/// `x` is `[…, in]` (any rank ≥ 1; all leading axes are flattened into rows), `weight`
/// `[in, out]` (the Keras layout), `bias` `[out]` or `nil`. The result is `[…, out]`.
///
/// - Precondition: `weight.rank == 2`, `x.shape[-1] == weight.shape[0]`, `bias` has shape `[out]`.
/// - Complexity: O(rows·in·out), one `sgemm`.
public func dense(_ x: Tensor, weight: Tensor, bias: Tensor?) -> Tensor {
  precondition(x.rank >= 1 && weight.rank == 2, "dense: input \(x.shape), weight \(weight.shape)")
  let inF = weight.shape[0]
  let outF = weight.shape[1]
  precondition(x.shape[-1] == inF, "dense: input \(x.shape) does not end in \(inF) (weight \(weight.shape))")
  if let bias { precondition(bias.shape == [outF], "dense: bias \(bias.shape), expected [\(outF)]") }
  let rows = x.scalarCount / max(inF, 1)
  var outShape = x.shape
  outShape[-1] = outF
  if inF == 0 { return bias.map { broadcast($0, to: outShape) } ?? Tensor.zeros(outShape) }
  return Tensor(shape: outShape) { out in
    guard rows > 0 && outF > 0 else { return }
    let c = out.baseAddress!
    if let bias {
      bias.withUnsafeBufferPointer { bp in
        for r in 0..<rows { (c + r &* outF).update(from: bp.baseAddress!, count: outF) }
      }
    }
    x.withUnsafeBufferPointer { xp in
      weight.withUnsafeBufferPointer { wp in
        sgemm(
          transA: false, transB: false, m: rows, n: outF, k: inF, alpha: 1,
          a: xp.baseAddress!, lda: inF, b: wp.baseAddress!, ldb: outF,
          beta: bias == nil ? 0 : 1, c: c, ldc: outF)
      }
    }
  }
}

/// The adjoint of ``dense(_:weight:bias:)`` without bias (gradient with respect to the input):
///
/// ```
/// dx[…, i] = Σⱼ dy[…, j] · weight[i, j]        (dx = dy · Wᵀ)
/// ```
///
/// `dy` is `[…, out]`, `weight` `[in, out]`; the result is `[…, in]`.
///
/// - Precondition: `weight.rank == 2` and `dy.shape[-1] == weight.shape[1]`.
/// - Complexity: O(rows·in·out), one `sgemm`.
public func denseBackward(_ dy: Tensor, weight: Tensor) -> Tensor {
  precondition(dy.rank >= 1 && weight.rank == 2, "denseBackward: dy \(dy.shape), weight \(weight.shape)")
  let inF = weight.shape[0]
  let outF = weight.shape[1]
  precondition(
    dy.shape[-1] == outF, "denseBackward: dy \(dy.shape) does not end in \(outF) (weight \(weight.shape))")
  let rows = dy.scalarCount / max(outF, 1)
  var outShape = dy.shape
  outShape[-1] = inF
  if outF == 0 { return Tensor.zeros(outShape) }
  return Tensor(shape: outShape) { out in
    guard rows > 0 && inF > 0 else { return }
    dy.withUnsafeBufferPointer { dp in
      weight.withUnsafeBufferPointer { wp in
        sgemm(
          transA: false, transB: true, m: rows, n: inF, k: outF, alpha: 1,
          a: dp.baseAddress!, lda: outF, b: wp.baseAddress!, ldb: outF,
          beta: 0, c: out.baseAddress!, ldc: inF)
      }
    }
  }
}
