import LiftTensor

// A port of `deeplift.dinuc_shuffle.dinuc_shuffle` (deeplift 0.6.13.0, PR #109), bit-exact for
// the same `RandomState` stream. See `EulerShuffler` for the algorithm.

/// The layout of a batch of sequences.
public enum SequenceLayout: String, Sendable, CaseIterable {
  /// `[N, L, D]`: length before channels (Keras, channels last). Shuffles are `[N, M, L, D]`.
  case nlc
  /// `[N, D, L]`: channels before length (PyTorch `Conv1d`). Shuffles are `[N, M, D, L]`.
  case ncl
}

/// Shuffles a one-hot sequence `count` times, preserving its dinucleotide counts exactly.
///
/// Bit-exact with the original `deeplift.dinuc_shuffle.dinuc_shuffle(seq, num_shufs=count,
/// rng=rng)` for a 2-D array `seq`, drawing the same numbers from `rng`:
///
/// 1. Each row becomes a token: the column of its **last nonzero** entry (the original uses
///    `np.where(one_hot)`, which for a well-formed one-hot row is the column of its 1), or
///    `D` for an all-zero row (an N base). The distinct tokens are sorted ascending
///    (`np.unique`).
/// 2. For each token `t`, `next[t]` lists the positions `j + 1` for which `token[j] == t`,
///    `j < L − 1`, in increasing order.
/// 3. For each shuffle, for each token in ascending order: the first `n − 1` entries of
///    `next[t]` are reordered by `rng.permutation(n − 1)` and the last entry stays last. The
///    lists are changed **cumulatively**: shuffle `k` permutes the lists left by shuffle
///    `k − 1`. A list of length ≤ 2 draws no numbers.
/// 4. An Euler walk from position 0 (`ind = next[token[ind]][counter++]`) gives the shuffled
///    token sequence, which is written back one-hot. All-zero rows come out as all-zero rows,
///    wherever the walk puts them, and every other row is an exact one-hot row (values 1 and
///    0, even where the input held other nonzero values).
///
/// The first and last rows are kept, and the count of every ordered pair of adjacent tokens
/// is preserved.
///
/// - Parameters:
///   - sequence: `[L, D]`, one row per position.
///   - count: the number of shuffles `M` (≥ 1).
///   - rng: the random stream; it advances exactly as NumPy's would.
/// - Returns: `[M, L, D]`.
/// - Throws: ``GenomicsError`` for a rank other than 2, `L == 0` or `count < 1`.
/// - Complexity: O(M · L · D).
public func dinucShuffle(_ sequence: Tensor, count: Int, rng: inout RandomState)
  throws(GenomicsError) -> Tensor
{
  guard sequence.rank == 2 else {
    throw .wrongRank(what: "sequence", shape: sequence.shape.dimensions, expected: "[L, D]")
  }
  guard count >= 1 else { throw .invalidShuffleCount(count) }
  let length = sequence.shape[0]
  let depth = sequence.shape[1]
  guard length >= 1 else { throw .emptySequence }
  var out = [Float](repeating: 0, count: count * length * depth)
  sequence.withUnsafeBufferPointer { input in
    out.withUnsafeMutableBufferPointer { output in
      shuffleOneHot(
        input, base: 0, positionStride: depth, channelStride: 1, length: length, depth: depth,
        count: count, rng: &rng, output: output, outputBase: 0,
        shuffleStride: length * depth)
    }
  }
  return Tensor(shape: [count, length, depth], scalars: out)
}

/// Shuffles a text sequence `count` times, preserving its dinucleotide counts exactly.
///
/// Bit-exact with the original's string path, `dinuc_shuffle(seq, num_shufs=count, rng=rng)`
/// for a `str`: the tokens are the UTF-8 bytes read as **signed** 8-bit integers
/// (`np.frombuffer(..., dtype=np.int8)`), sorted by `np.unique`; the rest of the algorithm
/// is that of the one-hot overload. Multi-byte
/// characters are shuffled byte by byte, as in the original, so use ASCII text.
///
/// - Returns: `count` strings of the same length.
/// - Throws: ``GenomicsError`` for an empty string or `count < 1`.
public func dinucShuffle(_ sequence: String, count: Int, rng: inout RandomState)
  throws(GenomicsError) -> [String]
{
  guard count >= 1 else { throw .invalidShuffleCount(count) }
  let bytes = Array(sequence.utf8)
  guard !bytes.isEmpty else { throw .emptySequence }
  var shuffler = EulerShuffler(values: bytes.map { Int(Int8(bitPattern: $0)) })
  var results: [String] = []
  for _ in 0..<count {
    let walk = shuffler.shuffle(rng: &rng)
    let shuffled = walk.map { UInt8(bitPattern: Int8(shuffler.values[$0])) }
    results.append(String(decoding: shuffled, as: UTF8.self))
  }
  return results
}

