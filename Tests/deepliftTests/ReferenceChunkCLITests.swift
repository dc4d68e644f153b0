import Foundation
import LiftIO
import LiftKit
import LiftTensor
import Testing

/// `explain --shuffles M` under a `DEEPLIFT_MEMORY_BUDGET` too small for one example with its
/// M references: the references go through in chunks (one note), and the scores, the
/// MoDISco files and the summation-to-delta line are bit-identical to a run with room.
@Suite("deeplift explain: references in chunks under a small memory budget")
struct ReferenceChunkCLITests {
  @Test(arguments: [false, true])
  func chunkedRunsAreBitIdentical(hypothetical: Bool) throws {
    let dir = try scratchDirectory()
    let model = try Model(contentsOf: URL(fileURLWithPath: fixture("genomics_cnn.h5")))
    let x = try NumPy.read(URL(fileURLWithPath: fixture("genomics_cnn.x.npy")))
    var options = AttributionOptions()
    options.tasks = .indices([0, 1])
    let plan = try model.explainer(method: .genomicsDefault, options: options).batchPlan(
      inputShapes: [x.shape], referencesPerExample: 6, sharedReferenceRows: 0)
    let perPair = plan.bytesPerPair
    func run(_ name: String, budget: Int?) throws -> (CLIResult, URL) {
      let out = dir.appendingPathComponent(name)
      let r = try runDeeplift(
        arguments: [
          "explain", fixture("genomics_cnn.h5"), "--input", fixture("genomics_cnn.x.npy"), "--method", "genomics-default",
          "--shuffles", "6", "--seed", "5", "--task", "0,1", "--output", out.appendingPathExtension("npy").path,
          "--modisco", out.path,
        ] + (hypothetical ? ["--hypothetical"] : []),
        environment: budget.map { ["DEEPLIFT_MEMORY_BUDGET": String($0)] } ?? [:])
      #expect(r.status == 0, "\(r.stderr)")
      return (r, out)
    }
    let (roomy, whole) = try run("whole", budget: nil)
    #expect(!roomy.stderr.contains("go through in"), "\(roomy.stderr)")
    for chunk in [1, 2, 4] {
      let (r, part) = try run("chunk\(chunk)", budget: chunk * perPair + perPair / 2)
      #expect(
        r.stderr.contains("6 references go through in \((6 + chunk - 1) / chunk) chunks of at most \(chunk)"), "\(r.stderr)")
      let a = try NumPy.read(part.appendingPathExtension("npy")), b = try NumPy.read(whole.appendingPathExtension("npy"))
      #expect(a.shape == b.shape && a.scalars.map(\.bitPattern) == b.scalars.map(\.bitPattern), "chunks of \(chunk)")
      for file in ["ohe.npz", "hyp_task0.npz", "hyp_task1.npz"] {
        let p = try NumPy.readArchive(part.appendingPathComponent(file)).map(\.tensor)
        let w = try NumPy.readArchive(whole.appendingPathComponent(file)).map(\.tensor)
        #expect(p.count == 1 && p.map { $0.scalars.map(\.bitPattern) } == w.map { $0.scalars.map(\.bitPattern) }, "\(file)")
      }
      // The summation-to-delta line (contributions runs) is the same to the last printed digit.
      let line = { (s: String) in s.split(separator: "\n").filter { $0.hasPrefix("summation-to-delta") } }
      #expect(line(r.stderr) == line(roomy.stderr))
      if !hypothetical { #expect(line(r.stderr).count == 1, "\(r.stderr)") }
    }
  }
}
