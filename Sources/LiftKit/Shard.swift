import LiftTensor

/// One of `count` contiguous, near-equal slices of a run's examples (`--shard I/N`): shard
/// `index` holds rows `⌊index·n/count⌋ ..< ⌊(index+1)·n/count⌋` of `n`, so the shards in
/// order cover every row once and differ in size by at most one.
///
/// A shard's scores are bit-identical to the same rows of the whole run:
/// ``ModelExplainer/explain(rows:references:into:progress:)`` given ``ShardRows`` cuts
/// per-example references at the shard's global rows and draws the shuffled references of
/// the rows before the shard (without explaining them) so that each example gets the
/// references the whole run gives it, and it splits the shard into batches on the whole
/// run's batch grid.
public struct Shard: Sendable, Hashable, CustomStringConvertible {
  /// The slice, `0 ..< count`.
  public let index: Int
  /// The number of slices, at least 1.
  public let count: Int

  /// Shard `index` of `count`.
  ///
  /// - Throws: ``LiftKitError/arrays(_:)`` unless `0 ≤ index < count`.
  public init(index: Int, count: Int) throws(LiftKitError) {
    guard count >= 1 else { throw .arrays("--shard \(index)/\(count): N must be at least 1") }
    guard index >= 0, index < count else {
      throw .arrays("--shard \(index)/\(count): I must be in 0...\(count - 1) (shards are numbered from 0)")
    }
    self.index = index
    self.count = count
  }

  /// Parses `I/N`.
  ///
  /// - Throws: ``LiftKitError/arrays(_:)`` for text that is not `I/N` with `0 ≤ I < N`.
  public init(parsing text: String) throws(LiftKitError) {
    let parts = text.split(separator: "/", omittingEmptySubsequences: false)
    guard parts.count == 2, let i = Int(parts[0]), let n = Int(parts[1]) else {
      throw .arrays("--shard '\(text)': expected I/N (shard I of N, 0 ≤ I < N), e.g. 0/4")
    }
    try self.init(index: i, count: n)
  }

  /// `I/N`.
  public var description: String { "\(index)/\(count)" }

  /// The rows of this shard among `total` rows.
  public func rows(of total: Int) -> Range<Int> {
    // ⌊k·total/count⌋ without overflow: the full-width product, then divided (k ≤ count, so
    // the quotient is at most total).
    func bound(_ k: Int) -> Int {
      let product = k.multipliedFullWidth(by: max(0, total))
      return count.dividingFullWidth(product).quotient
    }
    return bound(index)..<bound(index + 1)
  }

  /// The root attributes that mark an output as this shard of `total` rows: `shard` (`I/N`)
  /// and `shard_rows` (`A-B/T`, the shard's first row, one past its last, and the whole
  /// run's row count). `deeplift merge` reads them back (``ShardMerge``) and leaves them out
  /// of the merged file, which then has the attributes of the unsharded run.
  public func attributes(total: Int) -> [(String, String)] {
    let r = rows(of: total)
    return [(Shard.shardAttribute, description), (Shard.rowsAttribute, "\(r.lowerBound)-\(r.upperBound)/\(total)")]
  }

  /// The name of the root attribute holding `I/N`.
  public static let shardAttribute = "shard"
  /// The name of the root attribute holding the shard's rows, `A-B/T`.
  public static let rowsAttribute = "shard_rows"
  /// The name of the root attribute holding the run's fingerprint (``runFingerprint(_:)``).
  public static let fingerprintAttribute = "fingerprint"
}

/// The fingerprint of a run: 16 hex digits of the 64-bit FNV-1a hash of `parts` (the run's
/// models, inputs and every option that changes a score), written `key=value` one per line
/// in the order given. Shards of one run share it (the shard itself is not a part), so
/// `deeplift merge` refuses shards of different runs, and `--resume` skips a shard only when
/// its existing output carries this run's fingerprint. Not a cryptographic hash: it tells
/// runs apart, it does not authenticate files.
public func runFingerprint(_ parts: [(String, String)]) -> String {
  var hash: UInt64 = 0xcbf2_9ce4_8422_2325
  for (key, value) in parts {
    for byte in (key + "=" + value + "\n").utf8 {
      hash ^= UInt64(byte)
      hash = hash &* 0x0000_0100_0000_01b3
    }
  }
  let hex = String(hash, radix: 16)
  return String(repeating: "0", count: 16 - hex.count) + hex
}

/// The rows of one ``Shard`` of another row source, numbered from 0: row `r` is row
/// `range.lowerBound + r` of ``base``. Give it to
/// ``ModelExplainer/explain(rows:references:into:progress:)`` (which then takes references at
/// the base's rows and keeps the shuffles of the whole run) and to the sinks (which then
/// write the shard's rows only, labelled as in the base).
public final class ShardRows: LabeledRowSource, @unchecked Sendable {
  // @unchecked: immutable; `base` is Sendable.
  /// The whole run's rows.
  public let base: any RowSource
  /// The shard.
  public let shard: Shard
  /// This shard's rows among the base's.
  public let range: Range<Int>

  /// Shard `shard` of `base`.
  ///
  /// - Throws: ``LiftKitError/arrays(_:)`` when the shard holds no row (more shards than
  ///   rows).
  public init(_ base: any RowSource, shard: Shard) throws(LiftKitError) {
    let range = shard.rows(of: base.rowCount)
    guard !range.isEmpty else {
      throw .arrays(
        "--shard \(shard): \(base.name) has \(base.rowCount) example(s), too few for \(shard.count) shards (shard \(shard.index) would be empty)")
    }
    self.base = base
    self.shard = shard
    self.range = range
  }

  public var shapes: [Shape] {
    base.shapes.map { s in s.rank > 0 ? Shape([range.count] + s.dimensions.dropFirst()) : s }
  }

  public var name: String { "\(base.name) (shard \(shard))" }

  public func rows(_ rows: Range<Int>) throws(LiftKitError) -> [Tensor] {
    try base.rows((range.lowerBound + rows.lowerBound)..<(range.lowerBound + rows.upperBound))
  }

  public func labels(_ rows: Range<Int>) throws(LiftKitError) -> RowLabels {
    guard let labeled = base as? any LabeledRowSource else {
      throw .arrays("\(base.name): its rows have no names or genome positions")
    }
    return try labeled.labels((range.lowerBound + rows.lowerBound)..<(range.lowerBound + rows.upperBound))
  }
}
