import Foundation
import LiftIO
import LiftTensor
import Testing

// Issue 16 (pictures): bad pictures, folders, image options and image references, each one
// `error:` line naming the file or option; nothing written, an existing output untouched.
enum ImagesMatrix {
  /// Copies the bundled digits model (Keras, [N, 16, 16, 1]) and the tiny RGB ONNX model
  /// ([N, 3, 12, 12]) and runs `make` in the directory.
  static func files(_ make: @escaping @Sendable (URL) throws -> Void = { _ in }) -> @Sendable (URL) throws -> Void {
    { dir in
      try FileManager.default.copyItem(at: imageExample.appendingPathComponent("model.h5"), to: dir.appendingPathComponent("digits.h5"))
      try FileManager.default.copyItem(
        at: imageFixtures.appendingPathComponent("rgb_model.onnx"), to: dir.appendingPathComponent("rgb.onnx"))
      try FileManager.default.copyItem(
        at: creditExample.appendingPathComponent("model.onnx"), to: dir.appendingPathComponent("credit.onnx"))
      try make(dir)
    }
  }

  /// The first `fraction` of a bundled picture, written as `name`.
  static func truncated(_ source: URL, to name: String, keeping fraction: Double) -> @Sendable (URL) throws -> Void {
    { dir in
      let bytes = try Data(contentsOf: source)
      try bytes.prefix(Int(Double(bytes.count) * fraction)).write(to: dir.appendingPathComponent(name))
    }
  }

  static let digit = imageExample.appendingPathComponent("digits/digit3.png")
  static let photo = imageFixtures.appendingPathComponent("rgb/a_photo.jpg")
  static let huge = matrixFixtures.deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("LiftIOTests/Fixtures/images/huge.png")

  static func explain(_ model: String, _ input: String, _ extra: [String] = []) -> [String] {
    ["explain", model, "--input", input, "--output", "out.npy"] + extra
  }

