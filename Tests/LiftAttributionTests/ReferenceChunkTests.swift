import LiftNN
import LiftTensor
import Testing

@testable import LiftAttribution

/// One example's references in chunks (`BatchPlan.referencesPerChunk`) when all M do not fit
/// the memory budget: the scores, every additional kind, the layer scores and the
/// summation check are bit-identical to one pass of all M references.
@Suite("References in chunks under a small memory budget")
struct ReferenceChunkTests {
  static let m = 5

  enum Form: String, CaseIterable { case perExample, background }

  struct Run {
    var method: AttributionMethod
    var form: Form
    var hypothetical = false
  }

  static let runs: [Run] =
    [AttributionMethod.rescale, .revealCancel, .genomicsDefault, .integratedGradients].flatMap { method in
      Form.allCases.flatMap { form in
        method.isDeepLIFT ? [Run(method: method, form: form), Run(method: method, form: form, hypothetical: true)]
          : [Run(method: method, form: form)]
      }
    }

  func options(_ run: Run, budget: Int?) -> ExplainOptions {
    var o = ExplainOptions()
    o.method = run.method
    o.tasks = [0, 2]
    o.contrast = 1
    o.maxPool = .deepshap
    o.hypothetical = run.hypothetical
    o.steps = 7
    o.memoryBudget = budget
    if run.method.isDeepLIFT {
      o.additionalScores = [.contributions, .multipliers, .hypothetical]
      o.layers = [NodeID(3), NodeID(9)]  // relu1, dense1
    }
    return o
  }

  func bits(_ t: Tensor) -> [UInt32] { t.scalars.map(\.bitPattern) }
  func bits(_ v: [Float]) -> [UInt32] { v.map(\.bitPattern) }

