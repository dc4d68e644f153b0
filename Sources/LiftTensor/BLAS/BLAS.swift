// The only file of the package that imports CBLAS: everything else calls the Swift-shaped
// wrappers below, which take `Int` sizes and state the layout.
//
// Threading: OpenBLAS itself is pinned to ONE thread and all parallelism is ours (Dispatch):
// `sgemm` splits large products into row or column blocks, and the convolution kernels run
// whole im2col chunks (im2col + GEMM + col2im) on separate workers. This keeps concurrent BLAS
// calls safe (OpenBLAS's own pool serialises concurrent callers), parallelises the im2col
// work too, and avoids the poor 2-thread scaling of OpenBLAS 0.3.21 on tall-skinny conv GEMMs.
import CBLAS
import Dispatch
import Synchronization

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// 0 = not set (use ``BLAS/defaultThreads``).
private let requestedThreads = Atomic<Int>(0)

/// Pins OpenBLAS to one thread, once, before its first use (Swift initialises globals lazily
/// and thread-safely).
private let openBLASPinned: Bool = {
  openblas_set_num_threads(1)
  return true
}()

/// Controls the threading of the numeric kernels (GEMM, convolution).
public enum BLAS {
  /// Sets the number of worker threads the kernels may use for one call (process-wide).
  ///
  /// The default is ``defaultThreads``. Results do not depend on it, bit for bit (see ``sgemm``).
  ///
  /// - Precondition: `n >= 1`.
  public static func setThreads(_ n: Int) {
    precondition(n >= 1, "BLAS.setThreads: thread count \(n) must be at least 1")
    requestedThreads.store(n, ordering: .relaxed)
  }

  /// The number of worker threads the kernels use for one call.
  public static var threads: Int {
    let n = requestedThreads.load(ordering: .relaxed)
    return n > 0 ? n : defaultThreads
  }

  /// `LIFT_NUM_THREADS`, else `OPENBLAS_NUM_THREADS`, else the number of online processors.
  public static let defaultThreads: Int = {
    for name in ["LIFT_NUM_THREADS", "OPENBLAS_NUM_THREADS"] {
      if let raw = getenv(name), let n = Int(String(cString: raw)), n >= 1 { return n }
    }
    return max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
  }()

  /// The OpenBLAS build and kernel in use, e.g. `"OpenBLAS 0.3.21 … (Haswell)"` (for logs).
  public static var configuration: String {
    String(cString: openblas_get_config()) + " (" + String(cString: openblas_get_corename()) + ")"
  }
}

/// Raw pointers cross into `@Sendable` worker closures in this box; every use writes disjoint
/// memory (see the callers).
struct SendablePointer<T>: @unchecked Sendable {
  let pointer: UnsafeMutablePointer<T>
  init(_ pointer: UnsafeMutablePointer<T>) { self.pointer = pointer }
  init(_ pointer: UnsafePointer<T>) { self.pointer = UnsafeMutablePointer(mutating: pointer) }
}

/// Runs `body(worker)` for `worker in 0..<count`, concurrently on Dispatch's pool when
/// `count > 1`.
func parallelFor(_ count: Int, _ body: @Sendable (Int) -> Void) {
  if count <= 1 {
    body(0)
  } else {
    DispatchQueue.concurrentPerform(iterations: count, execute: body)
  }
}

/// Validates the arguments of ``sgemm(transA:transB:m:n:k:alpha:a:lda:b:ldb:beta:c:ldc:)``.
private func checkGEMM(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, lda: Int, ldb: Int, ldc: Int) {
  precondition(m >= 0 && n >= 0 && k >= 0, "sgemm: negative size m=\(m) n=\(n) k=\(k)")
  precondition(
    lda >= max(1, transA ? m : k) && ldb >= max(1, transB ? k : n) && ldc >= max(1, n),
    "sgemm: leading dimensions lda=\(lda) ldb=\(ldb) ldc=\(ldc) too small for m=\(m) n=\(n) k=\(k)")
  precondition(
    m <= Int(Int32.max) && n <= Int(Int32.max) && k <= Int(Int32.max)
      && lda <= Int(Int32.max) && ldb <= Int(Int32.max) && ldc <= Int(Int32.max),
    "sgemm: sizes exceed the 32-bit BLAS interface")
}

