import Foundation
import LiftHDF5
import LiftIO

/// What ``ShardMerge/merge(_:into:bigwig:genome:transaction:)`` wrote.
public struct MergedShards: Sendable {
  /// The number of shards (N).
  public let shards: Int
  /// The number of rows (examples) of the whole run.
  public let rows: Int
  /// The datasets copied, by path (`/raw/seq`, …).
  public let datasets: [String]
}

/// `deeplift merge`: joins the `.h5` outputs of the shards of one run (`--shard I/N`,
/// ``Shard``) into the `.h5` of the whole run, and optionally its bigWig track.
///
/// The shards must come from one run: every file carries the root attributes `shard`
/// (`I/N`), `shard_rows` (`A-B/T`) and `fingerprint` (``runFingerprint(_:)``); the
/// fingerprints, N, T and every other root attribute must agree, each index `0 ..< N` must be
/// given once, and each shard must hold exactly its rows of T. Every dataset (the same set
/// in every shard, rows along the first axis) is copied row range by row range (memory flat
/// in the number of rows) into one dataset of T rows, so the arrays equal those of the
/// unsharded run byte for byte; the root attributes are the shards' without `shard` and
/// `shard_rows`, i.e. the unsharded run's.
public enum ShardMerge {
  /// One shard file, opened and checked on its own.
  struct Part {
    let url: URL
    let file: HDF5File
    let shard: Shard
    let rows: Range<Int>
    let total: Int
    let attributes: [(String, String)]
    var fingerprint: String { attributes.first { $0.0 == Shard.fingerprintAttribute }?.1 ?? "" }
    var name: String { url.relativePath }
  }

  static func fail(_ error: HDF5Error) -> LiftKitError { .arrays(error.description) }

  static func open(_ url: URL) throws(LiftKitError) -> Part {
    let name = url.relativePath
    let file: HDF5File
    do { file = try HDF5File(url: url) } catch { throw .arrays("\(name): \(error)") }
    var attributes: [(String, String)] = []
    do {
      for key in try file.root.attributeNames() {
        attributes.append((key, try file.root.stringAttribute(key)))
      }
    } catch {
      throw .arrays("\(name): \(error)")
    }
    func value(_ key: String) -> String? { attributes.first { $0.0 == key }?.1 }
    guard let text = value(Shard.shardAttribute), let rowsText = value(Shard.rowsAttribute),
      value(Shard.fingerprintAttribute) != nil
    else {
      throw .arrays(
        "\(name): not a shard of a deeplift run (no 'shard', 'shard_rows' and 'fingerprint' attributes; give the .h5 outputs of `deeplift explain --shard I/N`)")
    }
    let shard: Shard
    do { shard = try Shard(parsing: text) } catch { throw .arrays("\(name): bad 'shard' attribute '\(text)'") }
    // A-B/T
    let parts = rowsText.split(separator: "/", omittingEmptySubsequences: false)
    let bounds = parts.first?.split(separator: "-", omittingEmptySubsequences: false) ?? []
    guard parts.count == 2, bounds.count == 2, let a = Int(bounds[0]), let b = Int(bounds[1]), let total = Int(parts[1]),
      total >= 1, shard.rows(of: total) == a..<b
    else {
      throw .arrays("\(name): bad 'shard_rows' attribute '\(rowsText)' for shard \(shard) (expected A-B/T, the shard's rows of T)")
    }
    return Part(url: url, file: file, shard: shard, rows: a..<b, total: total, attributes: attributes)
  }

  /// The paths of the datasets under `group`, sorted.
  static func datasets(in group: HDF5Group, file: String) throws(LiftKitError) -> [String] {
    var found: [String] = []
    do {
      for child in try group.childNames() {
        let path = group.path == "/" ? "/" + child : group.path + "/" + child
        if group.containsGroup(child) {
          found += try datasets(in: try group.group(child), file: file)
        } else {
          found.append(path)
        }
      }
    } catch {
      throw .arrays("\(file): \(error)")
    }
    return found.sorted()
  }

