import Foundation
import LiftIO
import LiftKit
import LiftTensor
import Testing

/// Fixtures of Scripts/fixtures/make_image_fixtures.py (Pillow 13.0.0 and SciPy 1.17.1 as
/// oracles).
let imageFixtures = matrixFixtures.appendingPathComponent("images")
/// The bundled digits example (Examples/image).
let imageExample = creditExample.deletingLastPathComponent().appendingPathComponent("image")

/// ImageNet's mean and standard deviation, as the fixtures normalise with them.
let imagenetMean: [Float] = [0.485, 0.456, 0.406]
let imagenetStd: [Float] = [0.229, 0.224, 0.225]

func readNpy(_ url: URL) throws -> Tensor { try NpyFile(url: url).readAll() }

func maxAbsDifference(_ a: Tensor, _ b: Tensor) -> Float {
  guard a.shape == b.shape else { return .infinity }
  return zip(a.scalars, b.scalars).map { abs($0 - $1) }.max() ?? 0
}

@Suite("Picture inputs in the library (issue 16)")
struct ImageRowsTests {
  func rgbRows() throws -> ImageRows {
    var p = ImagePreprocessing(height: 12, width: 12, channels: 3, channelsFirst: true)
    p.mean = imagenetMean
    p.std = imagenetStd
    return try ImageRows(url: imageFixtures.appendingPathComponent("rgb"), preprocessing: p)
  }

  @Test("A directory's pictures, sorted by name, equal Pillow's convert + resize + normalise")
  func directoryEqualsPillow() throws {
    let rows = try rgbRows()
    #expect(rows.files.map(\.lastPathComponent) == ["a_photo.jpg", "b_small.png", "c_grey.png"])
    let ours = try rows.rows(0..<3)[0]
    let theirs = try readNpy(imageFixtures.appendingPathComponent("rgb_pixels.npy"))
    #expect(ours.shape == theirs.shape)
    // Within one grey level (1/255 over the smallest std) of Pillow after normalisation; the
    // decoded pixels are Pillow's bit for bit, the resize within one level (see `Image8`).
    #expect(maxAbsDifference(ours, theirs) <= 1 / 255 / 0.224 + 1e-6)
    // The pictures Pillow resizes with the same pass order are equal bit for bit.
    #expect(maxAbsDifference(ours.slice(batch: 0..<2), theirs.slice(batch: 0..<2)) == 0)
  }

  @Test("Black is (0 - mean) / std per channel")
  func black() throws {
    let rows = try rgbRows()
    #expect(rows.preprocessing.black == (try readNpy(imageFixtures.appendingPathComponent("rgb_black.npy"))))
  }

  @Test("blur:1.5 equals scipy.ndimage.gaussian_filter of each normalised channel")
  func blurEqualsScipy() throws {
    let pixels = ArrayRows([try readNpy(imageFixtures.appendingPathComponent("rgb_pixels.npy"))])
    let ours = try BlurredRows(pixels, sigma: 1.5, channelsFirst: true).rows(0..<3)[0]
    let theirs = try readNpy(imageFixtures.appendingPathComponent("rgb_blur.npy"))
    #expect(maxAbsDifference(ours, theirs) <= 1e-6)
  }

  struct BlurGolden: Decodable {
    let input: [Float]
    let shape: [Int]
    let sigmas: [String: [Float]]
    struct Key: CodingKey {
      var stringValue: String
      var intValue: Int? { nil }
      init(stringValue: String) { self.stringValue = stringValue }
      init?(intValue: Int) { nil }
    }
    init(from decoder: any Decoder) throws {
      let c = try decoder.container(keyedBy: Key.self)
      input = try c.decode([Float].self, forKey: Key(stringValue: "input"))
      shape = try c.decode([Int].self, forKey: Key(stringValue: "shape"))
      var s: [String: [Float]] = [:]
      for k in c.allKeys where k.stringValue != "input" && k.stringValue != "shape" { s[k.stringValue] = try c.decode([Float].self, forKey: k) }
      sigmas = s
    }
  }

  @Test("gaussianFilter equals SciPy for sigmas whose kernel is wider than the plane")
  func gaussianFilterEqualsScipy() throws {
    let g = try JSONDecoder().decode(BlurGolden.self, from: Data(contentsOf: imageFixtures.appendingPathComponent("blur.json")))
    #expect(g.sigmas.count == 4)
    for (sigma, expected) in g.sigmas {
      let ours = gaussianFilter(g.input, height: g.shape[0], width: g.shape[1], sigma: Double(sigma)!)
      let worst = zip(ours, expected).map { abs($0 - $1) }.max()!
      #expect(worst <= 1e-6, "sigma \(sigma): \(worst)")
    }
  }
}

@Suite("deeplift explain: pictures (issue 16)")
struct ImageCLITests {
  let rgbModel = imageFixtures.appendingPathComponent("rgb_model.onnx").path
  let rgbFolder = imageFixtures.appendingPathComponent("rgb").path
  let normalise = ["--image-mean", "0.485,0.456,0.406", "--image-std", "0.229,0.224,0.225"]

