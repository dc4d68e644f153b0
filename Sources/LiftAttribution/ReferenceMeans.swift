import LiftTensor

/// The running sums over each example's M references of one batch, filled chunk of
/// references after chunk (``Explainer/explainBatch(_:refs:range:cached:tasks:extraKinds:chunk:)``)
/// and turned into the means once all M are in.
///
/// Every element is the float32 sum `((0 + s₀) + s₁) + … + s_{M−1}` in reference order, then
/// divided by M (when M > 1): the same operations, in the same order, whether the references
/// come in one chunk or several, so chunking never changes a bit. The summation check's
/// sums are float64, in the same order.
struct ReferenceMeans {
  /// Which output a tensor of pair scores belongs to.
  enum Slot {
    /// Input `k`'s main scores.
    case input(Int)
    /// Input `k`'s scores of the `e`-th additional kind.
    case extra(Int, Int)
    /// The `i`-th requested layer.
    case layer(Int)
  }

  /// One output's per-example shape and its sums, `[b, T, …]` flattened.
  struct Sums {
    var inner: Shape
    var scalars: [Float]
  }

  let examples: Int
  /// M, the references per example (1 for gradient methods).
  let references: Int
  let tasks: Int
  private var inputs: [Sums?]
  private var extras: [[Sums?]]
  private var layers: [Sums?]
  /// DeepLIFT: per example and task (example-major), Σ over references of the summed
  /// contributions over every input.
  var contributionSums: [Double]
  /// DeepLIFT: per example and task, Σ over references of `t(x) − t(r)` (minus the contrast's).
  var targetDeltaSums: [Double]

  init(examples: Int, references: Int, tasks: Int, inputs: Int, layers: Int, extraKinds: Int) {
    self.examples = examples
    self.references = references
    self.tasks = tasks
    self.inputs = Array(repeating: nil, count: inputs)
    extras = Array(repeating: Array(repeating: nil, count: inputs), count: extraKinds)
    self.layers = Array(repeating: nil, count: layers)
    contributionSums = Array(repeating: 0, count: examples * tasks)
    targetDeltaSums = Array(repeating: 0, count: examples * tasks)
  }

  private subscript(slot: Slot) -> Sums? {
    get {
      switch slot {
      case .input(let k): return inputs[k]
      case .extra(let e, let k): return extras[e][k]
      case .layer(let i): return layers[i]
      }
    }
    set {
      switch slot {
      case .input(let k): inputs[k] = newValue
      case .extra(let e, let k): extras[e][k] = newValue
      case .layer(let i): layers[i] = newValue
      }
    }
  }

  /// Adds pair scores `[T·b·R, …]` (row `(t·b + e)·R + i`: task t, example e, the chunk's
  /// i-th reference) of a chunk of R references to the sums, reference after reference.
  mutating func add(_ perPair: Tensor, to slot: Slot, chunk r: Int) {
    let inner = perPair.shape.dropFirst
    let size = inner.scalarCount
    let (b, tasks) = (examples, self.tasks)
    var sums = self[slot] ?? Sums(inner: inner, scalars: [Float](repeating: 0, count: b * tasks * size))
    self[slot] = nil  // unique, so the update below does not copy
    sums.scalars.withUnsafeMutableBufferPointer { out in
      perPair.withUnsafeBufferPointer { src in
        for task in 0..<tasks {
          for e in 0..<b {
            let dst = (e * tasks + task) * size
            for i in 0..<r {
              let row = (task * b + e) * r + i
              for q in 0..<size { out[dst + q] += src[row * size + q] }
            }
          }
        }
      }
    }
    self[slot] = sums
  }

  /// Makes `slot` all zeros of per-example shape `inner` (no multiplier reached it).
  mutating func addZeros(_ inner: Shape, to slot: Slot) {
    if self[slot] == nil {
      self[slot] = Sums(inner: inner, scalars: [Float](repeating: 0, count: examples * tasks * inner.scalarCount))
    }
  }

  /// `[b, (T,) …]`: the sums divided by M.
  private func mean(_ sums: Sums?) -> Tensor {
    guard let sums else { return .zeros(Shape([examples] + (tasks > 1 ? [tasks] : []))) }
    var out = sums.scalars
    if references > 1 {
      let m = Float(references)
      for i in out.indices { out[i] /= m }
    }
    return Tensor(shape: Shape([examples] + (tasks > 1 ? [tasks] : []) + sums.inner.dimensions), scalars: out)
  }

  /// The means per input, the summation check (DeepLIFT: `|Σ scores − Δ|` and `|Δ|` per
  /// example and task, both averaged over the references; NaN when either is not finite),
  /// the layers' means and the additional kinds' means per input.
  func finish(isDeepLIFT: Bool) -> ([Tensor], (errors: [Float], deltas: [Float]), [Tensor], [[Tensor]]) {
    var errors = [Float](), deltas = [Float]()
    if isDeepLIFT {
      let m = Double(references)
      for (s, d) in zip(contributionSums, targetDeltaSums) {
        let error = abs(s - d) / m
        errors.append(s.isFinite && d.isFinite ? Float(error) : .nan)
        deltas.append(Float(abs(d) / m))
      }
    }
    return (inputs.map(mean), (errors, deltas), layers.map(mean), extras.map { $0.map(mean) })
  }
}
