import ArgumentParser

@main
struct DeepLift: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "deeplift",
    abstract: "Explain neural-network predictions with DeepLIFT and related methods.",
    version: "0.1.0")
}
