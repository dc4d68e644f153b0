// swift-tools-version: 6.1
// Fuzz harnesses for the readers and importers of swift-deeplift (issue 9). A nested package,
// so the main build and CI never build them. Build and run with Scripts/fuzz.sh, e.g.
//   cd Fuzz && swift build -c release --scratch-path .build-fuzz --product FuzzNpy \
//     -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library
//   .build-fuzz/release/FuzzNpy Corpus/npy -runs=1000000
// Each harness defines `LLVMFuzzerTestOneInput` and `<Target>_main`, the entry point SwiftPM
// links as `main`, which hands over to libFuzzer's driver (FuzzDriver).
import PackageDescription

let package = Package(
  name: "DeepliftFuzz",
  dependencies: [.package(name: "swift-deeplift", path: "..")],
  targets: [
    // Starts libFuzzer's driver from the `<Target>_main` entry point SwiftPM links as `main`.
    .target(name: "FuzzDriver"),
    // NumPy.read(data:name:) and NpyFile row reads on arbitrary bytes.
    .executableTarget(name: "FuzzNpy", dependencies: ["FuzzDriver", .product(name: "LiftIO", package: "swift-deeplift")]),
    // NumPy.readArchive(data:name:) (LiftIO.ZipReader: zip directory, zlib inflate, member headers).
    .executableTarget(name: "FuzzNpz", dependencies: ["FuzzDriver", .product(name: "LiftIO", package: "swift-deeplift")]),
    // Keras model configuration JSON → graph (against real weights), then shapes and forward.
    .executableTarget(
      name: "FuzzKerasConfig",
      dependencies: [
        "FuzzDriver", .product(name: "LiftKeras", package: "swift-deeplift"),
        .product(name: "LiftNN", package: "swift-deeplift"),
        .product(name: "LiftTensor", package: "swift-deeplift"),
      ]),
    // ONNX protobuf bytes → graph (loadONNXModel(from:)), then shapes and forward.
    .executableTarget(
      name: "FuzzONNX",
      dependencies: [
        "FuzzDriver", .product(name: "LiftONNX", package: "swift-deeplift"),
        .product(name: "LiftNN", package: "swift-deeplift"),
        .product(name: "LiftTensor", package: "swift-deeplift"),
      ]),
    // Recipes of ONNX models with huge sizes (constant folding, pads, strides, kernels) →
    // encoded ModelProto → loadONNXModel(from:), then shapes and forward (issue 15).
    .executableTarget(
      name: "FuzzONNXFolding",
      dependencies: [
        "FuzzDriver", .product(name: "LiftONNX", package: "swift-deeplift"),
        .product(name: "LiftNN", package: "swift-deeplift"),
        .product(name: "LiftTensor", package: "swift-deeplift"),
      ]),
    // Whole model files (.h5 through libhdf5, .keras zips) through loadKerasModel(at:).
    .executableTarget(
      name: "FuzzKerasFile",
      dependencies: [
        "FuzzDriver", .product(name: "LiftKeras", package: "swift-deeplift"),
        .product(name: "LiftNN", package: "swift-deeplift"),
      ]),
  ]
)
