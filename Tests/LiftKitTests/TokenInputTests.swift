import Foundation
import LiftIO
import LiftKit
import Testing

/// Token-id inputs in the library (issue 20): the importers' ``TokenEmbedding``, the lookup
/// with its range check, token 0 as the default reference, and the per-token / per-dimension
/// arrays. Fixtures and Captum goldens: Scripts/fixtures/make_embedding_fixtures.py.
@Suite("LiftKit: token-id inputs")
struct TokenInputTests {
  static let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("deepliftTests/Fixtures/embedding")
  let model: Model
  let ids: Tensor

  init() throws {
    model = try Model(contentsOf: Self.dir.appendingPathComponent("textcnn.onnx"))
    ids = try readArray(at: Self.dir.appendingPathComponent("ids.npy"))
  }

  @Test("the ONNX embedding Gather becomes a token-id input with the model's table")
  func importedEmbedding() throws {
    #expect(model.tokenInputs == [0])
    let e = try #require(model.tokenEmbedding(input: 0))
    #expect(e.vocabularySize == 20 && e.dimension == 6)
    #expect(e.tokenShape == [8])
    #expect(model.graph[model.graph.inputs[0]].op.kindName == "input")
    guard case .input(let shape) = model.graph[model.graph.inputs[0]].op else { return }
    #expect(shape == [8, 6])
  }

  @Test("lookup copies table rows; a bad id is named with its row, position and value")
  func lookupAndRangeCheck() throws {
    let e = try #require(model.tokenEmbedding(input: 0))
    let x = try model.embedTokens(ids, input: 0, source: "ids.npy")
    #expect(x.shape == [4, 8, 6])
    let t = e.table.scalars, xs = x.scalars, id = Int(ids.scalars[13])
    #expect(Array(xs[(13 * 6)..<(14 * 6)]) == Array(t[(id * 6)..<((id + 1) * 6)]))
    var bad = ids.scalars
    bad[19] = 2.5
    #expect(throws: LiftKitError.self) {
      try model.embedTokens(Tensor(shape: ids.shape, scalars: bad), input: 0, source: "b.npy")
    }
    do {
      bad[19] = -3
      _ = try model.embedTokens(Tensor(shape: ids.shape, scalars: bad), input: 0, source: "b.npy")
      Issue.record("no error")
    } catch {
      #expect(error.description == "b.npy: input 'ids' row 2, position 3: token id -3 is outside the embedding table of '/emb/Gather' (ids 0..<20)")
    }
  }

  @Test("default reference token 0: equals Captum LayerDeepLift, per-token sums, summation-to-delta")
  func explainEqualsCaptum() throws {
    var o = AttributionOptions()
    o.tasks = .indices([1])
    let explainer = try model.explainer(method: .rescale, options: o)
    let a = try explainer.explain(inputs: [try model.embedTokens(ids, input: 0, source: "ids.npy")])
    let golden = try readArray(at: Self.dir.appendingPathComponent("textcnn.dl.zero.npy"))
    #expect(a.tokenInputs == [0])
    let worst = zip(a.scores[0].scalars, golden.scalars).map { abs($0 - $1) }.max() ?? .infinity
    #expect(worst < 1e-6, "max |ours − Captum| = \(worst)")
    #expect(a.worstConvergenceDelta < 1e-5)
    let named = a.namedArrays
    #expect(named.map(\.name) == ["ids", "ids.embedding"])
    #expect(named[0].tensor.shape == [4, 8])
    let sums = stride(from: 0, to: golden.scalarCount, by: 6).map { golden.scalars[$0..<($0 + 6)].reduce(0, +) }
    #expect(zip(named[0].tensor.scalars, sums).allSatisfy { abs($0 - $1) < 1e-6 })
  }

  @Test("explicit references are ids looked up like the input; shuffles are refused")
  func references() throws {
    let explainer = try model.explainer(method: .rescale)
    let x = try model.embedTokens(ids, input: 0, source: "ids.npy")
    let zeroIDs = try model.embedTokens(Tensor.zeros([8]), input: 0, source: "zeros")
    let explicit = try explainer.explain(inputs: [x], references: .arrays([zeroIDs]))
    let defaulted = try explainer.explain(inputs: [x])
    #expect(explicit.scores[0].scalars == defaulted.scores[0].scalars)
    #expect(throws: LiftKitError.self) { try explainer.explain(inputs: [x], references: .shuffles(count: 2)) }
  }
}
