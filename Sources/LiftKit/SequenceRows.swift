import CHTS
import Foundation
import LiftIO
import LiftNN
import LiftTensor

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// One explained genomic window: `[start, end)` on `chrom`, 0-based, end exclusive, centred
/// on `summit` (`start = summit − ⌊W/2⌋`, `end = start + W`).
public struct GenomicWindow: Sendable, Equatable {
  /// The chromosome (sequence) name, as in the genome's index.
  public var chrom: String
  /// The first base, 0-based.
  public var start: Int
  /// One past the last base (0-based, half-open: `end − start` is the width).
  public var end: Int
  /// The centre the window was placed on (the narrowPeak summit, else the BED midpoint), 0-based.
  public var summit: Int

  /// A window `[start, end)` of `chrom` centred on `summit`.
  public init(chrom: String, start: Int, end: Int, summit: Int) {
    self.chrom = chrom
    self.start = start
    self.end = end
    self.summit = summit
  }
}

/// What identifies each row of a sequence source, for outputs that record it (the `regions/`
/// group of ``ChromBPNetH5Sink``).
public enum RowLabels: Sendable, Equatable {
  /// Genome windows (``GenomeRows``).
  case windows([GenomicWindow])
  /// FASTA record names (``FastaRows``).
  case names([String])
}

/// A row source whose rows are DNA sequences with a name or genome position each.
public protocol LabeledRowSource: RowSource {
  /// The labels of rows `range`, in order.
  func labels(_ range: Range<Int>) throws(LiftKitError) -> RowLabels
}

/// One-hot DNA: A, C, G, T (any case) set channel 0, 1, 2, 3; any other byte (N, IUPAC
/// codes) leaves an all-zero column.
///
/// Writes `sequence` as example `row` of `out`, laid out `[N, L, 4]` (`channelsLast`) or
/// `[N, 4, L]`, `L = sequence.count`; `out` must be zero there already.
func oneHot(_ sequence: UnsafeBufferPointer<UInt8>, row: Int, channelsLast: Bool, into out: UnsafeMutablePointer<Float>) {
  let length = sequence.count
  let base = out + row * 4 * length
  for (i, byte) in sequence.enumerated() {
    let channel: Int
    switch byte {
    case UInt8(ascii: "A"), UInt8(ascii: "a"): channel = 0
    case UInt8(ascii: "C"), UInt8(ascii: "c"): channel = 1
    case UInt8(ascii: "G"), UInt8(ascii: "g"): channel = 2
    case UInt8(ascii: "T"), UInt8(ascii: "t"): channel = 3
    default: continue
    }
    base[channelsLast ? i * 4 + channel : channel * length + i] = 1
  }
}

/// The `[N, L, 4]` or `[N, 4, L]` shape of N sequences of length L.
func sequenceShape(_ n: Int, _ length: Int, channelsLast: Bool) -> Shape {
  channelsLast ? Shape([n, length, 4]) : Shape([n, 4, length])
}

/// Reads lines of a file with `getline`, from any byte offset (for re-reading).
final class LineReader {
  let file: UnsafeMutablePointer<FILE>
  var buffer: UnsafeMutablePointer<CChar>? = nil
  var capacity = 0
  /// The byte offset of the next line.
  private(set) var offset = 0

  init?(path: String) {
    guard let f = fopen(path, "r") else { return nil }
    file = f
  }

  deinit {
    free(buffer)
    fclose(file)
  }

  func seek(to offset: Int) {
    fseeko(file, off_t(offset), SEEK_SET)
    self.offset = offset
  }

  /// The next line without its line ending, and the offset it starts at; nil at the end.
  func next() -> (line: [UInt8], offset: Int)? {
    let n = getline(&buffer, &capacity, file)
    guard n >= 0, let buffer else { return nil }
    let start = offset
    offset += n
    var count = n
    while count > 0 && (buffer[count - 1] == 0x0A || buffer[count - 1] == 0x0D) { count -= 1 }
    return (UnsafeRawBufferPointer(start: buffer, count: count).map { $0 }, start)
  }
}

