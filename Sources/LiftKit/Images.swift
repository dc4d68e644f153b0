import Foundation
import LiftIO
import LiftNN
import LiftTensor

/// How pictures become model inputs: the size and channels the model takes, its layout, and
/// the scaling and per-channel normalisation.
///
/// For pixel `p` (0…255) of channel `c`, after converting the picture to the model's
/// channels and resizing it (LiftIO's `Image8`: Pillow's `convert` and
/// `resize(BILINEAR)`, bit for bit), the input value is `(p · scale − mean[c]) / std[c]`,
/// computed in float32 as NumPy computes `(a.astype(np.float32) * np.float32(scale) - mean)
/// / std` with float32 `mean` and `std`.
public struct ImagePreprocessing: Sendable, Equatable {
  /// The model's input height.
  public var height: Int
  /// The model's input width.
  public var width: Int
  /// 1 (grey) or 3 (RGB).
  public var channels: Int
  /// `[C, H, W]` examples (ONNX / torch) instead of `[H, W, C]` (Keras).
  public var channelsFirst: Bool
  /// The factor applied to the 0…255 pixel values (default 1/255).
  public var scale: Float = 1 / 255
  /// The value subtracted per channel after scaling (one per channel; default 0).
  public var mean: [Float]
  /// The divisor per channel after subtracting the mean (one per channel; default 1).
  public var std: [Float]

  /// Preprocessing for `channels` channels of `height × width`, no normalisation.
  public init(height: Int, width: Int, channels: Int, channelsFirst: Bool) {
    self.height = height
    self.width = width
    self.channels = channels
    self.channelsFirst = channelsFirst
    mean = [Float](repeating: 0, count: channels)
    std = [Float](repeating: 1, count: channels)
  }

  /// The preprocessing for single-input `model`: its declared input must be one picture,
  /// `[H, W, C]` for Keras (channels last) or `[C, H, W]` for ONNX, with C = 1 or 3. `size`
  /// (`--image-size H,W`) gives H and W where the model leaves them open and must equal them
  /// where it fixes them. `mean` and `std` hold one value, or one per channel.
  ///
  /// - Throws: ``LiftKitError/arrays(_:)`` naming the model input when it is not an image
  ///   input, its channels are not 1 or 3, its size is open and `size` is not given, `size`
  ///   differs from a fixed size, or `mean` / `std` do not fit (a `std` of 0 included).
  public static func forModel(
    _ model: Model, size: (height: Int, width: Int)? = nil, scale: Float = 1 / 255, mean: [Float]? = nil,
    std: [Float]? = nil
  ) throws(LiftKitError) -> ImagePreprocessing {
    let graph = model.graph
    guard graph.inputs.count == 1, case .input(let declared) = graph[graph.inputs[0]].op else {
      throw .arrays("image inputs need a single-input model; this one has inputs \(model.inputNames.joined(separator: ", "))")
    }
    let name = model.inputNames[0]
    let channelsFirst = model.channelAxis == 1
    let text = "(N" + declared.map { ", " + ($0.map(String.init) ?? "?") }.joined() + ")"
    guard declared.count == 3 else {
      throw .arrays(
        "model input '\(name)' \(text) does not take pictures: an image input is (N, H, W, C) for Keras or (N, C, H, W) for ONNX")
    }
    let c = channelsFirst ? declared[0] : declared[2]
    guard let c, c == 1 || c == 3 else {
      throw .arrays(
        "model input '\(name)' \(text) takes \(c.map(String.init) ?? "an open number of") channel(s) on its \(channelsFirst ? "second" : "last") axis; pictures give 1 (grey) or 3 (RGB)")
    }
    let h = channelsFirst ? declared[1] : declared[0]
    let w = channelsFirst ? declared[2] : declared[1]
    var height = 0
    var width = 0
    for (axis, fixed, given) in [("height", h, size?.height), ("width", w, size?.width)] {
      let value: Int
      switch (fixed, given) {
      case (let f?, let g?) where f != g:
        throw .arrays("--image-size \(size!.height),\(size!.width) does not fit model input '\(name)' \(text), whose \(axis) is \(f)")
      case (let f?, _): value = f
      case (nil, let g?): value = g
      case (nil, nil):
        throw .arrays("model input '\(name)' \(text) leaves the picture's \(axis) open: give --image-size H,W")
      }
      if axis == "height" { height = value } else { width = value }
    }
    var p = ImagePreprocessing(height: height, width: width, channels: c, channelsFirst: channelsFirst)
    p.scale = scale
    for (option, given, into) in [("--image-mean", mean, \ImagePreprocessing.mean), ("--image-std", std, \ImagePreprocessing.std)] {
      guard let given else { continue }
      guard given.count == 1 || given.count == c else {
        throw .arrays("\(option): \(given.count) values for a model input of \(c) channel(s) (give 1 or \(c))")
      }
      p[keyPath: into] = given.count == 1 ? [Float](repeating: given[0], count: c) : given
    }
    guard scale.isFinite, scale != 0 else { throw .arrays("--image-scale must be a finite number other than 0, got \(scale)") }
    guard p.mean.allSatisfy(\.isFinite) else { throw .arrays("--image-mean values must be finite numbers") }
    guard p.std.allSatisfy({ $0.isFinite && $0 != 0 }) else { throw .arrays("--image-std values must be finite and not 0") }
    return p
  }

