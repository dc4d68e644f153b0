import ArgumentParser
import Foundation
import LiftIO
import LiftPlot
import LiftTensor

extension PlotKind: ExpressibleByArgument {}

/// Options that choose what a picture shows; shared by `deeplift plot` and `explain --plot`.
struct PlotArguments: ParsableArguments {
  @Option(help: "Kind of picture: logo, heatmap or bars (default: from the scores' shape).")
  var kind: PlotKind?

  @Option(parsing: .unconditional, help: "The example to draw (index along the first axis).")
  var example = 0

  @Option(parsing: .unconditional, help: "First position of a logo window (0-based).")
  var start: Int?

  @Option(parsing: .unconditional, help: "End of a logo window (exclusive).")
  var end: Int?

  @Option(help: ArgumentHelp("One-hot sequences (.npy): a logo shows only the observed base's score.", valueName: "file"))
  var sequence: String?

  @Option(name: .customLong("features"), help: ArgumentHelp("Feature names for bars, one per line.", valueName: "file"))
  var features: String?

  @Option(name: .customLong("top"), parsing: .unconditional, help: "Bars: how many features to show.")
  var topK = 20

  @Option(help: "A title over the picture.")
  var title: String?

  func validate() throws {
    guard example >= 0 else { throw ValidationError("--example must be non-negative") }
    guard topK >= 1 else { throw ValidationError("--top must be at least 1") }
  }

  /// The library options; `input` is the heatmap overlay.
  func options(input: Tensor?) throws -> PlotOptions {
    var o = PlotOptions()
    o.kind = kind
    o.example = example
    o.start = start
    o.end = end
    o.topK = topK
    o.title = title
    o.input = input
    if let sequence { o.sequence = try readArray(sequence) }
    if let features {
      let text: String
      do { text = try String(contentsOfFile: features, encoding: .utf8) } catch {
        throw CLIError.data("\(features): cannot read feature names")
      }
      o.features = text.split(whereSeparator: \.isNewline).map(String.init)
    }
    return o
  }
}

extension DeepLift {
  /// `deeplift plot SCORES.npy --output FIG.png|svg|pdf`.
  struct Plot: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Draw scores as a sequence logo, an image heatmap or a bar chart (PNG, SVG or PDF).")

    @Argument(help: "Scores (.npy) written by `deeplift explain`.")
    var scores: String

    @Option(name: .shortAndLong, help: ArgumentHelp("The picture: .png, .svg or .pdf.", valueName: "file"))
    var output: String

    @Option(help: ArgumentHelp("Heatmap: the input images (.npy) to draw under the scores.", valueName: "file"))
    var input: String?

    @OptionGroup var plot: PlotArguments

    func validate() throws {
      guard PlotFormat(pathExtension: URL(fileURLWithPath: output).pathExtension) != nil else {
        throw ValidationError("--output must end in .png, .svg or .pdf")
      }
    }

    func run() throws {
      try requireReadableFile(scores)
      if let input { try requireReadableFile(input) }
      try requireWritableDestination(output)
      let s = try readArray(scores)
      let x = try input.map { try readArray($0) }
      try renderPlot(scores: s, from: scores, options: plot.options(input: x), to: output)
    }
  }
}

/// `LiftPlot.renderPlot` with errors as one line naming a file: the picture's path for write
/// and rendering failures, `source` (where the scores came from) for everything about the
/// scores and options.
func renderPlot(scores: Tensor, from source: String, options: PlotOptions, to path: String) throws(CLIError) {
  do {
    try renderPlot(scores: scores, options: options, to: URL(fileURLWithPath: path))
  } catch {
    switch error {
    case .titleTooLong: throw .usage("--title: \(error)")
    case .cannotWrite: throw .data(error.description)
    case .renderingFailed, .unsupportedExtension: throw .data("\(path): \(error)")
    default: throw .data("\(source): \(error)")
    }
  }
}
