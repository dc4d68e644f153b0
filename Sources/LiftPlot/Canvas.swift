import CCairo

// The only file of the package that imports CCairo. Everything cairo-shaped (opaque pointers,
// status codes, C callbacks) stays here; the figure code talks to `Canvas` in Swift types.

/// An sRGB colour with components in [0, 1].
struct RGB: Equatable, Sendable {
  var red: Double
  var green: Double
  var blue: Double

  init(_ red: Double, _ green: Double, _ blue: Double) {
    self.red = red
    self.green = green
    self.blue = blue
  }

  /// From 8-bit components, e.g. `RGB(hex: 0xFFA500)` for orange.
  init(hex: UInt32) {
    self.init(
      Double((hex >> 16) & 0xFF) / 255, Double((hex >> 8) & 0xFF) / 255, Double(hex & 0xFF) / 255)
  }

  static let white = RGB(1, 1, 1)
  static let black = RGB(0, 0, 0)

  /// Linear interpolation `(1 − t)·self + t·other`.
  func mixed(with other: RGB, _ t: Double) -> RGB {
    RGB(
      red + (other.red - red) * t, green + (other.green - green) * t,
      blue + (other.blue - blue) * t)
  }
}

/// Horizontal anchoring of a text label relative to its reference point.
enum TextAlign { case left, center, right }

/// A drawing surface for one figure: a cairo context on a PNG (image), SVG or PDF surface.
///
/// Coordinates are in pixels (PNG, SVG) or points (PDF), origin top-left, y down.
/// Drawing calls never fail individually; cairo records the first error in the context and
/// `finish()` reports it.
final class Canvas {
  let width: Double
  let height: Double
  private let format: PlotFormat
  private let surface: OpaquePointer
  private let cr: OpaquePointer
  private let sink: ByteSink
  /// Glyph outlines at the reference font size with their ink boxes, keyed by letter.
  private var glyphs: [Character: (path: UnsafeMutablePointer<cairo_path_t>, box: Box)] = [:]
  /// Letters for which the font gave no outline (no usable font installed).
  private var missingGlyphs: Set<Character> = []

  /// The ink box `(x1, y1)–(x2, y2)` of a glyph path in font units (y down, baseline at 0).
  struct Box { var x1, y1, x2, y2: Double }

