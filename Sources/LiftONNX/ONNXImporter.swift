import Foundation
import LiftNN
import LiftTensor
import SwiftProtobuf

/// Reads an ONNX model file (`.onnx`) into a ``LiftNN/Graph``.
///
/// Supported: the default operator domain at opsets 7…23, float32 inputs whose first axis is
/// the (possibly symbolic) batch axis and whose other extents are fixed, initializers stored
/// inline or in external data files next to the model, and the operators listed in
/// `Sources/LiftONNX/README.md`. The graph's inputs and outputs keep the ONNX layout
/// (`(N, C, L)` in, the ONNX output shape out); convolutions and pooling run channels-last
/// inside the graph between explicit ``LiftNN/Op/transpose(_:)`` nodes, most of which
/// ``eliminateRedundantTransposes(_:)`` then removes.
///
/// - Parameters:
///   - url: a file URL of the model; external data files are looked up next to it.
///   - optimizeLayout: whether to run ``eliminateRedundantTransposes(_:)`` (default `true`;
///     the result is the same up to float rounding order, which it does not change).
/// - Throws: ``ONNXImportError`` for unreadable files, unsupported operators, opsets or
///   domains, and models the graph IR cannot express — never traps on bad input.
public func loadONNXModel(at url: URL, optimizeLayout: Bool = true) throws(ONNXImportError) -> Graph {
  let data: Data
  do {
    data = try Data(contentsOf: url)
  } catch {
    throw .unreadableFile(path: url.path, reason: (error as NSError).localizedDescription)
  }
  return try loadONNXModel(
    from: data, externalDataDirectory: url.deletingLastPathComponent(), optimizeLayout: optimizeLayout)
}

/// Reads a serialized ONNX `ModelProto` into a ``LiftNN/Graph``; see
/// ``loadONNXModel(at:optimizeLayout:)``.
///
/// - Parameter externalDataDirectory: where initializers with external data are read from;
///   with `nil`, such a model throws ``ONNXImportError/missingExternalData(tensor:file:)``.
public func loadONNXModel(from data: Data, externalDataDirectory: URL? = nil, optimizeLayout: Bool = true)
  throws(ONNXImportError) -> Graph
{
  let model: Onnx_ModelProto
  do {
    model = try Onnx_ModelProto(serializedBytes: data)
  } catch {
    throw .invalidProtobuf(reason: "\(error)")
  }
  var importer = try Importer(model: model, baseDirectory: externalDataDirectory)
  let graph = try importer.run()
  return optimizeLayout ? eliminateRedundantTransposes(graph) : graph
}

// MARK: - Conversion state

/// What an ONNX tensor name stands for while converting.
enum Value: Sendable {
  /// A node of the graph being built, with its per-example ONNX shape (batch axis dropped).
  case node(NodeID, shape: [Int])
  /// A value known at import time.
  case constant(Constant)
}

/// The state shared by the operator converters: tensor names → values, and the nodes emitted
/// so far (in ONNX layout: every emitted node's value equals the ONNX tensor of its name).
struct ConversionContext {
  let opset: Int
  var values: [String: Value] = [:]
  var nodes: [Node] = []
  /// Graph-tensor per-example shapes, by node index.
  var shapes: [[Int]] = []
  var usedNames: Set<String> = []
  /// How many node inputs and graph outputs read each tensor name.
  var useCounts: [String: Int] = [:]
  /// The batch extent fixed by the file, when the first input axis has a `dim_value`.
  var fixedBatch: Int?
  /// Elements constant folding may still allocate: ``LiftNN/TensorLimits/maximumFoldedElements``
  /// plus the elements of every tensor the file stores (initializers, `Constant` nodes), less
  /// what folding has allocated so far. Checked by ``reserveFolded(_:_:)`` before each folded
  /// value is allocated, so the memory an import uses stays within a small multiple of the
  /// file's own tensors plus 2²⁴ elements, whatever the number of nodes.
  var foldingBudget = TensorLimits.maximumFoldedElements
  /// Graph tensors whose ONNX batch axis is not first, by node index (BatchViews.swift).
  var views: [Int: BatchView] = [:]
  /// The integer inputs read through an embedding table, by input node name.
  var tokenEmbeddings: [String: TokenEmbedding] = [:]

