import Foundation
import LiftTensor
import Testing

@testable import LiftPlot

@Suite struct LogoTests {
  @Test func positiveBaseFillsItsCellAboveTheAxis() throws {
    // One strongly positive G (letter 2) at position 3 of 10.
    let scores = logoScores(length: 10, [(0, 3, 2, 1.0)])
    let image = try renderPNG(scores)
    let figure = try LogoFigure(scores: scores, options: PlotOptions())
    #expect(image.width == figure.width && image.height == figure.height)

    let (x0, x1) = (figure.x(position: 3), figure.x(position: 4))
    let zero = figure.y(row: 0, value: 0)
    let one = figure.y(row: 0, value: 1)
    // The cell from the axis up to the score is mostly orange…
    let cellPixels = image.region(x0: x0 + 2, x1: x1 - 2, y0: one + 2, y1: zero - 2).count
    let orange = image.count(.orange, x0: x0 + 2, x1: x1 - 2, y0: one + 2, y1: zero - 2)
    #expect(Double(orange) > 0.3 * Double(cellPixels))
    // …the glyph spans exactly that height (letter height = score in axis units)…
    let span = try #require(image.rows(of: .orange, x0: x0, x1: x1))
    #expect(abs(Double(span.lowerBound) - one) <= 2)
    #expect(abs(Double(span.upperBound) - zero) <= 2)
    // …the cell below the axis is background, and no other letter colour appears anywhere.
    let bottom = figure.rowTops[0] + figure.rowHeight
    #expect(
      image.region(x0: x0, x1: x1, y0: zero + 2, y1: bottom - 1).allSatisfy {
        Color8.white.matches($0, tolerance: 0)
      })
    for color in [Color8.green, .blue, .red] {
      #expect(
        image.count(color, x0: 0, x1: Double(image.width), y0: 0, y1: Double(image.height)) == 0)
    }
    // A neighbouring position is empty.
    #expect(
      image.count(.orange, x0: figure.x(position: 5), x1: figure.x(position: 6), y0: 0, y1: zero)
        == 0)
  }

  @Test func negativeScoreRendersBelowTheAxis() throws {
    let scores = logoScores(length: 8, [(0, 5, 0, -2.0), (0, 1, 3, 1.0)])
    let image = try renderPNG(scores)
    let figure = try LogoFigure(scores: scores, options: PlotOptions())
    let zero = figure.y(row: 0, value: 0)
    let (x0, x1) = (figure.x(position: 5), figure.x(position: 6))
    let span = try #require(image.rows(of: .green, x0: x0, x1: x1))
    #expect(abs(Double(span.lowerBound) - zero) <= 2)
    #expect(abs(Double(span.upperBound) - figure.y(row: 0, value: -2)) <= 2)
    // Nothing green anywhere above the axis.
    #expect(image.count(.green, x0: 0, x1: Double(image.width), y0: 0, y1: zero - 1) == 0)
    // The positive T stays above the axis.
    let red = try #require(
      image.rows(of: .red, x0: figure.x(position: 1), x1: figure.x(position: 2)))
    #expect(Double(red.upperBound) <= zero + 1)
  }

  @Test func lettersStackWithTheSmallestNearestTheAxis() throws {
    // Position 2: A +0.5 and C +1.5 → A from 0 to 0.5, C from 0.5 to 2.0 (the original's
    // order: sorted by |value| ascending, stacked upward).
    let scores = logoScores(length: 5, [(0, 2, 0, 0.5), (0, 2, 1, 1.5)])
    let image = try renderPNG(scores)
    let figure = try LogoFigure(scores: scores, options: PlotOptions())
    let (x0, x1) = (figure.x(position: 2), figure.x(position: 3))
    let green = try #require(image.rows(of: .green, x0: x0, x1: x1))
    let blue = try #require(image.rows(of: .blue, x0: x0, x1: x1))
    #expect(abs(Double(green.upperBound) - figure.y(row: 0, value: 0)) <= 2)
    #expect(abs(Double(green.lowerBound) - figure.y(row: 0, value: 0.5)) <= 2)
    #expect(abs(Double(blue.upperBound) - figure.y(row: 0, value: 0.5)) <= 2)
    #expect(abs(Double(blue.lowerBound) - figure.y(row: 0, value: 2.0)) <= 2)
  }

  @Test func allZeroScoresGiveAnEmptyLogo() throws {
    let image = try renderPNG(Tensor.zeros([2, 12, 4]), PlotOptions(title: "nothing here"))
    #expect(image.width > 100 && image.height > 100)
    #expect(image.saturatedPixelCount == 0)
  }

  @Test func sequenceShowsOnlyTheObservedBase() throws {
    // Hypothetical scores for every base at position 2; the sequence has C there.
    let scores = logoScores(
      length: 4, [(0, 2, 0, 0.5), (0, 2, 1, 1), (0, 2, 2, 0.7), (0, 2, 3, -0.3)])
    let sequence = logoScores(length: 4, [(0, 0, 0, 1), (0, 1, 3, 1), (0, 2, 1, 1), (0, 3, 2, 1)])
    let image = try renderPNG(scores, PlotOptions(sequence: sequence))
    let all = (x0: 0.0, x1: Double(image.width), y0: 0.0, y1: Double(image.height))
    #expect(image.count(.blue, x0: all.x0, x1: all.x1, y0: all.y0, y1: all.y1) > 50)
    for color in [Color8.green, .orange, .red] {
      #expect(image.count(color, x0: all.x0, x1: all.x1, y0: all.y0, y1: all.y1) == 0)
    }
  }

  @Test func channelsFirstDrawsTheSameLogo() throws {
    let scores = logoScores(length: 9, [(0, 0, 0, 1), (0, 4, 2, -0.5), (0, 8, 3, 0.25)])
    let last = try renderPlot(scores: scores, options: PlotOptions(), format: .png)
    let first = try renderPlot(scores: swapLastAxes(scores), options: PlotOptions(), format: .png)
    #expect(last == first)
    #expect(inferPlotKind(shape: [3, 4, 100]) == .logo)
  }

  @Test func tasksAndExamplesStackAsRows() throws {
    // [N=1, T=2, L=6, 4]: task 0 has A at position 1, task 1 has T at position 4.
    var scores = Tensor.zeros([1, 2, 6, 4])
    scores[0, 0, 1, 0] = 1
    scores[0, 1, 4, 3] = 1
    let image = try renderPNG(scores)
    let figure = try LogoFigure(scores: scores, options: PlotOptions())
    #expect(figure.rowTops.count == 2)
    let green = try #require(
      image.rows(of: .green, x0: figure.x(position: 1), x1: figure.x(position: 2)))
    let red = try #require(
      image.rows(of: .red, x0: figure.x(position: 4), x1: figure.x(position: 5)))
    #expect(abs(Double(green.upperBound) - figure.y(row: 0, value: 0)) <= 2)
    #expect(abs(Double(red.upperBound) - figure.y(row: 1, value: 0)) <= 2)
    #expect(Double(green.upperBound) < figure.rowTops[1])

    // Two examples of [N, L, 4] as rows.
    let batch = logoScores(batch: 3, length: 5, [(1, 0, 1, 1), (2, 3, 2, 1)])
    let rows = try LogoFigure(scores: batch, options: PlotOptions(examples: [2, 1]))
    let picture = try renderPNG(batch, PlotOptions(examples: [2, 1]))
    let orange = try #require(
      picture.rows(of: .orange, x0: rows.x(position: 3), x1: rows.x(position: 4)))
    let blue = try #require(
      picture.rows(of: .blue, x0: rows.x(position: 0), x1: rows.x(position: 1)))
    #expect(abs(Double(orange.upperBound) - rows.y(row: 0, value: 0)) <= 2)
    #expect(abs(Double(blue.upperBound) - rows.y(row: 1, value: 0)) <= 2)
  }

  @Test func windowShowsOnlyTheChosenPositions() throws {
    let scores = logoScores(length: 10, [(0, 3, 2, 1), (0, 8, 0, 1)])
    let options = PlotOptions(start: 2, end: 6)
    let figure = try LogoFigure(scores: scores, options: options)
    #expect(figure.start == 2 && figure.length == 4)
    let image = try renderPNG(scores, options)
    // Position 3 is window cell 1; position 8 (green) is outside the window.
    #expect(
      image.count(
        .orange, x0: figure.x(position: 1), x1: figure.x(position: 2), y0: 0,
        y1: Double(image.height)) > 50)
    #expect(
      image.count(.green, x0: 0, x1: Double(image.width), y0: 0, y1: Double(image.height)) == 0)
  }

  @Test func proteinScoresUseTheChemistryColours() throws {
    // [L=6, 20]: D (index 2, acidic) at position 0.
    var scores = Tensor.zeros([6, 20])
    scores[0, 2] = 1
    #expect(inferPlotKind(shape: scores.shape) == .logo)
    let image = try renderPNG(scores)
    let figure = try LogoFigure(scores: scores, options: PlotOptions())
    #expect(
      image.count(
        .acidic, x0: figure.x(position: 0), x1: figure.x(position: 1), y0: 0,
        y1: Double(image.height)) > 50)
  }

  @Test func explicitWidthAndHeightAreHonoured() throws {
    let image = try renderPNG(
      logoScores(length: 30, [(0, 3, 2, 1)]), PlotOptions(width: 640, height: 180))
    #expect(image.width == 640 && image.height == 180)
  }
}

