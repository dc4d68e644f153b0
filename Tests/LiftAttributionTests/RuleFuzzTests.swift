import Foundation
import LiftNN
import LiftTensor
import LiftTestSupport
import Testing

@testable import LiftAttribution

/// The rule fuzzer of issue 14, item 5: hundreds of random small graphs built from every op of
/// the IR, explained with every DeepLIFT rule, checked against properties that any correct
/// rule set must have whatever the weights:
///
/// - summation-to-delta: `|Σ scores − Δt| ≤ 1e-4·max(1, |Δt|)` per example and task, with
///   `Δt = t(x) − t(r)` from an independent forward pass (``LiftNN/forward(_:inputs:)``);
/// - batch-size independence: batches of 1 and 3 give the same scores as one batch, bit for bit;
/// - a reference equal to the input gives all-zero scores;
/// - two tasks at once give the same bits as each task alone.
///
/// The graphs mix residual Add/Subtract/Average/Maximum/Minimum merges, fan-out of a node to
/// several consumers, concatenations, BatchNorm (affine, negative and zero scales) after
/// pooling, and one or two inputs; half of them use small integer weights and inputs, which
/// produce exact ties (max pools, maximum/minimum, ReLU kinks at zero). A failure prints the
/// graph's seed and a description of it; rerun one graph with
/// `RULEFUZZ_SEED=<seed> RULEFUZZ_COUNT=1 swift test --filter RuleFuzz`
/// (`RULEFUZZ_COUNT` alone runs more graphs; `RULEFUZZ_REPORT=<file>` writes one line per graph
/// with the ops it holds and every failure in full, for triage).
@Suite("Rule fuzzer: random graphs keep the DeepLIFT properties (issue 14)")
struct RuleFuzzTests {
  static let defaultCount = 300
  static let baseSeed: UInt64 = 0x5EED_0014

  static var seeds: [UInt64] {
    let env = ProcessInfo.processInfo.environment
    let count = env["RULEFUZZ_COUNT"].flatMap(Int.init) ?? defaultCount
    let first = env["RULEFUZZ_SEED"].flatMap { UInt64($0) } ?? baseSeed
    return (0..<UInt64(max(count, 0))).map { first &+ $0 }
  }

  @Test func randomGraphsKeepTheProperties() throws {
    let start = Date()
    var coverage = [String: Int]()
    var genomicsRuns = 0
    var failures = [String]()
    var log = [String]()
    let seeds = Self.seeds
    for seed in seeds {
      let fuzz = FuzzGraph.make(seed: seed)
      for node in fuzz.graph.nodes { coverage[FuzzGraph.coverageName(node), default: 0] += 1 }
      var problems = [String]()
      var check = FuzzCheck(fuzz)
      let ranGenomics = try check.run(into: &problems)
      if ranGenomics { genomicsRuns += 1 }
      let kinds = Set(fuzz.graph.nodes.map { FuzzGraph.coverageName($0) }).sorted()
      log.append("\(problems.isEmpty ? "PASS" : "MISS") \(seed) \(problems.map { $0.split(separator: ":")[0] }) \(kinds)")
      if !problems.isEmpty {
        failures.append(
          "seed \(seed) (RULEFUZZ_SEED=\(seed) RULEFUZZ_COUNT=1):\n"
            + problems.prefix(6).joined(separator: "\n") + "\n" + fuzz.description)
      }
    }
    if let path = ProcessInfo.processInfo.environment["RULEFUZZ_REPORT"] {
      try (log + failures.map { "FAIL " + $0 }).joined(separator: "\n").write(toFile: path, atomically: true, encoding: .utf8)
    }
    for f in failures.prefix(5) { Issue.record(Comment(rawValue: f)) }
    if failures.count > 5 { Issue.record("… and \(failures.count - 5) more failing graphs") }
    // The fuzzer is only worth its name if every op of the IR appears (full runs only).
    if seeds.count >= Self.defaultCount {
      let missing = FuzzGraph.allCoverageNames.filter { coverage[$0, default: 0] == 0 }
      #expect(missing.isEmpty, "ops never generated: \(missing)")
      #expect(genomicsRuns >= seeds.count / 5, "genomics-default resolved on only \(genomicsRuns) graphs")
    }
    let seconds = Date().timeIntervalSince(start)
    print(
      "rule fuzzer: \(seeds.count) graphs, \(coverage.values.reduce(0, +)) nodes, "
        + "genomics-default on \(genomicsRuns), "
        + "\(failures.count) failing, "
        + String(format: "%.1f s", seconds))
  }
}

/// Runs the property checks on one fuzzed graph.
struct FuzzCheck {
  let fuzz: FuzzGraph
  let n = 4
  var rng: SplitMix64

  init(_ fuzz: FuzzGraph) {
    self.fuzz = fuzz
    rng = SplitMix64(seed: fuzz.seed ^ 0xA11C_E5ED)
  }

  mutating func data() -> [Tensor] {
    fuzz.inputShapes.map { s in
      let shape = Shape([n] + s)
      return fuzz.integer ? .randomIntegers(shape, in: -2...2, using: &rng) : .random(shape, in: -2...2, using: &rng)
    }
  }

