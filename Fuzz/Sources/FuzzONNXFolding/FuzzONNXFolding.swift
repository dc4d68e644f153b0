import Foundation
import FuzzDriver
import LiftNN
import LiftONNX
import LiftTensor

// Structure-aware fuzzing of ONNX import with huge sizes (issue 15). The input bytes are not
// an ONNX file but a recipe: a model input of fuzzed extents and up to 8 nodes (constant
// folding — ConstantOfShape, arithmetic of constants, Gather, Concat, Slice, Reshape, and
// issue 19's Range, Equal, Less, Where, Mod, Split, ScatterND, Sqrt, Floor, Not — and
// Pad / Conv / pooling with fuzzed pads, strides, dilations, kernels, groups), every integer
// drawn mostly from a table of boundary values (0, −1, 2³¹, 2³², 1e10, 2⁴⁰, 2⁶², Int64.max …).
// The recipe is encoded as a valid `ModelProto` and imported; import must throw or give a
// graph, and a graph must infer shapes and run on small inputs — never trap, and (run with
// -rss_limit_mb=2048, which also caps single mallocs) never allocate gigabytes.

/// Reads the recipe; past the end every read is 0.
struct Recipe {
  let bytes: [UInt8]
  var at = 0

  mutating func byte() -> Int {
    defer { at += 1 }
    return at < bytes.count ? Int(bytes[at]) : 0
  }

  static let boundary: [Int64] = [
    0, 1, 2, 3, 4, 5, 8, 10, -1, -2, 16, 255, 4096, 65_536, 100_000, 1 << 24, (1 << 31) - 1, 1 << 31,
    1 << 32, 10_000_000_000, 1 << 40, 1 << 62, (1 << 62) + 1, Int64.max, Int64.min, -(1 << 31),
  ]

  /// A boundary value, or (for a leading byte ≥ 0xF0) eight raw bytes.
  mutating func integer() -> Int64 {
    let b = byte()
    if b >= 0xF0 {
      var v: UInt64 = 0
      for _ in 0..<8 { v = v << 8 | UInt64(byte()) }
      return Int64(bitPattern: v)
    }
    return Recipe.boundary[b % Recipe.boundary.count]
  }

  mutating func integers(maxCount: Int) -> [Int64] { (0..<(1 + byte() % maxCount)).map { _ in integer() } }
  /// A small extent 1…4 (weights must hold their data).
  mutating func small() -> Int64 { Int64(1 + byte() % 4) }
}

/// Protobuf wire encoding (varint, fixed32, length-delimited; repeated fields unpacked).
struct Proto {
  var bytes = [UInt8]()
  mutating func varint(_ value: UInt64) {
    var v = value
    while v >= 0x80 {
      bytes.append(UInt8(v & 0x7F) | 0x80)
      v >>= 7
    }
    bytes.append(UInt8(v))
  }
  mutating func int(_ field: Int, _ value: Int64) {
    varint(UInt64(field << 3))
    varint(UInt64(bitPattern: value))
  }
  mutating func float(_ field: Int, _ value: Float) {
    varint(UInt64(field << 3 | 5))
    withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes.append(contentsOf: $0) }
  }
  mutating func string(_ field: Int, _ value: String) { message(field, Proto(bytes: Array(value.utf8))) }
  mutating func message(_ field: Int, _ value: Proto) {
    varint(UInt64(field << 3 | 2))
    varint(UInt64(value.bytes.count))
    bytes.append(contentsOf: value.bytes)
  }
}

