import LiftNN
import LiftTensor
import LiftTestSupport
import Testing

@testable import LiftAttribution

/// The network of reference/deeplift-original.md §1.13, whose multipliers and contributions
/// were obtained by running the original deeplift 0.6.13 (marked [verified] there):
/// Input(3) → Dense W1, b1 → act → Dense W2, b2 (target, pre-sigmoid) → Sigmoid.
func tinyNetwork(_ act: Activation) -> Graph {
  var g = Graph()
  let x = g.add(.input(shape: [3]), name: "input")
  let w1 = Tensor(shape: [3, 2], scalars: [1, -1, 2, 0.5, -0.5, 1.5])
  let h = g.add(.dense(weight: w1, bias: Tensor(shape: [2], scalars: [0.1, -0.2])), inputs: [x], name: "dense_1")
  let a = g.add(.activation(act), inputs: [h], name: "act")
  let w2 = Tensor(shape: [2, 2], scalars: [1, -2, -1.5, 0.5])
  let o = g.add(.dense(weight: w2, bias: Tensor(shape: [2], scalars: [0.3, 0])), inputs: [a], name: "dense_2")
  let s = g.add(.activation(.sigmoid), inputs: [o], name: "out")
  g.outputs = [s]
  return g
}

let tinyX = Tensor(shape: [3, 3], scalars: [1, -2, 3, 0.5, 0.5, 0.5, 2, 1, -1])
let tinyR = Tensor(shape: [3], scalars: [0.5, 0.5, 0.5])

func explainTiny(
  _ act: Activation, _ method: AttributionMethod, task: Int = 0, multipliers: Bool
) throws -> Tensor {
  var o = ExplainOptions()
  o.method = method
  o.tasks = [task]
  o.multipliers = multipliers
  let e = try Explainer(graph: tinyNetwork(act), options: o)
  return try e.explain(inputs: [tinyX], references: .shared([tinyR])).scores[0]
}

func row(_ t: Tensor, _ i: Int) -> [Float] { Array(t.scalars[(i * 3)..<(i * 3 + 3)]) }

@Suite("DeepLIFT on the reference §1.13 network (original deeplift values)")
struct TinyNetworkTests {
  @Test func defaultTargetIsPreSigmoid() throws {
    let g = tinyNetwork(.relu)
    #expect(g[Explainer.defaultTarget(g)].name == "dense_2")
  }

  @Test func rescaleReLU() throws {
    let m = try explainTiny(.relu, .rescale, multipliers: true)
    expectClose(row(m, 0), [1.734783, -0.280435, -2.367391], rtol: 1e-5, atol: 1e-5)
    expectClose(row(m, 1), [2.5, 1.25, -2.75], rtol: 1e-5, atol: 1e-5)  // Δx = 0: gradient fallback
    expectClose(row(m, 2), [1.128571, 1.935714, -0.692857], rtol: 1e-5, atol: 1e-5)
    let c = try explainTiny(.relu, .rescale, multipliers: false)
    expectClose(row(c, 0), [0.867391, 0.701087, -5.918478], rtol: 1e-5, atol: 1e-5)
    expectClose(row(c, 1), [0, 0, 0])
    expectClose(row(c, 2), [1.692857, 0.967857, 1.039286], rtol: 1e-5, atol: 1e-5)
  }

  @Test func rescaleReLUTask1() throws {
    let m = try explainTiny(.relu, .rescale, task: 1, multipliers: true)
    expectClose(row(m, 0), [-0.969565, -0.689130, 0.984783], rtol: 1e-5, atol: 1e-5)
    let c = try explainTiny(.relu, .rescale, task: 1, multipliers: false)
    #expect(abs(row(c, 0).reduce(0, +) - 3.70) < 1e-4)
  }

  @Test func revealCancelReLU() throws {
    let m = try explainTiny(.relu, .revealCancel, multipliers: true)
    expectClose(row(m, 0), [1.378571, 0.072714, -1.943000], rtol: 1e-5, atol: 1e-5)
    expectClose(row(m, 2), [1.17, 1.625, -0.755], rtol: 1e-5, atol: 1e-5)
    // Input == reference: the original's float32 multipliers are rounding noise
    // ([2.5332, 1.7136, −2.6077]); computed in double precision they are the gradient.
    expectClose(row(m, 1), [2.5, 1.25, -2.75], rtol: 1e-4, atol: 1e-4)
    let c = try explainTiny(.relu, .revealCancel, multipliers: false)
    expectClose(row(c, 0), [0.689286, -0.181786, -4.857500], rtol: 1e-5, atol: 1e-5)
    expectClose(row(c, 2), [1.755, 0.8125, 1.1325], rtol: 1e-5, atol: 1e-5)
    let m1 = try explainTiny(.relu, .revealCancel, task: 1, multipliers: true)
    expectClose(row(m1, 0), [-1.292857, -0.877571, 0.861000], rtol: 1e-5, atol: 1e-5)
  }

  @Test func gradientReLU() throws {
    let m = try explainTiny(.relu, .gradient, multipliers: true)
    expectClose(row(m, 0), [1.5, -0.75, -2.25])
    expectClose(row(m, 2), [1.0, 2.0, -0.5])
  }

  @Test func guidedBackpropReLU() throws {
    let m = try explainTiny(.relu, .guidedBackprop, multipliers: true)
    expectClose(row(m, 0), [0, 0, 0])
    expectClose(row(m, 2), [1, 2, -0.5])
  }

  @Test func sigmoidHidden() throws {
    let m = try explainTiny(.sigmoid, .rescale, multipliers: true)
    expectClose(row(m, 0), [0.386826, 0.146587, -0.444239], rtol: 1e-5, atol: 1e-5)
    let c = try explainTiny(.sigmoid, .rescale, multipliers: false)
    #expect(abs(row(c, 0).reduce(0, +) - -1.283653) < 1e-5)
    let rc = try explainTiny(.sigmoid, .revealCancel, multipliers: true)
    expectClose(row(rc, 0), [0.271209, 0.163961, -0.403742], rtol: 1e-5, atol: 1e-5)
    let g = try explainTiny(.sigmoid, .gradient, multipliers: true)
    expectClose(row(g, 0), [0.136211, -0.038152, -0.192335], rtol: 1e-5, atol: 1e-5)
  }

  @Test func sigmoidRescaleFallbackUsesDerivativeAtReference() throws {
    // Input == reference: the original evaluates σ′ at σ(x⁰) (its bug §1.4: multipliers
    // [0.56007, 0.25593, −0.62573]); the fixed rule gives the true gradient at x⁰, which the
    // original's own Gradient mode reports as [0.53018, 0.14363, −0.63178] for that row.
    let m = try explainTiny(.sigmoid, .rescale, multipliers: true)
    let g = try explainTiny(.sigmoid, .gradient, multipliers: true)
    expectClose(row(m, 1), row(g, 1), rtol: 1e-6, atol: 1e-7)
    expectClose(row(g, 1), [0.53018, 0.14363, -0.63178], rtol: 1e-4, atol: 1e-5)
  }
}
