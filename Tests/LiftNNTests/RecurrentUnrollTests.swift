import Foundation
import LiftNN
import LiftTensor
import Testing

/// `unrollRecurrent` on its own: the emitted graph computes the recurrence written out by hand
/// (the importers' goldens against ONNX Runtime, Keras and tangermeme are in LiftONNXTests and
/// LiftKerasTests), and weights that do not fit are described.
@Suite("LiftNN: recurrent unrolling")
struct RecurrentUnrollTests {
  /// Builds `input [steps, in] → unrolled → concat of the hidden states` and runs it.
  func run(
    _ cell: RecurrentCell, _ w: RecurrentWeights, x: [[Float]], reverse: Bool = false,
    h0: RecurrentState = .zero, c0: RecurrentState = .zero
  ) throws -> [[Float]] {
    var g = Graph()
    let steps = x.count, inputSize = x[0].count
    let input = g.add(.input(shape: [steps, inputSize]), name: "x")
    let unrolled = unrollRecurrent(
      input: input, steps: steps, cell: cell, weights: w, initialHidden: h0, initialCell: c0, reverse: reverse, name: "rnn"
    ) { (op: Op, inputs: [NodeID], name: String) -> NodeID in g.add(op, inputs: inputs, name: name) }
    let ordered = unrolled.timeOrdered(reverse: reverse)
    g.outputs = [ordered.count == 1 ? ordered[0] : g.add(.concat(axis: 1), inputs: ordered, name: "sequence")]
    let y = try forward(g, inputs: [Tensor(shape: [1, steps, inputSize], scalars: x.flatMap { $0 })])[g.outputs[0].rawValue]
    let h = w.hidden
    return (0..<steps).map { t in Array(y.scalars[(t * h)..<((t + 1) * h)]) }
  }

  func sigmoid(_ v: Float) -> Float { 1 / (1 + Foundation.exp(-v)) }

  @Test func simpleCellIsTheRecurrence() throws {
    // h' = tanh(x·W + h·R + b), one unit, two steps, reversed.
    let w = RecurrentWeights(
      input: Tensor(shape: [1, 1], scalars: [0.5]), recurrent: Tensor(shape: [1, 1], scalars: [-1.5]),
      bias: Tensor(shape: [1], scalars: [0.25]))
    let x: [[Float]] = [[1], [-2]]
    let y = try run(.simple(activation: .tanh), w, x: x, reverse: true)
    let h1 = Foundation.tanh(Float(0.5 * -2 + 0.25))  // t = 1 first
    let h0 = Foundation.tanh(Float(0.5 * 1) + -1.5 * h1 + 0.25)
    #expect(abs(y[1][0] - h1) < 1e-6 && abs(y[0][0] - h0) < 1e-6, "\(y)")
  }

  @Test func lstmWithConstantInitialStates() throws {
    // One unit, gates i, f, g, o with weights 1, 2, 3, 4 (input) and 0.5… (recurrent).
    let w = RecurrentWeights(
      input: Tensor(shape: [1, 4], scalars: [1, 2, 3, 4]), recurrent: Tensor(shape: [1, 4], scalars: [0.5, -0.5, 1, -1]),
      bias: Tensor(shape: [4], scalars: [0.1, 0.2, 0.3, 0.4]))
    let y = try run(
      .lstm(gate: .sigmoid, candidate: .tanh, output: .tanh), w, x: [[0.3]],
      h0: .constant(Tensor(shape: [1], scalars: [0.7])), c0: .constant(Tensor(shape: [1], scalars: [-0.4])))
    let x: Float = 0.3, h: Float = 0.7, c: Float = -0.4
    let i = sigmoid(x + 0.5 * h + 0.1), f = sigmoid(2 * x - 0.5 * h + 0.2)
    let g = Foundation.tanh(3 * x + h + 0.3), o = sigmoid(4 * x - h + 0.4)
    let expected = o * Foundation.tanh(f * c + i * g)
    #expect(abs(y[0][0] - expected) < 1e-6, "\(y[0][0]) vs \(expected)")
  }

  @Test func gruResetBeforeAndAfter() throws {
    let w = RecurrentWeights(
      input: Tensor(shape: [1, 3], scalars: [0.8, -0.6, 1.2]), recurrent: Tensor(shape: [1, 3], scalars: [0.3, 0.9, -1.1]),
      bias: Tensor(shape: [3], scalars: [0.05, -0.1, 0.2]), candidateRecurrentBias: Tensor(shape: [1], scalars: [0.35]))
    let x: [[Float]] = [[0.5], [-1]]
    for resetAfter in [true, false] {
      var weights = w
      if !resetAfter { weights.candidateRecurrentBias = nil }
      let y = try run(.gru(gate: .sigmoid, candidate: .tanh, resetAfter: resetAfter), weights, x: x)
      var h: Float = 0
      for (t, row) in x.enumerated() {
        let v = row[0]
        let z = sigmoid(0.8 * v + 0.3 * h + 0.05), r = sigmoid(-0.6 * v + 0.9 * h - 0.1)
        let n =
          resetAfter
          ? Foundation.tanh(1.2 * v + 0.2 + r * (-1.1 * h + 0.35)) : Foundation.tanh(1.2 * v + (r * h) * -1.1 + 0.2)
        h = (1 - z) * n + z * h
        #expect(abs(y[t][0] - h) < 1e-6, "reset after \(resetAfter), t \(t): \(y[t][0]) vs \(h)")
      }
    }
  }

  @Test func mismatchedWeightsAreDescribed() {
    let w = RecurrentWeights(
      input: Tensor(repeating: 0, shape: [3, 8]), recurrent: Tensor(repeating: 0, shape: [2, 8]), bias: nil)
    #expect(w.mismatch(cell: .lstm(gate: .sigmoid, candidate: .tanh, output: .tanh), inputSize: 3) == nil)
    #expect(w.mismatch(cell: .lstm(gate: .sigmoid, candidate: .tanh, output: .tanh), inputSize: 4)?.contains("input kernel") == true)
    #expect(w.mismatch(cell: .gru(gate: .sigmoid, candidate: .tanh, resetAfter: true), inputSize: 3)?.contains("recurrent kernel") == true)
  }
}