/// onnx.proto messages: TensorProto (dims 1, data_type 2, float_data 4, int64_data 7, name 8),
/// NodeProto (input 1, output 2, name 3, op_type 4, attribute 5), AttributeProto (name 1, i 3,
/// s 4, ints 8, type 20), ValueInfoProto, GraphProto, ModelProto.
enum ONNX {
  static func ints(_ name: String, _ values: [Int64]) -> Proto {
    var t = Proto()
    t.int(1, Int64(values.count))
    t.int(2, 7)
    for v in values { t.int(7, v) }
    t.string(8, name)
    return t
  }
  static func floats(_ name: String, _ dims: [Int64]) -> Proto {
    var t = Proto()
    for d in dims { t.int(1, d) }
    t.int(2, 1)
    for i in 0..<dims.reduce(1, *) { t.float(4, Float(i % 7) / 7) }
    t.string(8, name)
    return t
  }
  enum Attribute {
    case int(Int64), ints([Int64]), string(String)
  }
  static func node(
    _ op: String, _ inputs: [String], _ output: String, _ attributes: [(String, Attribute)], extraOutputs: [String] = []
  ) -> Proto {
    var n = Proto()
    for i in inputs { n.string(1, i) }
    n.string(2, output)
    for o in extraOutputs { n.string(2, o) }
    n.string(3, output)
    n.string(4, op)
    for (name, value) in attributes {
      var a = Proto()
      a.string(1, name)
      switch value {
      case .int(let v):
        a.int(3, v)
        a.int(20, 2)
      case .ints(let vs):
        for v in vs { a.int(8, v) }
        a.int(20, 7)
      case .string(let s):
        a.string(4, s)
        a.int(20, 3)
      }
      n.message(5, a)
    }
    return n
  }
  static func valueInfo(_ name: String, _ dims: [Int64?]) -> Proto {
    var shape = Proto()
    for d in dims {
      var dim = Proto()
      if let d { dim.int(1, d) } else { dim.string(2, "N") }
      shape.message(1, dim)
    }
    var tensor = Proto()
    tensor.int(1, 1)
    tensor.message(2, shape)
    var type = Proto()
    type.message(1, tensor)
    var v = Proto()
    v.string(1, name)
    v.message(2, type)
    return v
  }
}

