import Foundation
import LiftTensor
import Testing

@testable import LiftPlot

/// The beeswarm of every example and the grid of image heat maps (issue 16), checked on the
/// layout and by pixel sampling.
@Suite struct BeeswarmGridTests {
  // Three examples, two features: feature 1 has the larger mean |score| (top row).
  // Feature values: feature 0 rises with the example, feature 1 falls.
  let scores = Tensor(shape: [3, 2], scalars: [-1, 4, 0, -4, 1, 2])
  let values = Tensor(shape: [3, 2], scalars: [0, 9, 5, 5, 10, 1])
  var options: PlotOptions {
    var o = PlotOptions(kind: .beeswarm, features: ["low", "high"])
    o.values = values
    return o
  }

  @Test func rowsByMeanAbsoluteScoreAndDotsColouredByValue() throws {
    let f = try BeeswarmFigure(scores: scores, options: options)
    #expect(f.rows.map(\.name) == ["high", "low"])
    let means: [Double] = [10.0 / 3, 2.0 / 3]
    #expect(zip(f.rows.map(\.meanAbs), means).allSatisfy { abs($0 - $1) < 1e-12 })
    // Row "high": example 0 has the highest value (9 → red end), example 2 the lowest (blue).
    let topScores: [Double] = [4, -4, 2]
    #expect(f.dots[0].map(\.score) == topScores)
    #expect(f.dots[0][0].t == 1 && f.dots[0][2].t == 0)
    let image = try renderPNG(scores, options)
    #expect(image.width == f.width && image.height == f.height)
    // The dot of example 0 in row "high" sits at x(4) in the high colour; example 2's at x(2)
    // in the low colour (dots of one row are at least a diameter apart here: no offsets).
    let y = Int(f.yCenter(rank: 0))
    #expect(f.dots[0].allSatisfy { $0.dy == 0 })
    #expect(Color8(hex: 0xD81B60).matches(image[Int(f.x(value: 4)), y], tolerance: 30))
    #expect(Color8(hex: 0x1E88E5).matches(image[Int(f.x(value: 2)), y], tolerance: 30))
    #expect(Color8.white.matches(image[Int(f.x(value: 3)), y - 8], tolerance: 2))
  }

  @Test func overlappingDotsSpreadWithinTheirRow() throws {
    // 40 equal scores: the dots stack up and down from the centre line, never past the row.
    let s = Tensor(shape: [40, 1], scalars: [Float](repeating: 0.5, count: 40))
    var o = PlotOptions(kind: .beeswarm)
    o.values = Tensor(shape: [40, 1], scalars: (0..<40).map(Float.init))
    let f = try BeeswarmFigure(scores: s, options: o)
    let offsets = Set(f.dots[0].map(\.dy))
    #expect(offsets.count > 1)
    #expect(offsets.allSatisfy { abs($0) + BeeswarmFigure.radius <= f.rowHeight / 2 })
  }

  @Test func thirtyFeaturesGetOneRowEachWithoutOverlap() throws {
    let n = 50
    let f30 = 30
    let s = Tensor(shape: [n, f30], scalars: (0..<(n * f30)).map { i in Float((i * 7919) % 101 - 50) / Float(1 + i % f30) })
    var o = PlotOptions(kind: .beeswarm, topK: 30)
    o.features = (0..<f30).map { "feature_number_\($0)" }
    o.values = Tensor(shape: [n, f30], scalars: (0..<(n * f30)).map { Float($0 % 13) })
    let f = try BeeswarmFigure(scores: s, options: o)
    #expect(f.rows.count == 30)
    #expect(f.rowHeight >= 20)  // 11-point names on 26-unit rows
    // Every dot stays inside its own row band.
    #expect(f.dots.allSatisfy { $0.allSatisfy { abs($0.dy) + BeeswarmFigure.radius < f.rowHeight / 2 } })
    let image = try renderPNG(s, o)
    #expect(image.height == f.height)
  }

  @Test func refusedWithoutValuesOrWithOtherShapes() throws {
    #expect(throws: PlotError.missingValues) { try BeeswarmFigure(scores: scores, options: PlotOptions(kind: .beeswarm)) }
    var o = options
    o.values = Tensor(shape: [2, 2], scalars: [0, 0, 0, 0])
    #expect(throws: PlotError.self) { try BeeswarmFigure(scores: scores, options: o) }
  }

  @Test func gridOfHeatmapsSharesOneScaleAndLabelsEachPicture() throws {
    // Three 4×4 grey pictures, one positive pixel each of 1, 2 and 4: one shared limit 4.
    var s = [Float](repeating: 0, count: 3 * 16)
    s[0 * 16 + 5] = 1
    s[1 * 16 + 5] = 2
    s[2 * 16 + 5] = 4
    let scores = Tensor(shape: [3, 4, 4, 1], scalars: s)
    var o = PlotOptions(kind: .heatmap, examples: [0, 1, 2])
    o.labels = ["a.png", "b.png", "c.png"]
    let f = try HeatmapFigure(scores: scores, options: o)
    #expect(f.limit == 4)
    #expect(f.origins.count == 3)
    // 2 columns: the third picture starts a second row under the first.
    #expect(f.origins[1].y == f.origins[0].y && f.origins[1].x > f.origins[0].x + f.imageWidth)
    #expect(f.origins[2].x == f.origins[0].x && f.origins[2].y > f.origins[0].y + f.imageHeight)
    let image = try renderPNG(scores, o)
    let cell = f.imageWidth / 4
    func pixel(_ panel: Int) -> (r: UInt8, g: UInt8, b: UInt8, a: UInt8) {
      image[Int(f.origins[panel].x + 1.5 * cell), Int(f.origins[panel].y + 1.5 * cell)]
    }
    // The 4 is full red; the 1 a quarter of the way from white; elsewhere white.
    #expect(Color8.rdbuRed.matches(pixel(2), tolerance: 2))
    let quarter = Color8(255 - (255 - 0xB2) / 4, 255 - (255 - 0x18) / 4, 255 - (255 - 0x2B) / 4)
    #expect(quarter.matches(pixel(0), tolerance: 3))
    #expect(Color8.white.matches(image[Int(f.origins[1].x + 0.5 * cell), Int(f.origins[1].y + 0.5 * cell)], tolerance: 1))
    // Something (the label) is drawn under each picture.
    let label = image.region(
      x0: f.origins[0].x, x1: f.origins[0].x + f.imageWidth, y0: f.origins[0].y + f.imageHeight + 3,
      y1: f.origins[0].y + f.imageHeight + 17)
    #expect(label.contains { $0.r < 100 })
  }

  @Test func gridIsLimitedToSixteenPictures() throws {
    let scores = Tensor(shape: [20, 2, 2, 1], scalars: [Float](repeating: 1, count: 80))
    let f = try HeatmapFigure(scores: scores, options: PlotOptions(kind: .heatmap, examples: Array(0..<20)))
    #expect(f.origins.count == HeatmapGrid.maximumPanels)
  }
}
