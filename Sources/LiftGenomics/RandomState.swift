/// The 32-bit Mersenne Twister (Matsumoto & Nishimura 1998), bit-exact with NumPy's
/// `MT19937` as used by the legacy `numpy.random.RandomState(seed)` for integer seeds.
///
/// Seeding is `init_genrand`:
/// ```
/// mt[0] = seed
/// mt[i] = 1812433253 · (mt[i−1] ^ (mt[i−1] >> 30)) + i   (mod 2³², i = 1…623)
/// ```
/// after which the state is regenerated (all 624 words at once) before the first draw, and
/// every output word is tempered with the standard MT19937 tempering. ``next()`` equals
/// NumPy's `RandomState(seed)._bit_generator.random_raw()` and
/// `RandomState(seed).randint(0, 2**32, dtype=np.uint32)` draw for draw (checked against
/// fixtures written by NumPy).
public struct MT19937: Sendable, Equatable {
  static let n = 624
  static let m = 397
  static let matrixA: UInt32 = 0x9908_b0df
  static let upperMask: UInt32 = 0x8000_0000
  static let lowerMask: UInt32 = 0x7fff_ffff

  var key: [UInt32]
  var position: Int

  /// Seeds the generator with `init_genrand(seed)`, as `numpy.random.RandomState(seed)` does
  /// for an integer seed.
  public init(seed: UInt32) {
    var key = [UInt32](repeating: 0, count: Self.n)
    key[0] = seed
    for i in 1..<Self.n {
      let previous = key[i - 1]
      key[i] = 1_812_433_253 &* (previous ^ (previous >> 30)) &+ UInt32(i)
    }
    self.key = key
    self.position = Self.n
  }

  /// The next tempered 32-bit output (`genrand_int32`).
  public mutating func next() -> UInt32 {
    if position == Self.n { regenerate() }
    var y = key[position]
    position += 1
    y ^= y >> 11
    y ^= (y << 7) & 0x9d2c_5680
    y ^= (y << 15) & 0xefc6_0000
    y ^= y >> 18
    return y
  }

  /// Refills all 624 state words (NumPy's `mt19937_gen`).
  mutating func regenerate() {
    let n = Self.n
    let m = Self.m
    key.withUnsafeMutableBufferPointer { mt in
      @inline(__always) func twist(_ i: Int, _ next: Int, _ source: Int) {
        let y = (mt[i] & Self.upperMask) | (mt[next] & Self.lowerMask)
        mt[i] = mt[source] ^ (y >> 1) ^ ((y & 1) == 0 ? 0 : Self.matrixA)
      }
      for i in 0..<(n - m) { twist(i, i + 1, i + m) }
      for i in (n - m)..<(n - 1) { twist(i, i + 1, i + m - n) }
      twist(n - 1, 0, m - 1)
    }
    position = 0
  }
}

/// The parts of NumPy's legacy `numpy.random.RandomState` that the DeepLIFT genomics tools
/// use, bit-exact for integer seeds: raw 32-bit draws, `random_interval`, `shuffle` and
/// `permutation`.
///
/// One value is one random stream: pass it `inout` to every function that draws from it, in
/// the same order as the Python code would, to reproduce NumPy's results.
public struct RandomState: Sendable, Equatable {
  /// The underlying bit generator.
  public var generator: MT19937

  /// `numpy.random.RandomState(seed)` for a seed in `0...4294967295`.
  public init(seed: UInt32) {
    generator = MT19937(seed: seed)
  }

  /// `numpy.random.RandomState(seed)` for a seed from a file or argument: seeds outside
  /// `0...4294967295` are rejected, as NumPy rejects them ("Seed must be between 0 and
  /// 2**32 - 1").
  ///
  /// - Throws: ``GenomicsError/seedOutOfRange(_:)``.
  public init(validatingSeed seed: Int) throws(GenomicsError) {
    guard let value = UInt32(exactly: seed) else { throw .seedOutOfRange(seed) }
    self.init(seed: value)
  }

  /// The next raw 32-bit output (NumPy's `next_uint32`).
  public mutating func nextUInt32() -> UInt32 { generator.next() }

  /// The next raw 64-bit output, `next_uint32() << 32 | next_uint32()` (NumPy's
  /// `mt19937_next64`).
  public mutating func nextUInt64() -> UInt64 {
    let high = UInt64(generator.next())
    return high << 32 | UInt64(generator.next())
  }

  /// A uniform integer in `0...max` by masked rejection sampling (NumPy's
  /// `random_interval`):
  /// ```
  /// max == 0:  return 0 without drawing
  /// mask = smallest 2ᵏ − 1 ≥ max
  /// repeat v = next_uint32() & mask  until v ≤ max      (next_uint64 when max ≥ 2³²)
  /// ```
  ///
  /// - Precondition: `max >= 0`.
  public mutating func randomInterval(_ max: Int) -> Int {
    precondition(max >= 0, "randomInterval of negative bound \(max)")
    if max == 0 { return 0 }
    var mask = UInt64(max)
    mask |= mask >> 1
    mask |= mask >> 2
    mask |= mask >> 4
    mask |= mask >> 8
    mask |= mask >> 16
    mask |= mask >> 32
    let bound = UInt64(max)
    if bound <= 0xffff_ffff {
      let mask32 = UInt32(mask)
      while true {
        let value = UInt64(nextUInt32() & mask32)
        if value <= bound { return Int(value) }
      }
    } else {
      while true {
        let value = nextUInt64() & mask
        if value <= bound { return Int(value) }
      }
    }
  }

  /// Shuffles `elements` in place like the legacy `RandomState.shuffle` (Fisher–Yates from
  /// the end):
  /// ```
  /// for i = n−1 down to 1:  j = randomInterval(i);  swap(a[i], a[j])
  /// ```
  /// It draws nothing for `n ≤ 1`, and at least one 32-bit word per `i` otherwise (so
  /// `permutation(2)` draws exactly one word).
  public mutating func shuffle<Element>(_ elements: inout [Element]) {
    var i = elements.count - 1
    while i >= 1 {
      let j = randomInterval(i)
      elements.swapAt(i, j)
      i -= 1
    }
  }

  /// `RandomState.permutation(n)`: `arange(n)` shuffled by ``shuffle(_:)``.
  ///
  /// As in NumPy, `n ≤ 0` gives an empty array (`arange` of a negative count is empty) and
  /// draws nothing; `n == 1` draws nothing either.
  public mutating func permutation(_ n: Int) -> [Int] {
    var result = Array(0..<Swift.max(n, 0))
    shuffle(&result)
    return result
  }
}
