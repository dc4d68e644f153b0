import Foundation
import LiftNN
import LiftTensor
import Testing

@testable import LiftONNX

/// The written-out LayerNorm / RMSNorm chains (PatternFusion.swift) on hand-built models of
/// x (N, 3, 4): fused into one norm where the chain is exact, left alone otherwise. Expected
/// values come from the norm's definition, evaluated here in double precision.
@Suite("ONNX import: written-out LayerNorm/RMSNorm chains")
struct NormFusionTests {
  static let gamma: [Float] = [1.5, -0.5, 2, 0.25]
  static let beta: [Float] = [0.1, -0.2, 0.3, 0]

  struct Chain {
    /// Both reductions' axes (the first one's for layer norm).
    var axes = [-1]
    var exponent: Float = 2
    var squareByMul = false
    var secondAxes: [Int]? = nil
    var epsilonDims = [Int]()
    var gammaDims = [4]
    /// An intermediate also read outside the chain.
    var extraUse: String? = nil
    var rms = false
    var reciprocal = true
  }

  /// The chain torch writes (LayerNorm below opset 17, or torch.export's RMSNorm), varied.
  static func model(_ c: Chain) throws -> Data {
    func mean(_ x: String, _ y: String, _ axes: [Int]) -> Onnx_NodeProto {
      var n = nodeProto("ReduceMean", [x], [y], name: y)
      var a = Onnx_AttributeProto()
      a.name = "axes"
      a.type = .ints
      a.ints = axes.map(Int64.init)
      n.attribute = [a]
      return n
    }
    var nodes = [Onnx_NodeProto]()
    let centred = c.rms ? "x" : "d"
    if !c.rms {
      nodes += [mean("x", "m", c.axes), nodeProto("Sub", ["x", "m"], ["d"], name: "d")]
    }
    nodes.append(
      c.squareByMul
        ? nodeProto("Mul", [centred, centred], ["q"], name: "q") : nodeProto("Pow", [centred, "two"], ["q"], name: "q"))
    nodes += [
      mean("q", "v", c.secondAxes ?? c.axes), nodeProto("Add", ["v", "eps"], ["e"], name: "e"), nodeProto("Sqrt", ["e"], ["s"], name: "s"),
    ]
    if c.rms && c.reciprocal {
      nodes += [nodeProto("Reciprocal", ["s"], ["r"], name: "r"), nodeProto("Mul", ["x", "r"], ["n"], name: "n")]
    } else {
      nodes.append(nodeProto("Div", [centred, "s"], ["n"], name: "n"))
    }
    nodes += [nodeProto("Mul", ["n", "g"], ["gn"], name: "gn"), nodeProto("Add", ["gn", "b"], ["y"], name: "y")]
    if let extra = c.extraUse {
      nodes += [nodeProto("Relu", [extra], ["u"], name: "u"), nodeProto("Add", ["y", "u"], ["z"], name: "z")]
    }
    let gammaCount = c.gammaDims.reduce(1, *)
    let epsilonCount = c.epsilonDims.reduce(1, *)
    return try modelData(
      nodes: nodes, inputDims: [.dimParam("n"), .dimValue(3), .dimValue(4)],
      initializers: [
        tensorProto("two", [], [c.exponent]), tensorProto("eps", c.epsilonDims, [Float](repeating: 1e-3, count: epsilonCount)),
        tensorProto("g", c.gammaDims, (0..<gammaCount).map { Self.gamma[$0 % 4] + Float($0 / 4) }),
        tensorProto("b", c.gammaDims == [3, 1] ? [3, 1] : [4], c.gammaDims == [3, 1] ? Array(Self.beta.prefix(3)) : Self.beta),
      ], opset: 14)
  }

  static let x = Tensor(shape: [2, 3, 4], scalars: (0..<24).map { Float(sin(Double($0) * 1.7)) * 2 + Float($0 % 5) * 0.1 })

  /// `γ ⊙ a·(mean(a²) + 1e-3)^(−1/2) + β` per row of 4, `a = x − mean(x)` (or `x`), in double;
  /// with `overAxis1`, per column of 3 (`γ`, `β` indexed along axis 1).
  static func expected(rms: Bool, overAxis1: Bool = false, parametersAlongLast: Bool = false) -> [Double] {
    var out = [Double](repeating: 0, count: 24)
    let groups: [[Int]] =
      overAxis1
      ? (0..<2).flatMap { n in (0..<4).map { j in (0..<3).map { n * 12 + $0 * 4 + j } } }
      : (0..<6).map { row in (0..<4).map { row * 4 + $0 } }
    for idx in groups {
      let v = idx.map { Double(x.scalars[$0]) }
      let mu = rms ? 0 : v.reduce(0, +) / Double(v.count)
      let a = v.map { $0 - mu }
      let inv = 1 / (a.map { $0 * $0 }.reduce(0, +) / Double(v.count) + 1e-3).squareRoot()
      for (k, i) in idx.enumerated() {
        let p = parametersAlongLast ? i % 4 : k
        out[i] = a[k] * inv * Double(gamma[p]) + Double(beta[p])
      }
    }
    return out
  }

