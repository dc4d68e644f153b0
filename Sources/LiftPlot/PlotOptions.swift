import LiftTensor

/// The kind of figure drawn for an attribution tensor.
public enum PlotKind: String, CaseIterable, Sendable {
  /// A sequence logo of per-position, per-letter scores of one-hot sequences
  /// (`[N, L, K]`, `[N, T, L, K]`, `[L, K]` or channels-first `[N, K, L]`, `K` = 4 or 20).
  case logo
  /// A diverging heat map of image attributions (`[N, H, W, C]`, `[N, C, H, W]`, `[H, W]`),
  /// channels summed.
  case heatmap
  /// A horizontal bar chart of tabular attributions (`[N, F]` or `[F]`), sorted by |value|.
  case bars
  /// One example's scores as steps from its base value (``PlotOptions/baseValues``) to its
  /// output: the largest |scores| one bar each, the rest folded into one bar.
  case waterfall
  /// Every example's scores (`[N, F]`): one row per feature (the ``PlotOptions/topK``
  /// largest mean |scores|), one point per example at its score, coloured by the example's
  /// value of the feature (``PlotOptions/values``).
  case beeswarm
}

/// The file format of a figure, chosen from the output file's extension.
public enum PlotFormat: String, CaseIterable, Sendable {
  /// A raster image (cairo image surface, 8-bit RGBA, 1 unit = 1 pixel).
  case png
  /// A vector image (cairo SVG surface, 1 unit = 1 CSS px).
  case svg
  /// A vector document (cairo PDF surface, 1 unit = 1 pt).
  case pdf

  /// The format for a path extension (`"png"`, `"SVG"`, …; case-insensitive), or `nil`.
  public init?(pathExtension: String) {
    self.init(rawValue: pathExtension.lowercased())
  }
}

/// The letters of a one-hot alphabet (in channel order) and their logo colours.
public enum LogoAlphabet: String, CaseIterable, Sendable {
  /// `A C G T`: A green, C blue, G orange, T red (the original DeepLIFT's `plot_weights`).
  case dna
  /// `A C G U`: the DNA colours, with U drawn in T's red.
  case rna
  /// `A C D E F G H I K L M N P Q R S T V W Y` (alphabetical one-letter codes) in WebLogo's
  /// "chemistry" colours: polar G S T Y C green, neutral N Q purple, basic K R H blue,
  /// acidic D E red, hydrophobic A V L I P W F M black.
  case protein

  /// The channel letters, in one-hot order.
  public var letters: [Character] {
    switch self {
    case .dna: ["A", "C", "G", "T"]
    case .rna: ["A", "C", "G", "U"]
    case .protein: Array("ACDEFGHIKLMNPQRSTVWY")
    }
  }

  /// The alphabet inferred from a channel count: 4 → `.dna`, 20 → `.protein`, else `nil`.
  public init?(channelCount: Int) {
    switch channelCount {
    case 4: self = .dna
    case 20: self = .protein
    default: return nil
    }
  }

  /// The fill colour of each letter, in channel order.
  var colors: [RGB] {
    switch self {
    case .dna, .rna:
      // matplotlib's named colours used by deeplift.visualization.viz_sequence.
      [RGB(hex: 0x008000), RGB(hex: 0x0000FF), RGB(hex: 0xFFA500), RGB(hex: 0xFF0000)]
    case .protein:
      letters.map { letter in
        switch letter {
        case "G", "S", "T", "Y", "C": RGB(hex: 0x109648)  // polar
        case "N", "Q": RGB(hex: 0x8E44AD)  // neutral
        case "K", "R", "H": RGB(hex: 0x255C99)  // basic
        case "D", "E": RGB(hex: 0xD62839)  // acidic
        default: RGB(hex: 0x221E22)  // hydrophobic
        }
      }
    }
  }
}

/// What to draw and how; every field has a sensible default.
public struct PlotOptions: Sendable {
  /// The figure kind; `nil` infers it from the score shape with `inferPlotKind(shape:)`.
  public var kind: PlotKind?
  /// The example (index along the first, batch axis) to draw. Ignored for unbatched shapes
  /// (`[L, K]`, `[H, W]`, `[F]`), which must use 0.
  public var example: Int
  /// Several examples to draw as stacked logo rows, or as a grid of heat maps (at most
  /// ``HeatmapGrid/maximumPanels``), in this order; overrides `example` when not empty. Bar
  /// charts draw only the first.
  public var examples: [Int]?
  /// First position of the logo window (inclusive, 0-based); default 0.
  public var start: Int?
  /// End of the logo window (exclusive); default the sequence length.
  public var end: Int?
  /// The one-hot input sequences: each score is multiplied by it, so only the observed
  /// letter's score is drawn (use with hypothetical scores); `nil` draws every letter's score.
  /// Same positions and letters as the scores, in either channel order; its batch axis may be
  /// absent or 1 (one sequence for every example) and its task axis absent or 1.
  public var sequence: Tensor?
  /// The input images, in the scores' layout, drawn in grayscale under a translucent heat map
  /// (channels averaged, min–max normalised to [0, 1]). Heat map only.
  public var input: Tensor?
  /// Feature names for the bar chart, one per feature; default `f0`, `f1`, ….
  public var features: [String]?
  /// A grid of heat maps: the label under each picture, in the order of ``examples``
  /// (file names); default `example N`.
  public var labels: [String]? = nil
  /// Beeswarm: each example's feature values (`[N, F]`, the scores' shape), which colour the
  /// points.
  public var values: Tensor? = nil
  /// The number of bars (features with the largest |value|) in a bar chart, of steps in a
  /// waterfall, of rows (largest mean |score|) in a beeswarm.
  public var topK: Int
  /// A title drawn above the figure.
  public var title: String?
  /// The figure width in pixels (PNG, SVG) or points (PDF); default depends on the data.
  public var width: Int?
  /// The figure height in pixels (PNG, SVG) or points (PDF); default depends on the data.
  public var height: Int?
  /// The logo alphabet; default from the channel count (4 → DNA, 20 → protein).
  public var alphabet: LogoAlphabet?
  /// Whether the bar chart writes each bar's value next to it.
  public var showValues: Bool
  /// Waterfall: each example's base value (the target at the reference, `base_value` of a
  /// CSV of scores); 0 when `nil`.
  public var baseValues: [Double]? = nil
  /// Waterfall: each example's output (f(x)), written at the end of the steps; when `nil`
  /// the end is labelled with base value + Σ scores.
  public var outputValues: [Double]? = nil

