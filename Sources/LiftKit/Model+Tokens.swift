import LiftNN
import LiftTensor

// Integer (token id) inputs read through an embedding table (``LiftNN/TokenEmbedding``): the
// graph's input is the embedding vectors, so ids are looked up before the forward pass, the
// default reference is token id 0, and the scores of such an input are over its embedding
// vectors (`[N, L…, D]`), with their sums per token (`[N, L…]`) beside them.

extension Model {
  /// The embedding that input `k` is read through, `nil` for a float input.
  public func tokenEmbedding(input k: Int) -> TokenEmbedding? {
    guard k >= 0, k < graph.inputs.count else { return nil }
    return graph.tokenEmbeddings[graph[graph.inputs[k]].name]
  }

  /// The indices of the inputs that take token ids (``tokenEmbedding(input:)``), ascending.
  public var tokenInputs: [Int] { graph.inputs.indices.filter { tokenEmbedding(input: $0) != nil } }

  /// The embedding vectors of the token ids `ids` for input `k` (any leading axes, then the
  /// input's token shape): shape `ids.shape + [D]`. A float input's array is returned as it is.
  ///
  /// - Parameters:
  ///   - ids: the token ids, whole numbers stored as floats (`.npy` integers read as float32).
  ///   - k: the input's index in ``Model/inputNames``.
  ///   - source: the file or option the ids came from, for messages.
  /// - Throws: ``LiftKitError/arrays(_:)`` naming `source`, the input, the row, the position
  ///   within the row and the value, for an id that is not a whole number in `0..<V`.
  public func embedTokens(_ ids: Tensor, input k: Int, source: String) throws(LiftKitError) -> Tensor {
    guard let e = tokenEmbedding(input: k) else { return ids }
    if let (flat, value) = e.firstInvalidID(ids) {
      let rowsShape = Array(ids.shape.dimensions.dropLast(e.tokenShape.count))
      let perRow = ids.shape.dimensions.suffix(e.tokenShape.count).reduce(1, *)
      let row = rowsShape.isEmpty ? "" : " row \(flat / max(perRow, 1)),"
      let shown = value.rounded() == value && abs(value) < 1e15 ? String(Int(value)) : "\(value)"
      throw .arrays(
        "\(source): input '\(graph.inputNames[k])'\(row) position \(flat % max(perRow, 1)): token id \(shown) is outside the embedding table of '\(e.layer)' (ids 0..<\(e.vocabularySize))")
    }
    return e.embedded(ids)
  }

  /// `references` with ``ReferenceSet/zeros`` replaced by ``zeroReferences(inputShapes:)``.
  ///
  /// - Throws: ``LiftKitError/arrays(_:)`` for shuffles on a model with a token-id input
  ///   (dinucleotide shuffles need one-hot sequences).
  func resolvingTokenDefaults(_ references: ReferenceSet, inputShapes: [Shape]) throws(LiftKitError) -> ReferenceSet {
    guard let k = tokenInputs.first else { return references }
    switch references {
    case .zeros: return zeroReferences(inputShapes: inputShapes)
    case .shuffles:
      throw .arrays(
        "shuffled references need a one-hot sequence input; input '\(graph.inputNames[k])' takes token ids (give --reference ids or --background)")
    default: return references
    }
  }

  /// The references that stand for "all zeros" on this model: ``ReferenceSet/zeros`` for a
  /// float-only model; otherwise one shared reference per input — token id 0 at every position
  /// (its embedding vector) for the token inputs, zeros for the others.
  ///
  /// - Parameter inputShapes: the explained inputs' shapes (`[N, …]`, embedded for token
  ///   inputs).
  public func zeroReferences(inputShapes: [Shape]) -> ReferenceSet {
    let tokens = tokenInputs
    guard !tokens.isEmpty else { return .zeros }
    return .arrays(
      inputShapes.enumerated().map { k, shape in
        let example = Shape(Array(shape.dimensions.dropFirst()))
        guard let e = tokenEmbedding(input: k) else { return Tensor.zeros(example) }
        let ids = Tensor.zeros(Shape(Array(example.dimensions.dropLast())))
        return e.embedded(ids)
      })
  }
}

/// Sums `t` over its last axis (`[…, D] → […]`, in double precision): the per-token scores of
/// an embedding input.
func summedOverLastAxis(_ t: Tensor) -> Tensor {
  t.rank == 0 ? t : reduce(t, .sum, axes: [t.rank - 1], keepDims: false)
}