  init(opset: Int) { self.opset = opset }

  /// A node name not used yet, derived from `base`.
  mutating func uniqueName(_ base: String) -> String {
    var name = base.isEmpty ? "node" : base
    var k = 2
    while usedNames.contains(name) {
      name = "\(base)#\(k)"
      k += 1
    }
    usedNames.insert(name)
    return name
  }

  /// Appends a node after checking its shape with ``LiftNN/Graph/outputShape(_:inputs:)``.
  mutating func emit(_ op: Op, inputs: [NodeID], name: String, origin: String, onnxNode: Onnx_NodeProto)
    throws(ONNXImportError) -> Value
  {
    let node = Node(op: op, inputs: inputs, name: uniqueName(name), origin: origin)
    let operandShapes = inputs.map { Shape([1] + shapes[$0.rawValue]) }
    let out: Shape
    do {
      out = try Graph.outputShape(node, inputs: operandShapes)
    } catch {
      throw .unsupportedUsage(opType: onnxNode.opType, node: displayName(onnxNode), reason: error.description)
    }
    let perExample = Array(out.dimensions.dropFirst())
    guard TensorLimits.checkedElements(perExample) != nil else {
      throw .unsupportedUsage(
        opType: onnxNode.opType, node: displayName(onnxNode),
        reason: "output examples of shape \(perExample) would have more than \(TensorLimits.maximumElements) elements")
    }
    nodes.append(node)
    shapes.append(perExample)
    return .node(NodeID(nodes.count - 1), shape: perExample)
  }
}

/// The name used for a node in messages: its `name`, else its first output.
func displayName(_ node: Onnx_NodeProto) -> String {
  node.name.isEmpty ? (node.output.first ?? node.opType) : node.name
}

// MARK: - Importer

struct Importer {
  let model: Onnx_ModelProto
  let baseDirectory: URL?
  var context: ConversionContext

  init(model: Onnx_ModelProto, baseDirectory: URL?) throws(ONNXImportError) {
    self.model = model
    self.baseDirectory = baseDirectory
    let defaults = model.opsetImport.filter { $0.domain.isEmpty || $0.domain == "ai.onnx" }
    guard let version = defaults.map({ Int($0.version) }).max() else { throw .unsupportedOpset(version: nil) }
    guard (7...23).contains(version) else { throw .unsupportedOpset(version: version) }
    context = ConversionContext(opset: version)
  }

