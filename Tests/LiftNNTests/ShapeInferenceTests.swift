import LiftNN
import LiftTensor
import Testing

/// LiftNN's one shape inference (issue 20 part 1): every op on full shapes (explain time) and
/// on per-example shapes with unknown extents (import time), and the shapes it refuses.
/// Expected shapes come from each op's definition (window arithmetic, broadcasting rules).
@Suite("Shape inference: full and partial shapes")
struct ShapeInferenceTests {
  /// One op with per-example operand shapes and the per-example output (nil = refused).
  struct Case: CustomTestStringConvertible, Sendable {
    var label: String
    var op: Op
    var operands: [[Int?]]
    var expected: [Int?]?
    var testDescription: String { label }
  }

  static func conv(_ k: [Int], cin: Int, cout: Int, strides: [Int]? = nil, dilations: [Int]? = nil,
                   padding: Padding = .valid, groups: Int = 1) -> Op {
    let ones = [Int](repeating: 1, count: k.count)
    return .conv(
      weight: Tensor.zeros(Shape(k + [cin, cout])), bias: Tensor.zeros([cout]),
      parameters: ConvParameters(strides: strides ?? ones, dilations: dilations ?? ones, padding: padding, groups: groups))
  }
  static func pool(_ size: [Int], strides: [Int], padding: Padding = .valid) -> PoolParameters {
    PoolParameters(size: size, strides: strides, padding: padding)
  }
  static let dense: Op = .dense(weight: Tensor.zeros([4, 3]), bias: Tensor.zeros([3]))