  /// Scores of `x` against `refs` (deepshap max-pool rule).
  func explain(
    _ method: AttributionMethod, _ x: [Tensor], _ refs: References, tasks: [Int] = [0, 1], batch: Int = 64
  ) throws -> [Tensor] {
    var o = ExplainOptions()
    o.method = method
    o.tasks = tasks
    o.batchSize = batch
    o.maxPool = .deepshap
    return try Explainer(graph: fuzz.graph, options: o).explain(inputs: x, references: refs).scores
  }

  /// The explained node, or nil where the method has no rule for some node of the graph.
  func resolvedTarget(_ method: AttributionMethod) throws -> NodeID? {
    var o = ExplainOptions()
    o.method = method
    do {
      return try Explainer(graph: fuzz.graph, options: o).target
    } catch {
      if case .unresolvedRule = error { return nil }
      throw error
    }
  }

  /// Returns whether genomics-default resolved on the graph.
  mutating func run(into problems: inout [String]) throws -> Bool {
    let g = fuzz.graph
    let x = data(), ref = data()
    let loose = fuzz.inputShapes.map { Tensor.random(Shape([n] + $0), in: -2...2, using: &rng) }
    var ranGenomics = false
    for method in [AttributionMethod.rescale, .revealCancel, .genomicsDefault] {
      // genomics-default is defined only where every activation follows a dense or conv
      // layer; the generator builds such graphs on purpose in a share of the seeds.
      guard let target = try resolvedTarget(method) else { continue }
      if method == .genomicsDefault { ranGenomics = true }
      // Summation-to-delta against an independent forward pass.
      let zeros = fuzz.inputShapes.map { Tensor.zeros(Shape([n] + $0)) }
      for (name, refs, refInputs) in [("zero", References.zeros, zeros), ("random", .perExample(ref), ref)] {
        let scores = try explain(method, x, refs)
        let fx = try LiftNN.forward(g, inputs: x)[target.rawValue]
        let fr = try LiftNN.forward(g, inputs: refInputs)[target.rawValue]
        let width = fx.scalarCount / n
        var misses = 0
        var worst: (error: Double, sum: Double, delta: Double, example: Int, task: Int)? = nil
        for e in 0..<n {
          for (t, task) in [0, 1].enumerated() {
            var sum = 0.0
            for s in scores {
              let per = s.scalarCount / (n * 2)
              for v in s.scalars[((e * 2 + t) * per)..<((e * 2 + t + 1) * per)] { sum += Double(v) }
            }
            let delta = Double(fx.scalars[e * width + task]) - Double(fr.scalars[e * width + task])
            let error = abs(sum - delta) / max(1, abs(delta))
            // NaN fails too.
            if !(error <= 1e-4) {
              misses += 1
              if !(error <= (worst?.error ?? 0)) { worst = (error.isNaN ? .infinity : error, sum, delta, e, task) }
            }
          }
        }
        if let w = worst {
          problems.append(
            "  \(method.rawValue), \(name) reference: \(misses) of \(2 * n) miss; worst example \(w.example), "
              + "task \(w.task): Σ scores \(w.sum), Δ \(w.delta)")
        }
      }
      // Batch-size independence, bit for bit: every sgemm row is computed by a BLAS call of
      // one fixed size (LiftTensor's gemmRowBlock), so how examples are batched cannot change
      // a bit. The reference is not integer-valued here: in integer graphs a Δx that cancels
      // exactly must cancel in every batch alike, which it does, but a loose reference keeps
      // the check on the general path.
      let all = try explain(method, x, .perExample(loose))
      for batch in [1, 3] {
        let part = try explain(method, x, .perExample(loose), batch: batch)
        guard part != all else { continue }
        let worst = zip(part.flatMap(\.scalars), all.flatMap(\.scalars)).reduce(Float(0)) { max($0, abs($1.0 - $1.1)) }
        problems.append("  \(method.rawValue): batch size \(batch) changes the scores (by up to \(worst))")
      }
      // Tasks one at a time, bit for bit.
      let both = try explain(method, x, .perExample(ref))
      let single = try [0, 1].map { try explain(method, x, .perExample(ref), tasks: [$0]) }
      for (i, s) in both.enumerated() {
        let per = s.scalarCount / (n * 2)
        for (t, one) in single.enumerated() {
          var rows = [Float]()
          for e in 0..<n { rows += s.scalars[((e * 2 + t) * per)..<((e * 2 + t + 1) * per)] }
          if rows != one[i].scalars {
            problems.append("  \(method.rawValue): task \(t) alone differs from tasks [0, 1] (input \(i))")
          }
        }
      }
      // Reference = input: nothing moved, nothing is attributed.
      let still = try explain(method, x, .perExample(x))
      if !still.allSatisfy({ $0.scalars.allSatisfy { $0 == 0 } }) {
        problems.append("  \(method.rawValue): reference = input gives nonzero scores")
      }
    }
    return ranGenomics
  }
}

/// A random graph with the per-example shapes of its inputs and a printable description.
struct FuzzGraph: CustomStringConvertible {
  var graph = Graph()
  var inputShapes: [[Int]] = []
  let seed: UInt64
  /// Small integer weights, inputs and references: many exact ties and zeros.
  let integer: Bool
  /// Every activation follows a dense or conv layer (through affine/identity), so that
  /// genomics-default resolves.
  let genomicsStyle: Bool
  private var rng: SplitMix64
  private var shapes: [[Int]] = []
  private var uses: [Int] = []
  private var lines: [String] = []
  /// The most scalars per example of a node (lifted for the head).
  private var sizeLimit = 160

