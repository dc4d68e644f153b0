import Foundation
import LiftIO
import LiftTensor
import Testing

@testable import LiftPlot

/// The waterfall of one example (issue 16): steps from the base value through the largest
/// |scores|, the rest folded into one bar; checked on the layout and by pixel sampling.
@Suite struct WaterfallTests {
  // Example 1: scores 3, −1, 0.5, 0.25 with base 10; top 2 → rows f0 (+3), f1 (−1) and
  // "2 other features" (0.5 + 0.25). Walking up from the bottom: others 10 → 10.75,
  // f1 10.75 → 9.75, f0 9.75 → 12.75 = 10 + Σ.
  let scores = Tensor(shape: [2, 4], scalars: [9, 9, 9, 9, 3, -1, 0.5, 0.25])
  var options: PlotOptions {
    var o = PlotOptions(kind: .waterfall, example: 1, features: ["f0", "f1", "f2", "f3"], topK: 2)
    o.baseValues = [0, 10]
    o.outputValues = [0, 12.75]
    return o
  }

  @Test func stepsFromTheBaseValueThroughTheLargestScores() throws {
    let f = try WaterfallFigure(scores: scores, options: options)
    #expect(f.rows.map(\.name) == ["f0", "f1", "2 other features"])
    #expect(f.rows.map(\.value) == [3, -1, 0.75])
    #expect(f.rows.map(\.start) == [9.75, 10.75, 10])
    #expect(f.base == 10 && f.end == 12.75)
  }

  @Test func barsSpanTheirStepsInSignColours() throws {
    let f = try WaterfallFigure(scores: scores, options: options)
    let image = try renderPNG(scores, options)
    #expect(image.width == f.width && image.height == f.height)
    // Top row (+3): red from x(9.75) to x(12.75).
    let y0 = Int(f.yCenter(rank: 0))
    let red = (0..<image.width).filter { Color8.rdbuRed.matches(image[$0, y0]) }
    #expect(abs(Double(red.first!) - f.x(value: 9.75)) <= 1.5)
    #expect(abs(Double(red.last!) - f.x(value: 12.75)) <= 1.5)
    // Second row (−1): blue from x(9.75) to x(10.75), white well outside it.
    let y1 = Int(f.yCenter(rank: 1))
    let blue = (0..<image.width).filter { Color8.rdbuBlue.matches(image[$0, y1]) }
    #expect(abs(Double(blue.first!) - f.x(value: 9.75)) <= 1.5)
    #expect(abs(Double(blue.last!) - f.x(value: 10.75)) <= 2)
    #expect(Color8.white.matches(image[Int(f.x(value: 12.2)), y1], tolerance: 1))
    // Bottom row (+0.75) starts at the base value.
    let y2 = Int(f.yCenter(rank: 2))
    let bottomRed = (0..<image.width).filter { Color8.rdbuRed.matches(image[$0, y2]) }
    #expect(abs(Double(bottomRed.first!) - f.x(value: 10)) <= 1.5)
  }

  @Test func thirtyFeaturesGetOneRowEachWithoutOverlap() throws {
    let values: [Float] = (0..<30).map { (i: Int) -> Float in
      let magnitude = Float(30 - i) / 10
      return i % 2 == 0 ? magnitude : -magnitude
    }
    var o = PlotOptions(kind: .waterfall, topK: 30)
    o.features = (0..<30).map { "feature_number_\($0)" }
    let f = try WaterfallFigure(scores: Tensor(shape: [30], scalars: values), options: o)
    #expect(f.rows.count == 30)
    #expect(f.rowHeight >= 20)  // 11-point names on 24-unit rows: no two overlap
    let image = try renderPNG(Tensor(shape: [30], scalars: values), o)
    #expect(image.height == f.height)
  }

  @Test func csvScoreColumnsAndMeanAbsoluteScores() throws {
    let text = "a,b,base_value,output\n1,-2,0.5,-0.5\n-3,4,0.5,1.5\n"
    let table = try ScoreColumns(CSVTable.parse(Array(text.utf8), name: "s.csv"), name: "s.csv")
    #expect(table.featureNames == ["a", "b"])
    #expect(table.baseValues == [0.5, 0.5] && table.outputs == [-0.5, 1.5])
    #expect(table.meanAbsoluteScores.scalars == [2, 3])  // (1 + 3) / 2, (2 + 4) / 2
    #expect(throws: CSVError.self) { try ScoreColumns(CSVTable.parse(Array("a,b\n1,2\n".utf8), name: "s.csv"), name: "s.csv") }
  }
}
