// The work behind the commands. The argument structs in Commands/ parse and validate the
// command line and check that the named files exist; these functions load the model, read
// the arrays, call the library (LiftKit / LiftAttribution) and write outputs through one
// LiftIO OutputTransaction per run (planned and checked by the command before any work):
// every output is renamed into place only after all of them were written, so a failure never
// leaves a partial file or a replaced one.
//
// Conventions: library errors are thrown as they are (reported as `error: <description>`,
// exit 1); CLIError.data / CLIError.usage for problems found here.

import Foundation
import LiftAttribution
import LiftGenomics
import LiftIO
import LiftKit
import LiftNN
import LiftPlot
import LiftTensor

#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

/// Runs `deeplift explain`, writing through `outputs` (``ExplainRequest/plannedOutputs()``)
/// and committing them at the end: one streamed LiftKit explanation
/// (``ModelExplainer/explain(rows:references:into:progress:)``) from a row source into the
/// score sinks the options ask for.
func runExplain(_ request: ExplainRequest, outputs: OutputTransaction) throws {
  let clock = BenchTiming()
  defer { clock.report() }
  if let threads = request.threads { BLAS.setThreads(threads) }
  var models: [Model] = []
  for path in request.models { models.append(try loadModel(path, quiet: request.quiet)) }
  let model = models[0]
  // Several models (folds): one LiftKit ensemble, checked to agree before any work.
  let (explainer, ensemble) = try cli { () throws(LiftKitError) -> (ModelExplainer, ModelEnsemble?) in
    var explainers: [ModelExplainer] = []
    for m in models {
      explainers.append(try m.explainer(method: request.method, target: request.target, options: request.attributionOptions))
    }
    return (explainers[0], explainers.count > 1 ? try ModelEnsemble(explainers) : nil)
  }
  clock.loaded()
  if let k = model.tokenInputs.first {
    if request.sequences != nil || request.inputs.isTable {
      throw CLIError.usage(
        "model input '\(model.inputNames[k])' takes token ids: give them as an integer .npy (--input), not \(request.sequences != nil ? "sequences" : "a CSV table")")
    }
    if request.hypothetical || request.modisco != nil {
      throw CLIError.usage(
        "\(request.hypothetical ? "--hypothetical" : "--modisco") needs one-hot sequences; model input '\(model.inputNames[k])' takes token ids")
    }
  }
  if !request.quiet {
    if !explainer.normalizedConvolutions.isEmpty {
      note("note: mean-normalised the weights of \(explainer.normalizedConvolutions.map { "'\($0)'" }.joined(separator: ", ")) over the channels (outputs unchanged on one-hot input)")
    }
    if request.softmaxNormalize && !explainer.targetFeedsSoftmax {
      note("note: --softmax-normalize: the target '\(explainer.target)' does not feed a softmax; its weights were mean-normalised over its units anyway")
    }
  }
  // Rows from disk batch by batch where every output can be streamed; else read whole first
  // (and checked whole, before any work).
  // A CSV table is read whole (CSV has no random access to rows).
  let table = request.inputs.isTable ? try tableRows(request, model: model) : nil
  let images = request.image != nil ? try imageRows(request, model: model) : nil
  let streamed =
    request.sequences != nil || images != nil || (table == nil && inputsAreStreamable(request, model: model))
  let source: any RowSource
  let references: ReferenceSet
  var labeled: (any LabeledRowSource)? = nil
  var whole: (any LabeledRowSource)? = nil
  if let sequences = request.sequences {
    let rows = try sequenceRows(sequences, request: request, model: model, transaction: outputs)
    whole = rows
    let view = try request.shardView(rows)
    labeled = view
    source = view
    references = try streamedReferences(
      request, model: model, inputShape: rows.shapes[0], inputPath: request.inputs.paths[0])
  } else if let table {
    (source, references) = (table.rows, table.references)
  } else if let images {
    (source, references) = (images.rows, images.references)
  } else {
    (source, references) = streamed ? try streamedRows(request, model: model) : try rowsInMemory(request, model: model)
  }
  let url = URL(fileURLWithPath: request.output)
  var sinks: [any ScoreSink] = []
  if let labeled, url.pathExtension.lowercased() == "h5" {
    sinks.append(
      try cli { () throws(LiftKitError) in
        try ChromBPNetH5Sink(
          url: url, source: labeled, channelAxis: request.channelAxis ?? model.channelAxis,
          attributes: request.h5Attributes(target: explainer.target) + request.runAttributes(rows: whole?.rowCount ?? 0),
          transaction: outputs)
      })
  } else if let table, url.pathExtension.lowercased() == "csv" {
    sinks.append(
      try cli { () throws(LiftKitError) in
        try CSVScoreSink(
          url: url, featureNames: table.rows.featureNames, explainer: explainer, references: table.references,
          transaction: outputs)
      })
  } else if model.inputNames.count == 1 && request.layers.isEmpty && url.pathExtension.lowercased() != "npz" {
    sinks.append(NpyScoreSink(url: url, transaction: outputs))
  } else {
    sinks.append(ArchiveScoreSink(url: url, transaction: outputs))
  }
  if let path = request.bigwig, let labeled { sinks.append(try request.bigWigSink(path, rows: labeled, whole: whole, model: model, transaction: outputs)) }
  var modisco: ModiscoSink? = nil
  if let directory = request.modisco {
    guard model.inputNames.count == 1 else {
      throw CLIError.usage("--modisco needs a single-input sequence model; this one has \(model.inputNames.count) inputs")
    }
    do {
      modisco = try ModiscoSink(
        directory: URL(fileURLWithPath: directory), inputShape: source.shapes[0],
        channelAxis: request.channelAxis ?? model.channelAxis, transaction: outputs)
    } catch {
      throw CLIError.data("--modisco: input '\(model.inputNames[0])' \(error)")
    }
    sinks.append(modisco!)
  }
  // `--plot` draws the first example of a streamed run, every example otherwise.
  // Pictures: a grid of the first ``maximumGridPictures``.
  let plot = request.plot.map { _ in
    ArraySink(keepingRows: images != nil ? HeatmapGrid.maximumPanels : (streamed ? 1 : nil))
  }
  if let plot { sinks.append(plot) }
  let plan = try cli { () throws(LiftKitError) in
    if let ensemble { return try ensemble.batchPlan(inputShapes: source.shapes, references: references) }
    return try explainer.batchPlan(inputShapes: source.shapes, references: references)
  }
  noteBatchPlan(plan, quiet: request.quiet)
  let progress = ProgressBar(total: source.rowCount, enabled: !request.quiet)
  let run: StreamedExplanation
  do {
    run = try cli { () throws(LiftKitError) in
      if let ensemble {
        return try ensemble.explain(rows: source, references: references, into: sinks) { progress.update($0) }
      }
      return try explainer.explain(rows: source, references: references, into: sinks) { progress.update($0) }
    }
  } catch LiftKitError.genomics(let error) {
    throw CLIError.data("--shuffles: \(request.inputs.paths(in: model.inputNames)[0]): \(error)")
  }
  progress.finish()
  try checkSummation(request, run.summation)
  if let path = request.plot, let plot {
    var o = PlotOptions()
    var scores = plot.scores()[0]
    if let images {
      // Over the pictures as read (resized for the model, 0–255), a grid for several.
      let shown = min(scores.shape[0], images.rows.rowCount, HeatmapGrid.maximumPanels)
      scores = scores.slice(batch: 0..<shown)
      o.kind = .heatmap
      o.input = try cli { () throws(LiftKitError) in try images.rows.pixels(0..<shown) }
      o.examples = Array(0..<shown)
      o.labels = images.rows.files[0..<shown].map(\.lastPathComponent)
    } else {
      o.input = plot.inputs[0]
    }
    try renderPlot(scores: scores, from: request.output, options: o, to: path, transaction: outputs)
  }
  try outputs.commit()
  if let rows = whole as? GenomeRows, !request.quiet {
    // After the commit: the index appears with the outputs, and a failed run prints one line.
    if rows.builtIndex { note("note: \(rows.genome.relativePath): made the index \(rows.genome.relativePath).fai") }
    if rows.skipped > 0 {
      note("note: \(rows.regions.relativePath): skipped \(rows.skipped) region(s) whose \(rows.width)-base window runs off its chromosome")
    }
  }
  if let directory = request.modisco, let modisco, !request.quiet {
    note("modisco: wrote \(modisco.files.map(\.lastPathComponent).joined(separator: ", ")) to \(directory) (N, 4, L)")
  }
  reportConvergence(request, run.summation, examples: run.examples, target: run.target, contrast: run.contrast)
}

