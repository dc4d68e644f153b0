import Foundation
import LiftIO
import LiftTensor
import Testing

/// Goldens of Scripts/fixtures/make_profile_goldens.py: tangermeme 1.6 `deep_lift_shap` (float64)
/// on bpnet-lite 1.1's BPNet exported to ONNX, with chrombpnet's profile target (softmax
/// weights through `stop_gradient`) and bpnet-lite's CountWrapper, against explicit
/// references `[N, M, 4, L]`.
@Suite("Profile and counts goldens (tangermeme, bpnet-lite BPNet)")
struct ProfileGoldenTests {
  static let directory = matrixFixtures.appendingPathComponent("profile")
  static func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

  /// `profile.contrib.npy` is tangermeme's `hypothetical=False` output: the mean hypothetical
  /// scores × one-hot, i.e. each position's contribution on its observed base; ours spread
  /// `m·(x − r)` over the four channels, so that case compares the sums over the channels.
  static let cases: [(options: [String], golden: String)] = [
    (["--task", "profile", "--hypothetical"], "profile.hyp.npy"),
    (["--task", "profile"], "profile.contrib.npy"),
    (["--target", "counts", "--hypothetical"], "counts.hyp.npy"),
  ]

  @Test(arguments: 0..<cases.count)
  func matchesTangermeme(_ k: Int) throws {
    let (options, golden) = Self.cases[k]
    let dir = try scratchDirectory()
    let out = dir.appendingPathComponent("out.npy")
    let r = try runDeeplift(arguments: [
      "explain", Self.path("bpnet.onnx"), "--input", Self.path("x.npy"), "--reference", Self.path("refs.npy"),
      "--output", out.path, "--max-delta-error", "1e-3",
    ] + options)
    #expect(r.status == 0, "\(r.stderr)")
    var ours = try NumPy.read(out)
    var expected = try NumPy.read(Self.directory.appendingPathComponent(golden))
    if golden == "profile.contrib.npy" {
      (ours, expected) = (Self.channelSums(ours), Self.channelSums(expected))
    }
    #expect(ours.shape == expected.shape)
    let scale = expected.scalars.reduce(Float(0)) { max($0, abs($1)) }
    let worst = zip(ours.scalars, expected.scalars).reduce(Float(0)) { max($0, abs($1.0 - $1.1)) }
    #expect(scale > 0.01, "the golden is not trivially zero")
    #expect(worst <= 1e-5 * max(1, scale), "\(golden): worst |ours − tangermeme| = \(worst) (scale \(scale))")
  }

  /// `[N, 4, L]` → `[N, L]`, the sum over the channels.
  static func channelSums(_ t: Tensor) -> Tensor {
    let (n, c, l) = (t.shape[0], t.shape[1], t.shape[2])
    var out = [Float](repeating: 0, count: n * l)
    for e in 0..<n {
      for k in 0..<c { for i in 0..<l { out[e * l + i] += t.scalars[(e * c + k) * l + i] } }
    }
    return Tensor(shape: Shape([n, l]), scalars: out)
  }

  /// The h5 of a profile run records the task as `profile`.
  @Test func profileInH5Attributes() throws {
    let dir = try genomeScratch()
    let out = dir.appendingPathComponent("p.h5")
    let g = try runDeeplift(arguments: [
      "explain", onnxFixtures.appendingPathComponent("genomics_cnn.onnx").path, "--genome",
      dir.appendingPathComponent("genome.fa").path, "--regions", dir.appendingPathComponent("peaks.bed").path,
      "--output", out.path, "--shuffles", "2", "--seed", "1", "--task", "profile", "--quiet",
    ])
    #expect(g.status == 0, "\(g.stderr)")
    #expect(H5Read.attribute(out, "task") == "profile")
  }
}
