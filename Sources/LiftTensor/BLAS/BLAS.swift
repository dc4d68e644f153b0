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
/// - SkylakeX, Cooperlake, Sandybridge, Nehalem, Prescott, Core2, Penryn, Dunnington, Atom,
///   Barcelona, Nano, Bobcat: 0 cases for `p` = 8, 32 and 128.
/// - Not measured (this Debian build cannot force them): SapphireRapids, Opteron, Bulldozer,
///   Piledriver, Steamroller, Excavator, and every other build's cores: treated as
///   position-dependent.
///
/// So the kernels in ``positionSafeCores`` use 128-row calls (within a few percent of one big
/// call on large products) or 32 (bounding the padding of small ones), and every other or
/// unknown kernel uses 8-row calls, measured position-safe on all of them (large products then
/// cost up to ~3× more: OpenBLAS re-packs `B` on every call). With that, a row's bits depend
/// only on `(n, k)`, its own values and the weights, whatever `m`, its position or the thread
/// count. Convolutions win the large blocks back on every kernel: their rows come in groups
/// (one example's output positions), and ``GEMMRowGrid`` starts the blocks at each group's
/// first row, so a row's position in its call depends only on its index in its example.
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
  "skylakex", "cooperlake", "sandybridge", "nehalem", "prescott", "core2", "penryn", "dunnington", "atom",
  "barcelona", "nano", "bobcat",
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

/// How a product's rows are cut into BLAS calls (see ``gemmRowBlock(n:k:)``): blocks of `p`
/// rows, counted from the product's first row or, with `groupRows` > 0, from the first row of
/// each group of `groupRows` rows (an example's rows), a group's last block ending with it.
struct GEMMRowGrid {
  /// Rows of every BLAS call.
  let p: Int
  /// Rows per group (0: one grid from row 0).
  let groupRows: Int

  /// The grid for a product with `n` columns and depth `k` whose rows come in groups of
  /// `groupRows` (0: unknown). On a position-dependent kernel (see ``openBLASPositionSafe``)
  /// groups of at least a large block's rows get large blocks aligned to each group, so a
  /// row's position in its call depends only on its index in its group; otherwise the row
  /// block of ``gemmRowBlock(n:k:)`` from row 0.
  init(n: Int, k: Int, groupRows: Int) {
    let large = n &* k < 262_144 ? 32 : 128
    if !openBLASPositionSafe && groupRows >= large {
      (p, self.groupRows) = (large, groupRows)
    } else {
      (p, self.groupRows) = (gemmRowBlock(n: n, k: k), 0)
    }
  }

  /// The first row of the block holding row `row`.
  @inline(__always)
  func blockStart(_ row: Int) -> Int {
    guard groupRows > 0 else { return row / p &* p }
    let group = row / groupRows &* groupRows
    return group &+ (row &- group) / p &* p
  }

  /// One past the last row of the block starting at `start`.
  @inline(__always)
  func blockEnd(_ start: Int) -> Int {
    guard groupRows > 0 else { return start &+ p }
    return min(start &+ p, (start / groupRows &+ 1) &* groupRows)
  }
}

