import Foundation
import LiftC
import LiftIO
import LiftKit
import LiftTensor
import Testing

/// The C ABI marshals only: its scores are LiftKit's for the same model and options, and every
/// malformed call comes back as status 2 with a message, never a trap.
@Suite("LiftC C ABI")
struct LiftCTests {
  static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("LiftAttributionTests/Fixtures/layer")
  let modelPath = fixtures.appendingPathComponent("cnn.h5").path

  /// Calls `body` with an error buffer and returns (status, message).
  func call(_ body: (UnsafeMutablePointer<CChar>, Int64) -> Int32) -> (Int32, String) {
    var buf = [CChar](repeating: 0, count: 1024)
    let status = buf.withUnsafeMutableBufferPointer { body($0.baseAddress!, 1024) }
    return (status, text(buf))
  }

  /// The NUL-terminated UTF-8 text in `b` (nil when it is not valid UTF-8).
  func utf8(_ b: [CChar]) -> String? {
    String(validating: b.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
  }

  func text(_ b: [CChar]) -> String { utf8(b) ?? "<invalid UTF-8>" }

  func open(_ path: String) -> OpaquePointer? {
    var out: OpaquePointer? = nil
    let (status, message) = call { liftc_model_open(path, &out, $0, $1) }
    #expect(status == 0, "\(message)")
    return out
  }

  func options(_ pairs: [(String, String)]) -> OpaquePointer? {
    let o = liftc_options_new()
    for (k, v) in pairs {
      let (status, message) = call { liftc_options_set(o, k, v, $0, $1) }
      #expect(status == 0, "\(k)=\(v): \(message)")
    }
    return o
  }

  /// Runs liftc_explain on one input with `refs` of `kind` into an output of `outShape`.
  func explain(
    _ model: OpaquePointer?, _ opts: OpaquePointer?, _ x: Tensor, kind: Int32 = 0, refs: Tensor? = nil,
    outShape: [Int]? = nil, deltas: inout [Float]
  ) -> (Int32, String, Tensor) {
    let oshape = outShape ?? x.shape.dimensions
    var out = [Float](repeating: 7, count: oshape.reduce(1, *))
    let xs = x.withUnsafeBufferPointer { Array($0) }
    let rs = refs.map { r in r.withUnsafeBufferPointer { Array($0) } } ?? []
    var result: (Int32, String) = (0, "")
    xs.withUnsafeBufferPointer { xp in
      rs.withUnsafeBufferPointer { rp in
        out.withUnsafeMutableBufferPointer { op in
          deltas.withUnsafeMutableBufferPointer { dp in
            let inputs: [UnsafePointer<Float>?] = [xp.baseAddress]
            let references: [UnsafePointer<Float>?] = [rp.baseAddress]
            let outputs: [UnsafeMutablePointer<Float>?] = [op.baseAddress]
            let xr: [Int32] = [Int32(x.shape.rank)], rr: [Int32] = [Int32(refs?.shape.rank ?? 0)]
            let orr: [Int32] = [Int32(oshape.count)]
            let xd = x.shape.dimensions.map { Int64($0) }, rd = (refs?.shape.dimensions ?? []).map { Int64($0) }
            let od = oshape.map { Int64($0) }
            result = call { err, cap in
              liftc_explain(
                model, opts, 1, inputs, xr, xd, kind, refs == nil ? 0 : 1, references, rr, rd, 1, outputs, orr, od,
                dp.baseAddress, Int64(dp.count), err, cap)
            }
          }
        }
      }
    }
    return (result.0, result.1, Tensor(shape: Shape(oshape), scalars: out))
  }

  @Test func scoresAreLiftKits() throws {
    let x = try readArray(at: LiftCTests.fixtures.appendingPathComponent("cnn.x.npy"))
    let ref = try readArray(at: LiftCTests.fixtures.appendingPathComponent("cnn.ref.npy"))
    let model = open(modelPath)
    defer { liftc_model_free(model) }
    #expect(liftc_model_input_count(model) == 1)
    let lk = try Model(contentsOf: URL(fileURLWithPath: modelPath))
    let cases: [([(String, String)], Int32, Tensor?, AttributionMethod, AttributionOptions, ReferenceSet)] = [
      ([], 0, nil, .rescale, AttributionOptions(), .zeros),
      ([("method", "reveal-cancel"), ("task", "1")], 1, ref, .revealCancel, AttributionOptions(tasks: .task(1)), .arrays([ref])),
      ([("method", "genomics-default"), ("task", "0,1"), ("output", "multipliers")], 1, ref, .genomicsDefault,
       AttributionOptions(tasks: .indices([0, 1]), output: .multipliers), .arrays([ref])),
      ([("shuffles", "3"), ("seed", "5"), ("output", "hypothetical")], 3, nil, .rescale,
       AttributionOptions(output: .hypothetical), .shuffles(count: 3, seed: 5)),
    ]
    for (pairs, kind, refs, method, o, references) in cases {
      let opts = options(pairs)
      defer { liftc_options_free(opts) }
      let expected = try lk.explainer(method: method, options: o).explain(inputs: [x], references: references)
      var deltas = [Float](repeating: -1, count: x.shape[0])
      let (status, message, scores) = explain(
        model, opts, x, kind: kind, refs: refs, outShape: expected.scores[0].shape.dimensions, deltas: &deltas)
      #expect(status == 0, "\(pairs): \(message)")
      #expect(scores == expected.scores[0], "\(pairs)")
      #expect(deltas == expected.convergenceDelta, "\(pairs)")
    }
  }

  @Test func malformedCallsAreRefused() throws {
    var out: OpaquePointer? = nil
    #expect(call { liftc_model_open(nil, &out, $0, $1) }.0 == 2)
    #expect(call { liftc_model_open(modelPath, nil, $0, $1) }.0 == 2)
    #expect(call { liftc_model_open_bytes(nil, 3, nil, &out, $0, $1) }.0 == 2)
    let missing = call { liftc_model_open("/nonexistent/m.onnx", &out, $0, $1) }
    #expect(missing.0 == 1 && missing.1 == "m.onnx: no such file" && out == nil)
    #expect(liftc_model_input_count(nil) == -1)
    liftc_model_free(nil)
    liftc_options_free(nil)

    let model = open(modelPath)
    defer { liftc_model_free(model) }
    let opts = liftc_options_new()
    defer { liftc_options_free(opts) }
    for (k, v) in [("colour", "red"), ("task", "-1"), ("method", "deeplift"), ("batch-size", "0"), ("seed", "x")] {
      let (status, message) = call { liftc_options_set(opts, k, v, $0, $1) }
      #expect(status == 2 && message.contains(k == "colour" ? "unknown option" : k), "\(k)=\(v): \(message)")
    }
    let x = try readArray(at: LiftCTests.fixtures.appendingPathComponent("cnn.x.npy"))
    var deltas = [Float](repeating: 0, count: x.shape[0])
    // A wrong output shape: refused, the buffer untouched.
    var wrong = x.shape.dimensions
    wrong[1] += 1
    let (s1, m1, o1) = explain(model, opts, x, outShape: wrong, deltas: &deltas)
    #expect(s1 == 2 && m1.contains("output #0"), "\(m1)")
    #expect(o1.withUnsafeBufferPointer { $0.allSatisfy { $0 == 7 } })
    // Bad reference kind, references of the wrong shape, a deltas count that is not N.
    #expect(explain(model, opts, x, kind: 9, deltas: &deltas).0 == 2)
    let (s2, m2, _) = explain(model, opts, x, kind: 1, refs: Tensor.zeros([2, 3]), deltas: &deltas)
    #expect(s2 == 1 && m2.contains("reference"), "\(m2)")
    var short = [Float](repeating: 0, count: 1)
    #expect(explain(model, opts, x, deltas: &short).0 == 2)
    // A NaN input is refused naming it.
    var bad = x
    bad.withUnsafeMutableBufferPointer { $0[0] = .nan }
    let (s3, m3, _) = explain(model, opts, bad, deltas: &deltas)
    #expect(s3 == 1 && m3.contains("NaN"), "\(m3)")
    // A message longer than the buffer is cut on a character boundary, NUL-terminated.
    var small = [CChar](repeating: 1, count: 6)
    #expect(small.withUnsafeMutableBufferPointer { liftc_options_set(opts, "ünknown", "x", $0.baseAddress, 6) } == 2)
    #expect(small.contains(0))
    #expect(utf8(small) != nil)
  }
}