  /// Creates a canvas of `width × height` units that renders to `format` in memory.
  ///
  /// - Precondition: `1 ≤ width, height ≤ 32767` (cairo's image surface limit).
  init(format: PlotFormat, width: Int, height: Int) {
    precondition(
      (1...32767).contains(width) && (1...32767).contains(height),
      "canvas size \(width)×\(height) out of range")
    self.width = Double(width)
    self.height = Double(height)
    self.format = format
    let sink = ByteSink()
    self.sink = sink
    let closure = Unmanaged.passUnretained(sink).toOpaque()
    switch format {
    case .png:
      surface = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, Int32(width), Int32(height))
    case .svg:
      surface = cairo_svg_surface_create_for_stream(
        byteSinkWrite, closure, Double(width), Double(height))
      cairo_svg_surface_set_document_unit(surface, CAIRO_SVG_UNIT_PX)
    case .pdf:
      surface = cairo_pdf_surface_create_for_stream(
        byteSinkWrite, closure, Double(width), Double(height))
    }
    cr = cairo_create(surface)
    // Unhinted outlines, so glyphs scale smoothly to any cell size.
    let options = cairo_font_options_create()
    cairo_font_options_set_hint_style(options, CAIRO_HINT_STYLE_NONE)
    cairo_font_options_set_hint_metrics(options, CAIRO_HINT_METRICS_OFF)
    cairo_set_font_options(cr, options)
    cairo_font_options_destroy(options)
    // Opaque white background on every format.
    fill(x: 0, y: 0, width: Double(width), height: Double(height), color: .white)
  }

  deinit {
    for entry in glyphs.values { cairo_path_destroy(entry.path) }
    cairo_destroy(cr)
    cairo_surface_destroy(surface)
  }

  /// Completes the drawing and returns the encoded file, or cairo's error message.
  func finish() -> Result<[UInt8], PlotError> {
    if let message = statusMessage(cairo_status(cr)) { return .failure(.renderingFailed(message)) }
    if !missingGlyphs.isEmpty {
      return .failure(
        .renderingFailed(
          "no glyph outline for '\(String(missingGlyphs.sorted()))': install a TrueType font "
            + "(Debian: fonts-dejavu-core)"))
    }
    switch format {
    case .png:
      cairo_surface_flush(surface)
      let closure = Unmanaged.passUnretained(sink).toOpaque()
      let status = cairo_surface_write_to_png_stream(surface, byteSinkWrite, closure)
      if let message = statusMessage(status) { return .failure(.renderingFailed(message)) }
    case .svg, .pdf:
      cairo_surface_finish(surface)
      if let message = statusMessage(cairo_surface_status(surface)) {
        return .failure(.renderingFailed(message))
      }
    }
    return .success(sink.bytes)
  }

  private func statusMessage(_ status: cairo_status_t) -> String? {
    status == CAIRO_STATUS_SUCCESS ? nil : String(cString: cairo_status_to_string(status))
  }

  // MARK: - Shapes

  /// Fills the axis-aligned rectangle with a colour (alpha in [0, 1]).
  func fill(x: Double, y: Double, width: Double, height: Double, color: RGB, alpha: Double = 1) {
    cairo_set_source_rgba(cr, color.red, color.green, color.blue, alpha)
    cairo_rectangle(cr, x, y, width, height)
    cairo_fill(cr)
  }

  /// Fills the disc of `radius` around `(x, y)` with a colour (alpha in [0, 1]).
  func disc(x: Double, y: Double, radius: Double, color: RGB, alpha: Double = 1) {
    cairo_set_source_rgba(cr, color.red, color.green, color.blue, alpha)
    cairo_new_sub_path(cr)
    cairo_arc(cr, x, y, radius, 0, 2 * Double.pi)
    cairo_fill(cr)
  }

  /// Outlines the rectangle with a line of `lineWidth` centred on its edges.
  func strokeRect(
    x: Double, y: Double, width: Double, height: Double, color: RGB, lineWidth: Double = 1
  ) {
    cairo_set_source_rgb(cr, color.red, color.green, color.blue)
    cairo_set_line_width(cr, lineWidth)
    cairo_rectangle(cr, x, y, width, height)
    cairo_stroke(cr)
  }

  /// A straight line from `(x0, y0)` to `(x1, y1)`.
  func line(
    from x0: Double, _ y0: Double, to x1: Double, _ y1: Double, color: RGB, lineWidth: Double = 1
  ) {
    cairo_set_source_rgb(cr, color.red, color.green, color.blue)
    cairo_set_line_width(cr, lineWidth)
    cairo_set_line_cap(cr, CAIRO_LINE_CAP_BUTT)
    cairo_move_to(cr, x0, y0)
    cairo_line_to(cr, x1, y1)
    cairo_stroke(cr)
  }

  // MARK: - Text

  private func selectFont(size: Double, bold: Bool) {
    cairo_select_font_face(
      cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL,
      bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL)
    cairo_set_font_size(cr, size)
  }

  /// The advance width of `text` at `size`.
  func textWidth(_ text: String, size: Double, bold: Bool = false) -> Double {
    selectFont(size: size, bold: bold)
    var extents = cairo_text_extents_t()
    cairo_text_extents(cr, text, &extents)
    return extents.x_advance
  }

  /// Draws a one-line label whose vertical centre is at `y` (cap height centred), anchored
  /// horizontally at `x` by `align`; `rotated` turns it 90° counter-clockwise about `(x, y)`.
  func text(
    _ text: String, x: Double, y: Double, size: Double, align: TextAlign = .left,
    bold: Bool = false, color: RGB = .black, rotated: Bool = false
  ) {
    selectFont(size: size, bold: bold)
    var extents = cairo_text_extents_t()
    cairo_text_extents(cr, text, &extents)
    let dx: Double
    switch align {
    case .left: dx = 0
    case .center: dx = -extents.x_advance / 2
    case .right: dx = -extents.x_advance
    }
    let dy = size * 0.36  // about half the cap height of a sans font
    cairo_save(cr)
    cairo_translate(cr, x, y)
    if rotated { cairo_rotate(cr, -Double.pi / 2) }
    cairo_set_source_rgb(cr, color.red, color.green, color.blue)
    cairo_move_to(cr, dx, dy)
    cairo_show_text(cr, text)
    cairo_restore(cr)
    cairo_new_path(cr)
  }

  // MARK: - Glyph outlines (sequence logos)

  /// The outline of `letter` in a bold sans font at size 100, and its ink box.
  private func glyph(_ letter: Character) -> (path: UnsafeMutablePointer<cairo_path_t>, box: Box) {
    if let cached = glyphs[letter] { return cached }
    cairo_save(cr)
    cairo_identity_matrix(cr)
    selectFont(size: 100, bold: true)
    cairo_new_path(cr)
    cairo_move_to(cr, 0, 0)
    cairo_text_path(cr, String(letter))
    var box = Box(x1: 0, y1: 0, x2: 0, y2: 0)
    cairo_path_extents(cr, &box.x1, &box.y1, &box.x2, &box.y2)
    let path = cairo_copy_path(cr)!
    cairo_new_path(cr)
    cairo_restore(cr)
    glyphs[letter] = (path, box)
    return (path, box)
  }

  /// Fills the glyph of `letter` stretched to a cell: horizontally `[x, x + width]`, vertically
  /// from the baseline `baseY` to `baseY − height`. A negative `height` extends the cell below
  /// the baseline and draws the glyph upside down, as the original DeepLIFT and logomaker do.
  func letter(
    _ letter: Character, x: Double, baseY: Double, width: Double, height: Double, color: RGB
  ) {
    guard abs(height) >= 0.01, width >= 0.01 else { return }  // degenerate: nothing visible
    let (path, box) = glyph(letter)
    let boxWidth = box.x2 - box.x1
    let boxHeight = box.y2 - box.y1
    guard boxWidth > 0, boxHeight > 0 else {  // no outline: no usable font
      missingGlyphs.insert(letter)
      return
    }
    // x' = sx·px + tx maps [x1, x2] → [x, x + width];
    // y' = sy·py + ty maps y2 (glyph bottom) → baseY and y1 (glyph top) → baseY − height.
    let sx = width / boxWidth
    let sy = height / boxHeight
    var m = cairo_matrix_t(
      xx: sx, yx: 0, xy: 0, yy: sy, x0: x - box.x1 * sx, y0: baseY - box.y2 * sy)
    cairo_save(cr)
    cairo_transform(cr, &m)
    cairo_new_path(cr)
    cairo_append_path(cr, path)
    cairo_restore(cr)
    cairo_set_source_rgb(cr, color.red, color.green, color.blue)
    cairo_fill(cr)
  }

  // MARK: - Raster images

  /// Draws a `columns × rows` raster of opaque colours (row-major, top row first) scaled to the
  /// rectangle with nearest-neighbour sampling, so every data cell stays a crisp block.
  /// `alpha` (same count, optional) makes cells translucent over what is already drawn.
  ///
  /// SVG viewers ignore cairo's sampling filter and smooth embedded images, so for SVG the
  /// raster is first enlarged by an integer factor (up to the drawn size, at most 4 M pixels).
  func raster(
    _ colors: [RGB], alpha: [Double]? = nil, columns: Int, rows: Int,
    x: Double, y: Double, width: Double, height: Double
  ) {
    precondition(colors.count == columns * rows && (alpha?.count ?? colors.count) == colors.count)
    guard columns > 0, rows > 0 else { return }
    var factor = 1
    if format == .svg {
      factor = max(1, Int(min(width / Double(columns), height / Double(rows)).rounded(.up)))
      while factor > 1 && columns * rows * factor * factor > 4_000_000 { factor -= 1 }
    }
    let (w, h) = (columns * factor, rows * factor)
    let image = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, Int32(w), Int32(h))
    defer { cairo_surface_destroy(image) }
    cairo_surface_flush(image)
    let stride = Int(cairo_image_surface_get_stride(image)) / 4
    guard let raw = cairo_image_surface_get_data(image) else { return }
    let pixels = UnsafeMutableRawPointer(raw).bindMemory(to: UInt32.self, capacity: stride * h)
    for r in 0..<rows {
      for c in 0..<columns {
        let i = r * columns + c
        let a = min(max(alpha?[i] ?? 1, 0), 1)
        // Premultiplied ARGB32 in native byte order.
        func channel(_ v: Double) -> UInt32 { UInt32((min(max(v, 0), 1) * a * 255).rounded()) }
        let color = colors[i]
        let word =
          UInt32((a * 255).rounded()) << 24 | channel(color.red) << 16 | channel(color.green) << 8
          | channel(color.blue)
        for dy in 0..<factor {
          for dx in 0..<factor { pixels[(r * factor + dy) * stride + c * factor + dx] = word }
        }
      }
    }
    cairo_surface_mark_dirty(image)
    cairo_save(cr)
    cairo_rectangle(cr, x, y, width, height)
    cairo_clip(cr)
    cairo_translate(cr, x, y)
    cairo_scale(cr, width / Double(w), height / Double(h))
    cairo_set_source_surface(cr, image, 0, 0)
    cairo_pattern_set_filter(cairo_get_source(cr), CAIRO_FILTER_NEAREST)
    cairo_paint(cr)
    cairo_restore(cr)
  }
}

