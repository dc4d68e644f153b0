import Foundation
import LiftAttribution
import LiftKeras
import LiftNN
import LiftTensor
import Testing

/// Keras LSTM, GRU (reset_after both ways, go_backwards), SimpleRNN and Bidirectional (merge
/// modes concat, sum, ave, mul; return_sequences both ways), saved by tf-keras 2.21 (.h5) and
/// Keras 3.15 (.keras), against Keras' own predict() (Scripts/fixtures/make_recurrent_fixtures.py),
/// and summation-to-delta of the unrolled graphs.
@Suite("Keras import: recurrent layers (issue 20)")
struct KerasRecurrentTests {
  static let files: [String] = ["k_lstm", "k_gru", "k_rnn", "k_bidir"].flatMap { ["\($0).h5", "\($0).keras"] }

  static func load(_ file: String) throws -> Graph { try loadKerasModel(at: try fixture("recurrent/\(file)")) }

  @Test(arguments: files)
  func forwardMatchesKeras(file: String) throws {
    let graph = try Self.load(file)
    let x = try loadNpy("recurrent/k_x.npy")
    let y = try forward(graph, inputs: [x])[graph.outputs[0].rawValue]
    let expected = try loadNpy("recurrent/" + file.replacingOccurrences(of: ".", with: "_") + "_y.npy")
    expectForwardClose(y, expected, file)
    let kinds = Set(graph.nodes.map(\.op.kindName))
    #expect(kinds.contains("tanh") || kinds.contains("relu"), "\(file): \(kinds)")
  }

  /// Rescale and RevealCancel sum to Δ with zero and random references, both outputs.
  @Test(arguments: files)
  func sumsToDelta(file: String) throws {
    let graph = try Self.load(file)
    let x = try loadNpy("recurrent/k_x.npy")
    var state: UInt64 = 7
    let refs = Tensor(shape: Shape([x.shape[0], 3] + Array(x.shape.dimensions.dropFirst())), scalars: (0..<(x.scalarCount * 3)).map { _ in
      state = state &* 6364136223846793005 &+ 1442695040888963407
      return Float(state >> 40) / Float(1 << 24) * 4 - 2
    })
    for references in [References.zeros, .multiple([refs])] {
      for method in [AttributionMethod.rescale, .revealCancel] {
        for task in [0, 1] {
          var o = ExplainOptions()
          o.method = method
          o.tasks = [task]
          let e = try Explainer(graph: graph, options: o).explain(inputs: [x], references: references)
          for (i, d) in e.summationErrors.enumerated() {
            #expect(d <= 1e-4 * max(1, e.targetDeltas[i]), "\(file) \(method) task \(task): summation error \(d)")
          }
        }
      }
    }
  }

  /// The tf-keras LSTM fixture that the importer used to refuse (Scripts/fixtures/make_keras_fixtures.py).
  @Test func lstmFixtureMatchesKeras() throws {
    let graph = try loadKerasModel(at: try fixture("lstm.h5"))
    let y = try forward(graph, inputs: [try loadNpy("lstm.x.npy")])[graph.outputs[0].rawValue]
    expectForwardClose(y, try loadNpy("lstm.y.npy"), "lstm.h5")
  }
}
