import LiftTensor

/// How a one-hot-shaped tensor is laid out: batch `N`, tasks `T`, positions `L`, letters `K`,
/// channels last (`[…, L, K]`) or first (`[…, K, L]`, PyTorch).
struct OneHotLayout {
  let batch: Int
  let tasks: Int
  let length: Int
  let channels: Int
  let channelsFirst: Bool
  /// Whether the shape has a batch axis (`[L, K]` and `[K, L]` have none).
  let batched: Bool

  /// Recognises `[L, K]`, `[K, L]`, `[N, L, K]`, `[N, K, L]`, `[N, T, L, K]`, `[N, T, K, L]`
  /// with `K` in `channelCounts`; channels-last wins when both readings fit.
  init?(_ shape: Shape, channelCounts: Set<Int>) {
    let d = shape.dimensions
    func pick(_ l: Int, _ k: Int) -> (Int, Int, Bool)? {
      if channelCounts.contains(d[k]) { return (d[l], d[k], false) }
      if channelCounts.contains(d[l]) { return (d[k], d[l], true) }
      return nil
    }
    switch d.count {
    case 2:
      guard let (l, k, first) = pick(0, 1) else { return nil }
      (batch, tasks, length, channels, channelsFirst, batched) = (1, 1, l, k, first, false)
    case 3:
      guard let (l, k, first) = pick(1, 2) else { return nil }
      (batch, tasks, length, channels, channelsFirst, batched) = (d[0], 1, l, k, first, true)
    case 4:
      guard let (l, k, first) = pick(2, 3) else { return nil }
      (batch, tasks, length, channels, channelsFirst, batched) = (d[0], d[1], l, k, first, true)
    default:
      return nil
    }
  }

  /// The flat index of example `n`, task `t`, position `l`, letter `k`.
  func index(_ n: Int, _ t: Int, _ l: Int, _ k: Int) -> Int {
    channelsFirst
      ? ((n * tasks + t) * channels + k) * length + l
      : ((n * tasks + t) * length + l) * channels + k
  }
}

