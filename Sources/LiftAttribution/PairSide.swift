import Dispatch
import LiftTensor

/// Which stored row pair `p` of a batch reads: `base + (p / every) % period` (no modulo when
/// `period == 0`).
///
/// Inputs repeated for their M references are `every: M`; per-example references stacked
/// after the b inputs of a forward pass are `base: b`; shared rows (one reference, or an
/// M-row background) used by every example are `period: R`.
struct RowMap: Equatable {
  var base = 0
  var every = 1
  var period = 0

  @inline(__always)
  func row(_ p: Int) -> Int {
    let q = p / every
    return base &+ (period > 0 ? q % period : q)
  }

  /// The stored rows pairs `0..<pairs` read (a contiguous range).
  func rows(pairs: Int) -> Range<Int> {
    guard pairs > 0 else { return base..<base }
    let distinct = (pairs + every - 1) / every
    return base..<(base + (period > 0 ? min(period, distinct) : distinct))
  }
}

/// The activations of one side (inputs or references) of a batch of P explained pairs, for
/// every node, kept compact: node `i` stores `[rows, …]` and pair `p` reads row
/// `map.row(p)`, so an input's activations are not copied once per reference nor a shared
/// reference's once per example.
///
/// Hot Rescale paths (``Propagation/fusedRescale(_:_:_:)``, max-pool routing, input
/// contributions) read the stored rows through ``map``; any other reader subscripts the side
/// and gets the `[P, …]` tensor, materialised on first use and cached.
final class PairSide {
  /// Stored activations per node (nil where not computed).
  let stored: [Tensor?]
  let map: RowMap
  /// P, the number of pairs.
  let pairs: Int
  private var full: [Tensor?]

  init(_ stored: [Tensor?], map: RowMap = RowMap(), pairs: Int) {
    self.stored = stored
    self.map = map
    self.pairs = pairs
    full = Array(repeating: nil, count: stored.count)
  }

  /// Whether pair p reads stored row p (the stored tensor is the `[P, …]` view itself).
  func isIdentity(_ i: Int) -> Bool {
    map.base == 0 && map.every == 1 && (map.period == 0 || map.period >= pairs)
      && stored[i].map { $0.shape[0] == pairs } ?? true
  }

  /// The `[P, …]` activations of node `i` (materialised on first use), or nil.
  subscript(i: Int) -> Tensor? {
    guard let s = stored[i] else { return nil }
    if isIdentity(i) { return s }
    if let f = full[i] { return f }
    let rowOf = (0..<pairs).map { map.row($0) }
    let f = s.gatherRows(rowOf)
    full[i] = f
    return f
  }

  /// The `[P, …]` shape of node `i` without materialising it.
  func shape(_ i: Int) -> Shape? {
    guard var s = stored[i]?.shape else { return nil }
    s[0] = pairs
    return s
  }

  /// Scalars per example row of node `i`.
  func rowSize(_ i: Int) -> Int {
    guard let s = stored[i] else { return 0 }
    return s.shape[0] == 0 ? 0 : s.scalarCount / s.shape[0]
  }
}

/// A raw pointer handed to worker threads that write disjoint parts of one buffer.
struct SharedPointer<T>: @unchecked Sendable {
  let pointer: UnsafeMutablePointer<T>
  init(_ p: UnsafeMutablePointer<T>) { pointer = p }
  init(_ p: UnsafePointer<T>) { pointer = UnsafeMutablePointer(mutating: p) }
}

/// Fewest scalars an elementwise backward pass must touch before it is split over threads.
let parallelElementwiseMinimum = 1 << 16

/// Calls `body` on contiguous parts of `0..<rows`, concurrently on ``BLAS/threads`` workers
/// when the pass touches at least ``parallelElementwiseMinimum`` scalars (rows are independent).
func forEachRowRange(_ rows: Int, scalarsPerRow: Int, _ body: @Sendable (Range<Int>) -> Void) {
  let workers = rows * scalarsPerRow >= parallelElementwiseMinimum ? min(BLAS.threads, rows) : 1
  if workers <= 1 {
    body(0..<rows)
    return
  }
  DispatchQueue.concurrentPerform(iterations: workers) { t in
    body((t * rows / workers)..<((t + 1) * rows / workers))
  }
}
