import LiftAttribution

/// A known reason for DeepLIFT scores that miss summation-to-delta.
public enum SummationCause: Sendable, Equatable, CustomStringConvertible {
  /// Max pooling under the original's rule (`gradient` max-pool rule): the multiplier goes to
  /// the input's window maximum, so where a reference's maximum sits elsewhere in a window
  /// the contributions miss `Δ`. `--maxpool deepshap` keeps summation-to-delta.
  case maxPoolGradientRule(layers: [String])
  /// A NaN or infinity in the contributions or in `f(x) − f(ref)`.
  case nonFinite

  /// One sentence for a `warning:` line: what breaks it and, where there is one, the remedy.
  public var description: String {
    switch self {
    case .maxPoolGradientRule(let layers):
      let shown = layers.prefix(3).map { "'\($0)'" }.joined(separator: ", ") + (layers.count > 3 ? ", …" : "")
      return
        "max pooling (\(shown)) under the gradient rule with references that differ from the input in pooled windows; the deepshap rule (--maxpool deepshap) keeps summation-to-delta"
    case .nonFinite:
      return "a NaN or infinity in the scores or in f(x) - f(ref)"
    }
  }
}

/// The summation-to-delta check of a DeepLIFT explanation: which examples' contributions
/// miss `Δ = f(x) − f(ref)` of the target (per task; with a contrast, `Δf_K − Δf_J`) by more
/// than `1e-3 · max(1, |Δ|)` (``tolerance``).
///
/// An error or `Δ` that is NaN (a NaN or infinity in the scores or the target) counts as a
/// miss and is reported as NaN, never as 0. Reports of consecutive batches of one run
/// combine with ``append(_:)``.
public struct SummationReport: Sendable, Equatable {
  /// One example's worst miss.
  public struct Miss: Sendable, Equatable {
    /// The example's index in the run.
    public var example: Int
    /// The explained neuron (one of ``Attribution/tasks``).
    public var task: Int
    /// `|Σ contributions − Δ|` (NaN when not finite).
    public var error: Float
    /// `|Δ|`.
    public var delta: Float

    /// A miss of `example` on `task` by `error` where `|Δ|` is `delta`.
    public init(example: Int, task: Int, error: Float, delta: Float) {
      self.example = example
      self.task = task
      self.error = error
      self.delta = delta
    }
  }

  /// The relative tolerance: an example misses when its error exceeds
  /// `tolerance · max(1, |Δ|)` for some task.
  public static let tolerance: Float = 1e-3

  /// Whether `error` (`|Σ contributions − Δ|`) misses the tolerance for `delta` (`|Δ|`);
  /// true for a NaN in either.
  public static func misses(error: Float, delta: Float) -> Bool {
    error.isNaN || delta.isNaN || !(error <= tolerance * max(1, delta))
  }

  /// Examples checked (0 for gradient methods, which have no such guarantee).
  public private(set) var examples = 0
  /// The indices of the examples that miss, ascending.
  public private(set) var missingExamples: [Int] = []
  /// The largest error over every example and task (NaN when any is NaN; 0 when none).
  public private(set) var worstError: Float = 0
  /// The miss with the largest error relative to its tolerance, `error / max(1, |Δ|)` (a NaN
  /// first); nil when nothing misses.
  public private(set) var worstMiss: Miss? = nil
  /// What the explainer knows can break summation-to-delta on this model (max pooling under
  /// the gradient rule), whether or not anything missed.
  public private(set) var possibleCause: SummationCause? = nil

  /// The likely reason for the misses: ``SummationCause/nonFinite`` when the worst is NaN,
  /// else ``possibleCause``; nil when nothing misses or the reason is not known.
  public var cause: SummationCause? {
    guard let worstMiss else { return nil }
    return worstMiss.error.isNaN || worstMiss.delta.isNaN ? .nonFinite : possibleCause
  }

  /// An empty report (no examples), to ``append(_:)`` batches to.
  public init(possibleCause: SummationCause? = nil) {
    self.possibleCause = possibleCause
  }

  /// The report of one run.
  ///
  /// - Parameters:
  ///   - errors: `|Σ contributions − Δ|` per example and task, `[N, T]` flattened
  ///     example-major (``Attribution/summationErrors``).
  ///   - deltas: `|Δ|`, laid out like `errors`.
  ///   - tasks: the T explained neurons.
  ///   - possibleCause: see ``possibleCause``.
  /// - Precondition: `errors.count == deltas.count`, a multiple of `tasks.count`.
  public init(errors: [Float], deltas: [Float], tasks: [Int], possibleCause: SummationCause? = nil) {
    precondition(errors.count == deltas.count, "one |Δ| per error")
    self.possibleCause = possibleCause
    let t = max(tasks.count, 1)
    examples = errors.count / t
    for e in 0..<examples {
      var missed = false
      for ti in 0..<t {
        let i = e * t + ti
        let (error, delta) = (errors[i], deltas[i])
        if error.isNaN || worstError.isNaN {
          worstError = .nan
        } else {
          worstError = max(worstError, error)
        }
        guard Self.misses(error: error, delta: delta) else { continue }
        missed = true
        let miss = Miss(example: e, task: ti < tasks.count ? tasks[ti] : ti, error: error, delta: delta)
        if worstMiss.map({ Self.ranks(miss, above: $0) }) ?? true { worstMiss = miss }
      }
      if missed { missingExamples.append(e) }
    }
  }

  /// Adds the report of the next examples of the same run (their indices follow this
  /// report's).
  public mutating func append(_ next: SummationReport) {
    let offset = examples
    examples += next.examples
    missingExamples += next.missingExamples.map { $0 + offset }
    worstError = worstError.isNaN || next.worstError.isNaN ? .nan : max(worstError, next.worstError)
    if var miss = next.worstMiss {
      miss.example += offset
      if worstMiss.map({ Self.ranks(miss, above: $0) }) ?? true { worstMiss = miss }
    }
    possibleCause = possibleCause ?? next.possibleCause
  }

  /// Whether `a` is a worse miss than `b`: a NaN first, then the larger
  /// `error / max(1, |Δ|)`; ties keep `b` (the earlier).
  static func ranks(_ a: Miss, above b: Miss) -> Bool {
    let na = a.error.isNaN || a.delta.isNaN, nb = b.error.isNaN || b.delta.isNaN
    if na || nb { return na && !nb }
    return a.error / max(1, a.delta) > b.error / max(1, b.delta)
  }
}
