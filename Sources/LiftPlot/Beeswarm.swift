import Foundation
import LiftTensor

/// Every example's scores as a beeswarm (issue 16, the SHAP summary plot's layout): one row
/// per feature, the ``PlotOptions/topK`` largest mean |score| on top; in each row one dot per
/// example at its score, spread up and down from the row's centre line where dots would
/// overlap (dots are placed in order of score; each takes the nearest free offset, 0, +d,
/// −d, +2d, …, folding back to 0 when the row is full); each dot coloured by the example's
/// value of the feature, from blue (the feature's 5th percentile or below) through purple to
/// red (95th percentile or above), as SHAP clips them; a feature with one value is drawn
/// purple. A colour bar on the right says low – high.
package struct BeeswarmFigure: Figure {
  /// The rows, top to bottom: feature index, name, mean |score|.
  package let rows: [(feature: Int, name: String, meanAbs: Double)]
  /// Per row: each example's (score, colour position in [0, 1], vertical offset in units).
  package let dots: [[(score: Double, t: Double, dy: Double)]]
  let lo: Double
  let hi: Double
  let title: String?

  package let width: Int
  package let height: Int
  package let plotLeft: Double
  package let plotWidth: Double
  package let top: Double
  package let rowHeight: Double

  static let rightMargin = 90.0
  static let bottomMargin = 44.0
  static let radius = 2.6
  static let low = RGB(hex: 0x1E88E5)
  static let high = RGB(hex: 0xD81B60)

  /// The colour at `t` ∈ [0, 1] from ``low`` to ``high``.
  static func color(_ t: Double) -> RGB { low.mixed(with: high, min(max(t, 0), 1)) }

  package init(scores: Tensor, options: PlotOptions) throws(PlotError) {
    let d = scores.shape.dimensions
    guard d.count == 2, d[0] > 0, d[1] > 0 else { throw .unsupportedShape(.beeswarm, scores.shape) }
    let (n, f) = (d[0], d[1])
    if let names = options.features, names.count != f {
      throw .featureCountMismatch(names: names.count, features: f)
    }
    guard options.topK > 0 else { throw .invalidTopK(options.topK) }
    guard let values = options.values else { throw .missingValues }
    guard values.shape == scores.shape else {
      throw .shapeMismatch(what: "feature values", shape: values.shape, scores: scores.shape)
    }
    let s = scores.scalars.map(Double.init)
    let nonFinite = s.count { !$0.isFinite } + values.scalars.count { !$0.isFinite }
    if nonFinite > 0 { throw .nonFiniteScores(count: nonFinite) }
    var meanAbs = [Double](repeating: 0, count: f)
    for i in 0..<n { for c in 0..<f { meanAbs[c] += abs(s[i * f + c]) / Double(n) } }
    rows = rankedFeatures(meanAbs, names: options.features).prefix(options.topK).map { ($0.feature, $0.name, $0.value) }
    let shown = rows.map(\.feature)
    var lo = shown.flatMap { c in (0..<n).map { s[$0 * f + c] } }.min()!
    var hi = shown.flatMap { c in (0..<n).map { s[$0 * f + c] } }.max()!
    lo = min(lo, 0)
    hi = max(hi, 0)
    if hi - lo < 1e-12 { (lo, hi) = (-1, 1) }
    let span = hi - lo
    (self.lo, self.hi) = (lo - 0.05 * span, hi + 0.05 * span)
    title = options.title

    let measure = Canvas(format: .png, width: 16, height: 16)
    let nameWidth = rows.map { measure.textWidth($0.name, size: 11) }.max() ?? 0
    plotLeft = (16 + nameWidth + 10).rounded(.up)
    top = options.title == nil ? 14 : 40
    let fixedHeight = top + Self.bottomMargin
    let left = plotLeft
    let rowCount = Double(rows.count)
    rowHeight = options.height.map { (Double($0) - fixedHeight) / rowCount } ?? 26
    plotWidth = options.width.map { Double($0) - left - Self.rightMargin } ?? 440
    width = options.width ?? Int(max(plotLeft + plotWidth + Self.rightMargin, titleWidth(options.title)).rounded(.up))
    height = options.height ?? Int((fixedHeight + rowHeight * rowCount).rounded(.up))
    guard rowHeight >= 4, plotWidth >= 40, (16...32767).contains(width), (16...32767).contains(height) else {
      throw .invalidSize(width: width, height: height)
    }

    // Dots: colour from the feature's 5th–95th percentile; offsets by a greedy swarm.
    let (plotLo, plotHi, plotW) = (self.lo, self.hi, plotWidth)
    let step = 2 * Self.radius
    let maxOffset = max(0, (rowHeight / 2 - Self.radius - 1) / step).rounded(.down)
    dots = shown.map { c in
      let v = (0..<n).map { Double(values.scalars[$0 * f + c]) }
      let sorted = v.sorted()
      func percentile(_ q: Double) -> Double {  // NumPy's linear interpolation
        let pos = q * Double(n - 1)
        let i = Int(pos.rounded(.down))
        return i + 1 < n ? sorted[i] + (pos - Double(i)) * (sorted[i + 1] - sorted[i]) : sorted[i]
      }
      var (vlo, vhi) = (percentile(0.05), percentile(0.95))
      if vhi <= vlo { (vlo, vhi) = (sorted.first!, sorted.last!) }
      let order = (0..<n).sorted { s[$0 * f + c] < s[$1 * f + c] }
      var placed: [(x: Double, k: Double)] = []
      var out = [(score: Double, t: Double, dy: Double)](repeating: (0, 0, 0), count: n)
      for i in order {
        let score = s[i * f + c]
        let px = (score - plotLo) / (plotHi - plotLo) * plotW
        // Dots still within one diameter to the left can collide.
        placed.removeAll { px - $0.x >= step }
        var k = 0.0
        if maxOffset > 0 {
          let candidates = [0.0] + (1...Int(maxOffset)).flatMap { [Double($0), -Double($0)] }
          k = candidates.first { cand in placed.allSatisfy { $0.k != cand } } ?? 0
        }
        placed.append((px, k))
        let t = vhi > vlo ? (v[i] - vlo) / (vhi - vlo) : 0.5
        out[i] = (score, min(max(t, 0), 1), k * step)
      }
      return out
    }
  }

  /// The horizontal coordinate of `value`.
  package func x(value: Double) -> Double { plotLeft + (value - lo) / (hi - lo) * plotWidth }

  /// The vertical centre of row `rank` (0 = top).
  package func yCenter(rank: Int) -> Double { top + (Double(rank) + 0.5) * rowHeight }

  func draw(on canvas: Canvas) {
    if let title {
      canvas.text(title, x: canvas.width / 2, y: 20, size: titleSize, align: .center, bold: true)
    }
    let bottom = top + rowHeight * Double(rows.count)
    let (ticks, step) = Ticks.values(lo: lo, hi: hi, maxCount: max(2, Int(plotWidth / 70)))
    for v in ticks { canvas.line(from: x(value: v), top, to: x(value: v), bottom, color: RGB(0.92, 0.92, 0.92)) }
    canvas.line(from: x(value: 0), top, to: x(value: 0), bottom, color: RGB(0.6, 0.6, 0.6))
    for (rank, row) in rows.enumerated() {
      let yc = yCenter(rank: rank)
      canvas.line(from: plotLeft, yc, to: plotLeft + plotWidth, yc, color: RGB(0.85, 0.85, 0.85))
      for dot in dots[rank] {
        canvas.disc(x: x(value: dot.score), y: yc + dot.dy, radius: Self.radius, color: Self.color(dot.t), alpha: 0.9)
      }
      canvas.text(row.name, x: plotLeft - 8, y: yc, size: 11, align: .right)
    }
    drawValueAxis(on: canvas, ticks: ticks, step: step, left: plotLeft, width: plotWidth, bottom: bottom, x: x(value:))
    canvas.text("score", x: plotLeft + plotWidth / 2, y: bottom + 32, size: 11, align: .center)
    // Colour bar: high at the top.
    let barX = plotLeft + plotWidth + 16
    let barHeight = min(bottom - top, 160)
    let steps = 128
    canvas.raster(
      (0..<steps).map { Self.color(1 - (Double($0) + 0.5) / Double(steps)) }, columns: 1, rows: steps,
      x: barX, y: top, width: 10, height: barHeight)
    canvas.text("high", x: barX + 14, y: top + 5, size: 10)
    canvas.text("low", x: barX + 14, y: top + barHeight - 5, size: 10)
    canvas.text("feature", x: barX + 14, y: top + barHeight / 2 - 6, size: 10)
    canvas.text("value", x: barX + 14, y: top + barHeight / 2 + 6, size: 10)
  }
}
