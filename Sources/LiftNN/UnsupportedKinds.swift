/// The unsupported operator types (ONNX) or layer classes (Keras) of a model, each with the
/// nodes or layers that use it, in the order first met — so that a refusal names every
/// blocker at once instead of the first.
///
/// ``description(noun:)`` lists them on one line: `LSTM (node lstm_1), Resize (nodes up1, up2)`.
public struct UnsupportedKinds: Equatable, Sendable {
  /// One unsupported kind and the names of its users.
  public struct Entry: Equatable, Sendable {
    public var kind: String
    public var names: [String]

    public init(kind: String, names: [String]) {
      self.kind = kind
      self.names = names
    }
  }

  public private(set) var entries: [Entry] = []

  public init(_ entries: [Entry] = []) { self.entries = entries }

  /// Records that `name` uses the unsupported `kind`.
  public mutating func add(kind: String, name: String) {
    if let i = entries.firstIndex(where: { $0.kind == kind }) {
      entries[i].names.append(name)
    } else {
      entries.append(Entry(kind: kind, names: [name]))
    }
  }

  /// Number of nodes or layers recorded, all kinds together.
  public var count: Int { entries.reduce(0) { $0 + $1.names.count } }

  public var isEmpty: Bool { entries.isEmpty }

  /// The totals, `4 nodes of 3 operator types`: ``count`` `noun`s of `entries.count`
  /// `kindNoun`s (both singular; an `s` is added for counts other than 1).
  public func totals(noun: String, kindNoun: String) -> String {
    func plural(_ n: Int, _ word: String) -> String { "\(n) \(n == 1 ? word : word + (word.hasSuffix("s") ? "es" : "s"))" }
    return "\(plural(count, noun)) of \(plural(entries.count, kindNoun))"
  }

  /// `KIND (noun NAME), KIND (nouns NAME1, NAME2)`; `noun` is singular (`node`, `layer`).
  public func description(noun: String) -> String {
    entries.map { e in
      "\(e.kind) (\(e.names.count == 1 ? noun : noun + "s") \(e.names.joined(separator: ", ")))"
    }.joined(separator: ", ")
  }
}
