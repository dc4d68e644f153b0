import Foundation
import LiftIO
import LiftKeras
import LiftNN
import LiftTensor
import LiftTestSupport
import Testing

@testable import LiftAttribution

/// One golden of Fixtures/layer/manifest.json (Scripts/fixtures/make_layer_goldens.py).
struct LayerGolden: Decodable, Sendable, CustomTestStringConvertible {
  var oracle: String
  var model: String
  var method: String
  var task: Int
  var layer: String
  var file: String
  /// `contributions` or `multipliers` (½(m⁺ + m⁻), the maintainer's recipe for inner layers).
  var kind: String?
  /// Examples whose original multipliers are float32 rounding noise (RevealCancel with a
  /// near-zero part; we compute those in double precision by design): not compared.
  var unstableRows: [Int]?
  /// Our max-pool rule to compare with (`deepshap` for Captum); default `gradient`.
  var maxpool: String?

  enum CodingKeys: String, CodingKey {
    case oracle, model, method, task, layer, file, kind, maxpool
    case unstableRows = "unstable_rows"
  }
  var testDescription: String { "\(oracle) \(model) \(method) task \(task) \(layer) \(kind ?? "")" }

  static let all: [LayerGolden] = {
    guard let url = fixtureURL("manifest.json"), let data = try? Data(contentsOf: url),
      let entries = try? JSONDecoder().decode([LayerGolden].self, from: data)
    else { return [] }
    return entries
  }()
}

func fixtureURL(_ name: String) -> URL? {
  Bundle.module.url(forResource: "Fixtures/layer/" + name, withExtension: nil)
}

func layerFixture(_ name: String) throws -> URL {
  try #require(fixtureURL(name), "missing fixture \(name)")
}

/// The tolerance of the golden tests of issue 4: |ours − theirs| ≤ 5e-4·max|theirs| + 1e-3·|theirs|.
func expectGolden(
  _ ours: Tensor, _ theirs: Tensor, _ comment: String, sourceLocation: SourceLocation = #_sourceLocation
) {
  let scale = theirs.scalars.map(abs).max() ?? 0
  expectClose(ours, theirs, rtol: 1e-3, atol: 5e-4 * scale + 1e-7, comment, sourceLocation: sourceLocation)
}

@Suite("Scores of inner layers (--layer)")
struct LayerScoreTests {
  @Test func manifestIsPresent() {
    #expect(LayerGolden.all.count >= 50)
    #expect(LayerGolden.all.contains { $0.kind == "multipliers" })
    #expect(LayerGolden.all.contains { $0.oracle.hasPrefix("captum") && $0.model == "cnn.h5" })
  }