/// Wall-clock split of `deeplift explain` for the benchmark harness (Benchmarks/): with the
/// environment variable `DEEPLIFT_TIMING` set, one line `timing: load=S explain=S` on standard
/// error (model load + explainer set-up; reading inputs, explaining, writing outputs).
final class BenchTiming {
  private let enabled = ProcessInfo.processInfo.environment["DEEPLIFT_TIMING"] != nil
  private let start = DispatchTime.now().uptimeNanoseconds
  private var load: UInt64 = 0

  func loaded() { load = DispatchTime.now().uptimeNanoseconds }

  func report() {
    guard enabled, load > 0 else { return }
    let end = DispatchTime.now().uptimeNanoseconds
    let line = String(format: "timing: load=%.6f explain=%.6f\n", Double(load - start) * 1e-9, Double(end - load) * 1e-9)
    FileHandle.standardError.write(line.data(using: .utf8)!)
  }
}

/// One note when the memory budget made the batches smaller than `--batch-size` asked, or
/// split each example's references into chunks.
func noteBatchPlan(_ plan: BatchPlan, quiet: Bool) {
  guard plan.isClamped || plan.isChunked, !quiet else { return }
  if plan.isChunked {
    note(
      "note: batches of 1 example whose \(plan.pairsPerExample) references go through in \(plan.chunksPerExample) chunks of at most \(plan.referencesPerChunk) to fit the memory budget of \(MemoryBudget.describe(plan.budget)) (about \(MemoryBudget.describe(plan.bytesPerPair)) per example-reference pair; results do not change; set \(MemoryBudget.environmentVariable) to change it)"
    )
    return
  }
  let perExample = ActivationFootprint.saturatingProduct(plan.pairsPerExample, plan.bytesPerPair)
  note(
    "note: batches lowered from \(plan.requested) to \(plan.examples) example(s) to fit the memory budget of \(MemoryBudget.describe(plan.budget)) (about \(MemoryBudget.describe(perExample)) per example; set \(MemoryBudget.environmentVariable) to change it)"
  )
}

/// The summation-to-delta line after a DeepLIFT run (unless `--quiet`, `--multipliers` or
/// `--hypothetical`), then, for any DeepLIFT run and even with `--quiet`, a `warning:` line
/// when some example misses by more than 1e-3·max(1, |Δ|) (CLI.md, "Summation-to-delta
/// guard"). The other tests and scripts parse the first line: keep its format.
func reportConvergence(_ request: ExplainRequest, _ report: SummationReport, examples n: Int, target: String, contrast: Int?) {
  guard request.method.isDeepLIFT else { return }
  if !request.quiet && !request.multipliers && !request.hypothetical {
    let what = contrast.map { "f_task(x) - f_\($0)(x) - (f_task(ref) - f_\($0)(ref))" } ?? "f(x) - f(ref)"
    note("summation-to-delta: worst |sum(scores) - (\(what))| = \(String(format: "%.3g", report.worstError)) over \(n) example(s), target '\(target)'")
  }
  if let worst = report.worstMiss {
    note(
      "warning: summation-to-delta: \(report.missingExamples.count) of \(report.examples) example(s) miss by more than 1e-3*max(1, |delta|); worst: example \(worst.example), task \(worst.task), |sum(scores) - delta| = \(String(format: "%.3g", worst.error)) with |delta| = \(String(format: "%.3g", worst.delta))"
        + (report.cause.map { "; likely cause: \($0)" } ?? ""))
  }
}