/// Rows of every BLAS call for a product with `n` output columns and depth `k`.
///
/// OpenBLAS does not compute a row of `C` the same way in every call: the kernel path (small-
/// matrix and edge kernels, blocking) depends on the call's `m`, so the same row could come out
/// with other low bits when the batch size, a chunk boundary or the thread count changed. Every
/// product is therefore computed in calls of exactly this many rows, the last one zero-padded.
///
/// A fixed call size is not enough on every kernel: on some, a row's bits also depend on its
/// POSITION inside the call (which of the kernel's register tiles it lands in). Measured on
/// OpenBLAS 0.3.21 (probe: one row at every position of a zero-filled `p`-row call, 468
/// `(k, n, transA, transB)` cases, `k` 1…1500, `n` 1…1000; the core picked with
/// `OPENBLAS_CORETYPE`):
///
/// - Haswell and Zen: position-dependent in 216 of 468 cases for `p` = 16, 32 and 128, in 0
///   cases for `p` = 4 and 8.
/// - SkylakeX, Cooperlake, SapphireRapids, Sandybridge, Nehalem, Prescott, Core2, Penryn,
///   Dunnington, Atom, Barcelona, Opteron, Bulldozer, Piledriver, Steamroller, Excavator, Nano,
///   Bobcat: 0 cases for `p` = 8, 32 and 128.
///
/// So the kernels in ``positionSafeCores`` use 128-row calls (within a few percent of one big
/// call on large products) or 32 (bounding the padding of small ones), and every other or
/// unknown kernel uses 8-row calls, measured position-safe on all of them (large products then
/// cost up to ~3× more: OpenBLAS re-packs `B` on every call). With that, a row's bits depend
/// only on `(n, k)`, its own values and the weights, whatever `m`, its position or the thread
/// count.
@inline(__always)
func gemmRowBlock(n: Int, k: Int) -> Int {
  guard openBLASPositionSafe else { return positionSafeRowBlock }
  return n &* k < 262_144 ? 32 : 128  // n, k ≤ Int32.max (checkGEMM): no overflow
}

/// The call size whose rows were measured position-independent on every OpenBLAS 0.3.21 core
/// (see ``gemmRowBlock(n:k:)``).
let positionSafeRowBlock = 8

/// OpenBLAS cores (lower-cased `openblas_get_corename()`) measured to compute a row the same
/// way at every position of a 32- and a 128-row call (see ``gemmRowBlock(n:k:)``).
let positionSafeCores: Set<String> = [
  "skylakex", "cooperlake", "sapphirerapids", "sandybridge", "nehalem", "prescott", "core2", "penryn",
  "dunnington", "atom", "barcelona", "opteron", "bulldozer", "piledriver", "steamroller", "excavator",
  "nano", "bobcat",
]

/// Whether the loaded OpenBLAS kernel is in ``positionSafeCores`` (read once: the core is fixed
/// when the library loads).
let openBLASPositionSafe: Bool = positionSafeCores.contains(
  String(cString: openblas_get_corename()).lowercased())