  /// Checks that `parts` are the N shards of one run; returns them in shard order.
  static func check(_ parts: [Part]) throws(LiftKitError) -> [Part] {
    guard let first = parts.first else { throw .arrays("deeplift merge: no shards given") }
    var byIndex: [Int: Part] = [:]
    let shardKeys: Set<String> = [Shard.shardAttribute, Shard.rowsAttribute]
    for p in parts {
      guard p.shard.count == first.shard.count else {
        throw .arrays(
          "\(p.name) is shard \(p.shard) but \(first.name) is shard \(first.shard): shards of one run have the same N")
      }
      guard p.fingerprint == first.fingerprint else {
        let mine = p.attributes.filter { !shardKeys.contains($0.0) }
        let theirs = first.attributes.filter { !shardKeys.contains($0.0) }
        var detail = ""
        for (k, v) in mine where k != Shard.fingerprintAttribute {
          let other = theirs.first { $0.0 == k }?.1
          if other != v {
            detail = "; '\(k)' is '\(v)' there and '\(other ?? "(none)")' in \(first.name)"
            break
          }
        }
        throw .arrays(
          "\(p.name) comes from another run than \(first.name) (fingerprint \(p.fingerprint) ≠ \(first.fingerprint): other models, inputs or options\(detail))")
      }
      guard p.total == first.total else {
        throw .arrays("\(p.name) is a shard of \(p.total) rows but \(first.name) of \(first.total): not one run")
      }
      let mine = p.attributes.filter { !shardKeys.contains($0.0) }
      let theirs = first.attributes.filter { !shardKeys.contains($0.0) }
      guard mine.map(\.0) == theirs.map(\.0), mine.map(\.1) == theirs.map(\.1) else {
        throw .arrays("\(p.name): its root attributes differ from those of \(first.name) (same fingerprint): not one run")
      }
      if let twice = byIndex[p.shard.index] {
        throw .arrays("shard \(p.shard) is given twice: \(twice.name) and \(p.name)")
      }
      byIndex[p.shard.index] = p
    }
    let n = first.shard.count
    let missing = (0..<n).filter { byIndex[$0] == nil }
    guard missing.isEmpty else {
      let given = byIndex.keys.sorted().map(String.init).joined(separator: ", ")
      throw .arrays(
        "shard\(missing.count == 1 ? "" : "s") \(missing.map { "\($0)/\(n)" }.joined(separator: ", ")) \(missing.count == 1 ? "is" : "are") missing (given: \(given)); merge needs all \(n)")
    }
    return (0..<n).map { byIndex[$0]! }
  }