/// `--max-delta-error E`: a worst |Σ scores − Δ| above E (or NaN) is an error; called before
/// any output is committed, so the failed run writes nothing.
func checkSummation(_ request: ExplainRequest, _ report: SummationReport) throws {
  guard request.method.isDeepLIFT, let limit = request.maxDeltaError else { return }
  guard report.worstError.isNaN || report.worstError > limit else { return }
  throw CLIError.data(
    "summation-to-delta: worst |sum(scores) - delta| = \(String(format: "%.3g", report.worstError)) is above --max-delta-error \(String(format: "%g", limit)) (\(report.missingExamples.count) of \(report.examples) example(s) miss by more than 1e-3*max(1, |delta|)"
      + (report.cause.map { "; likely cause: \($0)" } ?? "") + "); no output written")
}

/// Single-input models whose scores go to one `.npy` (and no `--layer`, `--modisco`) are
/// explained from the file batch by batch: rows of the input (and of per-example references)
/// are read as needed and the scores appended to the output, so memory stays flat in the
/// number of examples (`Benchmarks/rss.sh`).
func inputsAreStreamable(_ request: ExplainRequest, model: Model) -> Bool {
  // Token ids are looked up in the embedding table as they are read (readInputs).
  guard model.inputNames.count == 1, model.tokenInputs.isEmpty, request.layers.isEmpty, request.modisco == nil, case .single = request.inputs else {
    return false
  }
  return URL(fileURLWithPath: request.output).pathExtension.lowercased() != "npz"
}

/// The input file as a row source and its references, checked from the headers: a shared
/// reference or a background is read whole, per-example references (`[N, …]`, `[N, M, …]`)
/// are read with their examples' rows.
func streamedRows(_ request: ExplainRequest, model: Model) throws -> (any RowSource, ReferenceSet) {
  guard case .single(let inputPath) = request.inputs else { throw CLIError.usage("--input: one file expected") }
  let input = try NpyFile(url: URL(fileURLWithPath: inputPath))
  try checkShape(input.shape, fits: model.graph, input: 0, file: inputPath, option: "--input")
  guard input.rowCount > 0 else {
    throw CLIError.data("\(inputPath): no examples (shape \(shapeText(input.shape))); nothing to explain")
  }
  return (NpyRows([input]), try streamedReferences(request, model: model, inputShape: input.shape, inputPath: inputPath))
}

/// The references of a single-input streamed run whose rows have `inputShape`: a shared
/// reference or a background is read whole, per-example references (`[N, …]`, `[N, M, …]`)
/// are read with their examples' rows.
func streamedReferences(_ request: ExplainRequest, model: Model, inputShape: Shape, inputPath: String) throws
  -> ReferenceSet
{
  let references: ReferenceSet
  switch request.references {
  case .zeros: references = .zeros
  case .profile: throw CLIError.usage("--reference mean/median needs --input X.csv")
  case .black, .blur: throw CLIError.usage("--reference black / blur:<sigma> needs --input IMAGE.png|.jpg|DIR")
  case .background(let files):
    let b = try readInputs(files, model: model, option: "--background")
    try checkBackground(b, paths: files.paths(in: model.inputNames), inputShapes: [inputShape], names: model.inputNames)
    references = .background(b)
  case .shuffles(let count, let seed):
    try checkFitsInMemory([count] + inputShape.dimensions.dropFirst(), what: "\(inputPath): --shuffles \(count)")
    references = .shuffles(count: count, seed: seed)
  case .reference(let files):
    guard case .single(let path) = files else { throw CLIError.usage("--reference: one file expected") }
    let r = try NpyFile(url: URL(fileURLWithPath: path))
    let form = try checkReferenceShape(r.shape, input: inputShape, file: path, name: model.inputNames[0])
    if form.isPerExample {
      references = .rows(NpyRows([r]))
    } else {
      let shared = try readArray(path)
      try checkFinite(shared, name: path)
      references = .arrays([shared])
    }
  }
  return references
}

/// The rows of `--fasta` or `--genome` + `--regions` (CLI.md, "Sequences from genome files"),
/// one-hot in the model's layout, `--width` or the model's sequence length wide. A missing
/// genome index is written through `transaction`: it appears only with the run's outputs.
func sequenceRows(
  _ sequences: SequenceInput, request: ExplainRequest, model: Model, transaction: OutputTransaction
) throws -> any LabeledRowSource {
  let axis = request.channelAxis ?? model.channelAxis
  guard model.inputNames.count == 1 else {
    throw CLIError.usage("--fasta and --genome need a single-input sequence model; this one has \(model.inputNames.count) inputs")
  }
  guard let width = request.width ?? model.sequenceLength(channelAxis: axis) else {
    throw CLIError.data(
      "model input '\(model.inputNames[0])' is not one-hot DNA of a fixed length ([L, 4], or [4, L] with --channel-axis 1): give --width W")
  }
  if let w = request.width, let length = model.sequenceLength(channelAxis: axis), w != length {
    throw CLIError.data("--width \(w) does not fit model input '\(model.inputNames[0])', which takes sequences of \(length) bases")
  }
  let channelsLast = axis != 1
  switch sequences {
  case .fasta(let path):
    return try cli { () throws(LiftKitError) in
      try FastaRows(url: URL(fileURLWithPath: path), width: width, crop: request.width != nil, channelsLast: channelsLast)
    }
  case .genome(let genome, let regions):
    let rows = try cli { () throws(LiftKitError) in
      try GenomeRows(
        genome: URL(fileURLWithPath: genome), regions: URL(fileURLWithPath: regions), width: width,
        channelsLast: channelsLast, transaction: transaction)
    }
    return rows
  }
}

