import Foundation
import LiftGenomics
import LiftIO
import LiftKit
import LiftNN
import LiftTestSupport
import Testing

func load(_ name: String, in dir: URL = layerFixtures) throws -> Model {
  try Model(contentsOf: dir.appendingPathComponent(name))
}

func array(_ name: String, in dir: URL = layerFixtures) throws -> Tensor {
  try readArray(at: dir.appendingPathComponent(name))
}

@Suite("TaskSelection")
struct TaskSelectionTests {
  @Test func parsing() {
    #expect(TaskSelection(parsing: "3") == .indices([3]))
    #expect(TaskSelection(parsing: "0,3,7") == .indices([0, 3, 7]))
    #expect(TaskSelection(parsing: " 2 , 1") == .indices([2, 1]))
    #expect(TaskSelection(parsing: "all") == .all)
    for bad in ["", "1,1", "-1", "a", "1,", "٣"] { #expect(TaskSelection(parsing: bad) == nil, "\(bad)") }
  }

  @Test func resolution() throws {
    #expect(try TaskSelection.all.resolve(count: 3, target: "t") == [0, 1, 2])
    #expect(try TaskSelection.indices([5]).resolve(count: 3, target: "t") == [5])
    #expect(throws: LiftKitError.self) { _ = try TaskSelection.all.resolve(count: 0, target: "t") }
  }
}

@Suite("ReferenceSet")
struct ReferenceSetTests {
  let x = Tensor.zeros([2, 5, 4])

  @Test func arraysByRank() throws {
    let names = ["seq"]
    guard case .shared = try ReferenceSet.arrays([.zeros([5, 4])]).resolve(inputs: [x], inputNames: names)
    else {
      Issue.record("rank − 1 is shared")
      return
    }
    guard
      case .perExample = try ReferenceSet.arrays([.zeros([2, 5, 4])]).resolve(inputs: [x], inputNames: names)
    else {
      Issue.record("same rank is per example")
      return
    }
    guard
      case .multiple = try ReferenceSet.arrays([.zeros([2, 3, 5, 4])]).resolve(inputs: [x], inputNames: names)
    else {
      Issue.record("rank + 1 is multiple")
      return
    }
    #expect(throws: LiftKitError.self) {
      _ = try ReferenceSet.arrays([.zeros([4])]).resolve(inputs: [x], inputNames: names)
    }
    do {
      _ = try ReferenceSet.arrays([.zeros([4])]).resolve(inputs: [x], inputNames: names)
    } catch {
      #expect(
        error.description
          == "reference for input 'seq' has shape (4) but the input has shape (2, 5, 4): give one example's shape, the input's shape, or [N, M, …]"
      )
    }
    // Each input takes its own form (MixedReferenceTests checks the scores).
    guard
      case .perInput(let forms) = try ReferenceSet.arrays([.zeros([4]), .zeros([1, 4])]).resolve(
        inputs: [.zeros([1, 4]), .zeros([1, 4])], inputNames: ["a", "b"]),
      forms.count == 2, case .shared = forms[0], case .perExample = forms[1]
    else {
      Issue.record("a shared reference for one input and a per-example one for the other")
      return
    }
  }

  /// `.shuffles` is LiftGenomics' dinucleotide shuffle with the model's layout.
  @Test func shuffles() throws {
    let x = try array("cnn.x.npy")
    guard
      case .multiple(let refs) = try ReferenceSet.shuffles(count: 3, seed: 7).resolve(
        inputs: [x], inputNames: ["seq"])
    else {
      Issue.record("shuffles are M references per example")
      return
    }
    #expect(refs[0] == (try shuffledReferences(x, shuffles: 3, seed: 7)))
    #expect(throws: LiftKitError.self) {
      _ = try ReferenceSet.shuffles(count: 3).resolve(inputs: [x, x], inputNames: ["a", "b"])
    }
    #expect(throws: LiftKitError.self) {
      _ = try ReferenceSet.shuffles(count: 3).resolve(inputs: [Tensor.zeros([2, 4])], inputNames: ["a"])
    }
  }
}

