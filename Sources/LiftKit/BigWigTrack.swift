import CBigWig
import Foundation
import LiftIO
import LiftTensor

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// A bigWig track of per-base values over genomic windows, laid down with chrombpnet's
/// overlap rule (`chrombpnet/evaluation/make_bigwigs/bigwig_helper.py`, `write_bigwig`, at
/// kundajelab/chrombpnet ece97c9):
///
/// - the windows are sorted by (chromosome, start), the chromosomes in the order of the
///   genome's index, ties in the order the windows were added;
/// - a window's values run from where the previous window of its chromosome stopped (or its
///   own start, if later) to its end — or, when the next window of the sorted order is on the
///   same chromosome and starts before this one ends, to ⌊(c₁ + c₂)/2⌋ with c₁, c₂ the two
///   windows' centres: bases before the boundary take the first window's value, bases from
///   it on the second's.
///
/// Windows arrive in any order (a run's input order) and only a small index entry per
/// window is kept in memory: each window's values go to an anonymous temporary file
/// (`tmpfile`, removed by the system when closed or when the process ends) as they arrive,
/// and ``write(to:transaction:)`` sorts the index and reads each window's values back once,
/// in sorted order. Memory is flat in the number of windows but for the index (48 bytes per
/// window); the temporary file holds 4 bytes per base of every window.
///
/// Written with libBigWig (`bwAddIntervalSpanSteps`, span and step 1, with zoom levels); the
/// header lists every chromosome of the index with its length.
public final class BigWigTrack {
  struct Entry {
    var chrom: Int
    var start: Int
    var end: Int
    var centre: Int
    var order: Int
    var offset: Int
  }

  /// The chromosomes and their lengths, in the genome index's order.
  public let chromosomes: [(name: String, length: Int)]
  let chromIndex: [String: Int]
  var entries: [Entry] = []
  let spill: UnsafeMutablePointer<FILE>
  var spilled = 0

  /// An empty track over `chromosomes` (name and length, in the genome index's order).
  ///
  /// - Throws: ``LiftKitError/arrays(_:)`` for a chromosome longer than bigWig's 32-bit
  ///   coordinates, or when no temporary file can be made.
  public init(chromosomes: [(name: String, length: Int)]) throws(LiftKitError) {
    if let long = chromosomes.first(where: { $0.length < 0 || $0.length > Int(UInt32.max) }) {
      throw .arrays("bigWig: chromosome '\(long.name)' has \(long.length) bases, more than bigWig's 32-bit coordinates hold")
    }
    guard let spill = tmpfile() else {
      throw .arrays("bigWig: cannot make a temporary file (\(String(cString: strerror(errno))))")
    }
    self.chromosomes = chromosomes
    var index: [String: Int] = [:]
    for (i, c) in chromosomes.enumerated() where index[c.name] == nil { index[c.name] = i }
    self.chromIndex = index
    self.spill = spill
  }

  deinit { fclose(spill) }

  /// Adds one window and its per-base values (`window.end − window.start` of them).
  ///
  /// - Throws: ``LiftKitError/arrays(_:)`` for a chromosome not in the index, a window off
  ///   its chromosome, a count of values other than the window's width, or a temporary file
  ///   that cannot be written.
  public func add(_ window: GenomicWindow, values: [Float]) throws(LiftKitError) {
    guard let chrom = chromIndex[window.chrom] else {
      throw .arrays("bigWig: chromosome '\(window.chrom)' is not in the genome's index")
    }
    guard window.start >= 0, window.end > window.start, window.end <= chromosomes[chrom].length,
      values.count == window.end - window.start
    else {
      throw .arrays(
        "bigWig: window \(window.chrom):\(window.start)-\(window.end) (\(values.count) values) does not fit its chromosome of \(chromosomes[chrom].length) bases")
    }
    let written = values.withUnsafeBufferPointer { fwrite($0.baseAddress, MemoryLayout<Float>.size, $0.count, spill) }
    guard written == values.count else {
      throw .arrays("bigWig: cannot write the temporary file (\(String(cString: strerror(errno))))")
    }
    entries.append(
      Entry(chrom: chrom, start: window.start, end: window.end, centre: window.summit, order: entries.count, offset: spilled))
    spilled += values.count
  }

