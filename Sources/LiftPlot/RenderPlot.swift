import Foundation
import LiftIO
import LiftTensor

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// A laid-out figure: its size and how to draw it.
protocol Figure {
  var width: Int { get }
  var height: Int { get }
  func draw(on canvas: Canvas)
}

/// The plot kind that fits an attribution shape, or `nil` when none does.
///
/// - rank 1 `[F]` → `.bars`;
/// - rank 2: `[L, 4]` / `[L, 20]` → `.logo`, otherwise `[N, F]` → `.bars` (a single `[H, W]`
///   image needs an explicit `.heatmap`);
/// - rank 3: `[N, L, 4|20]` or channels-first `[N, 4|20, L]` → `.logo`, otherwise
///   `[H, W, C]` / `[N, H, W]` → `.heatmap`;
/// - rank 4: `[N, T, L, 4|20]` (several tasks) or `[N, 1, 4|20, L]` (the Theano-era DeepLIFT
///   layout) → `.logo`, otherwise `[N, H, W, C]` / `[N, C, H, W]` → `.heatmap`;
/// - anything else → `nil`.
public func inferPlotKind(shape: Shape) -> PlotKind? {
  let d = shape.dimensions
  let letters: Set<Int> = [4, 20]
  switch d.count {
  case 1: return .bars
  case 2: return letters.contains(d[1]) ? .logo : .bars
  case 3: return letters.contains(d[2]) || letters.contains(d[1]) ? .logo : .heatmap
  case 4: return letters.contains(d[3]) || (d[1] == 1 && letters.contains(d[2])) ? .logo : .heatmap
  default: return nil
  }
}

/// Draws `scores` as a figure and writes it to `url` as PNG, SVG or PDF (from the extension).
///
/// The figure kind is `options.kind`, or `inferPlotKind(shape:)` of the scores:
/// - `.logo`: a sequence logo of one example's one-hot scores (`[N, L, K]`, `[N, K, L]`,
///   `[N, T, L, K]` with one row per task, or `[L, K]`; `K` = 4 → A C G T, 20 → protein).
///   Per position the letters are sorted by |score|, the smallest nearest the axis; positive
///   scores stack up from 0 and negative ones stack down, drawn upside down — the layout of
///   the original DeepLIFT's `viz_sequence.plot_weights`. Letter heights equal the scores in
///   axis units. `options.sequence` (one-hot) multiplies the scores, so hypothetical scores
///   show only the observed letter; `options.start`/`end` pick the window `[start, end)`,
///   `options.examples` stacks several examples as rows.
/// - `.heatmap`: the channel sum of one image in blue (−) – white (0) – red (+) with limits
///   ±max|v|, over the grayscale `options.input` when given, and a colour bar.
/// - `.bars`: one example's `options.topK` largest |scores| as horizontal bars, largest on
///   top, positive red and negative blue, named by `options.features` or `f0`, `f1`, …
///   (`[F]`, `[N, F]`; higher ranks are flattened per example in row-major order).
/// - `.waterfall`: one example's scores (`[F]`, `[N, F]`) as horizontal steps from its base
///   value (`options.baseValues`) up to base + Σ scores: the `options.topK` largest |scores|
///   one step each (largest on top, positive red, negative blue), the others summed into one
///   step "N other features" at the bottom, where the steps start.
/// - `.beeswarm`: every example's scores (`[N, F]`), one row per feature (the `options.topK`
///   largest mean |scores|, largest on top), one dot per example at its score, spread
///   vertically where dots would overlap, coloured from blue (the feature's low values) to
///   red (high) by `options.values` (`[N, F]`, required).
///
/// The file is written to a temporary file in the same directory and renamed into place, so a
/// failure never leaves a partial or stale output behind (LiftIO's `AtomicFileWriter`); with
/// a `transaction`, the rename waits for its `commit()`.
///
/// - Throws: `PlotError` for an unknown extension, a shape the kind cannot lay out, an
///   example or window out of range, non-finite scores, or an unwritable path.
public func renderPlot(
  scores: Tensor, options: PlotOptions, to url: URL, transaction: OutputTransaction? = nil
) throws(PlotError) {
  let ext = url.pathExtension
  guard let format = PlotFormat(pathExtension: ext) else { throw .unsupportedExtension(ext) }
  let bytes = try renderPlot(scores: scores, options: options, format: format)
  try writeAtomically(bytes, to: url, transaction: transaction)
}

/// Draws `scores` as a figure (see `renderPlot(scores:options:to:)`) and returns the encoded
/// file in `format`, without touching the file system.
public func renderPlot(
  scores: Tensor, options: PlotOptions, format: PlotFormat
) throws(PlotError) -> [UInt8] {
  let figure = try layoutFigure(scores: scores, options: options)
  let canvas = Canvas(format: format, width: figure.width, height: figure.height)
  figure.draw(on: canvas)
  return try canvas.finish().get()
}

/// Lays out the figure `renderPlot` would draw (used by tests to find where things are).
func layoutFigure(scores: Tensor, options: PlotOptions) throws(PlotError) -> any Figure {
  guard let kind = options.kind ?? inferPlotKind(shape: scores.shape) else {
    throw .cannotInferKind(scores.shape)
  }
  for side in [options.width, options.height] {
    if let side, !(16...32767).contains(side) {
      throw .invalidSize(width: options.width ?? 0, height: options.height ?? 0)
    }
  }
  // Without a given width the figure widens to fit the title: a title too wide for any
  // figure is the title's fault, not the scores'.
  if options.width == nil, let title = options.title, titleWidth(title) > 32767 {
    throw .titleTooLong(characters: title.count, width: Int(titleWidth(title).rounded(.up)))
  }
  switch kind {
  case .logo: return try LogoFigure(scores: scores, options: options)
  case .heatmap: return try HeatmapFigure(scores: scores, options: options)
  case .bars: return try BarsFigure(scores: scores, options: options)
  case .waterfall: return try WaterfallFigure(scores: scores, options: options)
  case .beeswarm: return try BeeswarmFigure(scores: scores, options: options)
  }
}

/// The font size of figure titles.
let titleSize = 15.0

/// The canvas width a title needs (0 for none): its bold width plus 16 units each side.
func titleWidth(_ title: String?) -> Double {
  guard let title else { return 0 }
  return Canvas(format: .png, width: 16, height: 16).textWidth(title, size: titleSize, bold: true)
    + 32
}

/// Writes `bytes` through LiftIO's ``AtomicFileWriter`` (a temporary file renamed over
/// `url`; devices and pipes written directly), optionally as part of `transaction`.
func writeAtomically(_ bytes: [UInt8], to url: URL, transaction: OutputTransaction? = nil) throws(PlotError) {
  do throws(NumpyIOError) {
    try LiftIO.writeAtomically(to: url, data: Data(bytes), transaction: transaction)
  } catch {
    switch error {
    case .writeFailed(_, let reason): throw .cannotWrite(path: url.path, reason: reason)
    default: throw .cannotWrite(path: url.path, reason: error.description)
    }
  }
}
