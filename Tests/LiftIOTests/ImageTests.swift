import Foundation
import LiftIO
import Testing

/// PNG / JPEG decoding, channel conversion and bilinear resizing (issue 16) against Pillow
/// 13.0.0 (Scripts/fixtures/make_image_fixtures.py wrote the pictures and Pillow's readings
/// in Fixtures/images/expected.json).
@Suite struct ImageTests {
  struct Expected: Decodable {
    let mode: String
    let shape: [Int]
    let decoded: [Int]
    let values: [String: [Int]]

    struct Key: CodingKey {
      var stringValue: String
      var intValue: Int? { nil }
      init(stringValue: String) { self.stringValue = stringValue }
      init?(intValue: Int) { nil }
    }

    init(from decoder: any Decoder) throws {
      let c = try decoder.container(keyedBy: Key.self)
      mode = try c.decode(String.self, forKey: Key(stringValue: "mode"))
      shape = try c.decode([Int].self, forKey: Key(stringValue: "shape"))
      decoded = try c.decode([Int].self, forKey: Key(stringValue: "decoded"))
      var v: [String: [Int]] = [:]
      for key in c.allKeys where !["mode", "shape", "decoded"].contains(key.stringValue) {
        v[key.stringValue] = try c.decode([Int].self, forKey: key)
      }
      values = v
    }
  }

  static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/images")
  static let expected: [String: Expected] = {
    let data = try! Data(contentsOf: folder.appendingPathComponent("expected.json"))
    return try! JSONDecoder().decode([String: Expected].self, from: data)
  }()

  static let files = ["grey.png", "grey1.png", "grey16.png", "grey_alpha.png", "rgb.png", "rgb_interlaced.png", "rgba.png", "palette.png", "rgb16.png", "photo.jpg", "grey.jpg"]

  /// The largest |difference| of two sample lists of the same length (Int.max otherwise).
  static func worst(_ a: [UInt8], _ b: [Int]) -> Int {
    guard a.count == b.count else { return .max }
    return zip(a, b).map { abs(Int($0) - $1) }.max() ?? 0
  }

  @Test(arguments: files) func decodesAsPillowDoes(_ name: String) throws {
    let e = try #require(Self.expected[name])
    let image = try Image8.read(url: Self.folder.appendingPathComponent(name))
    #expect([image.height, image.width] == Array(e.shape.prefix(2)))
    // Palette files: Pillow keeps the indices (mode P); compare their RGB conversion instead.
    if e.mode != "P" {
      #expect(image.channels == (e.shape.count == 3 ? e.shape[2] : 1))
      #expect(Self.worst(image.pixels, e.decoded) == 0, "\(name) (\(e.mode))")
    }
    #expect(Self.worst(image.converted(channels: 1).pixels, e.values["L"]!) == 0, "\(name) L")
    #expect(Self.worst(image.converted(channels: 3).pixels, e.values["RGB"]!) == 0, "\(name) RGB")
  }

  @Test(arguments: files) func resizesAsPillowBilinear(_ name: String) throws {
    let image = try Image8.read(url: Self.folder.appendingPathComponent(name))
    let e = try #require(Self.expected[name])
    for (mode, channels) in [("L", 1), ("RGB", 3)] {
      for (h, w) in [(5, 7), (19, 23), (6, 17)] {
        let ours = image.converted(channels: channels).resized(height: h, width: w)
        let theirs = try #require(e.values["\(mode)_\(h)x\(w)"])
        // Within one grey level (Pillow 13 runs the vertical pass first for some shapes).
        #expect(Self.worst(ours.pixels, theirs) <= 1, "\(name) \(mode) \(h)x\(w)")
        // These fixtures' shapes are resized horizontal pass first: bit for bit.
        #expect(Self.worst(ours.pixels, theirs) == 0, "\(name) \(mode) \(h)x\(w)")
      }
    }
  }

  @Test func refusesAHugeHeaderBeforeAllocating() throws {
    #expect {
      try Image8.read(url: Self.folder.appendingPathComponent("huge.png"))
    } throws: { error in
      "\(error)".contains("huge.png") && "\(error)".contains("100000 x 100000 pixels is more than the limit")
    }
  }

  @Test func refusesAHugeJPEGHeaderBeforeAllocating() throws {
    // photo.jpg with its frame header (SOF0: FF C0, length, precision, height, width) set to
    // 60000 × 60000.
    var bytes = try [UInt8](Data(contentsOf: Self.folder.appendingPathComponent("photo.jpg")))
    let sof = try #require((0..<(bytes.count - 1)).first { bytes[$0] == 0xFF && bytes[$0 + 1] == 0xC0 })
    for at in [sof + 5, sof + 7] { (bytes[at], bytes[at + 1]) = (0xEA, 0x60) }
    #expect {
      try Image8.decode(bytes, name: "huge.jpg")
    } throws: { error in "\(error)".contains("60000 x 60000 pixels is more than the limit") }
  }

  @Test(arguments: ["rgb.png", "photo.jpg"]) func refusesTruncatedFiles(_ name: String) throws {
    let bytes = try [UInt8](Data(contentsOf: Self.folder.appendingPathComponent(name)))
    for cut in [bytes.count / 2, bytes.count - 8] {
      #expect(throws: ImageError.self, "\(name) cut at \(cut)") {
        try Image8.decode(Array(bytes.prefix(cut)), name: name)
      }
    }
  }

  /// Damaged files (bytes overwritten at reproducible places) are decoded or refused with an
  /// error, never a crash: libpng's and libjpeg's longjmp error paths stay on the C side.
  @Test(arguments: ["rgb.png", "palette.png", "grey16.png", "photo.jpg", "grey.jpg"]) func damagedFilesNeverCrash(_ name: String) throws {
    let bytes = try [UInt8](Data(contentsOf: Self.folder.appendingPathComponent(name)))
    var state: UInt64 = 0x9E37_79B9_7F4A_7C15
    func next() -> UInt64 {
      state &+= 0x9E37_79B9_7F4A_7C15
      var z = state
      z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
      z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
      return z ^ (z >> 31)
    }
    var refused = 0
    for _ in 0..<300 {
      var damaged = bytes
      for _ in 0..<(1 + Int(next() % 4)) {
        // Past the signature, so that the decoder (not the signature check) meets the damage.
        let at = 8 + Int(next() % UInt64(bytes.count - 8))
        damaged[at] = UInt8(truncatingIfNeeded: next())
      }
      do {
        let image = try Image8.decode(damaged, name: name)
        #expect(image.pixels.count == image.width * image.height * image.channels)
      } catch {
        refused += 1
        #expect(error.description.hasPrefix(name + ": cannot decode"))
      }
    }
    #expect(refused > 0)
  }

  @Test func refusesOtherFiles() throws {
    #expect {
      try Image8.decode(Array("GIF89a......".utf8), name: "x.gif")
    } throws: { error in "\(error)" == "x.gif: not a PNG or JPEG file (its first bytes are neither signature)" }
    #expect(throws: ImageError.self) { try Image8.decode([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13], name: "x.png") }
  }
}
