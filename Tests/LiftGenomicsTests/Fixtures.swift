import Foundation
import LiftTensor
import Testing

/// Loads `Fixtures/<name>.json` (written by Scripts/fixtures/make_shuffle_fixtures.py).
func loadFixture<T: Decodable>(_ name: String, as type: T.Type = T.self) throws -> T {
  let url = try #require(
    Bundle.module.url(forResource: name, withExtension: "json", subdirectory: "Fixtures"),
    "missing fixture \(name).json")
  return try JSONDecoder().decode(T.self, from: Data(contentsOf: url))
}

/// `[L, D]` one-hot rows from tokens (`token == depth` is an all-zero row).
func oneHot(_ tokens: [Int], depth: Int) -> Tensor {
  var scalars = [Float](repeating: 0, count: tokens.count * depth)
  for (l, t) in tokens.enumerated() where t < depth { scalars[l * depth + t] = 1 }
  return Tensor(shape: [tokens.count, depth], scalars: scalars)
}

/// Tokens of exact one-hot rows (`depth` for an all-zero row); `nil` if a row is not one-hot.
func exactTokens(_ scalars: ArraySlice<Float>, depth: Int) -> [Int]? {
  let rows = Array(scalars)
  guard depth > 0 else { return [Int](repeating: 0, count: rows.count) }
  var tokens: [Int] = []
  for start in stride(from: 0, to: rows.count, by: depth) {
    let row = rows[start..<(start + depth)]
    guard row.allSatisfy({ $0 == 0 || $0 == 1 }) else { return nil }
    let ones = row.indices.filter { row[$0] == 1 }
    guard ones.count <= 1 else { return nil }
    tokens.append(ones.first.map { $0 - start } ?? depth)
  }
  return tokens
}

// MARK: - Fixture shapes

struct MTFixture: Decodable {
  struct Permutation: Decodable {
    var seed: UInt32
    var n: Int
    var permutation: [Int]
    var consumed: Int
  }
  struct Stream: Decodable {
    var seed: UInt32
    var permutations: [[Int]]
    var nextRaw: [UInt32]
  }
  var raw: [String: [UInt32]]
  var permutations: [Permutation]
  var permutationStreams: [Stream]
}

struct DinucFixture: Decodable {
  struct Case: Decodable {
    var seed: UInt32
    var depth: Int
    var sequence: [Int]
    var shuffles: Int
    var expected: [[Int]]
    var nextRaw: UInt32
  }
  struct NonUnit: Decodable {
    var seed: UInt32
    var rows: [[Float]]
    var shuffles: Int
    var expected: [[Int]]
    var tokens: [Int]
  }
  struct Batch: Decodable {
    var seed: Int
    var sequences: [[Int]]
    var shuffles: Int
    var expected: [[[Int]]]
  }
  struct Strings: Decodable {
    var sequence: String
    var seed: UInt32
    var shuffles: Int
    var expected: [String]
    var twoSingleCalls: [String]
  }
  var cases: [Case]
  var nonUnit: NonUnit
  var batches: [Batch]
  var strings: Strings
}

struct HypotheticalFixture: Decodable {
  struct Case: Decodable {
    var name: String
    var reference: [[[Double]]]
    var expected: [[[Double]]]
  }
  var shape: [Int]
  var input: [[[Double]]]
  var multipliers: [[[Double]]]
  var cases: [Case]
}

struct MeanNormaliseFixture: Decodable {
  struct Kernel4: Decodable {
    var weight: [[[[Double]]]]
    var bias: [Double]
    var expectedWeight: [[[[Double]]]]
    var expectedBias: [Double]
  }
  struct Kernel3: Decodable {
    var weight: [[[Double]]]
    var bias: [Double]
    var originalWeight: [[[Double]]]
    var originalBias: [Double]
    var correctBias: [Double]
  }
  var conv2d: Kernel4
  var conv2dTall: Kernel4
  var conv1dOriginal: Kernel3
}

func tensor(_ a: [[[Double]]]) -> Tensor {
  let shape: Shape = [a.count, a.first?.count ?? 0, a.first?.first?.count ?? 0]
  return Tensor(shape: shape, scalars: a.flatMap { $0.flatMap { $0.map(Float.init) } })
}

func tensor(_ a: [[[[Double]]]]) -> Tensor {
  let shape: Shape = [
    a.count, a.first?.count ?? 0, a.first?.first?.count ?? 0, a.first?.first?.first?.count ?? 0,
  ]
  return Tensor(shape: shape, scalars: a.flatMap { $0.flatMap { $0.flatMap { $0.map(Float.init) } } })
}