  /// Merges the shards `urls` (any order) into `output`, and writes the bigWig track of the
  /// whole run to `bigwig` if given.
  ///
  /// - Parameters:
  ///   - urls: the `.h5` outputs of `deeplift explain --shard I/N`, every I once.
  ///   - output: the merged `.h5`.
  ///   - bigwig: a bigWig track of the whole run (genome runs): the projected scores summed
  ///     over A, C, G, T at the windows of `regions/`, chrombpnet's overlap rule
  ///     (``BigWigTrack``).
  ///   - genome: the genome FASTA whose `.fai` gives the chromosome sizes of the track;
  ///     default: the run's `genome` root attribute.
  ///   - transaction: the outputs, committed by the caller.
  /// - Throws: ``LiftKitError/arrays(_:)`` naming the shard at fault: not a shard, shards of
  ///   different runs or N, an index given twice or missing, datasets that disagree.
  public static func merge(
    _ urls: [URL], into output: URL, bigwig: URL? = nil, genome: URL? = nil, transaction: OutputTransaction? = nil
  ) throws(LiftKitError) -> MergedShards {
    let outputPath = output.standardizedFileURL.path
    if let same = urls.first(where: { $0.standardizedFileURL.path == outputPath }) {
      throw .arrays("--output \(output.relativePath) is also a shard to merge (\(same.relativePath)); write the merged file elsewhere")
    }
    var opened: [Part] = []
    for url in urls { opened.append(try open(url)) }
    let parts = try check(opened)
    let first = parts[0]
    let total = first.total
    // The datasets: the same set in every shard, rows along the first axis.
    let names = try datasets(in: first.file.root, file: first.name)
    var layouts: [String: (element: String, trailing: [Int])] = [:]
    for p in parts {
      let mine = try datasets(in: p.file.root, file: p.name)
      guard mine == names else {
        throw .arrays("\(p.name) holds the datasets \(mine) but \(first.name) holds \(names): not one run")
      }
      for path in names {
        let d: HDF5Dataset
        do { d = try p.file.root.dataset(String(path.dropFirst())) } catch { throw fail(error) }
        guard d.shape.first == p.rows.count else {
          throw .arrays("\(p.name): '\(path)' has shape \(d.shape), not \(p.rows.count) rows (shard \(p.shard) of \(total) rows)")
        }
        let layout = (d.elementDescription, Array(d.shape.dropFirst()))
        if let known = layouts[path] {
          guard known.element == layout.0, known.trailing == layout.1 else {
            throw .arrays("\(p.name): '\(path)' is \(layout.0) \(d.shape), unlike the other shards (\(known.element), rows × \(known.trailing))")
          }
        } else {
          guard ["int8", "int64", "float32", "vlen-string"].contains(layout.0), layout.0 != "vlen-string" || layout.1.isEmpty else {
            throw .arrays("\(p.name): '\(path)' is \(layout.0) \(d.shape); merge copies int8, int64, float32 and 1-D string datasets")
          }
          layouts[path] = layout
        }
      }
    }
    // The merged file: every dataset with T rows, filled shard after shard.
    let writer: AtomicFileWriter
    do { writer = try AtomicFileWriter(destination: output, transaction: transaction) } catch { throw .file(error) }
    guard let path = writer.temporaryFilePath else {
      writer.abort()
      throw .arrays("\(output.relativePath): an HDF5 file must be a regular file, not a device or pipe")
    }
    do {
      let h5 = try HDF5Output(path: path, name: output.relativePath)
      for name in names {
        let layout = layouts[name]!
        let element: HDF5Output.Element
        switch layout.element {
        case "int8": element = .int8
        case "int64": element = .int64
        case "float32": element = .float32
        default: element = .string
        }
        let target = try h5.dataset(name, element, shape: [total] + layout.trailing)
        let perRow = max(1, layout.trailing.reduce(1, *))
        let chunk = max(1, (1 << 22) / perRow)
        for p in parts {
          let d = try p.file.root.dataset(String(name.dropFirst()))
          var r = 0
          while r < p.rows.count {
            let rows = r..<min(p.rows.count, r + chunk)
            let into = (p.rows.lowerBound + rows.lowerBound)..<(p.rows.lowerBound + rows.upperBound)
            switch element {
            case .int8: try d.readInt8Rows(rows).withUnsafeBufferPointer { try target.write(rows: into, $0) }
            case .int64: try d.readInt64Rows(rows).withUnsafeBufferPointer { try target.write(rows: into, $0) }
            case .float32: try d.readFloatRows(rows).withUnsafeBufferPointer { try target.write(rows: into, $0) }
            case .string: try target.write(rows: into, strings: try d.readStringRows(rows))
            }
            r = rows.upperBound
          }
        }
      }
      let skip: Set<String> = [Shard.shardAttribute, Shard.rowsAttribute]
      for (key, value) in first.attributes where !skip.contains(key) { try h5.attribute(key, value) }
      h5.close()
    } catch {
      writer.abort()
      throw .arrays("\(output.relativePath): cannot write the merged file (\(error))")
    }
    if let bigwig {
      do {
        try writeTrack(parts, to: bigwig, genome: genome, transaction: transaction)
      } catch {
        writer.abort()
        throw error
      }
    }
    do { try writer.commit() } catch { throw .file(error) }
    return MergedShards(shards: parts.count, rows: total, datasets: names)
  }