  static let cases: [BadCase] = [
    BadCase(
      label: "truncated PNG", arguments: explain("digits.h5", "x.png"), status: 1,
      mentions: ["x.png", "cannot decode the PNG image"], setup: files(truncated(digit, to: "x.png", keeping: 0.6))),
    BadCase(
      label: "truncated JPEG", arguments: explain("rgb.onnx", "x.jpg"), status: 1,
      mentions: ["x.jpg", "cannot decode the JPEG image", "Premature end of JPEG file"],
      setup: files(truncated(photo, to: "x.jpg", keeping: 0.7))),
    BadCase(
      label: "a PNG header of 100000 x 100000 pixels", arguments: explain("digits.h5", "huge.png"), status: 1,
      mentions: ["huge.png", "100000 x 100000 pixels is more than the limit"],
      setup: files { try FileManager.default.copyItem(at: huge, to: $0.appendingPathComponent("huge.png")) }),
    BadCase(
      label: "a text file named like a picture", arguments: explain("digits.h5", "x.png"), status: 1,
      mentions: ["x.png", "not a PNG or JPEG file"], setup: files { try Data("hello".utf8).write(to: $0.appendingPathComponent("x.png")) }),
    BadCase(
      label: "a picture in a directory is not one", arguments: explain("digits.h5", "pics"), status: 1,
      mentions: ["pics/b.jpg", "not a PNG or JPEG file"],
      setup: files { dir in
        let pics = dir.appendingPathComponent("pics")
        try FileManager.default.createDirectory(at: pics, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: digit, to: pics.appendingPathComponent("a.png"))
        try Data("GIF89a".utf8).write(to: pics.appendingPathComponent("b.jpg"))
      }),
    BadCase(
      label: "a directory without pictures", arguments: explain("digits.h5", "pics"), status: 1,
      mentions: ["pics", "no pictures (*.png, *.jpg, *.jpeg) in the directory"],
      setup: files { dir in
        let pics = dir.appendingPathComponent("pics")
        try FileManager.default.createDirectory(at: pics, withIntermediateDirectories: true)
        try Data("x".utf8).write(to: pics.appendingPathComponent("notes.txt"))
      }),
    BadCase(
      label: "a missing picture", arguments: explain("digits.h5", "missing.png"), status: 1,
      mentions: ["missing.png"], setup: files()),
    BadCase(
      label: "a model that does not take pictures (wrong rank)", arguments: explain("credit.onnx", "x.png"), status: 1,
      mentions: ["model input", "(N, 8)", "does not take pictures"],
      setup: files { try FileManager.default.copyItem(at: digit, to: $0.appendingPathComponent("x.png")) }),
    BadCase(
      label: "--image-size other than the model's fixed size", arguments: explain("digits.h5", "x.png", ["--image-size", "8,8"]),
      status: 1, mentions: ["--image-size 8,8 does not fit model input", "height is 16"],
      setup: files { try FileManager.default.copyItem(at: digit, to: $0.appendingPathComponent("x.png")) }),
    BadCase(
      label: "--image-mean with 2 values for 3 channels", arguments: explain("rgb.onnx", "x.jpg", ["--image-mean", "0.5,0.5"]),
      status: 1, mentions: ["--image-mean", "2 values for a model input of 3 channel(s)"],
      setup: files { try FileManager.default.copyItem(at: photo, to: $0.appendingPathComponent("x.jpg")) }),
    BadCase(
      label: "--image-std 0", arguments: explain("rgb.onnx", "x.jpg", ["--image-std", "0.2,0,0.2"]), status: 2,
      mentions: ["--image-std must not be 0"], setup: files()),
    BadCase(
      label: "--image-size not H,W", arguments: explain("rgb.onnx", "x.jpg", ["--image-size", "12x12"]), status: 2,
      mentions: ["--image-size must be H,W"], setup: files()),
    BadCase(
      label: "--image-scale not a number", arguments: explain("rgb.onnx", "x.jpg", ["--image-scale", "1/0"]), status: 2,
      mentions: ["--image-scale must be a finite number other than 0"], setup: files()),
    BadCase(
      label: "blur with sigma 0", arguments: explain("rgb.onnx", "x.jpg", ["--reference", "blur:0"]), status: 2,
      mentions: ["--reference blur:<sigma> needs a number of pixels in (0, 1000]", "'0'"], setup: files()),
    BadCase(
      label: "blur with a negative sigma", arguments: explain("rgb.onnx", "x.jpg", ["--reference", "blur:-2"]), status: 2,
      mentions: ["--reference blur:<sigma>", "'-2'"], setup: files()),
    BadCase(
      label: "blur with text for sigma", arguments: explain("rgb.onnx", "x.jpg", ["--reference", "blur:wide"]), status: 2,
      mentions: ["--reference blur:<sigma>", "'wide'"], setup: files()),
    BadCase(
      label: "blur with NaN sigma", arguments: explain("rgb.onnx", "x.jpg", ["--reference", "blur:nan"]), status: 2,
      mentions: ["--reference blur:<sigma>", "'nan'"], setup: files()),
    BadCase(
      label: "--reference black with .npy input", arguments: explain("rgb.onnx", "x.npy", ["--reference", "black"]), status: 2,
      mentions: ["--reference black needs --input IMAGE.png|.jpg|DIR"], setup: files()),
    BadCase(
      label: "--image-size with .npy input", arguments: explain("rgb.onnx", "x.npy", ["--image-size", "12,12"]), status: 2,
      mentions: ["--image-size needs --input IMAGE.png|.jpg|DIR"], setup: files()),
    BadCase(
      label: "--reference R.npy of the wrong shape for the pictures", arguments: explain("rgb.onnx", "x.jpg", ["--reference", "r.npy"]),
      status: 1, mentions: ["r.npy", "reference shape (2, 2)"],
      setup: files { dir in
        try FileManager.default.copyItem(at: photo, to: dir.appendingPathComponent("x.jpg"))
        try write(Tensor(shape: [2, 2], scalars: [0, 0, 0, 0]), "r.npy")(dir)
      }),
    BadCase(
      label: "plot: pictures that are not as many as the scores",
      arguments: ["plot", "s.npy", "--input", "x.png", "--output", "out.png"], status: 1,
      mentions: ["--input x.png", "1 picture(s) for scores of 2 example(s)"], precreate: "out.png",
      setup: files { dir in
        try FileManager.default.copyItem(at: digit, to: dir.appendingPathComponent("x.png"))
        try write(Tensor(shape: [2, 16, 16, 1], scalars: [Float](repeating: 0.5, count: 512)), "s.npy")(dir)
      }),
    BadCase(
      label: "plot: beeswarm without the input table",
      arguments: ["plot", "s.csv", "--kind", "beeswarm", "--output", "out.png"], status: 2,
      mentions: ["--kind beeswarm", "--input DATA.csv"], precreate: "out.png",
      setup: files { try Data("a,b,base_value,output\n1,2,0,3\n".utf8).write(to: $0.appendingPathComponent("s.csv")) }),
    BadCase(
      label: "plot: beeswarm with a table of other columns",
      arguments: ["plot", "s.csv", "--kind", "beeswarm", "--input", "x.csv", "--output", "out.png"], status: 1,
      mentions: ["--input x.csv", "do not match"], precreate: "out.png",
      setup: files { dir in
        try Data("a,b,base_value,output\n1,2,0,3\n".utf8).write(to: dir.appendingPathComponent("s.csv"))
        try Data("a,c\n1,2\n".utf8).write(to: dir.appendingPathComponent("x.csv"))
      }),
  ]
}

@Suite("deeplift bad-input matrix: pictures (issue 16)")
struct ImagesMatrixTests {
  @Test("refused pictures, folders and image options", arguments: ImagesMatrix.cases)
  func refused(_ c: BadCase) throws { try BadInputMatrixTests.check(c) }
}
