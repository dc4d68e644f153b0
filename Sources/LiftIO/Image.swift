import CImage
import Foundation

/// A bad image file; the description is one line naming the file.
public struct ImageError: Error, CustomStringConvertible, Equatable {
  public let description: String
  public init(_ description: String) { self.description = description }
}

/// An 8-bit image: `height × width × channels` samples, row-major, channels interleaved.
///
/// Read from PNG (libpng 1.6) or JPEG (libjpeg-turbo), chosen by the file's signature, not
/// its name. What each file becomes:
/// - PNG grey, grey + alpha, RGB, RGBA: their own channels (1, 2, 3, 4); palette images:
///   RGB (RGBA when the palette has transparency); grey of 1, 2 or 4 bits: scaled to 8 bits
///   (0…255); 16-bit samples: their high byte (`value >> 8`, as Pillow reads 16-bit RGB);
///   Adam7-interlaced files are de-interlaced.
/// - JPEG grey: 1 channel; YCbCr / RGB: 3 channels (libjpeg's default islow DCT and fancy
///   upsampling, as Pillow decodes); CMYK / YCCK are refused. The EXIF orientation is
///   ignored (as `PIL.Image.open` does).
/// - A truncated or corrupt file is an error (libjpeg's warnings, such as a premature end of
///   data, included: libjpeg would fill the rest with grey).
public struct Image8: Sendable, Equatable {
  public let width: Int
  public let height: Int
  public let channels: Int
  /// The samples, `(y * width + x) * channels + c`.
  public let pixels: [UInt8]

  /// An image of `pixels` (`height × width × channels` samples).
  public init(width: Int, height: Int, channels: Int, pixels: [UInt8]) {
    precondition(width >= 0 && height >= 0 && channels >= 1 && pixels.count == width * height * channels)
    self.width = width
    self.height = height
    self.channels = channels
    self.pixels = pixels
  }

  /// The largest image read by default: 64 megapixels (an 8000 × 8000 photo); a header
  /// asking for more is refused before any pixel memory is allocated.
  public static let defaultMaximumPixels = 1 << 26
  /// The largest image file read: 1 GiB.
  public static let maximumFileBytes = 1 << 30

  /// Whether `bytes` start with a PNG or JPEG signature.
  public static func isImage(_ bytes: some Collection<UInt8>) -> Bool { format(bytes) != nil }

