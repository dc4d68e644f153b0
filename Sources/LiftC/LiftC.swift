// A C ABI over LiftKit, for in-process callers (the `swiftdeeplift` Python package, through
// ctypes). This layer only marshals: models are loaded by `Model`, options parsed by the
// library's own parsers, explanations run by `ModelExplainer`. See `liftc.h` for the contract.
//
// Nothing here may trap: every pointer, count and shape the caller passes is checked before
// it is read, and every error comes back as a status code with a one-line message written
// into the caller's buffer.
import Foundation
import LiftAttribution
import LiftKit
import LiftTensor

// MARK: - Status codes and messages

/// Success.
let liftcOK: Int32 = 0
/// The model, input or options were refused by the library (the message says why).
let liftcError: Int32 = 1
/// The call itself was malformed: a null pointer, a bad count or shape, an unknown option.
let liftcUsage: Int32 = 2

/// An error of this layer: a status and a one-line message.
struct CallError: Error {
  let status: Int32
  let message: String
  static func usage(_ m: String) -> CallError { CallError(status: liftcUsage, message: m) }
  static func failed(_ m: String) -> CallError { CallError(status: liftcError, message: m) }
}

/// Writes `message` (truncated to whole UTF-8 bytes, NUL-terminated) into `buffer`.
func writeMessage(_ message: String, _ buffer: UnsafeMutablePointer<CChar>?, _ capacity: Int64) {
  guard let buffer, capacity > 0 else { return }
  let bytes = Array(message.utf8)
  var n = min(bytes.count, Int(clamping: capacity) - 1)
  // Never cut a multi-byte character: back up to the start of the last whole one.
  while n > 0, n < bytes.count, bytes[n] & 0xC0 == 0x80 { n -= 1 }
  for i in 0..<n { buffer[i] = CChar(bitPattern: bytes[i]) }
  buffer[n] = 0
}

/// Runs `body`, turning any thrown error into a status code and message.
func guarded(_ err: UnsafeMutablePointer<CChar>?, _ cap: Int64, _ body: () throws -> Void) -> Int32 {
  do {
    try body()
    writeMessage("", err, cap)
    return liftcOK
  } catch let e as CallError {
    writeMessage(e.message, err, cap)
    return e.status
  } catch {
    writeMessage(String(describing: error), err, cap)
    return liftcError
  }
}

/// A NUL-terminated string argument.
func string(_ p: UnsafePointer<CChar>?, _ what: String) throws -> String {
  guard let p else { throw CallError.usage("\(what) is a null pointer") }
  return String(cString: p)
}

// MARK: - Handles

/// A loaded model, with the explainer of the last options used (rebuilt when they change).
final class ModelBox: @unchecked Sendable {
  // @unchecked: `cached` is only touched under `lock`.
  let model: Model
  private let lock = NSLock()
  private var cached: (key: ExplainerKey, explainer: ModelExplainer)?

  init(_ model: Model) { self.model = model }

  /// The explainer for `options`, reusing the last one when the options are the same (its
  /// cache of shared references' forward pass serves every call).
  func explainer(_ options: OptionsBox) throws -> ModelExplainer {
    let key = ExplainerKey(method: options.method, target: options.target, options: options.attribution)
    lock.lock()
    defer { lock.unlock() }
    if let cached, cached.key == key { return cached.explainer }
    let made = try model.explainer(method: key.method, target: key.target, options: key.options)
    cached = (key, made)
    return made
  }
}

/// What an explainer is built from.
struct ExplainerKey: Equatable {
  var method: AttributionMethod
  var target: String?
  var options: AttributionOptions
}

/// Options set one by one with `liftc_options_set` (the command line's names and values).
final class OptionsBox {
  var method: AttributionMethod = .rescale
  var target: String? = nil
  var attribution = AttributionOptions()
  var shuffles = 0
  var seed = 0