/// The model a recipe describes.
func model(from recipe: inout Recipe) -> Data {
  var nodes = [Proto]()
  var initializers = [Proto]()
  let rank = 1 + recipe.byte() % 3
  // Mostly small extents, so the nodes after the input get to run.
  let extents: [Int64?] = [nil] + (0..<rank).map { _ in recipe.byte() < 200 ? recipe.small() * 2 : recipe.integer() }
  var names = ["x"]
  var counter = 0
  func fresh() -> String {
    counter += 1
    return "t\(counter)"
  }
  func pick(_ recipe: inout Recipe) -> String { names[recipe.byte() % names.count] }
  func constant(_ values: [Int64]) -> String {
    let name = fresh()
    initializers.append(ONNX.ints(name, values))
    return name
  }
  let ops = [
    "ConstantOfShape", "Add", "Mul", "Sub", "Div", "Reshape", "Pad", "Conv", "MaxPool", "AveragePool", "Flatten",
    "Concat", "Gather", "Slice", "Unsqueeze", "Squeeze", "Shape", "Cast", "Neg", "Expand", "Tile", "Transpose",
    "GlobalAveragePool", "Relu",
    // Issue 19: the shape arithmetic of attention exports, and Split / Gather of activations.
    "Range", "Equal", "Less", "Where", "Mod", "Split", "ScatterND", "Sqrt", "Floor", "Not",
  ]
  for _ in 0..<(1 + recipe.byte() % 8) {
    let op = ops[recipe.byte() % ops.count]
    let out = fresh()
    var inputs = [String]()
    var attributes = [(String, ONNX.Attribute)]()
    var extra = [String]()
    switch op {
    case "ConstantOfShape":
      inputs = [constant(recipe.integers(maxCount: 3))]
    case "Add", "Mul", "Sub", "Div", "Concat":
      inputs = [pick(&recipe), pick(&recipe)]
      if op == "Concat" { attributes = [("axis", .int(recipe.integer()))] }
    case "Reshape", "Expand", "Tile":
      inputs = [pick(&recipe), constant(recipe.integers(maxCount: 4))]
    case "Pad":
      inputs = [pick(&recipe), constant(recipe.integers(maxCount: 8))]
    case "Gather":
      inputs = [pick(&recipe), constant(recipe.integers(maxCount: 3))]
      attributes = [("axis", .int(recipe.integer()))]
    case "Slice":
      inputs = [pick(&recipe), constant(recipe.integers(maxCount: 2)), constant(recipe.integers(maxCount: 2))]
    case "Unsqueeze", "Squeeze":
      inputs = [pick(&recipe), constant(recipe.integers(maxCount: 2))]
    case "Conv":
      let w = fresh()
      let (cout, cin, k) = (recipe.small(), recipe.small(), recipe.small())
      initializers.append(ONNX.floats(w, [cout, cin, k]))
      inputs = [pick(&recipe), w]
      attributes = [
        ("pads", .ints(recipe.integers(maxCount: 2))), ("strides", .ints([recipe.integer()])),
        ("dilations", .ints([recipe.integer()])), ("group", .int(recipe.integer())),
      ]
    case "MaxPool", "AveragePool":
      inputs = [pick(&recipe)]
      attributes = [
        ("kernel_shape", .ints(recipe.integers(maxCount: 2))), ("pads", .ints(recipe.integers(maxCount: 4))),
        ("strides", .ints(recipe.integers(maxCount: 2))), ("ceil_mode", .int(Int64(recipe.byte() % 2))),
        ("auto_pad", .string(["NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"][recipe.byte() % 4])),
      ]
    case "Flatten":
      inputs = [pick(&recipe)]
      attributes = [("axis", .int(recipe.byte() % 2 == 0 ? 1 : recipe.integer()))]
    case "Cast":
      inputs = [pick(&recipe)]
      attributes = [("to", .int(Int64(recipe.byte() % 17)))]
    case "Transpose":
      inputs = [pick(&recipe)]
      attributes = [("perm", .ints(recipe.integers(maxCount: 4)))]
    case "Range":
      inputs = [constant([recipe.integer()]), constant([recipe.integer()]), constant([recipe.integer()])]
    case "Equal", "Less", "Mod":
      inputs = [pick(&recipe), pick(&recipe)]
    case "Where":
      inputs = [pick(&recipe), pick(&recipe), pick(&recipe)]
    case "Split":
      inputs = [pick(&recipe), constant(recipe.integers(maxCount: 3))]
      attributes = [("axis", .int(recipe.integer()))]
      extra = (0..<(recipe.byte() % 3)).map { _ in fresh() }
    case "ScatterND":
      inputs = [pick(&recipe), constant(recipe.integers(maxCount: 4)), pick(&recipe)]
    default:
      inputs = [pick(&recipe)]
    }
    nodes.append(ONNX.node(op, inputs, out, attributes, extraOutputs: extra))
    names.append(out)
    names.append(contentsOf: extra)
  }
  var graph = Proto()
  for n in nodes { graph.message(1, n) }
  graph.string(2, "fuzz")
  for t in initializers { graph.message(5, t) }
  graph.message(11, ONNX.valueInfo("x", extents))
  graph.message(12, ONNX.valueInfo(names.last!, [nil]))
  var opset = Proto()
  opset.string(1, "")
  opset.int(2, 13)
  var m = Proto()
  m.int(1, 8)
  m.message(8, opset)
  m.message(7, graph)
  return Data(m.bytes)
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
  var recipe = Recipe(bytes: Array(UnsafeRawBufferPointer(start: start, count: count)))
  let data = model(from: &recipe)
  // FUZZ_ONNX_FOLDING_DUMP=FILE writes the model a recipe encodes (to run a find through the
  // CLI, or to make FuzzONNX seeds).
  if let path = getenv("FUZZ_ONNX_FOLDING_DUMP") { try? data.write(to: URL(fileURLWithPath: String(cString: path))) }
  guard let graph = try? loadONNXModel(from: data, externalDataDirectory: nil) else { return 0 }
  var shapes = [Shape]()
  for id in graph.inputs {
    guard case .input(let shape) = graph[id].op else { return 0 }
    shapes.append(Shape([1] + shape.map { $0 ?? 3 }))
  }
  // Import capped every per-example shape at 2³¹ elements; run only small graphs.
  guard shapes.allSatisfy({ $0.scalarCount <= 1 << 12 }),
    let all = try? graph.inferShapes(inputShapes: shapes), all.allSatisfy({ $0.scalarCount <= 1 << 16 })
  else { return 0 }
  _ = try? forward(graph, inputs: shapes.map { Tensor(repeating: 0.5, shape: $0) })
  return 0
}

/// The process entry point (SwiftPM links it as `main`): libFuzzer's driver on ``fuzz(_:_:)``.
@_cdecl("FuzzONNXFolding_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
  deeplift_fuzz_run(argc, argv) { data, size in
    guard let data else { return 0 }
    return fuzz(UnsafeRawPointer(data), size)
  }
}