/// Rows of a FASTA file, one example per record (CLI.md, "Sequences from genome files"):
/// every record has `width` bases, or is cropped to its central `width` bases (from
/// `⌊(len − width)/2⌋`) when `crop` is set. One pass at opening records each record's name,
/// offset and length (memory: one name and two integers per record); rows are read from the
/// file when asked for.
public final class FastaRows: LabeledRowSource, @unchecked Sendable {
  // @unchecked: the reader (the only mutable state) is used under `lock`.
  struct Record {
    var name: String
    var offset: Int
    var length: Int
  }

  /// The FASTA file.
  public let url: URL
  /// The window width in bases (each example's length).
  public let width: Int
  /// Whether rows are `[N, L, 4]` (Keras) rather than `[N, 4, L]` (ONNX).
  public let channelsLast: Bool
  let records: [Record]
  let reader: LineReader
  let lock = NSLock()

  /// Indexes the FASTA file `url`.
  ///
  /// - Parameters:
  ///   - url: the FASTA file (one example per record).
  ///   - width: the model's sequence length, or the `--width` to crop to.
  ///   - crop: whether longer records are cropped to their central `width` bases (else every
  ///     record must have `width` bases).
  ///   - channelsLast: `[N, L, 4]` rows (Keras) or `[N, 4, L]` (ONNX).
  /// - Throws: ``LiftKitError/arrays(_:)`` naming the file (and record) for an unreadable
  ///   file, text before the first record, no records, or a record of the wrong length.
  public init(url: URL, width: Int, crop: Bool, channelsLast: Bool) throws(LiftKitError) {
    let name = url.relativePath
    guard width >= 1 else { throw .arrays("\(name): the sequence width must be at least 1, got \(width)") }
    guard let reader = LineReader(path: url.path) else {
      throw .arrays("\(name): cannot open (\(String(cString: strerror(errno))))")
    }
    var records: [Record] = []
    var current: Record? = nil
    func close(_ r: Record) throws(LiftKitError) {
      if crop {
        guard r.length >= width else {
          throw .arrays("\(name): record '\(r.name)' has \(r.length) bases, fewer than --width \(width)")
        }
      } else if r.length != width {
        throw .arrays(
          "\(name): record '\(r.name)' has \(r.length) bases but the model takes \(width) (give --width W to crop records to their central W bases)")
      }
      records.append(r)
    }
    while let (line, offset) = reader.next() {
      if line.first == UInt8(ascii: ">") {
        if let r = current { try close(r) }
        let header = String(decoding: line.dropFirst(), as: UTF8.self)
        let id = header.split(whereSeparator: { $0 == " " || $0 == "\t" }).first.map(String.init) ?? ""
        current = Record(name: id, offset: reader.offset, length: 0)
        _ = offset
      } else {
        let bases = line.reduce(0) { $0 + ($1 == 0x20 || $1 == 0x09 ? 0 : 1) }
        guard current != nil else {
          if bases == 0 { continue }
          throw .arrays("\(name): not a FASTA file (text before the first '>' record)")
        }
        current!.length += bases
      }
    }
    if let r = current { try close(r) }
    guard !records.isEmpty else { throw .arrays("\(name): no FASTA records; nothing to explain") }
    self.url = url
    self.width = width
    self.channelsLast = channelsLast
    self.records = records
    self.reader = reader
  }

  public var shapes: [Shape] { [sequenceShape(records.count, width, channelsLast: channelsLast)] }
  public var name: String { url.relativePath }

  public func rows(_ range: Range<Int>) throws(LiftKitError) -> [Tensor] {
    var out = Tensor(repeating: 0, shape: sequenceShape(range.count, width, channelsLast: channelsLast))
    lock.lock()
    defer { lock.unlock() }
    out.withUnsafeMutableBufferPointer { buffer in
      for (row, k) in range.enumerated() {
        let r = records[k]
        reader.seek(to: r.offset)
        var bases: [UInt8] = []
        bases.reserveCapacity(r.length)
        while bases.count < r.length, let (line, _) = reader.next() {
          bases += line.filter { $0 != 0x20 && $0 != 0x09 }
        }
        let from = (r.length - width) / 2
        bases[from..<(from + width)].withUnsafeBufferPointer {
          oneHot($0, row: row, channelsLast: channelsLast, into: buffer.baseAddress!)
        }
      }
    }
    return [out]
  }

