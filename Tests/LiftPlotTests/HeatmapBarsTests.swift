import Foundation
import LiftTensor
import Testing

@testable import LiftPlot

@Suite struct HeatmapTests {
  /// `[1, 8, 8, 3]`: top-left 4×4 block +1 per channel (sum +3), bottom-right −0.5 per
  /// channel (sum −1.5), zero elsewhere. Limits are ±3.
  static func quadrantScores() -> Tensor {
    var t = Tensor.zeros([1, 8, 8, 3])
    for y in 0..<4 { for x in 0..<4 { for c in 0..<3 { t[0, y, x, c] = 1 } } }
    for y in 4..<8 { for x in 4..<8 { for c in 0..<3 { t[0, y, x, c] = -0.5 } } }
    return t
  }

  /// The centre pixel of data cell (row, column).
  static func centre(_ f: HeatmapFigure, row: Int, column: Int) -> (Int, Int) {
    let cw = f.imageWidth / 8
    let ch = f.imageHeight / 8
    return (Int(f.imageX + (Double(column) + 0.5) * cw), Int(f.imageY + (Double(row) + 0.5) * ch))
  }

  @Test func positiveIsRedNegativeIsBlueZeroIsWhite() throws {
    let scores = Self.quadrantScores()
    #expect(inferPlotKind(shape: scores.shape) == .heatmap)
    let image = try renderPNG(scores)
    let f = try HeatmapFigure(scores: scores, options: PlotOptions())
    #expect(image.width == f.width && image.height == f.height)
    let (px, py) = Self.centre(f, row: 1, column: 1)
    #expect(Color8.rdbuRed.matches(image[px, py], tolerance: 2))  // +3/3 → the red end
    let (nx, ny) = Self.centre(f, row: 6, column: 6)
    // −1.5/3 = −0.5 → halfway from white to the blue end: ((255+33)/2, (255+102)/2, (255+172)/2).
    #expect(Color8(144, 178, 213).matches(image[nx, ny], tolerance: 2))
    let (zx, zy) = Self.centre(f, row: 1, column: 6)
    #expect(Color8.white.matches(image[zx, zy], tolerance: 1))
  }

  @Test func channelsFirstGivesTheSameHeatmap() throws {
    let nhwc = Self.quadrantScores()
    var nchw = Tensor.zeros([1, 3, 8, 8])
    for y in 0..<8 { for x in 0..<8 { for c in 0..<3 { nchw[0, c, y, x] = nhwc[0, y, x, c] } } }
    let a = try renderPlot(scores: nhwc, options: PlotOptions(), format: .png)
    let b = try renderPlot(scores: nchw, options: PlotOptions(), format: .png)
    #expect(a == b)
  }

  @Test func overlayShowsTheGrayscaleInputUnderTheScores() throws {
    // Scores only in the top-left quadrant; input black on the left half, white on the right.
    var scores = Tensor.zeros([1, 8, 8, 3])
    for y in 0..<4 { for x in 0..<4 { scores[0, y, x, 0] = 2 } }
    var input = Tensor.zeros([1, 8, 8, 3])
    for y in 0..<8 { for x in 4..<8 { for c in 0..<3 { input[0, y, x, c] = 0.8 } } }
    let options = PlotOptions(input: input)
    let image = try renderPNG(scores, options)
    let f = try HeatmapFigure(scores: scores, options: options)
    let (bx, by) = Self.centre(f, row: 6, column: 1)
    #expect(Color8(0, 0, 0).matches(image[bx, by], tolerance: 1))
    let (wx, wy) = Self.centre(f, row: 6, column: 6)
    #expect(Color8.white.matches(image[wx, wy], tolerance: 1))
    // Full score over black: the red end at 85 % opacity.
    let (rx, ry) = Self.centre(f, row: 1, column: 1)
    #expect(Color8(151, 20, 37).matches(image[rx, ry], tolerance: 2))
  }
}