  var description: String {
    "graph (integer: \(integer), genomics style: \(genomicsStyle)):\n" + lines.map { "  " + $0 }.joined(separator: "\n")
  }

  static let allActivations: [String] = [
    "relu", "leaky_relu", "elu", "selu", "sigmoid", "tanh", "softplus", "swish", "gelu", "gelu_tanh", "clip",
    "hard_sigmoid", "hard_swish", "mish", "exp", "log", "sqrt", "pow",
  ]
  static let allCoverageNames: [String] =
    ["input", "dense", "conv1d", "conv2d", "conv_strided", "conv_dilated", "conv_grouped", "conv_padded",
     "affine", "affine_negative", "prelu", "softmax", "max_pool1d", "max_pool2d", "avg_pool1d", "avg_pool2d",
     "global_max_pool", "global_avg_pool", "reshape", "transpose", "pad", "pad_nonzero", "slice", "concat",
     "add", "add3", "subtract", "average", "maximum", "minimum", "identity",
     "reduce_sum", "reduce_mean", "reduce_max", "reduce_log_sum_exp", "multiply", "multiply_broadcast",
     "multiply_square", "matmul", "matmul_broadcast", "reciprocal",
     "resize_nearest", "resize_linear", "conv_transpose", "conv_transpose_padded", "gather", "constant",
     "layer_norm", "rms_norm"] + allActivations

  /// A name for coverage counting that distinguishes the variants worth covering.
  static func coverageName(_ node: Node) -> String {
    switch node.op {
    case .conv(let w, _, let p):
      if p.groups > 1 { return "conv_grouped" }
      if p.strides.contains(where: { $0 > 1 }) { return "conv_strided" }
      if p.dilations.contains(where: { $0 > 1 }) { return "conv_dilated" }
      if case .explicit = p.padding { return "conv_padded" }
      return "conv\(w.rank - 2)d"
    case .affine(let scale, _): return scale.scalars.contains { $0 < 0 } ? "affine_negative" : "affine"
    case .pad(_, _, let v): return v != 0 ? "pad_nonzero" : "pad"
    case .activation(.gelu(approximate: true)): return "gelu_tanh"
    case .add: return node.inputs.count > 2 ? "add3" : "add"
    case .multiply where node.inputs[0] == node.inputs[1]: return "multiply_square"
    case .multiply where node.name.hasSuffix("b"): return "multiply_broadcast"
    case .matmul where node.name.hasSuffix("b"): return "matmul_broadcast"
    case .resize(let p):
      if case .linear = p.mode { return "resize_linear" }
      return "resize_nearest"
    case .convTranspose(_, _, let p, let outputPadding):
      if case .explicit = p.padding { return "conv_transpose_padded" }
      return outputPadding.contains { $0 > 0 } ? "conv_transpose_padded" : "conv_transpose"
    default: return node.op.kindName
    }
  }

  private init(seed: UInt64) {
    self.seed = seed
    rng = SplitMix64(seed: seed)
    integer = seed % 2 == 1
    genomicsStyle = seed % 3 == 0
  }

  static func make(seed: UInt64) -> FuzzGraph {
    var f = FuzzGraph(seed: seed)
    f.build()
    return f
  }

  // MARK: Random values

  private mutating func int(_ r: ClosedRange<Int>) -> Int { Int.random(in: r, using: &rng) }
  private mutating func chance(_ p: Double) -> Bool { Double.random(in: 0..<1, using: &rng) < p }
  private mutating func pick<T>(_ a: [T]) -> T { a[int(0...(a.count - 1))] }
  private mutating func uniform(_ lo: Float, _ hi: Float) -> Float { Float.random(in: lo...hi, using: &rng) }

  /// Weights: integers in −1...1, or uniform with the given scale.
  private mutating func weights(_ shape: [Int], scale: Float) -> Tensor {
    Tensor(shape: Shape(shape), scalars: (0..<shape.reduce(1, *)).map { _ in
      integer ? Float(int(-1...1)) : uniform(-scale, scale)
    })
  }

  // MARK: Emitting nodes

  private func describe(_ op: Op) -> String {
    func values(_ t: Tensor) -> String {
      t.scalarCount <= 6 ? "\(t.scalars)" : "\(t.shape)"
    }
    switch op {
    case .dense(let w, let b): return "dense(\(w.shape[0])→\(w.shape[1])\(b == nil ? ", no bias" : ""))"
    case .conv(let w, _, let p):
      return "conv(kernel \(w.shape), strides \(p.strides), dilations \(p.dilations), \(p.padding), groups \(p.groups))"
    case .affine(let s, let o): return "affine(scale \(values(s)), offset \(values(o)))"
    case .prelu(let a): return "prelu(alpha \(values(a)))"
    default: return "\(op)"
    }
  }

  /// Appends `op` if it fits its operands (and stays small); nil otherwise.
  @discardableResult
  private mutating func emit(_ op: Op, _ inputs: [NodeID], suffix: String = "") -> NodeID? {
    let name = "n\(graph.nodes.count)" + suffix
    let node = Node(op: op, inputs: inputs, name: name)
    guard let s = try? Graph.outputShape(node, inputs: inputs.map { Shape([1] + shapes[$0.rawValue]) }) else {
      return nil
    }
    let per = Array(s.dimensions.dropFirst())
    guard per.allSatisfy({ $0 >= 1 }), per.reduce(1, *) <= sizeLimit else { return nil }
    let id = graph.add(op, inputs: inputs, name: name)
    shapes.append(per)
    uses.append(0)
    for i in inputs { uses[i.rawValue] += 1 }
    lines.append("\(id) = \(describe(op)) of \(inputs.map(\.description).joined(separator: ", ")) → \(per)")
    return id
  }

