import Foundation
import LiftIO
import LiftTensor
import Testing

/// The CLI contract: "`--batch-size` changes only speed and memory, never a result". Scores
/// must come out with the same BITS whatever the batch size (OpenBLAS computes a row's low
/// bits differently with the call size and, on the Haswell and Zen kernels, with the row's
/// position inside the call: LiftTensor's `sgemm` fixes both).
@Suite("deeplift explain scores do not depend on --batch-size, bit for bit")
struct BatchSizeInvarianceTests {
  static let genomics = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("Examples/genomics")

  /// Environments to run under: the inherited one, and, on x86-64 CPUs with AVX2 and FMA,
  /// OpenBLAS forced to its Haswell kernel (position-dependent at 16 rows and more).
  static func environments() -> [[String: String]] {
    var result: [[String: String]] = [[:]]
    #if arch(x86_64)
      if let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
        let flags = info.split(separator: "\n").first(where: { $0.hasPrefix("flags") }),
        flags.split(separator: " ").contains("avx2") && flags.split(separator: " ").contains("fma")
      {
        result.append(["OPENBLAS_CORETYPE": "Haswell"])
      }
    #endif
    return result
  }

  /// Runs `explain` with each batch size and expects byte-identical `.npy` outputs.
  func expectBatchSizeInvariant(_ arguments: [String], label: String) throws {
    let dir = try scratchDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    for environment in Self.environments() {
      var first: Data?
      for batch in [1, 3, 7, 64] {
        let out = dir.appendingPathComponent("s\(batch).npy").path
        let r = try runDeeplift(
          arguments: arguments + ["--output", out, "--batch-size", "\(batch)"], environment: environment)
        #expect(r.status == 0, "\(label) \(environment) batch \(batch): \(r.stderr)")
        let bytes = try Data(contentsOf: URL(fileURLWithPath: out))
        if let first {
          #expect(bytes == first, "\(label) \(environment): --batch-size \(batch) differs from --batch-size 1")
        } else {
          first = bytes
        }
      }
    }
  }

  /// A 1-D convolutional genomics model (conv → pool → dense), 20 sequences of 200 bp, one
  /// shared reference, every task, with the DeepSHAP max-pool rule.
  @Test func convolutionalModel() throws {
    let model = Self.genomics.appendingPathComponent("model.h5").path
    try expectBatchSizeInvariant(
      [
        "explain", model, "--input", Self.genomics.appendingPathComponent("sequences.npy").path,
        "--reference", Self.genomics.appendingPathComponent("reference.npy").path, "--method", "genomics-default",
        "--task", "all", "--maxpool", "deepshap",
      ], label: "conv")
  }

  /// The Keras MLP fixture on 70 inputs with per-example references, RevealCancel rule.
  @Test func multilayerPerceptron() throws {
    let dir = try scratchDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let n = 70
    let x = Tensor(shape: [n, 6], scalars: (0..<(n * 6)).map { Float(($0 * 37) % 101) / 50 - 1 })
    let r = Tensor(shape: [n, 6], scalars: (0..<(n * 6)).map { Float(($0 * 11) % 53) / 106 })
    let xPath = dir.appendingPathComponent("x.npy"), rPath = dir.appendingPathComponent("r.npy")
    try NumPy.write(x, to: xPath)
    try NumPy.write(r, to: rPath)
    try expectBatchSizeInvariant(
      [
        "explain", fixture("mlp.h5"), "--input", xPath.path, "--reference", rPath.path, "--task", "all",
        "--method", "reveal-cancel",
      ], label: "mlp")
  }
}