/// Dinucleotide-shuffled references for a batch, in the stream order of the original
/// `get_shuffle_seq_ref_function` / the DeepSHAP genomics recipe:
/// ```
/// rng = np.random.RandomState(seed)
/// refs = np.stack([dinuc_shuffle(x_i, num_shufs=M, rng=rng) for x_i in X])
/// ```
/// Example `i`'s `M` shuffles are drawn from one shared stream after those of examples
/// `0..<i`. For ``SequenceLayout/ncl`` each example is transposed to `[L, D]`, shuffled by
/// the same algorithm, and transposed back, so it equals the NLC result transposed.
///
/// - Parameters:
///   - x: `[N, L, D]` (``SequenceLayout/nlc``) or `[N, D, L]` (``SequenceLayout/ncl``).
///   - shuffles: `M` ≥ 1 references per example.
///   - seed: the `RandomState` seed, `0...4294967295`.
///   - layout: the layout of `x` and of the result.
/// - Returns: `[N, M, L, D]` (NLC) or `[N, M, D, L]` (NCL).
/// - Throws: ``GenomicsError`` for a rank other than 3, `L == 0` with `N > 0`, `M < 1` or a
///   seed out of range.
public func shuffledReferences(
  _ x: Tensor, shuffles: Int, seed: Int, layout: SequenceLayout = .nlc
) throws(GenomicsError) -> Tensor {
  var rng = try RandomState(validatingSeed: seed)
  return try shuffledReferences(x, shuffles: shuffles, rng: &rng, layout: layout)
}

/// ``shuffledReferences(_:shuffles:seed:layout:)`` drawing from a caller-owned stream, so a
/// long input can be processed batch by batch with the same references as in one call.
public func shuffledReferences(
  _ x: Tensor, shuffles: Int, rng: inout RandomState, layout: SequenceLayout = .nlc
) throws(GenomicsError) -> Tensor {
  guard x.rank == 3 else {
    let expected = layout == .nlc ? "[N, L, D]" : "[N, D, L]"
    throw .wrongRank(what: "sequences", shape: x.shape.dimensions, expected: expected)
  }
  guard shuffles >= 1 else { throw .invalidShuffleCount(shuffles) }
  let batch = x.shape[0]
  let (length, depth) = layout == .nlc ? (x.shape[1], x.shape[2]) : (x.shape[2], x.shape[1])
  guard length >= 1 || batch == 0 else { throw .emptySequence }
  let example = length * depth
  // Strides of one example's position and channel axes, in x and in the result alike.
  let (positionStride, channelStride) = layout == .nlc ? (depth, 1) : (1, length)
  var out = [Float](repeating: 0, count: batch * shuffles * example)
  x.withUnsafeBufferPointer { input in
    out.withUnsafeMutableBufferPointer { output in
      for i in 0..<batch {
        shuffleOneHot(
          input, base: i * example, positionStride: positionStride,
          channelStride: channelStride, length: length, depth: depth, count: shuffles,
          rng: &rng, output: output, outputBase: i * shuffles * example,
          shuffleStride: example)
      }
    }
  }
  let shape: Shape =
    layout == .nlc ? [batch, shuffles, length, depth] : [batch, shuffles, depth, length]
  return Tensor(shape: shape, scalars: out)
}