  private mutating func addInput() -> NodeID {
    let shape: [Int]
    switch int(0...2) {
    case 0: shape = [int(2...6)]
    case 1: shape = [int(3...8), int(1...3)]
    default: shape = [int(2...5), int(2...5), int(1...3)]
    }
    let id = graph.add(.input(shape: shape), name: "n\(graph.nodes.count)")
    inputShapes.append(shape)
    shapes.append(shape)
    uses.append(0)
    lines.append("\(id) = input \(shape)")
    return id
  }

  // MARK: Op generators (each returns nil when it does not fit)

  private mutating func dense(_ h: NodeID, out: Int? = nil) -> NodeID? {
    let cin = shapes[h.rawValue].last!
    let cout = out ?? int(1...5)
    let w = weights([cin, cout], scale: 1.5 / Float(cin).squareRoot())
    return emit(.dense(weight: w, bias: chance(0.8) ? weights([cout], scale: 0.5) : nil), [h])
  }

  private mutating func conv(_ h: NodeID, sameShape: Bool = false) -> NodeID? {
    let s = shapes[h.rawValue]
    guard s.count == 2 || s.count == 3 else { return nil }
    let d = s.count - 1
    let cin = s.last!
    var groups = 1
    var cout = sameShape ? cin : int(1...4)
    if cin > 1 && chance(0.2) {
      groups = cin
      cout = sameShape ? cin : cin * int(1...2)
    }
    let kernel = (0..<d).map { _ in int(1...3) }
    let strides = sameShape ? [Int](repeating: 1, count: d) : (0..<d).map { _ in chance(0.25) ? 2 : 1 }
    let dilations = (0..<d).map { _ in chance(0.2) ? 2 : 1 }
    let padding: Padding
    if sameShape {
      padding = .same
    } else {
      switch int(0...2) {
      case 0: padding = .valid
      case 1: padding = .same
      default: padding = .explicit(before: (0..<d).map { _ in int(0...2) }, after: (0..<d).map { _ in int(0...2) })
      }
    }
    let fanIn = kernel.reduce(1, *) * cin / groups
    let w = weights(kernel + [cin / groups, cout], scale: 1.5 / Float(fanIn).squareRoot())
    let p = ConvParameters(strides: strides, dilations: dilations, padding: padding, groups: groups)
    return emit(.conv(weight: w, bias: chance(0.8) ? weights([cout], scale: 0.5) : nil, parameters: p), [h])
  }

  /// BatchNorm-like: per channel (rank 1) or broadcast over some axes; negative and zero scales.
  private mutating func affine(_ h: NodeID) -> NodeID? {
    let s = shapes[h.rawValue]
    let shape = chance(0.5) ? [s.last!] : s.map { chance(0.5) ? $0 : 1 }
    let count = shape.reduce(1, *)
    let scale = (0..<count).map { _ -> Float in
      if chance(0.1) { return 0 }
      return integer ? Float(pick([-2, -1, 1, 2])) : uniform(-2, 2)
    }
    let offset = (0..<count).map { _ in integer ? Float(int(-1...1)) : uniform(-0.5, 0.5) }
    return emit(.affine(scale: Tensor(shape: Shape(shape), scalars: scale), offset: Tensor(shape: Shape(shape), scalars: offset)), [h])
  }

  private mutating func randomActivation() -> Op {
    switch int(0...14) {
    case 0: return .activation(.relu)
    case 1: return .activation(.leakyRelu(alpha: pick([0.01, 0.2, 0.3])))
    case 2: return .activation(.elu(alpha: pick([0.5, 1, 1.5])))
    case 3: return .activation(.selu)
    case 4: return .activation(.sigmoid)
    case 5: return .activation(.tanh)
    case 6: return .activation(.softplus)
    case 7: return .activation(.swish)
    case 8: return .activation(.gelu(approximate: chance(0.5)))
    case 9:
      // ReLU6 and clips whose kinks sit on integers (exact hits in integer graphs).
      return .activation(chance(0.5) ? .clip(lower: 0, upper: 6) : .clip(lower: pick([-1, -0.5]), upper: pick([0.5, 1, 2])))
    case 10: return .activation(.relu)
    case 11:
      // tf-keras / ONNX default (kinks at ±2.5) and torch / Keras 3 (kinks at ±3, integers).
      return .activation(chance(0.5) ? .hardSigmoid(alpha: 0.2, beta: 0.5) : .hardSigmoid(alpha: 1.0 / 6, beta: 0.5))
    case 12: return .activation(.hardSwish)
    case 13: return .activation(.mish)
    default: return .prelu(alpha: Tensor(shape: [1], scalars: [0]))  // replaced by `nonlinear`
    }
  }

