import Foundation

/// A one-line progress bar on standard error with examples/s and ETA, drawn only when
/// standard error is a terminal and the run has lasted over two seconds.
final class ProgressBar: @unchecked Sendable {
  private let total: Int
  private let enabled: Bool
  private let start = Date()
  private var lastDraw = Date.distantPast
  private var drawn = false

  init(total: Int, enabled: Bool) {
    self.total = total
    self.enabled = enabled && isatty(2) == 1
  }

  func update(_ done: Int) {
    guard enabled else { return }
    let now = Date()
    let elapsed = now.timeIntervalSince(start)
    guard elapsed > 2, now.timeIntervalSince(lastDraw) > 0.2 || done == total else { return }
    lastDraw = now
    let rate = Double(done) / max(elapsed, 1e-9)
    let eta = rate > 0 ? Double(total - done) / rate : 0
    let width = 30
    let filled = total > 0 ? width * done / total : width
    let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
    let line = String(format: "\r[%@] %d/%d  %.1f ex/s  ETA %.0fs ", bar, done, total, rate, eta)
    FileHandle.standardError.write(line.data(using: .utf8)!)
    drawn = true
  }

  func finish() {
    guard drawn else { return }
    FileHandle.standardError.write("\n".data(using: .utf8)!)
  }
}
