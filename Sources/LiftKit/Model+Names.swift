import LiftAttribution
import LiftNN
import LiftTensor

extension Model {
  /// The model's input names, in input order (the order of every per-input array).
  public var inputNames: [String] { graph.inputNames }

  /// Every node name, in topological order: the names ``AttributionOptions/layers`` and the
  /// target accept (`<layer>/preact` is the linear part of a Keras layer with an activation).
  public var layerNames: [String] { graph.nodes.map(\.name) }

  /// The name of the default target: the model's output, or its pre-activation when it ends
  /// in a sigmoid or softmax (paper §3.6).
  public var defaultTarget: String { graph[Explainer.defaultTarget(graph)].name }

  /// The node called `name`.
  ///
  /// - Parameters:
  ///   - name: a node name (see ``layerNames``).
  ///   - role: what the name was given for, for the message (`target`, `layer`).
  /// An ONNX tensor that the graph keeps only channels-last (its node is `name:channels_last`,
  /// whose element order differs from the ONNX tensor's) is refused rather than resolved, so
  /// values, `--task` indices and layer scores are never silently in the wrong order.
  ///
  /// - Throws: ``LiftKitError/noSuchLayer(name:role:layers:)``,
  ///   ``LiftKitError/layoutDiffers(name:role:internalName:)``.
  public func node(named name: String, role: String = "layer") throws(LiftKitError) -> NodeID {
    guard let id = graph.node(named: name) else {
      let internalName = name + ":channels_last"
      if graph.node(named: internalName) != nil {
        throw .layoutDiffers(name: name, role: role, internalName: internalName)
      }
      throw .noSuchLayer(name: name, role: role, layers: layerNames)
    }
    return id
  }

  /// Puts values given by input name into the model's input order.
  ///
  /// - Throws: ``LiftKitError/unknownInput(name:inputs:)`` for a name that is not an input
  ///   (checked first, in the order given), ``LiftKitError/missingInput(name:inputs:)`` for an
  ///   input without a value.
  public func arrangeInputs<Value>(_ named: [(name: String, value: Value)]) throws(LiftKitError) -> [Value] {
    let names = inputNames
    for p in named where !names.contains(p.name) { throw .unknownInput(name: p.name, inputs: names) }
    var result = [Value]()
    for name in names {
      guard let p = named.first(where: { $0.name == name }) else {
        throw .missingInput(name: name, inputs: names)
      }
      result.append(p.value)
    }
    return result
  }

  /// ``arrangeInputs(_:)`` for a dictionary.
  public func arrangeInputs<Value>(_ named: [String: Value]) throws(LiftKitError) -> [Value] {
    try arrangeInputs(named.map { (name: $0.key, value: $0.value) }.sorted { $0.name < $1.name })
  }

  /// The outputs of `layers` (default: the model outputs) for `inputs`, computed in batches
  /// of `batchSize` examples.
  ///
  /// - Parameters:
  ///   - inputs: one `[N, …]` tensor per model input, in input order.
  ///   - layers: the nodes to output (see ``node(named:role:)``); `nil` for the model outputs.
  ///   - batchSize: examples per forward pass (memory only, never results); lowered to what
  ///     fits the memory budget (``predictionBatchSize(inputShapes:layers:requested:)``).
  /// - Returns: one `[N, …]` tensor per layer.
  /// - Throws: ``LiftKitError/explain(_:)`` wrapping the shape error of inputs that do not fit,
  ///   or the memory-budget error when one example or the outputs cannot fit.
  public func predict(inputs: [Tensor], layers: [NodeID]? = nil, batchSize: Int = 64)
    throws(LiftKitError) -> [Tensor]
  {
    let outputs = layers ?? graph.outputs
    guard inputs.count == graph.inputs.count else {
      throw .inputCount(expected: inputNames, found: inputs.count)
    }
    guard inputs.allSatisfy({ $0.rank >= 1 }) else {
      throw .explain(.inputs("every input needs a batch axis"))
    }
    let batchSize = try predictionBatchSize(inputShapes: inputs.map(\.shape), layers: outputs, requested: batchSize)
    let n = inputs.first.map { $0.shape[0] } ?? 0
    var parts = [[Tensor]](repeating: [], count: outputs.count)
    var start = 0
    // Batches bound the memory of the intermediate activations.
    repeat {
      let end = min(n, start + max(1, batchSize))
      let xs = inputs.map { $0.slice(batch: start..<end) }
      let values: [Tensor?]
      do { values = try forward(graph, inputs: xs, computing: Set(outputs)) } catch {
        throw .explain(.graph(error))
      }
      for (k, id) in outputs.enumerated() { parts[k].append(values[id.rawValue]!) }
      start = end
    } while start < n
    return parts.map { Tensor.concatenate(batches: $0) }
  }
}