  /// An elementwise nonlinearity (PReLU included); in genomics style preceded by a dense or
  /// conv layer (and maybe an affine and an identity), so that genomics-default resolves.
  private mutating func nonlinear(_ h: NodeID) -> NodeID? {
    var h = h
    if genomicsStyle {
      guard let l = (chance(0.5) ? conv(h, sameShape: true) : nil) ?? dense(h, out: shapes[h.rawValue].last!) else {
        return nil
      }
      h = l
      if chance(0.3), let a = affine(h) { h = a }
      if chance(0.2), let i = emit(.identity, [h]) { h = i }
    }
    var op = randomActivation()
    if case .prelu = op {
      let s = shapes[h.rawValue]
      let shape = chance(0.5) ? [s.last!] : s.map { chance(0.5) ? $0 : 1 }
      let alpha = (0..<shape.reduce(1, *)).map { _ in pick([Float(0), 0.1, 0.25, 0.5, -0.3, 1.5]) }
      op = .prelu(alpha: Tensor(shape: Shape(shape), scalars: alpha))
    }
    return emit(op, [h])
  }

  private mutating func softmax(_ h: NodeID) -> NodeID? {
    var h = h
    if genomicsStyle {
      guard let l = dense(h, out: shapes[h.rawValue].last!) else { return nil }
      h = l
    }
    return emit(.softmax(axis: int(1...shapes[h.rawValue].count)), [h])
  }

  /// Layer or RMS norm over 1 to all trailing axes, with or without γ and β; in genomics
  /// style after a dense or conv layer (the norm sits between it and its nonlinearity).
  private mutating func norm(_ h: NodeID) -> NodeID? {
    var h = h
    if genomicsStyle {
      guard let l = (chance(0.5) ? conv(h, sameShape: true) : nil) ?? dense(h, out: shapes[h.rawValue].last!) else {
        return nil
      }
      h = l
    }
    let s = shapes[h.rawValue]
    let axes = int(1...s.count)
    let normalized = Array(s.suffix(axes))
    let scale = chance(0.7) ? weights(normalized, scale: 1.5) : nil
    let bias = chance(0.6) ? weights(normalized, scale: 0.5) : nil
    // ε ≥ 1e-3: where a reference group is constant (zeros after the input, a softmax of
    // equal logits), v⁰ = ε^(−1/2) and tangermeme's multipliers grow like v⁰/2 while the
    // contributions sum to a change of order v, so float32 multipliers lose about 6e-8·v⁰ of
    // Δt per norm (AttributionRules.md); two such norms in a row at ε = 1e-5 miss the 1e-4
    // bound (seed 778391 with ε = 1e-5).
    let p = NormParameters(axes: axes, epsilon: pick([1e-3, 1e-2, 0.1]), scale: scale, bias: bias)
    return emit(chance(0.5) ? .layerNorm(p) : .rmsNorm(p), [h])
  }

  private mutating func pool(_ h: NodeID, max isMax: Bool) -> NodeID? {
    let s = shapes[h.rawValue]
    guard s.count == 2 || s.count == 3 else { return nil }
    let d = s.count - 1
    let size = (0..<d).map { _ in int(1...3) }
    let strides = (0..<d).map { _ in int(1...3) }
    let padding: Padding
    switch int(0...2) {
    case 0: padding = .valid
    case 1: padding = .same
    default:
      // At most size − 1 on each side, so that no window lies wholly in the padding.
      padding = .explicit(before: size.map { int(0...($0 - 1)) }, after: size.map { int(0...($0 - 1)) })
    }
    let p = PoolParameters(size: size, strides: strides, padding: padding, countIncludePad: !isMax && chance(0.5))
    guard let y = emit(isMax ? .maxPool(p) : .averagePool(p), [h]) else { return nil }
    // BatchNorm after pooling (issue 14: ReLU → MaxPool → BatchNorm → ReLU).
    if chance(0.5), let a = affine(y) { return a }
    return y
  }

  private mutating func globalPool(_ h: NodeID) -> NodeID? {
    guard shapes[h.rawValue].count >= 2, let y = emit(chance(0.5) ? .globalMaxPool : .globalAveragePool, [h]) else {
      return nil
    }
    if chance(0.4), let a = affine(y) { return a }
    return y
  }

  private mutating func reshape(_ h: NodeID) -> NodeID? {
    let s = shapes[h.rawValue]
    let count = s.reduce(1, *)
    let divisors = (1...count).filter { count % $0 == 0 }
    switch int(0...2) {
    case 0: return emit(.reshape([-1]), [h])
    case 1: return emit(.reshape([pick(divisors), -1]), [h])
    default:
      let a = pick(divisors), b = pick((1...(count / a)).filter { (count / a) % $0 == 0 })
      return emit(.reshape([a, -1, b]), [h])
    }
  }

  private mutating func transpose(_ h: NodeID) -> NodeID? {
    let r = shapes[h.rawValue].count
    guard r >= 2 else { return nil }
    var perm = Array(1...r)
    perm.shuffle(using: &rng)
    return emit(.transpose([0] + perm), [h])
  }

  private mutating func pad(_ h: NodeID) -> NodeID? {
    let r = shapes[h.rawValue].count
    let value: Float = chance(0.5) ? 0 : (integer ? Float(pick([-1, 1, 2])) : uniform(-1.5, 1.5))
    return emit(.pad(before: (0..<r).map { _ in int(0...2) }, after: (0..<r).map { _ in int(0...1) }, value: value), [h])
  }

