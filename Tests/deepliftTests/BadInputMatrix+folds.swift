import Foundation
import Testing

// Issue 18: several MODEL files (cross-validation folds) and `--task profile`. Fixtures of
// Scripts/fixtures/make_profile_goldens.py (`%profile/…`: bpnet-lite BPNets, `[N, 4, 200]`).
enum FoldsMatrix {
  static let x = "%profile/x.npy"

  static let cases: [BadCase] = [
    BadCase(
      label: "folds: input shapes differ (the second model named)",
      arguments: ["explain", "%profile/bpnet.onnx", "&genomics_cnn.onnx", "--input", x, "--output", "out.npy"],
      status: 1, mentions: ["genomics_cnn.onnx", "cannot be averaged", "input shapes", "bpnet.onnx"]),
    BadCase(
      label: "folds: input layouts differ (Keras channels last, ONNX channels first)",
      arguments: ["explain", "%profile/bpnet.onnx", "@genomics_cnn.h5", "--input", x, "--output", "out.npy"],
      status: 1, mentions: ["genomics_cnn.h5", "cannot be averaged", "layout"]),
    BadCase(
      label: "folds: the same model twice",
      arguments: ["explain", "%profile/bpnet.onnx", "%profile/bpnet.onnx", "--input", x, "--output", "out.npy"],
      status: 2, mentions: ["bpnet.onnx", "given twice"]),
    BadCase(
      label: "folds: a CSV table input",
      arguments: ["explain", "%profile/bpnet.onnx", "%profile/bpnet_fold2.onnx", "--input", "t.csv", "--output", "out.csv"],
      status: 2, mentions: ["several models", ".csv"], precreate: "out.csv",
      setup: { dir in try Data("a,b\n1,2\n".utf8).write(to: dir.appendingPathComponent("t.csv")) }),
    BadCase(
      label: "folds: a second model that is missing",
      arguments: ["explain", "%profile/bpnet.onnx", "nothere.onnx", "--input", x, "--output", "out.npy"],
      status: 1, mentions: ["nothere.onnx"]),
    BadCase(
      label: "--task profile with --contrast",
      arguments: ["explain", "%profile/bpnet.onnx", "--input", x, "--output", "out.npy", "--task", "profile", "--contrast", "1"],
      status: 1, mentions: ["profile", "contrast"]),
  ]
}

@Suite("deeplift bad-input matrix: folds and the profile target (issue 18)")
struct FoldsMatrixTests {
  @Test("refused folds", arguments: FoldsMatrix.cases)
  func refused(_ c: BadCase) throws { try BadInputMatrixTests.check(c) }
}