@Suite struct BarsTests {
  @Test func barsAreSortedByMagnitudeWithSignColours() throws {
    let scores = Tensor(shape: [2, 5], scalars: [9, 9, 9, 9, 9, 0.1, -0.9, 0.3, 0.5, -0.2])
    #expect(inferPlotKind(shape: scores.shape) == .bars)
    let options = PlotOptions(example: 1, features: ["a", "b", "c", "d", "e"], topK: 3)
    let f = try BarsFigure(scores: scores, options: options)
    #expect(f.bars.map(\.name) == ["b", "d", "c"])
    let image = try renderPNG(scores, options)
    #expect(image.width == f.width && image.height == f.height)
    // The top bar (−0.9) is blue and extends left of the zero line.
    let zero = f.x(value: 0)
    let y0 = Int(f.yCenter(rank: 0))
    #expect(Color8.rdbuBlue.matches(image[Int((zero + f.x(value: -0.9)) / 2), y0], tolerance: 2))
    #expect(Color8.white.matches(image[Int(zero + 20), y0], tolerance: 1))
    // Its left end is at −0.9.
    let blueColumns = (0..<image.width).filter { Color8.rdbuBlue.matches(image[$0, y0]) }
    #expect(abs(Double(blueColumns.first!) - f.x(value: -0.9)) <= 1.5)
    // The second bar (+0.5) is red, right of zero, ending at 0.5.
    let y1 = Int(f.yCenter(rank: 1))
    let redColumns = (0..<image.width).filter { Color8.rdbuRed.matches(image[$0, y1]) }
    #expect(abs(Double(redColumns.first!) - zero) <= 1.5)
    #expect(abs(Double(redColumns.last!) - f.x(value: 0.5)) <= 1.5)
    // Only three bars: nothing coloured below the third.
    let below = f.yCenter(rank: 2) + f.rowHeight / 2 + 1
    #expect(
      image.region(x0: 0, x1: Double(image.width), y0: below, y1: Double(image.height)).allSatisfy {
        !Color8.rdbuRed.matches($0) && !Color8.rdbuBlue.matches($0)
      })
  }

  @Test func defaultFeatureNamesAndUnbatchedScores() throws {
    let f = try BarsFigure(
      scores: Tensor(shape: [4], scalars: [0, 3, -4, 1]), options: PlotOptions())
    #expect(f.bars.map(\.name) == ["f2", "f1", "f3", "f0"])
    #expect(inferPlotKind(shape: [7]) == .bars)
  }
}

@Suite struct LayoutVariantTests {
  @Test func singleImageHeatmapNeedsAnExplicitKind() throws {
    var scores = Tensor.zeros([4, 6])
    scores[0, 0] = 1
    #expect(inferPlotKind(shape: scores.shape) == .bars)
    let options = PlotOptions(kind: .heatmap)
    let f = try HeatmapFigure(scores: scores, options: options)
    let image = try renderPNG(scores, options)
    let cell = f.imageWidth / 6
    #expect(
      Color8.rdbuRed.matches(
        image[Int(f.imageX + cell / 2), Int(f.imageY + cell / 2)], tolerance: 2))
  }

  @Test func barsFlattenHigherRanksPerExample() throws {
    var scores = Tensor.zeros([2, 2, 3])
    scores[1, 1, 2] = -5  // feature 1·3 + 2 = 5 of example 1
    scores[1, 0, 0] = 1
    let f = try BarsFigure(scores: scores, options: PlotOptions(kind: .bars, example: 1, topK: 2))
    #expect(f.bars.map(\.feature) == [5, 0])
    _ = try renderPlot(
      scores: scores, options: PlotOptions(kind: .bars, example: 1, showValues: false), format: .svg
    )
  }

  @Test func errorMessagesNameWhatIsWrong() {
    let write = PlotError.cannotWrite(path: "/x/y.png", reason: "Permission denied")
    #expect(write.description == "cannot write /x/y.png: Permission denied")
    #expect(
      PlotError.exampleOutOfRange(3, count: 2).description
        == "example 3 is out of range: the scores hold 2 examples")
    #expect(
      PlotError.notOneHotShaped([2, 7, 3], channels: [4, 20]).description.contains("[2, 7, 3]"))
  }
}
