import ArgumentParser
import Foundation
import LiftIO
import LiftPlot
import LiftAttribution
import LiftKit

/// Where the references of an explanation come from.
enum ReferenceSource: Equatable, Sendable {
  /// No `--reference`, `--background` or `--shuffles`: all-zero references.
  case zeros
  /// `--reference R.npy`: by R's rank relative to X, one per example, one shared, or M per
  /// example (`[N, M, …]`), see CLI.md.
  case reference(FileSet)
  /// `--background B.npy` (`[M, …]`): every example against all M rows, averaged.
  case background(FileSet)
  /// `--shuffles M --seed S`: M dinucleotide shuffles of each input example (one-hot
  /// sequences), drawn like the original's `dinuc_shuffle` with `RandomState(S)`.
  case shuffles(count: Int, seed: Int)
  /// CSV input, `--reference mean[:B.csv]` / `median[:B.csv]`: the column mean / median of
  /// B (of the input itself without B), one shared reference row.
  case profile(TableProfile, path: String?)
  /// Image input, `--reference black`: pixel value 0, scaled and normalised.
  case black
  /// Image input, `--reference blur:SIGMA`: each picture blurred per channel after scaling
  /// and normalisation (`scipy.ndimage.gaussian_filter`).
  case blur(Double)
}

/// `--image-size`, `--image-scale`, `--image-mean`, `--image-std` (CLI.md, "Tables and
/// images").
struct ImageOptions: Equatable, Sendable {
  var size: (height: Int, width: Int)? = nil
  var scale: Float = 1 / 255
  var mean: [Float]? = nil
  var std: [Float]? = nil

  static func == (a: ImageOptions, b: ImageOptions) -> Bool {
    a.size?.height == b.size?.height && a.size?.width == b.size?.width && a.scale == b.scale && a.mean == b.mean
      && a.std == b.std
  }
}

/// Examples read from genome files instead of `.npy` arrays (CLI.md, "Sequences from genome
/// files").
enum SequenceInput: Equatable, Sendable {
  /// `--fasta SEQS.fa`: one example per record.
  case fasta(String)
  /// `--genome GENOME.fa --regions PEAKS.bed`: one window per BED line.
  case genome(String, regions: String)
}

/// Everything `deeplift explain` was asked to do, parsed and validated.
struct ExplainRequest: Sendable {
  /// The model file (`.h5`, `.keras`, `.onnx`; recognised by content).
  var model: String
  var inputs: FileSet
  /// `.npy` for a single input, `.npz` with one array per input name otherwise.
  var output: String
  var references: ReferenceSource
  /// `--target LAYER` (Keras layer name or ONNX tensor name), `nil` for the default target.
  var target: String?
  var tasks: TaskSelection
  var method: AttributionMethod
  var steps: Int
  var integration: IntegrationRule
  /// Pairs per batch; nil: the library's default (``Model/suggestedBatchSize``).
  var batchSize: Int?
  var maxPool: MaxPoolRule
  var hypothetical: Bool
  var multipliers: Bool
  /// Channel axis of one-hot inputs (−1: last, Keras; 1: ONNX/torch `[N, C, L]`); `nil`: from
  /// the model format.
  var channelAxis: Int?
  var threads: Int?
  var quiet: Bool
  /// `--plot FIG`: a picture of the first example's scores after the run.
  var plot: String?
  /// `--layer NAME` (repeatable): also the scores of these layers (output is an `.npz`).
  var layers: [String] = []
  /// `--contrast J`: explain task K minus task J.
  var contrast: Int? = nil
  /// `--softmax-normalize`: the paper's §3.6 adjustment on the target layer's weights.
  var softmaxNormalize = false
  /// `--normalize-first-conv`: mean-normalise the convolutions that read the input.
  var normalizeFirstConv = false
  /// `--modisco DIR`: also write TF-MoDISco inputs (one-hot sequences and hypothetical
  /// scores, `(N, 4, L)`) to this directory; see LiftKit's `ModiscoSink`.
  var modisco: String? = nil
  /// `--max-delta-error E`: a DeepLIFT run whose worst |Σ scores − Δ| exceeds E fails
  /// (exit 1, no output) instead of warning.
  var maxDeltaError: Float? = nil
  /// `--fasta` or `--genome` + `--regions` (then ``inputs`` names the FASTA or genome file).
  var sequences: SequenceInput? = nil
  /// `--width W`: the window (genome) or central crop (FASTA); nil: the model's length.
  var width: Int? = nil
  /// `--shard I/N`: only the I-th of N contiguous slices of the examples (an `.h5` output
  /// that `deeplift merge` joins).
  var shard: Shard? = nil
  /// `--resume`: skip the run when its complete `.h5` output exists (same fingerprint).
  var resume = false
  /// `--bigwig TRACK.bw` (`--genome` runs): the summed projected scores per base.
  var bigwig: String? = nil
  /// Image inputs (`--input IMAGE.png|.jpg|DIR`): how pictures become model inputs.
  var image: ImageOptions? = nil

