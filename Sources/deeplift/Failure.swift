import ArgumentParser
import Foundation
import LiftIO
import LiftKit

#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

/// Exit statuses of the `deeplift` tool.
///
/// - `0`: success (also `--help`, `--version`).
/// - `1`: bad data or environment: an unreadable, truncated or malformed file, a shape or
///   dtype mismatch, an unsupported layer, a task out of range, an unwritable output.
/// - `2`: bad usage: an unknown option or method, a malformed `NAME=FILE` or `--task`, a
///   missing required argument, an out-of-range numeric option.
enum ExitStatus {
  static let success: Int32 = 0
  static let dataError: Int32 = 1
  static let usageError: Int32 = 2
}

/// An error the tool reports as one line, `error: <message>`, exiting with `code`.
///
/// Library errors (``LiftIO/NumpyIOError`` and the other typed errors of the package) need no
/// wrapping: they are reported the same way with exit status 1. Use this type for problems
/// the command itself detects.
struct CLIError: Error, CustomStringConvertible {
  var message: String
  var code: Int32

  /// A usage problem (exit status 2).
  static func usage(_ message: String) -> CLIError { CLIError(message: message, code: ExitStatus.usageError) }
  /// A problem with the data or the files (exit status 1).
  static func data(_ message: String) -> CLIError { CLIError(message: message, code: ExitStatus.dataError) }

  var description: String { message }
}

/// Prints `error: <message>` (one line) on standard error and exits with `code`.
func fail(_ message: String, code: Int32 = ExitStatus.dataError) -> Never {
  FileHandle.standardError.write(Data("error: \(oneLine(message))\n".utf8))
  exit(code)
}

/// Collapses a possibly multi-line message into one line; a bulleted list (`- a`, `- b`)
/// becomes `a, b`.
func oneLine(_ message: String) -> String {
  let lines = message.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
    .filter { !$0.isEmpty }
  var result = ""
  var inList = false
  for line in lines {
    if line.hasPrefix("- ") {
      result += (inList ? ", " : " ") + line.dropFirst(2)
      inList = true
    } else {
      result += result.isEmpty ? line : (inList ? "; " : " ") + line
      inList = false
    }
  }
  return result
}

/// Reports any error thrown while parsing or running a command and exits:
///
/// - ``CLIError``: its message and code;
/// - help and version requests (`CleanExit`): the text on standard output, status 0;
/// - argument-parsing and `ValidationError` failures: one line, status 2 (ArgumentParser's
///   own default would be 64 with the usage text);
/// - `ExitCode` thrown on purpose: that status, nothing printed;
/// - anything else (the library's typed errors): its description on one line, status 1.
func exitReporting(_ error: any Error) -> Never {
  if let error = error as? CLIError { fail(error.message, code: error.code) }
  // An output that would overwrite an input or another output: the command line is at fault.
  if let error = error as? NumpyIOError, case .sameFile = error { fail(error.description, code: ExitStatus.usageError) }
  if let error = error as? LiftKitError, case .file(let e) = error, case .sameFile = e {
    fail(e.description, code: ExitStatus.usageError)
  }
  if let code = error as? ExitCode { exit(code.rawValue) }
  let code = DeepLift.exitCode(for: error)
  if code == .success {
    print(DeepLift.fullMessage(for: error))
    exit(ExitStatus.success)
  }
  let message = DeepLift.message(for: error)
  if code == .validationFailure { fail(message, code: ExitStatus.usageError) }
  fail(message.isEmpty ? "\(error)" : message, code: code == .failure ? ExitStatus.dataError : code.rawValue)
}

// MARK: - File checks done before any work

/// Checks that `path` names a readable regular file, without blocking (LiftIO's
/// `checkRegularFile`: a named pipe, a device or a directory is refused before it is opened).
///
/// - Throws: ``CLIError/data(_:)`` naming the file (`x.npy: no such file`,
///   `p.npy: not a regular file (a named pipe)`).
func requireReadableFile(_ path: String) throws(CLIError) {
  do throws(NumpyIOError) { try checkRegularFile(path) } catch {
    guard case .cannotOpen(_, let reason) = error else { throw .data(error.description) }
    throw .data("\(path): \(reason)")
  }
}