extension ExplainRequest {
  /// The root attributes of an `.h5` output (CLI.md): models, method, target, task,
  /// references, seed and tool version.
  func h5Attributes(target: String) -> [(String, String)] {
    var refs = "zeros"
    var seed = ""
    switch references {
    case .zeros: break
    case .reference(let files): refs = "reference " + files.paths.joined(separator: ",")
    case .background(let files): refs = "background " + files.paths.joined(separator: ",")
    case .profile(let profile, let path): refs = profile.rawValue + (path.map { ":" + $0 } ?? "")
    case .black: refs = "black"
    case .blur(let sigma): refs = "blur:\(sigma)"
    case .shuffles(let count, let s):
      refs = "shuffles \(count)"
      seed = String(s)
    }
    let task: String
    switch tasks {
    case .all: task = "all"
    case .profile: task = "profile"
    case .indices(let k): task = k.map(String.init).joined(separator: ",")
    }
    return [
      ("models", models.joined(separator: ",")), ("method", method.rawValue), ("target", target), ("task", task), ("references", refs),
      ("seed", seed), ("tool_version", "deeplift \(DeepLift.toolVersion)"),
    ]
  }
}

/// A CSV input (`--input X.csv`, one example per row) and its references: `zeros`, the
/// column mean / median of a table (`mean[:B.csv]`, `median[:B.csv]`), a CSV of one row
/// (shared) or one row per example, a CSV background, or the `.npy` forms. Every table's
/// header must equal the input's.
func tableRows(_ request: ExplainRequest, model: Model) throws -> (rows: CSVRows, references: ReferenceSet) {
  guard case .single(let path) = request.inputs, model.inputNames.count == 1 else {
    throw CLIError.usage("--input X.csv needs a single-input model; this one has inputs \(model.inputNames.joined(separator: ", "))")
  }
  let rows = try cli { () throws(LiftKitError) in try CSVRows(url: URL(fileURLWithPath: path)) }
  try checkShape(rows.shapes[0], fits: model.graph, input: 0, file: path, option: "--input")
  /// Another table with the input's columns.
  func table(_ other: String, option: String) throws -> CSVTable {
    let t = try cli { () throws(LiftKitError) in try CSVRows(url: URL(fileURLWithPath: other)) }.table
    guard t.header == rows.table.header else {
      throw CLIError.data(
        "\(option) \(other): columns (\(t.header.joined(separator: ", "))) differ from those of \(path) (\(rows.table.header.joined(separator: ", ")))")
    }
    return t
  }
  func isCSV(_ p: String) -> Bool { URL(fileURLWithPath: p).pathExtension.lowercased() == "csv" }
  let n = rows.table.rowCount
  switch request.references {
  case .zeros: return (rows, .zeros)
  case .profile(let profile, let other):
    let t = try other.map { try table($0, option: "--reference \(profile.rawValue):") } ?? rows.table
    return (rows, .arrays([profile.row(of: t.tensor)]))
  case .reference(.single(let r)) where isCSV(r):
    let t = try table(r, option: "--reference")
    if t.rowCount == n { return (rows, .arrays([t.tensor])) }
    guard t.rowCount == 1 else {
      throw CLIError.data("--reference \(r): \(t.rowCount) rows; give one row (shared) or one per example of \(path) (\(n))")
    }
    return (rows, .arrays([t.tensor.reshaped(Shape([t.header.count]))]))
  case .background(.single(let b)) where isCSV(b):
    return (rows, .background([try table(b, option: "--background").tensor]))
  case .reference, .background, .shuffles, .black, .blur:
    let refs = try readReferenceSet(request.references, model: model, inputs: [rows.table.tensor], inputFiles: [path])
    return (rows, refs)
  }
}

/// Picture input (`--input IMAGE.png|.jpg|DIR`) and its references: zeros, `black`,
/// `blur:SIGMA`, or the `.npy` forms (checked against the pictures' shape).
func imageRows(_ request: ExplainRequest, model: Model) throws -> (rows: ImageRows, references: ReferenceSet) {
  guard case .single(let path) = request.inputs, let o = request.image else {
    throw CLIError.usage("--input IMAGE.png|.jpg|DIR: one file or directory expected")
  }
  let rows = try cli { () throws(LiftKitError) in
    let p = try ImagePreprocessing.forModel(model, size: o.size, scale: o.scale, mean: o.mean, std: o.std)
    return try ImageRows(url: URL(fileURLWithPath: path), preprocessing: p)
  }
  let references: ReferenceSet
  switch request.references {
  case .black: references = .arrays([rows.preprocessing.black])
  case .blur(let sigma): references = .rows(BlurredRows(rows, sigma: sigma, channelsFirst: rows.preprocessing.channelsFirst))
  default: references = try streamedReferences(request, model: model, inputShape: rows.shapes[0], inputPath: path)
  }
  return (rows, references)
}

/// The inputs and references read whole and checked (``readInputs(_:model:option:)``).
func rowsInMemory(_ request: ExplainRequest, model: Model) throws -> (any RowSource, ReferenceSet) {
  let inputs = try readInputs(request.inputs, model: model, option: "--input")
  // Nothing to explain is an error rather than an empty output (CLI help, "Exit status").
  if inputs[0].shape[0] == 0 {
    throw CLIError.data("\(request.inputs.paths(in: model.inputNames)[0]): no examples (shape \(shapeText(inputs[0].shape))); nothing to explain")
  }
  let references = try readReferenceSet(
    request.references, model: model, inputs: inputs, inputFiles: request.inputs.paths(in: model.inputNames))
  return (ArrayRows(inputs), references)
}