/// Single-threaded `cblas_sgemm` (arguments as for the public `sgemm`, already checked), in
/// calls of exactly ``gemmRowBlock(n:k:)`` rows so that each row's result is the same whatever
/// `m` is.
///
/// With `groupRows` > 0 the rows come in groups of that many (an example's rows, e.g. its
/// output positions in an im2col convolution) and the call covers the product's rows
/// `firstRow ..< firstRow + m` (`a` and `c` point at row `firstRow`): the blocks are those of
/// ``GEMMRowGrid``, so a row's position in its BLAS call does not depend on where the call or
/// the batch starts.
func serialSGEMM(
  transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
  a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
  beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int, groupRows: Int = 0, firstRow: Int = 0
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
  let grid = GEMMRowGrid(n: n, k: k, groupRows: groupRows)
  let p = grid.p
  // Without groups the grid is counted from this call's first row (callers start calls on
  // block boundaries or run on a position-safe kernel).
  let origin = grid.groupRows > 0 ? firstRow : 0
  var scratch: (a: UnsafeMutablePointer<Float>, c: UnsafeMutablePointer<Float>)?
  defer {
    if let scratch {
      scratch.a.deallocate()
      scratch.c.deallocate()
    }
  }
  var g = origin
  let end = origin &+ m
  while g < end {
    let start = grid.blockStart(g)
    let hi = min(grid.blockEnd(start), end)
    let r = g &- origin  // local row of this call
    if start == g && hi &- g == p {
      // A whole block inside the call: rows r..<r+p of op(A) (columns of a transposed A).
      cblasCall(
        transA: transA, transB: transB, m: p, n: n, k: k, alpha: alpha, a: transA ? a + r : a + r &* lda,
        lda: lda, b: b, ldb: ldb, beta: beta, c: c + r &* ldc, ldc: ldc)
    } else {
      // Part of a block (the call's or a group's edge): its rows at their positions in a
      // zero-padded p-row call, the same kernel path as a full block.
      let h = hi &- g, offset = g &- start
      if scratch == nil {
        scratch = (
          UnsafeMutablePointer<Float>.allocate(capacity: p &* k), UnsafeMutablePointer<Float>.allocate(capacity: p &* n)
        )
      }
      let sa = scratch!.a, sc = scratch!.c
      sa.initialize(repeating: 0, count: p &* k)
      sc.initialize(repeating: 0, count: p &* n)
      if transA {
        // A is stored k×m: scratch k×p.
        for t in 0..<k {
          let src = a + (t &* lda &+ r), dst = sa + (t &* p &+ offset)
          for i in 0..<h { dst[i] = src[i] }
        }
      } else {
        for i in 0..<h { (sa + (offset &+ i) &* k).update(from: a + (r &+ i) &* lda, count: k) }
      }
      if beta != 0 {
        for i in 0..<h { (sc + (offset &+ i) &* n).update(from: c + (r &+ i) &* ldc, count: n) }
      }
      cblasCall(
        transA: transA, transB: transB, m: p, n: n, k: k, alpha: alpha, a: sa, lda: transA ? p : k,
        b: b, ldb: ldb, beta: beta, c: sc, ldc: n)
      for i in 0..<h { (c + (r &+ i) &* ldc).update(from: sc + (offset &+ i) &* n, count: n) }
    }
    g = hi
  }
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
  sgemm(
    transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, beta: beta,
    c: c, ldc: ldc, groupRows: 0, firstRow: 0)
}

/// ``sgemm(transA:transB:m:n:k:alpha:a:lda:b:ldb:beta:c:ldc:)`` on rows `firstRow ..< firstRow
/// + m` of a product whose rows come in groups of `groupRows` (see ``serialSGEMM``): the same
/// bits as the ungrouped product, faster on position-dependent kernels for large groups.
func sgemm(
  transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
  a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
  beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int, groupRows: Int, firstRow: Int
) {
  checkGEMM(transA: transA, transB: transB, m: m, n: n, k: k, lda: lda, ldb: ldb, ldc: ldc)
  let flops = 2.0 * Double(m) * Double(n) * Double(k)
  // Workers take whole blocks of the row grid (never columns), so the result is bit-identical
  // whatever the thread count and however the rows are batched.
  let grid = GEMMRowGrid(n: n, k: k, groupRows: groupRows)
  let p = grid.p
  let blocks = (m + p - 1) / p
  let parts = min(BLAS.threads, blocks)
  if parts <= 1 || flops < Double(parallelGEMMMinimumFlops) {
    serialSGEMM(
      transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb,
      beta: beta, c: c, ldc: ldc, groupRows: groupRows, firstRow: firstRow)
    return
  }
  let ap = SendablePointer(a)
  let bp = SendablePointer(b)
  let cp = SendablePointer(c)
  let origin = grid.groupRows > 0 ? firstRow : 0
  parallelFor(parts) { t in
    // Cut at block starts of the grid (rows counted from `origin`).
    let cut = { (i: Int) -> Int in
      if grid.groupRows == 0 { return min(m, i * blocks / parts * p) }
      return i == parts ? m : max(0, grid.blockStart(origin + i * m / parts) - origin)
    }
    let lo = cut(t), hi = cut(t + 1)
    guard lo < hi else { return }
    serialSGEMM(
      transA: transA, transB: transB, m: hi - lo, n: n, k: k, alpha: alpha,
      a: transA ? ap.pointer + lo : ap.pointer + lo * lda, lda: lda,
      b: bp.pointer, ldb: ldb, beta: beta, c: cp.pointer + lo * ldc, ldc: ldc, groupRows: groupRows,
      firstRow: origin + lo)
  }
}