  public func labels(_ range: Range<Int>) throws(LiftKitError) -> RowLabels {
    .names(range.map { records[$0].name })
  }
}

/// Rows cut from a genome at the regions of a BED file (CLI.md, "Sequences from genome
/// files"): each BED line (BED3 or wider; `#`, `track` and `browser` lines skipped) gives a
/// centre — `start + column 10` for a 10-column narrowPeak (a summit of −1 means none: the
/// midpoint), `⌊(start + end)/2⌋` otherwise — and the window `[centre − ⌊W/2⌋, centre −
/// ⌊W/2⌋ + W)`. A window that runs off its chromosome is skipped (``skipped``).
///
/// The genome is read with htslib's faidx (plain or bgzip-compressed FASTA) through its
/// `.fai` index (and `.gzi` for bgzip), built next to the genome if missing and the
/// directory is writable. The BED file is read twice: once at opening to check every line
/// and count the windows kept, then line by line as rows are asked for (in order; asking for
/// earlier rows re-reads from the top). Memory is flat in the number of regions.
public final class GenomeRows: LabeledRowSource, @unchecked Sendable {
  // @unchecked: `fai`, `reader`, `nextRow` are used under `lock`.
  /// The genome FASTA.
  public let genome: URL
  /// The BED file of regions.
  public let regions: URL
  /// The window width in bases (each example's length).
  public let width: Int
  /// Whether rows are `[N, L, 4]` (Keras) rather than `[N, 4, L]` (ONNX).
  public let channelsLast: Bool
  /// Windows kept (the rows).
  public let count: Int
  /// Regions skipped because their window runs off the chromosome.
  public let skipped: Int
  /// Whether the `.fai` index was built by this run.
  public let builtIndex: Bool
  /// The genome's sequences and their lengths, in the order of its index (a bigWig
  /// header's chromosome list, ``BigWigSink``).
  public let chromosomes: [(name: String, length: Int)]
  let fai: OpaquePointer
  let lengths: [String: Int]
  let reader: LineReader
  var nextRow = 0
  /// The windows of the last rows read.
  var last: (range: Range<Int>, windows: [GenomicWindow])? = nil
  let lock = NSLock()

  /// Opens `genome` (building its index if missing) and checks every line of `regions`.
  ///
  /// - Throws: ``LiftKitError/arrays(_:)`` naming the file: an unreadable genome or one
  ///   without an index that cannot be written, a BED line with bad coordinates (line
  ///   number), a chromosome missing from the genome, width < 1, no window kept.
  ///
  /// - Parameters:
  ///   - genome: the genome FASTA, plain or bgzip (`.fai`, and `.gzi` for bgzip, beside it).
  ///   - regions: the BED file; narrowPeak lines are centred on their summit (column 10),
  ///     other lines on their midpoint.
  ///   - width: the window width in bases.
  ///   - channelsLast: `[N, L, 4]` rows (Keras) or `[N, 4, L]` (ONNX).
  ///   - transaction: when given, a missing index is built into temporary files that the
  ///     transaction renames into place on commit (a failed run leaves no index behind);
  ///     without one it is written next to the genome at once.
  public init(
    genome: URL, regions: URL, width: Int, channelsLast: Bool, transaction: OutputTransaction? = nil
  ) throws(LiftKitError) {
    let gname = genome.relativePath
    let rname = regions.relativePath
    guard width >= 1 else { throw .arrays("--width must be at least 1, got \(width)") }
    lift_hts_silence()
    let (fai, built) = try GenomeRows.openIndexed(genome, transaction: transaction)
    var lengths: [String: Int] = [:]
    var chromosomes: [(name: String, length: Int)] = []
    for i in 0..<faidx_nseq(fai) {
      guard let c = faidx_iseq(fai, i) else { continue }
      let chrom = String(cString: c)
      lengths[chrom] = Int(faidx_seq_len(fai, c))
      chromosomes.append((chrom, Int(faidx_seq_len(fai, c))))
    }
    guard let reader = LineReader(path: regions.path) else {
      fai_destroy(fai)
      throw .arrays("\(rname): cannot open (\(String(cString: strerror(errno))))")
    }
    var kept = 0
    var skipped = 0
    var lineNumber = 0
    while let (line, _) = reader.next() {
      lineNumber += 1
      let parsed: GenomicWindow?
      do {
        parsed = try GenomeRows.window(line, width: width)
      } catch {
        fai_destroy(fai)
        throw .arrays("\(rname) line \(lineNumber): \(error.message)")
      }
      guard let w = parsed else { continue }
      guard let length = lengths[w.chrom] else {
        fai_destroy(fai)
        throw .arrays("\(rname) line \(lineNumber): chromosome '\(w.chrom)' is not in the genome \(gname)")
      }
      if w.start < 0 || w.end > length { skipped += 1 } else { kept += 1 }
    }
    guard kept > 0 else {
      fai_destroy(fai)
      throw .arrays(
        "\(rname): no region has a \(width)-base window inside its chromosome (\(skipped) skipped); nothing to explain")
    }
    reader.seek(to: 0)
    self.genome = genome
    self.regions = regions
    self.width = width
    self.channelsLast = channelsLast
    self.count = kept
    self.skipped = skipped
    self.builtIndex = built
    self.fai = fai
    self.lengths = lengths
    self.chromosomes = chromosomes
    self.reader = reader
  }

