import LiftTensor

/// A horizontal bar chart of one example's feature scores: the `topK` largest |values|,
/// largest on top, positive bars red and negative blue, around a vertical zero line.
package struct BarsFigure: Figure {
  /// The drawn features, top to bottom: (feature index, name, value).
  package let bars: [(feature: Int, name: String, value: Double)]
  let lo: Double
  let hi: Double
  let title: String?
  let showValues: Bool

  package let width: Int
  package let height: Int
  package let plotLeft: Double
  package let plotWidth: Double
  package let top: Double
  package let rowHeight: Double

  static let rightMargin = 20.0
  static let bottomMargin = 40.0

  package init(scores: Tensor, options: PlotOptions) throws(PlotError) {
    let d = scores.shape.dimensions
    guard !d.isEmpty else { throw .unsupportedShape(.bars, scores.shape) }
    let batched = d.count >= 2
    let count = batched ? d[0] : 1
    let features = batched ? d.dropFirst().reduce(1, *) : d[0]
    let n = options.examples?.first ?? options.example
    guard (0..<count).contains(n) else { throw .exampleOutOfRange(n, count: count) }
    guard features > 0 else { throw .unsupportedShape(.bars, scores.shape) }
    if let names = options.features, names.count != features {
      throw .featureCountMismatch(names: names.count, features: features)
    }
    guard options.topK > 0 else { throw .invalidTopK(options.topK) }

    let values = scores.scalars[(n * features)..<((n + 1) * features)].map(Double.init)
    let nonFinite = values.count { !$0.isFinite }
    if nonFinite > 0 { throw .nonFiniteScores(count: nonFinite) }
    bars = Array(rankedFeatures(values, names: options.features).prefix(options.topK))
    let shownMin = min(0, bars.map(\.value).min() ?? 0)
    let shownMax = max(0, bars.map(\.value).max() ?? 0)
    var (lo, hi) = shownMin == 0 && shownMax == 0 ? (-1.0, 1.0) : (shownMin, shownMax)
    let span = hi - lo
    if hi > 0 || lo == 0 { hi += (options.showValues ? 0.2 : 0.05) * span }
    if lo < 0 || hi == 0 { lo -= (options.showValues ? 0.2 : 0.05) * span }
    (self.lo, self.hi) = (lo, hi)
    title = options.title
    showValues = options.showValues

    // Geometry: names right-aligned in a left column measured with the real font.
    let measure = Canvas(format: .png, width: 16, height: 16)
    let nameWidth = bars.map { measure.textWidth($0.name, size: 11) }.max() ?? 0
    plotLeft = (16 + nameWidth + 10).rounded(.up)
    top = options.title == nil ? 14 : 40
    let fixedHeight = top + Self.bottomMargin
    let barCount = Double(bars.count)
    let left = plotLeft
    rowHeight = options.height.map { (Double($0) - fixedHeight) / barCount } ?? 24
    plotWidth = options.width.map { Double($0) - left - Self.rightMargin } ?? 420
    width =
      options.width
      ?? Int(max(plotLeft + plotWidth + Self.rightMargin, titleWidth(options.title)).rounded(.up))
    height = options.height ?? Int((fixedHeight + rowHeight * Double(bars.count)).rounded(.up))
    guard rowHeight >= 4, plotWidth >= 40, (16...32767).contains(width),
      (16...32767).contains(height)
    else { throw .invalidSize(width: width, height: height) }
  }

  /// The horizontal coordinate of `value`.
  package func x(value: Double) -> Double { plotLeft + (value - lo) / (hi - lo) * plotWidth }

  /// The vertical centre of bar `rank` (0 = top, the largest |value|).
  package func yCenter(rank: Int) -> Double { top + (Double(rank) + 0.5) * rowHeight }

  func draw(on canvas: Canvas) {
    let axis = RGB(0.2, 0.2, 0.2)
    if let title {
      canvas.text(title, x: canvas.width / 2, y: 20, size: titleSize, align: .center, bold: true)
    }
    let bottom = top + rowHeight * Double(bars.count)
    let (ticks, step) = Ticks.values(lo: lo, hi: hi, maxCount: max(2, Int(plotWidth / 70)))
    for v in ticks {  // light vertical grid
      let tx = x(value: v)
      canvas.line(from: tx, top, to: tx, bottom, color: RGB(0.9, 0.9, 0.9))
    }
    let zero = x(value: 0)
    let barHeight = rowHeight * 0.72
    for (rank, bar) in bars.enumerated() {
      let yc = yCenter(rank: rank)
      let xv = x(value: bar.value)
      canvas.fill(
        x: min(zero, xv), y: yc - barHeight / 2, width: abs(xv - zero), height: barHeight,
        color: bar.value >= 0 ? Diverging.positive : Diverging.negative)
      canvas.text(bar.name, x: plotLeft - 8, y: yc, size: 11, align: .right)
      if showValues {
        let label = Ticks.compact(bar.value)
        if bar.value >= 0 {
          canvas.text(label, x: xv + 4, y: yc, size: 10, color: RGB(0.25, 0.25, 0.25))
        } else {
          canvas.text(
            label, x: xv - 4, y: yc, size: 10, align: .right, color: RGB(0.25, 0.25, 0.25))
        }
      }
    }
    canvas.line(from: zero, top, to: zero, bottom, color: axis)
    drawValueAxis(on: canvas, ticks: ticks, step: step, left: plotLeft, width: plotWidth, bottom: bottom, x: x(value:))
    canvas.text("score", x: plotLeft + plotWidth / 2, y: bottom + 30, size: 11, align: .center)
  }
}

/// Every feature of `values` by decreasing |value| (ties: lower index first), named by
/// `names` or `f0`, `f1`, …, names longer than 40 characters cut to 39 and `…`: the rows of
/// the bar chart and of the waterfall.
func rankedFeatures(_ values: [Double], names: [String]?) -> [(feature: Int, name: String, value: Double)] {
  let order = values.indices.sorted { a, b in
    abs(values[a]) != abs(values[b]) ? abs(values[a]) > abs(values[b]) : a < b
  }
  return order.map { f in
    var name = names?[f] ?? "f\(f)"
    if name.count > 40 { name = String(name.prefix(39)) + "…" }
    return (f, name, values[f])
  }
}
