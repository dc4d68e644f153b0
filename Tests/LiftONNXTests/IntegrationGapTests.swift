import Foundation
import LiftNN
import LiftTensor
import Testing

@testable import LiftONNX

/// Gaps found running the real-model tables of issues 19 and 20 on merged main.
@Suite("ONNX import: real-model integration gaps")
struct ONNXIntegrationGapTests {
  /// `Reshape(x, [Shape(x)[0]·6 / d, 12])`: Swin's `B = B_·nW / nW` shape arithmetic.
  static func divisionModel(divisor: Int) throws -> Data {
    var concat = nodeProto("Concat", ["b", "twelve"], ["shape"], name: "cat")
    var axis = Onnx_AttributeProto()
    axis.name = "axis"
    axis.type = .int
    axis.i = 0
    concat.attribute = [axis]
    return try modelData(
      nodes: [
        nodeProto("Shape", ["x"], ["s"], name: "shape"),
        nodeProto("Gather", ["s", "zero"], ["n"], name: "gather"),
        nodeProto("Mul", ["n", "six"], ["n6"], name: "mul"),
        nodeProto("Div", ["n6", "d"], ["b"], name: "div"),
        concat,
        nodeProto("Reshape", ["x", "shape"], ["y"], name: "reshape"),
      ],
      inputDims: [.dimParam("n"), .dimValue(4), .dimValue(3)],
      initializers: [int64Proto("zero", [0]), int64Proto("six", [6]), int64Proto("d", [divisor]), int64Proto("twelve", [12])])
  }

  @Test("Div of the batch extent N·k by a divisor of k folds to N·(k/c) (Swin's window count)")
  func batchFactorDivision() throws {
    let graph = try loadONNXModel(from: try Self.divisionModel(divisor: 6))
    let x = Tensor(shape: [2, 4, 3], scalars: (0..<24).map { Float($0) })
    let y = try forward(graph, inputs: [x])[graph.outputs[0].rawValue]
    #expect(y.shape == [2, 12])
    #expect(y.scalars == x.scalars)
  }

  @Test("Div of N·k by a non-divisor of k is refused naming the node")
  func batchFactorDivisionInexact() throws {
    let error = #expect(throws: ONNXImportError.self) { try loadONNXModel(from: try Self.divisionModel(divisor: 4)) }
    guard case .unsupportedUsage(_, let node, _)? = error else {
      Issue.record("unexpected \(String(describing: error))")
      return
    }
    #expect(node == "div")
  }

  @Test("Sub of graph tensors [N, 2, 3] − [N, 1, 3] broadcasts (bpnet-lite's logits − mean(logits, keepdims))")
  func broadcastingSubtraction() throws {
    var mean = nodeProto("ReduceMean", ["x", "axes"], ["m"], name: "mean")
    var keep = Onnx_AttributeProto()
    keep.name = "keepdims"
    keep.type = .int
    keep.i = 1
    mean.attribute = [keep]
    let data = try modelData(
      nodes: [mean, nodeProto("Sub", ["x", "m"], ["y"], name: "sub")],
      inputDims: [.dimParam("n"), .dimValue(2), .dimValue(3)], initializers: [int64Proto("axes", [1])], opset: 18)
    let graph = try loadONNXModel(from: data)
    let x = Tensor(shape: [1, 2, 3], scalars: [1, 2, 3, 5, 8, -1])
    let y = try forward(graph, inputs: [x])[graph.outputs[0].rawValue]
    // Column means 3, 5, 1.
    #expect(y.shape == [1, 2, 3])
    #expect(y.scalars == [-2, -3, 2, 2, 3, -2])
  }

  @Test("Add of graph tensors whose extents differ and are not 1 is refused naming the node")
  func nonBroadcastingAddition() throws {
    let data = try modelData(
      nodes: [
        nodeProto("Slice", ["x", "s0", "s1", "ax"], ["h"], name: "slice"), nodeProto("Add", ["x", "h"], ["y"], name: "add"),
      ],
      inputDims: [.dimParam("n"), .dimValue(4)],
      initializers: [int64Proto("s0", [0]), int64Proto("s1", [2]), int64Proto("ax", [1])])
    let error = #expect(throws: ONNXImportError.self) { try loadONNXModel(from: data) }
    guard case .unsupportedUsage(_, let node, _)? = error else {
      Issue.record("unexpected \(String(describing: error))")
      return
    }
    #expect(node == "add")
  }