  mutating func run() throws(ONNXImportError) -> Graph {
    let g = model.graph
    try checkSingleWriters(g)
    // Constants: initializers first (older exporters also list them as graph inputs).
    var initializerNames = Set<String>()
    for t in g.initializer {
      let c = try decodeTensor(t, baseDirectory: baseDirectory)
      context.foldingBudget += c.count
      context.values[t.name] = .constant(c)
      initializerNames.insert(t.name)
    }
    var embeddingGathers = Set<Int>()
    for vi in g.input where !initializerNames.contains(vi.name) {
      let type = vi.type.tensorType.elemType
      if type == Int32(ONNXDataType.int64.rawValue) || type == Int32(ONNXDataType.int32.rawValue) {
        embeddingGathers.formUnion(try addTokenInput(vi, graph: g))
      } else {
        try addInput(vi)
      }
    }
    guard !context.nodes.isEmpty else { throw .invalidModel("the graph has no float inputs") }
    for n in g.node where n.output.first?.isEmpty ?? true {
      throw .invalidModel("node '\(displayName(n))' (\(n.opType)) has no output")
    }
    let (outputNames, notes) = try explainableOutputs(g)
    let needed = neededNodes(
      g.node.enumerated().filter { !embeddingGathers.contains($0.offset) }.map(\.element), outputs: outputNames)
    for n in needed {
      for i in n.input where !i.isEmpty { context.useCounts[i, default: 0] += 1 }
    }
    for o in outputNames { context.useCounts[o, default: 0] += 1 }
    let (nodes, fused) = try fuseErfGELU(needed, context: context)
    // Unsupported operators and domains are reported before anything else can go wrong
    // (an LSTM's initial-state ConstantOfShape, say), all of them in one error.
    var unsupported = UnsupportedKinds()
    var firstError: ONNXImportError?
    for (index, node) in nodes.enumerated() where fused[index] == nil {
      do throws(ONNXImportError) {
        guard node.domain.isEmpty || node.domain == "ai.onnx" else {
          throw .unsupportedDomain(domain: node.domain, opType: node.opType, node: displayName(node))
        }
        _ = try converter(for: node, opset: context.opset)
      } catch {
        firstError = firstError ?? error
        let isDefault = node.domain.isEmpty || node.domain == "ai.onnx"
        unsupported.add(kind: isDefault ? node.opType : "\(node.domain).\(node.opType)", name: displayName(node))
      }
    }
    if let firstError {
      throw unsupported.count == 1 ? firstError : .unsupportedOperators(unsupported, opset: context.opset)
    }
    for (index, node) in nodes.enumerated() {
      let conversion: OperatorConverter
      if let fusedConverter = fused[index] {
        conversion = OperatorConverter(sinceVersion: 1, convert: fusedConverter)
      } else {
        conversion = try converter(for: node, opset: context.opset)
      }
      guard let out = node.output.first, !out.isEmpty else {
        throw .invalidModel("node '\(displayName(node))' has no output")
      }
      // A constant broadcast over the batch reaches only converters that keep its axis 0 the
      // batch axis (ShapeFolding.swift).
      if !batchBroadcastAware.contains(node.opType) {
        for i in node.input.indices where !node.input[i].isEmpty {
          if case .constant(let c)? = context.values[node.input[i]], c.batchBroadcast {
            throw .unsupportedUsage(
              opType: node.opType, node: displayName(node),
              reason: "input \(i) ('\(node.input[i])') is a constant broadcast over the batch, which \(node.opType) does not take")
          }
        }
      }
      if !batchBroadcastAxisAware.contains(node.opType) {
        for i in node.input.indices where !node.input[i].isEmpty {
          if case .constant(let c)? = context.values[node.input[i]], let k = c.batchBroadcastAxis {
            throw .unsupportedUsage(
              opType: node.opType, node: displayName(node),
              reason: "input \(i) ('\(node.input[i])') is a constant broadcast over the batch on its axis \(k) (a recurrent layer's initial state), which \(node.opType) does not take")
          }
        }
      }
      // A tensor whose batch axis is not first reaches only converters that know views.
      let viewed = node.input.compactMap { name -> NodeID? in
        guard case .node(let id, _)? = context.values[name], !context.view(id).isNormal else { return nil }
        return id
      }
      if let first = viewed.first {
        guard batchViewAware.contains(node.opType) else {
          throw .unsupportedUsage(
            opType: node.opType, node: displayName(node),
            reason: "its input's batch axis is not first (moved by a Transpose or merged by a Reshape), which \(node.opType) does not take")
        }
        try checkViewOperands(node, context, view: context.view(first))
      }
      var result = try conversion.convert(node, &context)
      if let first = viewed.first, batchViewPreserving.contains(node.opType), case .node(let id, _) = result {
        context.views[id.rawValue] = context.view(first)
      }
      if case .constant(var c) = result {
        c.isInteger = integerResult(node, context)
        result = .constant(c)
      }
      context.values[out] = result
      // Dropout's mask, MaxPool's indices, BatchNormalization's running statistics: only the
      // first output is produced (Split defines all of its own).
      for extra in node.output.dropFirst()
      where !extra.isEmpty && (context.useCounts[extra] ?? 0) > 0 && context.values[extra] == nil {
        throw .unsupportedUsage(
          opType: node.opType, node: displayName(node),
          reason: "only the first output can be used, '\(extra)' is read")
      }
    }

    var outputs = [NodeID]()
    for o in outputNames {
      guard let v = context.values[o] else { throw .missingTensor(name: o, node: "graph output") }
      guard case .node(let id, _) = v else {
        throw .invalidModel("output '\(o)' is a constant, not computed from the inputs")
      }
      guard context.view(id).isNormal else {
        throw .invalidModel("output '\(o)' has its batch axis elsewhere than first")
      }
      outputs.append(id)
    }
    guard !outputs.isEmpty else { throw .invalidModel("the graph has no outputs") }
    var graph = buildGraph(nodes: context.nodes, outputs: outputs)
    graph.notes = notes
    graph.tokenEmbeddings = context.tokenEmbeddings
    return graph
  }

