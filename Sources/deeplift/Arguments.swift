import ArgumentParser
import Foundation
import LiftAttribution
import LiftKit

// MARK: - Enumerations from the library, by their CLI names (raw values)

extension AttributionMethod: ExpressibleByArgument {}
extension IntegrationRule: ExpressibleByArgument {}
extension MaxPoolRule: ExpressibleByArgument {}

// MARK: - FILE and NAME=FILE

/// One value of `--input`, `--reference` or `--background`: `FILE`, or `NAME=FILE` for a
/// model with several inputs (NAME is the model's input name).
///
/// The value is split at its first `=`; a file whose name contains `=` therefore needs the
/// `NAME=` prefix. `=FILE` and `NAME=` are malformed (usage error).
struct FileArgument: ExpressibleByArgument, Equatable, Sendable {
  /// The model input this file is for, or `nil` for the plain `FILE` form.
  var name: String?
  var path: String

  init(name: String?, path: String) {
    self.name = name
    self.path = path
  }

  init?(argument: String) {
    guard !argument.isEmpty else { return nil }
    if let eq = argument.firstIndex(of: "=") {
      let name = String(argument[..<eq])
      let path = String(argument[argument.index(after: eq)...])
      guard !name.isEmpty, !path.isEmpty else { return nil }
      self.init(name: name, path: path)
    } else {
      self.init(name: nil, path: argument)
    }
  }
}

/// The files given for the model inputs (or their references): one plain file for a
/// single-input model, or one `NAME=FILE` per input.
enum FileSet: Equatable, Sendable {
  /// `--input X.npy`.
  case single(path: String)
  /// `--input a=A.npy --input b=B.npy`, in command-line order.
  case named([(name: String, path: String)])

  static func == (a: FileSet, b: FileSet) -> Bool {
    switch (a, b) {
    case (.single(let x), .single(let y)): return x == y
    case (.named(let x), .named(let y)): return x.map(\.name) == y.map(\.name) && x.map(\.path) == y.map(\.path)
    default: return false
    }
  }

  /// Every path, in order.
  var paths: [String] {
    switch self {
    case .single(let path): return [path]
    case .named(let pairs): return pairs.map(\.path)
    }
  }

  /// Builds the set from repeated option values.
  ///
  /// - Parameter option: the option's name for messages (`--input`).
  /// - Returns: `nil` when `values` is empty.
  /// - Throws: `ValidationError` (usage, exit 2) for several plain files, a mix of the two
  ///   forms, or a repeated NAME.
  static func make(_ values: [FileArgument], option: String) throws -> FileSet? {
    guard let first = values.first else { return nil }
    if values.count == 1, first.name == nil { return .single(path: first.path) }
    var pairs: [(name: String, path: String)] = []
    for value in values {
      guard let name = value.name else {
        throw ValidationError(
          "\(option) '\(value.path)': give one FILE, or NAME=FILE once per model input")
      }
      guard !pairs.contains(where: { $0.name == name }) else {
        throw ValidationError("\(option) names input '\(name)' twice")
      }
      pairs.append((name, value.path))
    }
    return .named(pairs)
  }
}

// MARK: - --task

/// `--task`: `K`, a list `0,3,7`, `all` or `profile` (LiftKit's ``TaskSelection``).
extension TaskSelection: ExpressibleByArgument {
  public init?(argument: String) { self.init(parsing: argument) }

  public var defaultValueDescription: String {
    switch self {
    case .all: return "all"
    case .profile: return "profile"
    case .indices(let i): return i.map(String.init).joined(separator: ",")
    }
  }

  public static var defaultCompletionKind: CompletionKind { .default }
}

// MARK: - Options shared by every command

/// `--threads` and `--quiet`.
struct CommonOptions: ParsableArguments {
  // Numeric options read their value unconditionally, so `--threads -1` reaches validate()
  // ("must be at least 1") instead of ArgumentParser's "Missing value" (a leading `-`
  // would read as an option); so do --batch-size, --contrast, --steps and the others.
  @Option(parsing: .unconditional, help: "Worker threads for the numeric kernels (default: all cores).")
  var threads: Int?

  @Flag(name: .shortAndLong, help: "Print nothing but warnings and errors.")
  var quiet = false

  func validate() throws {
    if let threads, threads < 1 { throw ValidationError("--threads must be at least 1, got \(threads)") }
  }

  /// Prints a progress note on standard error unless `--quiet` (warnings use `note(_:)`,
  /// which `--quiet` does not silence).
  func note(_ message: String) {
    guard !quiet else { return }
    var err = StandardError()
    print(message, to: &err)
  }
}

/// Standard error as a `print(_:to:)` target.
struct StandardError: TextOutputStream {
  mutating func write(_ string: String) {
    FileHandle.standardError.write(Data(string.utf8))
  }
}