  /// One example's shape: `[C, H, W]` or `[H, W, C]`.
  public var exampleShape: Shape {
    Shape(channelsFirst ? [channels, height, width] : [height, width, channels])
  }

  /// `picture` converted to the model's channels and resized to its size (0…255).
  public func resized(_ picture: Image8) -> Image8 {
    picture.converted(channels: channels).resized(height: height, width: width)
  }

  /// The scalars of one example for `picture` already ``resized(_:)``: scaled and
  /// normalised when `normalise`, else the pixel values (0…255), in the model's layout.
  func scalars(_ picture: Image8, normalise: Bool) -> [Float] {
    var out = [Float](repeating: 0, count: height * width * channels)
    let px = picture.pixels
    for y in 0..<height {
      for x in 0..<width {
        for c in 0..<channels {
          let p = Float(px[(y * width + x) * channels + c])
          let v = normalise ? (p * scale - mean[c]) / std[c] : p
          out[channelsFirst ? (c * height + y) * width + x : (y * width + x) * channels + c] = v
        }
      }
    }
    return out
  }

  /// The black reference: pixel value 0 in every channel, scaled and normalised, so
  /// `(0 − mean[c]) / std[c]` per channel (all zeros without normalisation), one example's
  /// shape.
  public var black: Tensor {
    var out = [Float](repeating: 0, count: height * width * channels)
    for i in out.indices {
      let c = channelsFirst ? i / (height * width) : i % channels
      out[i] = (0 * scale - mean[c]) / std[c]
    }
    return Tensor(shape: exampleShape, scalars: out)
  }
}

/// Pictures (PNG or JPEG) as the single input of an image model: one file, or every picture
/// of a directory, decoded, converted, resized, scaled and normalised by
/// ``ImagePreprocessing`` a batch at a time (memory stays flat in the number of pictures).
///
/// A directory's pictures are its regular files named `*.png`, `*.jpg` or `*.jpeg` (any
/// case), in the byte order of their names (as Python's `sorted(os.listdir(DIR))`); other
/// files, hidden files and subdirectories are skipped. A file with a picture's name that is
/// neither PNG nor JPEG is an error, as is a directory without pictures.
public struct ImageRows: RowSource {
  /// The pictures, in example order.
  public let files: [URL]
  /// How the pictures become model inputs.
  public let preprocessing: ImagePreprocessing
  public let name: String
  /// The largest picture read, in pixels (LiftIO's `Image8.defaultMaximumPixels`).
  public var maximumPixels = Image8.defaultMaximumPixels

  /// The file extensions of pictures in a directory.
  public static let extensions: Set<String> = ["png", "jpg", "jpeg"]

  /// Pictures from `url` (a file or a directory) for `preprocessing`. Each file's signature
  /// is checked now; pixels are decoded when their rows are read.
  ///
  /// - Throws: ``LiftKitError/arrays(_:)`` naming the file or directory: unreadable, not a
  ///   picture, or a directory without pictures.
  public init(url: URL, preprocessing: ImagePreprocessing) throws(LiftKitError) {
    self.preprocessing = preprocessing
    name = url.relativePath
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
      throw .arrays("\(name): no such file or directory")
    }
    files = isDirectory.boolValue ? try Self.pictures(in: url) : [url]
    for file in files { try Self.checkSignature(file) }
  }

  /// The pictures of `directory`, sorted by the bytes of their names.
  public static func pictures(in directory: URL) throws(LiftKitError) -> [URL] {
    let names: [String]
    do { names = try FileManager.default.contentsOfDirectory(atPath: directory.path) } catch {
      throw .arrays("\(directory.relativePath): cannot list the directory: \((error as NSError).localizedDescription)")
    }
    let pictures = names.filter { n in
      !n.hasPrefix(".") && extensions.contains(URL(fileURLWithPath: n).pathExtension.lowercased())
    }
    .sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
    .map { directory.appendingPathComponent($0) }
    .filter { (try? $0.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true }
    guard !pictures.isEmpty else {
      throw .arrays("\(directory.relativePath): no pictures (*.png, *.jpg, *.jpeg) in the directory; nothing to explain")
    }
    return pictures
  }

  static func checkSignature(_ file: URL) throws(LiftKitError) {
    let name = file.relativePath
    guard let handle = FileHandle(forReadingAtPath: file.path) else { throw .arrays("\(name): cannot open the file for reading") }
    defer { try? handle.close() }
    let head = (try? handle.read(upToCount: 8)) ?? Data()
    guard Image8.isImage(head) else { throw .arrays("\(name): not a PNG or JPEG file (its first bytes are neither signature)") }
  }

  public var shapes: [Shape] { [Shape([files.count] + preprocessing.exampleShape.dimensions)] }

  public func rows(_ range: Range<Int>) throws(LiftKitError) -> [Tensor] {
    [try tensor(range, normalise: true)]
  }

  /// Rows `range` as read: the pictures converted and resized for the model (pixel values
  /// 0…255, not scaled or normalised), in the model's layout; what a heat map is drawn over.
  public func pixels(_ range: Range<Int>) throws(LiftKitError) -> Tensor {
    try tensor(range, normalise: false)
  }

  func tensor(_ range: Range<Int>, normalise: Bool) throws(LiftKitError) -> Tensor {
    var scalars: [Float] = []
    scalars.reserveCapacity(range.count * preprocessing.exampleShape.scalarCount)
    for file in files[range] {
      let picture: Image8
      do { picture = try Image8.read(url: file, maximumPixels: maximumPixels) } catch { throw .arrays(error.description) }
      scalars += preprocessing.scalars(preprocessing.resized(picture), normalise: normalise)
    }
    return Tensor(shape: Shape([range.count] + preprocessing.exampleShape.dimensions), scalars: scalars)
  }
}

