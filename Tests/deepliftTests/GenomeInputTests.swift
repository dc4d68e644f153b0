import CHDF5
import Foundation
import LiftIO
import LiftTensor
import Testing

/// The fixtures of Scripts/fixtures/make_genome_fixtures.py: a small genome (plain and
/// bgzip), a BED of narrowPeak and BED3 lines, FASTA records, and the same sequences one-hot
/// as pyfaidx extracts them (`.npy`), made independently of our reader.
let genomeFixtures = matrixFixtures.appendingPathComponent("genome")

/// A scratch directory holding copies of the genome fixtures (the run writes `.fai` indexes
/// next to the genome).
func genomeScratch() throws -> URL {
  let dir = try scratchDirectory()
  for name in try FileManager.default.contentsOfDirectory(atPath: genomeFixtures.path) {
    try FileManager.default.copyItem(
      at: genomeFixtures.appendingPathComponent(name), to: dir.appendingPathComponent(name))
  }
  return dir
}

/// A dataset of an HDF5 file read with libhdf5 itself: its element type in words, shape and
/// values (numbers as Double, strings as String).
struct H5Read {
  var type: String
  var shape: [Int]
  var numbers: [Double] = []
  var strings: [String] = []

  static func read(_ file: URL, _ path: String) -> H5Read? {
    lift_h5_silence_errors()
    let f = H5Fopen(file.path, lift_h5f_acc_rdonly(), lift_h5p_default())
    guard f >= 0 else { return nil }
    defer { H5Fclose(f) }
    let d = H5Dopen2(f, path, lift_h5p_default())
    guard d >= 0 else { return nil }
    defer { H5Dclose(d) }
    let t = H5Dget_type(d)
    defer { H5Tclose(t) }
    let space = H5Dget_space(d)
    defer { H5Sclose(space) }
    var dims = [hsize_t](repeating: 0, count: Int(H5Sget_simple_extent_ndims(space)))
    H5Sget_simple_extent_dims(space, &dims, nil)
    let shape = dims.map { Int($0) }
    let count = shape.reduce(1, *)
    let size = H5Tget_size(t)
    switch H5Tget_class(t) {
    case H5T_INTEGER:
      let signed = H5Tget_sign(t) == H5T_SGN_2
      var values = [Double](repeating: 0, count: count)
      H5Dread(d, lift_h5t_native_double(), lift_h5s_all(), lift_h5s_all(), lift_h5p_default(), &values)
      return H5Read(type: "\(signed ? "int" : "uint")\(size * 8)", shape: shape, numbers: values)
    case H5T_FLOAT:
      var values = [Double](repeating: 0, count: count)
      H5Dread(d, lift_h5t_native_double(), lift_h5s_all(), lift_h5s_all(), lift_h5p_default(), &values)
      return H5Read(type: "float\(size * 8)", shape: shape, numbers: values)
    case H5T_STRING where H5Tis_variable_str(t) > 0:
      var pointers = [UnsafeMutablePointer<CChar>?](repeating: nil, count: count)
      H5Dread(d, t, lift_h5s_all(), lift_h5s_all(), lift_h5p_default(), &pointers)
      let strings = pointers.map { $0.map { String(cString: $0) } ?? "" }
      _ = lift_h5_vlen_reclaim(t, space, &pointers)
      return H5Read(type: "vlen-string", shape: shape, strings: strings)
    default:
      return H5Read(type: "other", shape: shape)
    }
  }

  /// The scalar string attribute `name` of the root group.
  static func attribute(_ file: URL, _ name: String) -> String? {
    let f = H5Fopen(file.path, lift_h5f_acc_rdonly(), lift_h5p_default())
    guard f >= 0 else { return nil }
    defer { H5Fclose(f) }
    let a = H5Aopen(f, name, lift_h5p_default())
    guard a >= 0 else { return nil }
    defer { H5Aclose(a) }
    let t = H5Aget_type(a)
    defer { H5Tclose(t) }
    var pointer: UnsafeMutablePointer<CChar>? = nil
    guard H5Aread(a, t, &pointer) >= 0, let pointer else { return nil }
    defer { free(pointer) }
    return String(cString: pointer)
  }
}

/// `[N, L, 4]` -> `[N, 4, L]` by plain loops.
func lengthLast(_ x: Tensor) -> [Float] {
  let (n, l) = (x.shape[0], x.shape[1])
  var out = [Float](repeating: .nan, count: n * 4 * l)
  for i in 0..<n { for p in 0..<l { for k in 0..<4 { out[(i * 4 + k) * l + p] = x[i, p, k] } } }
  return out
}