/// A sequence logo: one row per (example, task), letters stacked by |score| at each position.
///
/// Layout (units are pixels for PNG): a title band, then rows of `rowHeight` each with its own
/// y scale `[lo, hi]` (the tallest stacks plus 10 %), cells `cellWidth` wide starting at
/// `plotLeft`, position ticks under every row and tick labels under the last.
package struct LogoFigure: Figure {
  struct Row {
    var label: String?
    /// `values[i][k]`: the score of letter `k` at window position `i`.
    var values: [[Double]]
    var lo: Double
    var hi: Double
  }

  let alphabet: LogoAlphabet
  let rows: [Row]
  /// Absolute index of the first drawn position.
  package let start: Int
  /// Number of drawn positions.
  package let length: Int
  let title: String?

  package let width: Int
  package let height: Int
  package let plotLeft: Double
  package let cellWidth: Double
  package let rowHeight: Double
  /// The top edge of each row's plotting area.
  package let rowTops: [Double]

  static let leftMargin = 72.0
  static let rightMargin = 16.0
  static let bottomMargin = 44.0
  static let rowGap = 14.0
  static let labelBand = 18.0

  /// Lays out the logo for `scores`; see `renderPlot` for the accepted shapes and options.
  package init(scores: Tensor, options: PlotOptions) throws(PlotError) {
    let counts: Set<Int> = options.alphabet.map { [$0.letters.count] } ?? [4, 20]
    guard let layout = OneHotLayout(scores.shape, channelCounts: counts),
      let alphabet = options.alphabet ?? LogoAlphabet(channelCount: layout.channels)
    else { throw .notOneHotShaped(scores.shape, channels: counts.sorted()) }
    self.alphabet = alphabet

    // Window.
    let start = options.start ?? 0
    let end = options.end ?? layout.length
    guard start < end else { throw .emptyWindow(start: start, end: end) }
    guard start >= 0, end <= layout.length else {
      throw .windowOutOfRange(start: start, end: end, length: layout.length)
    }
    self.start = start
    self.length = end - start

    // Examples.
    let examples = options.examples.flatMap { $0.isEmpty ? nil : $0 } ?? [options.example]
    let available = layout.batched ? layout.batch : 1
    for n in examples where !(0..<available).contains(n) {
      throw .exampleOutOfRange(n, count: available)
    }

    // Sequence mask: same length and letters; batch and task axes may be absent or 1.
    var mask: (layout: OneHotLayout, scalars: [Float])?
    if let sequence = options.sequence {
      guard let s = OneHotLayout(sequence.shape, channelCounts: [layout.channels]),
        s.length == layout.length, s.channels == layout.channels,
        !s.batched || s.batch == layout.batch || s.batch == 1,
        s.tasks == 1 || s.tasks == layout.tasks
      else { throw .shapeMismatch(what: "sequence", shape: sequence.shape, scores: scores.shape) }
      mask = (s, sequence.scalars)
    }

    var rows: [Row] = []
    var nonFinite = 0
    for n in examples {
      for t in 0..<layout.tasks {
        var values = [[Double]](
          repeating: [Double](repeating: 0, count: layout.channels), count: length)
        var lo = 0.0
        var hi = 0.0
        for i in 0..<length {
          var up = 0.0
          var down = 0.0
          for k in 0..<layout.channels {
            var v = Double(scores.scalars[layout.index(n, t, start + i, k)])
            if let (m, s) = mask {
              v *= Double(s[m.index(m.batch == 1 ? 0 : n, m.tasks == 1 ? 0 : t, start + i, k)])
            }
            if !v.isFinite {
              nonFinite += 1
              continue
            }
            values[i][k] = v
            if v > 0 { up += v } else { down += v }
          }
          hi = max(hi, up)
          lo = min(lo, down)
        }
        if lo == 0 && hi == 0 {
          (lo, hi) = (-1, 1)  // empty logo: a symmetric unit axis
        } else {
          let pad = 0.1 * max(-lo, hi)
          (lo, hi) = (lo - pad, hi + pad)
        }
        var label: String?
        if examples.count > 1 && layout.tasks > 1 {
          label = "example \(n), task \(t)"
        } else if examples.count > 1 {
          label = "example \(n)"
        } else if layout.tasks > 1 {
          label = "task \(t)"
        }
        rows.append(Row(label: label, values: values, lo: lo, hi: hi))
      }
    }
    if nonFinite > 0 { throw .nonFiniteScores(count: nonFinite) }
    self.rows = rows
    self.title = options.title

    // Geometry.
    let titleBand = options.title == nil ? 12.0 : 38.0
    let labelBand = rows.contains { $0.label != nil } ? Self.labelBand : 0
    let perRowExtra = labelBand + Self.rowGap
    let fixedHeight = titleBand + Double(rows.count) * perRowExtra - Self.rowGap + Self.bottomMargin
    let horizontal = Self.leftMargin + Self.rightMargin
    if let w = options.width {
      cellWidth = (Double(w) - horizontal) / Double(length)
    } else {
      // 28 units per letter, wider for very short windows, narrower (down to 1) for long ones.
      cellWidth = min(max(28, 280 / Double(length)), max(1, 1800 / Double(length)))
    }
    if let h = options.height {
      rowHeight = (Double(h) - fixedHeight) / Double(rows.count)
    } else {
      rowHeight = 150
    }
    let naturalWidth = max(horizontal + cellWidth * Double(length), titleWidth(options.title))
    width = options.width ?? Int(naturalWidth.rounded(.up))
    height = options.height ?? Int((fixedHeight + rowHeight * Double(rows.count)).rounded(.up))
    guard cellWidth > 0, rowHeight >= 8, (16...32767).contains(width),
      (16...32767).contains(height)
    else { throw .invalidSize(width: width, height: height) }
    plotLeft = Self.leftMargin
    let pitch = rowHeight + perRowExtra
    rowTops = (0..<rows.count).map { r in titleBand + Double(r) * pitch + labelBand }
  }

  /// The left edge of window position `i` (0-based within the window).
  package func x(position i: Int) -> Double { plotLeft + Double(i) * cellWidth }

  /// The vertical coordinate of score `value` in row `row`.
  package func y(row: Int, value: Double) -> Double {
    let r = rows[row]
    return rowTops[row] + (r.hi - value) / (r.hi - r.lo) * rowHeight
  }

  func draw(on canvas: Canvas) {
    let axisColor = RGB(0.2, 0.2, 0.2)
    let plotRight = plotLeft + cellWidth * Double(length)
    if let title {
      canvas.text(title, x: canvas.width / 2, y: 19, size: titleSize, align: .center, bold: true)
    }
    let colors = alphabet.colors
    let letters = alphabet.letters
    let inset = cellWidth >= 6 ? cellWidth * 0.04 : 0
    let tickPositions = Ticks.integers(
      lo: start, hi: start + length, minStep: 48 / cellWidth)
    for (r, row) in rows.enumerated() {
      let top = rowTops[r]
      let bottom = top + rowHeight
      if let label = row.label {
        canvas.text(label, x: plotLeft, y: top - Self.labelBand / 2, size: 11, bold: true)
      }
      // Letters: per position, smallest |score| nearest the axis.
      for i in 0..<length {
        let order = row.values[i].indices.filter { row.values[i][$0] != 0 }
          .sorted { abs(row.values[i][$0]) < abs(row.values[i][$1]) }
        var up = 0.0
        var down = 0.0
        for k in order {
          let v = row.values[i][k]
          let base = v > 0 ? up : down
          let y0 = y(row: r, value: base)
          let y1 = y(row: r, value: base + v)
          canvas.letter(
            letters[k], x: x(position: i) + inset, baseY: y0, width: cellWidth - 2 * inset,
            height: y0 - y1, color: colors[k])
          if v > 0 { up += v } else { down += v }
        }
      }
      // Zero line, y axis with ticks, position ticks.
      let zero = y(row: r, value: 0)
      canvas.line(from: plotLeft, zero, to: plotRight, zero, color: RGB(0.45, 0.45, 0.45))
      canvas.line(from: plotLeft - 0.5, top, to: plotLeft - 0.5, bottom, color: axisColor)
      canvas.line(from: plotLeft - 1, bottom + 0.5, to: plotRight, bottom + 0.5, color: axisColor)
      let (ticks, step) = Ticks.values(
        lo: row.lo, hi: row.hi, maxCount: max(2, Int(rowHeight / 30)))
      for v in ticks {
        let ty = y(row: r, value: v)
        canvas.line(from: plotLeft - 5, ty, to: plotLeft - 0.5, ty, color: axisColor)
        canvas.text(Ticks.label(v, step: step), x: plotLeft - 8, y: ty, size: 10, align: .right)
      }
      for p in tickPositions {
        let tx = x(position: p - start) + cellWidth / 2
        canvas.line(from: tx, bottom + 0.5, to: tx, bottom + 5, color: axisColor)
        if r == rows.count - 1 {
          canvas.text(String(p), x: tx, y: bottom + 14, size: 10, align: .center)
        }
      }
      canvas.text(
        "score", x: 16, y: top + rowHeight / 2, size: 11, align: .center, rotated: true)
    }
    let lastBottom = rowTops[rows.count - 1] + rowHeight
    canvas.text(
      "position", x: (plotLeft + plotRight) / 2, y: lastBottom + 31, size: 11, align: .center)
  }
}