  /// Runs `deeplift ARGS` in `dir`, expecting success.
  func run(_ arguments: [String], in dir: URL) throws {
    let r = try runDeeplift(arguments: arguments, in: dir)
    #expect(r.status == 0, "\(arguments): \(r.stderr)")
  }

  func scores(_ dir: URL, _ name: String) throws -> Tensor { try readNpy(dir.appendingPathComponent(name)) }

  @Test("A folder of PNG and JPEG files equals the .npy of Pillow's pixels (ONNX, [N, C, H, W])")
  func folderEqualsNpy() throws {
    let dir = try makeTemporaryDirectory()
    defer { cleanup(dir) }
    let pixels = imageFixtures.appendingPathComponent("rgb_pixels.npy").path
    try run(["explain", rgbModel, "--input", rgbFolder, "--output", "png.npy", "--quiet"] + normalise, in: dir)
    try run(["explain", rgbModel, "--input", pixels, "--output", "npy.npy", "--quiet"], in: dir)
    let a = try scores(dir, "png.npy")
    #expect(a.shape == Shape([3, 3, 12, 12]))
    #expect(a == (try scores(dir, "npy.npy")))
    // One file alone gives that file's row.
    try run(
      ["explain", rgbModel, "--input", rgbFolder + "/b_small.png", "--output", "one.npy", "--quiet"] + normalise, in: dir)
    #expect(try scores(dir, "one.npy") == a.slice(batch: 1..<2))
  }

  @Test("The digit PNGs equal the .npy of Pillow's pixels (Keras, [N, H, W, C]) and sum to delta")
  func digitsEqualNpy() throws {
    let dir = try makeTemporaryDirectory()
    defer { cleanup(dir) }
    let model = imageExample.appendingPathComponent("model.h5").path
    let common = ["--task", "3", "--maxpool", "deepshap", "--max-delta-error", "1e-4"]
    try run(["explain", model, "--input", imageExample.appendingPathComponent("digits").path, "--output", "png.npy"] + common, in: dir)
    try run(
      ["explain", model, "--input", imageFixtures.appendingPathComponent("digits_pixels.npy").path, "--output", "npy.npy"] + common,
      in: dir)
    let a = try scores(dir, "png.npy")
    #expect(a.shape == Shape([10, 16, 16, 1]))
    #expect(a == (try scores(dir, "npy.npy")))
  }

  @Test("--reference black and blur:1.5 equal the .npy references made with NumPy and SciPy")
  func blackAndBlurEqualNpyReferences() throws {
    let dir = try makeTemporaryDirectory()
    defer { cleanup(dir) }
    let pixels = imageFixtures.appendingPathComponent("rgb_pixels.npy").path
    for (keyword, file) in [("black", "rgb_black.npy"), ("blur:1.5", "rgb_blur.npy")] {
      try run(
        ["explain", rgbModel, "--input", rgbFolder, "--reference", keyword, "--output", "kw.npy", "--quiet"] + normalise, in: dir)
      try run(
        ["explain", rgbModel, "--input", pixels, "--reference", imageFixtures.appendingPathComponent(file).path,
         "--output", "file.npy", "--quiet"], in: dir)
      let a = try scores(dir, "kw.npy")
      let b = try scores(dir, "file.npy")
      #expect(maxAbsDifference(a, b) <= 1e-6, "\(keyword): \(maxAbsDifference(a, b))")
      #expect(a.scalars.contains { $0 != 0 }, "\(keyword)")
    }
  }

  @Test("--plot draws a grid of heat maps over the pictures; plot --input DIR draws the same")
  func plotGrid() throws {
    let dir = try makeTemporaryDirectory()
    defer { cleanup(dir) }
    try run(
      ["explain", rgbModel, "--input", rgbFolder, "--output", "s.npy", "--plot", "grid.png", "--quiet"] + normalise, in: dir)
    try run(["plot", "s.npy", "--input", rgbFolder, "--output", "again.png"], in: dir)
    let grid = try Data(contentsOf: dir.appendingPathComponent("grid.png"))
    #expect(grid == (try Data(contentsOf: dir.appendingPathComponent("again.png"))))
    // Three pictures in 2 columns of 180-unit panels (12-pixel pictures upscaled 15×).
    let (width, height) = pngSize(grid)
    let expectedWidth = 16 + 2 * 180 + 14 + 20 + 18 + 64
    let expectedHeight = 16 + 2 * (180 + 18) + 14 + 16
    #expect(width == expectedWidth)
    #expect(height == expectedHeight)
    // --example picks one picture.
    try run(["plot", "s.npy", "--input", rgbFolder, "--example", "2", "--output", "one.png"], in: dir)
    let one = try Data(contentsOf: dir.appendingPathComponent("one.png"))
    let single = 16 + 360 + 20 + 18 + 64
    #expect(pngSize(one).width == single)
  }
}

/// The width and height in a PNG's IHDR.
func pngSize(_ png: Data) -> (width: Int, height: Int) {
  let b = [UInt8](png)
  func int(_ at: Int) -> Int { (0..<4).reduce(0) { ($0 << 8) | Int(b[at + $1]) } }
  return (int(16), int(20))
}