@Suite("deeplift explain --fasta, --genome --regions, .h5 output (issue 18 part 2)")
struct GenomeInputTests {
  let keras = fixture("genomics_cnn.h5")  // [N, 50, 4]
  let onnx = onnxFixtures.appendingPathComponent("genomics_cnn.onnx").path  // [N, 4, 40]
  let options = ["--shuffles", "3", "--seed", "7", "--hypothetical", "--quiet"]

  func bytes(_ url: URL) throws -> Data { try Data(contentsOf: url) }

  /// Scores of the genome windows equal, byte for byte, the scores of the same windows cut
  /// by pyfaidx and one-hot encoded by the generator script; the `.fai` (and `.gzi`) are made.
  @Test("--genome/--regions equals the .npy path bit for bit", arguments: ["genome.fa", "genome.fa.gz"])
  func genomeEqualsNpy(genome: String) throws {
    let dir = try genomeScratch()
    let g = try runDeeplift(arguments: [
      "explain", keras, "--genome", dir.appendingPathComponent(genome).path, "--regions",
      dir.appendingPathComponent("peaks.bed").path, "--output", dir.appendingPathComponent("g.npy").path,
      "--shuffles", "3", "--seed", "7", "--hypothetical",
    ])
    #expect(g.status == 0, "\(g.stderr)")
    #expect(g.stderr.contains("peaks.bed: skipped 2 region(s) whose 50-base window runs off its chromosome"), "\(g.stderr)")
    #expect(g.stderr.contains("made the index"), "\(g.stderr)")
    #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent(genome + ".fai").path))
    if genome.hasSuffix(".gz") {
      #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent(genome + ".gzi").path))
    }
    let x = try runDeeplift(arguments: [
      "explain", keras, "--input", dir.appendingPathComponent("peaks.x50.npy").path, "--output",
      dir.appendingPathComponent("x.npy").path,
    ] + options)
    #expect(x.status == 0, "\(x.stderr)")
    #expect(try bytes(dir.appendingPathComponent("g.npy")) == bytes(dir.appendingPathComponent("x.npy")))
    // A second run reads the index it made.
    let again = try runDeeplift(arguments: [
      "explain", keras, "--genome", dir.appendingPathComponent(genome).path, "--regions",
      dir.appendingPathComponent("peaks.bed").path, "--output", dir.appendingPathComponent("g2.npy").path,
    ] + options)
    #expect(again.status == 0, "\(again.stderr)")
    #expect(try bytes(dir.appendingPathComponent("g2.npy")) == bytes(dir.appendingPathComponent("x.npy")))
  }

  /// An ONNX model reads `[N, 4, L]`; the default width is its length (40).
  @Test func channelsFirstModelAndDefaultWidth() throws {
    let dir = try genomeScratch()
    let common = ["explain", onnx, "--output"]
    let g = try runDeeplift(arguments: common + [
      dir.appendingPathComponent("g.npy").path, "--genome", dir.appendingPathComponent("genome.fa").path, "--regions",
      dir.appendingPathComponent("peaks.bed").path,
    ] + options)
    #expect(g.status == 0, "\(g.stderr)")
    let x = try runDeeplift(arguments: common + [
      dir.appendingPathComponent("x.npy").path, "--input", dir.appendingPathComponent("peaks.x40.npy").path,
    ] + options)
    #expect(x.status == 0, "\(x.stderr)")
    #expect(try bytes(dir.appendingPathComponent("g.npy")) == bytes(dir.appendingPathComponent("x.npy")))
  }

  /// FASTA records (wrapped lines, N and IUPAC letters), and longer records cropped to their
  /// central `--width` bases.
  @Test("--fasta equals the .npy path bit for bit", arguments: [("seqs.fa", [String]()), ("seqs_long.fa", ["--width", "50"])])
  func fastaEqualsNpy(fasta: String, extra: [String]) throws {
    let dir = try genomeScratch()
    let npy = fasta.replacingOccurrences(of: ".fa", with: ".x50.npy")
    let f = try runDeeplift(arguments: [
      "explain", keras, "--fasta", dir.appendingPathComponent(fasta).path, "--output", dir.appendingPathComponent("f.npy").path,
    ] + extra + options)
    #expect(f.status == 0, "\(f.stderr)")
    let x = try runDeeplift(arguments: [
      "explain", keras, "--input", dir.appendingPathComponent(npy).path, "--output", dir.appendingPathComponent("x.npy").path,
    ] + options)
    #expect(x.status == 0, "\(x.stderr)")
    #expect(try bytes(dir.appendingPathComponent("f.npy")) == bytes(dir.appendingPathComponent("x.npy")))
  }