  /// The graph outputs that can be explained, by tensor name, and a note for each one that
  /// changed: a classifier's `ZipMap` output (skl2onnx: a sequence of {class: probability}
  /// maps) is explained as the probability tensor it maps; an output that is not a float
  /// tensor (skl2onnx's ArgMax label, int64 or string) is skipped.
  ///
  /// - Throws: ``ONNXImportError/invalidModel(_:)`` when no output is left.
  func explainableOutputs(_ g: Onnx_GraphProto) throws(ONNXImportError) -> (names: [String], notes: [String]) {
    var producer = [String: Onnx_NodeProto]()
    for n in g.node {
      for o in n.output where !o.isEmpty { producer[o] = n }
    }
    var names = [String](), notes = [String]()
    for o in g.output {
      if let p = producer[o.name], p.opType == "ZipMap", p.domain == "ai.onnx.ml", let input = p.input.first {
        names.append(input)
        notes.append(
          "output '\(o.name)' (ZipMap: a list of {class: probability} maps) is explained as the probability tensor it maps, '\(input)'")
        continue
      }
      let type = o.type
      let kind: String? =
        switch type.value {
        case .tensorType(let t):
          t.elemType == Int32(ONNXDataType.float.rawValue) || t.elemType == 0 ? nil : onnxDataTypeName(Int(t.elemType))
        case .sequenceType: "a sequence"
        case .mapType: "a map"
        case nil: nil
        default: "not a tensor"
        }
      if let kind {
        notes.append("output '\(o.name)' (\(kind)) is skipped: only float outputs are explained (a class label from ArgMax has no gradient)")
        continue
      }
      names.append(o.name)
    }
    guard !names.isEmpty else {
      throw .invalidModel("no output can be explained: \(notes.joined(separator: "; "))")
    }
    return (names, notes)
  }

  /// The nodes the kept outputs depend on, in file order (what feeds only skipped outputs,
  /// such as a label's ArgMax, is not converted).
  func neededNodes(_ nodes: [Onnx_NodeProto], outputs: [String]) -> [Onnx_NodeProto] {
    var producer = [String: Int]()
    for (i, n) in nodes.enumerated() {
      for o in n.output where !o.isEmpty { producer[o] = i }
    }
    var keep = Set<Int>()
    var stack = outputs.compactMap { producer[$0] }
    while let i = stack.popLast() {
      guard keep.insert(i).inserted else { continue }
      for input in nodes[i].input where !input.isEmpty {
        if let j = producer[input] { stack.append(j) }
      }
    }
    return nodes.indices.filter { keep.contains($0) }.map { nodes[$0] }
  }

  /// Every tensor name has one writer: an initializer, a graph input, or one node output.
  /// (Otherwise which value a reader sees would depend on the order of conversion: the last
  /// writer won silently.) A graph input may also be listed as an initializer, which older
  /// exporters do for weights.
  func checkSingleWriters(_ g: Onnx_GraphProto) throws(ONNXImportError) {
    var writer = [String: String]()
    for t in g.initializer {
      if writer[t.name] != nil {
        throw .invalidModel("two initializers are named '\(t.name)'")
      }
      writer[t.name] = "initializer '\(t.name)'"
    }
    var inputNames = Set<String>()
    for vi in g.input {
      guard inputNames.insert(vi.name).inserted else {
        throw .invalidModel("two graph inputs are named '\(vi.name)'")
      }
      if writer[vi.name] == nil { writer[vi.name] = "graph input '\(vi.name)'" }
    }
    for n in g.node {
      for o in n.output where !o.isEmpty {
        let this = "node '\(displayName(n))' (\(n.opType))"
        if let earlier = writer[o] {
          throw .invalidModel("tensor '\(o)' is written by both \(earlier) and \(this)")
        }
        writer[o] = this
      }
    }
  }