  /// Sets one option; the names are the command line's (`deeplift explain --NAME VALUE`).
  func set(_ name: String, _ value: String) throws {
    func int(_ lo: Int, _ hi: Int = Int.max) throws -> Int {
      guard let v = Int(value.trimmingCharacters(in: .whitespaces)), v >= lo, v <= hi else {
        throw CallError.usage("option \(name): expected an integer in \(lo)...\(hi == Int.max ? "" : String(hi)), got '\(value)'")
      }
      return v
    }
    func oneOf<T: RawRepresentable & CaseIterable>(_: T.Type) throws -> T where T.RawValue == String {
      guard let v = T(rawValue: value) else {
        throw CallError.usage(
          "option \(name): unknown value '\(value)' (one of: \(T.allCases.map(\.rawValue).joined(separator: ", ")))")
      }
      return v
    }
    switch name {
    case "method": method = try oneOf(AttributionMethod.self)
    case "target": target = value.isEmpty ? nil : value
    case "task":
      guard let t = TaskSelection(parsing: value) else {
        throw CallError.usage("option task: expected K, a list K,K,… of distinct indices, or all; got '\(value)'")
      }
      attribution.tasks = t
    case "contrast": attribution.contrast = value.isEmpty ? nil : try int(0)
    case "output": attribution.output = try oneOf(ScoreKind.self)
    case "maxpool": attribution.maxPool = try oneOf(MaxPoolRule.self)
    case "batch-size": attribution.batchSize = value.isEmpty ? nil : try int(1)
    case "steps": attribution.steps = try int(1, 10000)
    case "ig-method": attribution.integration = try oneOf(IntegrationRule.self)
    case "channel-axis": attribution.channelAxis = value.isEmpty ? nil : try int(-16, 16)
    case "threads": attribution.threads = value.isEmpty ? nil : try int(1, 1024)
    case "normalize-first-conv": attribution.normalizeFirstConvolution = try int(0, 1) == 1
    case "softmax-normalize": attribution.softmaxNormalize = try int(0, 1) == 1
    case "shuffles": shuffles = try int(1, 100_000)
    case "seed": seed = try int(0, Int(UInt32.max))
    default:
      throw CallError.usage(
        "unknown option '\(name)' (method, target, task, contrast, output, maxpool, batch-size, steps, ig-method, channel-axis, threads, normalize-first-conv, softmax-normalize, shuffles, seed)"
      )
    }
  }
}

func box<T: AnyObject>(_ p: OpaquePointer?, _ what: String) throws -> T {
  guard let p else { throw CallError.usage("\(what) is a null handle") }
  return Unmanaged<T>.fromOpaque(UnsafeRawPointer(p)).takeUnretainedValue()
}

// MARK: - Arrays passed as pointer + shape

/// The largest rank accepted for an array.
let maxRank: Int32 = 32

/// Reads the shapes of `count` arrays: `ranks[i]` dimensions each, concatenated in `dims`.
func shapes(
  _ count: Int64, _ ranks: UnsafePointer<Int32>?, _ dims: UnsafePointer<Int64>?, _ what: String
) throws -> [Shape] {
  guard count >= 0, count <= 1024 else { throw CallError.usage("\(what): bad array count \(count)") }
  guard count == 0 || (ranks != nil && dims != nil) else { throw CallError.usage("\(what): null ranks or dims") }
  var result: [Shape] = []
  var offset = 0
  for i in 0..<Int(count) {
    let rank = ranks![i]
    guard rank >= 0, rank <= maxRank else { throw CallError.usage("\(what) #\(i): bad rank \(rank)") }
    var d: [Int] = []
    var total = 1
    for j in 0..<Int(rank) {
      let v = dims![offset + j]
      guard v != 0 else { throw CallError.failed("\(what) #\(i) is empty (extent 0 on axis \(j))") }
      guard v >= 1, v <= Int64(Int32.max) else { throw CallError.usage("\(what) #\(i): bad extent \(v) on axis \(j)") }
      let (p, overflow) = total.multipliedReportingOverflow(by: Int(v))
      guard !overflow, p <= Int(Int32.max) * 16 else { throw CallError.usage("\(what) #\(i): too many elements") }
      total = p
      d.append(Int(v))
    }
    offset += Int(rank)
    result.append(Shape(d))
  }
  return result
}