  /// The original's `get_target_contribs_func(find_scores_layer_name=…)` and Captum's
  /// `LayerDeepLift` on inner conv, dense and activation layers.
  @Test(arguments: LayerGolden.all.filter { $0.layer != "x" })
  func matchesOracle(golden: LayerGolden) throws {
    let graph = try loadKerasModel(at: try layerFixture(golden.model))
    let stem = String(golden.model.dropLast(3))
    let x = try NumPy.read(try layerFixture("\(stem).x.npy"))
    let ref = try NumPy.read(try layerFixture("\(stem).ref.npy"))
    var o = ExplainOptions()
    o.method = try #require(AttributionMethod(rawValue: golden.method))
    o.tasks = [golden.task]
    let target: NodeID = try #require(graph.node(named: "out/preact"))
    o.target = target
    o.layers = [try #require(graph.node(named: golden.layer))]
    o.multipliers = golden.kind == "multipliers"
    o.maxPool = try #require(MaxPoolRule(rawValue: golden.maxpool ?? "gradient"))
    o.batchSize = 3
    let e = try Explainer(graph: graph, options: o).explain(inputs: [x], references: .perExample([ref]))
    var ours = e.layerScores[0], theirs = try NumPy.read(try layerFixture(golden.file))
    if let skip = golden.unstableRows, !skip.isEmpty {
      let keep = (0..<x.shape[0]).filter { !skip.contains($0) }
      ours = ours.gatherRows(keep)
      theirs = theirs.gatherRows(keep)
    }
    expectGolden(ours, theirs, golden.testDescription)
    #expect(e.layers == o.layers)
  }

  /// Summation-to-delta at every layer that cuts the graph, for both DeepLIFT rules and both
  /// max-pool rules (pooling layers use the sign split of their Δ).
  @Test(arguments: [AttributionMethod.rescale, .revealCancel], [MaxPoolRule.gradient, .deepshap])
  func summationToDeltaAtCuts(method: AttributionMethod, maxPool: MaxPoolRule) throws {
    var r = TestRandom(31)
    let g = ToyGraphs.genomics()
    let x = r.tensor([3, 12, 4])
    let ref = r.tensor([3, 12, 4])
    let names = ["conv1", "bn", "relu1", "pool1", "conv2", "elu", "flatten", "dense1", "prelu", "logits"]
    var o = ExplainOptions()
    o.method = method
    o.maxPool = maxPool
    o.tasks = [2, 0]
    o.layers = names.map { g.node(named: $0)! }
    let e = try Explainer(graph: g, options: o).explain(inputs: [x], references: .perExample([ref]))
    let fx = try LiftNN.forward(g, inputs: [x]).last!
    let fr = try LiftNN.forward(g, inputs: [ref]).last!
    for (k, name) in names.enumerated() {
      let s = e.layerScores[k]
      #expect(s.shape[0] == 3 && s.shape[1] == 2, "\(name) \(s.shape)")
      let per = s.scalarCount / 6
      // Downstream of the pool every rule keeps summation-to-delta; upstream only the
      // deepshap rule does (the gradient rule is the original's, which does not).
      let upstream = ["conv1", "bn", "relu1"].contains(name)
      guard !upstream || maxPool == .deepshap else { continue }
      for ex in 0..<3 {
        for (t, task) in [2, 0].enumerated() {
          let sum = s.scalars[((ex * 2 + t) * per)..<((ex * 2 + t + 1) * per)].reduce(0.0) { $0 + Double($1) }
          let delta = Double(fx[ex, task]) - Double(fr[ex, task])
          #expect(
            abs(sum - delta) < 1e-4 + 1e-3 * abs(delta),
            "\(name) example \(ex) task \(task): \(sum) vs \(delta)")
        }
      }
    }
  }

  /// With the Rescale rule `m⁺ = m⁻`, so a layer's contributions are its multipliers × Δ.
  @Test func multipliersTimesDeltaAreContributions() throws {
    var r = TestRandom(32)
    let g = ToyGraphs.residual()
    let x = r.tensor([4, 6])
    let ref = r.tensor([4, 6])
    var o = ExplainOptions()
    o.layers = ["h", "a", "res", "c"].map { g.node(named: $0)! }
    let c = try Explainer(graph: g, options: o).explain(inputs: [x], references: .perExample([ref]))
    o.multipliers = true
    let m = try Explainer(graph: g, options: o).explain(inputs: [x], references: .perExample([ref]))
    let ax = try LiftNN.forward(g, inputs: [x])
    let ar = try LiftNN.forward(g, inputs: [ref])
    for (k, id) in o.layers.enumerated() {
      let delta = Tensor.zip2(ax[id.rawValue], ar[id.rawValue]) { $0 - $1 }
      expectClose(Tensor.zip2(m.layerScores[k], delta) { $0 * $1 }, c.layerScores[k], rtol: 1e-5, atol: 1e-6)
    }
  }

  /// The input named as a layer gives the input scores; layer scores average over references
  /// like input scores do.
  @Test func inputAsLayerAndAveraging() throws {
    var r = TestRandom(33)
    let g = ToyGraphs.residual()
    let x = r.tensor([2, 6])
    let refs = r.tensor([2, 3, 6])
    var o = ExplainOptions()
    o.method = .revealCancel
    o.layers = [g.node(named: "x")!, g.node(named: "a")!]
    let e = try Explainer(graph: g, options: o).explain(inputs: [x], references: .multiple([refs]))
    #expect(e.layerScores[0] == e.scores[0])
    // The mean over references of the single-reference layer scores.
    var mean = [Float](repeating: 0, count: 12)
    for j in 0..<3 {
      var rows = [Float]()
      for ex in 0..<2 { rows += refs.scalars[((ex * 3 + j) * 6)..<((ex * 3 + j + 1) * 6)] }
      let one = try Explainer(graph: g, options: o).explain(
        inputs: [x], references: .perExample([Tensor(shape: [2, 6], scalars: rows)]))
      for i in 0..<12 { mean[i] += one.layerScores[1].scalars[i] / 3 }
    }
    expectClose(e.layerScores[1].scalars, mean, rtol: 1e-5, atol: 1e-6)
  }