  /// The per-example extents a graph input declares (axis 0, the batch, may be open; a fixed
  /// one is recorded in ``ConversionContext/fixedBatch``).
  ///
  /// - Throws: ``ONNXImportError/dynamicDimension(input:axis:)`` for no shape or an open extent
  ///   after axis 0.
  mutating func declaredExampleShape(_ vi: Onnx_ValueInfoProto) throws(ONNXImportError) -> [Int] {
    let dims = vi.type.tensorType.shape.dim
    guard !dims.isEmpty else { throw .dynamicDimension(input: vi.name, axis: 0) }
    var perExample = [Int]()
    for (axis, d) in dims.enumerated() {
      var extent: Int?
      if case .dimValue(let v) = d.value, v > 0 { extent = Int(v) }
      if axis == 0 {
        if let extent { context.fixedBatch = extent }
        continue
      }
      guard let extent else { throw .dynamicDimension(input: vi.name, axis: axis) }
      perExample.append(extent)
    }
    return perExample
  }

  mutating func addInput(_ vi: Onnx_ValueInfoProto) throws(ONNXImportError) {
    let t = vi.type.tensorType
    guard t.elemType == Int32(ONNXDataType.float.rawValue) else {
      throw .unsupportedDataType(tensor: vi.name, dataType: Int(t.elemType))
    }
    let perExample = try declaredExampleShape(vi)
    // The declared shape is the first size read from the file: every later shape derives
    // from it, so it is capped before any shape arithmetic (Flatten's product, …).
    guard TensorLimits.checkedElements(perExample) != nil else {
      throw .invalidTensor(
        name: vi.name,
        reason: "the input declares examples of shape \(perExample), more than \(TensorLimits.maximumElements) elements")
    }
    let name = context.uniqueName(vi.name)
    context.nodes.append(
      Node(op: .input(shape: perExample.map { $0 }), inputs: [], name: name, origin: "input"))
    context.shapes.append(perExample)
    context.values[vi.name] = .node(NodeID(context.nodes.count - 1), shape: perExample)
  }
}

