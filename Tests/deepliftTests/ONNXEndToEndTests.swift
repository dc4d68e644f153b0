import Foundation
import LiftIO
import LiftTensor
import Testing

/// The ONNX goldens of LiftONNXTests (Captum 0.9, SHAP DeepExplainer, tangermeme; written by
/// Scripts/fixtures/make_onnx_goldens.py) reproduced through the command line.
let onnxGoldens = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
  .deletingLastPathComponent().appendingPathComponent("LiftONNXTests/Fixtures/goldens")

func onnxGolden(_ name: String) -> String { onnxGoldens.appendingPathComponent(name).path }

/// |ours − theirs| ≤ 5e-4·max|theirs| + 1e-3·|theirs| elementwise.
func expectGoldenClose(
  _ ours: Tensor, _ theirs: Tensor, _ what: String, sourceLocation: SourceLocation = #_sourceLocation
) {
  #expect(ours.shape == theirs.shape, "\(what): shape", sourceLocation: sourceLocation)
  guard ours.shape == theirs.shape else { return }
  let scale = theirs.scalars.map(abs).max() ?? 0
  let worst = zip(ours.scalars, theirs.scalars).map { abs($0 - $1) - 1e-3 * abs($1) }.max() ?? 0
  #expect(worst <= 5e-4 * scale, "\(what): excess \(worst), scale \(scale)", sourceLocation: sourceLocation)
}

@Suite("deeplift end to end on ONNX models (Captum, SHAP, tangermeme goldens)")
struct ONNXEndToEndTests {
  func explain(_ model: String, _ arguments: [String]) throws -> Tensor {
    let dir = try makeTemporaryDirectory()
    defer { cleanup(dir) }
    let out = dir.appendingPathComponent("out.npy")
    let r = try runDeeplift(
      arguments: ["explain", model, "--output", out.path, "--quiet"] + arguments, in: dir)
    #expect(r.status == 0, "\(arguments): \(r.stderr)")
    return try NumPy.read(out)
  }

  @Test("--background --maxpool deepshap equals SHAP DeepExplainer")
  func backgroundEqualsSHAP() throws {
    let ours = try explain(
      onnxGolden("genomics.onnx"),
      [
        "--input", onnxGolden("genomics_x.npy"), "--background", onnxGolden("genomics_bg.npy"),
        "--maxpool", "deepshap", "--task", "1",
      ])
    expectGoldenClose(
      ours,
      try NumPy.read(
        URL(fileURLWithPath: onnxGolden("genomics_rescale_background_t1_deepshap_shap-0.51.0.npy"))),
      "SHAP")
  }

  @Test("--hypothetical with [N, M, 4, L] references equals tangermeme (channel axis 1 for ONNX)")
  func hypotheticalEqualsTangermeme() throws {
    let ours = try explain(
      onnxGolden("genomics.onnx"),
      [
        "--input", onnxGolden("genomics_x.npy"), "--reference", onnxGolden("genomics_multi.npy"),
        "--maxpool", "deepshap", "--hypothetical",
      ])
    let theirs = try NumPy.read(
      URL(
        fileURLWithPath: onnxGolden("genomics_rescale_multiple_t0_deepshap_tangermeme-1.6.0_True_exact.npy")))
    expectGoldenClose(ours, theirs, "tangermeme hypothetical")
  }

  @Test("integrated gradients (riemann_trapezoid, 32 steps) equals Captum")
  func integratedGradients() throws {
    let ours = try explain(
      onnxGolden("genomics.onnx"),
      [
        "--input", onnxGolden("genomics_x.npy"), "--reference", onnxGolden("genomics_ref.npy"),
        "--method", "integrated-gradients", "--ig-method", "riemann_trapezoid", "--steps", "32", "--task",
        "1",
      ])
    expectGoldenClose(
      ours,
      try NumPy.read(
        URL(
          fileURLWithPath: onnxGolden("genomics_integrated-gradients_per-example_t1_riemann_trapezoid_32.npy")
        )),
      "IG")
  }

  @Test("guided backprop on the residual net equals Captum")
  func guidedBackprop() throws {
    let ours = try explain(
      onnxGolden("residual.onnx"),
      ["--input", onnxGolden("residual_x.npy"), "--method", "guided-backprop", "--task", "1"])
    expectGoldenClose(
      ours, try NumPy.read(URL(fileURLWithPath: onnxGolden("residual_guided-backprop_zeros_t1.npy"))),
      "guided")
  }

  @Test("--task 0,1 stacks the per-task Captum goldens")
  func twoTasks() throws {
    let ours = try explain(
      onnxGolden("genomics.onnx"),
      [
        "--input", onnxGolden("genomics_x.npy"), "--reference", onnxGolden("genomics_ref.npy"),
        "--maxpool", "deepshap", "--task", "0,1",
      ])
    #expect(ours.shape == [4, 2, 4, 60])
    guard ours.shape == [4, 2, 4, 60] else { return }
    for task in 0..<2 {
      let theirs = try NumPy.read(
        URL(fileURLWithPath: onnxGolden("genomics_rescale_per-example_t\(task)_deepshap.npy")))
      let row = 4 * 60
      var slice: [Float] = []
      for i in 0..<4 {
        let start: Int = (i * 2 + task) * row
        slice += ours.scalars[start..<(start + row)]
      }
      expectGoldenClose(Tensor(shape: theirs.shape, scalars: slice), theirs, "task \(task)")
    }
  }

  /// The model type comes from the content: mlp_sigmoid.onnx copied without its extension.
  /// It ends in a Sigmoid node, so the default target is the logit and the scores equal
  /// Captum's on the logits model.
  @Test func defaultTargetAndContentDetection() throws {
    let dir = try makeTemporaryDirectory()
    defer { cleanup(dir) }
    let model = dir.appendingPathComponent("model.bin")
    try FileManager.default.copyItem(at: URL(fileURLWithPath: onnxGolden("mlp_sigmoid.onnx")), to: model)
    let ours = try explain(model.path, ["--input", onnxGolden("mlp_x.npy")])
    expectGoldenClose(
      ours, try NumPy.read(URL(fileURLWithPath: onnxGolden("mlp_rescale_zeros_t0_deepshap.npy"))),
      "sigmoid twin")
  }
}
