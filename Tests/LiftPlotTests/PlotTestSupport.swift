import Foundation
import LiftTensor
import Testing

@testable import LiftPlot

/// An 8-bit colour to look for in rendered pixels.
struct Color8: Equatable {
  var r: Int
  var g: Int
  var b: Int

  init(_ r: Int, _ g: Int, _ b: Int) { (self.r, self.g, self.b) = (r, g, b) }
  init(hex: Int) { self.init((hex >> 16) & 0xFF, (hex >> 8) & 0xFF, hex & 0xFF) }

  // The colours the documentation promises (matplotlib named colours for A C G T,
  // ColorBrewer RdBu ends for the diverging map, WebLogo "chemistry" for protein).
  static let green = Color8(hex: 0x008000)
  static let blue = Color8(hex: 0x0000FF)
  static let orange = Color8(hex: 0xFFA500)
  static let red = Color8(hex: 0xFF0000)
  static let white = Color8(255, 255, 255)
  static let rdbuRed = Color8(hex: 0xB2182B)
  static let rdbuBlue = Color8(hex: 0x2166AC)
  static let acidic = Color8(hex: 0xD62839)

  /// Whether a pixel is within `tolerance` of this colour on every channel.
  func matches(_ p: (r: UInt8, g: UInt8, b: UInt8, a: UInt8), tolerance: Int = 24) -> Bool {
    abs(Int(p.r) - r) <= tolerance && abs(Int(p.g) - g) <= tolerance
      && abs(Int(p.b) - b) <= tolerance
  }
}

/// A fresh, empty temporary directory for one test.
func makeTemporaryDirectory() throws -> URL {
  let url = FileManager.default.temporaryDirectory
    .appendingPathComponent("liftplot-tests-\(UUID().uuidString)", isDirectory: true)
  try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
  return url
}

/// Renders `scores` to a PNG file and reads it back with cairo.
func renderPNG(_ scores: Tensor, _ options: PlotOptions = PlotOptions()) throws -> RGBAImage {
  let dir = try makeTemporaryDirectory()
  defer { try? FileManager.default.removeItem(at: dir) }
  let url = dir.appendingPathComponent("figure.png")
  try renderPlot(scores: scores, options: options, to: url)
  return try #require(RGBAImage(pngAt: url.path))
}

extension RGBAImage {
  /// The pixels of the rectangle `[x0, x1) × [y0, y1)` (clipped to the image).
  func region(x0: Double, x1: Double, y0: Double, y1: Double) -> [(
    r: UInt8, g: UInt8, b: UInt8, a: UInt8
  )] {
    let xs = max(0, Int(x0.rounded(.up)))..<min(width, Int(x1.rounded(.down)))
    let ys = max(0, Int(y0.rounded(.up)))..<min(height, Int(y1.rounded(.down)))
    return ys.flatMap { y in xs.map { x in self[x, y] } }
  }

  /// The number of pixels in the rectangle that match `color`.
  func count(_ color: Color8, x0: Double, x1: Double, y0: Double, y1: Double) -> Int {
    region(x0: x0, x1: x1, y0: y0, y1: y1).count { color.matches($0) }
  }

  /// The rows (y) that contain at least one pixel of `color` within columns `[x0, x1)`.
  func rows(of color: Color8, x0: Double, x1: Double) -> ClosedRange<Int>? {
    let xs = max(0, Int(x0.rounded(.up)))..<min(width, Int(x1.rounded(.down)))
    let ys = (0..<height).filter { y in xs.contains { color.matches(self[$0, y]) } }
    guard let first = ys.first, let last = ys.last else { return nil }
    return first...last
  }

  /// The number of strongly coloured (non-gray) pixels anywhere in the image.
  var saturatedPixelCount: Int {
    pixels.count { p in
      Int(max(p.r, p.g, p.b)) - Int(min(p.r, p.g, p.b)) > 40
    }
  }
}

/// A `[N, L, K]` tensor of zeros with the given `(example, position, letter) = value` entries.
func logoScores(
  batch: Int = 1, length: Int, letters: Int = 4, _ entries: [(Int, Int, Int, Float)]
) -> Tensor {
  var t = Tensor.zeros([batch, length, letters])
  for (n, l, k, v) in entries { t[n, l, k] = v }
  return t
}

/// Transposes `[N, A, B]` to `[N, B, A]`.
func swapLastAxes(_ t: Tensor) -> Tensor {
  let (n, a, b) = (t.shape[0], t.shape[1], t.shape[2])
  var out = Tensor.zeros([n, b, a])
  for i in 0..<n { for j in 0..<a { for k in 0..<b { out[i, k, j] = t[i, j, k] } } }
  return out
}
