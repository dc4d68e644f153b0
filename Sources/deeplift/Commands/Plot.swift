import ArgumentParser
import Foundation
import LiftIO
import LiftKit
import LiftPlot
import LiftNN
import LiftTensor

extension PlotKind: ExpressibleByArgument {}

/// Options that choose what a picture shows; shared by `deeplift plot` and `explain --plot`.
struct PlotArguments: ParsableArguments {
  @Option(help: "Kind of picture: logo, heatmap, bars, waterfall or beeswarm (default: from the scores' shape; bars for a CSV of scores).")
  var kind: PlotKind?

  @Option(parsing: .unconditional, help: "The example to draw (index along the first axis; default 0, or a grid of the first 16 for a heatmap over a directory of pictures).")
  var example: Int?

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
    guard (example ?? 0) >= 0 else { throw ValidationError("--example must be non-negative") }
    guard topK >= 1 else { throw ValidationError("--top must be at least 1") }
  }

  /// The library options; `input` is the heatmap overlay.
  func options(input: Tensor?) throws -> PlotOptions {
    var o = PlotOptions()
    o.kind = kind
    o.example = example ?? 0
    o.start = start
    o.end = end
    o.topK = topK
    o.title = title
    o.input = input
    if let sequence { o.sequence = try readArray(sequence) }
    if let features {
      // A list of names: 64 MiB is far more than any feature list.
      let data = try readRegularFile(features, maxBytes: 64 << 20)
      guard let text = String(data: data, encoding: .utf8) else {
        throw CLIError.data("\(features): cannot read feature names (not UTF-8 text)")
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

    @Argument(help: "Scores (.npy, or .csv with feature names) written by `deeplift explain`.")
    var scores: String

    @Option(name: .shortAndLong, help: ArgumentHelp("The picture: .png, .svg or .pdf.", valueName: "file"))
    var output: String

    @Option(
      help: ArgumentHelp(
        "Heatmap: the inputs to draw under the scores: images (.npy) in the scores' layout, or the pictures explained (IMAGE.png|.jpg|DIR, converted and resized to the scores' size as explain read them). Beeswarm: the table DATA.csv explained, whose values colour the dots (required).",
        valueName: "file"))
    var input: String?

    @OptionGroup var plot: PlotArguments

    func validate() throws {
      guard PlotFormat(pathExtension: URL(fileURLWithPath: output).pathExtension) != nil else {
        throw ValidationError("--output must end in .png, .svg or .pdf")
      }
    }

    func run() throws {
      var read = [FileRole("the scores", scores)]
      let pictures = input.map { FileSet.single(path: $0).isImage } ?? false
      if let input, !pictures || !isDirectory(input) { read.append(FileRole("--input", input)) }
      if let sequence = plot.sequence { read.append(FileRole("--sequence", sequence)) }
      if let features = plot.features { read.append(FileRole("--features", features)) }
      for file in read { try requireReadableFile(file.path) }
      let outputs = try OutputTransaction(inputs: read, outputs: [FileRole("--output", output)])
      let isCSV = URL(fileURLWithPath: scores).pathExtension.lowercased() == "csv"
      let x = try input.flatMap { isCSV || pictures ? nil : try readArray($0) }
      var options = try plot.options(input: x)
      let s: Tensor
      if URL(fileURLWithPath: scores).pathExtension.lowercased() == "csv" {
        // A CSV of scores: feature names from its header; bars of mean |score| over the
        // examples, or one example's waterfall from base_value to output.
        let table: ScoreColumns
        do {
          table = try ScoreColumns(CSVTable.read(url: URL(fileURLWithPath: scores), maximumBytes: MemoryBudget.bytes), name: scores)
        } catch { throw CLIError.data(error.description) }
        options.features = options.features ?? table.featureNames
        options.baseValues = table.baseValues.map(Double.init)
        options.outputValues = table.outputs.map(Double.init)
        switch options.kind ?? .bars {
        case .beeswarm:
          guard let input else {
            throw CLIError.usage("--kind beeswarm colours each dot by the feature's value: give --input DATA.csv (the table explained)")
          }
          let values = try cli { () throws(LiftKitError) in try CSVRows(url: URL(fileURLWithPath: input)) }.table
          guard values.header == table.featureNames, values.rowCount == table.scores.shape[0] else {
            throw CLIError.data(
              "--input \(input): \(values.rowCount) row(s) of columns (\(values.header.prefix(12).joined(separator: ", "))) do not match the \(table.scores.shape[0]) row(s) of features (\(table.featureNames.prefix(12).joined(separator: ", "))) in \(scores)")
          }
          options.values = values.tensor
          options.title = options.title ?? "scores of \(table.scores.shape[0]) example(s), coloured by feature value"
          s = table.scores
        case .bars:
          options.kind = .bars
          options.example = 0
          options.title = options.title ?? "mean |score| over \(table.scores.shape[0]) example(s)"
          s = table.meanAbsoluteScores
        default: s = table.scores
        }
      } else {
        s = try readArray(scores)
        if let input, pictures {
          try overlayPictures(input, scores: s, grid: plot.example == nil, options: &options)
        }
      }
      try renderPlot(scores: s, from: scores, options: options, to: output, transaction: outputs)
      try outputs.commit()
    }
  }
}

/// `--input IMAGE.png|.jpg|DIR` under a heatmap of `scores` (`[N, H, W, C]` or `[N, C, H, W]`,
/// C = 1 or 3): the pictures converted and resized to the scores' size as `explain` read
/// them; several pictures and no `--example`: a grid of the first ones, labelled by file.
func overlayPictures(_ path: String, scores: Tensor, grid: Bool, options: inout PlotOptions) throws {
  let d = scores.shape.dimensions
  let channelsFirst = d.count == 4 && (d[1] == 1 || d[1] == 3) && !(d[3] == 1 || d[3] == 3)
  guard d.count == 4, d[0] >= 1, channelsFirst || d[3] == 1 || d[3] == 3 else {
    throw CLIError.data("--input \(path): pictures go under scores of shape (N, H, W, C) or (N, C, H, W) with C = 1 or 3, not \(shapeText(scores.shape))")
  }
  let p = ImagePreprocessing(
    height: channelsFirst ? d[2] : d[1], width: channelsFirst ? d[3] : d[2], channels: channelsFirst ? d[1] : d[3],
    channelsFirst: channelsFirst)
  let rows = try cli { () throws(LiftKitError) in try ImageRows(url: URL(fileURLWithPath: path), preprocessing: p) }
  guard rows.rowCount == d[0] else {
    throw CLIError.data("--input \(path): \(rows.rowCount) picture(s) for scores of \(d[0]) example(s)")
  }
  options.kind = options.kind ?? .heatmap
  if rows.rowCount > 1 && grid {
    options.examples = Array(0..<min(rows.rowCount, HeatmapGrid.maximumPanels))
    options.labels = options.examples!.map { rows.files[$0].lastPathComponent }
  }
  options.input = try cli { () throws(LiftKitError) in try rows.pixels(0..<rows.rowCount) }
}

/// `LiftPlot.renderPlot` with errors as one line naming a file: the picture's path for write
/// and rendering failures, `source` (where the scores came from) for everything about the
/// scores and options.
func renderPlot(
  scores: Tensor, from source: String, options: PlotOptions, to path: String, transaction: OutputTransaction
) throws(CLIError) {
  do {
    try renderPlot(scores: scores, options: options, to: URL(fileURLWithPath: path), transaction: transaction)
  } catch {
    switch error {
    case .titleTooLong: throw .usage("--title: \(error)")
    case .cannotWrite: throw .data(error.description)
    case .renderingFailed, .unsupportedExtension: throw .data("\(path): \(error)")
    default: throw .data("\(source): \(error)")
    }
  }
}
