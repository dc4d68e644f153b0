import Foundation
import LiftIO
import LiftKit
import LiftTestSupport
import Testing

/// The bundled genomics example (Examples/genomics): a conv → max pool → dense model on
/// one-hot DNA `[20, 200, 4]`, two tasks.
let genomicsExample = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
  .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Examples/genomics")

/// Bit-for-bit equality of two tensors (shape and every float's bit pattern).
func identical(_ a: Tensor, _ b: Tensor) -> Bool {
  a.shape == b.shape && zip(a.scalars, b.scalars).allSatisfy { $0.bitPattern == $1.bitPattern }
}

/// A scratch directory removed at the end of the test.
func withScratch(_ body: (URL) throws -> Void) throws {
  let dir = FileManager.default.temporaryDirectory.appendingPathComponent("liftkit-workflow-\(UUID().uuidString)")
  try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
  defer { try? FileManager.default.removeItem(at: dir) }
  try body(dir)
}

/// Issue 18, part 1: contributions and hypothetical contributions from one backward pass,
/// the same bits as two separate explanations.
@Suite("One pass, several score kinds")
struct SeveralKindsTests {
  let model: Model
  let x: Tensor

  init() throws {
    model = try Model(contentsOf: genomicsExample.appendingPathComponent("model.h5"))
    x = try readArray(at: genomicsExample.appendingPathComponent("sequences.npy"))
  }

  /// What the command line's `--modisco` computed before: a contributions run, then a second
  /// full run for the hypothetical scores.
  func twoPasses(_ method: AttributionMethod, _ tasks: TaskSelection, _ references: ReferenceSet) throws
    -> (contributions: Tensor, hypothetical: Tensor)
  {
    var o = AttributionOptions(tasks: tasks)
    o.maxPool = .deepshap
    let c = try model.explainer(method: method, options: o).explain(inputs: [x], references: references)
    o.output = .hypothetical
    let h = try model.explainer(method: method, options: o).explain(inputs: [x], references: references)
    return (c.scores[0], h.scores[0])
  }

  static let cases: [(AttributionMethod, TaskSelection, String)] = [
    (.rescale, .task(0), "shuffles"), (.genomicsDefault, .all, "shuffles"), (.revealCancel, .task(1), "shared"),
    (.rescale, .all, "zeros"),
  ]

  func references(_ name: String) throws -> ReferenceSet {
    switch name {
    case "shuffles": return .shuffles(count: 5, seed: 3)
    case "shared": return .arrays([try readArray(at: genomicsExample.appendingPathComponent("reference.npy"))])
    default: return .zeros
    }
  }

  @Test(arguments: 0..<cases.count)
  func onePassEqualsTwoPasses(_ k: Int) throws {
    let (method, tasks, refs) = Self.cases[k]
    let old = try twoPasses(method, tasks, try references(refs))
    var o = AttributionOptions(tasks: tasks)
    o.maxPool = .deepshap
    o.additionalOutputs = [.hypothetical]
    let one = try model.explainer(method: method, options: o).explain(inputs: [x], references: try references(refs))
    #expect(one.kind == .contributions)
    #expect(identical(one.scores[0], old.contributions))
    let hyp = try #require(one.scores(.hypothetical))
    #expect(identical(hyp[0], old.hypothetical))
    #expect(one.scores(.multipliers) == nil)
  }

  /// Independent of our earlier runs: on one-hot input, the observed base's hypothetical
  /// score is the position's contribution summed over the bases (`H_k = Σ_c (x − r)_c·m_c`
  /// for `x = e_k`, the original's `get_hypothetical_contribs_func_onehot`).
  @Test func observedHypotheticalIsTheContribution() throws {
    var o = AttributionOptions(tasks: .task(0))
    o.maxPool = .deepshap
    o.additionalOutputs = [.hypothetical, .multipliers]
    let r = try model.explainer(options: o).explain(inputs: [x], references: .shuffles(count: 4, seed: 1))
    let c = r.scores[0], h = try #require(r.scores(.hypothetical))[0]
    #expect(try #require(r.scores(.multipliers))[0].shape == x.shape)
    var worst: Float = 0
    for e in 0..<20 {
      for p in 0..<200 {
        var observed: Float = 0, sum: Float = 0
        for b in 0..<4 {
          observed += x[e, p, b] * h[e, p, b]
          sum += c[e, p, b]
        }
        worst = max(worst, abs(observed - sum))
      }
    }
    #expect(worst < 1e-5)
  }

