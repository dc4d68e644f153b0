import LiftTensor

/// How an image tensor is laid out: batch `N`, height `H`, width `W`, channels `C`.
struct ImageLayout {
  let batch: Int
  let height: Int
  let width: Int
  let channels: Int
  let channelsFirst: Bool
  let batched: Bool

  /// `[H, W]`; `[H, W, C]` when `C` ∈ {1, 3}, else `[N, H, W]`; `[N, C, H, W]` when the 2nd
  /// axis is 1 or 3 and the last is not, else `[N, H, W, C]`.
  init?(_ shape: Shape) {
    let d = shape.dimensions
    switch d.count {
    case 2:
      (batch, height, width, channels, channelsFirst, batched) = (1, d[0], d[1], 1, false, false)
    case 3 where d[2] == 1 || d[2] == 3:
      (batch, height, width, channels, channelsFirst, batched) = (1, d[0], d[1], d[2], false, false)
    case 3:
      (batch, height, width, channels, channelsFirst, batched) = (d[0], d[1], d[2], 1, false, true)
    case 4 where (d[1] == 1 || d[1] == 3) && !(d[3] == 1 || d[3] == 3):
      (batch, height, width, channels, channelsFirst, batched) = (
        d[0], d[2], d[3], d[1], true, true
      )
    case 4:
      (batch, height, width, channels, channelsFirst, batched) = (
        d[0], d[1], d[2], d[3], false, true
      )
    default:
      return nil
    }
  }

  func index(_ n: Int, _ y: Int, _ x: Int, _ c: Int) -> Int {
    channelsFirst
      ? ((n * channels + c) * height + y) * width + x
      : ((n * height + y) * width + x) * channels + c
  }
}

/// The diverging colour map: blue (−1) – white (0) – red (+1), ColorBrewer RdBu's ends.
enum Diverging {
  static let negative = RGB(hex: 0x2166AC)
  static let positive = RGB(hex: 0xB2182B)

  /// The colour of `t` ∈ [−1, 1] (clamped).
  static func color(_ t: Double) -> RGB {
    let t = min(max(t, -1), 1)
    return t >= 0 ? RGB.white.mixed(with: positive, t) : RGB.white.mixed(with: negative, -t)
  }
}

/// Limits of a grid of heat maps.
public enum HeatmapGrid {
  /// The most pictures drawn in one grid (the first ones); 16.
  public static let maximumPanels = 16
  /// The side of the square box each picture of a grid is fitted into, in figure units.
  static let panelBox = 180.0
  /// The space under each picture of a grid for its label.
  static let labelHeight = 18.0
  static let gap = 14.0
}

