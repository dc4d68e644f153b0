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
  /// Per-example reference arrays (`[N, …]` or `[N, M, …]`, one per model input, read by
  /// ``form(reference:input:)`` like ``arrays(_:)``) read from a row source batch by batch
  /// by ``ModelExplainer/explain(rows:references:into:progress:)``, so that they are never
  /// held whole (a whole-array explanation reads every row first).
  case rows(any RowSource)

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
    case .rows(let source):
      return try ReferenceSet.arrays(source.rows(0..<source.rowCount)).resolve(
        inputs: inputs, inputNames: inputNames, channelAxis: channelAxis)
    case .arrays(let refs):
      guard refs.count == inputs.count else { throw .inputCount(expected: inputNames, found: refs.count) }
      var forms = [InputReference]()
      var kinds = Set<Int>()  // -1 shared, 0 per example, 1 [N, M, …]
      for (k, (x, r)) in zip(inputs, refs).enumerated() {
        guard let form = ReferenceSet.form(reference: r.shape, input: x.shape) else {
          throw .referenceRank(
            input: k < inputNames.count ? inputNames[k] : "#\(k)", inputShape: x.shape.dimensions,
            referenceShape: r.shape.dimensions)
        }
        switch form {
        case .shared: forms.append(.shared(r)); kinds.insert(-1)
        case .perExample: forms.append(.perExample(r)); kinds.insert(0)
        case .multiple: forms.append(.multiple(r)); kinds.insert(1)
        }
      }
      // One form for every input keeps the uniform cases (a shared reference is then
      // propagated once per call); a mix is passed per input.
      switch (kinds.count, kinds.first) {
      case (1, -1): return .shared(refs)
      case (1, 0): return .perExample(refs)
      case (1, 1): return .multiple(refs)
      default: return .perInput(forms)
      }
    }
  }
}

/// How a reference array is read against its input `[N, …]` (CLI.md, "References"): the one
/// place that holds these rank rules.
public enum ReferenceForm: Sendable, Equatable {
  /// The input's rank − 1: one reference shared by every example.
  case shared
  /// The input's rank: one reference per example.
  case perExample
  /// The input's rank + 1, `[N, M, …]`: M references per example, the scores averaged.
  case multiple(Int)

  /// Whether each example has its own reference rows (read with the example's rows).
  public var isPerExample: Bool { self != .shared }
}

extension ReferenceSet {
  /// The form of a reference of shape `reference` for an input of shape `input` (`[N, …]`),
  /// from the ranks alone: rank − 1 shared, the same rank per example, rank + 1 `[N, M, …]`
  /// (M = `reference[1]`); `nil` for any other rank. ``checkedForm(reference:input:)`` also
  /// checks the extents.
  public static func form(reference: Shape, input: Shape) -> ReferenceForm? {
    switch reference.rank - input.rank {
    case -1: return .shared
    case 0: return .perExample
    case 1: return .multiple(reference.rank > 1 ? reference[1] : 1)
    default: return nil
    }
  }

  /// ``form(reference:input:)`` when the extents fit as well: one example's shape (shared),
  /// the input's shape (per example), or `[N, M ≥ 1, …]` with the input's N and example shape;
  /// `nil` otherwise.
  public static func checkedForm(reference r: Shape, input x: Shape) -> ReferenceForm? {
    guard let form = form(reference: r, input: x) else { return nil }
    let example = x.dropFirst.dimensions
    switch form {
    case .shared: return r.dimensions == example ? form : nil
    case .perExample: return r == x ? form : nil
    case .multiple(let m):
      return r[0] == x[0] && m >= 1 && Array(r.dimensions.dropFirst(2)) == example ? form : nil
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
    func shapeCount(_ r: Shape, _ x: Shape) -> (m: Int?, shared: Bool) {
      switch ReferenceSet.form(reference: r, input: x) {
      case .shared: return (nil, true)
      case .multiple(let m): return (m, false)
      case .perExample, nil: return (nil, false)
      }
    }
    var forms: [(m: Int?, shared: Bool)]
    switch self {
    case .zeros: forms = [(nil, true)]
    case .shuffles(let n, _): forms = [(n, false)]
    case .background(let ts): forms = ts.map { count(.background($0)) }
    case .arrays(let ts):
      forms = zip(ts.map(\.shape), inputShapes).map(shapeCount)
    case .rows(let source):
      forms = zip(source.shapes, inputShapes).map(shapeCount)
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