  deinit { fai_destroy(fai) }

  /// Opens `genome` through its `.fai` (and `.gzi` for bgzip), building them if missing.
  static func openIndexed(_ genome: URL, transaction: OutputTransaction?) throws(LiftKitError) -> (OpaquePointer, Bool) {
    let gname = genome.relativePath
    let faiPath = genome.path + ".fai"
    guard access(faiPath, F_OK) != 0 else {
      guard let fai = fai_load3(genome.path, nil, nil, 0) else {
        throw .arrays(
          "\(gname): cannot read the genome through its index \(gname).fai (damaged or stale index, or a bgzip genome without its .gzi?)")
      }
      return (fai, false)
    }
    guard access(genome.deletingLastPathComponent().path, W_OK) == 0 else {
      throw .arrays(
        "\(gname): no index \(gname).fai, and its directory is not writable to make one (run `samtools faidx \(gname)`)")
    }
    // bgzip (gzip magic 1f 8b) also needs the .gzi block index.
    var magic = [UInt8](repeating: 0, count: 2)
    if let f = fopen(genome.path, "rb") {
      _ = fread(&magic, 1, 2, f)
      fclose(f)
    }
    let compressed = magic == [0x1F, 0x8B]
    let refused = LiftKitError.arrays(
      "\(gname): cannot index the genome (not a FASTA file, lines of unequal length within a record, or compressed with gzip rather than bgzip)")
    guard let transaction else {
      guard fai_build3(genome.path, nil, nil) == 0, let fai = fai_load3(genome.path, nil, nil, 0) else {
        unlink(faiPath)
        if compressed { unlink(genome.path + ".gzi") }
        throw refused
      }
      return (fai, true)
    }
    var writers: [AtomicFileWriter] = []
    do {
      writers.append(try AtomicFileWriter(destination: URL(fileURLWithPath: faiPath), transaction: transaction))
      if compressed {
        writers.append(try AtomicFileWriter(destination: URL(fileURLWithPath: genome.path + ".gzi"), transaction: transaction))
      }
    } catch {
      writers.forEach { $0.abort() }
      throw .file(error)
    }
    let paths = writers.map(\.temporaryFilePath)
    guard paths.allSatisfy({ $0 != nil }), fai_build3(genome.path, paths[0], compressed ? paths[1] : nil) == 0,
      let fai = fai_load3(genome.path, paths[0], compressed ? paths[1] : nil, 0)
    else {
      writers.forEach { $0.abort() }
      throw refused
    }
    do {
      for w in writers { try w.commit() }
    } catch {
      fai_destroy(fai)
      throw .file(error)
    }
    return (fai, true)
  }

  struct LineError: Error {
    var message: String
  }

