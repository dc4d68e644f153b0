import Foundation
import LiftTensor
import Testing

// Issue 15's ONNX rows of the bad-input matrix: sizes derived from the file (constant folding,
// declared shapes, pads / strides / dilations / kernels), tensors written twice, and external
// data outside the model's folder. Each model is encoded here, field by field, as protobuf
// (this target does not link LiftONNX); the field numbers are those of onnx.proto. The size
// cases run under `ulimit -v` 4 GiB, so an attempt to allocate 80 GB fails the case, not the
// machine.

// MARK: - A minimal protobuf writer

/// Protobuf wire encoding of one message: varints (wire type 0), fixed32 (5) and
/// length-delimited fields (2); repeated fields are written unpacked, which every parser accepts.
struct ProtoMessage {
  var bytes = [UInt8]()

  private mutating func varint(_ value: UInt64) {
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

  mutating func data(_ field: Int, _ value: [UInt8]) {
    varint(UInt64(field << 3 | 2))
    varint(UInt64(value.count))
    bytes.append(contentsOf: value)
  }

  mutating func string(_ field: Int, _ value: String) { data(field, Array(value.utf8)) }
  mutating func message(_ field: Int, _ value: ProtoMessage) { data(field, value.bytes) }
}

/// Builders for the few ONNX messages the cases need.
enum ONNXProto {
  /// `TensorProto` (dims 1, data_type 2, float_data 4, int64_data 7, name 8).
  static func tensor(_ name: String, dims: [Int64], int64s: [Int64]) -> ProtoMessage {
    var t = ProtoMessage()
    for d in dims { t.int(1, d) }
    t.int(2, 7)
    for v in int64s { t.int(7, v) }
    t.string(8, name)
    return t
  }

  static func tensor(_ name: String, dims: [Int64], floats: [Float]) -> ProtoMessage {
    var t = ProtoMessage()
    for d in dims { t.int(1, d) }
    t.int(2, 1)
    for v in floats { t.float(4, v) }
    t.string(8, name)
    return t
  }

  /// A float tensor stored outside: external_data 13 (key 1, value 2), data_location 14 = 1.
  static func externalTensor(_ name: String, dims: [Int64], entries: [(String, String)]) -> ProtoMessage {
    var t = ProtoMessage()
    for d in dims { t.int(1, d) }
    t.int(2, 1)
    t.string(8, name)
    for (key, value) in entries {
      var e = ProtoMessage()
      e.string(1, key)
      e.string(2, value)
      t.message(13, e)
    }
    t.int(14, 1)
    return t
  }

  /// An attribute value of an `AttributeProto` (name 1; f 2, i 3, s 4, t 5, ints 8; type 20).
  enum Attribute {
    case int(Int64)
    case ints([Int64])
    case tensor(ProtoMessage)
    case string(String)
    case float(Float)
    case strings([String])
  }

  /// `NodeProto` (input 1, output 2, name 3, op_type 4, attribute 5).
  static func node(
    _ op: String, _ inputs: [String], _ outputs: [String], name: String, _ attributes: [String: Attribute] = [:]
  ) -> ProtoMessage {
    var n = ProtoMessage()
    for i in inputs { n.string(1, i) }
    for o in outputs { n.string(2, o) }
    n.string(3, name)
    n.string(4, op)
    for (key, value) in attributes.sorted(by: { $0.key < $1.key }) {
      var a = ProtoMessage()
      a.string(1, key)
      switch value {
      case .int(let v):
        a.int(3, v)
        a.int(20, 2)
      case .ints(let vs):
        for v in vs { a.int(8, v) }
        a.int(20, 7)
      case .tensor(let t):
        a.message(5, t)
        a.int(20, 4)
      case .string(let v):
        a.string(4, v)
        a.int(20, 3)
      case .float(let v):
        a.float(2, v)
        a.int(20, 1)
      case .strings(let vs):
        for v in vs { a.string(9, v) }
        a.int(20, 8)
      }
      n.message(5, a)
    }
    return n
  }

