// The work behind the commands. The argument structs in Commands/ parse and validate the
// command line and check that the named files exist; these functions load the model, read
// the arrays, call the library (LiftKit / LiftAttribution) and write outputs with LiftIO's
// atomic writers, so a failure never leaves a partial file.
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

/// Runs `deeplift explain`.
func runExplain(_ request: ExplainRequest) throws {
  try checkNotOverwritingInputs(request.output, request.inputs.paths + request.referencePaths)
  if let threads = request.threads { BLAS.setThreads(threads) }
  let model = try loadModel(request.model)
  let graph = model.graph
  let inputs = try readInputs(request.inputs, graph: graph, option: "--input")
  var options = request.explainOptions
  if request.channelAxis == nil { options.channelAxis = model.channelAxis }
  if let name = request.target { options.target = try node(named: name, in: graph, option: "--target") }
  let target = options.target ?? Explainer.defaultTarget(graph)
  let shapes: [Shape]
  do { shapes = try graph.inferShapes(inputShapes: inputs.map(\.shape)) } catch { throw CLIError.data(error.description) }
  if case .all = request.tasks {
    options.tasks = try request.tasks.resolve(count: shapes[target.rawValue].dropFirst.scalarCount)
  }
  if request.modisco != nil { try checkModiscoInputs(inputs, graph: graph, channelAxis: options.channelAxis) }
  let references = try readReferences(request.references, inputs: inputs, graph: graph, channelAxis: options.channelAxis)
  let explainer = try Explainer(graph: graph, options: options)
  let n = inputs[0].shape[0]
  let progress = ProgressBar(total: n, enabled: !request.quiet)
  let result = try explainer.explain(inputs: inputs, references: references) { progress.update($0) }
  progress.finish()
  // TF-MoDISco wants hypothetical scores: reuse the run's own when it computed them, else a
  // second run with the same options and references (computed before anything is written).
  var modiscoScores: Tensor? = nil
  if request.modisco != nil {
    if options.hypothetical && !options.multipliers {
      modiscoScores = result.scores[0]
    } else {
      var h = options
      h.hypothetical = true
      h.multipliers = false
      modiscoScores = try Explainer(graph: graph, options: h).explain(inputs: inputs, references: references).scores[0]
    }
  }
  try writeOutputs(result.scores, names: graph.inputNames, to: request.output)
  if let directory = request.modisco, let hyp = modiscoScores {
    let written = try writeModiscoInputs(
      sequences: inputs[0], hypothetical: hyp, tasks: options.tasks, channelAxis: options.channelAxis,
      to: URL(fileURLWithPath: directory))
    if !request.quiet {
      note("modisco: wrote \(written.map(\.lastPathComponent).joined(separator: ", ")) to \(directory) (N, 4, L)")
    }
  }
  if let plot = request.plot {
    var o = PlotOptions()
    o.input = inputs[0]
    try renderPlot(scores: result.scores[0], options: o, to: URL(fileURLWithPath: plot))
  }
  if options.method.isDeepLIFT && !request.quiet && !options.multipliers && !options.hypothetical {
    let worst = result.convergenceDelta.max() ?? 0
    note("summation-to-delta: worst |sum(scores) - (f(x) - f(ref))| = \(String(format: "%.3g", worst)) over \(n) example(s), target '\(graph[target].name)'")
  }
}

/// Runs `deeplift predict`.
func runPredict(_ request: PredictRequest) throws {
  if let threads = request.threads { BLAS.setThreads(threads) }
  try checkNotOverwritingInputs(request.output, request.inputs.paths)
  let model = try loadModel(request.model)
  let graph = model.graph
  let inputs = try readInputs(request.inputs, graph: graph, option: "--input")
  let outputs: [NodeID]
  if let layer = request.layer {
    outputs = [try node(named: layer, in: graph, option: "--layer")]
  } else {
    outputs = graph.outputs
  }
  let n = inputs[0].shape[0]
  var parts = [[Tensor]](repeating: [], count: outputs.count)
  var start = 0
  // Batches bound the memory of the intermediate activations.
  while start < n || (n == 0 && start == 0) {
    let end = min(n, start + max(1, request.batchSize))
    let xs = inputs.map { $0.slice(batch: start..<end) }
    let values: [Tensor?]
    do { values = try forward(graph, inputs: xs, computing: Set(outputs)) } catch { throw CLIError.data(error.description) }
    for (k, id) in outputs.enumerated() { parts[k].append(values[id.rawValue]!) }
    if n == 0 { break }
    start = end
  }
  let results = parts.map { Tensor.concatenate(batches: $0) }
  try writeOutputs(results, names: outputs.map { graph[$0].name }, to: request.output)
}

