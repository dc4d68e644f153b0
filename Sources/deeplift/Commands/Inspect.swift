import ArgumentParser

extension DeepLift {
  /// `deeplift inspect MODEL`: prints the imported graph (inputs, layers, shapes, outputs).
  struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Describe a model as imported: inputs, layers with output shapes, outputs.")

    @Argument(help: "The model: Keras .h5 or .keras, or .onnx.")
    var model: String

    @OptionGroup var common: CommonOptions

    func run() throws {
      try requireReadableFile(model)
      try runInspect(model: model, common: common)
    }
  }
}