/// Runs `deeplift predict`, writing through `outputs` and committing it.
func runPredict(_ request: PredictRequest, outputs: OutputTransaction) throws {
  if let threads = request.threads { BLAS.setThreads(threads) }
  let model = try loadModel(request.model, quiet: request.quiet)
  let graph = model.graph
  let inputs = try readInputs(request.inputs, model: model, option: "--input")
  let layers: [NodeID]
  if let layer = request.layer {
    layers = [try cli { () throws(LiftKitError) in try model.node(named: layer, role: "layer") }]
  } else {
    layers = graph.outputs
  }
  let batchSize = try cli { () throws(LiftKitError) in
    try model.predictionBatchSize(inputShapes: inputs.map(\.shape), layers: layers, requested: request.batchSize)
  }
  if batchSize < request.batchSize && !request.quiet {
    note("note: --batch-size lowered from \(request.batchSize) to \(batchSize) example(s) to fit the memory budget of \(MemoryBudget.describe(MemoryBudget.bytes)) (set \(MemoryBudget.environmentVariable) to change it)")
  }
  let results = try cli { () throws(LiftKitError) in
    try model.predict(inputs: inputs, layers: layers, batchSize: batchSize)
  }
  try writeOutputs(results, names: layers.map { graph[$0].name }, to: request.output, transaction: outputs)
  try outputs.commit()
}

/// Runs `deeplift inspect`: one row per node with its kind, per-example output shape,
/// parameter count and operands.
func runInspect(model path: String, common: CommonOptions) throws {
  let model = try loadModel(path)
  let graph = model.graph
  // Per-example shapes from the declared input shapes; `?` where an extent depends on one the
  // model leaves open.
  let shapes = try? graph.inferExampleShapes()
  var rows: [[String]] = [["layer", "kind", "output shape", "params", "inputs"]]
  var total = 0
  for (i, node) in graph.nodes.enumerated() {
    let kind = node.origin.isEmpty ? node.op.kindName : "\(node.op.kindName) (\(node.origin))"
    let shape = shapes.map { "(" + $0[i].map { $0.map(String.init) ?? "?" }.joined(separator: ", ") + ")" } ?? "?"
    total += node.op.parameterCount
    rows.append([node.name, kind, shape, String(node.op.parameterCount), node.inputs.map { graph[$0].name }.joined(separator: ", ")])
  }
  let widths = (0..<5).map { c in rows.map { $0[c].count }.max() ?? 0 }
  print("\(path): \(model.format.rawValue) model, \(graph.nodes.count) nodes, \(total) parameters")
  for (r, row) in rows.enumerated() {
    let line = row.enumerated().map { c, v in c == 4 ? v : v.padding(toLength: widths[c], withPad: " ", startingAt: 0) }
      .joined(separator: "  ")
    print(line.trimmingCharacters(in: .whitespaces))
    if r == 0 { print(widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ")) }
  }
  print("inputs: " + graph.inputNames.joined(separator: ", "))
  for k in model.tokenInputs {
    let e = model.tokenEmbedding(input: k)!
    let ids = "(" + e.tokenShape.map { $0.map(String.init) ?? "?" }.joined(separator: ", ") + ")"
    print(
      "token ids: \(graph.inputNames[k]) \(ids), integers in 0..<\(e.vocabularySize), through the embedding '\(e.layer)' (table \(e.vocabularySize) × \(e.dimension), \(e.table.scalarCount) parameters); scores are per token (NAME) and per embedding dimension (NAME.embedding)")
  }
  print("outputs: " + graph.outputs.map { graph[$0].name }.joined(separator: ", "))
  print("default target: \(graph[Explainer.defaultTarget(graph)].name)")
}

// MARK: - Helpers

/// Loads the model under a watchdog: if reading takes longer than `DEEPLIFT_LOAD_TIMEOUT`
/// seconds (default 300), the tool prints one `error:` line naming the file and exits with
/// status 1. libhdf5 1.10 can loop without end on some damaged files (Fuzz/FuzzKerasFile found
/// global-heap references that make `H5Aread` spin); nothing has been written at this point,
/// so exiting leaves no output behind.
func loadModel(_ path: String, quiet: Bool = false) throws -> Model {
  let watchdog = LoadWatchdog(file: path, seconds: try loadTimeout())
  defer { watchdog.finish() }
  let guardSignals = LoadCrashGuard(file: path)
  defer { guardSignals.finish() }
  let model = try Model(contentsOf: URL(fileURLWithPath: path))
  // What the importer skipped or reinterpreted (an ONNX label output, a ZipMap).
  if !quiet {
    for n in model.graph.notes { note("note: \(URL(fileURLWithPath: path).lastPathComponent): \(n)") }
  }
  return model
}

/// `DEEPLIFT_LOAD_TIMEOUT` in seconds: a plain decimal number in (0, 86400] (one day), at
/// least 0.1 once read; 300 when unset.
///
/// - Throws: ``CLIError/usage(_:)`` naming the variable for anything else (`inf`, `1e300`,
///   `-1`, `abc`): a watchdog of unbounded length would overflow the timer.
func loadTimeout() throws(CLIError) -> Double {
  guard let text = ProcessInfo.processInfo.environment["DEEPLIFT_LOAD_TIMEOUT"] else { return 300 }
  let trimmed = text.trimmingCharacters(in: .whitespaces)
  guard !trimmed.isEmpty, trimmed.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == ".") }),
    let seconds = Double(trimmed), seconds.isFinite, seconds > 0, seconds <= 86_400
  else {
    throw .usage("DEEPLIFT_LOAD_TIMEOUT must be a number of seconds in (0, 86400], got '\(text)'")
  }
  return max(0.1, seconds)
}

