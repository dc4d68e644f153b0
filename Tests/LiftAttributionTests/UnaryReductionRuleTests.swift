import Foundation
import LiftNN
import LiftTensor
import Testing

@testable import LiftAttribution

/// Rules of exp/log/sqrt/pow and the reductions (issue 19) on small graphs whose expected
/// values follow from the definitions.
@Suite("Exp, log, sqrt, pow and reduction rules")
struct UnaryReductionRuleTests {
  static func options(_ method: AttributionMethod, maxPool: MaxPoolRule = .gradient, multipliers: Bool = false)
    -> ExplainOptions
  {
    var o = ExplainOptions()
    o.method = method
    o.maxPool = maxPool
    o.multipliers = multipliers
    return o
  }

  /// `x [2] → dense(1, 1) → f → target`: on one elementwise node the Rescale multiplier is the
  /// secant (f(z) − f(z⁰))/(z − z⁰), so each input's score is that times its Δ.
  @Test(arguments: [Activation.exp, .log, .sqrt, .pow(exponent: 2), .pow(exponent: 0.5), .pow(exponent: -1)])
  func rescaleIsTheSecant(_ f: Activation) throws {
    var g = Graph()
    let x = g.add(.input(shape: [2]), name: "x")
    let z = g.add(.dense(weight: Tensor(shape: [2, 1], scalars: [1, 1]), bias: nil), inputs: [x], name: "z")
    let y = g.add(.activation(f), inputs: [z], name: "f")
    g.outputs = [y]
    let xs: [Double] = [1.5, 0.75], rs: [Double] = [0.25, 0.5]
    let zx = xs.reduce(0, +), zr = rs.reduce(0, +)
    let secant = (f.apply(zx) - f.apply(zr)) / (zx - zr)
    var o = Self.options(.rescale)
    o.target = y
    let s = try Explainer(graph: g, options: o).explain(
      inputs: [Tensor(shape: [1, 2], scalars: xs.map(Float.init))],
      references: .perExample([Tensor(shape: [1, 2], scalars: rs.map(Float.init))])
    ).scores[0]
    for i in 0..<2 {
      let want = secant * (xs[i] - rs[i])
      #expect(abs(Double(s.scalars[i]) - want) <= 1e-5 * max(1, abs(want)), "\(f) input \(i): \(s.scalars[i]) vs \(want)")
    }
  }

  /// `x [2] → dense([1, 1]) → log`: under RevealCancel x⁰ + Δz⁻ = 0.5 − 3 lies outside log's
  /// domain though x⁰ and x do not; the split falls back to the secant's parts, so the scores
  /// are finite and sum to Δ = log 0.5 − log 1.
  @Test func revealCancelStaysFiniteWhenAPartLeavesTheDomain() throws {
    var g = Graph()
    let x = g.add(.input(shape: [2]), name: "x")
    let z = g.add(.dense(weight: Tensor(shape: [2, 1], scalars: [1, 1]), bias: nil), inputs: [x], name: "z")
    let y = g.add(.activation(.log), inputs: [z], name: "log")
    g.outputs = [y]
    let s = try Explainer(graph: g, options: Self.options(.revealCancel)).explain(
      inputs: [Tensor(shape: [1, 2], scalars: [3, -2.5])],
      references: .perExample([Tensor(shape: [1, 2], scalars: [0.5, 0.5])])
    ).scores[0]
    #expect(s.scalars.allSatisfy { $0.isFinite }, "\(s.scalars)")
    let total = Double(s.scalars[0] + s.scalars[1])
    #expect(abs(total - Foundation.log(0.5)) < 1e-5, "Σ \(total) vs Δ \(Foundation.log(0.5))")
  }

