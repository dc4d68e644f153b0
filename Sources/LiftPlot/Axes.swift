import Foundation

/// Axis helpers shared by the figures: "nice" tick values and their labels.
enum Ticks {
  /// Round tick values covering `[lo, hi]`: multiples of 1, 2, 2.5 or 5 × 10ᵏ, at most about
  /// `maxCount` of them, all inside the closed interval.
  ///
  /// - Precondition: `lo < hi`, both finite.
  static func values(lo: Double, hi: Double, maxCount: Int) -> (values: [Double], step: Double) {
    precondition(lo < hi && lo.isFinite && hi.isFinite, "tick range [\(lo), \(hi)]")
    let raw = (hi - lo) / Double(max(maxCount, 1))
    let magnitude = pow(10, floor(log10(raw)))
    let step =
      [1.0, 2, 2.5, 5, 10].lazy.map { $0 * magnitude }.first { $0 >= raw } ?? 10 * magnitude
    var out: [Double] = []
    var k = (lo / step).rounded(.up)
    while k * step <= hi + step * 1e-9 {
      let v = k * step
      out.append(abs(v) < step * 1e-9 ? 0 : v)
      k += 1
    }
    return (out, step)
  }

  /// Integer tick positions in `[lo, hi)` at a 1-2-5 step of at least `minStep`.
  static func integers(lo: Int, hi: Int, minStep: Double) -> [Int] {
    var step = 1
    var multipliers = [1, 2, 5].makeIterator()
    var scale = 1
    while Double(step) < minStep {
      if let m = multipliers.next() {
        step = m * scale
      } else {
        scale *= 10
        multipliers = [1, 2, 5].makeIterator()
      }
    }
    var first = lo >= 0 ? (lo + step - 1) / step * step : -((-lo) / step * step)
    if first < lo { first += step }
    return Array(stride(from: first, to: hi, by: step))
  }

  /// A label for tick value `v` on an axis whose ticks are `step` apart.
  static func label(_ v: Double, step: Double) -> String {
    if v == 0 { return "0" }
    let exponent = floor(log10(step) + 1e-9)
    let mantissa = step / pow(10, exponent)
    let decimals = max(0, Int(-exponent) + (abs(mantissa - 2.5) < 1e-6 ? 1 : 0))
    if decimals <= 6 && abs(v) < 1e6 { return String(format: "%.\(decimals)f", v) }
    return String(format: "%.3g", v)
  }

  /// A short label for an arbitrary value (colour-bar limits, bar values): 3 significant digits.
  static func compact(_ v: Double) -> String {
    v == 0 ? "0" : String(format: "%.3g", v)
  }
}

/// The horizontal value axis under a bar chart or a waterfall: a line at `bottom` from `left`
/// over `width`, a 5-unit tick and a label under it at each of `ticks` (placed by `x`).
func drawValueAxis(
  on canvas: Canvas, ticks: [Double], step: Double, left: Double, width: Double, bottom: Double,
  x: (Double) -> Double
) {
  let axis = RGB(0.2, 0.2, 0.2)
  canvas.line(from: left, bottom + 0.5, to: left + width, bottom + 0.5, color: axis)
  for v in ticks {
    let tx = x(v)
    canvas.line(from: tx, bottom + 0.5, to: tx, bottom + 5, color: axis)
    canvas.text(Ticks.label(v, step: step), x: tx, y: bottom + 14, size: 10, align: .center)
  }
}
