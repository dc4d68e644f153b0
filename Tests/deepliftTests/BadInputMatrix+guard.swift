import Foundation
import LiftIO
import LiftTensor
import Testing

/// Bad-input rows of the summation-to-delta guard (`--max-delta-error`) and of mixed
/// reference forms on multi-input models (issue 14, items 3 and 4): one `error:` line, exit 1
/// (2 for usage), no output written and an existing output left as it was.
enum GuardMatrix {
  /// `[n, m, …]` deterministic values in (−1, 1) (not a reference anyone would pick).
  static func values(_ dims: [Int], seed: Int) -> Tensor {
    let count = dims.reduce(1, *)
    return Tensor(shape: Shape(dims), scalars: (0..<count).map { i in Float(sin(Double(i * 7 + seed * 13) * 0.37)) })
  }

  static let cases: [BadCase] = [
    // genomics_cnn.h5 has max pooling; with shuffled references (one-hot, maxima moved) the
    // gradient rule misses by far more than 1e-6 (SummationGuardCLITests shows the warning).
    BadCase(
      label: "--max-delta-error: gradient max-pool rule misses (streamed .npy)",
      arguments: [
        "explain", "@genomics_cnn.h5", "--input", "@genomics_cnn.x.npy", "--shuffles", "2", "--output", "out.npy",
        "--max-delta-error", "1e-6",
      ], status: 1, mentions: ["summation-to-delta", "--max-delta-error", "max pooling", "--maxpool deepshap"],
      precreate: "out.npy"),
    BadCase(
      label: "--max-delta-error: gradient max-pool rule misses (in-memory .npz)",
      arguments: [
        "explain", "@genomics_cnn.h5", "--input", "@genomics_cnn.x.npy", "--shuffles", "2", "--output", "out.npz",
        "--max-delta-error", "1e-6",
      ], status: 1, mentions: ["summation-to-delta", "--max-delta-error", "max pooling"], precreate: "out.npz"),
    BadCase(
      label: "--max-delta-error: negative",
      arguments: ["explain", "@mlp.h5", "--input", "@mlp.x.npy", "--output", "out.npy", "--max-delta-error", "-1"],
      status: 2, mentions: ["--max-delta-error"]),
    BadCase(
      label: "--max-delta-error: not a DeepLIFT method",
      arguments: [
        "explain", "@mlp.h5", "--input", "@mlp.x.npy", "--output", "out.npy", "--method", "gradient",
        "--max-delta-error", "1",
      ], status: 2, mentions: ["--max-delta-error", "gradient"]),
    BadCase(
      label: "multi-input: references disagree on M",
      arguments: [
        "explain", "@two_input.h5", "--input", "seq=@two_input.x0.npy", "--input", "vec=@two_input.x1.npy",
        "--reference", "seq=rseq.npy", "--reference", "vec=rvec.npy", "--output", "out.npz",
      ], status: 1, mentions: ["'seq'", "'vec'", "2 reference(s)", "has 3"], precreate: "out.npz",
      setup: { dir in
        try NumPy.write(values([3, 2, 10, 4], seed: 1), to: dir.appendingPathComponent("rseq.npy"))
        try NumPy.write(values([3, 3, 5], seed: 2), to: dir.appendingPathComponent("rvec.npy"))
      }),
  ]
}

@Suite("deeplift bad-input matrix: summation guard and mixed references")
struct GuardMatrixTests {
  @Test("guard and mixed references", arguments: GuardMatrix.cases)
  func guardCases(_ c: BadCase) throws { try BadInputMatrixTests.check(c) }
}