  private mutating func slice(_ h: NodeID) -> NodeID? {
    let s = shapes[h.rawValue]
    let start = s.map { int(0...($0 - 1)) }
    let end = zip(s, start).map { n, a in int((a + 1)...n) }
    return emit(.slice(start: start, end: end), [h])
  }

  /// Constant indices along a random per-example axis, repeats and reordering allowed.
  private mutating func gather(_ h: NodeID) -> NodeID? {
    let s = shapes[h.rawValue]
    let axis = int(1...s.count)
    let indices = (0..<int(1...4)).map { _ in int(0...(s[axis - 1] - 1)) }
    return emit(.gather(axis: chance(0.5) ? axis : axis - s.count - 1, indices: indices), [h])
  }

  /// Concatenation with another node whose shape agrees off the axis (or with itself).
  private mutating func concat(_ h: NodeID) -> NodeID? {
    let s = shapes[h.rawValue]
    let axis = int(1...s.count)
    let fits = shapes.indices.filter { i in
      shapes[i].count == s.count && (0..<s.count).allSatisfy { $0 == axis - 1 || shapes[i][$0] == s[$0] }
    }
    var operands = [h, NodeID(pick(fits))]
    if chance(0.3) { operands.append(NodeID(pick(fits))) }
    if chance(0.3) {
      // A constant broadcast over the batch (a class token): Δ = 0, its value goes to the bias.
      var shape = s
      shape[axis - 1] = int(1...2)
      let value = weights(shape, scale: 1)
      if let c = emit(.constant(value: value), [h]) { operands.append(c) }
    }
    operands.shuffle(using: &rng)
    return emit(.concat(axis: chance(0.5) ? axis : axis - s.count - 1), operands)
  }

  /// Exp, log, sqrt and pow of a bounded value: `tanh` first (after a dense layer in genomics
  /// style, so that genomics-default resolves), then an integer power of it, or `exp` of it
  /// (in [1/e, e]: positive and far from overflow) and maybe log / sqrt / pow of that. The
  /// fuzzer's graphs stay inside every op's domain and range.
  private mutating func unary(_ h: NodeID) -> NodeID? {
    var h = h
    if genomicsStyle {
      guard let l = dense(h, out: shapes[h.rawValue].last!) else { return nil }
      h = l
    }
    guard let bounded = emit(.activation(.tanh), [h]) else { return nil }
    if chance(0.25) { return emit(.activation(.pow(exponent: pick([2, 3]))), [bounded]) }
    guard let positive = emit(.activation(.exp), [bounded]) else { return nil }
    if chance(0.2) { return positive }
    let f: Activation = pick([.log, .sqrt, .pow(exponent: 0.5), .pow(exponent: 1.5), .pow(exponent: -1)])
    return emit(.activation(f), [positive])
  }

  /// A reduction over a random non-empty set of axes; an example never becomes a scalar.
  private mutating func reduction(_ h: NodeID) -> NodeID? {
    let r = shapes[h.rawValue].count
    var axes = (1...r).filter { _ in chance(0.5) }
    if axes.isEmpty { axes = [int(1...r)] }
    let keepDims = axes.count == r || chance(0.5)
    return emit(.reduce(pick([.sum, .mean, .max, .logSumExp]), axes: axes, keepDims: keepDims), [h])
  }

  /// Nearest or linear resizing of 1 or 2 spatial axes: every coordinate mode and rounding,
  /// scales up and down, or fixed sizes.
  private mutating func resize(_ h: NodeID) -> NodeID? {
    let s = shapes[h.rawValue]
    guard s.count == 2 || s.count == 3 else { return nil }
    let d = s.count - 1
    let rounding: NearestRounding = pick([.roundPreferFloor, .roundPreferCeil, .floor, .ceil])
    let mode: ResizeMode = chance(0.5) ? .nearest(rounding) : .linear
    let coordinates: ResizeCoordinates = pick([.halfPixel, .pytorchHalfPixel, .alignCorners, .asymmetric, .tfHalfPixelForNN])
    let scales = (0..<d).map { _ in pick([Float(0.5), 1, 1.5, 2, 3]) }
    let sizes = chance(0.3) ? (0..<d).map { _ in int(1...5) } : nil
    return emit(.resize(ResizeParameters(mode: mode, coordinates: coordinates, scales: scales, sizes: sizes)), [h])
  }

  /// A transposed convolution: strides, dilations, pads, output padding, groups.
  private mutating func convTranspose(_ h: NodeID) -> NodeID? {
    let s = shapes[h.rawValue]
    guard s.count == 2 || s.count == 3 else { return nil }
    let d = s.count - 1
    let cin = s.last!
    let groups = cin > 1 && chance(0.2) ? cin : 1
    let cout = groups * int(1...2)
    let kernel = (0..<d).map { _ in int(1...3) }
    let strides = (0..<d).map { _ in int(1...2) }
    let dilations = (0..<d).map { _ in chance(0.2) ? 2 : 1 }
    let padding: Padding
    var outputPadding = [Int](repeating: 0, count: d)
    switch int(0...2) {
    case 0: padding = .valid
    case 1: padding = .same
    default:
      padding = .explicit(before: kernel.map { int(0...($0 - 1)) }, after: kernel.map { int(0...($0 - 1)) })
      outputPadding = strides.map { int(0...($0 - 1)) }
    }
    let fanIn = kernel.reduce(1, *) * cin / groups
    let w = weights(kernel + [cout / groups, cin], scale: 1.5 / Float(fanIn).squareRoot())
    let p = ConvParameters(strides: strides, dilations: dilations, padding: padding, groups: groups)
    return emit(
      .convTranspose(weight: w, bias: chance(0.8) ? weights([cout], scale: 0.5) : nil, parameters: p, outputPadding: outputPadding),
      [h])
  }

