import LiftGenomics
import LiftTensor
import Testing

@Suite("Dinucleotide shuffle (original deeplift.dinuc_shuffle)")
struct DinucleotideShuffleTests {
  @Test("Bit-exact with the original for seeds × lengths × shuffle counts, and the same draws")
  func fixtureCases() throws {
    let fixture = try loadFixture("dinuc_shuffle", as: DinucFixture.self)
    #expect(fixture.cases.count == 4 * 5 * 3 + 7)
    for c in fixture.cases {
      var rng = RandomState(seed: c.seed)
      let out = try dinucShuffle(oneHot(c.sequence, depth: c.depth), count: c.shuffles, rng: &rng)
      let label = "seed \(c.seed) L \(c.sequence.count) D \(c.depth) M \(c.shuffles)"
      #expect(out.shape == [c.shuffles, c.sequence.count, c.depth], "\(label)")
      let rows = c.sequence.count * c.depth
      for k in 0..<c.shuffles {
        let tokens = exactTokens(out.scalars[(k * rows)..<((k + 1) * rows)], depth: c.depth)
        #expect(tokens == c.expected[k], "\(label) shuffle \(k)")
      }
      #expect(rng.nextUInt32() == c.nextRaw, "\(label): RNG consumption differs")
    }
  }

  @Test("Rows with several or non-unit nonzeros: the last nonzero column is the token")
  func nonUnitRows() throws {
    let fixture = try loadFixture("dinuc_shuffle", as: DinucFixture.self).nonUnit
    let sequence = Tensor(shape: [fixture.rows.count, 4], scalars: fixture.rows.flatMap { $0 })
    #expect(try oneHotTokens(sequence) == fixture.tokens)
    var rng = RandomState(seed: fixture.seed)
    let out = try dinucShuffle(sequence, count: fixture.shuffles, rng: &rng)
    let rows = fixture.rows.count * 4
    for k in 0..<fixture.shuffles {
      #expect(exactTokens(out.scalars[(k * rows)..<((k + 1) * rows)], depth: 4) == fixture.expected[k])
    }
  }

