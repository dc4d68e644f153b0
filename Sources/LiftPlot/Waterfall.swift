import Foundation
import LiftTensor

/// One example's scores as a waterfall: the steps from its base value (the target at the
/// reference) to base + Σ scores (its output, for DeepLIFT), one horizontal bar per step.
///
/// Rows, top to bottom: the `topK` largest |scores| (ties: lower feature index first), then
/// one row "N other features" holding the sum of the rest (absent when none are left). The
/// walk starts at the base value at the bottom row and goes up: a row's bar spans
/// `[c, c + v]` where c is the sum of the base and the rows below it. Dashed vertical lines
/// mark the base value (labelled under the plot) and the end (labelled above it). Bars use
/// the diverging colours of the bar chart (positive red, negative blue), names and the
/// laid-out geometry of ``BarsFigure`` (names right-aligned in a measured left column).
package struct WaterfallFigure: Figure {
  /// The rows, top to bottom: (name, value, start of the bar).
  package let rows: [(name: String, value: Double, start: Double)]
  package let base: Double
  package let end: Double
  let output: Double?
  let lo: Double
  let hi: Double
  let title: String?

  package let width: Int
  package let height: Int
  package let plotLeft: Double
  package let plotWidth: Double
  package let top: Double
  package let rowHeight: Double

  static let rightMargin = 60.0
  static let bottomMargin = 58.0

  package init(scores: Tensor, options: PlotOptions) throws(PlotError) {
    let d = scores.shape.dimensions
    guard d.count == 1 || d.count == 2 else { throw .unsupportedShape(.waterfall, scores.shape) }
    let count = d.count == 2 ? d[0] : 1
    let features = d.last!
    let n = options.example
    guard (0..<count).contains(n) else { throw .exampleOutOfRange(n, count: count) }
    guard features > 0 else { throw .unsupportedShape(.waterfall, scores.shape) }
    if let names = options.features, names.count != features {
      throw .featureCountMismatch(names: names.count, features: features)
    }
    guard options.topK > 0 else { throw .invalidTopK(options.topK) }
    let values = scores.scalars[(n * features)..<((n + 1) * features)].map(Double.init)
    let base = options.baseValues.map { n < $0.count ? $0[n] : .nan } ?? 0
    let output = options.outputValues.map { n < $0.count ? $0[n] : .nan }
    let nonFinite = values.count { !$0.isFinite } + (base.isFinite ? 0 : 1) + (output.map { $0.isFinite ? 0 : 1 } ?? 0)
    if nonFinite > 0 { throw .nonFiniteScores(count: nonFinite) }

    let ranked = rankedFeatures(values, names: options.features)
    var named = ranked.prefix(options.topK).map { (name: $0.name, value: $0.value) }
    let rest = ranked.dropFirst(options.topK)
    if !rest.isEmpty {
      named.append(("\(rest.count) other feature\(rest.count == 1 ? "" : "s")", rest.reduce(0.0) { $0 + $1.value }))
    }
    // Walk from the bottom row up.
    var c = base
    var starts = [Double](repeating: 0, count: named.count)
    for i in named.indices.reversed() {
      starts[i] = c
      c += named[i].value
    }
    rows = named.indices.map { (named[$0].name, named[$0].value, starts[$0]) }
    self.base = base
    end = c
    self.output = output
    let ends = rows.flatMap { [$0.start, $0.start + $0.value] } + [base, c]
    var (lo, hi) = (ends.min()!, ends.max()!)
    if hi - lo < 1e-12 * max(1, abs(hi)) { (lo, hi) = (lo - 1, hi + 1) }
    let span = hi - lo
    (self.lo, self.hi) = (lo - 0.12 * span, hi + 0.12 * span)
    title = options.title

    let measure = Canvas(format: .png, width: 16, height: 16)
    let nameWidth = named.map { measure.textWidth($0.name, size: 11) }.max() ?? 0
    plotLeft = (16 + nameWidth + 10).rounded(.up)
    top = (options.title == nil ? 0 : 28) + 26
    let fixedHeight = top + Self.bottomMargin
    let left = plotLeft
    let rowCount = Double(named.count)
    rowHeight = options.height.map { (Double($0) - fixedHeight) / rowCount } ?? 24
    plotWidth = options.width.map { Double($0) - left - Self.rightMargin } ?? 440
    width = options.width ?? Int(max(plotLeft + plotWidth + Self.rightMargin, titleWidth(options.title)).rounded(.up))
    height = options.height ?? Int((fixedHeight + rowHeight * rowCount).rounded(.up))
    guard rowHeight >= 4, plotWidth >= 40, (16...32767).contains(width), (16...32767).contains(height) else {
      throw .invalidSize(width: width, height: height)
    }
  }

  /// The horizontal coordinate of `value`.
  package func x(value: Double) -> Double { plotLeft + (value - lo) / (hi - lo) * plotWidth }

  /// The vertical centre of row `rank` (0 = top).
  package func yCenter(rank: Int) -> Double { top + (Double(rank) + 0.5) * rowHeight }

  func draw(on canvas: Canvas) {
    let grey = RGB(0.45, 0.45, 0.45)
    if let title {
      canvas.text(title, x: canvas.width / 2, y: 20, size: titleSize, align: .center, bold: true)
    }
    let bottom = top + rowHeight * Double(rows.count)
    let (ticks, step) = Ticks.values(lo: lo, hi: hi, maxCount: max(2, Int(plotWidth / 70)))
    for v in ticks {
      canvas.line(from: x(value: v), top, to: x(value: v), bottom, color: RGB(0.92, 0.92, 0.92))
    }
    // Dashed markers of the base value and the end.
    for v in [base, end] {
      let xv = x(value: v)
      var y = top - 4
      while y < bottom {
        canvas.line(from: xv, y, to: xv, min(y + 3, bottom), color: grey)
        y += 6
      }
    }
    let barHeight = rowHeight * 0.72
    for (rank, row) in rows.enumerated() {
      let yc = yCenter(rank: rank)
      let (x0, x1) = (x(value: row.start), x(value: row.start + row.value))
      canvas.fill(
        x: min(x0, x1), y: yc - barHeight / 2, width: max(1, abs(x1 - x0)), height: barHeight,
        color: row.value >= 0 ? Diverging.positive : Diverging.negative)
      // The connector to the next row up, at this bar's end.
      if rank > 0 { canvas.line(from: x1, yc - barHeight / 2, to: x1, yc - rowHeight + barHeight / 2, color: grey) }
      canvas.text(row.name, x: plotLeft - 8, y: yc, size: 11, align: .right)
      let label = (row.value >= 0 ? "+" : "") + Ticks.compact(row.value)
      let gray = RGB(0.25, 0.25, 0.25)
      if row.value >= 0 {
        canvas.text(label, x: max(x0, x1) + 4, y: yc, size: 10, color: gray)
      } else {
        canvas.text(label, x: min(x0, x1) - 4, y: yc, size: 10, align: .right, color: gray)
      }
    }
    drawValueAxis(on: canvas, ticks: ticks, step: step, left: plotLeft, width: plotWidth, bottom: bottom, x: x(value:))
    canvas.text("base_value = \(Ticks.compact(base))", x: x(value: base), y: bottom + 32, size: 11, align: .center)
    canvas.text("output = \(Ticks.compact(output ?? end))", x: x(value: end), y: top - 12, size: 11, align: .center)
  }
}