  /// A short shape-preserving branch from `h` (1–2 ops).
  private mutating func branch(_ h: NodeID) -> NodeID {
    var y = h
    for _ in 0..<int(1...2) {
      let next: NodeID?
      switch int(0...6) {
      case 0, 1: next = nonlinear(y)
      case 2: next = dense(y, out: shapes[y.rawValue].last!)
      case 3: next = conv(y, sameShape: true)
      case 4: next = affine(y)
      case 5: next = genomicsStyle ? emit(.identity, [y]) : softmax(y)
      default: next = emit(.identity, [y])
      }
      if let next { y = next }
    }
    if y == h { y = affine(h) ?? emit(.identity, [h])! }
    return y
  }

  /// A residual or parallel merge: `op(f(h), h)`, `op(f₁(h), f₂(h))` or, for add and average,
  /// three operands.
  private mutating func merge(_ h: NodeID) -> NodeID? {
    let op: Op = pick([.add, .add, .subtract, .average, .maximum, .minimum])
    var operands = [branch(h)]
    operands.append(chance(0.5) ? h : branch(h))
    if case .add = op, chance(0.3) { operands.append(branch(h)) }
    if case .average = op, chance(0.3) { operands.append(h) }
    operands.shuffle(using: &rng)
    return emit(op, operands)
  }

  /// A product of two activations: `f(h) ⊙ g(h)` (same shape, `h ⊙ h`, or a gate of one
  /// unit broadcast over the last axis, perhaps through a sigmoid; outside genomics style
  /// also a divisor `1/(1 + σ(·))`), or an attention-like `f(h)·g(h)ᵀ` (then `·v`), with the
  /// leading axis of one operand sliced to 1 (broadcast) sometimes.
  private mutating func product(_ h: NodeID) -> NodeID? {
    let s = shapes[h.rawValue]
    let r = s.count
    if r >= 2 && chance(0.45) {
      guard let q = chance(0.3) ? h : dense(h, out: int(1...3)) else { return nil }
      let d = shapes[q.rawValue].last!
      guard let k = dense(h, out: d) else { return nil }
      guard let kt = emit(.transpose([0] + Array(1..<(r - 1)) + [r, r - 1]), [k]) else { return nil }
      var a = q, suffix = ""
      if r == 3 && s[0] > 1 && chance(0.5) {
        let i = int(0...(s[0] - 1))
        guard let one = emit(.slice(start: [i, 0, 0], end: [i + 1] + Array(shapes[q.rawValue].dropFirst())), [q]) else {
          return nil
        }
        a = one
        suffix = "b"
      }
      guard let scores = emit(.matmul, [a, kt], suffix: suffix) else { return nil }
      guard chance(0.5) else { return scores }
      return emit(.matmul, [scores, branch(h)])
    }
    let a = branch(h)
    switch int(0...4) {
    case 0: return emit(.multiply, [a, a])
    case 1, 2:
      guard var gate = dense(h, out: 1) else { return nil }
      if chance(0.5), let g = emit(.activation(.sigmoid), [gate]) { gate = g }
      let operands = chance(0.5) ? [a, gate] : [gate, a]
      return emit(.multiply, operands, suffix: s.last! > 1 ? "b" : "")
    case 3 where !genomicsStyle:
      // a / (1 + σ(b)): a divisor in (1, 2), away from the pole of 1/x.
      let b = branch(h)
      guard let sg = emit(.activation(.sigmoid), [b]),
        let shifted = emit(.affine(scale: Tensor(shape: [1], scalars: [1]), offset: Tensor(shape: [1], scalars: [1])), [sg]),
        let inv = emit(.activation(.reciprocal), [shifted])
      else { return nil }
      return emit(.multiply, [a, inv])
    default:
      return emit(.multiply, [a, chance(0.3) ? h : branch(h)])
    }
  }