  /// Log of a reference 0 or of a negative input: an error naming the layer and the side, not
  /// NaN scores (every method).
  @Test(arguments: [AttributionMethod.rescale, .revealCancel, .genomicsDefault, .gradient, .integratedGradients])
  func outsideTheDomainIsAnErrorNamingTheLayer(_ method: AttributionMethod) throws {
    var g = Graph()
    let x = g.add(.input(shape: [2]), name: "x")
    let y = g.add(.activation(.log), inputs: [x], name: "the_log")
    let o = g.add(.dense(weight: Tensor(shape: [2, 1], scalars: [1, 1]), bias: nil), inputs: [y], name: "out")
    g.outputs = [o]
    let e = try Explainer(graph: g, options: Self.options(method))
    let good = Tensor(shape: [1, 2], scalars: [1, 2])
    if method.isDeepLIFT {
      #expect(throws: ExplainError.outsideDomain(layer: "the_log", op: "log", side: "reference", value: 0)) {
        try e.explain(inputs: [good], references: .zeros)
      }
    }
    let bad = Tensor(shape: [1, 2], scalars: [1, -2])
    let error = #expect(throws: ExplainError.self) { try e.explain(inputs: [bad], references: .shared([Tensor(shape: [2], scalars: [1, 2])])) }
    #expect("\(error!)".contains("'the_log' (log)"), "\(error!)")
  }

  /// ReduceMax over the spatial axes is global max pooling: the same scores under every
  /// max-pool rule and method.
  @Test func reduceMaxOverSpatialAxesIsGlobalMaxPool() throws {
    func graph(_ reduceOp: Op) -> Graph {
      var g = Graph()
      let x = g.add(.input(shape: [5, 3]), name: "x")
      let h = g.add(.activation(.tanh), inputs: [x], name: "h")
      let p = g.add(reduceOp, inputs: [h], name: "pool")
      let o = g.add(
        .dense(weight: Tensor(shape: [3, 2], scalars: [1, -2, 0.5, 1, -1, 3]), bias: nil), inputs: [p], name: "out")
      g.outputs = [o]
      return g
    }
    let a = graph(.globalMaxPool), b = graph(.reduce(.max, axes: [1], keepDims: false))
    let x = Tensor(shape: [2, 5, 3], scalars: (0..<30).map { Float(($0 * 7) % 13) / 4 - 1.5 })
    let r = Tensor(shape: [2, 5, 3], scalars: (0..<30).map { Float(($0 * 5) % 11) / 4 - 1.2 })
    for method in [AttributionMethod.rescale, .revealCancel, .gradient] {
      for rule in [MaxPoolRule.gradient, .deepshap] {
        var o = Self.options(method, maxPool: rule)
        o.tasks = [0, 1]
        let sa = try Explainer(graph: a, options: o).explain(inputs: [x], references: .perExample([r])).scores[0]
        let sb = try Explainer(graph: b, options: o).explain(inputs: [x], references: .perExample([r])).scores[0]
        #expect(sa == sb, "\(method) \(rule)")
      }
    }
    // The gradient rule's summation cause names the reduction like a max pool.
    let e = try Explainer(graph: b, options: Self.options(.rescale))
    #expect(e.gradientRuleMaxPools.map { b[$0].name } == ["pool"])
  }

  /// At x = x⁰ the log-sum-exp multipliers are its gradient softmax(x⁰); with one unit moved
  /// alone, that unit gets all of ΔL.
  @Test func logSumExpLimitsAndOneUnitMoving() throws {
    var g = Graph()
    let x = g.add(.input(shape: [3]), name: "x")
    let y = g.add(.reduce(.logSumExp, axes: [1], keepDims: true), inputs: [x], name: "lse")
    g.outputs = [y]
    let r: [Double] = [0.5, -1, 2]
    let rt = Tensor(shape: [1, 3], scalars: r.map(Float.init))
    for method in [AttributionMethod.rescale, .revealCancel] {
      let m = try Explainer(graph: g, options: Self.options(method, multipliers: true))
        .explain(inputs: [rt], references: .perExample([rt])).scores[0]
      let z = r.map { Foundation.exp($0) }.reduce(0, +)
      for j in 0..<3 {
        #expect(abs(Double(m.scalars[j]) - Foundation.exp(r[j]) / z) < 1e-6, "\(method) unit \(j)")
      }
      let xs: [Double] = [0.5, 1.5, 2]
      let s = try Explainer(graph: g, options: Self.options(method))
        .explain(inputs: [Tensor(shape: [1, 3], scalars: xs.map(Float.init))], references: .perExample([rt])).scores[0]
      let dL = Foundation.log(xs.map { Foundation.exp($0) }.reduce(0, +)) - Foundation.log(z)
      #expect(s.scalars[0] == 0 && s.scalars[2] == 0, "\(s.scalars)")
      #expect(abs(Double(s.scalars[1]) - dL) < 1e-6, "\(s.scalars[1]) vs \(dL)")
    }
  }
}

