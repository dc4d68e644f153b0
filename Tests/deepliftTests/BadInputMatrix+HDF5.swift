import Foundation
import LiftIO
import LiftTestSupport
import Testing

// Issue 15, HDF5 parts: model files whose weights would come from outside the file (external
// links, external raw-data storage, virtual datasets; absolute paths) or that declare more
// data than they hold (unallocated chunked kernels). The crafted files are made with libhdf5
// in each case's setup, from a copy of the `mlp.h5` fixture with one kernel replaced.

/// `explain` on `name` (made by the setup) with the mlp's input.
func explainModel(_ name: String) -> [String] {
  ["explain", name, "--input", "x.npy", "--output", "out.npy"]
}

/// Copies `mlp.h5` to `name` in the case's directory and replaces its first kernel
/// (`/model_weights/hidden1/hidden1/kernel:0`, shape [6, 8]) by what `replace` makes there.
func mlpWithKernel(_ name: String, _ replace: @escaping @Sendable (HDF5Writer, String, URL) throws -> Void)
  -> @Sendable (URL) throws -> Void
{
  { dir in
    let url = dir.appendingPathComponent(name)
    try FileManager.default.copyItem(at: keras.appendingPathComponent("mlp.h5"), to: url)
    let kernel = "/model_weights/hidden1/hidden1/kernel:0"
    let w = try HDF5Writer(existing: url.path)
    try w.delete(kernel)
    try replace(w, kernel, dir)
  }
}

/// A file `secret.h5` in `dir` holding a float dataset `/x` of shape [6, 8].
func writeSecretHDF5(_ dir: URL) throws {
  let w = try HDF5Writer(path: dir.appendingPathComponent("secret.h5").path)
  try w.floatDataset("/x", shape: [6, 8], values: (0..<48).map { Float($0) })
}