@Suite struct LogoDetailTests {
  @Test func rnaDrawsUInsteadOfT() throws {
    let withT = logoScores(length: 4, [(0, 1, 3, 1)])
    let onlyA = logoScores(length: 4, [(0, 1, 0, 1)])
    let rna = PlotOptions(alphabet: .rna)
    // Same colours: the U cell is red like T's…
    let image = try renderPNG(withT, rna)
    #expect(image.count(.red, x0: 0, x1: Double(image.width), y0: 0, y1: Double(image.height)) > 50)
    // …but a different glyph, while a logo without T/U is unchanged.
    #expect(
      try renderPlot(scores: withT, options: rna, format: .png)
        != renderPlot(scores: withT, options: PlotOptions(), format: .png))
    #expect(
      try renderPlot(scores: onlyA, options: rna, format: .png)
        == renderPlot(scores: onlyA, options: PlotOptions(), format: .png))
  }

  @Test func theanoLayoutIsALogo() throws {
    #expect(inferPlotKind(shape: [2, 1, 4, 50]) == .logo)
    let scores = logoScores(length: 6, [(0, 2, 1, 1)])
    var theano = Tensor.zeros([1, 1, 4, 6])
    for l in 0..<6 { for k in 0..<4 { theano[0, 0, k, l] = scores[0, l, k] } }
    #expect(
      try renderPlot(scores: theano, options: PlotOptions(), format: .png)
        == renderPlot(scores: scores, options: PlotOptions(), format: .png))
  }

  @Test func tickLabels() {
    #expect(Ticks.label(0.25, step: 0.25) == "0.25")
    #expect(Ticks.label(-0.5, step: 0.25) == "-0.50")
    #expect(Ticks.label(50, step: 25) == "50")
    #expect(Ticks.label(7.5, step: 2.5) == "7.5")
    #expect(Ticks.label(0.4, step: 0.2) == "0.4")
    #expect(Ticks.values(lo: -0.11, hi: 1.1, maxCount: 5).values == [0, 0.25, 0.5, 0.75, 1.0])
    #expect(
      Ticks.integers(lo: 15, hi: 35, minStep: 1.7) == [16, 18, 20, 22, 24, 26, 28, 30, 32, 34])
  }
}
