import LiftTensor

/// An integer model input read through an embedding table (ONNX `Gather` of an `nn.Embedding`
/// weight by an int64/int32 graph input, Keras `Embedding` on an `InputLayer`).
///
/// Integer inputs cannot take a difference from a reference, so the importer makes the
/// embedding vectors the graph's input: the ``Op/input(shape:)`` node of the same name has the
/// per-example shape ``tokenShape`` + `[D]`, and callers look the token ids up in ``table``
/// (``embedded(_:)``) before the forward pass. Attribution scores are then given for the
/// embedding vectors, and summation-to-delta holds over them.
public struct TokenEmbedding: Sendable {
  /// The embedding matrix, `[V, D]`: row `t` is the vector of token id `t`.
  public var table: Tensor
  /// The per-example shape of the integer input (without the batch axis); `nil` where the
  /// file leaves an extent open.
  public var tokenShape: [Int?]
  /// The embedding layer or node, for messages (Keras layer name, ONNX node name).
  public var layer: String

  /// An embedding of `table` (`[V, D]`) read by an integer input of per-example shape
  /// `tokenShape`.
  ///
  /// - Precondition: `table` has rank 2.
  public init(table: Tensor, tokenShape: [Int?], layer: String) {
    precondition(table.rank == 2, "embedding table must be [V, D], got \(table.shape)")
    self.table = table
    self.tokenShape = tokenShape
    self.layer = layer
  }

  /// The number of token ids, `V`.
  public var vocabularySize: Int { table.shape[0] }
  /// The length of each embedding vector, `D`.
  public var dimension: Int { table.shape[1] }

  /// The first element of `ids` that is not a whole number in `0..<V`, as its flat index and
  /// value; `nil` when every id is valid.
  ///
  /// - Complexity: O(ids.scalarCount).
  public func firstInvalidID(_ ids: Tensor) -> (index: Int, value: Float)? {
    let v = Float(vocabularySize)
    return ids.withUnsafeBufferPointer { p in
      for (i, x) in p.enumerated() where !(x >= 0 && x < v && x.rounded(.towardZero) == x) {
        return (i, x)
      }
      return nil
    }
  }

  /// The embedding vectors of `ids` (any shape `S`): a tensor of shape `S + [D]`.
  ///
  /// - Precondition: every id is valid (``firstInvalidID(_:)`` is `nil`).
  /// - Complexity: O(ids.scalarCount · D).
  public func embedded(_ ids: Tensor) -> Tensor {
    let d = dimension
    return Tensor(shape: Shape(ids.shape.dimensions + [d])) { out in
      guard out.count > 0 else { return }
      table.withUnsafeBufferPointer { tb in
        ids.withUnsafeBufferPointer { ib in
          for (i, x) in ib.enumerated() {
            let t = Int(x)
            precondition(t >= 0 && t < vocabularySize, "embedded: token id \(x) out of range")
            (out.baseAddress! + i * d).update(from: tb.baseAddress! + t * d, count: d)
          }
        }
      }
    }
  }
}