/// The original's `one_hot_to_tokens`: per row, the column of the last nonzero entry, or
/// `depth` for an all-zero row. `NaN` counts as nonzero, as it does for `np.where`.
///
/// - Parameter sequence: `[L, D]`.
/// - Returns: `L` tokens in `0...D`.
/// - Throws: ``GenomicsError/wrongRank(what:shape:expected:)`` for a rank other than 2.
public func oneHotTokens(_ sequence: Tensor) throws(GenomicsError) -> [Int] {
  guard sequence.rank == 2 else {
    throw .wrongRank(what: "sequence", shape: sequence.shape.dimensions, expected: "[L, D]")
  }
  let depth = sequence.shape[1]
  return sequence.withUnsafeBufferPointer { input in
    tokens(input, base: 0, positionStride: depth, channelStride: 1,
           length: sequence.shape[0], depth: depth)
  }
}

// MARK: - Implementation

func tokens(
  _ input: UnsafeBufferPointer<Float>, base: Int, positionStride: Int, channelStride: Int,
  length: Int, depth: Int
) -> [Int] {
  var result = [Int](repeating: depth, count: length)
  for l in 0..<length {
    let row = base + l * positionStride
    for c in stride(from: depth - 1, through: 0, by: -1) where input[row + c * channelStride] != 0 {
      result[l] = c
      break
    }
  }
  return result
}

/// Shuffles one example read with the given strides and writes `count` one-hot shuffles at
/// `output[outputBase + k·shuffleStride + …]` with the same position/channel strides.
/// `output` must be zero there.
func shuffleOneHot(
  _ input: UnsafeBufferPointer<Float>, base: Int, positionStride: Int, channelStride: Int,
  length: Int, depth: Int, count: Int, rng: inout RandomState,
  output: UnsafeMutableBufferPointer<Float>, outputBase: Int, shuffleStride: Int
) {
  let rowTokens = tokens(
    input, base: base, positionStride: positionStride, channelStride: channelStride,
    length: length, depth: depth)
  var shuffler = EulerShuffler(values: rowTokens)
  for k in 0..<count {
    let walk = shuffler.shuffle(rng: &rng)
    let start = outputBase + k * shuffleStride
    for (l, t) in walk.enumerated() {
      let column = shuffler.values[t]
      if column < depth { output[start + l * positionStride + column * channelStride] = 1 }
    }
  }
}

/// The Euler-path state of the original `dinuc_shuffle` for one sequence.
///
/// `values` are the distinct input values in ascending order (`np.unique`'s `chars`),
/// `tokens[j]` the index into `values` of position `j` (`return_inverse`), and `next[t]` the
/// successor positions of token `t`, permuted further by every ``shuffle(rng:)``.
struct EulerShuffler {
  let values: [Int]
  let tokens: [Int]
  var next: [[Int]]

  /// - Precondition: `input` is not empty.
  init(values input: [Int]) {
    precondition(!input.isEmpty, "EulerShuffler of an empty sequence")
    let distinct = Array(Set(input)).sorted()
    var index: [Int: Int] = [:]
    for (i, v) in distinct.enumerated() { index[v] = i }
    let tokens = input.map { index[$0]! }
    var next = [[Int]](repeating: [], count: distinct.count)
    for j in 0..<(tokens.count - 1) { next[tokens[j]].append(j + 1) }
    self.values = distinct
    self.tokens = tokens
    self.next = next
  }

  /// One shuffle: permutes every successor list except its last entry (in token order,
  /// `rng.permutation(n − 1)` each), then walks the Euler path from position 0.
  ///
  /// - Returns: the token (index into `values`) at each position.
  mutating func shuffle(rng: inout RandomState) -> [Int] {
    for t in next.indices {
      let old = next[t]
      let n = old.count
      // numpy: inds = arange(n); inds[:-1] = rng.permutation(n - 1); next = next[inds].
      // For n == 0 this is permutation(-1), an empty draw.
      let permutation = rng.permutation(n - 1)
      var shuffled = old
      for (i, p) in permutation.enumerated() { shuffled[i] = old[p] }
      next[t] = shuffled
    }
    var counters = [Int](repeating: 0, count: next.count)
    var result = [Int](repeating: 0, count: tokens.count)
    var position = 0
    result[0] = tokens[0]
    for j in 1..<tokens.count {
      let t = tokens[position]
      position = next[t][counters[t]]
      counters[t] += 1
      result[j] = tokens[position]
    }
    return result
  }
}