  /// The bigWig of the shards' windows (`regions/…`) and projected scores.
  static func writeTrack(_ parts: [Part], to url: URL, genome: URL?, transaction: OutputTransaction?) throws(LiftKitError) {
    let first = parts[0]
    guard let genomeURL = genome ?? first.attributes.first(where: { $0.0 == "genome" }).map({ URL(fileURLWithPath: $0.1) })
    else {
      throw .arrays("--bigwig: \(first.name) does not record its genome (no 'genome' attribute): give --genome GENOME.fa")
    }
    let track = try BigWigTrack(chromosomes: try BigWigTrack.chromosomes(ofGenome: genomeURL))
    for p in parts {
      let root = p.file.root
      guard root.contains("regions/chrom") && root.contains("regions/start") && root.contains("projected_shap/seq") else {
        throw .arrays("--bigwig: \(p.name) has no genome windows (regions/chrom, regions/start): a track needs a --genome run")
      }
      do {
        let chrom = try root.dataset("regions/chrom")
        let start = try root.dataset("regions/start")
        let end = try root.dataset("regions/end")
        let summit = try root.dataset("regions/summit")
        let projected = try root.dataset("projected_shap/seq")
        guard projected.shape.count == 3, projected.shape[1] == 4 else {
          throw LiftKitError.arrays("\(p.name): 'projected_shap/seq' has shape \(projected.shape), not [N, 4, L]")
        }
        let length = projected.shape[2]
        let chunk = max(1, (1 << 22) / (4 * max(1, length)))
        var r = 0
        while r < p.rows.count {
          let rows = r..<min(p.rows.count, r + chunk)
          let names = try chrom.readStringRows(rows)
          let starts = try start.readInt64Rows(rows)
          let ends = try end.readInt64Rows(rows)
          let summits = try summit.readInt64Rows(rows)
          let values = try projected.readFloatRows(rows)
          var sums = [Float](repeating: 0, count: length)
          for k in 0..<rows.count {
            let base = k * 4 * length
            for i in 0..<length {
              var s: Float = 0
              for c in 0..<4 { s += values[base + c * length + i] }
              sums[i] = s
            }
            let window = GenomicWindow(chrom: names[k], start: Int(starts[k]), end: Int(ends[k]), summit: Int(summits[k]))
            try track.add(window, values: sums)
          }
          r = rows.upperBound
        }
      } catch let error as HDF5Error {
        throw fail(error)
      } catch let error as LiftKitError {
        throw error
      } catch {
        throw .arrays("\(p.name): \(error)")
      }
    }
    try track.write(to: url, transaction: transaction)
  }
}

extension ShardMerge {
  /// Whether `url` is a complete `.h5` output of the run with this `fingerprint` (and this
  /// shard, or no shard): `--resume` skips such a run. Outputs are written atomically, so an
  /// existing file is complete unless something else wrote it; anything unreadable, from
  /// another run or of another shard is not.
  public static func isComplete(_ url: URL, fingerprint: String, shard: Shard?) -> Bool {
    guard let file = try? HDF5File(url: url), file.root.contains("raw/seq"),
      (try? file.root.stringAttribute(Shard.fingerprintAttribute)) == fingerprint
    else { return false }
    let recorded = try? file.root.stringAttribute(Shard.shardAttribute)
    return recorded == shard?.description
  }
}

extension BigWigTrack {
  /// The sequences and lengths listed in `genome`'s index (`GENOME.fa.fai`, as samtools
  /// faidx writes it), in order.
  ///
  /// - Throws: ``LiftKitError/arrays(_:)`` naming the index when it is missing or malformed.
  public static func chromosomes(ofGenome genome: URL) throws(LiftKitError) -> [(name: String, length: Int)] {
    let index = genome.path + ".fai"
    let name = genome.relativePath + ".fai"
    guard let text = try? String(contentsOfFile: index, encoding: .utf8) else {
      throw .arrays("\(name): cannot read the genome's index (the chromosome sizes of the bigWig)")
    }
    var result: [(name: String, length: Int)] = []
    for (k, line) in text.split(separator: "\n", omittingEmptySubsequences: true).enumerated() {
      let fields = line.split(separator: "\t", omittingEmptySubsequences: false)
      guard fields.count >= 2, !fields[0].isEmpty, let length = Int(fields[1]), length >= 0 else {
        throw .arrays("\(name) line \(k + 1): expected NAME<tab>LENGTH…")
      }
      result.append((String(fields[0]), length))
    }
    return result
  }
}