  /// The options of LiftKit's explainer.
  var attributionOptions: AttributionOptions {
    var o = AttributionOptions()
    o.tasks = tasks
    o.contrast = contrast
    o.layers = layers
    o.output = hypothetical ? .hypothetical : (multipliers ? .multipliers : .contributions)
    o.softmaxNormalize = softmaxNormalize
    o.normalizeFirstConvolution = normalizeFirstConv
    o.maxPool = maxPool
    o.batchSize = batchSize
    o.steps = steps
    o.integration = integration
    o.channelAxis = channelAxis
    return o
  }
}

extension DeepLift {
  /// `deeplift explain MODEL --input X.npy --output OUT.npy [options]`.
  struct Explain: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Compute contribution scores for the inputs in a file.",
      discussion: """
        Scores are float32 with the input's shape (an extra task axis after the batch axis when \
        --task selects several neurons). A multi-input model takes --input NAME=FILE once per \
        input (and --reference / --background likewise) and writes an .npz with one array per \
        input name.

        Inputs, references and backgrounds must be finite: a NaN or infinity is an error \
        naming the file and the index of the first bad value (exit 1). An input with no \
        examples (N = 0) is an error, not an empty output (exit 1).
        """)

    @Argument(help: "The model: Keras .h5 or .keras, or .onnx.")
    var model: String

    @Option(
      name: .long,
      help: ArgumentHelp("Input examples: X.npy, a table DATA.csv (header of feature names, numbers only), pictures (IMAGE.png, IMAGE.jpg or a DIR of them), or NAME=FILE once per model input.", valueName: "file"))
    var input: [FileArgument] = []

    @Option(name: .customLong("image-size"), help: ArgumentHelp("Pictures: resize to H,W (default: the model's input size).", valueName: "H,W"))
    var imageSize: String?

    @Option(name: .customLong("image-scale"), help: ArgumentHelp("Pictures: multiply the 0-255 pixel values by S (a number or A/B; default 1/255).", valueName: "S"))
    var imageScale: String?

    @Option(name: .customLong("image-mean"), help: ArgumentHelp("Pictures: subtract per channel after scaling (one value, or one per channel).", valueName: "a,b,c"))
    var imageMean: String?

    @Option(name: .customLong("image-std"), help: ArgumentHelp("Pictures: divide per channel after the mean (one value, or one per channel).", valueName: "a,b,c"))
    var imageStd: String?

    @Option(help: ArgumentHelp("One-hot examples from a FASTA file, one per record (instead of --input).", valueName: "file"))
    var fasta: String?

    @Option(help: ArgumentHelp("Genome FASTA (plain or bgzip, indexed by .fai) to cut the --regions from.", valueName: "file"))
    var genome: String?

    @Option(help: ArgumentHelp("BED regions of --genome: narrowPeak centred on its summit (column 10), else on the midpoint.", valueName: "file"))
    var regions: String?

    @Option(
      parsing: .unconditional,
      help: ArgumentHelp("--genome: window width; --fasta: crop records to their central W bases (default: the model's input length).", valueName: "W"))
    var width: Int?

    @Option(name: .shortAndLong, help: ArgumentHelp("Where to write the scores (.npy, .npz, or .csv for a .csv input: its header, then base_value and output).", valueName: "file"))
    var output: String

    @Option(help: "Attribution method.")
    var method: AttributionMethod = .rescale

    @Option(
      help: ArgumentHelp(
        "References: same rank as X (one per example), rank − 1 (shared) or rank + 1 ([N, M, …], averaged); for a .csv input also zeros, mean[:B.csv], median[:B.csv] (column mean / median) or R.csv; for pictures also black or blur:SIGMA.",
        valueName: "file"))
    var reference: [FileArgument] = []

    @Option(
      help: ArgumentHelp(
        "Background set [M, …]: each example is explained against every row, averaged.", valueName: "file"))
    var background: [FileArgument] = []

    @Option(parsing: .unconditional, help: ArgumentHelp("References made of M dinucleotide shuffles of each one-hot input.", valueName: "M"))
    var shuffles: Int?

    @Option(parsing: .unconditional, help: ArgumentHelp("Seed of the shuffles (numpy RandomState, 0...4294967295).", valueName: "S"))
    var seed: Int?

    @Option(help: ArgumentHelp("Target layer (Keras layer or ONNX tensor name); default: the output, before a final sigmoid/softmax.", valueName: "layer"))
    var target: String?

    @Option(
      help: ArgumentHelp(
        "Target neuron(s) in the flattened target output: K, a list 0,3,7, or all.", valueName: "task"))
    var task: TaskSelection = .indices([0])

    @Option(parsing: .unconditional, help: "Integrated gradients: number of points (1...10000).")
    var steps = 50

    @Option(name: .customLong("ig-method"), help: "Integrated gradients: quadrature rule.")
    var igMethod: IntegrationRule = .gaussLegendre

    @Option(
      name: .customLong("batch-size"), parsing: .unconditional,
      help: "Example–reference pairs per batch (speed and memory only, never results; default 16 for models with large activations, else 64).")
    var batchSize: Int?

    @Option(help: "Rule for max pooling.")
    var maxpool: MaxPoolRule = .gradient

    @Flag(help: "Hypothetical contributions of one-hot inputs, averaged over references.")
    var hypothetical = false

    @Flag(help: "Output the multipliers instead of the scores.")
    var multipliers = false

    @Option(
      name: .customLong("channel-axis"), parsing: .unconditional,
      help: "Channel axis of one-hot inputs (default: -1, last, for Keras; 1 for ONNX/torch [N, C, L]).")
    var channelAxis: Int?

    @Option(help: ArgumentHelp("Also draw the scores of the first example (.png, .svg or .pdf; see `deeplift plot`).", valueName: "file"))
    var plot: String?

    @Option(
      name: .customLong("layer"),
      help: ArgumentHelp(
        "Also output the scores of this layer's neurons (repeatable); the output is then an .npz with the input scores under the input names and each layer's under its name.",
        valueName: "name"))
    var layer: [String] = []

    @Option(parsing: .unconditional, help: ArgumentHelp("Explain task K minus task J (the scores sum to the difference of the two neurons' deltas).", valueName: "J"))
    var contrast: Int?

    @Flag(
      name: .customLong("softmax-normalize"),
      help: "Softmax adjustment (paper §3.6): mean-normalise the target layer's weights over its units, so contributions to a class are relative to the mean over classes.")
    var softmaxNormalize = false

    @Flag(
      name: .customLong("normalize-first-conv"),
      help: "Mean-normalise the kernels of the convolutions that read the input over the channels (one-hot sequence models; outputs unchanged).")
    var normalizeFirstConv = false

    @Option(
      help: ArgumentHelp(
        "Also write TF-MoDISco inputs to this directory: ohe.npz (one-hot sequences) and hyp.npz (hypothetical scores; hyp_task<K>.npz per task for several tasks), each one (N, 4, L) array arr_0, as `modisco motifs -s ohe.npz -a hyp.npz` reads them.",
        valueName: "dir"))
    var modisco: String?

    @Option(
      name: .customLong("max-delta-error"),
      help: ArgumentHelp(
        "DeepLIFT methods: fail (exit 1, no output) when the worst |sum(scores) - (f(x) - f(ref))| over the examples is above E (absolute) instead of warning.",
        valueName: "E"))
    var maxDeltaError: Float?

    @Option(help: ArgumentHelp("--genome runs: also write a bigWig track, the projected scores summed over A, C, G, T per base (chrombpnet's overlap rule).", valueName: "file"))
    var bigwig: String?

    @Option(parsing: .unconditional, help: ArgumentHelp("Explain only the I-th of N contiguous, near-equal slices of the examples (0 ≤ I < N); .h5 output, joined by `deeplift merge`.", valueName: "I/N"))
    var shard: String?

    @Flag(help: "Skip the run, with a note, when its complete .h5 output already exists from the same run (same fingerprint and shard).")
    var resume = false

    @OptionGroup var common: CommonOptions

    func validate() throws {
      let r = try request()
      if r.hypothetical && !r.method.isDeepLIFT {
        throw ValidationError("--hypothetical needs a DeepLIFT method (rescale, reveal-cancel, genomics-default), not \(r.method.rawValue)")
      }
    }

    /// The validated request.
    ///
    /// - Throws: `ValidationError` (usage, exit 2).
    func request() throws -> ExplainRequest {
      let sequences: SequenceInput?
      switch (try FileSet.make(input, option: "--input"), fasta, genome, regions) {
      case (_?, nil, nil, nil), (nil, _?, nil, nil): sequences = fasta.map { .fasta($0) }
      case (nil, nil, let g?, let r?): sequences = .genome(g, regions: r)
      case (nil, nil, nil, nil): throw ValidationError("Missing expected argument '--input <file>' (or --fasta, or --genome with --regions)")
      case (nil, nil, _?, nil): throw ValidationError("--genome needs --regions PEAKS.bed")
      case (nil, nil, nil, _?): throw ValidationError("--regions needs --genome GENOME.fa")
      default: throw ValidationError("give only one of --input, --fasta and --genome")
      }
      let inputs: FileSet
      switch sequences {
      case .fasta(let path)?, .genome(let path, _)?: inputs = .single(path: path)
      case nil: inputs = try FileSet.make(input, option: "--input")!
      }
      if let width {
        guard sequences != nil else { throw ValidationError("--width needs --fasta or --genome") }
        guard width >= 1 else { throw ValidationError("--width must be at least 1, got \(width)") }
      }
      let isH5 = URL(fileURLWithPath: output).pathExtension.lowercased() == "h5"
      if isH5 {
        guard sequences != nil else {
          throw ValidationError("\(output): an .h5 output (chrombpnet's layout) needs --fasta or --genome; give --output FILE.npy")
        }
        guard method.isDeepLIFT else {
          throw ValidationError("\(output): an .h5 output holds hypothetical scores: it needs a DeepLIFT method (rescale, reveal-cancel or genomics-default), not \(method.rawValue)")
        }
        guard layer.isEmpty else { throw ValidationError("--layer writes an .npz archive, not an .h5") }
      }
      let references: ReferenceSource
      switch (try FileSet.make(reference, option: "--reference"), try FileSet.make(background, option: "--background"), shuffles) {
      case (nil, nil, nil):
        guard seed == nil else { throw ValidationError("--seed needs --shuffles") }
        references = .zeros
      case (.single(let r)?, nil, nil) where inputs.isTable && Self.tableKeyword(r) != nil:
        guard seed == nil else { throw ValidationError("--seed needs --shuffles") }
        references = Self.tableKeyword(r)!
      case (.single(let r)?, nil, nil) where inputs.isImage && Self.isImageKeyword(r):
        guard seed == nil else { throw ValidationError("--seed needs --shuffles") }
        references = try Self.imageKeyword(r)
      case (.single(let r)?, nil, nil) where Self.tableKeyword(r) != nil && !FileManager.default.fileExists(atPath: r):
        throw ValidationError("--reference \(r) needs --input DATA.csv (for .npy inputs give a reference file)")
      case (.single(let r)?, nil, nil) where Self.isImageKeyword(r) && !FileManager.default.fileExists(atPath: r):
        throw ValidationError("--reference \(r) needs --input IMAGE.png|.jpg|DIR (for .npy inputs give a reference file)")
      case (let r?, nil, nil):
        try Self.checkSameForm(inputs, r, option: "--reference")
        guard seed == nil else { throw ValidationError("--seed needs --shuffles") }
        references = .reference(r)
      case (nil, let b?, nil):
        try Self.checkSameForm(inputs, b, option: "--background")
        guard seed == nil else { throw ValidationError("--seed needs --shuffles") }
        references = .background(b)
      case (nil, nil, let m?):
        guard m >= 1 else { throw ValidationError("--shuffles must be at least 1, got \(m)") }
        let s = seed ?? 0
        guard (0...Int(UInt32.max)).contains(s) else {
          throw ValidationError("--seed must be in 0...4294967295, got \(s)")
        }
        references = .shuffles(count: m, seed: s)
      default:
        throw ValidationError("give only one of --reference, --background and --shuffles")
      }
      guard (1...ExplainOptions.maximumSteps).contains(steps) else {
        throw ValidationError("--steps must be in 1...\(ExplainOptions.maximumSteps), got \(steps)")
      }
      if let batchSize, batchSize < 1 { throw ValidationError("--batch-size must be at least 1, got \(batchSize)") }
      if modisco != nil && !method.isDeepLIFT {
        throw ValidationError("--modisco needs a DeepLIFT method (rescale, reveal-cancel or genomics-default), not \(method.rawValue)")
      }
      if let e = maxDeltaError {
        guard e.isFinite && e >= 0 else { throw ValidationError("--max-delta-error must be a number ≥ 0, got \(e)") }
        guard method.isDeepLIFT else {
          throw ValidationError("--max-delta-error needs a DeepLIFT method (rescale, reveal-cancel or genomics-default), not \(method.rawValue): other methods do not sum to delta")
        }
      }
      if URL(fileURLWithPath: output).pathExtension.lowercased() == "csv" && !inputs.isTable {
        throw ValidationError("--output SCORES.csv needs --input DATA.csv (its header names the features)")
      }
      if let contrast, contrast < 0 { throw ValidationError("--contrast must be a neuron index (0 or more), got \(contrast)") }
      if !layer.isEmpty && URL(fileURLWithPath: output).pathExtension.lowercased() != "npz" {
        throw ValidationError("--layer writes an .npz archive (input scores under the input names, layer scores under the layer names): give --output FILE.npz")
      }
      if let twice = layer.enumerated().first(where: { i, n in layer[..<i].contains(n) })?.element {
        throw ValidationError("--layer '\(twice)' is given twice")
      }
      var request = ExplainRequest(
        model: model, inputs: inputs, output: output, references: references, target: target, tasks: task,
        method: method, steps: steps, integration: igMethod, batchSize: batchSize, maxPool: maxpool,
        hypothetical: hypothetical, multipliers: multipliers, channelAxis: channelAxis,
        threads: common.threads, quiet: common.quiet, plot: plot)
      request.layers = layer
      request.modisco = modisco
      request.maxDeltaError = maxDeltaError
      request.contrast = contrast
      request.softmaxNormalize = softmaxNormalize
      request.normalizeFirstConv = normalizeFirstConv
      request.sequences = sequences
      request.width = width
      try Self.validateShards(&request, shard: shard, resume: resume, bigwig: bigwig)
      request.image = try imageOptions(isImage: inputs.isImage)
      if request.image != nil {
        if URL(fileURLWithPath: output).pathExtension.lowercased() == "h5" || modisco != nil {
          throw ValidationError("pictures give scores as .npy or .npz, not chrombpnet's .h5 or --modisco")
        }
        if case .shuffles = references { throw ValidationError("--shuffles needs one-hot sequences, not pictures") }
      }
      return request
    }

    /// The `--image-*` options for a picture input; `nil` for other inputs (where they are
    /// a usage error).
    func imageOptions(isImage: Bool) throws -> ImageOptions? {
      guard isImage else {
        if let given = [("--image-size", imageSize), ("--image-scale", imageScale), ("--image-mean", imageMean), ("--image-std", imageStd)]
          .first(where: { $0.1 != nil })
        {
          throw ValidationError("\(given.0) needs --input IMAGE.png|.jpg|DIR")
        }
        return nil
      }
      var o = ImageOptions()
      if let imageSize {
        let parts = imageSize.split(separator: ",", omittingEmptySubsequences: false).map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard parts.count == 2, let h = parts[0], let w = parts[1], (1...32768).contains(h), (1...32768).contains(w) else {
          throw ValidationError("--image-size must be H,W with whole numbers in 1...32768, got '\(imageSize)'")
        }
        o.size = (h, w)
      }
      if let imageScale {
        let parts = imageScale.split(separator: "/", omittingEmptySubsequences: false).map { Double($0.trimmingCharacters(in: .whitespaces)) }
        guard (1...2).contains(parts.count), parts.allSatisfy({ $0 != nil }) else {
          throw ValidationError("--image-scale must be a number or A/B, got '\(imageScale)'")
        }
        let value = parts.count == 2 ? parts[0]! / parts[1]! : parts[0]!
        guard value.isFinite, value != 0, Float(value).isFinite else {
          throw ValidationError("--image-scale must be a finite number other than 0, got '\(imageScale)'")
        }
        o.scale = Float(value)
      }
      func list(_ text: String?, option: String) throws -> [Float]? {
        guard let text else { return nil }
        let values = text.split(separator: ",", omittingEmptySubsequences: false).map { Double($0.trimmingCharacters(in: .whitespaces)) }
        guard !values.isEmpty, values.allSatisfy({ $0.map { $0.isFinite && Float($0).isFinite } ?? false }) else {
          throw ValidationError("\(option) must be one number or one per channel, separated by commas, got '\(text)'")
        }
        return values.map { Float($0!) }
      }
      o.mean = try list(imageMean, option: "--image-mean")
      o.std = try list(imageStd, option: "--image-std")
      if let std = o.std, std.contains(0) { throw ValidationError("--image-std must not be 0, got '\(imageStd!)'") }
      return o
    }

    /// `black` or `blur:…` (picture input).
    static func isImageKeyword(_ text: String) -> Bool { text == "black" || text.hasPrefix("blur:") }

    /// `black` or `blur:SIGMA` with SIGMA a number > 0.
    static func imageKeyword(_ text: String) throws -> ReferenceSource {
      if text == "black" { return .black }
      let value = String(text.dropFirst("blur:".count))
      guard let sigma = Double(value.trimmingCharacters(in: .whitespaces)), sigma.isFinite, sigma > 0, sigma <= 1000 else {
        throw ValidationError("--reference blur:<sigma> needs a number of pixels in (0, 1000], got '\(value)'")
      }
      return .blur(sigma)
    }

    /// `zeros`, `mean`, `median`, `mean:B.csv`, `median:B.csv` (CSV input); `nil` for a file.
    static func tableKeyword(_ text: String) -> ReferenceSource? {
      if text == "zeros" { return .zeros }
      for profile in TableProfile.allCases {
        if text == profile.rawValue { return .profile(profile, path: nil) }
        if text.hasPrefix(profile.rawValue + ":") && text.count > profile.rawValue.count + 1 {
          return .profile(profile, path: String(text.dropFirst(profile.rawValue.count + 1)))
        }
      }
      return nil
    }

    /// References must use the inputs' form: plain with plain, NAME=FILE for the same names.
    static func checkSameForm(_ inputs: FileSet, _ other: FileSet, option: String) throws {
      switch (inputs, other) {
      case (.single, .single): return
      case (.named(let a), .named(let b)):
        let names = Set(a.map(\.name))
        if let extra = b.first(where: { !names.contains($0.name) }) {
          throw ValidationError("\(option) names '\(extra.name)', which is not among the --input names")
        }
        if let missing = a.first(where: { n in !b.contains(where: { $0.name == n.name }) }) {
          throw ValidationError("\(option) is missing input '\(missing.name)'")
        }
      default:
        throw ValidationError("\(option) must use the same form as --input (FILE, or NAME=FILE per input)")
      }
    }

    func run() throws {
      let request = try request()
      try requireReadableFile(request.model)
      for path in request.inputs.paths where !(request.image != nil && isDirectory(path)) { try requireReadableFile(path) }
      if case .genome(_, let regions)? = request.sequences { try requireReadableFile(regions) }
      switch request.references {
      case .reference(let files), .background(let files):
        for path in files.paths { try requireReadableFile(path) }
      case .profile(_, let path?): try requireReadableFile(path)
      case .zeros, .shuffles, .profile, .black, .blur: break
      }
      if let plot = request.plot {
        guard PlotFormat(pathExtension: URL(fileURLWithPath: plot).pathExtension) != nil else {
          throw ValidationError("--plot must end in .png, .svg or .pdf")
        }
      }
      if request.resume, let message = request.completedOutput() {
        if !request.quiet { note(message) }
        return
      }
      try runExplain(request, outputs: request.plannedOutputs())
    }
  }
}
