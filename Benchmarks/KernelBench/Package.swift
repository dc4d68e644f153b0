// swift-tools-version: 6.1
// Kernel timings of LiftTensor (GFLOP/s for conv and dense, ms for the rest), plus a release-mode
// correctness check of the default chunking/threading against a naive conv.
// Run: cd Benchmarks/KernelBench && swift run -c release KernelBench [threads] | [check]
import PackageDescription

let package = Package(
  name: "KernelBench",
  dependencies: [.package(name: "swift-deeplift", path: "../..")],
  targets: [
    .executableTarget(
      name: "KernelBench", dependencies: [.product(name: "LiftTensor", package: "swift-deeplift")])
  ]
)