/// Copies `count` caller arrays into tensors.
func tensors(
  _ count: Int64, _ data: UnsafePointer<UnsafePointer<Float>?>?, _ ranks: UnsafePointer<Int32>?,
  _ dims: UnsafePointer<Int64>?, _ what: String
) throws -> [Tensor] {
  let ss = try shapes(count, ranks, dims, what)
  guard count == 0 || data != nil else { throw CallError.usage("\(what): null data") }
  return try ss.enumerated().map { i, s in
    guard let p = data![i] else { throw CallError.usage("\(what) #\(i): null data") }
    return Tensor(shape: s) { buf in
      buf.baseAddress!.update(from: p, count: s.scalarCount)
    }
  }
}

func describe(_ s: Shape) -> String { "(" + s.dimensions.map(String.init).joined(separator: ", ") + ")" }

// MARK: - Entry points

/// The library version string (static storage; do not free).
@_cdecl("liftc_version")
public func liftc_version() -> UnsafePointer<CChar> {
  versionString
}

nonisolated(unsafe) let versionString: UnsafePointer<CChar> = {
  let s = "liftc 1"
  let p = UnsafeMutablePointer<CChar>.allocate(capacity: s.utf8.count + 1)
  for (i, b) in s.utf8.enumerated() { p[i] = CChar(bitPattern: b) }
  p[s.utf8.count] = 0
  return UnsafePointer(p)
}()

/// Loads a model file (`.h5`, `.keras`, `.onnx`; recognised from its content) into `*out`.
@_cdecl("liftc_model_open")
public func liftc_model_open(
  _ path: UnsafePointer<CChar>?, _ out: UnsafeMutablePointer<OpaquePointer?>?,
  _ err: UnsafeMutablePointer<CChar>?, _ cap: Int64
) -> Int32 {
  guarded(err, cap) {
    guard let out else { throw CallError.usage("out is a null pointer") }
    out.pointee = nil
    let p = try string(path, "path")
    let model = try Model(contentsOf: URL(fileURLWithPath: p))
    out.pointee = OpaquePointer(Unmanaged.passRetained(ModelBox(model)).toOpaque())
  }
}

/// Loads a model from `length` bytes (ONNX in memory; Keras through a temporary file);
/// `name` is what messages call it.
@_cdecl("liftc_model_open_bytes")
public func liftc_model_open_bytes(
  _ bytes: UnsafePointer<UInt8>?, _ length: Int64, _ name: UnsafePointer<CChar>?,
  _ out: UnsafeMutablePointer<OpaquePointer?>?, _ err: UnsafeMutablePointer<CChar>?, _ cap: Int64
) -> Int32 {
  guarded(err, cap) {
    guard let out else { throw CallError.usage("out is a null pointer") }
    out.pointee = nil
    guard let bytes, length >= 0 else { throw CallError.usage("bytes is a null pointer or length is negative") }
    let n = name.map { String(cString: $0) } ?? "model.onnx"
    let model = try Model(data: Data(bytes: bytes, count: Int(length)), name: n)
    out.pointee = OpaquePointer(Unmanaged.passRetained(ModelBox(model)).toOpaque())
  }
}

/// Releases a model handle (null is ignored).
@_cdecl("liftc_model_free")
public func liftc_model_free(_ model: OpaquePointer?) {
  guard let model else { return }
  Unmanaged<ModelBox>.fromOpaque(UnsafeRawPointer(model)).release()
}

/// The number of model inputs (−1 for a null handle).
@_cdecl("liftc_model_input_count")
public func liftc_model_input_count(_ model: OpaquePointer?) -> Int64 {
  guard let b: ModelBox = try? box(model, "model") else { return -1 }
  return Int64(b.model.inputNames.count)
}