  @Test func extraKindsNeedDeepLIFT() {
    var o = AttributionOptions()
    o.additionalOutputs = [.hypothetical]
    #expect(throws: LiftKitError.self) { _ = try model.explainer(method: .gradient, options: o) }
  }
}

/// Streaming: rows read batch by batch (from memory or from `.npy` files) give the whole-array
/// explanation bit for bit, for several batch sizes and every reference form.
@Suite("Streamed explanation")
struct StreamTests {
  let model: Model
  let x: Tensor
  let shared: Tensor

  init() throws {
    model = try Model(contentsOf: genomicsExample.appendingPathComponent("model.h5"))
    x = try readArray(at: genomicsExample.appendingPathComponent("sequences.npy"))
    shared = try readArray(at: genomicsExample.appendingPathComponent("reference.npy"))
  }

  /// Reference forms: name, the whole-array set, and the streamed one given a scratch
  /// directory (per-example references from an `.npy` file).
  func forms(_ dir: URL) throws -> [(String, ReferenceSet, ReferenceSet)] {
    // Per-example references: the shared one shifted by the example index, and [N, 3, …].
    let perExample = Tensor(shape: x.shape, scalars: (0..<x.scalarCount).map { Float($0 % 7) / 7 })
    let multiple = Tensor(shape: Shape([20, 3, 200, 4]), scalars: (0..<(20 * 3 * 800)).map { Float($0 % 5) / 5 })
    let perExampleURL = dir.appendingPathComponent("per-example.npy")
    let multipleURL = dir.appendingPathComponent("multiple.npy")
    try NumPy.write(perExample, to: perExampleURL)
    try NumPy.write(multiple, to: multipleURL)
    let background = multiple.slice(batch: 0..<1).reshaped([3, 200, 4])
    return [
      ("zeros", .zeros, .zeros),
      ("shared", .arrays([shared]), .arrays([shared])),
      ("per-example", .arrays([perExample]), .rows(try NpyRows(urls: [perExampleURL]))),
      ("[N, M, …]", .arrays([multiple]), .rows(try NpyRows(urls: [multipleURL]))),
      ("[N, M, …] in memory", .arrays([multiple]), .arrays([multiple])),
      ("background", .background([background]), .background([background])),
      ("shuffles", .shuffles(count: 7, seed: 5), .shuffles(count: 7, seed: 5)),
    ]
  }

  @Test(arguments: [1, 3, 7, 64])
  func streamedEqualsWholeArrays(batchSize: Int) throws {
    try withScratch { dir in
      let input = dir.appendingPathComponent("x.npy")
      try NumPy.write(x, to: input)
      for (k, (name, whole, streamed)) in try forms(dir).enumerated() {
        var o = AttributionOptions(tasks: .all)
        o.batchSize = batchSize
        o.maxPool = .deepshap
        let explainer = try model.explainer(options: o)
        let expected = try explainer.explain(inputs: [x], references: whole)
        let out = dir.appendingPathComponent("scores-\(k).npy")
        let transaction = try OutputTransaction(outputs: [FileRole("--output", out.path)])
        let kept = ArraySink()
        var calls: [Int] = []
        let run = try explainer.explain(
          rows: try NpyRows(urls: [input]), references: streamed,
          into: [NpyScoreSink(url: out, transaction: transaction), kept]
        ) { calls.append($0) }
        #expect(!FileManager.default.fileExists(atPath: out.path), "nothing in place before the commit")
        try transaction.commit()
        #expect(identical(kept.scores()[0], expected.scores[0]), "\(name), batch size \(batchSize)")
        #expect(identical(kept.inputs[0], x))
        #expect(try Data(contentsOf: out) == NumPy.encode(expected.scores[0]), "\(name): the .npy bytes")
        #expect(run.summation == expected.summation, "\(name)")
        #expect(run.examples == 20 && run.tasks == [0, 1])
        #expect(calls.last == 20)
        // Batches of the plan's size from row 0 (M pairs per example: batchSize / M examples).
        #expect(calls.count == (20 + run.plan.examples - 1) / run.plan.examples)
      }
    }
  }