  private mutating func build() {
    var frontier = [addInput()]
    if chance(0.2) { frontier.append(addInput()) }
    let steps = int(4...10)
    var done = 0
    var attempts = 0
    while done < steps && attempts < 60 {
      attempts += 1
      // Mostly the newest nodes; sometimes an older one, which then fans out.
      let h: NodeID =
        chance(0.7) ? frontier[frontier.count - 1 - int(0...min(1, frontier.count - 1))] : NodeID(int(0...(graph.nodes.count - 1)))
      let y: NodeID?
      switch int(0...22) {
      case 0, 1: y = dense(h)
      case 2, 3: y = conv(h)
      case 4: y = affine(h)
      case 5, 6, 7: y = nonlinear(h)
      case 8: y = softmax(h)
      case 9: y = pool(h, max: true)
      case 10: y = pool(h, max: false)
      case 11: y = globalPool(h)
      case 12: y = chance(0.5) ? reshape(h) : transpose(h)
      case 13:
        switch int(0...2) {
        case 0: y = pad(h)
        case 1: y = slice(h)
        default: y = gather(h)
        }
      case 14: y = concat(h)
      case 15: y = emit(.identity, [h])
      case 16: y = chance(0.5) ? unary(h) : reduction(h)
      case 17: y = product(h)
      case 18: y = resize(h)
      case 19: y = convTranspose(h)
      case 20: y = norm(h)
      default: y = merge(h)
      }
      guard let y else { continue }
      frontier.append(y)
      done += 1
    }
    // Every unused node feeds the head: flatten, concatenate, dense to 2 or 3 units, and
    // sometimes a final nonlinearity (the target is then its output, or for a sigmoid or
    // softmax its input).
    sizeLimit = .max
    let leaves = graph.nodes.indices.filter { uses[$0] == 0 }.map(NodeID.init)
    let flat = leaves.map { id in shapes[id.rawValue].count == 1 ? id : emit(.reshape([-1]), [id])! }
    let joined = flat.count == 1 ? flat[0] : emit(.concat(axis: 1), flat)!
    let units = int(2...3)
    var out = dense(joined, out: units)!
    switch int(0...4) {
    case 0: out = emit(.activation(.tanh), [out])!
    case 1: out = emit(.activation(.sigmoid), [out])!
    case 2: out = emit(.softmax(axis: 1), [out])!
    default: break
    }
    graph.outputs = [out]
  }
}

/// Regression cases for the softmax rule (a find of the rule fuzzer): elementwise Rescale,
/// `m·Δyⱼ/Δxⱼ`, loses `Δyⱼ` wherever `Δxⱼ ≈ 0` while other units of the softmax move (the
/// units are coupled through the normaliser), so summation-to-delta failed after a ReLU or
/// with references equal to the input in some units. Expected values come from the softmax
/// itself, evaluated here in double precision.
@Suite("Softmax: summation-to-delta across coupled units")
struct SoftmaxRuleTests {
  /// `x [3] → softmax → dense(w)`, the target being the dense output.
  static let w: [Double] = [1, 2, -3]
  static func graph() -> Graph {
    var g = Graph()
    let x = g.add(.input(shape: [3]), name: "x")
    let s = g.add(.softmax(axis: 1), inputs: [x], name: "softmax")
    let o = g.add(.dense(weight: Tensor(shape: [3, 1], scalars: w.map(Float.init)), bias: nil), inputs: [s], name: "out")
    g.outputs = [o]
    return g
  }

  static func softmax(_ v: [Double]) -> [Double] {
    let e = v.map { Foundation.exp($0) }
    let s = e.reduce(0, +)
    return e.map { $0 / s }
  }

  static func options(_ method: AttributionMethod, multipliers: Bool = false) -> ExplainOptions {
    var o = ExplainOptions()
    o.method = method
    o.multipliers = multipliers
    return o
  }

  /// One unit moves, the others keep their reference value: all of Δt belongs to the unit that
  /// moved, though Δt also flows through the other units' outputs.
  @Test(arguments: [AttributionMethod.rescale, .revealCancel])
  func unitsThatDidNotMoveGetNothingAndTheRestGetsAll(method: AttributionMethod) throws {
    let xs: [[Double]] = [[1, 0, 0], [0.5, -1, 2], [-2, 3, 3]]
    let rs: [[Double]] = [[0, 0, 0], [0.5, 1, 2], [-2, 3, 0]]
    let x = Tensor(shape: [3, 3], scalars: xs.flatMap { $0.map(Float.init) })
    let r = Tensor(shape: [3, 3], scalars: rs.flatMap { $0.map(Float.init) })
    let e = try Explainer(graph: Self.graph(), options: Self.options(method)).explain(inputs: [x], references: .perExample([r]))
    for i in 0..<3 {
      let y = Self.softmax(xs[i]), y0 = Self.softmax(rs[i])
      let dt = (0..<3).map { Self.w[$0] * (y[$0] - y0[$0]) }.reduce(0, +)
      let row = Array(e.scores[0].scalars[(i * 3)..<(i * 3 + 3)])
      let moved = (0..<3).first { xs[i][$0] != rs[i][$0] }!
      for j in 0..<3 where j != moved { #expect(row[j] == 0, "example \(i), unit \(j)") }
      #expect(abs(Double(row[moved]) - dt) <= 1e-6 * max(1, abs(dt)), "example \(i): \(row[moved]) vs Δt \(dt)")
    }
  }

  /// At `x = x⁰` the multipliers are the softmax's Jacobian-vector product
  /// `y⁰ ⊙ (w − Σ y⁰w)`, as for every DeepLIFT rule in the limit of small differences.
  @Test(arguments: [AttributionMethod.rescale, .revealCancel])
  func multipliersAtTheReferenceAreTheGradient(method: AttributionMethod) throws {
    let r: [Double] = [0.5, -1, 2]
    let x = Tensor(shape: [1, 3], scalars: r.map(Float.init))
    let e = try Explainer(graph: Self.graph(), options: Self.options(method, multipliers: true))
      .explain(inputs: [x], references: .perExample([x]))
    let y0 = Self.softmax(r)
    let mean = (0..<3).map { y0[$0] * Self.w[$0] }.reduce(0, +)
    for j in 0..<3 {
      let expected = y0[j] * (Self.w[j] - mean)
      #expect(abs(Double(e.scores[0].scalars[j]) - expected) <= 1e-6, "unit \(j): \(e.scores[0].scalars[j]) vs \(expected)")
    }
  }
}