@Suite("Model and ModelExplainer")
struct ModelExplainerTests {
  @Test func namesAndDefaults() throws {
    let model = try load("cnn.h5")
    #expect(model.inputNames == ["seq"])
    #expect(model.defaultTarget == "out/preact")
    #expect(model.layerNames.contains("conv1/preact"))
    #expect(throws: LiftKitError.self) { _ = try model.node(named: "nope", role: "target") }
    do {
      _ = try model.explainer(target: "nope")
      Issue.record("no error")
    } catch {
      #expect(error.description.hasPrefix("target 'nope': no such layer in the model (layers: seq, "))
    }
    #expect(throws: LiftKitError.self) {
      _ = try model.explainer(options: AttributionOptions(layers: ["conv1", "conv1"]))
    }
    #expect(throws: LiftKitError.self) { _ = try model.explainer(target: "seq") }
  }

  /// The API gives the engine's numbers: layer scores equal the original deeplift's goldens,
  /// and the convergence delta is per example.
  @Test func layerScoresThroughTheAPI() throws {
    let model = try load("cnn.h5")
    let x = try array("cnn.x.npy")
    let ref = try array("cnn.ref.npy")
    var options = AttributionOptions(tasks: .task(1), layers: ["conv2/preact", "dense1"])
    options.batchSize = 2
    let explainer = try model.explainer(method: .revealCancel, target: "out/preact", options: options)
    #expect(explainer.target == "out/preact")
    let result = try explainer.explain(inputs: [x], references: .arrays([ref]))
    #expect(result.layerNames == ["conv2/preact", "dense1"])
    #expect(result.convergenceDelta.count == 5)
    for (name, file) in [
      ("conv2/preact", "cnn.reveal-cancel.t1.conv2_preact.npy"),
      ("dense1", "cnn.reveal-cancel.t1.dense1.npy"),
    ] {
      let theirs = try array(file)
      let scale = theirs.scalars.map(abs).max() ?? 0
      expectClose(try #require(result[name]), theirs, rtol: 1e-3, atol: 5e-4 * scale, name)
    }
    #expect(result.namedArrays.map(\.name) == ["seq", "conv2/preact", "dense1"])
    // Summation-to-delta at a layer that cuts the graph, from the API's own numbers.
    let logits = try model.predict(inputs: [x], layers: [try model.node(named: "out/preact")])[0]
    let refLogits = try model.predict(inputs: [ref], layers: [try model.node(named: "out/preact")])[0]
    let dense1 = result["dense1"]!
    for e in 0..<5 {
      let sum = (0..<6).reduce(0.0) { $0 + Double(dense1[e, $1]) }
      #expect(abs(sum - Double(logits[e, 1] - refLogits[e, 1])) < 1e-4)
    }
  }

  @Test func allTasksMultipliersAndNamedInputs() throws {
    let model = try load("mlp.h5")
    let x = try array("mlp.x.npy")
    let ref = try array("mlp.ref.npy")
    let explainer = try model.explainer(options: AttributionOptions(tasks: .all, output: .multipliers))
    let r = try explainer.explain(named: ["x": x], references: .arrays([ref]))
    #expect(r.tasks == [0, 1])
    #expect(r.kind == .multipliers)
    #expect(r.scores[0].shape == [6, 2, 5])
    #expect(throws: LiftKitError.self) { _ = try explainer.explain(named: ["y": x]) }
    #expect(throws: LiftKitError.self) { _ = try explainer.explain(inputs: [x, x]) }
    #expect(throws: LiftKitError.self) {
      _ = try explainer.explain(inputs: [x], references: .arrays([.zeros([6, 4])]))
    }
  }

  /// `softmaxNormalize` equals the original's recipe (the golden of the normalised model).
  @Test func softmaxNormalizeAndContrast() throws {
    let model = try load("softmax.h5")
    let x = try array("softmax.x.npy")
    let ref = try array("softmax.ref.npy")
    var options = AttributionOptions(tasks: .task(2))
    options.softmaxNormalize = true
    let explainer = try model.explainer(method: .rescale, options: options)
    #expect(explainer.targetFeedsSoftmax)
    let r = try explainer.explain(inputs: [x], references: .arrays([ref]))
    let theirs = try array("softmax_norm.rescale.t2.x.npy")
    expectClose(r.scores[0], theirs, rtol: 1e-3, atol: 5e-4 * (theirs.scalars.map(abs).max() ?? 0))
    // Contrast: task 2 minus task 1, identical with and without softmax normalisation (the
    // mean cancels in the difference).
    var c = AttributionOptions(tasks: .task(2))
    c.contrast = 1
    let plain = try model.explainer(options: c).explain(inputs: [x], references: .arrays([ref]))
    c.softmaxNormalize = true
    let normalised = try model.explainer(options: c).explain(inputs: [x], references: .arrays([ref]))
    expectClose(plain.scores[0], normalised.scores[0], rtol: 1e-4, atol: 1e-5)
    #expect(plain.contrast == 1)
    #expect(plain.worstConvergenceDelta < 1e-4)
    var bad = AttributionOptions()
    bad.softmaxNormalize = true
    #expect(throws: LiftKitError.self) { _ = try model.explainer(target: "h", options: bad) }
  }

  @Test func normalizeFirstConvolution() throws {
    let model = try load("cnn.h5")
    var options = AttributionOptions()
    options.normalizeFirstConvolution = true
    let explainer = try model.explainer(options: options)
    #expect(explainer.normalizedConvolutions == ["conv1/preact"])
    let x = try array("cnn.x.npy")
    expectClose(
      try explainer.model.predict(inputs: [x])[0], try model.predict(inputs: [x])[0], rtol: 1e-5, atol: 1e-6)
    #expect(throws: LiftKitError.self) { _ = try load("mlp.h5").explainer(options: options) }
  }

  @Test func multiInputNames() throws {
    let model = try load("two_input.h5", in: kerasFixtures)
    let names = model.inputNames
    #expect(names.count == 2)
    let x0 = try array("two_input.x0.npy", in: kerasFixtures)
    let x1 = try array("two_input.x1.npy", in: kerasFixtures)
    #expect(try model.arrangeInputs([(name: names[1], value: 1), (name: names[0], value: 0)]) == [0, 1])
    #expect(throws: LiftKitError.self) { _ = try model.arrangeInputs([(name: names[0], value: 0)]) }
    #expect(throws: LiftKitError.self) { _ = try model.arrangeInputs([(name: "zz", value: 0)]) }
    let explainer = try model.explainer()
    let a = try explainer.explain(inputs: [x0, x1])
    let b = try explainer.explain(named: [names[1]: x1, names[0]: x0])
    #expect(a.scores == b.scores)
    #expect(a.inputNames == names)
  }

  @Test func writeRoundTrip() throws {
    let model = try load("mlp.h5")
    let x = try array("mlp.x.npy")
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("liftkit-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    let plain = try model.explainer().explain(inputs: [x])
    try plain.write(to: dir.appendingPathComponent("s.npy"))
    #expect(try readArray(at: dir.appendingPathComponent("s.npy")) == plain.scores[0])
    let layered = try model.explainer(options: AttributionOptions(layers: ["h1", "x"])).explain(inputs: [x])
    try layered.write(to: dir.appendingPathComponent("s.npz"))
    let back = try readArrays(at: dir.appendingPathComponent("s.npz"))
    #expect(back.map(\.name) == ["x", "h1"])
    #expect(back[1].tensor == layered["h1"])
    #expect(throws: LiftKitError.self) { _ = try readArray(at: dir.appendingPathComponent("missing.npy")) }
  }
}

