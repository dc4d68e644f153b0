import LiftAttribution
import LiftGenomics
import LiftTensor

/// Where the references of an explanation come from (see <doc:ChoosingReferences>).
///
/// Arrays are given one per model input, in the model's input order (``Model/inputNames``).
public enum ReferenceSet: Sendable {
  /// All-zero references (the original's default).
  case zeros
  /// Reference arrays, each read by its rank relative to its input `[N, …]`: the input's
  /// rank − 1 is one reference shared by every example, the same rank one reference per
  /// example, and rank + 1 (`[N, M, …]`) M references per example with the scores averaged
  /// over them. Each input takes its own form (a shared reference for one input, per-example
  /// references for another); the inputs with `[N, M, …]` references must agree on M.
  case arrays([Tensor])
  /// A background set `[M, …]` per input: every example is explained against all M rows and
  /// the scores are averaged (Captum `DeepLiftShap`, SHAP `DeepExplainer`). Every input's
  /// background must have the same number M of rows (pair `j` takes row `j` of each).
  case background([Tensor])
  /// `count` dinucleotide shuffles of each one-hot input sequence, drawn exactly like the
  /// original's `dinuc_shuffle` with `numpy.random.RandomState(seed)`; scores are averaged
  /// over them. Single-input models only; the layout follows the model's channel axis.
  case shuffles(count: Int, seed: Int = 0)
  /// The explainer's own form, used as it is.
  case explicit(References)

  /// The references in the explainer's form.
  ///
  /// - Parameters:
  ///   - inputs: the explained inputs, one `[N, …]` tensor per model input.
  ///   - inputNames: the model's input names, for messages.
  ///   - channelAxis: the channel axis of one-hot inputs (−1 channels last, 1 channels
  ///     first), which decides the layout of shuffles.
  /// - Throws: ``LiftKitError/referenceRank(input:inputShape:referenceShape:)``,
  ///   ``LiftKitError/shufflesNeedSingleInput(inputs:)`` or ``LiftKitError/genomics(_:)``.
  ///   Shapes that have the right rank but do not fit, and inputs that disagree on M, are
  ///   reported by ``ModelExplainer/explain(inputs:references:progress:)``.
  public func resolve(inputs: [Tensor], inputNames: [String], channelAxis: Int = -1)
    throws(LiftKitError) -> References
  {
    switch self {
    case .zeros: return .zeros
    case .explicit(let r): return r
    case .background(let ts): return .background(ts)
    case .shuffles(let count, let seed):
      guard inputs.count == 1 else { throw .shufflesNeedSingleInput(inputs: inputNames) }
      let layout: SequenceLayout = channelAxis == 1 ? .ncl : .nlc
      do {
        return .multiple([try shuffledReferences(inputs[0], shuffles: count, seed: seed, layout: layout)])
      } catch {
        throw .genomics(error)
      }
    case .arrays(let refs):
      guard refs.count == inputs.count else { throw .inputCount(expected: inputNames, found: refs.count) }
      var forms = [InputReference]()
      for (k, (x, r)) in zip(inputs, refs).enumerated() {
        switch r.rank - x.rank {
        case -1: forms.append(.shared(r))
        case 0: forms.append(.perExample(r))
        case 1: forms.append(.multiple(r))
        default:
          throw .referenceRank(
            input: k < inputNames.count ? inputNames[k] : "#\(k)", inputShape: x.shape.dimensions,
            referenceShape: r.shape.dimensions)
        }
      }
      // One form for every input keeps the uniform cases (a shared reference is then
      // propagated once per call); a mix is passed per input.
      let ranks = Set(zip(inputs, refs).map { $0.1.rank - $0.0.rank })
      switch (ranks.count, ranks.first) {
      case (1, -1): return .shared(refs)
      case (1, 0): return .perExample(refs)
      case (1, 1): return .multiple(refs)
      default: return .perInput(forms)
      }
    }
  }
}

extension ReferenceSet {
  /// References per example (M) and reference rows shared by every example (propagated once:
  /// 1 for zeros or one shared reference, M for a background, 0 for per-example references),
  /// for inputs of `inputShapes`; read from the shapes only (shuffles are not drawn). What
  /// the memory plan (``ModelExplainer/batchPlan(inputShapes:references:)``) needs.
  func rowCounts(inputShapes: [Shape]) -> (perExample: Int, shared: Int) {
    // Per input: (M it carries or nil for one reference, shared by every example?), as
    // ReferencePlan reads the forms.
    func count(_ form: InputReference) -> (m: Int?, shared: Bool) {
      switch form {
      case .shared: return (nil, true)
      case .perExample: return (nil, false)
      case .multiple(let r): return (r.rank > 1 ? r.shape[1] : 1, false)
      case .background(let r): return (r.rank > 0 ? r.shape[0] : 1, true)
      }
    }
    var forms: [(m: Int?, shared: Bool)]
    switch self {
    case .zeros: forms = [(nil, true)]
    case .shuffles(let n, _): forms = [(n, false)]
    case .background(let ts): forms = ts.map { count(.background($0)) }
    case .arrays(let ts):
      forms = zip(ts, inputShapes).map { r, x in
        switch r.rank - x.rank {
        case -1: return (nil, true)
        case 1: return count(.multiple(r))
        default: return (nil, false)
        }
      }
    case .explicit(let refs):
      switch refs {
      case .zeros: forms = [(nil, true)]
      case .shared(let ts): forms = ts.map { count(.shared($0)) }
      case .perExample(let ts): forms = ts.map { count(.perExample($0)) }
      case .multiple(let ts): forms = ts.map { count(.multiple($0)) }
      case .background(let ts): forms = ts.map { count(.background($0)) }
      case .perInput(let fs): forms = fs.map(count)
      }
    }
    let m = max(forms.compactMap(\.m).first ?? 1, 1)
    return (m, forms.allSatisfy(\.shared) ? m : 0)
  }
}
