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

#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

/// Runs `deeplift explain`.
func runExplain(_ request: ExplainRequest) throws {
  try checkNotOverwritingInputs(request.output, [request.model] + request.inputs.paths + request.referencePaths)
  if let plot = request.plot {
    try checkNotOverwritingInputs(plot, [request.model, request.output] + request.inputs.paths + request.referencePaths, option: "--plot")
  }
  if let threads = request.threads { BLAS.setThreads(threads) }
  let model = try loadModel(request.model)
  let graph = model.graph
  let inputs = try readInputs(request.inputs, graph: graph, option: "--input")
  // Nothing to explain is an error rather than an empty output (CLI help, "Exit status").
  if let first = inputs.first, first.shape[0] == 0 {
    throw CLIError.data("\(request.inputs.paths[0]): no examples (shape \(shapeText(first.shape))); nothing to explain")
  }
  var options = request.explainOptions
  if request.channelAxis == nil { options.channelAxis = model.channelAxis }
  if let name = request.target { options.target = try node(named: name, in: graph, option: "--target") }
  let target = options.target ?? Explainer.defaultTarget(graph)
  let shapes: [Shape]
  do { shapes = try graph.inferShapes(inputShapes: inputs.map(\.shape)) } catch { throw CLIError.data(error.description) }
  if case .all = request.tasks {
    options.tasks = try request.tasks.resolve(count: shapes[target.rawValue].dropFirst.scalarCount)
  }
  let references = try readReferences(
    request.references, inputs: inputs, graph: graph, channelAxis: options.channelAxis, inputFiles: request.inputs.paths)
  let explainer = try Explainer(graph: graph, options: options)
  let n = inputs[0].shape[0]
  let progress = ProgressBar(total: n, enabled: !request.quiet)
  let result = try explainer.explain(inputs: inputs, references: references) { progress.update($0) }
  progress.finish()
  try writeOutputs(result.scores, names: graph.inputNames, to: request.output)
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
  try checkNotOverwritingInputs(request.output, [request.model] + request.inputs.paths)
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

/// Reads one array per model input, in the graph's input order, and checks each before any
/// work is done: rank and extents must fit the model input's declared per-example shape
/// (`[N] + shape`), and every value must be finite (the first NaN or ±Inf is reported with
/// its index).
///
/// - Throws: ``CLIError/usage(_:)`` for a missing or unknown NAME, ``CLIError/data(_:)``
///   naming the file for a shape that does not fit or a non-finite value; NumPy read errors.
func readInputs(_ files: FileSet, graph: Graph, option: String) throws -> [Tensor] {
  let names = graph.inputNames
  let paths: [String]
  switch files {
  case .single(let path):
    guard names.count == 1 else {
      throw CLIError.usage("the model has \(names.count) inputs (\(names.joined(separator: ", "))): give \(option) NAME=FILE for each")
    }
    paths = [path]
  case .named(let pairs):
    for p in pairs where !names.contains(p.name) {
      throw CLIError.usage("\(option) names '\(p.name)', which is not a model input (inputs: \(names.joined(separator: ", ")))")
    }
    paths = try names.map { name in
      guard let p = pairs.first(where: { $0.name == name }) else {
        throw CLIError.usage("\(option) is missing model input '\(name)' (give \(option) \(name)=FILE)")
      }
      return p.path
    }
  }
  return try zip(graph.inputs, paths).map { id, path in
    let tensor = try readArray(path)
    try checkFinite(tensor, file: path)
    if case .input(let declared) = graph[id].op {
      try checkShape(tensor, fits: declared, file: path, input: graph[id].name, option: option)
    }
    return tensor
  }
}

/// Reads a `.npy` file as float32, refusing before anything is allocated an array whose
/// float32 size exceeds the machine's physical memory (a sparse or huge file would otherwise
/// get the process killed).
///
/// - Throws: ``CLIError/data(_:)`` naming the file and shape; NumPy read errors.
func readArray(_ path: String) throws -> Tensor {
  let file = try NpyFile(url: URL(fileURLWithPath: path))
  let (bytes, overflow) = file.header.scalarCount.multipliedReportingOverflow(by: MemoryLayout<Float>.size)
  let memory = ProcessInfo.processInfo.physicalMemory
  if overflow || UInt64(bytes) > memory {
    throw CLIError.data(
      "\(path): shape \(shapeText(file.shape)) needs \(bytes) bytes as float32, more than this machine's memory (\(memory) bytes)")
  }
  return try file.readAll()
}

/// Throws naming `what` when a float32 array of `dimensions` would not fit in the machine's
/// physical memory (or its size overflows `Int`).
func checkFitsInMemory(_ dimensions: [Int], what: String) throws {
  let memory = ProcessInfo.processInfo.physicalMemory
  guard let count = Shape.checkedCount(dimensions), case let (bytes, false) = count.multipliedReportingOverflow(by: 4),
    UInt64(bytes) <= memory
  else {
    throw CLIError.data("\(what): an array of shape \(shapeText(Shape(dimensions.map { max($0, 0) }))) would not fit in memory (\(memory) bytes)")
  }
}

/// Checks that `tensor` is `[N] + declared` (open extents match anything); for `--reference`
/// the rank may also be one less (shared) or one more (`[N, M, …]`), which
/// ``readReferences(_:inputs:graph:channelAxis:)`` then checks against the inputs.
func checkShape(_ tensor: Tensor, fits declared: [Int?], file: String, input: String, option: String) throws {
  let expected = "(N" + declared.map { ", " + ($0.map(String.init) ?? "?") }.joined() + ")"
  func matches(_ dims: ArraySlice<Int>) -> Bool {
    dims.count == declared.count && zip(dims, declared).allSatisfy { d, e in e == nil || e == d }
  }
  let dims = tensor.shape.dimensions
  let ok: Bool
  switch option {
  case "--reference":
    ok = matches(dims[...]) || matches(dims.dropFirst()) || matches(dims.dropFirst(2))
  default:
    ok = matches(dims.dropFirst()) && !dims.isEmpty
  }
  guard ok else {
    let what = option == "--input" ? "shape" : "\(option) shape"
    let forms = option == "--reference" ? " (or one example's shape, or (N, M, …))" : ""
    throw CLIError.data(
      "\(file): \(what) \(shapeText(tensor.shape)) does not fit model input '\(input)' \(expected)\(forms)")
  }
}

/// Throws naming the file and the index of the first NaN or infinity in `tensor`.
func checkFinite(_ tensor: Tensor, file: String) throws {
  let bad = tensor.withUnsafeBufferPointer { buffer in buffer.firstIndex { !$0.isFinite } }
  guard let bad else { return }
  var index = [Int](repeating: 0, count: tensor.rank)
  var rest = bad
  for axis in stride(from: tensor.rank - 1, through: 0, by: -1) where tensor.shape[axis] > 0 {
    index[axis] = rest % tensor.shape[axis]
    rest /= tensor.shape[axis]
  }
  let value = tensor.withUnsafeBufferPointer { $0[bad] }
  let what = value.isNaN ? "NaN" : (value > 0 ? "inf" : "-inf")
  throw CLIError.data("\(file): \(what) at index [\(index.map(String.init).joined(separator: ", "))]; inputs, references and backgrounds must be finite")
}

/// A shape as NumPy prints it: `()`, `(5,)`, `(4, 3)`.
func shapeText(_ shape: Shape) -> String {
  let d = shape.dimensions
  return d.count == 1 ? "(\(d[0]),)" : "(" + d.map(String.init).joined(separator: ", ") + ")"
}

/// Turns `--reference` / `--background` / `--shuffles` into the library's references,
/// deciding by the reference's rank relative to the input (CLI.md).
func readReferences(
  _ source: ReferenceSource, inputs: [Tensor], graph: Graph, channelAxis: Int, inputFiles: [String]? = nil
) throws -> References {
  switch source {
  case .zeros: return .zeros
  case .background(let files):
    let rows = try readInputs(files, graph: graph, option: "--background")
    for (k, (b, path)) in zip(rows, files.paths(in: graph)).enumerated() {
      guard b.shape[0] >= 1 else {
        throw CLIError.data("\(path): background for input '\(graph.inputNames[k])' has no rows (shape \(shapeText(b.shape)))")
      }
      guard b.shape.dropFirst == inputs[k].shape.dropFirst else {
        throw CLIError.data("\(path): background shape \(shapeText(b.shape)) does not fit input shape \(shapeText(inputs[k].shape)) (expected (M\(inputs[k].shape.dropFirst.dimensions.map { ", \($0)" }.joined())))")
      }
    }
    return .background(rows)
  case .shuffles(let count, let seed):
    guard inputs.count == 1 else { throw CLIError.usage("--shuffles needs a single-input model") }
    let layout: SequenceLayout = channelAxis == 1 ? .ncl : .nlc
    let file = inputFiles?.first ?? "--input"
    try checkFitsInMemory([count] + inputs[0].shape.dimensions, what: "\(file): --shuffles \(count)")
    do {
      return .multiple([try shuffledReferences(inputs[0], shuffles: count, seed: seed, layout: layout)])
    } catch {
      throw CLIError.data("\(file): --shuffles: \(error)")
    }
  case .reference(let files):
    let refs = try readInputs(files, graph: graph, option: "--reference")
    let names = graph.inputNames
    let paths = files.paths(in: graph)
    var kind: Int? = nil
    for (k, (x, r)) in zip(inputs, refs).enumerated() {
      let d = r.rank - x.rank
      let example = x.shape.dropFirst.dimensions
      let fits: Bool
      switch d {
      case -1: fits = r.shape.dimensions == example
      case 0: fits = r.shape == x.shape
      case 1: fits = r.shape[0] == x.shape[0] && r.shape[1] >= 1 && Array(r.shape.dimensions.dropFirst(2)) == example
      default: fits = false
      }
      guard fits else {
        throw CLIError.data("\(paths[k]): reference shape \(shapeText(r.shape)) does not fit input '\(names[k])' of shape \(shapeText(x.shape)) (give one example's shape, the input's shape, or (N, M, …))")
      }
      guard kind == nil || kind == d else { throw CLIError.data("\(paths[k]): --reference arrays mix shared and per-example forms") }
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

/// Refuses an output path that is one of the files read (the same path after resolving
/// symbolic links, or the same existing file by device and inode, which also catches hard
/// links). Usage error, exit 2; nothing has been written.
func checkNotOverwritingInputs(_ output: String, _ inputs: [String], option: String = "--output") throws {
  let out = URL(fileURLWithPath: output).standardizedFileURL.resolvingSymlinksInPath().path
  var outInfo = stat()
  let outExists = stat(output, &outInfo) == 0
  for input in inputs {
    var same = URL(fileURLWithPath: input).standardizedFileURL.resolvingSymlinksInPath().path == out
    var inInfo = stat()
    if !same, outExists, stat(input, &inInfo) == 0 {
      same = inInfo.st_dev == outInfo.st_dev && inInfo.st_ino == outInfo.st_ino
    }
    if same {
      throw CLIError.usage("\(option) \(output) is also an input file (\(input)); choose another output path")
    }
  }
}

func note(_ message: String) {
  var err = StandardError()
  print(message, to: &err)
}

extension FileSet {
  /// The paths in the graph's input order (as ``readInputs(_:graph:option:)`` reads them).
  func paths(in graph: Graph) -> [String] {
    switch self {
    case .single(let path): return [path]
    case .named(let pairs):
      return graph.inputNames.compactMap { name in pairs.first { $0.name == name }?.path }
    }
  }
}

extension ExplainRequest {
  var referencePaths: [String] {
    switch references {
    case .reference(let f), .background(let f): return f.paths
    case .zeros, .shuffles: return []
    }
  }
}
