import Foundation
import LiftKit
import LiftNN
import LiftTensor
import LiftTestSupport
import Testing

/// ONNX tensors that the importer keeps channels-last (Conv 1×1 → ReLU → AvgPool: the conv and
/// ReLU outputs live in NHWC between the two channels-last ops) are never handed out under
/// their ONNX names in the internal order: naming them is refused with one clear error, the
/// internal `:channels_last` node holds the onnxruntime value in NHWC order, and tasks at the
/// output count in ONNX's order (torch autograd of that element). Fixtures:
/// Scripts/fixtures/make_layout_fixtures.py.
@Suite("ONNX layouts of named tensors")
struct LayoutTests {
  static let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .appendingPathComponent("Fixtures/layout")
  let model: Model
  let x: Tensor
  let names: [String: Any]

  init() throws {
    model = try Model(contentsOf: Self.dir.appendingPathComponent("layout.onnx"))
    x = try array("x.npy", in: Self.dir)
    let json = try Data(contentsOf: Self.dir.appendingPathComponent("names.json"))
    names = try JSONSerialization.jsonObject(with: json) as! [String: Any]
  }

  var relu: String { names["relu"] as! String }
  var conv: String { names["conv"] as! String }

  @Test func innerChannelsLastTensorsAreRefusedByTheirONNXNames() throws {
    for name in [relu, conv] {
      for role in ["layer", "target"] {
        do {
          _ = try model.node(named: name, role: role)
          Issue.record("\(name) resolved although its internal layout differs from ONNX's")
        } catch {
          guard case .layoutDiffers(let n, let r, let internalName) = error else {
            Issue.record("\(name): \(error)")
            continue
          }
          #expect(n == name && r == role && internalName == name + ":channels_last")
          #expect(error.description.hasPrefix("\(role) '\(name)': "))
          #expect(error.description.contains(internalName))
        }
      }
      #expect(throws: LiftKitError.self) { _ = try model.explainer(method: .gradient, target: name) }
      var o = AttributionOptions()
      o.layers = [name]
      #expect(throws: LiftKitError.self) { _ = try model.explainer(method: .rescale, options: o) }
    }
    // Names the importer never had are still plain unknown layers.
    do {
      _ = try model.node(named: "nope")
      Issue.record("'nope' resolved")
    } catch {
      guard case .noSuchLayer = error else {
        Issue.record("\(error)")
        return
      }
    }
  }

  /// The explicit internal name gives the ReLU in NHWC: onnxruntime's NCHW value transposed.
  @Test func internalNameHoldsTheONNXValueChannelsLast() throws {
    let id = try model.node(named: relu + ":channels_last")
    let got = try model.predict(inputs: [x], layers: [id])[0]
    let expected = transposed(try array("relu.ort.npy", in: Self.dir), permutation: [0, 2, 3, 1])
    expectClose(got, expected, rtol: 1e-5, atol: 1e-5)
  }

  /// The output keeps ONNX's layout: values match onnxruntime, and `--task K` is ONNX's
  /// flattened element K (the gradient equals torch autograd of that element), for K whose
  /// NCHW and NHWC positions differ.
  @Test func outputTasksCountInONNXOrder() throws {
    let y = try model.predict(inputs: [x])[0]
    expectClose(y, try array("y.ort.npy", in: Self.dir), rtol: 1e-5, atol: 1e-5)
    for k in names["tasks"] as! [Int] {
      var o = AttributionOptions()
      o.tasks = .task(k)
      let a = try model.explainer(method: .gradient, options: o).explain(inputs: [x])
      expectClose(a.scores[0], try array("grad.\(k).npy", in: Self.dir), rtol: 1e-5, atol: 1e-6, "task \(k)")
    }
  }

  /// `--task all` at the output: one gradient per ONNX-ordered element, task axis after the
  /// batch axis.
  @Test func allTasksAreInONNXOrder() throws {
    var o = AttributionOptions()
    o.tasks = .all
    let a = try model.explainer(method: .gradient, options: o).explain(inputs: [x])
    let s = a.scores[0]
    #expect(s.shape == [2, 32, 3, 4, 5])
    let per = 3 * 4 * 5
    for k in names["tasks"] as! [Int] {
      let expected = try array("grad.\(k).npy", in: Self.dir).scalars
      var got = [Float]()
      for n in 0..<2 { got += s.scalars[(n * 32 + k) * per..<(n * 32 + k + 1) * per] }
      expectClose(got, expected, rtol: 1e-5, atol: 1e-6, "task \(k) of all")
    }
  }
}