  /// The number of windows added.
  public var count: Int { entries.count }

  /// The pieces of the track in the order they are written: window `order` (the index it
  /// was added at) gives bases `from ..< to` of its chromosome (chrombpnet's rule). Exposed
  /// for tests; ``write(to:transaction:)`` writes exactly these.
  public func pieces() -> [(order: Int, chrom: String, from: Int, to: Int)] {
    plan().map { (order: entries[$0.entry].order, chrom: chromosomes[entries[$0.entry].chrom].name, from: $0.from, to: $0.to) }
  }

  /// chrombpnet's `write_bigwig` loop: indices into `entries` with the bases each writes.
  func plan() -> [(entry: Int, from: Int, to: Int)] {
    let sorted = entries.indices.sorted {
      let a = entries[$0]
      let b = entries[$1]
      return (a.chrom, a.start, a.order) < (b.chrom, b.start, b.order)
    }
    var result: [(entry: Int, from: Int, to: Int)] = []
    var currentChrom = -1
    var currentEnd = 0
    for (k, i) in sorted.enumerated() {
      let e = entries[i]
      if e.chrom != currentChrom {
        currentChrom = e.chrom
        currentEnd = 0
      }
      if currentEnd < e.start { currentEnd = e.start }
      var nextEnd = e.end
      if k + 1 < sorted.count {
        let n = entries[sorted[k + 1]]
        if n.chrom == e.chrom && n.start < e.end {
          // Python's // floors; centres are ≥ 0 here, so Swift's / does the same.
          nextEnd = (e.centre + n.centre) / 2
        }
      }
      if nextEnd > currentEnd { result.append((i, currentEnd, nextEnd)) }
      currentEnd = nextEnd
    }
    return result
  }

  /// Writes the track to `url` (through `transaction`, committed by the caller; without one,
  /// in place at once, still all or nothing).
  ///
  /// - Throws: ``LiftKitError`` naming the file when it cannot be written.
  public func write(to url: URL, transaction: OutputTransaction? = nil) throws(LiftKitError) {
    let name = url.relativePath
    guard fflush(spill) == 0 else { throw .arrays("bigWig: cannot write the temporary file") }
    let writer: AtomicFileWriter
    do { writer = try AtomicFileWriter(destination: url, transaction: transaction) } catch { throw .file(error) }
    guard let path = writer.temporaryFilePath else {
      writer.abort()
      throw .arrays("\(name): a bigWig file must be a regular file, not a device or pipe")
    }
    func failed(_ what: String) -> LiftKitError {
      writer.abort()
      return .arrays("\(name): libBigWig cannot write \(what)")
    }
    BigWigTrack.initialise
    guard let bw = bwOpen(path, nil, "w") else { throw failed("the file") }
    var open = true
    defer { if open { bwClose(bw) } }
    guard bwCreateHdr(bw, 10) == 0 else { throw failed("the header") }
    let names = chromosomes.map { strdup($0.name) }
    defer { names.forEach { free($0) } }
    let lengths = chromosomes.map { UInt32($0.length) }
    let status = names.map { UnsafePointer($0) }.withUnsafeBufferPointer { n in
      lengths.withUnsafeBufferPointer { l in lift_bw_set_chroms(bw, n.baseAddress, l.baseAddress, Int64(chromosomes.count)) }
    }
    guard status == 0, bwWriteHdr(bw) == 0 else { throw failed("the chromosome list") }
    let fd = fileno(spill)
    var buffer: [Float] = []
    for piece in plan() {
      let e = entries[piece.entry]
      let count = piece.to - piece.from
      buffer = [Float](repeating: 0, count: count)
      let bytes = count * MemoryLayout<Float>.size
      let offset = off_t((e.offset + piece.from - e.start) * MemoryLayout<Float>.size)
      let read = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, bytes, offset) }
      guard read == bytes else { throw failed("values (the temporary file could not be read back)") }
      let added = chromosomes[e.chrom].name.withCString { chrom in
        buffer.withUnsafeBufferPointer {
          bwAddIntervalSpanSteps(bw, chrom, UInt32(piece.from), 1, 1, $0.baseAddress, UInt32(count))
        }
      }
      guard added == 0 else { throw failed("the values of \(chromosomes[e.chrom].name):\(piece.from)-\(piece.to)") }
    }
    open = false
    bwClose(bw)
    do { try writer.commit() } catch { throw .file(error) }
  }

  /// libBigWig's one-time set-up (its I/O buffer size), run once per process.
  static let initialise: Void = { _ = bwInit(1 << 17) }()
}