/// Accumulates the bytes cairo writes through a stream callback.
private final class ByteSink {
  var bytes: [UInt8] = []
}

/// cairo's `cairo_write_func_t`: appends to the `ByteSink` passed as the closure pointer.
private func byteSinkWrite(
  _ closure: UnsafeMutableRawPointer?, _ data: UnsafePointer<UInt8>?, _ length: UInt32
) -> cairo_status_t {
  guard let closure, let data else { return CAIRO_STATUS_WRITE_ERROR }
  let sink = Unmanaged<ByteSink>.fromOpaque(closure).takeUnretainedValue()
  sink.bytes.append(contentsOf: UnsafeBufferPointer(start: data, count: Int(length)))
  return CAIRO_STATUS_SUCCESS
}

// MARK: - Reading PNG files back (tests)

/// A decoded 8-bit RGBA image, for checking rendered figures pixel by pixel.
package struct RGBAImage: Sendable {
  package let width: Int
  package let height: Int
  /// Un-premultiplied `(r, g, b, a)` per pixel, row-major, top row first.
  package let pixels: [(r: UInt8, g: UInt8, b: UInt8, a: UInt8)]

  /// The pixel in column `x`, row `y`.
  package subscript(x: Int, y: Int) -> (r: UInt8, g: UInt8, b: UInt8, a: UInt8) {
    pixels[y * width + x]
  }

  /// Decodes a PNG file with cairo; `nil` if it cannot be read.
  package init?(pngAt path: String) {
    let surface = cairo_image_surface_create_from_png(path)
    defer { cairo_surface_destroy(surface) }
    guard cairo_surface_status(surface) == CAIRO_STATUS_SUCCESS,
      cairo_image_surface_get_format(surface) == CAIRO_FORMAT_ARGB32
        || cairo_image_surface_get_format(surface) == CAIRO_FORMAT_RGB24,
      let raw = cairo_image_surface_get_data(surface)
    else { return nil }
    let hasAlpha = cairo_image_surface_get_format(surface) == CAIRO_FORMAT_ARGB32
    width = Int(cairo_image_surface_get_width(surface))
    height = Int(cairo_image_surface_get_height(surface))
    let stride = Int(cairo_image_surface_get_stride(surface)) / 4
    let words = UnsafeRawPointer(raw).bindMemory(to: UInt32.self, capacity: stride * height)
    var out: [(r: UInt8, g: UInt8, b: UInt8, a: UInt8)] = []
    out.reserveCapacity(width * height)
    for y in 0..<height {
      for x in 0..<width {
        let w = words[y * stride + x]
        let a = hasAlpha ? (w >> 24) & 0xFF : 255
        func un(_ v: UInt32) -> UInt8 { a == 0 ? 0 : UInt8(min(255, (v * 255 + a / 2) / a)) }
        out.append((un((w >> 16) & 0xFF), un((w >> 8) & 0xFF), un(w & 0xFF), UInt8(a)))
      }
    }
    pixels = out
  }
}