/// One `cblas_sgemm` call (arguments already checked).
@inline(__always)
private func cblasCall(
  transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
  a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
  beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
) {
  cblas_sgemm(
    CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
}

/// Single-threaded `cblas_sgemm` (arguments as for the public `sgemm`, already checked), in
/// calls of exactly ``gemmRowBlock(n:k:)`` rows so that each row's result is the same whatever
/// `m` is.
func serialSGEMM(
  transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
  a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
  beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
) {
  precondition(openBLASPinned)
  if m == 0 || n == 0 { return }
  if k == 0 {
    // alpha·(empty product) = 0: only scale C (BLAS would skip the update entirely).
    for i in 0..<m {
      let row = c + i &* ldc
      for j in 0..<n { row[j] = beta == 0 ? 0 : beta * row[j] }
    }
    return
  }
  let p = gemmRowBlock(n: n, k: k)
  let full = m / p &* p
  var r = 0
  while r < full {
    // Rows r..<r+p of op(A): columns of a transposed A, rows otherwise.
    cblasCall(
      transA: transA, transB: transB, m: p, n: n, k: k, alpha: alpha, a: transA ? a + r : a + r &* lda,
      lda: lda, b: b, ldb: ldb, beta: beta, c: c + r &* ldc, ldc: ldc)
    r &+= p
  }
  let h = m &- full
  guard h > 0 else { return }
  // The last h rows through a zero-padded p-row call: the same kernel path as a full block.
  let sa = UnsafeMutablePointer<Float>.allocate(capacity: p &* k)
  let sc = UnsafeMutablePointer<Float>.allocate(capacity: p &* n)
  defer {
    sa.deallocate()
    sc.deallocate()
  }
  sa.initialize(repeating: 0, count: p &* k)
  sc.initialize(repeating: 0, count: p &* n)
  if transA {
    // A is stored k×m: scratch k×p.
    for t in 0..<k {
      let src = a + (t &* lda &+ full), dst = sa + t &* p
      for i in 0..<h { dst[i] = src[i] }
    }
  } else {
    for i in 0..<h { (sa + i &* k).update(from: a + (full &+ i) &* lda, count: k) }
  }
  if beta != 0 {
    for i in 0..<h { (sc + i &* n).update(from: c + (full &+ i) &* ldc, count: n) }
  }
  cblasCall(
    transA: transA, transB: transB, m: p, n: n, k: k, alpha: alpha, a: sa, lda: transA ? p : k,
    b: b, ldb: ldb, beta: beta, c: sc, ldc: n)
  for i in 0..<h { (c + (full &+ i) &* ldc).update(from: sc + i &* n, count: n) }
}

/// Below this many flops (2·m·n·k) a product runs on one thread.
let parallelGEMMMinimumFlops = 4_000_000

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
/// Large products are split into row blocks computed on ``BLAS/threads`` workers. Every row
/// of `C` is computed by a BLAS call of the same size (``gemmRowBlock(n:k:)``), so the result
/// is bit-identical whatever `m`, the row's position and the thread count are.
///
/// - Precondition: sizes ≥ 0; leading dimensions ≥ 1 and at least the row lengths above.
/// - Complexity: O(m·n·k).
public func sgemm(
  transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
  a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
  beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
) {
  checkGEMM(transA: transA, transB: transB, m: m, n: n, k: k, lda: lda, ldb: ldb, ldc: ldc)
  let flops = 2.0 * Double(m) * Double(n) * Double(k)
  // Workers take whole row blocks of ``gemmRowBlock(n:k:)`` (never columns), so the result is
  // bit-identical whatever the thread count and however the rows are batched.
  let p = gemmRowBlock(n: n, k: k)
  let blocks = (m + p - 1) / p
  let parts = min(BLAS.threads, blocks)
  if parts <= 1 || flops < Double(parallelGEMMMinimumFlops) {
    serialSGEMM(
      transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb,
      beta: beta, c: c, ldc: ldc)
    return
  }
  let ap = SendablePointer(a)
  let bp = SendablePointer(b)
  let cp = SendablePointer(c)
  parallelFor(parts) { t in
    let lo = t * blocks / parts * p
    let hi = min(m, (t + 1) * blocks / parts * p)
    guard lo < hi else { return }
    serialSGEMM(
      transA: transA, transB: transB, m: hi - lo, n: n, k: k, alpha: alpha,
      a: transA ? ap.pointer + lo : ap.pointer + lo * lda, lda: lda,
      b: bp.pointer, ldb: ldb, beta: beta, c: cp.pointer + lo * ldc, ldc: ldc)
  }
}