  /// A float `ValueInfoProto` (name 1, type 2 → tensor_type 1 → elem_type 1, shape 2 → dim 1
  /// → dim_value 1 / dim_param 2); `nil` is the symbolic batch extent "N".
  static func valueInfo(_ name: String, _ dims: [Int64?], elemType: Int64 = 1) -> ProtoMessage {
    var shape = ProtoMessage()
    for d in dims {
      var dim = ProtoMessage()
      if let d { dim.int(1, d) } else { dim.string(2, "N") }
      shape.message(1, dim)
    }
    var tensorType = ProtoMessage()
    tensorType.int(1, elemType)
    tensorType.message(2, shape)
    var type = ProtoMessage()
    type.message(1, tensorType)
    var v = ProtoMessage()
    v.string(1, name)
    v.message(2, type)
    return v
  }

  /// A `ModelProto` (ir_version 1 = 8, opset_import 8 → version 2 = 13, graph 7 → node 1,
  /// name 2, initializer 5, input 11, output 12).
  static func model(
    nodes: [ProtoMessage], initializers: [ProtoMessage] = [], inputs: [ProtoMessage], outputs: [ProtoMessage],
    opset version: Int64 = 13
  ) -> Data {
    var g = ProtoMessage()
    for n in nodes { g.message(1, n) }
    g.string(2, "case")
    for t in initializers { g.message(5, t) }
    for i in inputs { g.message(11, i) }
    for o in outputs { g.message(12, o) }
    var opset = ProtoMessage()
    opset.string(1, "")
    opset.int(2, version)
    var m = ProtoMessage()
    m.int(1, 8)
    m.message(8, opset)
    m.message(7, g)
    return Data(m.bytes)
  }
}

// MARK: - The models

/// Models of the rows: x (N, 10) unless said otherwise, every size from the file huge.
enum HugeONNX {
  typealias P = ONNXProto
  static let x = P.valueInfo("x", [nil, 10])
  static let y = P.valueInfo("y", [nil, 10])

  /// `ConstantOfShape(shape) → c; y = Add(x, c)`.
  static func constantOfShape(_ shape: [Int64]) -> Data {
    P.model(
      nodes: [P.node("ConstantOfShape", ["shape"], ["c"], name: "fill"), P.node("Add", ["x", "c"], ["y"], name: "add")],
      initializers: [P.tensor("shape", dims: [Int64(shape.count)], int64s: shape)], inputs: [x], outputs: [y])
  }

  /// Two folded constants [1e5, 1] and [1, 1e5] added: a 1e10-element broadcast.
  static let broadcastAdd = P.model(
    nodes: [
      P.node("ConstantOfShape", ["s1"], ["a"], name: "column"), P.node("ConstantOfShape", ["s2"], ["b"], name: "row"),
      P.node("Add", ["a", "b"], ["ab"], name: "outer"), P.node("Add", ["x", "ab"], ["y"], name: "add"),
    ],
    initializers: [P.tensor("s1", dims: [2], int64s: [100_000, 1]), P.tensor("s2", dims: [2], int64s: [1, 100_000])],
    inputs: [x], outputs: [y])

  /// Gather of 2²² indices from rows of 4096: 2³⁴ elements.
  static let gather = P.model(
    nodes: [
      P.node("ConstantOfShape", ["s1"], ["data"], name: "data"), P.node("ConstantOfShape", ["s2"], ["idx"], name: "idx"),
      P.node("Gather", ["data", "idx"], ["g"], name: "gather"), P.node("Add", ["x", "g"], ["y"], name: "add"),
    ],
    initializers: [P.tensor("s1", dims: [2], int64s: [1, 4096]), P.tensor("s2", dims: [2], int64s: [2048, 2048])],
    inputs: [x], outputs: [y])

  /// An input declared (N, 2³¹, 2³¹, 2³¹), flattened.
  static let hugeInput = P.model(
    nodes: [P.node("Flatten", ["x"], ["y"], name: "flatten")],
    inputs: [P.valueInfo("x", [nil, 1 << 31, 1 << 31, 1 << 31])], outputs: [P.valueInfo("y", [nil, 1])])

  /// `Pad(x (N, 4, 10), pads)`.
  static func pad(_ pads: [Int64]) -> Data {
    P.model(
      nodes: [P.node("Pad", ["x", "pads"], ["y"], name: "pad")],
      initializers: [P.tensor("pads", dims: [Int64(pads.count)], int64s: pads)],
      inputs: [P.valueInfo("x", [nil, 4, 10])], outputs: [P.valueInfo("y", [nil, 4, 10])])
  }