  /// A LayerNorm chain whose centred value `d = x − mean(x)` is also read elsewhere
  /// (`z = chain(x) + relu(d)`): now that the broadcasting Sub converts, whatever the importer
  /// makes of it must compute z exactly.
  @Test func layerNormChainWithCentredValueReadElsewhere() throws {
    let g = try loadONNXModel(from: try NormFusionTests.model(NormFusionTests.Chain(extraUse: "d")))
    let z = try forward(g, inputs: [NormFusionTests.x])[g.outputs[0].rawValue]
    let y = NormFusionTests.expected(rms: false)
    let x = NormFusionTests.x.scalars.map(Double.init)
    for row in 0..<6 {
      let mu = (0..<4).map { x[row * 4 + $0] }.reduce(0, +) / 4
      for k in 0..<4 {
        let i = row * 4 + k
        let want = y[i] + max(0, x[i] - mu)
        #expect(abs(Double(z.scalars[i]) - want) <= 1e-5 * max(1, abs(want)), "\(i): \(z.scalars[i]) vs \(want)")
      }
    }
  }

  static func transpose(_ x: String, _ y: String, _ perm: [Int64]) -> Onnx_NodeProto {
    var n = nodeProto("Transpose", [x], [y], name: y)
    var a = Onnx_AttributeProto()
    a.name = "perm"
    a.type = .ints
    a.ints = perm
    n.attribute = [a]
    return n
  }

  /// Swin's q·kᵀ with the batch merged with the windows: `[N·2, 3, 4] @ [N·2, 4, 3]`, both
  /// operands in the same view, then back to `[N, 2, 3, 3]`.
  @Test func matmulOfOperandsInOneBatchView() throws {
    let data = try modelData(
      nodes: [
        nodeProto("Reshape", ["x", "merged"], ["h"], name: "h"), Self.transpose("h", "ht", [0, 2, 1]),
        nodeProto("MatMul", ["h", "ht"], ["p"], name: "p"), nodeProto("Reshape", ["p", "back"], ["y"], name: "y"),
      ],
      inputDims: [.dimParam("n"), .dimValue(2), .dimValue(3), .dimValue(4)],
      initializers: [int64Proto("merged", [-1, 3, 4]), int64Proto("back", [-1, 2, 3, 3])])
    let graph = try loadONNXModel(from: data)
    let x = Tensor(shape: [2, 2, 3, 4], scalars: (0..<48).map { Float(($0 * 7) % 11) - 5 })
    let y = try forward(graph, inputs: [x])[graph.outputs[0].rawValue]
    #expect(y.shape == [2, 2, 3, 3])
    for m in 0..<4 {
      for i in 0..<3 {
        for j in 0..<3 {
          let want = (0..<4).map { x.scalars[m * 12 + i * 4 + $0] * x.scalars[m * 12 + j * 4 + $0] }.reduce(0, +)
          #expect(y.scalars[m * 9 + i * 3 + j] == want)
        }
      }
    }
  }

  /// `[3, N, 4] @ [3, 4, N]`: the batch moved into the multiplied axes, in different places
  /// in the two operands; the product would mix examples.
  @Test func matmulOfOperandsInDifferentBatchViewsIsRefused() throws {
    let data = try modelData(
      nodes: [
        Self.transpose("x", "t", [1, 0, 2]), Self.transpose("x", "u", [1, 2, 0]),
        nodeProto("MatMul", ["t", "u"], ["p"], name: "p"), Self.transpose("p", "y", [1, 0, 2]),
      ],
      inputDims: [.dimParam("n"), .dimValue(3), .dimValue(4)])
    let error = #expect(throws: ONNXImportError.self) { try loadONNXModel(from: data) }
    guard case .unsupportedUsage(_, let node, let reason)? = error else {
      Issue.record("unexpected \(String(describing: error))")
      return
    }
    #expect(node == "p" && reason.contains("batch"), "\(reason)")
  }
}