/// Writes a string property of the model into `buf`: `input:I` (the I-th input's name),
/// `format` (`keras-h5`, `keras`, `onnx`), `channel-axis`, `default-target`, `layers`
/// (newline-separated). Returns the status; a too-small buffer truncates.
@_cdecl("liftc_model_info")
public func liftc_model_info(
  _ model: OpaquePointer?, _ key: UnsafePointer<CChar>?, _ buf: UnsafeMutablePointer<CChar>?, _ bufCap: Int64,
  _ err: UnsafeMutablePointer<CChar>?, _ cap: Int64
) -> Int32 {
  guarded(err, cap) {
    let b: ModelBox = try box(model, "model")
    let k = try string(key, "key")
    let m = b.model
    let value: String
    switch k {
    case "format": value = m.format.rawValue
    case "channel-axis": value = String(m.channelAxis)
    case "default-target": value = m.defaultTarget
    case "layers": value = m.layerNames.joined(separator: "\n")
    case "inputs": value = m.inputNames.joined(separator: "\n")
    default:
      throw CallError.usage("unknown model property '\(k)' (format, channel-axis, default-target, layers, inputs)")
    }
    guard buf != nil, bufCap > 0 else { throw CallError.usage("buf is a null pointer or empty") }
    writeMessage(value, buf, bufCap)
  }
}

/// A new option set with the command line's defaults.
@_cdecl("liftc_options_new")
public func liftc_options_new() -> OpaquePointer? {
  OpaquePointer(Unmanaged.passRetained(OptionsBox()).toOpaque())
}

/// Releases an option set (null is ignored).
@_cdecl("liftc_options_free")
public func liftc_options_free(_ options: OpaquePointer?) {
  guard let options else { return }
  Unmanaged<OptionsBox>.fromOpaque(UnsafeRawPointer(options)).release()
}

/// Sets one option by the command line's name and value (see `liftc.h`).
@_cdecl("liftc_options_set")
public func liftc_options_set(
  _ options: OpaquePointer?, _ name: UnsafePointer<CChar>?, _ value: UnsafePointer<CChar>?,
  _ err: UnsafeMutablePointer<CChar>?, _ cap: Int64
) -> Int32 {
  guarded(err, cap) {
    let o: OptionsBox = try box(options, "options")
    try o.set(try string(name, "name"), try string(value, "value"))
  }
}

/// How `liftc_explain` reads its reference arrays.
enum ReferenceKind: Int32 {
  case zeros = 0, arrays = 1, background = 2, shuffles = 3
}

