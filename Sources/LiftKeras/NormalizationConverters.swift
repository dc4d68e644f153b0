import LiftNN
import LiftTensor

/// Keras `LayerNormalization` (tf-keras 2 and Keras 3: `axis`, `epsilon` (default 1e-3),
/// `center`, `scale`; weights `gamma`, `beta`) → ``LiftNN/Op/layerNorm(_:)``, and Keras 3
/// `RMSNormalization` (`axis`, `epsilon` (default 1e-6); weight `scale`) →
/// ``LiftNN/Op/rmsNorm(_:)``. The normalised axes must be the trailing axes of the input.
/// Keras 3's `rms_scaling=True` (deprecated there: it scales `x` by the centred variance,
/// `x·(var(x) + ε)^(−1/2)·γ`, which is neither norm) is rejected.
func convertNormalization(_ call: LayerCall, _ cx: inout Conversion, rms: Bool) throws(KerasImportError) -> Value {
  let o = call.options
  let rank = call.input.rank
  let axes = try o.intList("axis") ?? [-1]
  guard !axes.isEmpty else { throw o.invalid("empty axis list") }
  var perExample = [Int]()
  for a in axes {
    let full = a < 0 ? a + rank + 1 : a
    guard full >= 1 && full <= rank else { throw o.unsupported("axis \(a) for an input of rank \(rank + 1)") }
    guard !perExample.contains(full - 1) else { throw o.invalid("repeated axis \(a)") }
    perExample.append(full - 1)
  }
  perExample.sort()
  guard perExample == Array((rank - perExample.count)..<rank) else {
    throw o.unsupported("normalisation over axes \(axes), not the trailing axes of a rank-\(rank + 1) input")
  }
  var extents = [Int]()
  for a in perExample {
    guard let e = call.input.shape[a] else {
      throw o.unsupported("normalised axis \(a + 1) has no fixed extent in the input")
    }
    extents.append(e)
  }
  guard let count = Shape.checkedCount(extents), count <= LayerOptions.integerBound else {
    throw o.invalid("implausible normalised extents \(extents)")
  }
  let epsilon = try o.double("epsilon", default: rms ? 1e-6 : 1e-3)
  guard epsilon.isFinite, epsilon >= 0 else { throw o.invalid("epsilon \(epsilon) must be finite and ≥ 0") }
  let names: (scale: String?, bias: String?)
  if rms {
    names = ("scale", nil)
  } else {
    guard try !o.bool("rms_scaling", default: false) else {
      throw o.unsupported(
        "rms_scaling=True (deprecated in Keras 3: it scales by the centred variance; use RMSNormalization)")
    }
    names = (try o.bool("scale", default: true) ? "gamma" : nil, try o.bool("center", default: true) ? "beta" : nil)
  }
  let expected = [names.scale, names.bias].compactMap { $0 }
  let w = try cx.weights(call, expected: expected)
  func parameter(_ name: String?) throws(KerasImportError) -> Tensor? {
    guard let name, let t = w[name] else { return nil }
    // Keras stores the parameters with the normalised axes' extents ([C] for one axis).
    guard t.shape.dimensions == extents || (t.rank == 1 && t.scalarCount == count) else {
      throw .weightShapeMismatch(
        file: cx.file, layer: call.spec.name, weight: name, expected: extents, found: t.shape.dimensions)
    }
    return t.reshaped(Shape(extents))
  }
  let p = NormParameters(
    axes: perExample.count, epsilon: Float(epsilon), scale: try parameter(names.scale), bias: try parameter(names.bias))
  return try cx.emit(rms ? .rmsNorm(p) : .layerNorm(p), call.inputs, name: call.name, call: call)
}
