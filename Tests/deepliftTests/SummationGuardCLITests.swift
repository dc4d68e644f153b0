import Foundation
import LiftIO
import LiftTensor
import LiftTestSupport
import Testing

/// The summation-to-delta guard of `deeplift explain` (CLI.md) and mixed reference forms on
/// a two-input model (issue 14, items 3 and 4), run as a process.
@Suite("deeplift summation-to-delta guard")
struct SummationGuardCLITests {
  /// genomics_cnn.h5 (conv → max pool → dense; 3 one-hot examples of length 50) against two
  /// dinucleotide shuffles each.
  func genomics(_ extra: [String], output: String = "s.npy") throws -> (CLIResult, URL) {
    let dir = try scratchDirectory()
    let out = dir.appendingPathComponent(output)
    let r = try runDeeplift(
      arguments: ["explain", fixture("genomics_cnn.h5"), "--input", fixture("genomics_cnn.x.npy"), "--shuffles", "2", "--output", out.path]
        + extra)
    return (r, out)
  }

  /// The `K of N example(s)` count of a warning line.
  func missCount(_ line: Substring) -> (Int, Int)? {
    guard let range = line.range(of: " example(s) miss") else { return nil }
    let words = line[..<range.lowerBound].split(separator: " ")
    guard words.count >= 3, words[words.count - 2] == "of", let k = Int(words[words.count - 3]), let n = Int(words.last!)
    else { return nil }
    return (k, n)
  }

  @Test func gradientMaxPoolRuleWarns() throws {
    let (r, out) = try genomics([])
    #expect(r.status == 0, "\(r.stderr)")
    #expect(FileManager.default.fileExists(atPath: out.path))
    let lines = r.stderrLines
    // The line other scripts parse stays, and the warning follows it.
    let i = try #require(lines.firstIndex { $0.hasPrefix("summation-to-delta: worst |sum(scores) - (f(x) - f(ref))| = ") })
    let warning = try #require(i + 1 < lines.count ? lines[i + 1] : nil)
    #expect(warning.hasPrefix("warning: summation-to-delta"), "\(r.stderr)")
    let (k, n) = try #require(missCount(warning), "\(warning)")
    #expect(n == 3 && (1...3).contains(k), "\(warning)")
    for word in ["max pooling", "gradient rule", "--maxpool deepshap", "worst: example"] {
      #expect(warning.contains(word), "\(word): \(warning)")
    }

    // --quiet drops the line, keeps the warning.
    let (quiet, _) = try genomics(["--quiet"])
    #expect(quiet.status == 0)
    #expect(quiet.stderrLines.count == 1 && quiet.stderr.hasPrefix("warning: summation-to-delta"), "\(quiet.stderr)")

    // --hypothetical outputs no contributions, but the run is still checked.
    let (hypothetical, _) = try genomics(["--hypothetical"])
    #expect(hypothetical.status == 0)
    #expect(hypothetical.stderrLines.contains { $0.hasPrefix("warning: summation-to-delta") }, "\(hypothetical.stderr)")

    // A limit above the worst error passes (with the warning); the output is written.
    let (lenient, lenientOut) = try genomics(["--max-delta-error", "1e9"])
    #expect(lenient.status == 0, "\(lenient.stderr)")
    #expect(lenient.stderrLines.contains { $0.hasPrefix("warning: summation-to-delta") })
    #expect(try NumPy.read(lenientOut) == NumPy.read(out))
  }

  /// The deepshap max-pool rule keeps summation-to-delta: no warning, and the tightest
  /// sensible limit passes.
  @Test func deepShapRulePasses() throws {
    let (r, out) = try genomics(["--maxpool", "deepshap", "--max-delta-error", "1e-4"])
    #expect(r.status == 0, "\(r.stderr)")
    #expect(r.stderrLines.contains { $0.hasPrefix("summation-to-delta: worst") })
    #expect(!r.stderr.contains("warning"), "\(r.stderr)")
    #expect(FileManager.default.fileExists(atPath: out.path))
  }

  /// Gradient methods have no such guarantee: no line, no warning.
  @Test func gradientMethodsAreNotChecked() throws {
    let (r, _) = try genomics(["--method", "integrated-gradients", "--steps", "5"])
    #expect(r.status == 0, "\(r.stderr)")
    #expect(!r.stderr.contains("summation-to-delta"), "\(r.stderr)")
  }

  /// `seq=R1.npy` shared (one example's shape) with `vec=R2.npy` per example: accepted, and
  /// the scores equal those with R1 repeated for every example by hand.
  @Test func multiInputReferencesMixForms() throws {
    let dir = try scratchDirectory()
    let x0 = try NumPy.read(URL(fileURLWithPath: fixture("two_input.x0.npy")))  // [3, 10, 4]
    let n = x0.shape[0]
    let shared = GuardMatrix.values([10, 4], seed: 3), perExample = GuardMatrix.values([n, 5], seed: 4)
    let repeated = Tensor(shape: [n, 10, 4], scalars: Array((0..<n).map { _ in shared.scalars }.joined()))
    for (name, t) in [("rseq.npy", shared), ("rvec.npy", perExample), ("rseq_n.npy", repeated)] {
      try NumPy.write(t, to: dir.appendingPathComponent(name))
    }
    func run(_ seqReference: String, _ output: String) throws -> [(name: String, tensor: Tensor)] {
      let r = try runDeeplift(arguments: [
        "explain", fixture("two_input.h5"), "--input", "seq=" + fixture("two_input.x0.npy"), "--input",
        "vec=" + fixture("two_input.x1.npy"), "--reference", "seq=" + dir.appendingPathComponent(seqReference).path,
        "--reference", "vec=" + dir.appendingPathComponent("rvec.npy").path, "--output", dir.appendingPathComponent(output).path,
        // The model has a global max pool: the deepshap rule keeps summation-to-delta.
        "--maxpool", "deepshap",
      ])
      #expect(r.status == 0, "\(r.stderr)")
      #expect(!r.stderr.contains("warning"), "\(r.stderr)")
      return try NumPy.readArchive(dir.appendingPathComponent(output))
    }
    let mixed = try run("rseq.npy", "mixed.npz"), expanded = try run("rseq_n.npy", "expanded.npz")
    #expect(mixed.map(\.name) == expanded.map(\.name))
    for (a, b) in zip(mixed, expanded) { expectClose(a.tensor, b.tensor, rtol: 1e-5, atol: 1e-6) }
  }
}
