import ArgumentParser

/// Everything `deeplift predict` was asked to do, parsed and validated.
struct PredictRequest: Sendable {
  var model: String
  var inputs: FileSet
  /// `--layer NAME`: output this layer's activations instead of the model's output.
  var layer: String?
  var output: String
  var batchSize: Int
  var threads: Int?
  var quiet: Bool
}

extension DeepLift {
  /// `deeplift predict MODEL --input X.npy [--layer NAME] --output Y.npy`.
  struct Predict: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Run the model forward and write its output (or a layer's activations).")

    @Argument(help: "The model: Keras .h5 or .keras, or .onnx.")
    var model: String

    @Option(help: ArgumentHelp("Input examples: X.npy, or NAME=FILE once per model input.", valueName: "file"))
    var input: [FileArgument]

    @Option(help: ArgumentHelp("Write this layer's activations (Keras layer or ONNX tensor name).", valueName: "name"))
    var layer: String?

    @Option(name: .shortAndLong, help: ArgumentHelp("Where to write the outputs (.npy).", valueName: "file"))
    var output: String

    @Option(name: .customLong("batch-size"), parsing: .unconditional, help: "Examples per batch (speed and memory only).")
    var batchSize = 64

    @OptionGroup var common: CommonOptions

    func validate() throws { _ = try request() }

    func request() throws -> PredictRequest {
      guard let inputs = try FileSet.make(input, option: "--input") else {
        throw ValidationError("Missing expected argument '--input <file>'")
      }
      guard batchSize >= 1 else { throw ValidationError("--batch-size must be at least 1, got \(batchSize)") }
      return PredictRequest(
        model: model, inputs: inputs, layer: layer, output: output, batchSize: batchSize,
        threads: common.threads, quiet: common.quiet)
    }

    func run() throws {
      let request = try request()
      try requireReadableFile(request.model)
      for path in request.inputs.paths { try requireReadableFile(path) }
      try requireWritableDestination(request.output)
      try runPredict(request)
    }
  }
}