/// Checks the environment variables the tool reads (``loadTimeout()``,
/// `DEEPLIFT_MEMORY_BUDGET` — see ``LiftNN/MemoryBudget``) before any work, so that a
/// malformed value is a usage error naming it rather than a crash or a silent default.
func checkEnvironment() throws(CLIError) {
  _ = try loadTimeout()
  let name = MemoryBudget.environmentVariable
  if let text = ProcessInfo.processInfo.environment[name], MemoryBudget.parse(text) == nil {
    throw .usage("\(name) must be a byte count such as 2G, 512M or 1000000 (from 1 byte to 2^62), got '\(text)'")
  }
}

// The message and its length for the signal handler, set before the handler is installed
// (a handler may only call async-signal-safe functions: write(2) and _exit(2) here).
private nonisolated(unsafe) var loadCrashMessage: UnsafeMutableRawPointer? = nil
private nonisolated(unsafe) var loadCrashMessageLength = 0

private func reportLoadCrash(_ signal: Int32) {
  if let message = loadCrashMessage { _ = write(2, message, loadCrashMessageLength) }
  _exit(ExitStatus.dataError)
}

/// While a model file is read, turns SIGSEGV / SIGBUS / SIGFPE into one `error:` line naming
/// the file and exit status 1. libhdf5 1.10 trusts some structures of the file (global heap
/// indices of variable-length strings among them) and can crash on damaged ones that the
/// validation in LiftHDF5 does not recognise (Fuzz/FuzzKerasFile). Nothing has been written
/// yet at this point, so no output is left behind. The previous handlers (Swift's backtracer)
/// are restored by ``finish()``.
final class LoadCrashGuard {
  private var previous: [(Int32, sigaction)] = []

  init(file: String) {
    let text = Array("error: \(file): libhdf5 hit a memory fault reading the model; the file is damaged\n".utf8)
    let buffer = UnsafeMutableRawPointer.allocate(byteCount: text.count, alignment: 1)
    buffer.copyMemory(from: text, byteCount: text.count)
    loadCrashMessage = buffer
    loadCrashMessageLength = text.count
    for signal in [SIGSEGV, SIGBUS, SIGFPE] {
      var action = sigaction()
      action.__sigaction_handler.sa_handler = reportLoadCrash
      sigemptyset(&action.sa_mask)
      action.sa_flags = 0
      var old = sigaction()
      if sigaction(signal, &action, &old) == 0 { previous.append((signal, old)) }
    }
  }

  func finish() {
    for (signal, old) in previous {
      var old = old
      sigaction(signal, &old, nil)
    }
    previous = []
    // The handlers that read the message are gone: free it.
    loadCrashMessage?.deallocate()
    loadCrashMessage = nil
  }
}

/// Ends the process if ``finish()`` is not called within the time limit.
final class LoadWatchdog: @unchecked Sendable {
  // @unchecked: `done` is only touched under `lock`.
  private let lock = NSLock()
  private var done = false

  init(file: String, seconds: Double) {
    let message = Data(
      "error: \(file): reading the model did not finish in \(Int(seconds.rounded())) s; the file is probably damaged (set DEEPLIFT_LOAD_TIMEOUT to wait longer)\n"
        .utf8)
    let thread = Thread { [self] in
      Thread.sleep(forTimeInterval: seconds)
      lock.lock()
      let finished = done
      lock.unlock()
      guard !finished else { return }
      FileHandle.standardError.write(message)
      _exit(ExitStatus.dataError)
    }
    thread.start()
  }

  func finish() {
    lock.lock()
    done = true
    lock.unlock()
  }
}

/// Runs a LiftKit call, turning its errors into the command's messages: names of options
/// (`--target`, `--layer`, `--reference`) in front, usage errors where the command line is at
/// fault; everything else is reported as it is.
func cli<T>(_ body: () throws(LiftKitError) -> T) throws -> T {
  do {
    return try body()
  } catch {
    switch error {
    case .noSuchLayer, .layoutDiffers, .referenceRank:
      throw CLIError.data("--" + error.description)
    case .duplicateLayer(let name):
      throw CLIError.usage("--layer '\(name)' is given twice")
    case .shufflesNeedSingleInput:
      throw CLIError.usage("--shuffles needs a single-input model")
    case .emptyTaskSelection:
      throw CLIError.data("--task all: the target has no outputs")
    case .explain(.graph(let e)):
      throw CLIError.data(e.description)
    case .explain(.contrastOutOfRange), .explain(.taskOutOfRange):
      // The option at fault, in front: `--contrast 5 is out of range: …`.
      throw CLIError.data("--" + error.description)
    default:
      throw error
    }
  }
}

