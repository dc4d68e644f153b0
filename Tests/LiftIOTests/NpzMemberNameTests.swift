import Foundation
import LiftIO
import LiftTensor
import Testing

/// `.npz` member names made from model names (issue 15): never a path, never hidden.
@Suite("npz member names")
struct NpzMemberNameTests {
  @Test(
    "names become safe members",
    arguments: [
      ("x", "x"), ("conv1/preact", "conv1_preact"), ("../../x", "_.._x"), ("/etc/passwd", "_etc_passwd"),
      ("a\\b", "a_b"), (".hidden", "hidden"), ("...", "_"), ("input.1", "input.1"), ("tab\there", "tab_here"),
      ("größe", "größe"),
    ])
  func sanitised(name: String, member: String) throws {
    #expect(try NumPy.memberNames([name], file: "o.npz") == [member])
  }

  @Test func namesThatBecomeOneMemberAreRefused() {
    #expect(throws: NumpyIOError.self) { try NumPy.memberNames(["a/b", "a_b"], file: "o.npz") }
  }

  /// What `writeArchive` stores: the member names, read back by the reader (as `np.load` would).
  @Test func archiveStoresTheSafeNames() throws {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("npz-names-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    let url = dir.appendingPathComponent("o.npz")
    try NumPy.writeArchive([("../../x", Tensor(scalar: 1)), ("/abs", Tensor(scalar: 2))], to: url)
    #expect(try NumPy.readArchive(url).map(\.name) == ["_.._x", "_abs"])
    #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["o.npz"])
  }
}