  static let cases: [Case] = [
    // Dense acts on the last axis: [..., 4] → [..., 3].
    Case(label: "dense", op: dense, operands: [[4]], expected: [3]),
    Case(label: "dense rank 2", op: dense, operands: [[5, 4]], expected: [5, 3]),
    Case(label: "dense unknown length", op: dense, operands: [[nil, 4]], expected: [nil, 3]),
    Case(label: "dense unknown features", op: dense, operands: [[nil]], expected: [3]),
    Case(label: "dense wrong features", op: dense, operands: [[5]], expected: nil),
    Case(label: "dense two operands", op: dense, operands: [[4], [4]], expected: nil),
    Case(label: "dense bias mismatch", op: .dense(weight: Tensor.zeros([4, 3]), bias: Tensor.zeros([2])),
         operands: [[4]], expected: nil),
    // Valid: (n − ((k − 1)·d + 1)) / s + 1; same: ⌈n / s⌉.
    Case(label: "conv1d valid", op: conv([3], cin: 2, cout: 6), operands: [[10, 2]], expected: [8, 6]),
    Case(label: "conv1d unknown length", op: conv([3], cin: 2, cout: 6), operands: [[nil, 2]], expected: [nil, 6]),
    Case(label: "conv1d unknown channels", op: conv([3], cin: 2, cout: 6), operands: [[10, nil]], expected: [8, 6]),
    Case(label: "conv1d same stride 2", op: conv([3], cin: 2, cout: 6, strides: [2], padding: .same),
         operands: [[11, 2]], expected: [6, 6]),
    Case(label: "conv1d dilation 2", op: conv([3], cin: 2, cout: 6, dilations: [2]), operands: [[10, 2]], expected: [6, 6]),
    Case(label: "conv1d explicit pads", op: conv([3], cin: 2, cout: 6, padding: .explicit(before: [1], after: [2])),
         operands: [[10, 2]], expected: [11, 6]),
    Case(label: "conv1d 2 groups", op: conv([3], cin: 1, cout: 6, groups: 2), operands: [[10, 2]], expected: [8, 6]),
    Case(label: "conv1d wrong channels", op: conv([3], cin: 2, cout: 6), operands: [[10, 3]], expected: nil),
    Case(label: "conv1d kernel longer than input", op: conv([3], cin: 2, cout: 6), operands: [[2, 2]], expected: nil),
    Case(label: "conv1d zero stride, unknown length", op: conv([3], cin: 2, cout: 6, strides: [0]),
         operands: [[nil, 2]], expected: nil),
    Case(label: "conv1d negative pad, unknown length", op: conv([3], cin: 2, cout: 6, padding: .explicit(before: [-1], after: [0])),
         operands: [[nil, 2]], expected: nil),
    Case(label: "conv1d wrong rank", op: conv([3], cin: 2, cout: 6), operands: [[10, 4, 2]], expected: nil),
    Case(label: "conv2d valid", op: conv([3, 3], cin: 1, cout: 4), operands: [[5, 7, 1]], expected: [3, 5, 4]),
    Case(label: "conv2d unknown height", op: conv([3, 3], cin: 1, cout: 4), operands: [[nil, 7, 1]], expected: [nil, 5, 4]),
    Case(label: "conv2d same stride 2", op: conv([3, 3], cin: 1, cout: 4, strides: [2, 2], padding: .same),
         operands: [[5, 8, 1]], expected: [3, 4, 4]),
    // Pools keep the channels.
    Case(label: "max pool", op: .maxPool(pool([2], strides: [2])), operands: [[9, 3]], expected: [4, 3]),
    Case(label: "max pool unknown", op: .maxPool(pool([2], strides: [2])), operands: [[nil, 3]], expected: [nil, 3]),
    Case(label: "avg pool padded", op: .averagePool(pool([2], strides: [2], padding: .explicit(before: [1], after: [1]))),
         operands: [[9, 3]], expected: [5, 3]),
    Case(label: "avg pool 2d same", op: .averagePool(pool([2, 2], strides: [2, 2], padding: .same)),
         operands: [[5, 4, 3]], expected: [3, 2, 3]),
    Case(label: "pool size 0, unknown length", op: .maxPool(pool([0], strides: [1])), operands: [[nil, 3]], expected: nil),
    Case(label: "pool window too large", op: .maxPool(pool([4], strides: [1])), operands: [[3, 3]], expected: nil),
    Case(label: "global avg pool 1d", op: .globalAveragePool, operands: [[7, 3]], expected: [3]),
    Case(label: "global max pool 2d unknown", op: .globalMaxPool, operands: [[nil, nil, 3]], expected: [3]),
    Case(label: "global pool unknown channels", op: .globalMaxPool, operands: [[7, nil]], expected: [nil]),
    Case(label: "global pool of features", op: .globalMaxPool, operands: [[3]], expected: nil),
    Case(label: "global pool empty axis", op: .globalMaxPool, operands: [[0, 3]], expected: nil),
    // Affine and PReLU parameters broadcast: example rank with extents equal or 1, or rank 1
    // on the last axis; an unknown extent facing a parameter extent other than 1 is that extent.
    Case(label: "affine per channel", op: .affine(scale: .zeros([1, 3]), offset: .zeros([1, 3])),
         operands: [[4, 3]], expected: [4, 3]),
    Case(label: "affine rank 1", op: .affine(scale: .zeros([3]), offset: .zeros([1])), operands: [[4, 3]], expected: [4, 3]),
    Case(label: "affine refines unknown", op: .affine(scale: .zeros([1, 3]), offset: .zeros([1, 1])),
         operands: [[nil, nil]], expected: [nil, 3]),
    Case(label: "affine offset mismatch", op: .affine(scale: .zeros([1, 3]), offset: .zeros([1, 2])),
         operands: [[4, 3]], expected: nil),
    Case(label: "affine wrong rank", op: .affine(scale: .zeros([1, 1, 3]), offset: .zeros([1, 1, 3])),
         operands: [[4, 3]], expected: nil),
    Case(label: "prelu", op: .prelu(alpha: .zeros([1, 3])), operands: [[nil, 3]], expected: [nil, 3]),
    Case(label: "prelu mismatch", op: .prelu(alpha: .zeros([2, 3])), operands: [[4, 3]], expected: nil),
    Case(label: "relu", op: .activation(.relu), operands: [[nil, 3]], expected: [nil, 3]),
    Case(label: "identity two operands", op: .identity, operands: [[3], [3]], expected: nil),
    // Softmax: an axis of the full tensor other than the batch axis (negative from the end).
    Case(label: "softmax last", op: .softmax(axis: 2), operands: [[4, 3]], expected: [4, 3]),
    Case(label: "softmax -1", op: .softmax(axis: -1), operands: [[nil, 3]], expected: [nil, 3]),
    Case(label: "softmax batch axis", op: .softmax(axis: 0), operands: [[4, 3]], expected: nil),
    Case(label: "softmax -3 is the batch axis", op: .softmax(axis: -3), operands: [[4, 3]], expected: nil),
    Case(label: "softmax axis 3", op: .softmax(axis: 3), operands: [[4, 3]], expected: nil),
    // Reshape: 12 values → [-1, 2] is [6, 2]; an unknown input leaves −1 unknown.
    Case(label: "reshape", op: .reshape([-1, 2]), operands: [[3, 4]], expected: [6, 2]),
    Case(label: "reshape unknown", op: .reshape([-1, 2]), operands: [[nil, 4]], expected: [nil, 2]),
    Case(label: "reshape fixed, unknown input", op: .reshape([8]), operands: [[nil, 4]], expected: [8]),
    Case(label: "reshape indivisible", op: .reshape([5, -1]), operands: [[4, 3]], expected: nil),
    Case(label: "reshape wrong count", op: .reshape([5, 2]), operands: [[4, 3]], expected: nil),
    Case(label: "reshape -1 beside 0, unknown input", op: .reshape([-1, 0]), operands: [[nil]], expected: nil),
    Case(label: "reshape two -1", op: .reshape([-1, -1]), operands: [[nil]], expected: nil),
    Case(label: "reshape over the cap, unknown input", op: .reshape([-1, 1 << 20, 1 << 20]), operands: [[nil]], expected: nil),
    // Transpose of the full tensor, batch axis fixed.
    Case(label: "transpose", op: .transpose([0, 2, 1]), operands: [[3, 4]], expected: [4, 3]),
    Case(label: "transpose unknown", op: .transpose([0, 2, 1]), operands: [[nil, 4]], expected: [4, nil]),
    Case(label: "transpose moves batch", op: .transpose([1, 0, 2]), operands: [[3, 4]], expected: nil),
    Case(label: "transpose wrong length", op: .transpose([0, 1]), operands: [[3, 4]], expected: nil),
    // Pad adds before + after; slice keeps end − start.
    Case(label: "pad", op: .pad(before: [1, 0], after: [2, 0], value: 0), operands: [[3, 4]], expected: [6, 4]),
    Case(label: "pad unknown", op: .pad(before: [1, 0], after: [2, 0], value: 0), operands: [[nil, 4]], expected: [nil, 4]),
    Case(label: "pad negative", op: .pad(before: [-1, 0], after: [0, 0], value: 0), operands: [[nil, 4]], expected: nil),
    Case(label: "pad overflow", op: .pad(before: [Int.max, 0], after: [1, 0], value: 0), operands: [[3, 4]], expected: nil),
    Case(label: "slice", op: .slice(start: [1, 0], end: [3, 4]), operands: [[5, 4]], expected: [2, 4]),
    Case(label: "slice unknown", op: .slice(start: [1, 0], end: [3, 4]), operands: [[nil, 4]], expected: [2, 4]),
    Case(label: "slice past the end", op: .slice(start: [1, 0], end: [6, 4]), operands: [[5, 4]], expected: nil),
    Case(label: "slice empty", op: .slice(start: [2, 0], end: [2, 4]), operands: [[nil, 4]], expected: nil),
    // Concatenation sums the axis; the other axes agree.
    Case(label: "concat", op: .concat(axis: 1), operands: [[2, 3], [4, 3]], expected: [6, 3]),
    Case(label: "concat one operand", op: .concat(axis: 1), operands: [[2, 3]], expected: [2, 3]),
    Case(label: "concat -1", op: .concat(axis: -1), operands: [[2, 3], [2, 1]], expected: [2, 4]),
    Case(label: "concat unknown on axis", op: .concat(axis: 1), operands: [[nil, 3], [4, 3]], expected: [nil, 3]),
    Case(label: "concat refines off axis", op: .concat(axis: 1), operands: [[2, nil], [4, 3]], expected: [6, 3]),
    Case(label: "concat mismatch off axis", op: .concat(axis: 1), operands: [[2, 3], [4, 5]], expected: nil),
    Case(label: "concat batch axis", op: .concat(axis: 0), operands: [[2, 3], [2, 3]], expected: nil),
    Case(label: "concat axis past rank", op: .concat(axis: 3), operands: [[2, 3], [2, 3]], expected: nil),
    Case(label: "concat ranks differ", op: .concat(axis: 1), operands: [[2, 3], [2]], expected: nil),
    Case(label: "concat no operands", op: .concat(axis: 1), operands: [], expected: nil),
    // Merges: equal shapes (no broadcasting), any count ≥ 1 (Keras sums 3 inputs); subtract 2.
    Case(label: "add of 3", op: .add, operands: [[2, 3], [2, 3], [2, 3]], expected: [2, 3]),
    Case(label: "add of 1", op: .add, operands: [[2, 3]], expected: [2, 3]),
    Case(label: "add refines", op: .add, operands: [[nil, 3], [2, nil]], expected: [2, 3]),
    Case(label: "add mismatch", op: .add, operands: [[2, 3], [2, 4]], expected: nil),
    Case(label: "add broadcast refused", op: .add, operands: [[2, 3], [2, 1]], expected: nil),
    Case(label: "add ranks differ", op: .maximum, operands: [[2, 3], [6]], expected: nil),
    Case(label: "add no operands", op: .add, operands: [], expected: nil),
    Case(label: "subtract", op: .subtract, operands: [[nil], [3]], expected: [3]),
    Case(label: "subtract of 3", op: .subtract, operands: [[3], [3], [3]], expected: nil),
    Case(label: "subtract of 1", op: .subtract, operands: [[3]], expected: nil),
    Case(label: "average unknown", op: .average, operands: [[nil], [nil]], expected: [nil]),
    Case(label: "input as an operation", op: .input(shape: [3]), operands: [[3]], expected: nil),
  ]