  /// A 1-D `Conv` (4 → 4 channels, kernel 1) or pool on x (N, 4, 10) with `attributes`.
  static func window(_ op: String, _ attributes: [String: ONNXProto.Attribute]) -> Data {
    let conv = op == "Conv"
    return P.model(
      nodes: [P.node(op, conv ? ["x", "w"] : ["x"], ["y"], name: op.lowercased(), attributes)],
      initializers: conv ? [P.tensor("w", dims: [4, 4, 1], floats: (0..<16).map { Float($0 % 5) })] : [],
      inputs: [P.valueInfo("x", [nil, 4, 10])], outputs: [P.valueInfo("y", [nil, 4, 10])])
  }

  /// `Reshape(x, [-1, 2³², 2³²])`: the product overflows Int.
  static let reshapeNode = P.model(
    nodes: [P.node("Reshape", ["x", "shape"], ["y"], name: "reshape")],
    initializers: [P.tensor("shape", dims: [3], int64s: [-1, 1 << 32, 1 << 32])], inputs: [x], outputs: [y])

  /// `Reshape(ConstantOfShape([0]), [0, 2³², 2³²])` added to x.
  static let reshapeConstant = P.model(
    nodes: [
      P.node("ConstantOfShape", ["s"], ["c"], name: "fill"), P.node("Reshape", ["c", "shape"], ["r"], name: "reshape"),
      P.node("Add", ["x", "r"], ["y"], name: "add"),
    ],
    initializers: [P.tensor("s", dims: [1], int64s: [0]), P.tensor("shape", dims: [3], int64s: [1 << 32, 1 << 32, 0])],
    inputs: [x], outputs: [y])

  /// `Slice` of a rank-1 constant with two starts and no axes (Fuzz/FuzzONNXFolding find).
  static let sliceAxes = P.model(
    nodes: [
      P.node("ConstantOfShape", ["s"], ["c"], name: "fill"), P.node("Slice", ["c", "starts", "ends"], ["r"], name: "slice"),
      P.node("Add", ["x", "r"], ["y"], name: "add"),
    ],
    initializers: [
      P.tensor("s", dims: [1], int64s: [0]), P.tensor("starts", dims: [2], int64s: [Int64.max, 0]),
      P.tensor("ends", dims: [2], int64s: [0, 0]),
    ],
    inputs: [x], outputs: [y])

  /// Two Relu nodes writing `h`.
  static let twoWriters = P.model(
    nodes: [
      P.node("Relu", ["x"], ["h"], name: "relu1"), P.node("Sigmoid", ["x"], ["h"], name: "sigmoid2"),
      P.node("Relu", ["h"], ["y"], name: "relu3"),
    ],
    inputs: [x], outputs: [y])

  /// A node writing the graph input's name.
  static let shadowsInput = P.model(
    nodes: [P.node("Relu", ["x"], ["x"], name: "relu1"), P.node("Relu", ["x"], ["y"], name: "relu2")],
    inputs: [x], outputs: [y])

  /// A node writing an initializer's name.
  static let shadowsInitializer = P.model(
    nodes: [P.node("Relu", ["x"], ["b"], name: "relu1"), P.node("Add", ["x", "b"], ["y"], name: "add")],
    initializers: [P.tensor("b", dims: [10], floats: [Float](repeating: 1, count: 10))], inputs: [x], outputs: [y])

  /// y = MatMul(x (N, 4), W) with W (4 × 4 float32, 64 bytes) in external data.
  static func external(_ entries: [(String, String)]) -> Data {
    P.model(
      nodes: [P.node("MatMul", ["x", "W"], ["y"], name: "matmul")],
      initializers: [P.externalTensor("W", dims: [4, 4], entries: entries)],
      inputs: [P.valueInfo("x", [nil, 4])], outputs: [P.valueInfo("y", [nil, 4])])
  }
}

// MARK: - The rows

enum ONNXMatrix {
  static let limit = [memoryLimitKey: String(4 << 20)]  // 4 GiB of address space

  static func explain(_ model: String, input: String = "x10.npy") -> [String] {
    ["explain", model, "--input", input, "--output", "out.npy"]
  }

