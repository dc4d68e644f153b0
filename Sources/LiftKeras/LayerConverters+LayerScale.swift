import LiftNN
import LiftTensor

/// keras.applications ConvNeXt's `LayerScale` (a layer defined in
/// `keras.src.applications.convnext`, saved under its own class name): `y = x ⊙ γ` with `γ` one
/// weight per channel of the last axis (`projection_dim` values, initialised to `init_values`).
/// → `affine(scale: γ, offset: 0)`. The configuration's `projection_dim` must equal the input's
/// last extent and `γ`'s length; a same-named custom layer of another shape is refused.
func convertLayerScale(_ call: LayerCall, _ cx: inout Conversion) throws(KerasImportError) -> Value {
  let o = call.options
  let x = call.input
  let dim = try o.int("projection_dim")
  guard x.rank >= 1, let channels = x.shape[x.rank - 1], channels == dim else {
    throw o.unsupported("LayerScale with projection_dim \(dim) for an input of shape \(x.shape)")
  }
  let gamma = try cx.weights(call, expected: ["gamma"])["gamma"]!
  try cx.check(gamma, [dim], weight: "gamma", call: call)
  let shape = Shape([Int](repeating: 1, count: x.rank - 1) + [dim])
  return try cx.emit(
    .affine(
      scale: Tensor(shape: shape, scalars: gamma.scalars),
      offset: Tensor(shape: shape, scalars: [Float](repeating: 0, count: dim))),
    call.inputs, name: call.name, call: call)
}