  @Test func gradientMethodsAtLayers() throws {
    var r = TestRandom(34)
    let g = ToyGraphs.residual()
    let x = r.tensor([3, 6])
    var o = ExplainOptions()
    o.method = .gradient
    let a = g.node(named: "a")!
    o.layers = [a]
    let grad = try Explainer(graph: g, options: o).explain(inputs: [x]).layerScores[0]
    o.method = .inputXGradient
    let ixg = try Explainer(graph: g, options: o).explain(inputs: [x]).layerScores[0]
    let act = try LiftNN.forward(g, inputs: [x])[a.rawValue]
    expectClose(ixg, Tensor.zip2(grad, act) { $0 * $1 }, rtol: 1e-6, atol: 1e-7)
    // The gradient at `a` by central differences of the downstream sub-network is checked
    // through the chain rule: gradient at the input = gradient at `a` · ∂a/∂x.
    o.method = .gradient
    o.layers = []
    #expect(try Explainer(graph: g, options: o).explain(inputs: [x]).layerScores.isEmpty)
  }

  @Test func unusableLayersThrow() throws {
    let g = ToyGraphs.residual()
    var o = ExplainOptions()
    o.target = g.node(named: "c")
    o.layers = [g.node(named: "out")!]  // after the target
    #expect(throws: ExplainError.self) { _ = try Explainer(graph: g, options: o) }
    o.layers = [g.node(named: "a")!]
    o.method = .integratedGradients
    #expect(throws: ExplainError.self) { _ = try Explainer(graph: g, options: o) }
  }

  @Test func emptyBatchGivesEmptyLayerScores() throws {
    let g = ToyGraphs.residual()
    var o = ExplainOptions()
    o.tasks = [0, 1]
    o.layers = [g.node(named: "cat")!]
    let e = try Explainer(graph: g, options: o).explain(inputs: [Tensor.zeros([0, 6])])
    #expect(e.layerScores[0].shape == [0, 2, 12])
  }
}

@Suite("Contrast between two target neurons (--contrast)")
struct ContrastTests {
  @Test(arguments: [AttributionMethod.rescale, .revealCancel, .gradient, .integratedGradients])
  func equalsDifferenceOfTasks(method: AttributionMethod) throws {
    var r = TestRandom(41)
    let g = ToyGraphs.genomics()
    let x = r.tensor([3, 12, 4])
    let ref = r.tensor([3, 12, 4])
    var o = ExplainOptions()
    o.method = method
    o.maxPool = .deepshap
    o.steps = 8
    o.layers = method == .integratedGradients ? [] : [g.node(named: "dense1")!]
    func run(_ tasks: [Int], _ contrast: Int?) throws -> Explanation {
      o.tasks = tasks
      o.contrast = contrast
      return try Explainer(graph: g, options: o).explain(inputs: [x], references: .perExample([ref]))
    }
    let k = try run([2], nil)
    let j = try run([0], nil)
    let kj = try run([2], 0)
    expectClose(kj.scores[0], Tensor.zip2(k.scores[0], j.scores[0]) { $0 - $1 }, rtol: 1e-4, atol: 1e-5)
    if !o.layers.isEmpty {
      expectClose(
        kj.layerScores[0], Tensor.zip2(k.layerScores[0], j.layerScores[0]) { $0 - $1 }, rtol: 1e-4, atol: 1e-5
      )
    }
    if method.isDeepLIFT {
      // Summation-to-delta of f_2 − f_0, as the convergence delta reports it.
      for d in kj.convergenceDelta { #expect(d < 1e-4) }
      let fx = try LiftNN.forward(g, inputs: [x]).last!
      let fr = try LiftNN.forward(g, inputs: [ref]).last!
      for ex in 0..<3 {
        let sum = kj.scores[0].scalars[(ex * 48)..<((ex + 1) * 48)].reduce(0.0) { $0 + Double($1) }
        let delta = Double(fx[ex, 2] - fx[ex, 0]) - Double(fr[ex, 2] - fr[ex, 0])
        #expect(abs(sum - delta) < 1e-4 + 1e-3 * abs(delta))
      }
    }
    // Several tasks against one contrast; a task equal to the contrast gives zeros.
    let multi = try run([2, 0], 0)
    #expect(multi.scores[0].scalars[48..<96].allSatisfy { $0 == 0 })
  }

  @Test func contrastOutOfRangeThrows() throws {
    let g = ToyGraphs.residual()
    var o = ExplainOptions()
    o.contrast = 2
    #expect(throws: ExplainError.contrastOutOfRange(contrast: 2, size: 2, target: "out")) {
      _ = try Explainer(graph: g, options: o).explain(inputs: [Tensor.zeros([1, 6])])
    }
  }
}

