import Foundation
import LiftNN
import LiftTensor
import Testing

/// The memory budget, the per-example footprint and the parameter check of issue 15.
@Suite("Memory budget and parameter checks")
struct MemoryBudgetTests {
  @Test(
    "byte counts",
    arguments: [
      ("1", 1), ("1000000", 1_000_000), ("512M", 512 << 20), ("2G", 2 << 30), ("2g", 2 << 30), ("1.5K", 1536),
      ("8GiB", 8 << 30), ("3kb", 3072), (" 4T ", 4 << 40),
    ])
  func parses(text: String, bytes: Int) {
    #expect(MemoryBudget.parse(text) == bytes)
  }

  @Test("malformed or out-of-range byte counts", arguments: ["", "0", "0.5", "-1", "1e9", "inf", "nan", "G", "1.2.3", "1P", "9999999T"])
  func refuses(text: String) {
    #expect(MemoryBudget.parse(text) == nil)
  }

  @Test func processMemoryIsPositiveAndAtMostPhysical() {
    let m = MemoryBudget.processMemory()
    #expect(m > 0)
    #expect(UInt64(m) <= ProcessInfo.processInfo.physicalMemory)
  }

  /// x [N, 10] → dense 10→3 → relu: 4·(10 + 3 + 3) = 64 bytes per example; the largest
  /// output is the input's, 40 bytes.
  static func mlp() -> Graph {
    var g = Graph()
    let x = g.add(.input(shape: [10]), name: "x")
    let d = g.add(.dense(weight: Tensor.zeros([10, 3]), bias: nil), inputs: [x], name: "d")
    let r = g.add(.activation(.relu), inputs: [d], name: "r")
    g.outputs = [r]
    return g
  }

  @Test func footprintSumsEveryNodeForOneExample() throws {
    let g = Self.mlp()
    let shapes = try g.inferShapes(inputShapes: [[7, 10]])
    let f = g.activationFootprint(shapes: shapes)
    #expect(f.bytesPerExample == 4 * (10 + 3 + 3))
    #expect(f.largest == NodeID(0))
    #expect(f.largestShape == [10])
    #expect(f.largestBytes == 40)
    // Only what the dense layer needs: x and d.
    #expect(g.activationFootprint(shapes: shapes, nodes: [NodeID(0), NodeID(1)]).bytesPerExample == 52)
  }

  @Test func batchIsTheBudgetOverOneExample() throws {
    let g = Self.mlp()
    // 64 bytes per example: 1000 bytes hold 15.
    #expect(try g.examplesPerForwardPass(inputShapes: [[7, 10]], computing: nil, requested: 64, budget: 1000) == 15)
    #expect(try g.examplesPerForwardPass(inputShapes: [[7, 10]], computing: nil, requested: 4, budget: 1000) == 4)
    #expect(try g.examplesPerForwardPass(inputShapes: [[7, 10]], computing: nil, requested: 64, budget: 64) == 1)
    #expect {
      try g.examplesPerForwardPass(inputShapes: [[7, 10]], computing: nil, requested: 64, budget: 63)
    } throws: { error in
      guard case GraphError.memoryBudget(let what, let needed, let budget, let node, _, let shape) = error else { return false }
      return what == "one example" && needed == 64 && budget == 63 && node == "x" && shape == [10]
    }
  }

  /// A per-example count past the 2³¹ cap or an overflowing product is a shape error naming
  /// the node, from every path that infers shapes (importers call `outputShape`).
  @Test func outputCountsAreChecked() {
    var g = Graph()
    let x = g.add(.input(shape: [10]), name: "x")
    let p = g.add(.pad(before: [1 << 31], after: [0], value: 0), inputs: [x], name: "p")
    g.outputs = [p]
    #expect(throws: GraphError.self) { try g.inferShapes(inputShapes: [[1, 10]]) }
    var h = Graph()
    let y = h.add(.input(shape: [nil, nil, nil]), name: "y")
    let f = h.add(.reshape([-1]), inputs: [y], name: "flat")
    h.outputs = [f]
    #expect(throws: GraphError.self) { try h.inferShapes(inputShapes: [[1, 1 << 31, 1 << 31, 1 << 31]]) }
  }

  @Test func windowArithmeticDoesNotOverflow() {
    let huge = 1 << 62
    let pad = WindowGeometry(size: [2], strides: [1], padding: .explicit(before: [huge], after: [huge]))
    #expect(pad.outputSpatial(input: [8]) == nil)
    let dilated = WindowGeometry(size: [huge], strides: [1], dilations: [huge], padding: .valid)
    #expect(dilated.outputSpatial(input: [8]) == nil)
    let same = WindowGeometry(size: [3], strides: [Int.max], dilations: [huge], padding: .same)
    #expect(same.outputSpatial(input: [Int.max - 1]) == nil)
    // Ordinary geometry is unchanged: SAME over 5 with stride 2 gives 3, VALID k=3 gives 3.
    #expect(WindowGeometry(size: [3], strides: [2], padding: .same).outputSpatial(input: [5]) == [3])
    #expect(WindowGeometry(size: [3], strides: [1], padding: .valid).outputSpatial(input: [5]) == [3])
  }

  @Test func finiteParametersPass() throws {
    var g = Self.mlp()
    let c = g.add(.activation(.clip(lower: -.infinity, upper: 6)), inputs: [NodeID(2)], name: "clip")
    g.outputs = [c]
    try g.checkFiniteParameters()
  }

  @Test(
    "a NaN or infinite parameter names the layer, the parameter and the index",
    arguments: [
      (Op.dense(weight: Tensor(shape: [2, 2], scalars: [0, 0, .nan, 0]), bias: nil), "weight", [1, 0]),
      (.dense(weight: .zeros([2, 2]), bias: Tensor(shape: [2], scalars: [0, .infinity])), "bias", [1]),
      (.affine(scale: Tensor(shape: [2], scalars: [1, 1]), offset: Tensor(shape: [2], scalars: [-.infinity, 0])), "offset", [0]),
      (.prelu(alpha: Tensor(shape: [2], scalars: [.nan, 0])), "alpha", [0]),
      (.pad(before: [1], after: [1], value: .nan), "padding value", []),
      (.activation(.leakyRelu(alpha: .infinity)), "alpha", []),
      (.activation(.clip(lower: .nan, upper: 1)), "lower bound", []),
    ])
  func nonFiniteParameterIsNamed(op: Op, parameter: String, index: [Int]) {
    var g = Graph()
    let x = g.add(.input(shape: [2]), name: "x")
    g.outputs = [g.add(op, inputs: [x], name: "bad")]
    #expect {
      try g.checkFiniteParameters()
    } throws: { error in
      guard case GraphError.nonFiniteParameter(let node, _, let p, let i, _) = error else { return false }
      return node == "bad" && p == parameter && i == index
    }
  }
}
