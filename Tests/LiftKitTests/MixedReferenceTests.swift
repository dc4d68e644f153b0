import Foundation
import LiftKit
import LiftTestSupport
import Testing

/// Each input of a multi-input model takes its reference in its own form (issue 14, item 3):
/// the result equals that of every reference expanded by hand to `[N, M, …]` (or `[N, …]`),
/// which needs no mixing.
@Suite("Mixed reference forms")
struct MixedReferenceTests {
  /// tf-keras two-input model: `seq` `[N, 10, 4]` and `vec` `[N, 5]`, N = 3.
  let model: Model
  let x: [Tensor]

  init() throws {
    model = try load("two_input.h5", in: kerasFixtures)
    x = [try array("two_input.x0.npy", in: kerasFixtures), try array("two_input.x1.npy", in: kerasFixtures)]
  }

  /// The model has a global max pool: the deepshap rule keeps summation-to-delta with these
  /// random references, so the scores can be checked against Δ as well.
  var options: AttributionOptions {
    var o = AttributionOptions()
    o.maxPool = .deepshap
    return o
  }

  func random(_ shape: Shape, seed: UInt64) -> Tensor {
    var g = SplitMix64(seed: seed)
    return Tensor(shape: shape, scalars: (0..<shape.scalarCount).map { _ in Float.random(in: -1...1, using: &g) })
  }

  /// `[M, …]` rows of `t` (a shared reference is `[1, …]` after a reshape) as `[N, M, …]`,
  /// row `[e, j]` = `t[j]` (or `t[0]` when `t` has one row and M > 1).
  func expandShared(_ t: Tensor, n: Int, m: Int) -> Tensor {
    let rows = t.shape[0], size = t.shape.dropFirst.scalarCount
    var out = [Float]()
    for _ in 0..<n { for j in 0..<m { out += t.scalars[(rows == 1 ? 0 : j) * size..<((rows == 1 ? 0 : j) + 1) * size] } }
    return Tensor(shape: Shape([n, m] + t.shape.dropFirst.dimensions), scalars: out)
  }

  /// `[N, …]` per-example references as `[N, M, …]`, row `[e, j]` = `t[e]`.
  func expandPerExample(_ t: Tensor, m: Int) -> Tensor {
    let n = t.shape[0], size = t.shape.dropFirst.scalarCount
    var out = [Float]()
    for e in 0..<n { for _ in 0..<m { out += t.scalars[e * size..<(e + 1) * size] } }
    return Tensor(shape: Shape([n, m] + t.shape.dropFirst.dimensions), scalars: out)
  }

  @Test(arguments: [AttributionMethod.rescale, .revealCancel, .integratedGradients])
  func sharedWithPerExample(method: AttributionMethod) throws {
    let n = x[0].shape[0]
    let seqShared = random([10, 4], seed: 1), vecPerExample = random([n, 5], seed: 2)
    let explainer = try model.explainer(method: method, options: options)
    let mixed = try explainer.explain(inputs: x, references: .arrays([seqShared, vecPerExample]))
    let seqExpanded = expandShared(seqShared.reshaped([1, 10, 4]), n: n, m: 1).reshaped([n, 10, 4])
    let expanded = try explainer.explain(inputs: x, references: .arrays([seqExpanded, vecPerExample]))
    for k in 0..<2 { expectClose(mixed.scores[k], expanded.scores[k], rtol: 1e-5, atol: 1e-6) }
    // The uniform form is a different code path; the scores are not trivially zero.
    #expect(mixed.scores[0].scalars.contains { abs($0) > 1e-4 })
    if method.isDeepLIFT { #expect(mixed.worstConvergenceDelta < 1e-4) }
  }

  /// `[N, M, …]` for one input with a shared reference for the other, and a background with
  /// per-example references: every input brought to `[N, M, …]` gives the same scores.
  @Test(arguments: [AttributionMethod.rescale, .revealCancel])
  func severalReferencesPerExample(method: AttributionMethod) throws {
    let n = x[0].shape[0], m = 3
    let explainer = try model.explainer(method: method, options: options)
    let seqMultiple = random([n, m, 10, 4], seed: 3), vecShared = random([5], seed: 4)
    let a = try explainer.explain(inputs: x, references: .arrays([seqMultiple, vecShared]))
    let aExpanded = try explainer.explain(
      inputs: x, references: .arrays([seqMultiple, expandShared(vecShared.reshaped([1, 5]), n: n, m: m)]))
    for k in 0..<2 { expectClose(a.scores[k], aExpanded.scores[k], rtol: 1e-5, atol: 1e-6) }

    let seqBackground = random([m, 10, 4], seed: 5), vecPerExample = random([n, 5], seed: 6)
    let b = try explainer.explain(
      inputs: x, references: .explicit(.perInput([.background(seqBackground), .perExample(vecPerExample)])))
    let bExpanded = try explainer.explain(
      inputs: x,
      references: .arrays([expandShared(seqBackground, n: n, m: m), expandPerExample(vecPerExample, m: m)]))
    for k in 0..<2 { expectClose(b.scores[k], bExpanded.scores[k], rtol: 1e-5, atol: 1e-6) }
    #expect(b.worstConvergenceDelta < 1e-4)

    // A background for one input, a shared reference for the other: still one shared
    // forward pass, and the same scores as the explicit expansion.
    let c = try explainer.explain(
      inputs: x, references: .explicit(.perInput([.background(seqBackground), .shared(vecShared)])))
    let cExpanded = try explainer.explain(
      inputs: x,
      references: .arrays([
        expandShared(seqBackground, n: n, m: m), expandShared(vecShared.reshaped([1, 5]), n: n, m: m),
      ]))
    for k in 0..<2 { expectClose(c.scores[k], cExpanded.scores[k], rtol: 1e-5, atol: 1e-6) }
  }

  @Test func disagreeingMIsAnErrorNamingBothInputs() throws {
    let n = x[0].shape[0]
    let explainer = try model.explainer()
    do {
      _ = try explainer.explain(inputs: x, references: .arrays([random([n, 2, 10, 4], seed: 7), random([n, 3, 5], seed: 8)]))
      Issue.record("M = 2 and M = 3 must not be accepted")
    } catch {
      let message = error.description
      for word in ["'seq'", "2 reference(s)", "'vec'", "has 3"] { #expect(message.contains(word), "\(message)") }
    }
    // A background's rows count as its M.
    #expect(throws: LiftKitError.self) {
      _ = try explainer.explain(
        inputs: x, references: .explicit(.perInput([.multiple(random([n, 2, 10, 4], seed: 9)), .background(random([4, 5], seed: 10))])))
    }
    #expect(throws: LiftKitError.self) {
      _ = try explainer.explain(inputs: x, references: .background([random([2, 10, 4], seed: 11), random([3, 5], seed: 12)]))
    }
  }
}
