// The only file of the package that imports CBLAS: everything else calls the Swift-shaped
// wrappers below, which take `Int` sizes and state the layout.
import CBLAS

/// Controls the BLAS library (OpenBLAS) behind the GEMM kernels.
public enum BLAS {
  /// Sets the number of threads OpenBLAS uses for one GEMM call (process-wide).
  ///
  /// OpenBLAS defaults to one thread per core, or to `OPENBLAS_NUM_THREADS` when set.
  ///
  /// - Precondition: `n >= 1`.
  public static func setThreads(_ n: Int) {
    precondition(n >= 1, "BLAS.setThreads: thread count \(n) must be at least 1")
    openblas_set_num_threads(Int32(clamping: n))
  }

  /// The number of threads OpenBLAS currently uses for one GEMM call.
  public static var threads: Int { Int(openblas_get_num_threads()) }

  /// The OpenBLAS build and kernel in use, e.g. `"OpenBLAS 0.3.21 … Cooperlake"` (for logs).
  public static var configuration: String {
    String(cString: openblas_get_config()) + " (" + String(cString: openblas_get_corename()) + ")"
  }
}

/// Single-precision general matrix multiply on raw row-major buffers (`cblas_sgemm`):
///
/// ```
/// C[m×n] = alpha · op(A)[m×k] · op(B)[k×n] + beta · C
/// ```
///
/// `op(A)` is `A` (stored `m×k`, row stride `lda ≥ k`) or, with `transA`, `Aᵀ` where `A` is
/// stored `k×m` (row stride `lda ≥ m`); likewise `op(B)` is `B` (`k×n`, `ldb ≥ n`) or `Bᵀ`
/// (`n×k`, `ldb ≥ k`). `C` is `m×n` with row stride `ldc ≥ n`. With `beta == 0` the previous
/// contents of `C` are ignored (may be uninitialised, even NaN).
///
/// - Precondition: sizes ≥ 0; leading dimensions ≥ 1 and at least the row lengths above.
/// - Complexity: O(m·n·k), multithreaded by OpenBLAS (see ``BLAS/setThreads(_:)``).
public func sgemm(
  transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
  a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
  beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
) {
  precondition(m >= 0 && n >= 0 && k >= 0, "sgemm: negative size m=\(m) n=\(n) k=\(k)")
  precondition(
    lda >= max(1, transA ? m : k) && ldb >= max(1, transB ? k : n) && ldc >= max(1, n),
    "sgemm: leading dimensions lda=\(lda) ldb=\(ldb) ldc=\(ldc) too small for m=\(m) n=\(n) k=\(k)")
  precondition(
    m <= Int(Int32.max) && n <= Int(Int32.max) && k <= Int(Int32.max)
      && lda <= Int(Int32.max) && ldb <= Int(Int32.max) && ldc <= Int(Int32.max),
    "sgemm: sizes exceed the 32-bit BLAS interface")
  if m == 0 || n == 0 { return }
  if k == 0 {
    // BLAS leaves C untouched for alpha·0 only when beta == 1; scale C explicitly.
    for i in 0..<m {
      let row = c + i &* ldc
      for j in 0..<n { row[j] = beta == 0 ? 0 : beta * row[j] }
    }
    return
  }
  cblas_sgemm(
    CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
}
