// swift-tools-version: 6.1
import PackageDescription

// Module graph (one way, checked by the manifest):
//   CBLAS → LiftTensor → LiftNN → LiftAttribution
//   LiftTensor → LiftGenomics (dinucleotide shuffles)
//   LiftTensor + CInflate (zlib) → LiftIO (.npy / .npz: our own zip reader and writer)
//   CImage (libpng, libjpeg-turbo) → LiftIO (PNG / JPEG decoding and PIL's bilinear resize)
//   LiftIO + CCairo → LiftPlot (PNG / SVG / PDF figures, written through LiftIO's atomic writer)
//   CHTS (htslib faidx) → LiftKit (FASTA / genome + BED row sources)
//   CBigWig (libBigWig) → LiftKit (bigWig tracks)
//   CHDF5 → LiftHDF5;  LiftNN + LiftHDF5 + LiftIO (zip reader) → LiftKeras
//   LiftNN + SwiftProtobuf → LiftONNX (generated code committed, no build plugin)
//   everything → deeplift (the command-line tool, a thin layer)
//   LiftKit → LiftC (C ABI, a dynamic library for python/: marshalling only)
let package = Package(
  name: "swift-deeplift",
  products: [
    .library(name: "LiftTensor", targets: ["LiftTensor"]),
    .library(name: "LiftNN", targets: ["LiftNN"]),
    .library(name: "LiftAttribution", targets: ["LiftAttribution"]),
    .library(name: "LiftGenomics", targets: ["LiftGenomics"]),
    .library(name: "LiftIO", targets: ["LiftIO"]),
    .library(name: "LiftKeras", targets: ["LiftKeras"]),
    .library(name: "LiftONNX", targets: ["LiftONNX"]),
    .library(name: "LiftKit", targets: ["LiftKit"]),
    .library(name: "LiftPlot", targets: ["LiftPlot"]),
    .executable(name: "deeplift", targets: ["deeplift"]),
    // C ABI over LiftKit for in-process callers (python/: the `swiftdeeplift` package).
    .library(name: "LiftC", type: .dynamic, targets: ["LiftC"]),
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.0"),
    .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
    // Documentation only (`swift package generate-documentation`, Scripts/docs.sh).
    .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
  ],
  targets: [
    // MARK: - C libraries (Debian: libopenblas-dev, libhdf5-dev, libcairo2-dev, libhts-dev, libbigwig-dev, libpng-dev, libjpeg62-turbo-dev)
    .systemLibrary(
      name: "CBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev", "pkg-config"])]),
    .systemLibrary(
      name: "CHDF5", pkgConfig: "hdf5-serial", providers: [.apt(["libhdf5-dev", "pkg-config"])]),
    .systemLibrary(
      name: "CCairo", pkgConfig: "cairo", providers: [.apt(["libcairo2-dev", "pkg-config"])]),
    .systemLibrary(name: "CHTS", pkgConfig: "htslib", providers: [.apt(["libhts-dev", "pkg-config"])]),
    .systemLibrary(name: "CInflate", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev", "pkg-config"])]),
    // libBigWig has no pkg-config file: headers in /usr/include, -lBigWig.
    .systemLibrary(name: "CBigWig", providers: [.apt(["libbigwig-dev"])]),
    // libpng 1.6 + libjpeg-turbo (Debian: libpng-dev, libjpeg62-turbo-dev): image inputs.
    .systemLibrary(
      name: "CImage", pkgConfig: "libpng", providers: [.apt(["libpng-dev", "libjpeg62-turbo-dev", "pkg-config"])]),

    // MARK: - Library
    .target(name: "LiftTensor", dependencies: ["CBLAS"]),
    .target(name: "LiftNN", dependencies: ["LiftTensor"]),
    .target(name: "LiftAttribution", dependencies: ["LiftNN", "LiftGenomics"]),
    .target(name: "LiftGenomics", dependencies: ["LiftTensor"]),
    .target(
      name: "LiftIO",
      dependencies: ["LiftTensor", "CInflate", "CImage"]),
    .target(name: "LiftHDF5", dependencies: ["CHDF5"]),
    .target(name: "LiftPlot", dependencies: ["LiftTensor", "LiftIO", "CCairo"]),
    .target(
      name: "LiftKeras",
      dependencies: [
        "LiftNN", "LiftHDF5", "LiftIO",
      ]),
    .target(
      name: "LiftONNX",
      dependencies: ["LiftNN", .product(name: "SwiftProtobuf", package: "swift-protobuf")],
      exclude: ["README.md"]),

    // The library face of the tool: load any model file, explain, aggregate.
    .target(
      name: "LiftKit",
      dependencies: [
        "LiftAttribution", "LiftKeras", "LiftONNX", "LiftIO", "LiftGenomics", "LiftPlot", "LiftHDF5", "CHTS",
        "CBigWig",
      ]),

    // The C ABI (`@_cdecl`, header `Sources/LiftC/liftc.h`): marshalling only.
    .target(name: "LiftC", dependencies: ["LiftKit", "LiftAttribution", "LiftTensor"], exclude: ["liftc.h"]),

    // MARK: - Command-line tool
    .executableTarget(
      name: "deeplift",
      dependencies: [
        "LiftKit", "LiftAttribution", "LiftKeras", "LiftIO", "LiftGenomics", "LiftPlot",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ]),

    // MARK: - Examples (built with the package, public LiftKit API only)
    .executableTarget(
      name: "deeplift-example-top-positions", dependencies: ["LiftKit"], path: "Examples/TopPositions"),

    // MARK: - Tests
    .target(name: "LiftTestSupport", dependencies: ["LiftNN", "CHDF5"], path: "Tests/LiftTestSupport"),
    .testTarget(name: "LiftTensorTests", dependencies: ["LiftTensor", "LiftTestSupport"]),
    .testTarget(name: "LiftNNTests", dependencies: ["LiftNN", "LiftTestSupport"]),
    .testTarget(
      name: "LiftAttributionTests",
      dependencies: ["LiftAttribution", "LiftKeras", "LiftIO", "LiftTestSupport"],
      resources: [.copy("Fixtures")]),
    .testTarget(
      name: "LiftGenomicsTests", dependencies: ["LiftGenomics", "LiftIO", "LiftTestSupport"],
      resources: [.copy("Fixtures")]),
    .testTarget(
      name: "LiftIOTests", dependencies: ["LiftIO", "LiftTestSupport"],
      resources: [.copy("Fixtures")]),
    .testTarget(
      name: "LiftKerasTests", dependencies: ["LiftKeras", "LiftHDF5", "LiftIO", "LiftAttribution", "LiftTestSupport"],
      resources: [.copy("Fixtures")]),
    .testTarget(
      name: "LiftKitTests", dependencies: ["LiftKit", "LiftIO", "LiftNN", "LiftTestSupport", "CBigWig"],
      resources: [.copy("Fixtures")]),
    .testTarget(name: "LiftCTests", dependencies: ["LiftC", "LiftKit", "LiftIO"]),
    .testTarget(name: "LiftPlotTests", dependencies: ["LiftPlot", "LiftTensor", "LiftIO"]),
    .testTarget(
      name: "LiftONNXTests",
      dependencies: ["LiftONNX", "LiftAttribution", "LiftKeras", "LiftIO", "LiftTestSupport"],
      resources: [.copy("Fixtures")]),
    // deepliftTests runs the built `deeplift` and example binaries (root executables, built by
    // `swift build --build-tests` anyway) but must not list them as dependencies: a test target
    // depending on an executable makes SwiftPM build the plugin tools of every package in that
    // executable's closure — swift-protobuf's bundled protoc, ~800 C++ files, twice (~10 min).
    .testTarget(
      name: "deepliftTests",
      dependencies: ["LiftIO", "LiftKit", "LiftTestSupport", "CHDF5"],
      resources: [.copy("Fixtures")]),
  ]
)