extension Importer {
  /// An int64/int32 graph input read by one `Gather` (axis 0) of a `[V, D]` initializer — the
  /// ONNX form of `nn.Embedding` — becomes a float input of per-example shape `L… + [D]` under
  /// the same name, standing for the Gather's output, with the table recorded as its
  /// ``LiftNN/TokenEmbedding``. Returns the indices in `graph.node` of that Gather and of the
  /// integer Casts between it and the input, which are not converted.
  ///
  /// - Throws: ``ONNXImportError/unsupportedDataType(tensor:dataType:)`` when the input is
  ///   read otherwise (the message names the reader), open extents as ``addInput(_:)``.
  mutating func addTokenInput(_ vi: Onnx_ValueInfoProto, graph g: Onnx_GraphProto) throws(ONNXImportError) -> Set<Int> {
    let type = Int(vi.type.tensorType.elemType)
    func refuse(_ reason: String) -> ONNXImportError {
      .invalidModel(
        "input '\(vi.name)' is \(onnxDataTypeName(type)): integer inputs are taken only as token ids of an embedding (one Gather, axis 0, of a [V, D] initializer, possibly after a Cast to an integer type; Shape of the ids is allowed too); \(reason)")
    }
    // `Shape` of the ids (HuggingFace's `input_ids.size()`) is allowed beside the Gather: it
    // reads only the ids' shape, which is known. A Cast to another integer type (int32 ids
    // cast to int64) is followed.
    var ids = [vi.name]
    var skipped = Set<Int>()
    var reader: (offset: Int, element: Onnx_NodeProto)
    while true {
      let current = ids.last!
      let readers = g.node.enumerated().filter { $0.element.input.contains(current) && $0.element.opType != "Shape" }
      guard readers.count == 1, let only = readers.first else {
        throw refuse(
          readers.isEmpty
            ? "no node reads '\(current)'"
            : "'\(current)' is read by \(readers.count) nodes (\(readers.map { "'\(displayName($0.element))' (\($0.element.opType))" }.joined(separator: ", ")))")
      }
      let integerTypes = [ONNXDataType.int32, .int64].map(\.rawValue)
      guard only.element.opType == "Cast", only.element.domain.isEmpty || only.element.domain == "ai.onnx",
        integerTypes.contains(Attributes(only.element).int("to", 0)), let next = only.element.output.first, !next.isEmpty,
        ids.count < 8
      else {
        reader = only
        break
      }
      skipped.insert(only.offset)
      ids.append(next)
    }
    let (index, gather) = reader
    guard gather.opType == "Gather", gather.input.count == 2, gather.input[1] == ids.last!, !ids.contains(gather.input[0]),
      gather.domain.isEmpty || gather.domain == "ai.onnx"
    else {
      throw refuse("it is read by node '\(displayName(gather))' (\(gather.opType))")
    }
    guard Attributes(gather).int("axis", 0) == 0 else {
      throw refuse("node '\(displayName(gather))' gathers along axis \(Attributes(gather).int("axis", 0))")
    }
    guard case .constant(let table)? = context.values[gather.input[0]], table.rank == 2, !table.batchBroadcast,
      table.dims[0] >= 1, table.dims[1] >= 1
    else {
      throw refuse("node '\(displayName(gather))' reads '\(gather.input[0])', which is not a [V, D] initializer")
    }
    guard let out = gather.output.first, !out.isEmpty else {
      throw .invalidModel("node '\(displayName(gather))' has no output")
    }
    skipped.insert(index)
    let tokenShape = try declaredExampleShape(vi)
    let perExample = tokenShape + [table.dims[1]]
    guard TensorLimits.checkedElements(perExample) != nil else {
      throw .invalidTensor(
        name: vi.name,
        reason: "the embedded input has examples of shape \(perExample), more than \(TensorLimits.maximumElements) elements")
    }
    let name = context.uniqueName(vi.name)
    context.nodes.append(Node(op: .input(shape: perExample.map { $0 }), inputs: [], name: name, origin: "Gather (embedding)"))
    context.shapes.append(perExample)
    context.values[out] = .node(NodeID(context.nodes.count - 1), shape: perExample)
    // The ids themselves (and their casts) stand for the input node with their own shape:
    // only `Shape` reads them.
    for i in ids { context.values[i] = .node(NodeID(context.nodes.count - 1), shape: tokenShape) }
    context.tokenEmbeddings[name] = TokenEmbedding(
      table: table.tensor(), tokenShape: tokenShape.map { $0 }, layer: displayName(gather))
    return skipped
  }
}

/// Indices of `outputs` and their ancestors.
func liveNodes(_ nodes: [Node], outputs: [NodeID]) -> Set<Int> {
  var live = Set<Int>()
  var stack = outputs.map(\.rawValue)
  while let i = stack.popLast() {
    guard live.insert(i).inserted else { continue }
    stack.append(contentsOf: nodes[i].inputs.map(\.rawValue))
  }
  return live
}

/// Builds a ``LiftNN/Graph`` from nodes in topological order, keeping every input and the
/// ancestors of `outputs` only (IDs are renumbered).
func buildGraph(nodes: [Node], outputs: [NodeID]) -> Graph {
  let live = liveNodes(nodes, outputs: outputs)
  var graph = Graph()
  var newID = [Int: NodeID]()
  for (i, n) in nodes.enumerated() {
    var isInput = false
    if case .input = n.op { isInput = true }
    guard isInput || live.contains(i) else { continue }
    newID[i] = graph.add(n.op, inputs: n.inputs.map { newID[$0.rawValue]! }, name: n.name, origin: n.origin)
  }
  graph.outputs = outputs.map { newID[$0.rawValue]! }
  return graph
}