  /// In-memory rows stream the same way; a sink that needs hypothetical scores gets them from
  /// the same pass (the TF-MoDISco files equal those written from two whole-array runs).
  @Test func modiscoSinkFromOnePass() throws {
    try withScratch { dir in
      var o = AttributionOptions(tasks: .task(1))
      o.batchSize = 16
      let explainer = try model.explainer(method: .genomicsDefault, options: o)
      let modiscoDir = dir.appendingPathComponent("modisco")
      let transaction = try OutputTransaction(outputs: [FileRole("--modisco", modiscoDir.path, isDirectory: true)])
      let sink = try ModiscoSink(directory: modiscoDir, inputShape: x.shape, channelAxis: -1, transaction: transaction)
      let kept = ArraySink()
      _ = try explainer.explain(rows: ArrayRows([x]), references: .shuffles(count: 4, seed: 2), into: [sink, kept])
      try transaction.commit()
      #expect(sink.files.map(\.lastPathComponent) == ["ohe.npz", "hyp.npz"])
      o.output = .hypothetical
      let hyp = try model.explainer(method: .genomicsDefault, options: o).explain(
        inputs: [x], references: .shuffles(count: 4, seed: 2))
      let written = try readArrays(at: modiscoDir.appendingPathComponent("hyp.npz"))
      #expect(written.map(\.name) == ["arr_0"])
      #expect(identical(written[0].tensor, transposed(hyp.scores[0], permutation: [0, 2, 1])))
      let ohe = try readArrays(at: modiscoDir.appendingPathComponent("ohe.npz"))[0].tensor
      #expect(identical(ohe, transposed(x, permutation: [0, 2, 1])))
      // The sink's kind was added to the pass: the output stays the contributions.
      o.output = .contributions
      let contributions = try model.explainer(method: .genomicsDefault, options: o).explain(
        inputs: [x], references: .shuffles(count: 4, seed: 2))
      #expect(identical(kept.scores()[0], contributions.scores[0]))
    }
  }

  @Test func badSourcesAndReferences() throws {
    let explainer = try model.explainer()
    #expect(throws: LiftKitError.self) {
      _ = try explainer.explain(rows: ArrayRows([x.slice(batch: 0..<0)]), into: [ArraySink()])
    }
    // Per-example references with too few rows are refused before anything is read.
    #expect(throws: LiftKitError.self) {
      _ = try explainer.explain(rows: ArrayRows([x]), references: .arrays([x.slice(batch: 0..<3)]), into: [ArraySink()])
    }
    #expect(throws: LiftKitError.self) {
      _ = try explainer.explain(rows: ArrayRows([x]), references: .rows(ArrayRows([shared])), into: [ArraySink()])
    }
    // A NaN in a file's rows names the file and the row.
    try withScratch { dir in
      var bad = x
      bad[13, 2, 1] = .nan
      let url = dir.appendingPathComponent("bad.npy")
      try NumPy.write(bad, to: url)
      do {
        _ = try explainer.explain(rows: try NpyRows(urls: [url]), into: [ArraySink()])
        Issue.record("no error")
      } catch {
        #expect("\(error)".hasSuffix("bad.npy: NaN at index [13, 2, 1]; inputs, references and backgrounds must be finite"))
      }
    }
  }
}

@Suite("Reference forms and the default batch size")
struct ReferenceFormTests {
  @Test func rankRules() {
    let x: Shape = [5, 200, 4]
    #expect(ReferenceSet.form(reference: [200, 4], input: x) == .shared)
    #expect(ReferenceSet.form(reference: [5, 200, 4], input: x) == .perExample)
    #expect(ReferenceSet.form(reference: [5, 3, 200, 4], input: x) == .multiple(3))
    #expect(ReferenceSet.form(reference: [4], input: x) == nil)
    #expect(ReferenceSet.checkedForm(reference: [200, 4], input: x) == .shared)
    #expect(ReferenceSet.checkedForm(reference: [200, 3], input: x) == nil)
    #expect(ReferenceSet.checkedForm(reference: [4, 200, 4], input: x) == nil)
    #expect(ReferenceSet.checkedForm(reference: [5, 0, 200, 4], input: x) == nil)
    #expect(ReferenceSet.checkedForm(reference: [5, 2, 200, 4], input: x) == .multiple(2))
    #expect(!ReferenceForm.shared.isPerExample && ReferenceForm.multiple(2).isPerExample)
  }

  /// Without a batch size the explainer takes the model's suggestion (16 for a model with
  /// 256,000-byte activations per example, not the old fixed 64).
  @Test func defaultBatchSizeIsTheModels() throws {
    let model = SuggestedBatchSizeTests().model(length: 1000, filters: 64)
    #expect(model.suggestedBatchSize == 16)
    #expect(AttributionOptions().batchSize == nil)
    let plan = try model.explainer().batchPlan(inputShapes: [[2, 1000, 4]])
    #expect(plan.requested == 16)
    var o = AttributionOptions()
    o.batchSize = 40
    #expect(try model.explainer(options: o).batchPlan(inputShapes: [[2, 1000, 4]]).requested == 40)
  }
}