  func node(_ op: Op) -> Node { Node(op: op, inputs: [], name: "n", origin: "test") }

  @Test("partial shapes", arguments: cases)
  func partial(_ c: Case) {
    let result = try? Graph.exampleShape(node(c.op), operands: c.operands)
    #expect(result == c.expected)
    if c.expected == nil {
      #expect(throws: GraphError.self) { try Graph.exampleShape(node(c.op), operands: c.operands) }
    }
  }

  /// The same rule on full shapes: every unknown extent made known (the expected one where
  /// the output fixes it), the batch axis of 5 first and kept.
  @Test("full shapes", arguments: cases)
  func full(_ c: Case) {
    guard c.operands.allSatisfy({ !$0.contains(nil) }) else { return }
    let operands = c.operands.map { Shape([5] + $0.map { $0! }) }
    let result = try? Graph.outputShape(node(c.op), inputs: operands)
    #expect(result?.dimensions == c.expected.map { [5] + $0.map { $0 ?? -1 } })
  }

  @Test func unknownExtentsFilledIn() throws {
    // Every partial case that succeeds, with each unknown extent made known as the output
    // demands (or 8), gives the partial answer where it was known.
    for c in Self.cases where c.expected != nil && c.operands.contains(where: { $0.contains(nil) }) {
      var operands = c.operands
      for i in operands.indices {
        for j in operands[i].indices where operands[i][j] == nil {
          let other = c.operands.compactMap { j < $0.count ? $0[j] : nil }.first
          let fixed = j < c.expected!.count ? c.expected![j] : nil
          operands[i][j] = other ?? fixed ?? 8
        }
      }
      guard let full = try? Graph.outputShape(node(c.op), inputs: operands.map { Shape([2] + $0.map { $0! }) }) else {
        continue  // filling in made the operands disagree (a slice past an 8, say)
      }
      let example = Array(full.dimensions.dropFirst())
      #expect(example.count == c.expected!.count, "\(c.label)")
      for (p, f) in zip(c.expected!, example) where p != nil { #expect(p == f, "\(c.label)") }
    }
  }

  @Test func batchExtentsMustAgree() {
    #expect(throws: GraphError.self) { try Graph.outputShape(node(.add), inputs: [[2, 3], [4, 3]]) }
    #expect(throws: GraphError.self) { try Graph.outputShape(node(.concat(axis: 1)), inputs: [[2, 3], [4, 3]]) }
    #expect(throws: GraphError.self) { try Graph.outputShape(node(.identity), inputs: [[]]) }
    #expect((try? Graph.outputShape(node(.identity), inputs: [[7, 3]]))?.dimensions == [7, 3])
  }

  @Test func errorNamesTheNodeAndUnknownExtents() {
    let n = Node(op: dense(), inputs: [], name: "hidden", origin: "Dense")
    #expect {
      try Graph.exampleShape(n, operands: [[nil, 5]])
    } throws: { error in
      let text = String(describing: error)
      return text.contains("'hidden'") && text.contains("(?, 5)") && text.contains("4 features")
    }
  }
  func dense() -> Op { Self.dense }

  /// A graph with an unknown length: the partial shapes of every node, and the full shapes
  /// once a length is given agree with them.
  @Test func graphWithUnknownLength() throws {
    var g = Graph()
    let x = g.add(.input(shape: [nil, 4]), name: "x")
    let c = g.add(Self.conv([3], cin: 4, cout: 2), inputs: [x], name: "c")
    let p = g.add(.globalMaxPool, inputs: [c], name: "p")
    let d = g.add(.dense(weight: Tensor.zeros([2, 1]), bias: nil), inputs: [p], name: "d")
    g.outputs = [d]
    #expect(try g.inferExampleShapes() == [[nil, 4], [nil, 2], [2], [1]])
    let full = try g.inferShapes(inputShapes: [[3, 10, 4]])
    #expect(full.map(\.dimensions) == [[3, 10, 4], [3, 8, 2], [3, 2], [3, 1]])
  }
}