/// Explains `n_inputs` float32 C-order arrays (one per model input, in input order) into the
/// caller's `n_inputs` output arrays, whose shapes must be the scores' shapes (the input's,
/// with a task axis after the batch axis for several tasks). `deltas` (optional, `n_deltas`
/// = N floats) receives the per-example summation-to-delta error `|Σ scores − Δ|`
/// (DeepLIFT methods; NaN for gradient methods).
@_cdecl("liftc_explain")
public func liftc_explain(
  _ model: OpaquePointer?, _ options: OpaquePointer?,
  _ nInputs: Int64, _ inputs: UnsafePointer<UnsafePointer<Float>?>?, _ inputRanks: UnsafePointer<Int32>?,
  _ inputDims: UnsafePointer<Int64>?,
  _ referenceKind: Int32, _ nRefs: Int64, _ refs: UnsafePointer<UnsafePointer<Float>?>?,
  _ refRanks: UnsafePointer<Int32>?, _ refDims: UnsafePointer<Int64>?,
  _ nOutputs: Int64, _ outputs: UnsafePointer<UnsafeMutablePointer<Float>?>?, _ outRanks: UnsafePointer<Int32>?,
  _ outDims: UnsafePointer<Int64>?,
  _ deltas: UnsafeMutablePointer<Float>?, _ nDeltas: Int64,
  _ err: UnsafeMutablePointer<CChar>?, _ cap: Int64
) -> Int32 {
  guarded(err, cap) {
    let b: ModelBox = try box(model, "model")
    let o: OptionsBox = try box(options, "options")
    let names = b.model.inputNames
    guard nInputs == Int64(names.count) else {
      throw CallError.failed(
        "the model has \(names.count) input(s) (\(names.joined(separator: ", "))) but \(nInputs) array(s) were given")
    }
    guard let kind = ReferenceKind(rawValue: referenceKind) else {
      throw CallError.usage("bad reference kind \(referenceKind) (0 zeros, 1 arrays, 2 background, 3 shuffles)")
    }
    let xs = try tensors(nInputs, inputs, inputRanks, inputDims, "input")
    for (name, x) in zip(names, xs) {
      guard x.shape.rank >= 1 else { throw CallError.failed("input '\(name)' has no batch axis (shape ())") }
      try checkFinite(x, name: "input '\(name)'")
    }
    let outShapes = try shapes(nOutputs, outRanks, outDims, "output")
    guard nOutputs == nInputs, nOutputs == 0 || outputs != nil else {
      throw CallError.usage("\(nOutputs) output array(s) for \(nInputs) input(s)")
    }
    let n = xs.first.map { $0.shape[0] } ?? 0
    guard deltas == nil || nDeltas == Int64(n) else {
      throw CallError.usage("deltas holds \(nDeltas) float(s) for \(n) example(s)")
    }
    let references: ReferenceSet
    switch kind {
    case .zeros:
      references = .zeros
    case .shuffles:
      guard o.shuffles >= 1 else { throw CallError.usage("shuffled references need the option shuffles ≥ 1") }
      references = .shuffles(count: o.shuffles, seed: o.seed)
    case .arrays, .background:
      guard nRefs == nInputs else {
        throw CallError.failed("\(nRefs) reference array(s) for \(nInputs) model input(s) (\(names.joined(separator: ", ")))")
      }
      let rs = try tensors(nRefs, refs, refRanks, refDims, "reference")
      for (name, r) in zip(names, rs) { try checkFinite(r, name: "\(kind == .arrays ? "reference" : "background") for input '\(name)'") }
      if kind == .arrays {
        for (k, (x, r)) in zip(xs, rs).enumerated() where ReferenceSet.checkedForm(reference: r.shape, input: x.shape) == nil {
          throw CallError.failed(
            "reference for input '\(names[k])' has shape \(describe(r.shape)) but the input has shape \(describe(x.shape)): give one example's shape, the input's shape, or [N, M, …]"
          )
        }
        references = .arrays(rs)
      } else {
        for (k, (x, r)) in zip(xs, rs).enumerated()
        where r.shape.rank != x.shape.rank || Array(r.shape.dimensions.dropFirst()) != Array(x.shape.dimensions.dropFirst()) {
          throw CallError.failed(
            "background for input '\(names[k])' has shape \(describe(r.shape)) but the input has shape \(describe(x.shape)): give [M, …] rows of one example's shape"
          )
        }
        references = .background(rs)
      }
    }
    let explainer = try b.explainer(o)
    let result = try explainer.explain(inputs: xs, references: references)
    for (k, (s, t)) in zip(outShapes, result.scores).enumerated() where s != t.shape {
      throw CallError.usage("output #\(k) has shape \(describe(s)) but the scores of input '\(names[k])' have shape \(describe(t.shape))")
    }
    for (k, t) in result.scores.enumerated() {
      guard let p = outputs![k] else { throw CallError.usage("output #\(k): null data") }
      t.withUnsafeBufferPointer { src in p.update(from: src.baseAddress!, count: src.count) }
    }
    if let deltas {
      let d = result.convergenceDelta
      for i in 0..<n { deltas[i] = i < d.count ? d[i] : .nan }
    }
  }
}