  /// Options with the documented defaults for every field not given.
  public init(
    kind: PlotKind? = nil, example: Int = 0, examples: [Int]? = nil, start: Int? = nil,
    end: Int? = nil, sequence: Tensor? = nil, input: Tensor? = nil, features: [String]? = nil,
    topK: Int = 20, title: String? = nil, width: Int? = nil, height: Int? = nil,
    alphabet: LogoAlphabet? = nil, showValues: Bool = true
  ) {
    self.kind = kind
    self.example = example
    self.examples = examples
    self.start = start
    self.end = end
    self.sequence = sequence
    self.input = input
    self.features = features
    self.topK = topK
    self.title = title
    self.width = width
    self.height = height
    self.alphabet = alphabet
    self.showValues = showValues
  }
}

/// Why a figure could not be drawn or written. Each `description` is one line.
public enum PlotError: Error, CustomStringConvertible, Equatable {
  /// No figure kind fits the score shape and none was given.
  case cannotInferKind(Shape)
  /// A logo was asked of scores that are not laid out like one-hot sequences.
  case notOneHotShaped(Shape, channels: [Int])
  /// A heat map or bar chart was asked of a shape it cannot lay out.
  case unsupportedShape(PlotKind, Shape)
  /// The example index is outside the batch.
  case exampleOutOfRange(Int, count: Int)
  /// The logo window `[start, end)` has no positions.
  case emptyWindow(start: Int, end: Int)
  /// The logo window reaches outside the sequence.
  case windowOutOfRange(start: Int, end: Int, length: Int)
  /// The sequence (or input) tensor does not match the scores.
  case shapeMismatch(what: String, shape: Shape, scores: Shape)
  /// A beeswarm was asked without the feature values that colour it.
  case missingValues
  /// The number of feature names differs from the number of features.
  case featureCountMismatch(names: Int, features: Int)
  /// `topK` is not positive.
  case invalidTopK(Int)
  /// The requested figure size is not within 16…32767 per side.
  case invalidSize(width: Int, height: Int)
  /// The scores contain NaN or infinity.
  case nonFiniteScores(count: Int)
  /// The title is wider than the widest figure (32767): `characters` long, `width` wide.
  case titleTooLong(characters: Int, width: Int)
  /// The output extension is not png, svg or pdf.
  case unsupportedExtension(String)
  /// The output file could not be written.
  case cannotWrite(path: String, reason: String)
  /// cairo reported an error while drawing or encoding.
  case renderingFailed(String)

  public var description: String {
    switch self {
    case .cannotInferKind(let shape):
      "cannot tell which plot fits scores of shape \(shape); choose one of logo, heatmap, bars"
    case .notOneHotShaped(let shape, let channels):
      "scores of shape \(shape) are not one-hot shaped for a logo: expected [L, K], [N, L, K], "
        + "[N, K, L] or [N, T, L, K] with K in \(channels)"
    case .unsupportedShape(let kind, let shape):
      "a \(kind.rawValue) plot cannot lay out scores of shape \(shape)"
    case .exampleOutOfRange(let index, let count):
      "example \(index) is out of range: the scores hold \(count) example\(count == 1 ? "" : "s")"
    case .emptyWindow(let start, let end):
      "the window [\(start), \(end)) is empty: start must be less than end"
    case .windowOutOfRange(let start, let end, let length):
      "the window [\(start), \(end)) is outside the sequence positions [0, \(length))"
    case .shapeMismatch(let what, let shape, let scores):
      "the \(what) of shape \(shape) does not match the scores of shape \(scores)"
    case .missingValues:
      "a beeswarm needs each example's feature values to colour its points (the input table)"
    case .featureCountMismatch(let names, let features):
      "\(names) feature name\(names == 1 ? "" : "s") given for \(features) features"
    case .invalidTopK(let k):
      "top-k must be positive, got \(k)"
    case .invalidSize(let width, let height):
      "figure size \(width)×\(height) is out of range: each side must be within 16…32767"
    case .titleTooLong(let characters, let width):
      "the title (\(characters) characters) would need a figure \(width) wide, more than 32767: shorten it"
    case .nonFiniteScores(let count):
      "the scores hold \(count) NaN or infinite value\(count == 1 ? "" : "s")"
    case .unsupportedExtension(let ext):
      "unsupported figure extension '\(ext)': use .png, .svg or .pdf"
    case .cannotWrite(let path, let reason):
      "cannot write \(path): \(reason)"
    case .renderingFailed(let message):
      "cairo failed to render the figure: \(message)"
    }
  }
}