/// `image_cnn3.keras` with its `model.weights.h5` changed by `change` (a Keras 3 archive:
/// the weights file is an HDF5 image inside the zip).
func kerasArchiveWithWeights(_ name: String, _ change: @escaping @Sendable (HDF5Writer, URL) throws -> Void)
  -> @Sendable (URL) throws -> Void
{
  { dir in
    let archive = try ZipReader(path: keras.appendingPathComponent("image_cnn3.keras").path, name: "image_cnn3.keras")
    var members = [(name: String, data: Data)]()
    for member in ["metadata.json", "config.json"] {
      members.append((member, try archive.extract(try #require(archive[member]), limit: 1 << 24)))
    }
    let weights = dir.appendingPathComponent("weights.tmp.h5")
    try archive.extract(try #require(archive["model.weights.h5"]), limit: 1 << 24).write(to: weights)
    do {
      let w = try HDF5Writer(existing: weights.path)
      try change(w, dir)
    }
    members.append(("model.weights.h5", try Data(contentsOf: weights)))
    try FileManager.default.removeItem(at: weights)
    try storedZip(members).write(to: dir.appendingPathComponent(name))
  }
}

enum HDF5Matrix {
  static let cases: [BadCase] = [
    BadCase(
      label: ".h5 kernel that is an external link to another file (absolute path)",
      arguments: explainModel("ext.h5"), status: 1,
      mentions: ["ext.h5", "/model_weights/hidden1/hidden1/kernel:0", "external link", "secret.h5"],
      setup: all(
        writeSecretHDF5,
        mlpWithKernel("ext.h5") { w, kernel, dir in
          try w.externalLink(kernel, targetFile: dir.appendingPathComponent("secret.h5").path, object: "/x")
        })),
    BadCase(
      label: ".h5 layer group that is an external link to another file",
      arguments: explainModel("extgroup.h5"), status: 1,
      mentions: ["extgroup.h5", "/model_weights/hidden1/hidden1", "external link", "secret.h5"],
      setup: all(
        { dir in
          let w = try HDF5Writer(path: dir.appendingPathComponent("secret.h5").path)
          try w.floatDataset("/g/kernel:0", shape: [6, 8], values: (0..<48).map { Float($0) })
          try w.floatDataset("/g/bias:0", shape: [8], values: (0..<8).map { Float($0) })
        },
        { dir in
          let url = dir.appendingPathComponent("extgroup.h5")
          try FileManager.default.copyItem(at: keras.appendingPathComponent("mlp.h5"), to: url)
          let w = try HDF5Writer(existing: url.path)
          try w.delete("/model_weights/hidden1/hidden1")
          try w.externalLink(
            "/model_weights/hidden1/hidden1", targetFile: dir.appendingPathComponent("secret.h5").path, object: "/g")
        })),
    BadCase(
      label: ".h5 kernel that is a soft link",
      arguments: explainModel("soft.h5"), status: 1,
      mentions: ["soft.h5", "/model_weights/hidden1/hidden1/kernel:0", "soft link"],
      setup: mlpWithKernel("soft.h5") { w, kernel, _ in
        try w.floatDataset("/elsewhere", shape: [6, 8], values: [Float](repeating: 1, count: 48))
        try w.softLink(kernel, target: "/elsewhere")
      }),
    BadCase(
      label: ".h5 kernel stored in an external raw-data file (absolute path)",
      arguments: explainModel("efl.h5"), status: 1,
      mentions: ["efl.h5", "/model_weights/hidden1/hidden1/kernel:0", "external file", "secret.bin"],
      setup: all(
        write(Data(count: 48 * 4), "secret.bin"),
        mlpWithKernel("efl.h5") { w, kernel, dir in
          try w.floatDataset(
            kernel, shape: [6, 8], storage: .external(file: dir.appendingPathComponent("secret.bin").path, offset: 0))
        })),
    BadCase(
      label: ".h5 kernel that is a virtual dataset mapping another file",
      arguments: explainModel("vds.h5"), status: 1,
      mentions: ["vds.h5", "/model_weights/hidden1/hidden1/kernel:0", "virtual dataset"],
      setup: all(
        { dir in
          let w = try HDF5Writer(path: dir.appendingPathComponent("secret.h5").path)
          try w.floatDataset("/x", shape: [48], values: (0..<48).map { Float($0) })
        },
        mlpWithKernel("vds.h5") { w, kernel, dir in
          try w.virtualDataset(
            kernel, count: 48, sourceFile: dir.appendingPathComponent("secret.h5").path, sourceDataset: "/x")
        })),
    BadCase(
      // A 40 KB file declaring an 8 GiB kernel: refused before anything is allocated.
      label: ".h5 kernel that is an unallocated chunked dataset of 8 GiB",
      arguments: explainModel("huge.h5"), status: 1,
      mentions: ["huge.h5", "/model_weights/hidden1/hidden1/kernel:0", "declares 8589934592 bytes but stores 0"],
      setup: mlpWithKernel("huge.h5") { w, kernel, _ in
        try w.floatDataset(kernel, shape: [1 << 30, 2], storage: .unallocatedChunks([1 << 16, 2]))
      }),
    BadCase(
      // Ten 64 MiB kernels (4096 × 4096), each within the per-dataset allowance, in a file of
      // about 20 KB: the total read from one file is bounded by its size.
      label: ".h5 whose unallocated kernels add up to more than the file can hold",
      arguments: ["inspect", "many.h5"], status: 1,
      mentions: ["many.h5", "/model_weights/d", "brings the data read to"], precreate: nil,
      setup: { dir in
        let w = try HDF5Writer(path: dir.appendingPathComponent("many.h5").path)
        var layers = [#"{"class_name": "InputLayer", "config": {"batch_input_shape": [null, 4096], "name": "in"}}"#]
        for i in 0..<10 {
          let name = "d\(i)"
          layers.append(
            #"{"class_name": "Dense", "config": {"name": "\#(name)", "units": 4096, "use_bias": false, "activation": "linear"}}"#)
          try w.floatDataset(
            "/model_weights/\(name)/\(name)/kernel:0", shape: [4096, 4096], storage: .unallocatedChunks([256, 256]))
          try w.stringAttribute(
            on: "/model_weights/\(name)", "weight_names", ["\(name)/kernel:0"], variableLength: true, scalar: false)
        }
        let config =
          #"{"class_name": "Sequential", "config": {"name": "s", "layers": ["# + layers.joined(separator: ", ") + "]}}"
        try w.stringAttribute(on: "/", "model_config", [config], variableLength: true)
      }),
    BadCase(
      // libhdf5 zeroes length × base-type size bytes for a variable-length string before
      // reading it: a model_config with 4 MiB "characters" asked for 12 GB.
      label: "fuzzer find: libhdf5 runs out of memory on it (string base type of 4 MiB checked first)",
      arguments: ["explain", "%fuzz_hdf5_vlen_base_oom.h5", "--input", "@mlp.x.npy", "--output", "out.npy"], status: 1,
      mentions: ["fuzz_hdf5_vlen_base_oom.h5", "model_config", "4194305-byte characters"]),
    BadCase(
      label: ".keras whose weights file links a kernel to another file",
      arguments: ["explain", "ext.keras", "--input", "@image_cnn3.x.npy", "--output", "out.npy"], status: 1,
      mentions: ["ext.keras", "/layers/conv2d/vars/0", "external link", "secret.h5"],
      setup: all(
        { dir in
          let w = try HDF5Writer(path: dir.appendingPathComponent("secret.h5").path)
          try w.floatDataset("/x", shape: [3, 3, 3, 4], values: (0..<108).map { Float($0) })
        },
        kerasArchiveWithWeights("ext.keras") { w, dir in
          try w.delete("/layers/conv2d/vars/0")
          try w.externalLink(
            "/layers/conv2d/vars/0", targetFile: dir.appendingPathComponent("secret.h5").path, object: "/x")
        })),
    BadCase(
      label: ".keras whose weights file stores a kernel in an external raw-data file",
      arguments: ["explain", "efl.keras", "--input", "@image_cnn3.x.npy", "--output", "out.npy"], status: 1,
      mentions: ["efl.keras", "/layers/conv2d/vars/0", "external file", "secret.bin"],
      setup: all(
        write(Data(count: 108 * 4), "secret.bin"),
        kerasArchiveWithWeights("efl.keras") { w, dir in
          try w.delete("/layers/conv2d/vars/0")
          try w.floatDataset(
            "/layers/conv2d/vars/0", shape: [3, 3, 3, 4],
            storage: .external(file: dir.appendingPathComponent("secret.bin").path, offset: 0))
        })),
  ]
}

@Suite("deeplift bad-input matrix: HDF5 (issue 15)")
struct HDF5BadInputMatrixTests {
  @Test("HDF5 model files", arguments: HDF5Matrix.cases)
  func hdf5(_ c: BadCase) throws { try BadInputMatrixTests.check(c) }
}
