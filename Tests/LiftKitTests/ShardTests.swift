import CBigWig
import Foundation
import LiftIO
import LiftKit
import Testing

/// `--shard I/N` in the library: shards of a streamed explanation are the whole run's rows,
/// bit for bit, for every reference form (shuffles included) and batch size.
@Suite("Shards")
struct ShardTests {
  let model: Model
  let x: Tensor

  init() throws {
    model = try Model(contentsOf: genomicsExample.appendingPathComponent("model.h5"))
    x = try readArray(at: genomicsExample.appendingPathComponent("sequences.npy"))
  }

  /// Near-equal contiguous slices that cover every row once, in order.
  @Test func slicesCoverTheRowsOnce() throws {
    for total in [1, 2, 5, 20, 101, 1000] {
      for count in 1...12 where count <= total {
        let ranges = try (0..<count).map { try Shard(index: $0, count: count).rows(of: total) }
        #expect(ranges.first?.lowerBound == 0 && ranges.last?.upperBound == total)
        #expect(zip(ranges, ranges.dropFirst()).allSatisfy { $0.upperBound == $1.lowerBound })
        let sizes = ranges.map(\.count)
        #expect(sizes.max()! - sizes.min()! <= 1, "\(total) rows in \(count) shards: \(sizes)")
      }
    }
    #expect(try Shard(index: 1, count: 3).rows(of: 10) == 3..<6)
    #expect(try Shard(parsing: "2/4") == Shard(index: 2, count: 4))
    for bad in ["4/4", "0/0", "-1/2", "1", "a/b", "1/2/3", ""] {
      #expect(throws: LiftKitError.self, "\(bad)") { try Shard(parsing: bad) }
    }
  }

  /// FNV-1a 64 of `a=b\nc=\n` (computed independently in Python).
  @Test func fingerprintIsFNV1a() {
    #expect(runFingerprint([("a", "b"), ("c", "")]) == "f5f8babc7ea044bf")
    #expect(runFingerprint([("a", "b")]) != runFingerprint([("a", "c")]))
  }

  @Test(arguments: [3, 7, 64])
  func shardsEqualTheWholeRun(batchSize: Int) throws {
    try withScratch { dir in
      let perExample = Tensor(shape: x.shape, scalars: (0..<x.scalarCount).map { Float($0 % 7) / 7 })
      let perExampleURL = dir.appendingPathComponent("per-example.npy")
      try NumPy.write(perExample, to: perExampleURL)
      let multiple = Tensor(shape: Shape([20, 3, 200, 4]), scalars: (0..<(20 * 3 * 800)).map { Float($0 % 5) / 5 })
      let forms: [(String, ReferenceSet)] = [
        ("zeros", .zeros),
        ("per-example rows", .rows(try NpyRows(urls: [perExampleURL]))),
        ("[N, M, …] in memory", .arrays([multiple])),
        ("shuffles", .shuffles(count: 3, seed: 11)),
      ]
      var o = AttributionOptions(tasks: .task(1))
      o.batchSize = batchSize
      o.maxPool = .deepshap
      let explainer = try model.explainer(options: o)
      for (name, references) in forms {
        let whole = ArraySink()
        _ = try explainer.explain(rows: ArrayRows([x]), references: references, into: [whole])
        for count in [3, 4, 20] {
          var parts: [Tensor] = []
          var inputs: [Tensor] = []
          for i in 0..<count {
            let kept = ArraySink()
            let run = try explainer.explain(
              rows: try ShardRows(ArrayRows([x]), shard: Shard(index: i, count: count)), references: references, into: [kept])
            #expect(run.examples == (try Shard(index: i, count: count)).rows(of: 20).count)
            parts.append(kept.scores()[0])
            inputs.append(kept.inputs[0])
          }
          #expect(identical(Tensor.concatenate(batches: parts), whole.scores()[0]), "\(name), \(count) shards, batch \(batchSize)")
          #expect(identical(Tensor.concatenate(batches: inputs), x))
        }
      }
    }
  }

  @Test func tooManyShards() throws {
    #expect(throws: LiftKitError.self) { try ShardRows(ArrayRows([x.slice(batch: 0..<3)]), shard: Shard(index: 0, count: 4)) }
  }
}

/// LiftKit's bigWig track against chrombpnet's own `write_bigwig` read back with pyBigWig
/// (Scripts/fixtures/make_bigwig_fixtures.py): overlapping windows given out of order, over
/// chromosomes listed out of name order.
@Suite("bigWig track")
struct BigWigTrackTests {
  static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/bigwig")

  struct Layout: Decodable {
    var chromosomes: [[Either]]
    var windows: [[Either]]
  }

  enum Either: Decodable {
    case int(Int), text(String)
    init(from decoder: any Decoder) throws {
      let c = try decoder.singleValueContainer()
      if let i = try? c.decode(Int.self) { self = .int(i) } else { self = .text(try c.decode(String.self)) }
    }
    var int: Int {
      if case .int(let i) = self { return i }
      return -1
    }
    var text: String {
      if case .text(let t) = self { return t }
      return ""
    }
  }

  /// Per-base values of `chrom` read back with libBigWig (NaN where the track has none).
  static func values(_ url: URL, _ chrom: String, length: Int) -> [Float]? {
    guard let bw = bwOpen(url.path, nil, "r") else { return nil }
    defer { bwClose(bw) }
    guard let got = bwGetValues(bw, chrom, 0, UInt32(length), 1) else { return nil }
    defer { bwDestroyOverlappingIntervals(got) }
    return Array(UnsafeBufferPointer(start: got.pointee.value, count: Int(got.pointee.l)))
  }

  @Test func equalsChrombpnet() throws {
    let layout = try JSONDecoder().decode(Layout.self, from: Data(contentsOf: Self.fixtures.appendingPathComponent("windows.json")))
    let chromosomes = layout.chromosomes.map { (name: $0[0].text, length: $0[1].int) }
    let values = try readArray(at: Self.fixtures.appendingPathComponent("values.npy"))
    let expected = try readArrays(at: Self.fixtures.appendingPathComponent("expected.npz"))
    let track = try BigWigTrack(chromosomes: chromosomes)
    let width = values.shape[1]
    for (k, w) in layout.windows.enumerated() {
      let window = GenomicWindow(chrom: w[0].text, start: w[1].int, end: w[2].int, summit: w[3].int)
      try track.add(window, values: Array(values.scalars[(k * width)..<((k + 1) * width)]))
    }
    try withScratch { dir in
      let url = dir.appendingPathComponent("track.bw")
      try track.write(to: url)
      for (name, tensor) in expected {
        let length = chromosomes.first { $0.name == name }!.length
        let got = try #require(Self.values(url, name, length: length))
        let want = tensor.scalars
        #expect(got.count == want.count)
        #expect(zip(got, want).allSatisfy { $0.isNaN ? $1.isNaN : $0.bitPattern == $1.bitPattern }, "\(name)")
      }
    }
  }

  @Test func refusesWindowsOffTheIndex() throws {
    let track = try BigWigTrack(chromosomes: [("chr1", 100)])
    #expect(throws: LiftKitError.self) { try track.add(GenomicWindow(chrom: "chr2", start: 0, end: 2, summit: 1), values: [1, 2]) }
    #expect(throws: LiftKitError.self) { try track.add(GenomicWindow(chrom: "chr1", start: 99, end: 101, summit: 100), values: [1, 2]) }
    #expect(throws: LiftKitError.self) { try track.add(GenomicWindow(chrom: "chr1", start: 0, end: 2, summit: 1), values: [1]) }
  }
}