@Suite("Model.suggestedBatchSize")
struct SuggestedBatchSizeTests {
  /// input [L, 4] → conv with `filters` outputs (same padding) → global average pool → dense.
  func model(length: Int?, filters: Int) -> Model {
    var g = Graph()
    let x = g.add(.input(shape: [length, 4]), name: "x")
    let c = g.add(
      .conv(
        weight: .zeros([3, 4, filters]), bias: nil,
        parameters: ConvParameters(strides: [1], dilations: [1], padding: .same)),
      inputs: [x], name: "conv")
    let p = g.add(.globalAveragePool, inputs: [c], name: "pool")
    let d = g.add(.dense(weight: .zeros([filters, 1]), bias: nil), inputs: [p], name: "out")
    g.outputs = [d]
    return Model(graph: g, format: .onnx, url: URL(fileURLWithPath: "m.onnx"))
  }

  @Test func largeActivationsGetSmallBatches() {
    // 1000 × 64 floats = 256,000 bytes per example at the conv: at least 128 KiB.
    #expect(model(length: 1000, filters: 64).suggestedBatchSize == 16)
    // 1000 × 32 floats = 128,000 bytes: just under 128 KiB (131,072).
    #expect(model(length: 1000, filters: 32).suggestedBatchSize == 64)
    #expect(model(length: 100, filters: 64).suggestedBatchSize == 64)
    // An open length counts as 1.
    #expect(model(length: nil, filters: 64).suggestedBatchSize == 64)
  }
}