  /// A size case: `model` written as `name`, explained under the limit on a valid input:
  /// x (4, 10), or x (4, 4, 10) with `channels` (the Pad, Conv and pool models).
  static func size(_ label: String, _ model: Data, _ name: String, channels: Bool = false, _ mentions: [String])
    -> BadCase
  {
    let x = channels ? Tensor(shape: [4, 4, 10], scalars: (0..<160).map { Float($0 % 7) / 7 }) : matrix(4, 10)
    return BadCase(
      label: label, arguments: explain(name, input: "x.npy"), status: 1, mentions: [name] + mentions,
      setup: all(write(x, "x.npy"), write(model, name)), environment: limit)
  }

  static let sizes: [BadCase] = [
    size("ConstantOfShape [2^32, 2^32]", HugeONNX.constantOfShape([1 << 32, 1 << 32]), "cos.onnx", ["fill", "4294967296"]),
    size("ConstantOfShape [1e10]", HugeONNX.constantOfShape([10_000_000_000]), "cos.onnx", ["fill", "10000000000"]),
    size("Add of constants [1e5,1] + [1,1e5]", HugeONNX.broadcastAdd, "add.onnx", ["outer", "[100000, 100000]"]),
    size("Gather of 2^22 rows of 4096", HugeONNX.gather, "gather.onnx", ["gather", "[2048, 2048, 4096]"]),
    size("Pad of 2^40", HugeONNX.pad([0, 0, 1 << 40, 0, 0, 0]), "pad.onnx", channels: true, ["pad", "1099511627776"]),
    size("Pad of 2^62", HugeONNX.pad([0, 0, 1 << 62, 0, 0, 0]), "pad.onnx", channels: true, ["pad", "pads"]),
    size(
      "Conv pads 2^62", HugeONNX.window("Conv", ["pads": .ints([1 << 62, 0])]), "conv.onnx", channels: true,
      ["conv", "pads", "4611686018427387904"]),
    size(
      "Conv dilations 2^62", HugeONNX.window("Conv", ["dilations": .ints([1 << 62])]), "conv.onnx", channels: true,
      ["conv", "dilations"]),
    size(
      "Conv group 2^62", HugeONNX.window("Conv", ["group": .int(1 << 62)]), "conv.onnx", channels: true,
      ["conv", "group"]),
    size(
      "Conv strides 2^62", HugeONNX.window("Conv", ["strides": .ints([1 << 62])]), "conv.onnx",
      channels: true, ["conv", "strides"]),
    size(
      "MaxPool pads 2^40", HugeONNX.window("MaxPool", ["kernel_shape": .ints([2]), "pads": .ints([1 << 40, 1 << 40])]),
      "pool.onnx", channels: true, ["maxpool", "pads", "1099511627776"]),
    size(
      "AveragePool kernel 2^62", HugeONNX.window("AveragePool", ["kernel_shape": .ints([1 << 62])]), "pool.onnx",
      channels: true, ["averagepool", "kernel"]),
    size(
      "AveragePool strides 2^62", HugeONNX.window("AveragePool", ["kernel_shape": .ints([2]), "strides": .ints([1 << 62])]),
      "pool.onnx", channels: true, ["averagepool", "strides"]),
    size("Reshape of a node to [-1, 2^32, 2^32]", HugeONNX.reshapeNode, "reshape.onnx", ["reshape"]),
    size("Reshape of a constant to [2^32, 2^32, 0]", HugeONNX.reshapeConstant, "reshape.onnx", ["reshape"]),
    size("Slice with more starts than axes (fuzzer find)", HugeONNX.sliceAxes, "slice.onnx", ["slice", "rank 1"]),
    BadCase(
      label: "input declared [N, 2^31, 2^31, 2^31] + Flatten (inspect)", arguments: ["inspect", "big.onnx"],
      status: 1, mentions: ["big.onnx", "'x'", "2147483648"], precreate: nil, setup: write(HugeONNX.hugeInput, "big.onnx"),
      environment: limit),
  ]

  static let writers: [BadCase] = [
    size("two nodes write one tensor", HugeONNX.twoWriters, "dup.onnx", ["'h'", "relu1", "sigmoid2"]),
    size("a node output shadows the graph input", HugeONNX.shadowsInput, "dup.onnx", ["'x'", "graph input", "relu1"]),
    size("a node output shadows an initializer", HugeONNX.shadowsInitializer, "dup.onnx", ["'b'", "initializer", "relu1"]),
  ]

