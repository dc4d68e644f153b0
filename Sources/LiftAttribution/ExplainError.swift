import LiftNN

/// Errors from setting up or running an explanation; each prints as one line.
public enum ExplainError: Error, Equatable, CustomStringConvertible {
  /// Shapes of inputs or references that do not fit the model.
  case graph(GraphError)
  /// `--task` past the end of the flattened target.
  case taskOutOfRange(task: Int, size: Int, target: String)
  /// ``ExplainOptions/contrast`` past the end of the flattened target.
  case contrastOutOfRange(contrast: Int, size: Int, target: String)
  /// References (or background) whose shape does not fit the inputs.
  case referenceShape(input: String, inputShape: [Int], referenceShape: [Int], expected: String)
  /// `genomics-default` could not decide a rule (the original raises the same).
  case unresolvedRule(layer: String, reason: String)
  /// A node cannot be the target or has no rule for this method.
  case unsupported(String)
  /// Inputs given for an explanation disagree among themselves.
  case inputs(String)
  /// An op defined on part of the reals only (log, sqrt, pow with a non-integer exponent)
  /// received a value outside it on the `side` ("input" or "reference") of the pairs: its
  /// forward is NaN or infinite there (as onnxruntime's), so the scores would be.
  case outsideDomain(layer: String, op: String, side: String, value: Float)

  public var description: String {
    func fmt(_ s: [Int]) -> String { "(" + s.map(String.init).joined(separator: ", ") + ")" }
    switch self {
    case .graph(let e): return e.description
    case .taskOutOfRange(let t, let n, let target):
      // An empty target has no valid task: "0...0" would name one.
      guard n > 0 else { return "task \(t): target '\(target)' has no outputs (0 per example), so there is nothing to explain" }
      return "task \(t) is out of range: target '\(target)' has \(n) output(s) per example (valid tasks 0...\(n - 1))"
    case .contrastOutOfRange(let j, let n, let target):
      guard n > 0 else { return "contrast \(j): target '\(target)' has no outputs (0 per example)" }
      return "contrast \(j) is out of range: target '\(target)' has \(n) output(s) per example (valid neurons 0...\(n - 1))"
    case .referenceShape(let input, let i, let r, let expected):
      return "reference for input '\(input)' has shape \(fmt(r)) but the input has shape \(fmt(i)); expected \(expected)"
    case .unresolvedRule(let layer, let reason):
      return "genomics-default cannot choose a rule for layer '\(layer)': \(reason)"
    case .unsupported(let s): return s
    case .inputs(let s): return s
    case .outsideDomain(let layer, let op, let side, let value):
      return
        "layer '\(layer)' (\(op)) is undefined at \(side == "input" ? "an" : "a") \(side): its operand holds \(value), where \(op) is NaN or infinite (in onnxruntime too), so the scores would be; use values inside its domain (log: x > 0, sqrt: x >= 0, pow: x >= 0 for a non-integer exponent, x != 0 for a negative one, reciprocal: x != 0)"
    }
  }
}