  @Test(arguments: runs)
  func chunksAreBitIdentical(run: Run) throws {
    var r = TestRandom(31)
    let g = ToyGraphs.genomics()
    #expect(g[NodeID(3)].name == "relu1" && g[NodeID(9)].name == "dense1")
    let n = 3
    let x = r.tensor([n, 12, 4], scale: 2)
    let refs: References =
      run.form == .perExample ? .multiple([r.tensor([n, Self.m, 12, 4])]) : .background([r.tensor([Self.m, 12, 4])])
    let sharedRows = run.form == .background ? Self.m : 0
    let whole = try Explainer(graph: g, options: options(run, budget: nil)).explain(inputs: [x], references: refs)
    let roomy = try Explainer(graph: g, options: options(run, budget: nil)).batchPlan(
      inputShapes: [x.shape], referencesPerExample: Self.m, sharedReferenceRows: sharedRows, budget: 1 << 40)
    #expect(!roomy.isChunked && roomy.examples == (run.method.isDeepLIFT ? 64 / Self.m : 64))
    for chunk in [1, 2, 3] {
      let budget = roomy.sharedBytes + chunk * roomy.bytesPerPair + roomy.bytesPerPair / 2
      let explainer = try Explainer(graph: g, options: options(run, budget: budget))
      let plan = try explainer.batchPlan(
        inputShapes: [x.shape], referencesPerExample: Self.m, sharedReferenceRows: sharedRows, budget: budget)
      #expect(plan.isChunked && plan.referencesPerChunk == chunk && plan.examples == 1)
      #expect(plan.chunksPerExample == (Self.m + chunk - 1) / chunk)
      let part = try explainer.explain(inputs: [x], references: refs)
      #expect(bits(part.scores[0]) == bits(whole.scores[0]), "chunks of \(chunk)")
      #expect(part.scores[0].shape == whole.scores[0].shape)
      #expect(bits(part.summationErrors) == bits(whole.summationErrors))
      #expect(bits(part.targetDeltas) == bits(whole.targetDeltas))
      #expect(bits(part.convergenceDelta) == bits(whole.convergenceDelta))
      #expect(part.layerScores.count == whole.layerScores.count)
      for (a, b) in zip(part.layerScores, whole.layerScores) { #expect(a.shape == b.shape && bits(a) == bits(b)) }
      #expect(part.additionalScores.keys.sorted { $0.rawValue < $1.rawValue }
        == whole.additionalScores.keys.sorted { $0.rawValue < $1.rawValue })
      for (kind, scores) in whole.additionalScores { #expect(bits(part.additionalScores[kind]![0]) == bits(scores[0])) }
    }
    if run.method.isDeepLIFT {
      // Scores that are not all zero, and a summation check that holds (DeepSHAP max-pool rule).
      #expect(whole.scores[0].scalars.contains { $0 != 0 })
      #expect(whole.summationErrors.count == n * 2 && whole.summationErrors.allSatisfy { $0 < 1e-3 })
    } else {
      #expect(whole.scores[0].scalars.contains { $0 != 0 })
    }
  }

  /// Chunks equal M separate one-reference runs averaged: the chunked path is not merely
  /// self-consistent (float64 mean of float32 runs, so to a tolerance).
  @Test func chunksAverageTheReferences() throws {
    var r = TestRandom(32)
    let g = ToyGraphs.genomics()
    let x = r.tensor([1, 12, 4]), refs = r.tensor([1, Self.m, 12, 4])
    var o = ExplainOptions()
    o.maxPool = .deepshap
    let roomy = try Explainer(graph: g, options: o).batchPlan(
      inputShapes: [x.shape], referencesPerExample: Self.m, sharedReferenceRows: 0, budget: 1 << 40)
    o.memoryBudget = 2 * roomy.bytesPerPair
    let chunked = try Explainer(graph: g, options: o).explain(inputs: [x], references: .multiple([refs]))
    o.memoryBudget = nil
    var mean = [Double](repeating: 0, count: 48)
    for j in 0..<Self.m {
      let one = try Explainer(graph: g, options: o).explain(
        inputs: [x], references: .perExample([refs.slice(batch: 0..<1).reshaped([Self.m, 12, 4]).slice(batch: j..<(j + 1))]))
      for i in 0..<48 { mean[i] += Double(one.scores[0].scalars[i]) / Double(Self.m) }
    }
    for i in 0..<48 { #expect(abs(Double(chunked.scores[0].scalars[i]) - mean[i]) < 1e-5) }
  }

  /// When one example with one reference does not fit, the error stays (naming the unit).
  @Test func onePairThatDoesNotFitIsRefused() throws {
    let g = ToyGraphs.genomics()
    let e = try Explainer(graph: g, options: ExplainOptions())
    let roomy = try e.batchPlan(
      inputShapes: [[1, 12, 4]], referencesPerExample: Self.m, sharedReferenceRows: Self.m, budget: 1 << 40)
    let budget = roomy.sharedBytes + roomy.bytesPerPair - 1
    do {
      _ = try e.batchPlan(
        inputShapes: [[1, 12, 4]], referencesPerExample: Self.m, sharedReferenceRows: 0, budget: roomy.bytesPerPair - 1)
      Issue.record("one pair over the budget was accepted")
    } catch {
      #expect("\(error)".contains("one example with one of its 5 references"), "\(error)")
    }
    do {
      _ = try e.batchPlan(
        inputShapes: [[1, 12, 4]], referencesPerExample: Self.m, sharedReferenceRows: Self.m, budget: budget)
      Issue.record("one pair and the background over the budget was accepted")
    } catch {
      #expect("\(error)".contains("one example with a background of 5 rows"), "\(error)")
    }
    // Exactly one pair (and the background) fits: chunks of one.
    let plan = try e.batchPlan(
      inputShapes: [[1, 12, 4]], referencesPerExample: Self.m, sharedReferenceRows: Self.m, budget: budget + 1)
    #expect(plan.referencesPerChunk == 1 && plan.chunksPerExample == Self.m)
  }
}