/// Reads one array per model input, in the model's input order, and checks each before any
/// work is done: its float32 size must fit in memory (checked from the header, before
/// allocating), its shape must be the model input's declared per-example shape with a leading
/// example axis (for `--reference` also one axis less or one more), and every value must be
/// finite (the first NaN or ±Inf is reported with its index).
///
/// - Throws: ``CLIError/usage(_:)`` for a missing or unknown NAME, ``CLIError/data(_:)``
///   naming the file otherwise; NumPy read errors.
func readInputs(_ files: FileSet, model: Model, option: String) throws -> [Tensor] {
  let names = model.inputNames
  let paths: [String]
  switch files {
  case .single(let path):
    guard names.count == 1 else {
      throw CLIError.usage("the model has \(names.count) inputs (\(names.joined(separator: ", "))): give \(option) NAME=FILE for each")
    }
    paths = [path]
  case .named(let pairs):
    do {
      paths = try model.arrangeInputs(pairs.map { (name: $0.name, value: $0.path) })
    } catch {
      switch error {
      case .unknownInput(let name, _):
        throw CLIError.usage("\(option) names '\(name)', which is not a model input (inputs: \(names.joined(separator: ", ")))")
      case .missingInput(let name, _):
        throw CLIError.usage("\(option) is missing model input '\(name)' (give \(option) \(name)=FILE)")
      default: throw error
      }
    }
  }
  return try paths.enumerated().map { k, path in
    let file = try NpyFile(url: URL(fileURLWithPath: path))
    try checkShape(file.shape, fits: model.graph, input: k, file: path, option: option)
    if let e = model.tokenEmbedding(input: k) {
      // Token ids: an integer array, looked up in the embedding table (CLI.md, "Integer inputs").
      guard file.dtype.kind == .signedInteger || file.dtype.kind == .unsignedInteger else {
        throw CLIError.data(
          "\(path): input '\(model.inputNames[k])' takes token ids (an integer array, int64 or int32), not \(file.dtype)")
      }
      try checkFitsInMemory(file.shape.dimensions + [e.dimension], what: path)
      let ids = try file.readAll()
      return try cli { () throws(LiftKitError) in try model.embedTokens(ids, input: k, source: path) }
    }
    try checkFitsInMemory(file.shape.dimensions, what: path)
    let tensor = try file.readAll()
    try checkFinite(tensor, name: path)
    return tensor
  }
}

/// Reads a whole `.npy` file as float32, refusing before anything is allocated an array whose
/// float32 size exceeds the machine's physical memory (a sparse or huge file would otherwise
/// get the process killed).
///
/// - Throws: ``CLIError/data(_:)`` naming the file and shape; NumPy read errors.
func readArray(_ path: String) throws -> Tensor {
  let file = try NpyFile(url: URL(fileURLWithPath: path))
  try checkFitsInMemory(file.shape.dimensions, what: path)
  return try file.readAll()
}

/// Throws naming `what` when a float32 array of `dimensions` would not fit in the machine's
/// physical memory (or its size overflows `Int`).
func checkFitsInMemory(_ dimensions: [Int], what: String) throws {
  let memory = ProcessInfo.processInfo.physicalMemory
  guard let count = Shape.checkedCount(dimensions), case (let bytes, false) = count.multipliedReportingOverflow(by: 4),
    UInt64(bytes) <= memory
  else {
    throw CLIError.data(
      "\(what): an array of shape \(shapeText(Shape(dimensions.map { max($0, 0) }))) would not fit in memory (\(memory) bytes)")
  }
}

/// Checks that `shape` is `[N] + declared` for model input `k` (open extents match anything);
/// for `--reference` the rank may also be one less (shared) or one more (`[N, M, …]`).
func checkShape(_ shape: Shape, fits graph: Graph, input k: Int, file: String, option: String) throws {
  guard k < graph.inputs.count, case .input(var declared) = graph[graph.inputs[k]].op else { return }
  // A token-id input is given as ids; its graph input is their embedding vectors.
  if let e = graph.tokenEmbeddings[graph[graph.inputs[k]].name] { declared = e.tokenShape }
  let expected = "(N" + declared.map { ", " + ($0.map(String.init) ?? "?") }.joined() + ")"
  func matches(_ dims: ArraySlice<Int>) -> Bool {
    dims.count == declared.count && zip(dims, declared).allSatisfy { d, e in e == nil || e == d }
  }
  let dims = shape.dimensions
  let ok =
    option == "--reference"
    ? matches(dims[...]) || matches(dims.dropFirst()) || matches(dims.dropFirst(2))
    : !dims.isEmpty && matches(dims.dropFirst())
  guard ok else {
    let what = option == "--input" ? "shape" : "\(option) shape"
    let forms = option == "--reference" ? " (or one example's shape, or (N, M, …))" : ""
    throw CLIError.data(
      "\(file): \(what) \(shapeText(shape)) does not fit model input '\(graph[graph.inputs[k]].name)' \(expected)\(forms)")
  }
}

/// Checks a `--reference` shape against its input's (``ReferenceSet/checkedForm(reference:input:)``:
/// one example's shape, the input's shape, or `[N, M ≥ 1, …]`) and returns its form.
@discardableResult
func checkReferenceShape(_ r: Shape, input x: Shape, file: String, name: String) throws -> ReferenceForm {
  guard let form = ReferenceSet.checkedForm(reference: r, input: x) else {
    throw CLIError.data(
      "\(file): reference shape \(shapeText(r)) does not fit input '\(name)' of shape \(shapeText(x)) (give one example's shape, the input's shape, or (N, M, …))")
  }
  return form
}

/// Checks `--background` rows: at least one, each with the input's example shape.
func checkBackground(_ rows: [Tensor], paths: [String], inputShapes: [Shape], names: [String]) throws {
  for (k, (b, x)) in zip(rows, inputShapes).enumerated() {
    let path = k < paths.count ? paths[k] : "--background"
    guard b.rank >= 1, b.shape[0] >= 1 else {
      throw CLIError.data("\(path): background for input '\(names[k])' has no rows (shape \(shapeText(b.shape)))")
    }
    guard b.shape.dropFirst == x.dropFirst else {
      throw CLIError.data(
        "\(path): background shape \(shapeText(b.shape)) does not fit input shape \(shapeText(x)) (expected (M\(x.dropFirst.dimensions.map { ", \($0)" }.joined())))")
    }
  }
}

/// A shape as NumPy prints it: `()`, `(5,)`, `(4, 3)`.
func shapeText(_ shape: Shape) -> String {
  let d = shape.dimensions
  return d.count == 1 ? "(\(d[0]),)" : "(" + d.map(String.init).joined(separator: ", ") + ")"
}

