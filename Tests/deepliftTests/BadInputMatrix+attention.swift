import Foundation
import LiftTensor
import Testing

// Issue 19's rows for Keras MultiHeadAttention: masks (an `attention_mask` input) and a call
// without a value are refused with one `error:` line naming the file and the layer.

enum AttentionMatrix {
  /// A Sequential model calls its MultiHeadAttention with the query alone.
  static let queryOnly = kerasArchive(
    input: [5, 4],
    layers: [#"{"class_name": "MultiHeadAttention", "config": {"name": "attn", "num_heads": 2, "key_dim": 3}}"#])

  static let rows: [BadCase] = [
    BadCase(
      label: "Keras MultiHeadAttention with an attention_mask input (tf-keras .h5)",
      arguments: ["explain", "@mha_mask_tfk.h5", "--input", "x.npy", "--output", "out.npy"], status: 1,
      mentions: ["mha_mask_tfk.h5", "mha", "attention_mask"], setup: write(Tensor(repeating: 1, shape: [2, 5, 4]), "x.npy")),
    BadCase(
      label: "Keras MultiHeadAttention with an attention_mask input (Keras 3 .keras)",
      arguments: ["explain", "@mha_mask_k3.keras", "--input", "x.npy", "--output", "out.npy"], status: 1,
      mentions: ["mha_mask_k3.keras", "mha", "attention_mask"], setup: write(Tensor(repeating: 1, shape: [2, 5, 4]), "x.npy")),
    BadCase(
      label: "Keras MultiHeadAttention called without a value",
      arguments: ["explain", "q.keras", "--input", "x.npy", "--output", "out.npy"], status: 1,
      mentions: ["q.keras", "attn", "query and a value"],
      setup: all(write(queryOnly, "q.keras"), write(Tensor(repeating: 1, shape: [2, 5, 4]), "x.npy"))),
  ]
}

@Suite("deeplift bad-input matrix: Keras MultiHeadAttention (issue 19)")
struct AttentionMatrixTests {
  @Test("MultiHeadAttention", arguments: AttentionMatrix.rows)
  func rows(_ c: BadCase) throws { try BadInputMatrixTests.check(c) }
}