extension Model {
  /// Examples per forward pass of ``predict(inputs:layers:batchSize:)`` for inputs of
  /// `inputShapes` (full shapes `[N, …]`): `requested`, lowered so that the activations of
  /// one pass (every node `layers` depend on, `4 · Σ elements` per example — the executor
  /// keeps them all until the pass ends) fit the memory budget (`MemoryBudget` in LiftNN). The
  /// outputs of all N examples, held whole, must fit the budget too. Only shapes are read.
  ///
  /// - Throws: ``LiftKitError/explain(_:)`` with the memory-budget error (naming the largest
  ///   layer and its shape) when one example or the outputs do not fit, or a shape error.
  public func predictionBatchSize(inputShapes: [Shape], layers: [NodeID]? = nil, requested: Int) throws(LiftKitError)
    -> Int
  {
    let outputs = layers ?? graph.outputs
    do throws(GraphError) {
      let batch = try graph.examplesPerForwardPass(
        inputShapes: inputShapes, computing: Set(outputs), requested: max(1, requested))
      // The results of every example, concatenated at the end (the parts and the whole).
      let shapes = try graph.inferShapes(inputShapes: inputShapes)
      let footprint = graph.activationFootprint(shapes: shapes, nodes: Set(outputs))
      let n = inputShapes.first.map { $0.rank > 0 ? $0[0] : 1 } ?? 0
      let total = ActivationFootprint.saturatingProduct(2 * n, footprint.bytesPerExample)
      guard total <= MemoryBudget.bytes else {
        throw footprint.exceeding(MemoryBudget.bytes, needed: total, what: "the outputs of \(n) examples", in: graph)
      }
      return batch
    } catch {
      throw .explain(.graph(error))
    }
  }

  /// A batch size (example–reference pairs per forward/backward batch) suited to this
  /// model's activation sizes: 16 when some layer's output holds at least 128 KiB per example
  /// (1000-bp sequence CNNs such as Basset or BPNet), 64 otherwise.
  ///
  /// Why: every per-batch buffer (activations, im2col columns, multipliers) is a fresh
  /// allocation, and above glibc's 32 MB mmap ceiling each one is mapped and faulted in anew.
  /// Measured on the BPNet-like bench model (2 threads, quiet machine): 64 pairs per batch
  /// took 125k page faults and 0.53 s, 16 pairs 35k faults and 0.40 s (Basset 0.157 → 0.140 s);
  /// small models (MNIST, tabular MLPs) are as fast or faster at 64. Results never depend on
  /// the batch size. Layers whose shape depends on an input extent the model leaves open are
  /// not counted (their size is unknown until the data is read).
  public var suggestedBatchSize: Int {
    guard let shapes = try? graph.inferExampleShapes() else { return 64 }
    let largest = shapes.compactMap { shape -> Int? in
      let known = shape.compactMap { $0 }
      return known.count == shape.count ? TensorLimits.checkedElements(known) : nil
    }.max() ?? 0
    return largest * MemoryLayout<Float>.size >= 128 * 1024 ? 16 : 64
  }
}