/// A per-example reference made by blurring each example of another row source
/// (`--reference blur:SIGMA`): every channel of each example, after scaling and
/// normalisation, filtered by ``gaussianFilter(_:height:width:sigma:)``.
public struct BlurredRows: RowSource {
  /// The rows blurred: `[N, C, H, W]` (`channelsFirst`) or `[N, H, W, C]`.
  public let source: any RowSource
  /// The Gaussian's standard deviation in pixels (> 0).
  public let sigma: Double
  /// Whether the rows are `[N, C, H, W]` (else `[N, H, W, C]`).
  public let channelsFirst: Bool

  /// The rows of `source` blurred with `sigma`.
  ///
  /// - Precondition: `sigma` is finite and positive; `source` has one rank-4 array.
  public init(_ source: any RowSource, sigma: Double, channelsFirst: Bool) {
    precondition(sigma.isFinite && sigma > 0 && source.shapes.count == 1 && source.shapes[0].rank == 4)
    self.source = source
    self.sigma = sigma
    self.channelsFirst = channelsFirst
  }

  public var name: String { "\(source.name) blurred (sigma \(sigma))" }
  public var shapes: [Shape] { source.shapes }

  public func rows(_ range: Range<Int>) throws(LiftKitError) -> [Tensor] {
    let x = try source.rows(range)[0]
    let d = x.shape.dimensions
    let (n, c, h, w) = channelsFirst ? (d[0], d[1], d[2], d[3]) : (d[0], d[3], d[1], d[2])
    var out = x.scalars
    for i in 0..<n {
      for k in 0..<c {
        let index = { (y: Int, xx: Int) in
          self.channelsFirst ? ((i * c + k) * h + y) * w + xx : ((i * h + y) * w + xx) * c + k
        }
        var plane = [Float](repeating: 0, count: h * w)
        for y in 0..<h { for xx in 0..<w { plane[y * w + xx] = x.scalars[index(y, xx)] } }
        let blurred = gaussianFilter(plane, height: h, width: w, sigma: sigma)
        for y in 0..<h { for xx in 0..<w { out[index(y, xx)] = blurred[y * w + xx] } }
      }
    }
    return [Tensor(shape: x.shape, scalars: out)]
  }
}

/// `scipy.ndimage.gaussian_filter(plane, sigma)` of a float32 `height × width` plane (row-
/// major): a 1-D Gaussian along the rows' axis, then along the columns' axis, each with
/// weights `exp(−x² / 2σ²)` for `x` in `−r…r`, `r = ⌊4σ + 0.5⌋` (truncated at 4σ),
/// normalised to sum 1, border mode `reflect` (`d c b a | a b c d | d c b a`), each pass
/// summed in `Double` and rounded to float32 as SciPy does for a float32 array.
///
/// - Precondition: `sigma` is finite and positive; `plane.count == height * width`.
public func gaussianFilter(_ plane: [Float], height: Int, width: Int, sigma: Double) -> [Float] {
  precondition(sigma.isFinite && sigma > 0 && plane.count == height * width)
  let radius = Int(4 * sigma + 0.5)
  var weights = (-radius...radius).map { exp(-0.5 / (sigma * sigma) * Double($0 * $0)) }
  let total = weights.reduce(0, +)
  weights = weights.map { $0 / total }
  func reflect(_ i: Int, _ n: Int) -> Int {
    let period = 2 * n
    var m = i % period
    if m < 0 { m += period }
    return m < n ? m : period - 1 - m
  }
  var pass = plane
  // Axis 0 (down the columns), then axis 1 (along the rows), as scipy loops over the axes.
  var out = [Float](repeating: 0, count: plane.count)
  for y in 0..<height {
    for x in 0..<width {
      var sum = 0.0
      for (j, wgt) in weights.enumerated() { sum += wgt * Double(pass[reflect(y + j - radius, height) * width + x]) }
      out[y * width + x] = Float(sum)
    }
  }
  pass = out
  for y in 0..<height {
    for x in 0..<width {
      var sum = 0.0
      for (j, wgt) in weights.enumerated() { sum += wgt * Double(pass[y * width + reflect(x + j - radius, width)]) }
      out[y * width + x] = Float(sum)
    }
  }
  return out
}
