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
/// and committing them at the end.
func runExplain(_ request: ExplainRequest, outputs: OutputTransaction) throws {
  var request = request
  let clock = BenchTiming()
  defer { clock.report() }
  if let threads = request.threads { BLAS.setThreads(threads) }
  let model = try loadModel(request.model, quiet: request.quiet)
  if request.batchSize == nil { request.batchSize = model.suggestedBatchSize }
  let explainer = try cli { () throws(LiftKitError) in
    try model.explainer(method: request.method, target: request.target, options: request.attributionOptions)
  }
  clock.loaded()
  if !request.quiet {
    if !explainer.normalizedConvolutions.isEmpty {
      note("note: mean-normalised the weights of \(explainer.normalizedConvolutions.map { "'\($0)'" }.joined(separator: ", ")) over the channels (outputs unchanged on one-hot input)")
    }
    if request.softmaxNormalize && !explainer.targetFeedsSoftmax {
      note("note: --softmax-normalize: the target '\(explainer.target)' does not feed a softmax; its weights were mean-normalised over its units anyway")
    }
  }
  if inputsAreStreamable(request, model: model) {
    try runExplainStreaming(request, model: model, explainer: explainer, outputs: outputs)
    return
  }
  let inputs = try readInputs(request.inputs, model: model, option: "--input")
  // Nothing to explain is an error rather than an empty output (CLI help, "Exit status").
  if inputs[0].shape[0] == 0 {
    throw CLIError.data("\(request.inputs.paths(in: model.inputNames)[0]): no examples (shape \(shapeText(inputs[0].shape))); nothing to explain")
  }
  let channelAxis = request.channelAxis ?? model.channelAxis
  if request.modisco != nil { try checkModiscoInputs(inputs, inputNames: model.inputNames, channelAxis: channelAxis) }
  let references = try readReferenceSet(
    request.references, model: model, inputs: inputs, inputFiles: request.inputs.paths(in: model.inputNames))
  let plan = try cli { () throws(LiftKitError) in
    try explainer.batchPlan(inputShapes: inputs.map(\.shape), references: references)
  }
  noteBatchPlan(plan, quiet: request.quiet)
  let n = inputs[0].shape[0]
  let progress = ProgressBar(total: n, enabled: !request.quiet)
  let result = try cli { () throws(LiftKitError) in
    try explainer.explain(inputs: inputs, references: references) { progress.update($0) }
  }
  progress.finish()
  try checkSummation(request, result.summation)
  // TF-MoDISco wants hypothetical scores: reuse the run's own when it computed them, else a
  // second run with the same references (computed before anything is written).
  var modisco: Attribution? = nil
  if request.modisco != nil {
    if result.kind == .hypothetical {
      modisco = result
    } else {
      var o = request.attributionOptions
      o.output = .hypothetical
      o.layers = []
      let hypothetical = try cli { () throws(LiftKitError) in
        try model.explainer(method: request.method, target: request.target, options: o)
      }
      modisco = try cli { () throws(LiftKitError) in try hypothetical.explain(inputs: inputs, references: references) }
    }
  }
  if request.layers.isEmpty {
    try writeOutputs(result.scores, names: result.inputNames, to: request.output, transaction: outputs)
  } else {
    let arrays = result.namedArrays
    try NumPy.writeArchive(arrays, to: URL(fileURLWithPath: request.output), transaction: outputs)
  }
  var written: [URL] = []
  if let directory = request.modisco, let hyp = modisco {
    written = try writeModiscoInputs(
      sequences: inputs[0], hypothetical: hyp.scores[0], tasks: hyp.tasks, channelAxis: channelAxis,
      to: URL(fileURLWithPath: directory), transaction: outputs)
  }
  if let plot = request.plot {
    var o = PlotOptions()
    o.input = inputs[0]
    try renderPlot(scores: result.scores[0], from: request.output, options: o, to: plot, transaction: outputs)
  }
  try outputs.commit()
  if let directory = request.modisco, !request.quiet {
    note("modisco: wrote \(written.map(\.lastPathComponent).joined(separator: ", ")) to \(directory) (N, 4, L)")
  }
  reportConvergence(request, result.summation, examples: n, target: result.target, contrast: result.contrast)
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

/// One note when the memory budget made the batches smaller than `--batch-size` asked.
func noteBatchPlan(_ plan: BatchPlan, quiet: Bool) {
  guard plan.isClamped, !quiet else { return }
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

/// Single-input models whose scores go to one `.npy` are explained batch by batch: rows of the
/// input (and of per-example references) are read from disk as needed and the scores are
/// appended to the output file, so memory stays flat in the number of examples
/// (`Benchmarks/rss.sh`). Not with `--modisco`, whose files hold every example's sequence and
/// scores.
func inputsAreStreamable(_ request: ExplainRequest, model: Model) -> Bool {
  guard model.inputNames.count == 1, request.layers.isEmpty, request.modisco == nil, case .single = request.inputs else {
    return false
  }
  return URL(fileURLWithPath: request.output).pathExtension.lowercased() != "npz"
}

func runExplainStreaming(_ request: ExplainRequest, model: Model, explainer: ModelExplainer, outputs: OutputTransaction) throws {
  guard case .single(let inputPath) = request.inputs else { return }
  let input = try NpyFile(url: URL(fileURLWithPath: inputPath))
  let n = input.rowCount
  try checkShape(input.shape, fits: model.graph, input: 0, file: inputPath, option: "--input")
  guard n > 0 else {
    throw CLIError.data("\(inputPath): no examples (shape \(shapeText(input.shape))); nothing to explain")
  }
  // References: arrays shaped like one example (shared) or [M, …] (background) are read
  // whole; per-example ones ([N, …] or [N, M, …]) are read chunk by chunk like the input.
  var perExampleReferences: NpyFile? = nil
  var referencePath: String? = nil
  var fixed: ReferenceSet = .zeros
  var shuffle: (count: Int, rng: RandomState)? = nil
  var referencesPerExample = 1
  switch request.references {
  case .zeros: fixed = .zeros
  case .background(let files):
    let b = try readInputs(files, model: model, option: "--background")
    try checkBackground(b, paths: files.paths(in: model.inputNames), inputShapes: [input.shape], names: model.inputNames)
    referencesPerExample = max(1, b[0].rank > 0 ? b[0].shape[0] : 1)
    fixed = .background(b)
  case .shuffles(let count, let seed):
    try checkFitsInMemory([count] + input.shape.dimensions.dropFirst(), what: "\(inputPath): --shuffles \(count)")
    do { shuffle = (count, try RandomState(validatingSeed: seed)) } catch { throw CLIError.usage("--seed: \(error)") }
    referencesPerExample = count
  case .reference(let files):
    guard case .single(let path) = files else { return }
    let r = try NpyFile(url: URL(fileURLWithPath: path))
    try checkReferenceShape(r.shape, input: input.shape, file: path, name: model.inputNames[0])
    switch r.shape.rank - input.shape.rank {
    case -1:
      let shared = try readArray(path)
      try checkFinite(shared, file: path)
      fixed = .arrays([shared])
    case 0, 1:
      guard r.rowCount == n else {
        throw CLIError.data("--reference for input '\(model.inputNames[0])' has shape \(r.shape) but the input has shape \(input.shape): a per-example reference needs one row per example")
      }
      perExampleReferences = r
      referencePath = path
      if r.shape.rank > input.shape.rank { referencesPerExample = max(1, r.shape[1]) }
    default:
      throw CLIError.data("--reference for input '\(model.inputNames[0])' has shape \(r.shape) but the input has shape \(input.shape): give one example's shape, the input's shape, or [N, M, …]")
    }
  }
  let channelAxis = request.channelAxis ?? model.channelAxis
  let batchSize = request.batchSize ?? 64
  let chunk = max(1, max(batchSize, 1024) / referencesPerExample)
  // The explainer's batch: `batchSize` example–reference pairs for DeepLIFT, `batchSize`
  // examples for the gradient methods (Explainer.explain), fewer when the memory budget says
  // so. Rows shared by every example: zeros, one shared reference, a background.
  var sharedRows = 0
  switch request.references {
  case .zeros: sharedRows = 1
  case .background: sharedRows = referencesPerExample
  case .reference: sharedRows = perExampleReferences == nil ? 1 : 0
  case .shuffles: sharedRows = 0
  }
  let plan = try cli { () throws(LiftKitError) in
    try explainer.batchPlan(
      inputShapes: [input.shape], referencesPerExample: referencesPerExample, sharedReferenceRows: sharedRows)
  }
  noteBatchPlan(plan, quiet: request.quiet)
  let perCall = plan.examples
  let progress = ProgressBar(total: n, enabled: !request.quiet)
  var writer: NpyStreamWriter? = nil
  var summation = SummationReport()
  var firstScores: Tensor? = nil
  var firstInputs: Tensor? = nil
  var target = explainer.target
  var contrast: Int? = nil
  var start = 0
  do {
    repeat {
      // Chunks of `chunk` examples, each split into the explainer's batches from its start,
      // as one explainer call per chunk would; one call per batch, its rows (and per-example
      // references) read just before and its scores appended at once, so nothing of size
      // N or of a whole chunk is held (the split, not the reads, keeps the bytes the same).
      let end = min(n, start + chunk)
      var lo = start
      while lo < end {
        let hi = min(end, lo + perCall)
        let x = try input.readRows(lo..<hi)
        try checkFinite(x, file: inputPath, firstRow: lo)
        let references: ReferenceSet
        if let file = perExampleReferences {
          let rows = try file.readRows(lo..<hi)
          try checkFinite(rows, file: referencePath ?? file.name, firstRow: lo)
          references = .arrays([rows])
        } else if var s = shuffle {
          // The stream is drawn example by example: batch by batch gives the same references.
          let layout: SequenceLayout = channelAxis == 1 ? .ncl : .nlc
          let refs: Tensor
          do { refs = try shuffledReferences(x, shuffles: s.count, rng: &s.rng, layout: layout) } catch {
            throw CLIError.data("--shuffles: \(input.name): \(error)")
          }
          shuffle = s
          references = .explicit(.multiple([refs]))
        } else {
          references = fixed
        }
        let base = lo
        let result = try cli { () throws(LiftKitError) in
          try explainer.explain(inputs: [x], references: references) { progress.update(base + $0) }
        }
        if writer == nil {
          writer = try NpyStreamWriter(
            url: URL(fileURLWithPath: request.output), shape: result.scores[0].shape.dropFirst.prepending(n),
            transaction: outputs)
          // `--plot` draws example 0 only: keep that row (a copy), not the first batch's scores.
          if request.plot != nil {
            firstScores = result.scores[0].slice(batch: 0..<1)
            firstInputs = x.slice(batch: 0..<1)
          }
        }
        try writer!.append(result.scores[0])
        summation.append(result.summation)
        target = result.target
        contrast = result.contrast
        lo = hi
      }
      start = end
    } while start < n
    progress.finish()
    try checkSummation(request, summation)
    try writer!.commit()
  } catch {
    writer?.abort()
    throw error
  }
  if let plot = request.plot, let scores = firstScores {
    var o = PlotOptions()
    o.input = firstInputs
    try renderPlot(scores: scores, from: request.output, options: o, to: plot, transaction: outputs)
  }
  try outputs.commit()
  reportConvergence(request, summation, examples: n, target: target, contrast: contrast)
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
    case .noSuchLayer, .referenceRank:
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
    try checkFitsInMemory(file.shape.dimensions, what: path)
    let tensor = try file.readAll()
    try checkFinite(tensor, file: path)
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
  guard k < graph.inputs.count, case .input(let declared) = graph[graph.inputs[k]].op else { return }
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

/// Checks a `--reference` shape against its input's: one example's shape, the input's shape,
/// or `[N, M ≥ 1, …]`.
func checkReferenceShape(_ r: Shape, input x: Shape, file: String, name: String) throws {
  let example = x.dropFirst.dimensions
  let fits: Bool
  switch r.rank - x.rank {
  case -1: fits = r.dimensions == example
  case 0: fits = r == x
  case 1: fits = r[0] == x[0] && r[1] >= 1 && Array(r.dimensions.dropFirst(2)) == example
  default: fits = false
  }
  guard fits else {
    throw CLIError.data(
      "\(file): reference shape \(shapeText(r)) does not fit input '\(name)' of shape \(shapeText(x)) (give one example's shape, the input's shape, or (N, M, …))")
  }
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

/// Throws naming the file and the index of the first NaN or infinity in `tensor`, whose rows
/// start at row `firstRow` of the file.
func checkFinite(_ tensor: Tensor, file: String, firstRow: Int = 0) throws {
  let bad = tensor.withUnsafeBufferPointer { buffer in buffer.firstIndex { !$0.isFinite } }
  guard let bad else { return }
  var index = [Int](repeating: 0, count: tensor.rank)
  var rest = bad
  for axis in stride(from: tensor.rank - 1, through: 0, by: -1) where tensor.shape[axis] > 0 {
    index[axis] = rest % tensor.shape[axis]
    rest /= tensor.shape[axis]
  }
  if !index.isEmpty { index[0] += firstRow }
  let value = tensor.withUnsafeBufferPointer { $0[bad] }
  let what = value.isNaN ? "NaN" : (value > 0 ? "inf" : "-inf")
  throw CLIError.data(
    "\(file): \(what) at index [\(index.map(String.init).joined(separator: ", "))]; inputs, references and backgrounds must be finite")
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

// MARK: - TF-MoDISco inputs

/// Checks, before any work, that `--modisco` can apply: one model input of one-hot DNA,
/// `[N, L, 4]` (channels last) or `[N, 4, L]` (``ExplainOptions/channelAxis`` 1).
func checkModiscoInputs(_ inputs: [Tensor], inputNames: [String], channelAxis: Int) throws {
  guard inputs.count == 1 else {
    throw CLIError.usage("--modisco needs a single-input sequence model; this one has \(inputs.count) inputs")
  }
  let x = inputs[0]
  let axis = channelAxis < 0 ? x.rank + channelAxis : channelAxis
  guard x.rank == 3, axis == 1 || axis == 2, x.shape[axis] == 4 else {
    throw CLIError.data(
      "--modisco: input '\(inputNames[0])' has shape \(x.shape); TF-MoDISco needs one-hot DNA [N, L, 4] (or [N, 4, L] with --channel-axis 1)")
  }
}

/// Writes the inputs of TF-MoDISco (modisco-lite's `modisco motifs -s ohe.npz -a hyp.npz`)
/// into `directory`, creating it if needed:
///
/// - `ohe.npz`: the one-hot sequences,
/// - `hyp.npz` (one task) or `hyp_task<K>.npz` for each task index K (several tasks): the
///   hypothetical scores of that task,
///
/// each a single float32 array named `arr_0` (the member modisco-lite reads, as
/// `np.savez(path, array)` names it) of shape `(N, 4, L)`, length last, as modisco-lite
/// expects. `sequences` is `[N, L, 4]` (or `[N, 4, L]` when `channelAxis` is 1) and
/// `hypothetical` the same, with a task axis after the batch axis when `tasks.count > 1`.
/// The files (and the directory, if new) are part of `transaction`, which checks each against
/// the run's inputs and other outputs.
///
/// - Returns: the files written, `ohe.npz` first.
@discardableResult
func writeModiscoInputs(
  sequences: Tensor, hypothetical: Tensor, tasks: [Int], channelAxis: Int, to directory: URL,
  transaction: OutputTransaction
) throws -> [URL] {
  let channelsLast = channelAxis != 1
  func lengthLast(_ t: Tensor) -> Tensor { channelsLast ? transposed(t, permutation: [0, 2, 1]) : t }
  let names = modiscoFileNames(tasks: tasks)
  var files: [(URL, Tensor)] = [(directory.appendingPathComponent(names[0]), lengthLast(sequences))]
  if tasks.count == 1 {
    files.append((directory.appendingPathComponent(names[1]), lengthLast(hypothetical)))
  } else {
    precondition(hypothetical.rank == 4 && hypothetical.shape[1] == tasks.count, "hypothetical scores lack the task axis")
    for t in tasks.indices {
      // [N, T, …] -> task t's [N, …]: move the task axis first and take row t.
      let perTask = transposed(hypothetical, permutation: [1, 0, 2, 3]).slice(batch: t..<(t + 1))
      let shape = Shape(Array(perTask.shape.dimensions.dropFirst()))
      files.append((directory.appendingPathComponent(names[t + 1]), lengthLast(perTask.reshaped(shape))))
    }
  }
  try transaction.createDirectory(at: directory)
  for (url, tensor) in files {
    try NumPy.writeArchive([(name: "arr_0", tensor: tensor)], to: url, transaction: transaction)
  }
  return files.map(\.0)
}

/// The files `--modisco` writes for these task indices: `ohe.npz`, then `hyp.npz` (one task)
/// or `hyp_task<K>.npz` per task.
func modiscoFileNames(tasks: [Int]) -> [String] {
  ["ohe.npz"] + (tasks.count == 1 ? ["hyp.npz"] : tasks.map { "hyp_task\($0).npz" })
}

func note(_ message: String) {
  var err = StandardError()
  print(message, to: &err)
}

extension FileSet {
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
    var read = [FileRole("the model", model)] + inputs.paths.map { FileRole("--input", $0) }
    switch references {
    case .reference(let files): read += files.paths.map { FileRole("--reference", $0) }
    case .background(let files): read += files.paths.map { FileRole("--background", $0) }
    case .zeros, .shuffles: break
    }
    var written = [FileRole("--output", output)]
    if let plot { written.append(FileRole("--plot", plot)) }
    if let modisco {
      written.append(FileRole("--modisco", modisco, isDirectory: true))
      let names: [String]
      switch tasks {
      case .indices(let k): names = modiscoFileNames(tasks: k)
      case .all: names = ["ohe.npz"]
      }
      written += names.map { FileRole("--modisco", URL(fileURLWithPath: modisco).appendingPathComponent($0).relativePath) }
    }
    return try OutputTransaction(inputs: read, outputs: written)
  }
}