/// An image heat map: channel-summed scores in a diverging colour map with symmetric limits
/// ±max|v|, optionally over the grayscale input, with a colour bar on the right. With
/// several ``PlotOptions/examples`` a grid of pictures (at most ``HeatmapGrid/maximumPanels``,
/// ⌈√n⌉ columns) with one shared colour scale and each picture labelled by
/// ``PlotOptions/labels`` (or its example index).
package struct HeatmapFigure: Figure {
  let rows: Int
  let columns: Int
  /// Channel-summed scores of each panel, row-major.
  let panels: [[Double]]
  /// max |value| over every panel (1 when all are zero).
  let limit: Double
  /// The input of each panel in grayscale, normalised to [0, 1], or nil.
  let grays: [[Double]]?
  /// The label under each panel (grids only).
  let labels: [String]?
  let title: String?

  package let width: Int
  package let height: Int
  /// The first picture's rectangle.
  package let imageX: Double
  package let imageY: Double
  package let imageWidth: Double
  package let imageHeight: Double
  /// The top-left corner of each picture.
  package let origins: [(x: Double, y: Double)]
  let barX: Double
  let barY: Double
  let barHeight: Double

  /// The first panel's channel-summed scores.
  var values: [Double] { panels[0] }
  /// The first panel's grayscale input.
  var gray: [Double]? { grays?[0] }

  static let barWidth = 18.0
  static let labelSpace = 64.0

  package init(scores: Tensor, options: PlotOptions) throws(PlotError) {
    guard let layout = ImageLayout(scores.shape), layout.height > 0, layout.width > 0 else {
      throw .unsupportedShape(.heatmap, scores.shape)
    }
    let chosen = Array((options.examples.flatMap { $0.isEmpty ? nil : $0 } ?? [options.example]).prefix(HeatmapGrid.maximumPanels))
    let available = layout.batched ? layout.batch : 1
    guard !chosen.isEmpty else { throw .exampleOutOfRange(0, count: available) }
    for n in chosen where !(0..<available).contains(n) { throw .exampleOutOfRange(n, count: available) }
    rows = layout.height
    columns = layout.width
    let (rows, columns) = (self.rows, self.columns)

    var panels: [[Double]] = []
    var nonFinite = 0
    for n in chosen {
      var values = [Double](repeating: 0, count: rows * columns)
      for y in 0..<rows {
        for x in 0..<columns {
          var sum = 0.0
          for c in 0..<layout.channels {
            sum += Double(scores.scalars[layout.index(n, y, x, c)])
          }
          if sum.isFinite { values[y * columns + x] = sum } else { nonFinite += 1 }
        }
      }
      panels.append(values)
    }
    if nonFinite > 0 { throw .nonFiniteScores(count: nonFinite) }
    self.panels = panels
    let maxAbs = panels.joined().reduce(0) { max($0, abs($1)) }
    limit = maxAbs > 0 ? maxAbs : 1

    if let input = options.input {
      guard input.shape == scores.shape, let l = ImageLayout(input.shape) else {
        throw .shapeMismatch(what: "input", shape: input.shape, scores: scores.shape)
      }
      grays = chosen.map { n in
        var g = [Double](repeating: 0, count: rows * columns)
        for y in 0..<rows {
          for x in 0..<columns {
            var sum = 0.0
            for c in 0..<l.channels { sum += Double(input.scalars[l.index(n, y, x, c)]) }
            g[y * columns + x] = sum.isFinite ? sum / Double(l.channels) : 0
          }
        }
        let lo = g.min() ?? 0
        let hi = g.max() ?? 0
        return g.map { hi > lo ? ($0 - lo) / (hi - lo) : 0.5 }
      }
    } else {
      grays = nil
    }
    title = options.title
    let grid = chosen.count > 1
    if grid {
      labels = chosen.enumerated().map { i, n in
        var label = options.labels.flatMap { i < $0.count ? $0[i] : nil } ?? "example \(n)"
        if label.count > 28 { label = String(label.prefix(27)) + "…" }
        return label
      }
    } else {
      labels = nil
    }

    // Geometry: each picture fits a box (360 units alone, 180 in a grid; integer upscaling
    // for small pictures), grids in ⌈√n⌉ columns with a label under each picture.
    let top = options.title == nil ? 16.0 : 40.0
    let bottom = 16.0
    let left = 16.0
    let right = 20 + Self.barWidth + Self.labelSpace
    let box = grid ? HeatmapGrid.panelBox : 360
    let longest = Double(max(rows, columns))
    var scale = longest <= box ? (box / longest).rounded(.down) : box / longest
    let gridColumns = grid ? Int(Double(chosen.count).squareRoot().rounded(.up)) : 1
    let gridRows = (chosen.count + gridColumns - 1) / gridColumns
    let labelHeight = grid ? HeatmapGrid.labelHeight : 0
    let gap = grid ? HeatmapGrid.gap : 0
    if options.width != nil || options.height != nil {
      let availableWidth =
        options.width.map { (Double($0) - left - right - gap * Double(gridColumns - 1)) / Double(gridColumns) } ?? .infinity
      let availableHeight =
        options.height.map { (Double($0) - top - bottom - (labelHeight + gap) * Double(gridRows)) / Double(gridRows) }
        ?? .infinity
      scale = min(availableWidth / Double(columns), availableHeight / Double(rows))
    }
    imageWidth = scale * Double(columns)
    imageHeight = scale * Double(rows)
    let gridWidth = Double(gridColumns) * imageWidth + Double(gridColumns - 1) * gap
    let gridHeight = Double(gridRows) * (imageHeight + labelHeight) + Double(gridRows - 1) * gap
    width = options.width ?? Int(max(left + gridWidth + right, titleWidth(options.title)).rounded(.up))
    height = options.height ?? Int((top + gridHeight + bottom).rounded(.up))
    guard scale > 0, (16...32767).contains(width), (16...32767).contains(height) else {
      throw .invalidSize(width: width, height: height)
    }
    imageX = left
    imageY = top
    let (iw, ih) = (imageWidth, imageHeight)
    origins = chosen.indices.map { i in
      (left + Double(i % gridColumns) * (iw + gap), top + Double(i / gridColumns) * (ih + labelHeight + gap))
    }
    barX = left + gridWidth + 20
    barY = top
    barHeight = grid ? min(gridHeight, max(ih, 120)) : ih
  }

  func draw(on canvas: Canvas) {
    if let title {
      canvas.text(title, x: canvas.width / 2, y: 20, size: titleSize, align: .center, bold: true)
    }
    let frame = RGB(0.2, 0.2, 0.2)
    for (i, values) in panels.enumerated() {
      let (x0, y0) = origins[i]
      let ts = values.map { $0 / limit }
      if let grays {
        canvas.raster(
          grays[i].map { RGB($0, $0, $0) }, columns: columns, rows: rows,
          x: x0, y: y0, width: imageWidth, height: imageHeight)
        canvas.raster(
          ts.map { $0 >= 0 ? Diverging.positive : Diverging.negative },
          alpha: ts.map { 0.85 * abs($0) }, columns: columns, rows: rows,
          x: x0, y: y0, width: imageWidth, height: imageHeight)
      } else {
        canvas.raster(
          ts.map(Diverging.color), columns: columns, rows: rows,
          x: x0, y: y0, width: imageWidth, height: imageHeight)
      }
      canvas.strokeRect(
        x: x0 - 0.5, y: y0 - 0.5, width: imageWidth + 1, height: imageHeight + 1, color: frame)
      if let labels {
        canvas.text(labels[i], x: x0 + imageWidth / 2, y: y0 + imageHeight + HeatmapGrid.labelHeight / 2 + 2, size: 11, align: .center)
      }
    }

    // Colour bar: +limit at the top, −limit at the bottom.
    let steps = 256
    let bar = (0..<steps).map { Diverging.color(1 - 2 * (Double($0) + 0.5) / Double(steps)) }
    canvas.raster(
      bar, columns: 1, rows: steps, x: barX, y: barY, width: Self.barWidth, height: barHeight)
    canvas.strokeRect(
      x: barX - 0.5, y: barY - 0.5, width: Self.barWidth + 1, height: barHeight + 1,
      color: frame)
    let labelX = barX + Self.barWidth + 6
    for (value, y) in [
      (limit, barY), (0, barY + barHeight / 2), (-limit, barY + barHeight),
    ] {
      canvas.line(from: barX + Self.barWidth, y, to: barX + Self.barWidth + 4, y, color: frame)
      canvas.text(Ticks.compact(value), x: labelX, y: y, size: 10)
    }
  }
}
