import LiftGenomics
import Testing

@Suite("RandomState (numpy legacy MT19937)")
struct RandomStateTests {
  @Test("Raw 32-bit output equals numpy's random_raw for several seeds")
  func rawOutput() throws {
    let fixture = try loadFixture("mt19937", as: MTFixture.self)
    #expect(fixture.raw.count == 6)
    for (seed, expected) in fixture.raw {
      var rng = RandomState(seed: try #require(UInt32(seed)))
      let actual = (0..<expected.count).map { _ in rng.nextUInt32() }
      #expect(actual == expected, "seed \(seed)")
    }
  }

  @Test("Published MT19937 check value: 10000th output for seed 5489 is 4123659995")
  func publishedCheckValue() {
    // The C++11 standard (std::mt19937, [rand.predef]) fixes this value.
    var generator = MT19937(seed: 5489)
    for _ in 0..<9999 { _ = generator.next() }
    #expect(generator.next() == 4_123_659_995)
  }

  @Test("permutation(n) and the number of draws it consumes, fresh RandomState per n")
  func permutationsFresh() throws {
    let fixture = try loadFixture("mt19937", as: MTFixture.self)
    #expect(fixture.permutations.count == 4 * 51)
    for p in fixture.permutations {
      var rng = RandomState(seed: p.seed)
      #expect(rng.permutation(p.n) == p.permutation, "seed \(p.seed) n \(p.n)")
      // Count the draws: the stream after the permutation is the raw stream from `consumed`.
      var reference = RandomState(seed: p.seed)
      for _ in 0..<p.consumed { _ = reference.nextUInt32() }
      #expect(rng == reference, "seed \(p.seed) n \(p.n) consumed")
    }
  }

  @Test("n ≤ 1 draws nothing; n = 2 draws exactly one word")
  func smallPermutations() throws {
    let fixture = try loadFixture("mt19937", as: MTFixture.self)
    for p in fixture.permutations where p.n <= 2 {
      #expect(p.consumed == (p.n == 2 ? 1 : 0))
    }
    var rng = RandomState(seed: 3)
    let start = rng
    #expect(rng.permutation(-1) == [])
    #expect(rng.permutation(0) == [])
    #expect(rng.permutation(1) == [0])
    #expect(rng == start)
  }

  @Test("permutation(0...50) on one stream, then the next raw draws")
  func permutationStreams() throws {
    let fixture = try loadFixture("mt19937", as: MTFixture.self)
    for stream in fixture.permutationStreams {
      var rng = RandomState(seed: stream.seed)
      let actual = (0...50).map { rng.permutation($0) }
      #expect(actual == stream.permutations, "seed \(stream.seed)")
      #expect((0..<5).map { _ in rng.nextUInt32() } == stream.nextRaw, "seed \(stream.seed)")
    }
  }

  @Test("Seeds outside 0...2³²−1 throw, as numpy raises")
  func seedRange() throws {
    #expect(throws: GenomicsError.seedOutOfRange(-1)) { try RandomState(validatingSeed: -1) }
    #expect(throws: GenomicsError.seedOutOfRange(1 << 32)) { try RandomState(validatingSeed: 1 << 32) }
    #expect(try RandomState(validatingSeed: 4_294_967_295) == RandomState(seed: UInt32.max))
  }
}
