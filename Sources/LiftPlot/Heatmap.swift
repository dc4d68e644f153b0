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

/// An image heat map: channel-summed scores in a diverging colour map with symmetric limits
/// ±max|v|, optionally over the grayscale input, with a colour bar on the right.
package struct HeatmapFigure: Figure {
  let rows: Int
  let columns: Int
  /// Channel-summed scores, row-major.
  let values: [Double]
  /// max |value| (1 when all are zero).
  let limit: Double
  /// The input in grayscale, normalised to [0, 1], or nil.
  let gray: [Double]?
  let title: String?

  package let width: Int
  package let height: Int
  /// The image rectangle.
  package let imageX: Double
  package let imageY: Double
  package let imageWidth: Double
  package let imageHeight: Double
  let barX: Double

  static let barWidth = 18.0
  static let labelSpace = 64.0

  package init(scores: Tensor, options: PlotOptions) throws(PlotError) {
    guard let layout = ImageLayout(scores.shape), layout.height > 0, layout.width > 0 else {
      throw .unsupportedShape(.heatmap, scores.shape)
    }
    let n = options.examples?.first ?? options.example
    let available = layout.batched ? layout.batch : 1
    guard (0..<available).contains(n) else { throw .exampleOutOfRange(n, count: available) }
    rows = layout.height
    columns = layout.width

    var values = [Double](repeating: 0, count: rows * columns)
    var nonFinite = 0
    for y in 0..<rows {
      for x in 0..<columns {
        var sum = 0.0
        for c in 0..<layout.channels {
          sum += Double(scores.scalars[layout.index(n, y, x, c)])
        }
        if sum.isFinite { values[y * columns + x] = sum } else { nonFinite += 1 }
      }
    }
    if nonFinite > 0 { throw .nonFiniteScores(count: nonFinite) }
    self.values = values
    let maxAbs = values.reduce(0) { max($0, abs($1)) }
    limit = maxAbs > 0 ? maxAbs : 1

    if let input = options.input {
      guard input.shape == scores.shape, let l = ImageLayout(input.shape) else {
        throw .shapeMismatch(what: "input", shape: input.shape, scores: scores.shape)
      }
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
      gray = g.map { hi > lo ? ($0 - lo) / (hi - lo) : 0.5 }
    } else {
      gray = nil
    }
    title = options.title

    // Geometry: the image fits a 360-unit box (integer upscaling for small images).
    let top = options.title == nil ? 16.0 : 40.0
    let bottom = 16.0
    let left = 16.0
    let right = 20 + Self.barWidth + Self.labelSpace
    let longest = Double(max(rows, columns))
    var scale = longest <= 360 ? (360 / longest).rounded(.down) : 360 / longest
    if options.width != nil || options.height != nil {
      let availableWidth = options.width.map { Double($0) - left - right } ?? .infinity
      let availableHeight = options.height.map { Double($0) - top - bottom } ?? .infinity
      scale = min(availableWidth / Double(columns), availableHeight / Double(rows))
    }
    imageWidth = scale * Double(columns)
    imageHeight = scale * Double(rows)
    width =
      options.width ?? Int(max(left + imageWidth + right, titleWidth(options.title)).rounded(.up))
    height = options.height ?? Int((top + imageHeight + bottom).rounded(.up))
    guard scale > 0, (16...32767).contains(width), (16...32767).contains(height) else {
      throw .invalidSize(width: width, height: height)
    }
    imageX = left
    imageY = top
    barX = left + imageWidth + 20
  }

  func draw(on canvas: Canvas) {
    if let title {
      canvas.text(title, x: canvas.width / 2, y: 20, size: titleSize, align: .center, bold: true)
    }
    let ts = values.map { $0 / limit }
    if let gray {
      canvas.raster(
        gray.map { RGB($0, $0, $0) }, columns: columns, rows: rows,
        x: imageX, y: imageY, width: imageWidth, height: imageHeight)
      canvas.raster(
        ts.map { $0 >= 0 ? Diverging.positive : Diverging.negative },
        alpha: ts.map { 0.85 * abs($0) }, columns: columns, rows: rows,
        x: imageX, y: imageY, width: imageWidth, height: imageHeight)
    } else {
      canvas.raster(
        ts.map(Diverging.color), columns: columns, rows: rows,
        x: imageX, y: imageY, width: imageWidth, height: imageHeight)
    }
    let frame = RGB(0.2, 0.2, 0.2)
    canvas.strokeRect(
      x: imageX - 0.5, y: imageY - 0.5, width: imageWidth + 1, height: imageHeight + 1,
      color: frame)

    // Colour bar: +limit at the top, −limit at the bottom.
    let steps = 256
    let bar = (0..<steps).map { Diverging.color(1 - 2 * (Double($0) + 0.5) / Double(steps)) }
    canvas.raster(
      bar, columns: 1, rows: steps, x: barX, y: imageY, width: Self.barWidth, height: imageHeight)
    canvas.strokeRect(
      x: barX - 0.5, y: imageY - 0.5, width: Self.barWidth + 1, height: imageHeight + 1,
      color: frame)
    let labelX = barX + Self.barWidth + 6
    for (value, y) in [
      (limit, imageY), (0, imageY + imageHeight / 2), (-limit, imageY + imageHeight),
    ] {
      canvas.line(from: barX + Self.barWidth, y, to: barX + Self.barWidth + 4, y, color: frame)
      canvas.text(Ticks.compact(value), x: labelX, y: y, size: 10)
    }
  }
}