@Suite("Softmax normalisation and first-conv normalisation")
struct NormalisationTests {
  /// The original's recipe (issue #116): mean-normalised final weights in tf-keras, explained
  /// by the original deeplift, equal our transform of the unnormalised model.
  @Test(arguments: LayerGolden.all.filter { $0.layer == "x" })
  func softmaxMatchesOriginalRecipe(golden: LayerGolden) throws {
    let graph = try loadKerasModel(at: try layerFixture("softmax.h5"))
    let target = Explainer.defaultTarget(graph)
    #expect(graph[target].name == "out/preact")
    let normalised = try graph.softmaxNormalised(target: target)
    let x = try NumPy.read(try layerFixture("softmax.x.npy"))
    let ref = try NumPy.read(try layerFixture("softmax.ref.npy"))
    var o = ExplainOptions()
    o.method = try #require(AttributionMethod(rawValue: golden.method))
    o.tasks = [golden.task]
    let e = try Explainer(graph: normalised, options: o).explain(inputs: [x], references: .perExample([ref]))
    expectGolden(e.scores[0], try NumPy.read(try layerFixture(golden.file)), golden.testDescription)
  }

  /// Our transform equals running on the model saved with mean-normalised final weights, and
  /// gives the contributions minus their mean over the classes.
  @Test(arguments: [AttributionMethod.rescale, .revealCancel])
  func softmaxEqualsNormalisedWeightsAndMeanSubtraction(method: AttributionMethod) throws {
    let plain = try loadKerasModel(at: try layerFixture("softmax.h5"))
    let saved = try loadKerasModel(at: try layerFixture("softmax_norm.h5"))
    let x = try NumPy.read(try layerFixture("softmax.x.npy"))
    let ref = try NumPy.read(try layerFixture("softmax.ref.npy"))
    var o = ExplainOptions()
    o.method = method
    o.tasks = [0, 1, 2, 3]
    let ours = try Explainer(
      graph: try plain.softmaxNormalised(target: Explainer.defaultTarget(plain)), options: o
    )
    .explain(inputs: [x], references: .perExample([ref]))
    let theirs = try Explainer(graph: saved, options: o).explain(inputs: [x], references: .perExample([ref]))
    expectClose(ours.scores[0], theirs.scores[0], rtol: 1e-4, atol: 1e-5)
    // C'_j = C_j − mean_j' C_j' (the paper's §3.6 formula).
    let raw = try Explainer(graph: plain, options: o).explain(inputs: [x], references: .perExample([ref]))
      .scores[0]
    var expected = raw.scalars
    for ex in 0..<5 {
      for i in 0..<6 {
        let mean = (0..<4).reduce(Float(0)) { $0 + raw.scalars[(ex * 4 + $1) * 6 + i] } / 4
        for t in 0..<4 { expected[(ex * 4 + t) * 6 + i] -= mean }
      }
    }
    expectClose(ours.scores[0].scalars, expected, rtol: 1e-4, atol: 1e-5)
    // The probabilities are unchanged.
    let p0 = try LiftNN.forward(plain, inputs: [x]).last!
    let p1 = try LiftNN.forward(
      try plain.softmaxNormalised(target: Explainer.defaultTarget(plain)), inputs: [x]
    ).last!
    expectClose(p1, p0, rtol: 1e-5, atol: 1e-6)
  }