  /// The window of one BED line, nil for blank, `#`, `track` and `browser` lines.
  static func window(_ line: [UInt8], width: Int) throws(LineError) -> GenomicWindow? {
    let text = String(decoding: line, as: UTF8.self)
    if text.allSatisfy({ $0 == " " || $0 == "\t" }) || text.hasPrefix("#") || text.hasPrefix("track")
      || text.hasPrefix("browser")
    {
      return nil
    }
    let fields = text.split(separator: "\t", omittingEmptySubsequences: false).map {
      $0.trimmingCharacters(in: .whitespaces)
    }
    guard fields.count >= 3, !fields[0].isEmpty else {
      throw LineError(message: "expected at least 3 tab-separated columns (chrom, start, end), got \(fields.count)")
    }
    guard let start = Int(fields[1]), let end = Int(fields[2]), start >= 0, end > start else {
      throw LineError(message: "bad coordinates '\(fields[1])', '\(fields[2])' (need 0 ≤ start < end)")
    }
    var centre = start + (end - start) / 2
    if fields.count >= 10 {
      guard let summit = Int(fields[9]), summit >= -1, summit < end - start else {
        throw LineError(message: "bad summit '\(fields[9])' in column 10 (need 0 ≤ summit < end − start, or −1 for none)")
      }
      if summit >= 0 { centre = start + summit }
    }
    let from = centre - width / 2
    return GenomicWindow(chrom: fields[0], start: from, end: from + width, summit: centre)
  }

  public var shapes: [Shape] { [sequenceShape(count, width, channelsLast: channelsLast)] }
  public var name: String { "\(genome.relativePath) at \(regions.relativePath)" }

  /// The windows kept for rows `range`, read from the BED file (under `lock`).
  func windowsLocked(_ range: Range<Int>) -> [GenomicWindow] {
    // A sink asks for the labels of the batch just read: no re-read from the top.
    if let last, last.range == range { return last.windows }
    var result: [GenomicWindow] = []
    defer { last = (range, result) }
    if range.lowerBound < nextRow {
      reader.seek(to: 0)
      nextRow = 0
    }
    while nextRow < range.upperBound, let (line, _) = reader.next() {
      // Every line was checked at opening.
      guard let w = try? GenomeRows.window(line, width: width), let length = lengths[w.chrom],
        w.start >= 0, w.end <= length
      else { continue }
      if nextRow >= range.lowerBound { result.append(w) }
      nextRow += 1
    }
    return result
  }

  /// The windows of rows `range`.
  public func windows(_ range: Range<Int>) -> [GenomicWindow] {
    lock.lock()
    defer { lock.unlock() }
    return windowsLocked(range)
  }

  public func labels(_ range: Range<Int>) throws(LiftKitError) -> RowLabels { .windows(windows(range)) }

  public func rows(_ range: Range<Int>) throws(LiftKitError) -> [Tensor] {
    lock.lock()
    defer { lock.unlock() }
    let windows = windowsLocked(range)
    var out = Tensor(repeating: 0, shape: sequenceShape(range.count, width, channelsLast: channelsLast))
    var failed: GenomicWindow? = nil
    out.withUnsafeMutableBufferPointer { buffer in
      for (row, w) in windows.enumerated() {
        var length: hts_pos_t = 0
        // faidx's end is inclusive.
        guard let seq = faidx_fetch_seq64(fai, w.chrom, hts_pos_t(w.start), hts_pos_t(w.end - 1), &length) else {
          failed = w
          return
        }
        defer { free(seq) }
        guard Int(length) == width else {
          failed = w
          return
        }
        seq.withMemoryRebound(to: UInt8.self, capacity: width) {
          oneHot(UnsafeBufferPointer(start: $0, count: width), row: row, channelsLast: channelsLast, into: buffer.baseAddress!)
        }
      }
    }
    if let w = failed {
      throw .arrays("\(genome.relativePath): cannot read \(w.chrom):\(w.start)-\(w.end) (damaged genome or stale index?)")
    }
    guard windows.count == range.count else {
      throw .arrays("\(regions.relativePath): changed while it was read")
    }
    return [out]
  }
}

extension Model {
  /// The sequence length L of a single-input one-hot DNA model: its declared example shape is
  /// `[L, 4]` (channel axis −1 or 2) or `[4, L]` (channel axis 1) with L fixed; nil otherwise.
  public func sequenceLength(channelAxis: Int) -> Int? {
    guard graph.inputs.count == 1, case .input(let declared) = graph[graph.inputs[0]].op, declared.count == 2
    else { return nil }
    let channel = channelAxis == 1 ? 0 : 1
    guard declared[channel] == nil || declared[channel] == 4 else { return nil }
    return declared[1 - channel]
  }
}