  @Test("Golden strings of the reference, string path and one-hot path")
  func goldenStrings() throws {
    let golden = try loadFixture("dinuc_shuffle", as: DinucFixture.self).strings
    #expect(golden.expected == [
      "AAACGGTTTGCCGACGTACATCGA", "ACCACGAACGGCGTAATGTTTCGA", "AACGTTTACCGCGAACATGTCGGA",
    ])
    var rng = RandomState(seed: golden.seed)
    #expect(try dinucShuffle(golden.sequence, count: golden.shuffles, rng: &rng) == golden.expected)

    rng = RandomState(seed: golden.seed)
    let singles = try [
      dinucShuffle(golden.sequence, count: 1, rng: &rng)[0],
      dinucShuffle(golden.sequence, count: 1, rng: &rng)[0],
    ]
    #expect(singles == golden.twoSingleCalls)

    let acgt = Array("ACGT")
    let tokens = golden.sequence.map { acgt.firstIndex(of: $0)! }
    rng = RandomState(seed: golden.seed)
    let out = try dinucShuffle(oneHot(tokens, depth: 4), count: 3, rng: &rng)
    let strings = (0..<3).map { k in
      String(exactTokens(out.scalars[(k * 96)..<((k + 1) * 96)], depth: 4)!.map { acgt[$0] })
    }
    #expect(strings == golden.expected)
  }

  @Test("Batch stream order (NLC) equals np.stack([dinuc_shuffle(x_i, M, rng) ...])")
  func batchOrder() throws {
    let fixture = try loadFixture("dinuc_shuffle", as: DinucFixture.self)
    for batch in fixture.batches {
      let n = batch.sequences.count
      let length = batch.sequences[0].count
      let x = Tensor.concatenate(batches: batch.sequences.map {
        oneHot($0, depth: 4).reshaped([1, length, 4])
      })
      let out = try shuffledReferences(x, shuffles: batch.shuffles, seed: batch.seed)
      #expect(out.shape == [n, batch.shuffles, length, 4])
      let rows = length * 4
      for i in 0..<n {
        for k in 0..<batch.shuffles {
          let start = (i * batch.shuffles + k) * rows
          #expect(exactTokens(out.scalars[start..<(start + rows)], depth: 4) == batch.expected[i][k])
        }
      }
      // Batch by batch with one caller-owned stream gives the same references.
      var rng = try RandomState(validatingSeed: batch.seed)
      let parts = try [0..<1, 1..<n].map { range in
        try shuffledReferences(x.slice(batch: range), shuffles: batch.shuffles, rng: &rng)
      }
      #expect(Tensor.concatenate(batches: parts) == out)
    }
  }

  @Test("Channels-first (NCL) is the NLC result transposed")
  func channelsFirst() throws {
    let fixture = try loadFixture("dinuc_shuffle", as: DinucFixture.self)
    let batch = fixture.batches[0]
    let n = batch.sequences.count
    let length = batch.sequences[0].count
    let m = batch.shuffles
    let nlc = Tensor.concatenate(batches: batch.sequences.map {
      oneHot($0, depth: 4).reshaped([1, length, 4])
    })
    var ncl = Tensor.zeros([n, 4, length])
    for i in 0..<n { for l in 0..<length { for c in 0..<4 { ncl[i, c, l] = nlc[i, l, c] } } }
    let expected = try shuffledReferences(nlc, shuffles: m, seed: batch.seed)
    let out = try shuffledReferences(ncl, shuffles: m, seed: batch.seed, layout: .ncl)
    #expect(out.shape == [n, m, 4, length])
    var mismatches = 0
    for i in 0..<n { for k in 0..<m { for l in 0..<length { for c in 0..<4
      where out[i, k, c, l] != expected[i, k, l, c] { mismatches += 1 } } } }
    #expect(mismatches == 0)
  }

  @Test("Dinucleotide counts, first and last rows and N rows are preserved", arguments: 0..<8)
  func invariants(trial: Int) throws {
    // Random sequences drawn from our own (fixture-checked) generator.
    var source = RandomState(seed: UInt32(1000 + trial))
    let depth = [4, 4, 4, 2, 5, 4, 1, 4][trial]
    let length = 1 + Int(source.nextUInt32() % 300)
    let tokens = (0..<length).map { _ in
      source.nextUInt32() % 8 == 0 ? depth : Int(source.nextUInt32() % UInt32(depth))
    }
    var rng = RandomState(seed: UInt32(trial))
    let m = 6
    let out = try dinucShuffle(oneHot(tokens, depth: depth), count: m, rng: &rng)
    let rows = length * depth
    for k in 0..<m {
      let shuffled = try #require(exactTokens(out.scalars[(k * rows)..<((k + 1) * rows)], depth: depth))
      #expect(shuffled.first == tokens.first && shuffled.last == tokens.last)
      #expect(dinucleotideCounts(shuffled) == dinucleotideCounts(tokens))
      #expect(shuffled.filter { $0 == depth }.count == tokens.filter { $0 == depth }.count)
    }
  }

  @Test("Bad input throws instead of trapping")
  func badInput() throws {
    var rng = RandomState(seed: 0)
    #expect(throws: GenomicsError.emptySequence) {
      try dinucShuffle(Tensor.zeros([0, 4]), count: 1, rng: &rng)
    }
    #expect(throws: GenomicsError.invalidShuffleCount(0)) {
      try dinucShuffle(Tensor.zeros([3, 4]), count: 0, rng: &rng)
    }
    #expect(throws: GenomicsError.self) { try dinucShuffle(Tensor.zeros([3]), count: 1, rng: &rng) }
    #expect(throws: GenomicsError.emptySequence) { try dinucShuffle("", count: 1, rng: &rng) }
    #expect(throws: GenomicsError.self) {
      try shuffledReferences(Tensor.zeros([2, 5]), shuffles: 1, seed: 0)
    }
    #expect(throws: GenomicsError.seedOutOfRange(-3)) {
      try shuffledReferences(Tensor.zeros([2, 5, 4]), shuffles: 1, seed: -3)
    }
    #expect(try shuffledReferences(Tensor.zeros([0, 5, 4]), shuffles: 2, seed: 0).shape == [0, 2, 5, 4])
  }
}

func dinucleotideCounts(_ tokens: [Int]) -> [[Int]: Int] {
  var counts: [[Int]: Int] = [:]
  for j in 0..<(tokens.count - 1) { counts[[tokens[j], tokens[j + 1]], default: 0] += 1 }
  return counts
}