  static func kinds(_ g: Graph) -> [String] { g.nodes.map(\.op.kindName) }

  @Test("exact chains become one norm", arguments: [
    (Chain(), "layer_norm"), (Chain(squareByMul: true), "layer_norm"), (Chain(rms: true), "rms_norm"),
    (Chain(rms: true, reciprocal: false), "rms_norm"), (Chain(squareByMul: true, rms: true), "rms_norm"),
  ])
  func fused(_ c: Chain, _ kind: String) throws {
    let g = try loadONNXModel(from: try Self.model(c))
    #expect(Self.kinds(g) == ["input", kind], "\(Self.kinds(g))")
    let y = try forward(g, inputs: [Self.x])[g.outputs[0].rawValue]
    for (a, b) in zip(y.scalars, Self.expected(rms: c.rms)) { #expect(abs(Double(a) - b) <= 1e-5 * max(1, abs(b))) }
  }

  /// ConvNeXt's channels-first LayerNorm: both reductions over axis 1, γ and β of shape
  /// [3, 1]; fused, with the axis moved to the end and back.
  @Test(arguments: [false, true])
  func channelsFirst(rms: Bool) throws {
    let g = try loadONNXModel(from: try Self.model(Chain(axes: [1], gammaDims: [3, 1], rms: rms)))
    #expect(Self.kinds(g).filter { $0 == (rms ? "rms_norm" : "layer_norm") }.count == 1, "\(Self.kinds(g))")
    let y = try forward(g, inputs: [Self.x])[g.outputs[0].rawValue]
    for (a, b) in zip(y.scalars, Self.expected(rms: rms, overAxis1: true)) {
      #expect(abs(Double(a) - b) <= 1e-5 * max(1, abs(b)), "\(a) vs \(b)")
    }
  }

  /// A norm over axis 1 whose chain ends in `Mul(γ)`, `Add(β)` along the last axis: γ and β
  /// are not the norm's, and follow it as affine ops.
  @Test func channelsFirstWithParametersAlongAnotherAxis() throws {
    let g = try loadONNXModel(from: try Self.model(Chain(axes: [1])))
    #expect(Self.kinds(g).filter { $0 == "layer_norm" }.count == 1, "\(Self.kinds(g))")
    #expect(Self.kinds(g).filter { $0 == "affine" }.count == 2, "\(Self.kinds(g))")
    let y = try forward(g, inputs: [Self.x])[g.outputs[0].rawValue]
    for (a, b) in zip(y.scalars, Self.expected(rms: false, overAxis1: true, parametersAlongLast: true)) {
      #expect(abs(Double(a) - b) <= 1e-5 * max(1, abs(b)), "\(a) vs \(b)")
    }
  }

  /// A γ that varies along an outer axis, or a normalised value also read elsewhere: the norm
  /// is fused without the tail, which stays as its own ops (affine).
  @Test(arguments: [Chain(gammaDims: [3, 4]), Chain(extraUse: "n")])
  func tailStaysApart(_ c: Chain) throws {
    let g = try loadONNXModel(from: try Self.model(c))
    #expect(Self.kinds(g).filter { $0 == "layer_norm" }.count == 1)
    #expect(Self.kinds(g).contains("affine"), "\(Self.kinds(g))")
    guard let norm = g.nodes.first(where: { $0.op.kindName == "layer_norm" }), case .layerNorm(let p) = norm.op else { return }
    #expect(p.scale == nil && p.bias == nil)
  }

  @Test("inexact chains are not fused", arguments: [
    Chain(exponent: 3), Chain(secondAxes: [-2]), Chain(epsilonDims: [4]),
    Chain(exponent: 3, rms: true), Chain(epsilonDims: [4], rms: true), Chain(extraUse: "s", rms: true),
    Chain(extraUse: "r", rms: true),
  ])
  // Chain(extraUse: "d") is exact as an RMSNorm of d once the broadcasting Sub converts:
  // ONNXIntegrationGapTests.layerNormChainWithCentredValueReadElsewhere.
  func notFused(_ c: Chain) throws {
    do {
      let g = try loadONNXModel(from: try Self.model(c))
      #expect(!Self.kinds(g).contains { $0 == "layer_norm" || $0 == "rms_norm" }, "\(Self.kinds(g))")
    } catch {
      // The pieces are then converted one by one, and some of them (a Sub or Add that
      // broadcasts two graph tensors, or Pow/Sqrt where no converter has them) may be refused;
      // what matters is that no norm was made of the chain.
      let message = "\(error)"
      #expect(!message.contains("Normalization"), "\(message)")
    }
  }
}
