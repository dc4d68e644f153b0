import LiftGenomics
import LiftTensor
import LiftTestSupport
import Testing

@Suite("Hypothetical contributions (get_hypothetical_contribs_func_onehot)")
struct HypotheticalContributionsTests {
  @Test("Equals the original for uniform, random and shuffled references (NLC)")
  func fixtureNLC() throws {
    let fixture = try loadFixture("hypothetical", as: HypotheticalFixture.self)
    let m = tensor(fixture.multipliers)
    #expect(m.shape.dimensions == fixture.shape)
    for c in fixture.cases {
      let h = try hypotheticalContributions(
        multipliers: m, references: tensor(c.reference), channelAxis: -1)
      expectClose(h, tensor(c.expected), rtol: 1e-6, atol: 1e-6, c.name)
    }
  }

  @Test("Channel axis 1 (NCL) gives the NLC result transposed")
  func fixtureNCL() throws {
    let fixture = try loadFixture("hypothetical", as: HypotheticalFixture.self)
    for c in fixture.cases {
      let h = try hypotheticalContributions(
        multipliers: transposeLast2(tensor(fixture.multipliers)),
        references: transposeLast2(tensor(c.reference)), channelAxis: 1)
      expectClose(h, transposeLast2(tensor(c.expected)), rtol: 1e-6, atol: 1e-6, c.name)
    }
  }

  @Test("One per-example reference broadcasts over the batch")
  func broadcastReference() throws {
    let fixture = try loadFixture("hypothetical", as: HypotheticalFixture.self)
    let m = tensor(fixture.multipliers)
    let uniform = try #require(fixture.cases.first { $0.name == "uniform" })
    let single = tensor(uniform.reference).slice(batch: 0..<1)
    let h = try hypotheticalContributions(
      multipliers: m, references: single.reshaped(single.shape.dropFirst), channelAxis: 2)
    expectClose(h, tensor(uniform.expected), rtol: 1e-6, atol: 1e-6)
  }

  @Test("Σ_i x_i·H_i = Σ_c (x − r)_c·m_c on every one-hot row")
  func summationIdentity() throws {
    let fixture = try loadFixture("hypothetical", as: HypotheticalFixture.self)
    let x = tensor(fixture.input)
    let m = tensor(fixture.multipliers)
    let (n, length, channels) = (fixture.shape[0], fixture.shape[1], fixture.shape[2])
    var checked = 0
    for c in fixture.cases {
      let r = tensor(c.reference)
      let h = try hypotheticalContributions(multipliers: m, references: r, channelAxis: -1)
      for i in 0..<n {
        for l in 0..<length where (0..<channels).contains(where: { x[i, l, $0] == 1 }) {
          var lhs = 0.0
          var rhs = 0.0
          for k in 0..<channels {
            lhs += Double(x[i, l, k]) * Double(h[i, l, k])
            rhs += Double(x[i, l, k] - r[i, l, k]) * Double(m[i, l, k])
          }
          #expect(abs(lhs - rhs) <= 1e-5, "\(c.name) [\(i), \(l)]")
          checked += 1
        }
      }
    }
    #expect(checked > 0)
  }

  @Test("Mismatched shapes and axes throw")
  func badInput() {
    let m = Tensor.zeros([2, 3, 4])
    #expect(throws: GenomicsError.invalidChannelAxis(3, rank: 3)) {
      try hypotheticalContributions(multipliers: m, references: m, channelAxis: 3)
    }
    #expect(throws: GenomicsError.referenceShapeMismatch(multipliers: [2, 3, 4], references: [3, 3, 4])) {
      try hypotheticalContributions(multipliers: m, references: .zeros([3, 3, 4]), channelAxis: -1)
    }
    #expect(throws: GenomicsError.self) {
      try hypotheticalContributions(multipliers: m, references: .zeros([3, 4]), channelAxis: 0)
    }
  }
}

/// [A, B, C] → [A, C, B].
func transposeLast2(_ t: Tensor) -> Tensor {
  let (a, b, c) = (t.shape[0], t.shape[1], t.shape[2])
  var out = Tensor.zeros([a, c, b])
  for i in 0..<a { for j in 0..<b { for k in 0..<c { out[i, k, j] = t[i, j, k] } } }
  return out
}