/// Turns `--reference` / `--background` / `--shuffles` into LiftKit's reference set (the
/// rank of `--reference` arrays decides their form, CLI.md), checking shapes against the
/// inputs and naming the file.
func readReferenceSet(_ source: ReferenceSource, model: Model, inputs: [Tensor], inputFiles: [String]) throws
  -> ReferenceSet
{
  let names = model.inputNames
  switch source {
  case .zeros: return .zeros
  case .profile:
    throw CLIError.usage("--reference mean/median needs --input X.csv")
  case .black, .blur:
    throw CLIError.usage("--reference black / blur:<sigma> needs --input IMAGE.png|.jpg|DIR")
  case .background(let files):
    let rows = try readInputs(files, model: model, option: "--background")
    try checkBackground(rows, paths: files.paths(in: names), inputShapes: inputs.map(\.shape), names: names)
    return .background(rows)
  case .shuffles(let count, let seed):
    if let x = inputs.first {
      try checkFitsInMemory([count] + x.shape.dimensions, what: "\(inputFiles.first ?? "--input"): --shuffles \(count)")
    }
    return .shuffles(count: count, seed: seed)
  case .reference(let files):
    let refs = try readInputs(files, model: model, option: "--reference")
    let paths = files.paths(in: names)
    // Each input's reference takes its own form; LiftKit checks that M agrees.
    for (k, (x, r)) in zip(inputs, refs).enumerated() {
      let path = k < paths.count ? paths[k] : "--reference"
      try checkReferenceShape(r.shape, input: x.shape, file: path, name: names[k])
    }
    return .arrays(refs)
  }
}

/// Writes one array (`.npy`) or several (`.npz`, one member per name) into `transaction`.
func writeOutputs(_ arrays: [Tensor], names: [String], to path: String, transaction: OutputTransaction) throws {
  let url = URL(fileURLWithPath: path)
  if arrays.count == 1 && url.pathExtension.lowercased() != "npz" {
    try NumPy.write(arrays[0], to: url, transaction: transaction)
  } else {
    try NumPy.writeArchive(zip(names, arrays).map { (name: $0, tensor: $1) }, to: url, transaction: transaction)
  }
}

func note(_ message: String) {
  var err = StandardError()
  print(message, to: &err)
}

/// Whether `path` names an existing directory.
func isDirectory(_ path: String) -> Bool {
  var directory: ObjCBool = false
  return FileManager.default.fileExists(atPath: path, isDirectory: &directory) && directory.boolValue
}

extension FileSet {
  /// `--input IMAGE.png|.jpg|.jpeg|DIR`: pictures.
  var isImage: Bool {
    guard case .single(let path) = self else { return false }
    return ImageRows.extensions.contains(URL(fileURLWithPath: path).pathExtension.lowercased()) || isDirectory(path)
  }

  /// `--input X.csv`: a table with a header of feature names.
  var isTable: Bool {
    if case .single(let path) = self { return URL(fileURLWithPath: path).pathExtension.lowercased() == "csv" }
    return false
  }

  /// The paths in the model's input order (as ``readInputs(_:model:option:)`` reads them).
  func paths(in names: [String]) -> [String] {
    switch self {
    case .single(let path): return [path]
    case .named(let pairs):
      return names.compactMap { name in pairs.first { $0.name == name }?.path }
    }
  }
}

extension ExplainRequest {
  /// The run's outputs, planned against the files it reads (``OutputTransaction``): the
  /// model, inputs, references or backgrounds; `--output`, `--plot`, the `--modisco`
  /// directory and the files in it (for `--task all` the task files are known only once the
  /// model is loaded: the transaction checks them when they are written, still before any
  /// output is in place).
  func plannedOutputs() throws -> OutputTransaction {
    var read = models.map { FileRole("the model", $0) }
    switch sequences {
    case .fasta(let path)?: read.append(FileRole("--fasta", path))
    case .genome(let genome, let regions)?:
      read += [FileRole("--genome", genome), FileRole("--regions", regions)]
      // An existing index is an input too; a missing one is written by the run.
      for index in [genome + ".fai", genome + ".gzi"] where FileManager.default.fileExists(atPath: index) {
        read.append(FileRole("--genome", index))
      }
    case nil where image != nil:
      // A directory of pictures: each picture is an input (an output must not replace one).
      for path in inputs.paths {
        let pictures = isDirectory(path) ? (try? ImageRows.pictures(in: URL(fileURLWithPath: path))) : nil
        read += (pictures?.map(\.relativePath) ?? [path]).map { FileRole("--input", $0) }
      }
    case nil: read += inputs.paths.map { FileRole("--input", $0) }
    }
    switch references {
    case .reference(let files): read += files.paths.map { FileRole("--reference", $0) }
    case .background(let files): read += files.paths.map { FileRole("--background", $0) }
    case .profile(_, let path?): read.append(FileRole("--reference", path))
    case .zeros, .shuffles, .profile, .black, .blur: break
    }
    var written = [FileRole("--output", output)]
    if let bigwig { written.append(FileRole("--bigwig", bigwig)) }
    if let plot { written.append(FileRole("--plot", plot)) }
    if let modisco {
      written.append(FileRole("--modisco", modisco, isDirectory: true))
      let names: [String]
      switch tasks {
      case .indices(let k): names = ModiscoSink.fileNames(tasks: k)
      case .profile: names = ModiscoSink.fileNames(tasks: [0])
      case .all: names = ["ohe.npz"]
      }
      written += names.map { FileRole("--modisco", URL(fileURLWithPath: modisco).appendingPathComponent($0).relativePath) }
    }
    return try OutputTransaction(inputs: read, outputs: written)
  }
}