  /// External data: the model in `m/`, 64 bytes of weights in `m/w.bin`, a secret beside `m/`.
  static func external(
    _ label: String, _ entries: @escaping @Sendable (URL) -> [(String, String)], _ mentions: [String],
    extra: @escaping @Sendable (URL) throws -> Void = { _ in }
  ) -> BadCase {
    BadCase(
      label: label, arguments: explain("m/ext.onnx", input: "x4.npy"), status: 1,
      mentions: ["ext.onnx", "'W'"] + mentions,
      setup: { dir in
        let m = dir.appendingPathComponent("m")
        try FileManager.default.createDirectory(at: m, withIntermediateDirectories: true)
        try write(matrix(4, 4), "x4.npy")(dir)
        try Data((0..<64).map { UInt8($0) }).write(to: m.appendingPathComponent("w.bin"))
        try Data(repeating: 0x41, count: 64).write(to: dir.appendingPathComponent("secret.bin"))
        try extra(dir)
        try HugeONNX.external(entries(dir)).write(to: m.appendingPathComponent("ext.onnx"))
      }, environment: limit)
  }

  static let externalData: [BadCase] = [
    external("external data ../secret.bin", { _ in [("location", "../secret.bin")] }, ["../secret.bin", "outside"]),
    external(
      "external data at an absolute path", { dir in [("location", dir.appendingPathComponent("secret.bin").path)] },
      ["secret.bin", "absolute"]),
    external(
      "external data through a link to a file outside", { _ in [("location", "link.bin")] }, ["link.bin", "outside"],
      extra: { dir in
        try FileManager.default.createSymbolicLink(
          atPath: dir.appendingPathComponent("m/link.bin").path, withDestinationPath: "../secret.bin")
      }),
    external(
      "external data through a link to /dev/zero, no length", { _ in [("location", "zero.bin")] },
      ["zero.bin", "outside"],
      extra: { dir in
        try FileManager.default.createSymbolicLink(
          atPath: dir.appendingPathComponent("m/zero.bin").path, withDestinationPath: "/dev/zero")
      }),
    external(
      "external data in a FIFO inside the folder", { _ in [("location", "pipe.bin")] }, ["pipe.bin", "regular file"],
      extra: { dir in
        guard mkfifo(dir.appendingPathComponent("m/pipe.bin").path, 0o600) == 0 else {
          throw CLITestError("mkfifo failed")
        }
      }),
    external(
      "external data length differs from the tensor", { _ in [("location", "w.bin"), ("length", "32")] },
      ["w.bin", "length 32", "64 bytes"]),
    external(
      "external data offset past the end", { _ in [("location", "w.bin"), ("offset", "16")] }, ["w.bin", "offset 16"]),
  ]
}

@Suite("deeplift bad-input matrix: ONNX sizes, writers, external data (issue 15)")
struct ONNXSizeMatrixTests {
  @Test("sizes from the file", arguments: ONNXMatrix.sizes)
  func sizes(_ c: BadCase) throws { try BadInputMatrixTests.check(c) }

  @Test("tensor writers", arguments: ONNXMatrix.writers)
  func writers(_ c: BadCase) throws { try BadInputMatrixTests.check(c) }

  @Test("external data", arguments: ONNXMatrix.externalData)
  func externalData(_ c: BadCase) throws { try BadInputMatrixTests.check(c) }

  /// The same external data inside the folder is read: the checks above refuse only what they
  /// should (y = x·W for W the bytes 0…63 as float32 is finite; the run succeeds).
  @Test func externalDataInsideTheFolderIsRead() throws {
    let dir = try makeTemporaryDirectory()
    defer { cleanup(dir) }
    let m = dir.appendingPathComponent("m")
    try FileManager.default.createDirectory(at: m, withIntermediateDirectories: true)
    let weights = (0..<16).map { Float($0) / 8 }
    var bytes = Data()
    for w in weights { withUnsafeBytes(of: w.bitPattern.littleEndian) { bytes.append(contentsOf: $0) } }
    try bytes.write(to: m.appendingPathComponent("w.bin"))
    try HugeONNX.external([("location", "w.bin"), ("length", "64")]).write(to: m.appendingPathComponent("ext.onnx"))
    try write(matrix(4, 4), "x4.npy")(dir)
    let r = try runDeeplift(
      arguments: ["predict", "m/ext.onnx", "--input", "x4.npy", "--output", "p.npy"], in: dir,
      environment: ONNXMatrix.limit)
    #expect(r.status == 0, "\(r.stderr)")
  }
}