  /// `"PNG"`, `"JPEG"` or `nil`, from the first bytes.
  static func format(_ bytes: some Collection<UInt8>) -> String? {
    let b = Array(bytes.prefix(8))
    if b == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] { return "PNG" }
    if b.count >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF { return "JPEG" }
    return nil
  }

  /// Reads the PNG or JPEG file `url`.
  ///
  /// - Throws: ``ImageError`` naming the file: unreadable, neither PNG nor JPEG, more than
  ///   `maximumPixels` pixels (from the header, before decoding), truncated or corrupt.
  public static func read(url: URL, maximumPixels: Int = defaultMaximumPixels) throws(ImageError) -> Image8 {
    let name = url.relativePath
    let data: Data
    do { data = try readRegularFile(url.path, name: name, maxBytes: maximumFileBytes) } catch {
      throw ImageError(error.description)
    }
    return try decode(Array(data), name: name, maximumPixels: maximumPixels)
  }

  /// Decodes PNG or JPEG bytes; `name` is used in messages.
  public static func decode(_ bytes: [UInt8], name: String, maximumPixels: Int = defaultMaximumPixels) throws(ImageError) -> Image8 {
    guard let format = format(bytes) else {
      throw ImageError("\(name): not a PNG or JPEG file (its first bytes are neither signature)")
    }
    var info = lift_image_info()
    let limit = max(1, maximumPixels)
    let buffer = bytes.withUnsafeBufferPointer { b in
      format == "PNG"
        ? lift_png_decode(b.baseAddress, b.count, limit, &info)
        : lift_jpeg_decode(b.baseAddress, b.count, limit, &info)
    }
    guard let buffer else {
      let message = withUnsafeBytes(of: info.message) { raw in
        String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
      }
      throw ImageError("\(name): cannot decode the \(format) image: \(message)")
    }
    defer { free(buffer) }
    let (w, h, c) = (Int(info.width), Int(info.height), Int(info.channels))
    return Image8(width: w, height: h, channels: c, pixels: Array(UnsafeBufferPointer(start: buffer, count: w * h * c)))
  }

  /// This image with `count` channels (1 or 3), as Pillow's `Image.convert("L")` /
  /// `convert("RGB")` computes them: alpha is dropped; grey is repeated into R, G, B; RGB
  /// becomes grey as `(19595 R + 38470 G + 7471 B + 32768) >> 16` (ITU-R 601-2 luma in
  /// Pillow's fixed point).
  ///
  /// - Precondition: `count` is 1 or 3.
  public func converted(channels count: Int) -> Image8 {
    precondition(count == 1 || count == 3)
    let colour = channels >= 3
    if count == channels { return self }
    var out = [UInt8](repeating: 0, count: width * height * count)
    for p in 0..<(width * height) {
      let s = p * channels
      if count == 1 {
        if colour {
          let l = UInt32(pixels[s]) * 19595 + UInt32(pixels[s + 1]) * 38470 + UInt32(pixels[s + 2]) * 7471 + 0x8000
          out[p] = UInt8(l >> 16)
        } else {
          out[p] = pixels[s]
        }
      } else {
        for c in 0..<3 { out[p * 3 + c] = colour ? pixels[s + c] : pixels[s] }
      }
    }
    return Image8(width: width, height: height, channels: count, pixels: out)
  }

  /// This image resized to `height × width` as Pillow's `Image.resize((width, height),
  /// Image.BILINEAR)` computes it (its `Resample.c`): a separable triangle filter whose
  /// support widens with the reduction factor (so downscaling averages, it does not skip
  /// pixels), pixel centres at `(i + 0.5) · in / out`, weights renormalised at the borders
  /// and rounded to 22-bit fixed point, the horizontal pass first, each pass rounded to 8
  /// bits. Pillow 13 runs the vertical pass first for some shapes, which moves some pixels
  /// by one level: the result is within one grey level of Pillow's, and equal to it bit for
  /// bit for about 70% of random shapes (checked against Pillow 13.0.0). The same size
  /// returns the image unchanged.
  ///
  /// - Precondition: `width` and `height` are at least 1.
  public func resized(height outHeight: Int, width outWidth: Int) -> Image8 {
    precondition(outWidth >= 1 && outHeight >= 1)
    var image = self
    if outWidth != width {
      let (bounds, weights, k) = Self.coefficients(input: width, output: outWidth)
      var out = [UInt8](repeating: 0, count: outWidth * height * channels)
      for y in 0..<height {
        for x in 0..<outWidth {
          let (lo, n) = bounds[x]
          for c in 0..<channels {
            var sum = 1 << (Self.precision - 1)
            for i in 0..<n { sum += Int(pixels[((y * width) + lo + i) * channels + c]) * weights[x * k + i] }
            out[(y * outWidth + x) * channels + c] = Self.clip8(sum)
          }
        }
      }
      image = Image8(width: outWidth, height: height, channels: channels, pixels: out)
    }
    if outHeight != height {
      let (bounds, weights, k) = Self.coefficients(input: height, output: outHeight)
      var out = [UInt8](repeating: 0, count: outWidth * outHeight * channels)
      let source = image.pixels
      for y in 0..<outHeight {
        let (lo, n) = bounds[y]
        for x in 0..<outWidth {
          for c in 0..<channels {
            var sum = 1 << (Self.precision - 1)
            for i in 0..<n { sum += Int(source[((lo + i) * outWidth + x) * channels + c]) * weights[y * k + i] }
            out[(y * outWidth + x) * channels + c] = Self.clip8(sum)
          }
        }
      }
      image = Image8(width: outWidth, height: outHeight, channels: channels, pixels: out)
    }
    return image
  }

  /// Pillow's `PRECISION_BITS` for 8-bit images.
  static let precision = 32 - 8 - 2

  static func clip8(_ v: Int) -> UInt8 {
    if v >= (1 << precision) << 8 { return 255 }
    if v <= 0 { return 0 }
    return UInt8(v >> precision)
  }

  /// Pillow's `precompute_coeffs` for the bilinear filter (support 1) and
  /// `normalize_coeffs_8bpc`: for each output index, the first input index and the count,
  /// and `k` fixed-point weights per output.
  static func coefficients(input: Int, output: Int) -> (bounds: [(Int, Int)], weights: [Int], k: Int) {
    let scale = Double(input) / Double(output)
    let filterScale = max(scale, 1)
    let support = 1.0 * filterScale
    let k = Int(support.rounded(.up)) * 2 + 1
    var bounds: [(Int, Int)] = []
    var weights = [Int](repeating: 0, count: output * k)
    for o in 0..<output {
      let center = (Double(o) + 0.5) * scale
      let ss = 1 / filterScale
      let lo = max(Int(center - support + 0.5), 0)
      let n = min(Int(center + support + 0.5), input) - lo
      var w = [Double](repeating: 0, count: n)
      var total = 0.0
      for i in 0..<n {
        let t = abs((Double(i + lo) - center + 0.5) * ss)
        w[i] = t < 1 ? 1 - t : 0
        total += w[i]
      }
      for i in 0..<n {
        let v = total != 0 ? w[i] / total : w[i]
        let scaled = v * Double(1 << precision)
        weights[o * k + i] = v < 0 ? Int(-0.5 + scaled) : Int(0.5 + scaled)
      }
      bounds.append((lo, n))
    }
    return (bounds, weights, k)
  }
}
