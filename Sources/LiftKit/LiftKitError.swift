import LiftAttribution
import LiftGenomics
import LiftIO
import LiftNN

/// Errors of the LiftKit API; each prints as one line naming the layer, input or shape at
/// fault. Bad files, names and shapes always throw one of these, never trap.
public enum LiftKitError: Error, CustomStringConvertible {
  /// The model file could not be read or converted.
  case model(ModelError)
  /// The explanation could not be set up or run (shapes, tasks, unsupported layers, rules).
  case explain(ExplainError)
  /// Dinucleotide-shuffled references could not be made (not one-hot `[N, L, D]`, bad seed).
  case genomics(GenomicsError)
  /// A layer name that is not in the model; `role` says what it was given for (`target`,
  /// `layer`).
  case noSuchLayer(name: String, role: String, layers: [String])
  /// A tensor of the model file that the imported graph holds only in another element order
  /// (an ONNX activation between channels-last ops is kept channels-last, under
  /// `internalName`): naming it would give values and task indices in the wrong order, so it
  /// is refused.
  case layoutDiffers(name: String, role: String, internalName: String)
  /// An input name that is not one of the model's inputs.
  case unknownInput(name: String, inputs: [String])
  /// A model input that was not given.
  case missingInput(name: String, inputs: [String])
  /// The wrong number of input arrays for the model.
  case inputCount(expected: [String], found: Int)
  /// A reference array whose rank is neither the input's rank − 1 (shared), the input's rank
  /// (one per example) nor its rank + 1 (`[N, M, …]`).
  case referenceRank(input: String, inputShape: [Int], referenceShape: [Int])
  /// Shuffled references asked for a model with several inputs.
  case shufflesNeedSingleInput(inputs: [String])
  /// `TaskSelection.all` on a target without outputs, or an empty selection.
  case emptyTaskSelection(target: String)
  /// The same layer requested twice.
  case duplicateLayer(String)
  /// A model of a ``ModelEnsemble`` does not match the first one (inputs, layout, target,
  /// method or options).
  case modelMismatch(model: String, reason: String)
  /// A `.npy` / `.npz` file could not be read or written (the message names the file).
  case arrays(String)
  /// A file could not be read or written, or an output would replace an input or another
  /// output (LiftIO's error, which names the file).
  case file(NumpyIOError)

  /// One line naming the layer, input, shape or file at fault.
  public var description: String {
    func shape(_ s: [Int]) -> String { "(" + s.map(String.init).joined(separator: ", ") + ")" }
    switch self {
    case .model(let e): return e.description
    case .explain(let e): return e.description
    case .genomics(let e): return e.description
    case .noSuchLayer(let name, let role, let layers):
      let shown = layers.prefix(12).joined(separator: ", ") + (layers.count > 12 ? ", …" : "")
      return "\(role) '\(name)': no such layer in the model (layers: \(shown))"
    case .layoutDiffers(let name, let role, let internalName):
      return "\(role) '\(name)': this tensor is held in another layout inside the imported graph "
        + "(channels-last), so its values and task indices would not be in the model file's order; "
        + "name '\(internalName)' to use that internal layout, or a tensor at a layout boundary "
        + "(e.g. the model's output or a flatten's output)"
    case .unknownInput(let name, let inputs):
      return "'\(name)' is not a model input (inputs: \(inputs.joined(separator: ", ")))"
    case .missingInput(let name, _):
      return "model input '\(name)' is missing"
    case .inputCount(let expected, let found):
      return
        "the model has \(expected.count) input(s) (\(expected.joined(separator: ", "))) but \(found) array(s) were given"
    case .referenceRank(let input, let i, let r):
      return
        "reference for input '\(input)' has shape \(shape(r)) but the input has shape \(shape(i)): give one example's shape, the input's shape, or [N, M, …]"
    case .shufflesNeedSingleInput(let inputs):
      return "shuffled references need a single-input model (inputs: \(inputs.joined(separator: ", ")))"
    case .emptyTaskSelection(let target):
      return "task all: the target '\(target)' has no outputs"
    case .duplicateLayer(let name):
      return "layer '\(name)' is requested twice"
    case .modelMismatch(let model, let reason):
      return "\(model): cannot be averaged with the other models: \(reason)"
    case .arrays(let message):
      return message
    case .file(let error):
      return error.description
    }
  }
}