/// The gradient family through the new ops: gradients equal central differences of the
/// forward pass; integrated gradients sum to Δ (completeness) with enough steps.
@Suite("Exp, log, sqrt, pow and reductions under the gradient methods")
struct UnaryReductionGradientTests {
  /// `x [3, 4] → exp → op → reduce(kind over axes) → dense → out`.
  static func graph(_ kind: Reduction, axes: [Int], keepDims: Bool, _ f: Activation) -> Graph {
    var g = Graph()
    let x = g.add(.input(shape: [3, 4]), name: "x")
    let e = g.add(.activation(.exp), inputs: [x], name: "exp")
    let a = g.add(.activation(f), inputs: [e], name: "f")
    let r = g.add(.reduce(kind, axes: axes, keepDims: keepDims), inputs: [a], name: "reduce")
    let flat = g.add(.reshape([-1]), inputs: [r], name: "flat")
    let width = axes == [1] ? 4 : (axes == [2] ? 3 : 1)
    let w = Tensor(shape: [width, 1], scalars: (0..<width).map { Float($0 % 3) - 0.75 })
    let o = g.add(.dense(weight: w, bias: nil), inputs: [flat], name: "out")
    g.outputs = [o]
    return g
  }

  static let cases: [(Reduction, [Int], Activation)] = [
    (.sum, [1], .log), (.mean, [2], .sqrt), (.max, [1, 2], .pow(exponent: 2)), (.logSumExp, [1], .pow(exponent: 0.5)),
    (.logSumExp, [1, 2], .log),
  ]

  @Test(arguments: 0..<5)
  func gradientIsTheSlope(_ c: Int) throws {
    let (kind, axes, f) = Self.cases[c]
    let g = Self.graph(kind, axes: axes, keepDims: c % 2 == 0, f)
    let x = Tensor(shape: [1, 3, 4], scalars: (0..<12).map { Float(($0 * 5) % 12) / 12 - 0.4 })
    var o = ExplainOptions()
    o.method = .gradient
    let grad = try Explainer(graph: g, options: o).explain(inputs: [x]).scores[0]
    let out = g.outputs[0].rawValue
    for i in 0..<12 {
      let h: Float = 1e-2
      var up = x.scalars, down = x.scalars
      up[i] += h
      down[i] -= h
      let fu = try forward(g, inputs: [Tensor(shape: x.shape, scalars: up)])[out].scalars[0]
      let fd = try forward(g, inputs: [Tensor(shape: x.shape, scalars: down)])[out].scalars[0]
      let slope = (fu - fd) / (2 * h)
      #expect(abs(grad.scalars[i] - slope) <= 2e-3 * max(1, abs(slope)), "\(kind) \(axes) \(f) unit \(i): \(grad.scalars[i]) vs \(slope)")
    }
    // Guided backprop and input × gradient run through them (no ReLU here: guided = gradient).
    o.method = .guidedBackprop
    #expect(try Explainer(graph: g, options: o).explain(inputs: [x]).scores[0] == grad)
    o.method = .inputXGradient
    let ixg = try Explainer(graph: g, options: o).explain(inputs: [x]).scores[0]
    for i in 0..<12 { #expect(ixg.scalars[i] == grad.scalars[i] * x.scalars[i]) }
  }

  @Test(arguments: 0..<5)
  func integratedGradientsAreComplete(_ c: Int) throws {
    let (kind, axes, f) = Self.cases[c]
    let g = Self.graph(kind, axes: axes, keepDims: c % 2 == 1, f)
    let x = Tensor(shape: [1, 3, 4], scalars: (0..<12).map { Float(($0 * 5) % 12) / 12 - 0.4 })
    let r = Tensor(shape: [3, 4], scalars: (0..<12).map { Float(($0 * 3) % 5) / 5 - 0.5 })
    var o = ExplainOptions()
    o.method = .integratedGradients
    o.steps = 200
    let s = try Explainer(graph: g, options: o).explain(inputs: [x], references: .shared([r])).scores[0]
    let out = g.outputs[0].rawValue
    let delta = try forward(g, inputs: [x])[out].scalars[0]
      - forward(g, inputs: [r.reshaped(Shape([1, 3, 4]))])[out].scalars[0]
    let total = s.scalars.reduce(0, +)
    // Max's kinks along the path cost IG some accuracy; the others are smooth.
    #expect(abs(total - delta) <= (kind == .max ? 2e-2 : 1e-3) * max(1, abs(delta)), "\(kind) \(axes) \(f): Σ \(total) vs Δ \(delta)")
  }
}
