import Foundation
import Testing

/// `Examples/TopPositions` on the bundled genomics model (Examples/genomics, made by
/// Examples/genomics/make_model.py): the most important bases of the sequences that hold a
/// GATA motif are bases of that motif (positions recorded in sequences.json).
@Suite("deeplift-example-top-positions")
struct ExampleTests {
  struct Motif: Decodable { var motif: String; var start: Int; var end: Int }
  struct Sequence: Decodable { var motifs: [Motif] }
  struct Manifest: Decodable { var sequences: [Sequence] }

  @Test func topPositionsAreMotifBases() throws {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .deletingLastPathComponent()
    let genomics = root.appendingPathComponent("Examples/genomics")
    let executable = try deepliftExecutable().deletingLastPathComponent()
      .appendingPathComponent("deeplift-example-top-positions")
    try #require(FileManager.default.isExecutableFile(atPath: executable.path), "\(executable.path)")
    let process = Process()
    process.executableURL = executable
    process.arguments = [
      genomics.appendingPathComponent("model.h5").path, genomics.appendingPathComponent("sequences.npy").path,
      "--task", "0", "--top", "3",
    ]
    let out = Pipe()
    process.standardOutput = out
    process.standardError = Pipe()
    try process.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    #expect(process.terminationStatus == 0)
    let text = String(decoding: data, as: UTF8.self)
    let manifest = try JSONDecoder().decode(
      Manifest.self, from: Data(contentsOf: genomics.appendingPathComponent("sequences.json")))
    var checked = 0
    for line in text.split(separator: "\n") where line.hasPrefix("sequence ") {
      let parts = line.dropFirst("sequence ".count).split(separator: ":", maxSplits: 1)
      guard let index = Int(parts[0]) else { continue }
      let gata = manifest.sequences[index].motifs.filter { $0.motif == "GATA" }
      guard !gata.isEmpty else { continue }
      let positions = parts[1].split(separator: ",").compactMap { item in
        Int(item.trimmingCharacters(in: .whitespaces).prefix { $0.isNumber })
      }
      #expect(positions.count == 3)
      for p in positions {
        #expect(gata.contains { (($0.start)..<($0.end)).contains(p) }, "sequence \(index): \(line)")
      }
      checked += 1
    }
    #expect(checked == 10, "\(text)")
    #expect(text.contains("worst |sum(scores) - delta|"))
  }
}