/// Writes a bigWig track of the scores of genome windows (`--bigwig TRACK.bw` of a `--genome`
/// run): one value per base, the projected scores (hypothetical × one-hot) summed over
/// A, C, G, T, at genomic coordinates, with chrombpnet's overlap rule (``BigWigTrack``).
/// The hypothetical scores come from the same backward pass (``neededKinds``).
public final class BigWigSink: ScoreSink {
  let url: URL
  let source: any LabeledRowSource
  let channelsLast: Bool
  let transaction: OutputTransaction?
  let track: BigWigTrack

  /// A sink writing `url` for the windows of `source` (`[N, L, 4]`, or `[N, 4, L]` with
  /// `channelAxis` 1) over `chromosomes` (name and length, the genome index's order:
  /// ``GenomeRows/chromosomes``).
  ///
  /// - Throws: ``LiftKitError/arrays(_:)`` unless `source` has one-hot DNA rows.
  public init(
    url: URL, source: any LabeledRowSource, chromosomes: [(name: String, length: Int)], channelAxis: Int,
    transaction: OutputTransaction? = nil
  ) throws(LiftKitError) {
    let shape = source.shapes.first ?? Shape([])
    let axis = channelAxis < 0 ? shape.rank + channelAxis : channelAxis
    guard source.shapes.count == 1, shape.rank == 3, axis == 1 || axis == 2, shape[axis] == 4 else {
      throw .arrays("\(url.relativePath): a bigWig track needs one-hot DNA rows [N, L, 4] or [N, 4, L], not \(shape)")
    }
    self.url = url
    self.source = source
    self.channelsLast = axis == 2
    self.transaction = transaction
    self.track = try BigWigTrack(chromosomes: chromosomes)
  }

  public var neededKinds: Set<ScoreKind> { [.hypothetical] }

  public func write(_ batch: ScoreBatch) throws(LiftKitError) {
    guard let hyp = batch.attribution.scores(.hypothetical), hyp.count == 1, hyp[0].shape == batch.inputs[0].shape else {
      throw .arrays("\(url.relativePath): a bigWig track holds the scores of one task (select one task with --task K)")
    }
    guard case .windows(let windows) = try source.labels(batch.rows), windows.count == batch.rows.count else {
      throw .arrays("\(url.relativePath): a bigWig track needs genome windows (--genome with --regions)")
    }
    let x = batch.inputs[0]
    let length = channelsLast ? x.shape[1] : x.shape[2]
    let xs = x.scalars
    let hs = hyp[0].scalars
    var sums = [Float](repeating: 0, count: length)
    for (row, window) in windows.enumerated() {
      let base = row * 4 * length
      for i in 0..<length {
        var s: Float = 0
        for c in 0..<4 {
          let k = base + (channelsLast ? i * 4 + c : c * length + i)
          s += hs[k] * xs[k]
        }
        sums[i] = s
      }
      try track.add(window, values: sums)
    }
  }

  public func finish() throws(LiftKitError) {
    guard track.count > 0 else { throw .arrays("\(url.relativePath): no scores were written") }
    try track.write(to: url, transaction: transaction)
  }
}
