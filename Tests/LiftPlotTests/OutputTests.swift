import Foundation
import LiftTensor
import Testing

@testable import LiftPlot

#if canImport(FoundationXML)
  import FoundationXML
#endif

@Suite struct OutputTests {
  @Test func svgIsAnSVGDocumentWithPaths() throws {
    let dir = try makeTemporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let url = dir.appendingPathComponent("logo.SVG")
    let options = PlotOptions(title: "logo", width: 500, height: 200)
    try renderPlot(
      scores: logoScores(length: 6, [(0, 1, 0, 1), (0, 3, 3, -1)]), options: options, to: url)
    let data = try Data(contentsOf: url)
    let text = try #require(String(data: data, encoding: .utf8))
    #expect(text.contains("<svg"))
    let document = try XMLDocument(data: data)
    let root = try #require(document.rootElement())
    #expect(root.localName == "svg")
    // (`attribute(forName:)` returns nil on swift-corelibs-foundation; read the list.)
    let attributes = Dictionary(
      (root.attributes ?? []).map { ($0.name ?? "", $0.stringValue ?? "") },
      uniquingKeysWith: { a, _ in a })
    #expect(attributes["width"] == "500px")
    #expect(attributes["height"] == "200px")
    let paths = try document.nodes(forXPath: "//*[local-name()='path']")
    #expect(paths.count >= 2)
  }

  @Test func pdfStartsWithTheMagic() throws {
    let bytes = try renderPlot(
      scores: Tensor(shape: [3], scalars: [1, -2, 3]), options: PlotOptions(), format: .pdf)
    #expect(Array(bytes.prefix(5)) == Array("%PDF-".utf8))
  }

  @Test func pngHasTheSignature() throws {
    let bytes = try renderPlot(
      scores: HeatmapTests.quadrantScores(), options: PlotOptions(), format: .png)
    #expect(Array(bytes.prefix(8)) == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
  }

  @Test func replacesAnExistingFile() throws {
    let dir = try makeTemporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let url = dir.appendingPathComponent("out.png")
    try Data("stale".utf8).write(to: url)
    try renderPlot(scores: Tensor(shape: [2], scalars: [1, -1]), options: PlotOptions(), to: url)
    #expect(RGBAImage(pngAt: url.path) != nil)
    #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["out.png"])
  }

  /// Runs `renderPlot` into a fresh directory, expecting `error` and no file left behind.
  func expectFailure(
    _ error: PlotError, scores: Tensor, options: PlotOptions = PlotOptions(),
    file: String = "out.png"
  ) throws {
    let dir = try makeTemporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    #expect(throws: error) {
      try renderPlot(scores: scores, options: options, to: dir.appendingPathComponent(file))
    }
    #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)
    #expect(!error.description.contains("\n"))
  }

  @Test func cleanErrorsLeaveNoFile() throws {
    try expectFailure(
      .notOneHotShaped([2, 7, 3], channels: [4, 20]), scores: .zeros([2, 7, 3]),
      options: PlotOptions(kind: .logo))
    try expectFailure(
      .exampleOutOfRange(5, count: 2), scores: .zeros([2, 10, 4]), options: PlotOptions(example: 5))
    try expectFailure(
      .exampleOutOfRange(1, count: 1), scores: .zeros([10, 4]), options: PlotOptions(example: 1))
    try expectFailure(
      .emptyWindow(start: 5, end: 5), scores: .zeros([1, 10, 4]),
      options: PlotOptions(start: 5, end: 5))
    try expectFailure(
      .windowOutOfRange(start: 0, end: 11, length: 10), scores: .zeros([1, 10, 4]),
      options: PlotOptions(end: 11))
    try expectFailure(.unsupportedExtension("jpg"), scores: .zeros([3]), file: "out.jpg")
    try expectFailure(
      .shapeMismatch(what: "sequence", shape: [1, 9, 4], scores: [1, 10, 4]),
      scores: .zeros([1, 10, 4]), options: PlotOptions(sequence: .zeros([1, 9, 4])))
    try expectFailure(
      .featureCountMismatch(names: 2, features: 3), scores: .zeros([3]),
      options: PlotOptions(features: ["a", "b"]))
    try expectFailure(.invalidTopK(0), scores: .zeros([3]), options: PlotOptions(topK: 0))
    try expectFailure(
      .nonFiniteScores(count: 1), scores: Tensor(shape: [3], scalars: [1, .nan, 2]))
    try expectFailure(.cannotInferKind([1, 2, 3, 4, 5]), scores: .zeros([1, 2, 3, 4, 5]))
    try expectFailure(
      .unsupportedShape(.heatmap, [5]), scores: .zeros([5]), options: PlotOptions(kind: .heatmap))
    try expectFailure(
      .invalidSize(width: 5, height: 0), scores: .zeros([3]), options: PlotOptions(width: 5))
  }

  @Test func unwritablePathNamesThePath() throws {
    let dir = try makeTemporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let blocker = dir.appendingPathComponent("blocker")
    try Data("x".utf8).write(to: blocker)  // a file where a directory is needed
    let url = blocker.appendingPathComponent("out.png")
    #expect(throws: PlotError.cannotWrite(path: url.path, reason: "\(blocker.path) is not a directory")) {
      try renderPlot(scores: .zeros([1, 10, 4]), options: PlotOptions(), to: url)
    }
    #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["blocker"])
    // An existing directory as the target: the rename fails and the temporary file goes.
    let target = dir.appendingPathComponent("taken.png")
    try FileManager.default.createDirectory(at: target, withIntermediateDirectories: false)
    #expect(throws: PlotError.self) {
      try renderPlot(scores: .zeros([3]), options: PlotOptions(), to: target)
    }
    #expect(
      Set(try FileManager.default.contentsOfDirectory(atPath: dir.path)) == [
        "blocker", "taken.png",
      ])
  }

  @Test func inferredKinds() {
    #expect(inferPlotKind(shape: [8, 200, 4]) == .logo)
    #expect(inferPlotKind(shape: [8, 4, 200]) == .logo)
    #expect(inferPlotKind(shape: [200, 4]) == .logo)
    #expect(inferPlotKind(shape: [8, 3, 200, 4]) == .logo)
    #expect(inferPlotKind(shape: [8, 28, 28, 1]) == .heatmap)
    #expect(inferPlotKind(shape: [8, 3, 32, 32]) == .heatmap)
    #expect(inferPlotKind(shape: [28, 28, 3]) == .heatmap)
    #expect(inferPlotKind(shape: [8, 10]) == .bars)
    #expect(inferPlotKind(shape: [10]) == .bars)
    #expect(inferPlotKind(shape: []) == nil)
    #expect(PlotFormat(pathExtension: "PDF") == .pdf)
    #expect(PlotFormat(pathExtension: "jpeg") == nil)
  }
}