/// Runs `deeplift inspect`: one row per node with its kind, per-example output shape,
/// parameter count and operands.
func runInspect(model path: String, common: CommonOptions) throws {
  let model = try loadModel(path)
  let graph = model.graph
  // Shapes from the declared input shapes (unknown extents replaced by 1 for the table).
  var shapes: [Shape]? = nil
  let probe = graph.inputs.map { id -> Shape in
    if case .input(let declared) = graph[id].op { return Shape([1] + declared.map { $0 ?? 1 }) }
    return [1]
  }
  shapes = try? graph.inferShapes(inputShapes: probe)
  var rows: [[String]] = [["layer", "kind", "output shape", "params", "inputs"]]
  var total = 0
  for (i, node) in graph.nodes.enumerated() {
    let kind = node.origin.isEmpty ? node.op.kindName : "\(node.op.kindName) (\(node.origin))"
    var shape = shapes.map { "(" + $0[i].dropFirst.dimensions.map(String.init).joined(separator: ", ") + ")" } ?? "?"
    if case .input(let declared) = node.op {
      shape = "(" + declared.map { $0.map(String.init) ?? "?" }.joined(separator: ", ") + ")"
    }
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

func loadModel(_ path: String) throws -> Model {
  try Model(contentsOf: URL(fileURLWithPath: path))
}

func node(named name: String, in graph: Graph, option: String) throws -> NodeID {
  guard let id = graph.node(named: name) else {
    let names = graph.nodes.map(\.name)
    let shown = names.prefix(12).joined(separator: ", ") + (names.count > 12 ? ", …" : "")
    throw CLIError.data("\(option) '\(name)': no such layer in the model (layers: \(shown))")
  }
  return id
}

/// Reads one array per model input, in the graph's input order.
func readInputs(_ files: FileSet, graph: Graph, option: String) throws -> [Tensor] {
  let names = graph.inputNames
  switch files {
  case .single(let path):
    guard names.count == 1 else {
      throw CLIError.usage("the model has \(names.count) inputs (\(names.joined(separator: ", "))): give \(option) NAME=FILE for each")
    }
    return [try NumPy.read(URL(fileURLWithPath: path))]
  case .named(let pairs):
    for p in pairs where !names.contains(p.name) {
      throw CLIError.usage("\(option) names '\(p.name)', which is not a model input (inputs: \(names.joined(separator: ", ")))")
    }
    return try names.map { name in
      guard let p = pairs.first(where: { $0.name == name }) else {
        throw CLIError.usage("\(option) is missing model input '\(name)' (give \(option) \(name)=FILE)")
      }
      return try NumPy.read(URL(fileURLWithPath: p.path))
    }
  }
}

/// Turns `--reference` / `--background` / `--shuffles` into the library's references,
/// deciding by the reference's rank relative to the input (CLI.md).
func readReferences(_ source: ReferenceSource, inputs: [Tensor], graph: Graph, channelAxis: Int) throws -> References {
  switch source {
  case .zeros: return .zeros
  case .background(let files): return .background(try readInputs(files, graph: graph, option: "--background"))
  case .shuffles(let count, let seed):
    guard inputs.count == 1 else { throw CLIError.usage("--shuffles needs a single-input model") }
    let layout: SequenceLayout = channelAxis == 1 ? .ncl : .nlc
    return .multiple([try shuffledReferences(inputs[0], shuffles: count, seed: seed, layout: layout)])
  case .reference(let files):
    let refs = try readInputs(files, graph: graph, option: "--reference")
    let names = graph.inputNames
    var kind: Int? = nil
    for (k, (x, r)) in zip(inputs, refs).enumerated() {
      let d = r.rank - x.rank
      guard (-1...1).contains(d) else {
        throw CLIError.data("--reference for input '\(names[k])' has shape \(r.shape) but the input has shape \(x.shape): give one example's shape, the input's shape, or [N, M, …]")
      }
      guard kind == nil || kind == d else { throw CLIError.data("--reference arrays mix shared and per-example forms") }
      kind = d
    }
    switch kind {
    case -1: return .shared(refs)
    case 0: return .perExample(refs)
    default: return .multiple(refs)
    }
  }
}

/// Writes one array (`.npy`) or several (`.npz`, one member per name), atomically.
func writeOutputs(_ arrays: [Tensor], names: [String], to path: String) throws {
  let url = URL(fileURLWithPath: path)
  if arrays.count == 1 && url.pathExtension.lowercased() != "npz" {
    try NumPy.write(arrays[0], to: url)
  } else {
    try NumPy.writeArchive(zip(names, arrays).map { (name: $0, tensor: $1) }, to: url)
  }
}

// MARK: - TF-MoDISco inputs

/// Checks, before any work, that `--modisco` can apply: one model input of one-hot DNA,
/// `[N, L, 4]` (channels last) or `[N, 4, L]` (``ExplainOptions/channelAxis`` 1).
func checkModiscoInputs(_ inputs: [Tensor], graph: Graph, channelAxis: Int) throws {
  guard inputs.count == 1 else {
    throw CLIError.usage("--modisco needs a single-input sequence model; this one has \(inputs.count) inputs")
  }
  let x = inputs[0]
  let axis = channelAxis < 0 ? x.rank + channelAxis : channelAxis
  guard x.rank == 3, axis == 1 || axis == 2, x.shape[axis] == 4 else {
    throw CLIError.data(
      "--modisco: input '\(graph.inputNames[0])' has shape \(x.shape); TF-MoDISco needs one-hot DNA [N, L, 4] (or [N, 4, L] with --channel-axis 1)")
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
/// Each file is written atomically.
///
/// - Returns: the files written, `ohe.npz` first.
@discardableResult
func writeModiscoInputs(sequences: Tensor, hypothetical: Tensor, tasks: [Int], channelAxis: Int, to directory: URL) throws
  -> [URL]
{
  let channelsLast = channelAxis != 1
  func lengthLast(_ t: Tensor) -> Tensor { channelsLast ? transposed(t, permutation: [0, 2, 1]) : t }
  var files: [(URL, Tensor)] = [(directory.appendingPathComponent("ohe.npz"), lengthLast(sequences))]
  if tasks.count == 1 {
    files.append((directory.appendingPathComponent("hyp.npz"), lengthLast(hypothetical)))
  } else {
    precondition(hypothetical.rank == 4 && hypothetical.shape[1] == tasks.count, "hypothetical scores lack the task axis")
    for (t, task) in tasks.enumerated() {
      // [N, T, …] -> task t's [N, …]: move the task axis first and take row t.
      let perTask = transposed(hypothetical, permutation: [1, 0, 2, 3]).slice(batch: t..<(t + 1))
      let shape = Shape(Array(perTask.shape.dimensions.dropFirst()))
      files.append((directory.appendingPathComponent("hyp_task\(task).npz"), lengthLast(perTask.reshaped(shape))))
    }
  }
  do {
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
  } catch {
    throw CLIError.data("--modisco \(directory.path): cannot create the directory")
  }
  for (url, tensor) in files { try NumPy.writeArchive([(name: "arr_0", tensor: tensor)], to: url) }
  return files.map(\.0)
}

/// Checks that `path` is a writable directory, or can be created as one (its parent exists and
/// is writable).
func requireWritableDirectory(_ path: String) throws(CLIError) {
  var isDirectory: ObjCBool = false
  if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
    guard isDirectory.boolValue else { throw .data("\(path): exists and is not a directory") }
    guard access(path, W_OK) == 0 else { throw .data("\(path): directory is not writable") }
    return
  }
  let parent = URL(fileURLWithPath: path).deletingLastPathComponent().path
  guard FileManager.default.fileExists(atPath: parent, isDirectory: &isDirectory), isDirectory.boolValue else {
    throw .data("\(path): cannot create (directory \(parent) does not exist)")
  }
  guard access(parent, W_OK) == 0 else { throw .data("\(path): cannot create (directory \(parent) is not writable)") }
}

/// Refuses an output path that is one of the files read.
func checkNotOverwritingInputs(_ output: String, _ inputs: [String]) throws {
  let out = URL(fileURLWithPath: output).standardizedFileURL.resolvingSymlinksInPath().path
  for input in inputs where URL(fileURLWithPath: input).standardizedFileURL.resolvingSymlinksInPath().path == out {
    throw CLIError.usage("--output \(output) is also an input file; choose another output path")
  }
}

func note(_ message: String) {
  var err = StandardError()
  print(message, to: &err)
}

extension ExplainRequest {
  var referencePaths: [String] {
    switch references {
    case .reference(let f), .background(let f): return f.paths
    case .zeros, .shuffles: return []
    }
  }
}