  /// chrombpnet's names, shapes `[N, 4, L]` and types (int8 one-hot; float32 here where
  /// chrombpnet writes float16), the regions kept in input order, the run's attributes.
  @Test func h5HasChromBPNetLayout() throws {
    let dir = try genomeScratch()
    let out = dir.appendingPathComponent("g.h5")
    let g = try runDeeplift(arguments: [
      "explain", keras, "--genome", dir.appendingPathComponent("genome.fa").path, "--regions",
      dir.appendingPathComponent("peaks.bed").path, "--output", out.path, "--shuffles", "3", "--seed", "7", "--quiet",
    ])
    #expect(g.status == 0, "\(g.stderr)")
    let h = try runDeeplift(arguments: [
      "explain", keras, "--input", dir.appendingPathComponent("peaks.x50.npy").path, "--output",
      dir.appendingPathComponent("h.npy").path,
    ] + options)
    #expect(h.status == 0, "\(h.stderr)")
    let x = try NumPy.read(dir.appendingPathComponent("peaks.x50.npy"))
    let hyp = try NumPy.read(dir.appendingPathComponent("h.npy"))
    let n = x.shape[0]
    let raw = try #require(H5Read.read(out, "/raw/seq"))
    let shap = try #require(H5Read.read(out, "/shap/seq"))
    let projected = try #require(H5Read.read(out, "/projected_shap/seq"))
    #expect(raw.type == "int8" && shap.type == "float32" && projected.type == "float32")
    for d in [raw, shap, projected] { #expect(d.shape == [n, 4, 50]) }
    let seq = lengthLast(x)
    // Compared whole (a Bool, so a failure does not print thousands of values).
    let sameRaw = raw.numbers == seq.map(Double.init)
    let sameShap = shap.numbers == lengthLast(hyp).map(Double.init)
    let sameProjected = projected.numbers == zip(lengthLast(hyp), seq).map { Double($0 * $1) }
    #expect(sameRaw, "raw/seq is not the one-hot windows")
    #expect(sameShap, "shap/seq is not the hypothetical scores")
    #expect(sameProjected, "projected_shap/seq is not hypothetical × one-hot")

    struct Windows: Decodable {
      struct W: Decodable { var chrom: String; var start: Int; var end: Int; var summit: Int }
      var windows: [W]
    }
    let expected = try JSONDecoder().decode(Windows.self, from: Data(contentsOf: dir.appendingPathComponent("peaks.windows.json"))).windows
    let chrom = try #require(H5Read.read(out, "/regions/chrom"))
    #expect(chrom.type == "vlen-string" && chrom.strings == expected.map(\.chrom))
    for (name, values) in [("start", expected.map(\.start)), ("end", expected.map(\.end)), ("summit", expected.map(\.summit))] {
      let d = try #require(H5Read.read(out, "/regions/" + name))
      #expect(d.type == "int64" && d.numbers == values.map(Double.init), "\(name)")
    }
    #expect(H5Read.attribute(out, "method") == "rescale")
    #expect(H5Read.attribute(out, "references") == "shuffles 3")
    #expect(H5Read.attribute(out, "seed") == "7")
    #expect(H5Read.attribute(out, "task") == "0")
    #expect(H5Read.attribute(out, "models")?.hasSuffix("genomics_cnn.h5") == true)
    #expect(H5Read.attribute(out, "tool_version")?.hasPrefix("deeplift ") == true)
  }

  @Test func fastaH5NamesTheRecords() throws {
    let dir = try genomeScratch()
    let out = dir.appendingPathComponent("f.h5")
    let f = try runDeeplift(arguments: [
      "explain", keras, "--fasta", dir.appendingPathComponent("seqs.fa").path, "--output", out.path, "--quiet",
    ])
    #expect(f.status == 0, "\(f.stderr)")
    #expect(H5Read.read(out, "/regions/name")?.strings == (0..<5).map { "seq\($0)" })
    #expect(H5Read.read(out, "/regions/chrom") == nil)
    #expect(H5Read.read(out, "/raw/seq")?.shape == [5, 4, 50])
  }
}

extension H5Read: Equatable {}
