import Foundation
import Testing

/// The result of running the built `deeplift` binary.
struct CLIResult {
  var status: Int32
  var stdout: String
  var stderr: String
  /// Whether the process ended by calling `exit` (not killed by a signal).
  var exitedNormally = true
  /// Non-empty lines of standard error.
  var stderrLines: [Substring] { stderr.split(separator: "\n") }
}

/// The `deeplift` executable built with these tests.
///
/// Looked up, in order: `$DEEPLIFT_BINARY`; the products directory, found from this target's
/// resource bundle (it sits next to the executable) or from `Bundle.main` (dropping an
/// `.xctest` component, as swift-argument-parser's `debugURL` does); finally any
/// `.build*/{debug,release}/deeplift` under the package root (from `#filePath`), newest first.
/// Works for debug and release builds and any `--scratch-path`.
func deepliftExecutable() throws -> URL {
  let fm = FileManager.default
  if let path = ProcessInfo.processInfo.environment["DEEPLIFT_BINARY"], !path.isEmpty {
    return URL(fileURLWithPath: path)
  }
  var candidates: [URL] = [Bundle.module.bundleURL.deletingLastPathComponent()]
  let main = Bundle.main.bundleURL
  candidates.append(main.pathExtension == "xctest" ? main.deletingLastPathComponent() : main)
  for directory in candidates {
    let url = directory.appendingPathComponent("deeplift")
    if fm.isExecutableFile(atPath: url.path) { return url }
  }
  let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()
  var found: [(URL, Date)] = []
  for scratch in (try? fm.contentsOfDirectory(atPath: root.path)) ?? [] where scratch.hasPrefix(".build") {
    for config in ["debug", "release"] {
      let url = root.appendingPathComponent(scratch).appendingPathComponent(config).appendingPathComponent("deeplift")
      if fm.isExecutableFile(atPath: url.path),
        let date = try? fm.attributesOfItem(atPath: url.path)[.modificationDate] as? Date
      {
        found.append((url, date))
      }
    }
  }
  guard let newest = found.max(by: { $0.1 < $1.1 }) else {
    throw CLITestError("deeplift executable not found next to \(Bundle.module.bundleURL.path)")
  }
  return newest.0
}

struct CLITestError: Error, CustomStringConvertible {
  var description: String
  init(_ description: String) { self.description = description }
}

/// An `environment` key of ``runDeeplift(arguments:in:environment:memoryLimitKB:)`` that is
/// not passed on: its value (KiB) is taken as `memoryLimitKB` (rows of the bad-input matrix
/// set it through their environment).
let memoryLimitKey = "DEEPLIFT_TEST_ULIMIT_V_KIB"

/// Runs `deeplift arguments…` in `directory` and collects its output; with `memoryLimitKB`
/// under `ulimit -v` (RLIMIT_AS) of that many KiB, set in a `/bin/sh` that then execs the
/// tool, so a regression that allocates without bound fails instead of taking the machine.
func runDeeplift(
  arguments: [String], in directory: URL? = nil, environment: [String: String] = [:], memoryLimitKB: Int? = nil
) throws -> CLIResult {
  let process = Process()
  process.executableURL = try deepliftExecutable()
  process.arguments = arguments
  var environment = environment
  let fromEnvironment = environment.removeValue(forKey: memoryLimitKey).flatMap { Int($0) }
  if let kb = memoryLimitKB ?? fromEnvironment {
    process.arguments = ["-c", "ulimit -v \(kb) && exec \"$0\" \"$@\"", process.executableURL!.path] + arguments
    process.executableURL = URL(fileURLWithPath: "/bin/sh")
  }
  if !environment.isEmpty {
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
  }
  if let directory { process.currentDirectoryURL = directory }
  let out = Pipe(), err = Pipe()
  process.standardOutput = out
  process.standardError = err
  process.standardInput = FileHandle.nullDevice
  try process.run()
  // Drain stderr concurrently so neither pipe can fill up and block the child.
  nonisolated(unsafe) var errData = Data()
  let group = DispatchGroup()
  group.enter()
  DispatchQueue.global().async {
    errData = err.fileHandleForReading.readDataToEndOfFile()
    group.leave()
  }
  let outData = out.fileHandleForReading.readDataToEndOfFile()
  group.wait()
  process.waitUntilExit()
  #expect(process.terminationReason == .exit, "deeplift was killed by a signal")
  return CLIResult(
    status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
    stderr: String(decoding: errData, as: UTF8.self), exitedNormally: process.terminationReason == .exit)
}

/// A fresh empty directory.
func makeTemporaryDirectory() throws -> URL {
  let url = FileManager.default.temporaryDirectory
    .appendingPathComponent("deepliftTests-\(UUID().uuidString)", isDirectory: true)
  try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
  return url
}

func cleanup(_ url: URL) { try? FileManager.default.removeItem(at: url) }

func listing(_ directory: URL) throws -> [String] {
  try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
}