  @Test func softmaxNormalisationNeedsDenseOrConv() throws {
    let g = ToyGraphs.residual()
    #expect(throws: ExplainError.self) { _ = try g.softmaxNormalised(target: g.node(named: "a")!) }
    var single = Graph()
    let x = single.add(.input(shape: [3]), name: "x")
    let d = single.add(.dense(weight: Tensor(shape: [3, 1], scalars: [1, 2, 3]), bias: nil), inputs: [x], name: "d")
    single.outputs = [d]
    #expect(throws: ExplainError.self) { _ = try single.softmaxNormalised(target: d) }
    let conv = try ToyGraphs.genomics().softmaxNormalised(target: ToyGraphs.genomics().node(named: "conv2")!)
    guard case .conv(let w, let b, _) = conv[conv.node(named: "conv2")!].op else {
      Issue.record("not a conv")
      return
    }
    for row in 0..<(w.scalarCount / 4) {
      #expect(abs(w.scalars[(row * 4)..<(row * 4 + 4)].reduce(0, +)) < 1e-5)
    }
    #expect(abs(b!.scalars.reduce(0, +)) < 1e-5)
    #expect(!g.feedsSoftmax(g.node(named: "out")!))
    let sm = try loadKerasModel(at: try layerFixture("softmax.h5"))
    #expect(sm.feedsSoftmax(sm.node(named: "out/preact")!))
  }

  /// Normalising the first conv leaves the outputs on one-hot input unchanged (and the
  /// kernel centred over the channels); a model without a conv after its input throws.
  @Test func firstConvNormalisation() throws {
    let g = ToyGraphs.genomics()
    let (n, layers) = try g.normalisingFirstConvolutions()
    #expect(layers == [g.node(named: "conv1")!])
    var r = TestRandom(51)
    var xs = [Float](repeating: 0, count: 3 * 12 * 4)
    for p in 0..<36 { xs[p * 4 + Int((r.next() + 1) * 1.999)] = 1 }
    let x = Tensor(shape: [3, 12, 4], scalars: xs)
    // `same` padding adds zero rows at the edges, which are not one-hot: compare the
    // convolution's output away from them and the whole model through a valid-padded twin.
    let c = g.node(named: "conv1")!
    let before = try LiftNN.forward(g, inputs: [x])[c.rawValue]
    let after = try LiftNN.forward(n, inputs: [x])[c.rawValue]
    for ex in 0..<3 {
      for p in 1..<11 {
        for f in 0..<5 {
          #expect(abs(before[ex, p, f] - after[ex, p, f]) < 1e-5)
        }
      }
    }
    guard case .conv(let w, _, _) = n[c].op else {
      Issue.record("not a conv")
      return
    }
    for row in 0..<3 {
      for f in 0..<5 {
        let s = (0..<4).reduce(Float(0)) { $0 + w.scalars[(row * 4 + $1) * 5 + f] }
        #expect(abs(s) < 1e-5)
      }
    }
    #expect(throws: ExplainError.self) { _ = try ToyGraphs.residual().normalisingFirstConvolutions() }
  }

  /// The tf-keras genomics CNN: valid padding, so the whole model is unchanged on one-hot input.
  @Test func firstConvNormalisationKeepsKerasModelOutputs() throws {
    let g = try loadKerasModel(at: try layerFixture("cnn.h5"))
    let x = try NumPy.read(try layerFixture("cnn.x.npy"))
    let (n, layers) = try g.normalisingFirstConvolutions()
    #expect(layers.map { g[$0].name } == ["conv1/preact"])
    expectClose(
      try LiftNN.forward(n, inputs: [x]).last!, try LiftNN.forward(g, inputs: [x]).last!, rtol: 1e-5,
      atol: 1e-6)
  }
}
