import Foundation
import LiftTensor
import Testing

@testable import LiftPlot

/// Writes sample figures for a person to look at when `LIFTPLOT_GALLERY` names a directory;
/// does nothing otherwise (no checks: the other suites check the pixels).
@Suite struct GalleryTests {
  static let directory = ProcessInfo.processInfo.environment["LIFTPLOT_GALLERY"]

  /// A deterministic pseudo-random generator (SplitMix64), so the pictures are reproducible.
  struct SplitMix {
    var state: UInt64
    mutating func next() -> Double {
      state &+= 0x9E37_79B9_7F4A_7C15
      var z = state
      z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
      z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
      return Double((z ^ (z >> 31)) >> 11) / Double(1 << 53)
    }
  }

  /// One-hot DNA of length `length` with "TGACTCA" planted at 20, and DeepLIFT-like scores:
  /// small noise everywhere, strong positive scores on the motif, a negative patch.
  static func dna(length: Int, seed: UInt64) -> (
    scores: Tensor, hypothetical: Tensor, sequence: Tensor
  ) {
    var rng = SplitMix(state: seed)
    var sequence = Tensor.zeros([1, length, 4])
    var hypothetical = Tensor.zeros([1, length, 4])
    let motif = Array("TGACTCA")
    let index: [Character: Int] = ["A": 0, "C": 1, "G": 2, "T": 3]
    for l in 0..<length {
      let base = (20..<27).contains(l) ? index[motif[l - 20]]! : Int(rng.next() * 4)
      sequence[0, l, base] = 1
      for k in 0..<4 {
        var v = (rng.next() - 0.5) * 0.1
        if (20..<27).contains(l) { v += k == base ? 0.6 + rng.next() * 0.5 : -0.1 * rng.next() }
        if (40..<44).contains(l) { v -= 0.35 }
        hypothetical[0, l, k] = Float(v)
      }
    }
    var scores = hypothetical
    for i in 0..<scores.scalarCount {
      scores.withUnsafeMutableBufferPointer { $0[i] *= sequence.scalars[i] }
    }
    return (scores, hypothetical, sequence)
  }

  @Test func gallery() throws {
    guard let directory = Self.directory else { return }
    let dir = URL(fileURLWithPath: directory)
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    func out(_ name: String) -> URL { dir.appendingPathComponent(name) }

    let (scores, hypothetical, sequence) = Self.dna(length: 60, seed: 7)
    try renderPlot(
      scores: scores, options: PlotOptions(title: "DeepLIFT contributions, example 0"),
      to: out("logo.png"))
    try renderPlot(
      scores: hypothetical, options: PlotOptions(title: "hypothetical scores"),
      to: out("hypothetical.png"))
    try renderPlot(
      scores: hypothetical, options: PlotOptions(sequence: sequence, title: "observed base only"),
      to: out("masked.png"))
    try renderPlot(
      scores: scores, options: PlotOptions(start: 15, end: 35, title: "window [15, 35)"),
      to: out("window.png"))
    try renderPlot(scores: scores, options: PlotOptions(title: "vector"), to: out("logo.svg"))
    try renderPlot(scores: scores, options: PlotOptions(title: "vector"), to: out("logo.pdf"))

    let long = Self.dna(length: 1000, seed: 3).scores
    try renderPlot(scores: long, options: PlotOptions(title: "1000 bp"), to: out("long.png"))

    let short = Tensor(
      shape: [4, 4], scalars: [0.9, 0, 0, 0, 0, -0.4, 0, 0, 0, 0, 0.6, 0.2, 0, 0, 0, 1.2])
    try renderPlot(
      scores: short, options: PlotOptions(title: "a short logo with a long title, four positions"),
      to: out("short.png"))
    let batch = Tensor.concatenate(
      batches: (0..<3).map { Self.dna(length: 50, seed: UInt64(20 + $0)).scores })
    try renderPlot(
      scores: batch,
      options: PlotOptions(examples: [0, 2, 1], start: 10, end: 45, title: "three examples"),
      to: out("examples.png"))

    // Two tasks.
    let t0 = Self.dna(length: 40, seed: 11).scores
    let t1 = Self.dna(length: 40, seed: 12).scores.scalars.map { -$0 }
    let tasks = Tensor(shape: [1, 2, 40, 4], scalars: t0.scalars + t1)
    try renderPlot(scores: tasks, options: PlotOptions(title: "two tasks"), to: out("tasks.png"))

    // Protein.
    var rng = SplitMix(state: 5)
    var protein = Tensor.zeros([1, 30, 20])
    for l in 0..<30 {
      for k in 0..<20 {
        protein[0, l, k] = Float((rng.next() - 0.45) * (rng.next() < 0.3 ? 1 : 0.1))
      }
    }
    try renderPlot(scores: protein, options: PlotOptions(title: "protein"), to: out("protein.png"))
    try renderPlot(
      scores: Tensor.zeros([1, 20, 4]), options: PlotOptions(title: "all zero"),
      to: out("empty.png"))

    // Heat map: a ring image and scores positive on the ring's top, negative on its bottom.
    let n = 28
    var image = Tensor.zeros([1, n, n, 1])
    var attribution = Tensor.zeros([1, n, n, 1])
    for y in 0..<n {
      for x in 0..<n {
        let r = ((Double(x) - 13.5) * (Double(x) - 13.5) + (Double(y) - 13.5) * (Double(y) - 13.5))
          .squareRoot()
        let ink = max(0, 1 - abs(r - 8) / 2.5)
        image[0, y, x, 0] = Float(ink)
        attribution[0, y, x, 0] = Float(ink * (y < 14 ? 1 : -0.6) + (rng.next() - 0.5) * 0.05)
      }
    }
    try renderPlot(
      scores: attribution, options: PlotOptions(title: "heat map"), to: out("heatmap.png"))
    try renderPlot(
      scores: attribution, options: PlotOptions(input: image, title: "over the input"),
      to: out("overlay.png"))
    try renderPlot(
      scores: attribution, options: PlotOptions(input: image, title: "over the input"),
      to: out("overlay.svg"))
    try renderPlot(scores: attribution, options: PlotOptions(), to: out("heatmap.pdf"))

    // Bars.
    let names = [
      "age", "income", "education_years", "hours_per_week", "capital_gain", "capital_loss",
      "relationship=husband", "occupation=exec-managerial", "sex=female", "native_country=US",
      "workclass=private", "marital_status=never-married",
    ]
    let values: [Float] = [
      0.21, -0.05, 0.33, 0.12, 0.9, -0.4, 0.27, 0.18, -0.22, 0.01, -0.03, -0.31,
    ]
    try renderPlot(
      scores: Tensor(shape: [1, 12], scalars: values),
      options: PlotOptions(features: names, topK: 10, title: "tabular attributions"),
      to: out("bars.png"))
  }
}
