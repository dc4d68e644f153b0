import Foundation
import LiftNN
import LiftTensor
import Testing

@testable import LiftAttribution

/// Layer and RMS norms under the gradient methods and at `x = x⁰`: the rule must be the
/// norm's Jacobian there. Expected gradients are central differences of the norm written out
/// here in double precision (independent of the executor and of the rules).
@Suite("Norms: gradient methods and the limit x → x⁰")
struct NormRuleTests {
  static let gamma: [Float] = [1.5, -0.5, 2, 0.25]
  static let beta: [Float] = [0.1, -0.2, 0.3, 0]
  static let w: [Float] = (0..<12).map { Float(cos(Double($0) * 2.3)) }

  /// `x [3, 4] → norm over the last axis (γ, β) → flatten → dense(w) → t`.
  static func graph(rms: Bool) -> Graph {
    var g = Graph()
    let x = g.add(.input(shape: [3, 4]), name: "x")
    let p = NormParameters(
      axes: 1, epsilon: 1e-3, scale: Tensor(shape: [4], scalars: gamma), bias: Tensor(shape: [4], scalars: beta))
    let n = g.add(rms ? .rmsNorm(p) : .layerNorm(p), inputs: [x], name: "norm")
    let f = g.add(.reshape([-1]), inputs: [n], name: "flat")
    let t = g.add(.dense(weight: Tensor(shape: [12, 1], scalars: w), bias: nil), inputs: [f], name: "t")
    g.outputs = [t]
    return g
  }

  /// The target in double precision.
  static func target(_ x: [Double], rms: Bool) -> Double {
    var t = 0.0
    for row in 0..<3 {
      let v = Array(x[(row * 4)..<(row * 4 + 4)])
      let mu = rms ? 0 : v.reduce(0, +) / 4
      let a = v.map { $0 - mu }
      let inv = 1 / (a.map { $0 * $0 }.reduce(0, +) / 4 + 1e-3).squareRoot()
      for j in 0..<4 { t += Double(w[row * 4 + j]) * (a[j] * inv * Double(gamma[j]) + Double(beta[j])) }
    }
    return t
  }

  static func gradient(_ x: [Double], rms: Bool) -> [Double] {
    (0..<x.count).map { i in
      var hi = x, lo = x
      hi[i] += 1e-5
      lo[i] -= 1e-5
      return (target(hi, rms: rms) - target(lo, rms: rms)) / 2e-5
    }
  }

  static let x: [Float] = (0..<12).map { Float(sin(Double($0) * 1.3)) * 1.5 + 0.2 }

  static func run(_ method: AttributionMethod, rms: Bool, reference: [Float]? = nil, multipliers: Bool = false) throws
    -> [Float]
  {
    var o = ExplainOptions()
    o.method = method
    o.multipliers = multipliers
    o.steps = 200
    let xt = Tensor(shape: [1, 3, 4], scalars: x)
    let refs: References = reference.map { .perExample([Tensor(shape: [1, 3, 4], scalars: $0)]) } ?? .zeros
    return try Explainer(graph: graph(rms: rms), options: o).explain(inputs: [xt], references: refs).scores[0].scalars
  }

  @Test(arguments: [false, true])
  func gradientIsTheJacobian(rms: Bool) throws {
    let expected = Self.gradient(Self.x.map(Double.init), rms: rms)
    for method in [AttributionMethod.gradient, .guidedBackprop] {
      let got = try Self.run(method, rms: rms)
      for (a, b) in zip(got, expected) { #expect(abs(Double(a) - b) <= 1e-4 * max(1, abs(b)), "\(method): \(a) vs \(b)") }
    }
    let ixg = try Self.run(.inputXGradient, rms: rms)
    for i in 0..<12 {
      let b = Double(Self.x[i]) * expected[i]
      #expect(abs(Double(ixg[i]) - b) <= 1e-4 * max(1, abs(b)), "input×gradient \(i)")
    }
  }

  /// DeepLIFT multipliers with the reference at the input are the gradient there.
  @Test(arguments: [false, true])
  func multipliersAtTheReferenceAreTheGradient(rms: Bool) throws {
    let expected = Self.gradient(Self.x.map(Double.init), rms: rms)
    for method in [AttributionMethod.rescale, .revealCancel] {
      let got = try Self.run(method, rms: rms, reference: Self.x, multipliers: true)
      for (a, b) in zip(got, expected) { #expect(abs(Double(a) - b) <= 1e-4 * max(1, abs(b)), "\(method): \(a) vs \(b)") }
    }
  }

  /// Integrated gradients against a zero reference sum to Δt (a smooth path, 200 points).
  @Test(arguments: [false, true])
  func integratedGradientsSumToDelta(rms: Bool) throws {
    let s = try Self.run(.integratedGradients, rms: rms).reduce(0.0) { $0 + Double($1) }
    let delta = Self.target(Self.x.map(Double.init), rms: rms) - Self.target([Double](repeating: 0, count: 12), rms: rms)
    #expect(abs(s - delta) <= 1e-3 * max(1, abs(delta)), "\(s) vs \(delta)")
  }
}
