import Foundation
import LiftTensor

/// A tensor whose value is known while importing (initializers, `Constant` nodes, and values
/// folded from them such as shapes), stored in `Double` so int64 shape data and float32
/// weights share one representation.
struct Constant: Sendable {
  /// Full ONNX dimensions.
  var dims: [Int]
  /// Row-major values.
  var values: [Double]
  /// Whether axis 0 stands for the model's batch axis: the constant is the same for every
  /// example, stored once (`dims[0] == 1`), and has extent N in the model (a class token
  /// expanded over the batch, `ones(B, L)`). Folding keeps the flag through ops that leave
  /// axis 0 in place; the importer refuses it where an op would move axis 0, and turns it into
  /// an ``LiftNN/Op/constant(value:)`` node where it meets graph tensors in a Concat.
  var batchBroadcast = false
  /// Axis `k ≥ 1` that stands for the model's batch axis of a constant that is the same for
  /// every example (stored with extent 1 there): a recurrent layer's initial state, which torch
  /// writes as `zeros(layers·directions, N, hidden)` or `h0.expand(d, N, hidden)`
  /// (`ConstantOfShape`/`Expand` to a shape with the batch extent on axis 1). Only the
  /// recurrent converters read it, and `Slice` (off that axis) and `Identity` keep it; the
  /// importer refuses it anywhere else (``batchBroadcastAxisAware``).
  var batchBroadcastAxis: Int?
  /// Whether the ONNX element type is an integer (or boolean) type: `Div` of two integer
  /// constants truncates, as ONNX Runtime's does (torch's `chunk` computes `(n + 2) / 3`).
  /// Set by decoding and by the importer for each folded result (``integerResult(_:_:)``).
  var isInteger = false

  /// Stands for the (dynamic) batch extent in values produced by `Shape` of a graph tensor,
  /// so `x.view(x.size(0), -1)` patterns resolve. Arithmetic on it is rejected.
  /// Its multiples `batchMarker·k` (exact in a double for k < 2⁵⁰) stand for `N·k`
  /// (``batchFactor(_:)``); it is 3·2⁴⁰ rather than a power of two so that no int64 extreme
  /// torch writes (±2⁶³ − 1 as Slice ends) is one of them.
  static let batchMarker: Double = -3 * 0x1p40

  init(dims: [Int], values: [Double]) {
    precondition(Shape.checkedCount(dims) == values.count, "constant \(dims) with \(values.count) values")
    self.dims = dims
    self.values = values
  }

  init(scalar: Double) { self.init(dims: [], values: [scalar]) }

  var count: Int { values.count }
  var rank: Int { dims.count }

  /// The values as float32 in a ``Tensor`` of shape `shape` (default: `dims`).
  func tensor(shape: [Int]? = nil) -> Tensor {
    Tensor(shape: Shape(shape ?? dims), scalars: values.map { Float($0) })
  }

  /// The values as integers (shape data, axes, pads); `nil` if one is not integral.
  var integers: [Int]? {
    var out = [Int]()
    out.reserveCapacity(values.count)
    for v in values {
      guard v.isFinite, v.rounded() == v, abs(v) < 0x1p62 else {
        // ONNX uses INT64_MAX / INT64_MIN as "to the end" in Slice.
        if v >= 0x1p62 {
          out.append(Int.max / 2)
          continue
        }
        if v <= -0x1p62 {
          out.append(Int.min / 2)
          continue
        }
        return nil
      }
      out.append(Int(v))
    }
    return out
  }

  /// Whether a value is the batch extent (or a multiple of it, ``batchFactor(_:)``).
  /// (A large negative float such as `finfo.min`, an attention mask's fill, is not one.)
  var containsBatchMarker: Bool { values.contains { $0 <= Constant.batchMarker && Constant.batchFactor($0) != nil } }

  /// The per-example value of a ``batchBroadcast`` constant (axis 0 dropped), as float32.
  var exampleTensor: Tensor {
    precondition(batchBroadcast && dims.first == 1)
    return tensor(shape: Array(dims.dropFirst()))
  }

  /// Row-major strides of `dims`.
  static func strides(_ dims: [Int]) -> [Int] {
    var s = [Int](repeating: 1, count: dims.count)
    var acc = 1
    for i in dims.indices.reversed() {
      s[i] = acc
      acc *= dims[i]
    }
    return s
  }

  /// The NumPy broadcast of shapes `a` and `b` (right-aligned; each extent equal or 1);
  /// `nil` if they do not broadcast.
  static func broadcastShape(_ a: [Int], _ b: [Int]) -> [Int]? {
    let r = max(a.count, b.count)
    let ad = [Int](repeating: 1, count: r - a.count) + a
    let bd = [Int](repeating: 1, count: r - b.count) + b
    var out = [Int]()
    for i in 0..<r {
      guard ad[i] == bd[i] || ad[i] == 1 || bd[i] == 1 else { return nil }
      out.append(ad[i] == 1 ? bd[i] : ad[i])
    }
    return out
  }

  /// NumPy broadcasting of two constants with `f`; `nil` if the shapes do not broadcast.
  ///
  /// - Precondition: the caller has checked the size of ``broadcastShape(_:_:)`` of the two
  ///   shapes (the result is allocated here).
  static func broadcast(_ a: Constant, _ b: Constant, _ f: (Double, Double) -> Double) -> Constant? {
    guard let out = broadcastShape(a.dims, b.dims) else { return nil }
    let r = out.count
    let ad = [Int](repeating: 1, count: r - a.rank) + a.dims
    let bd = [Int](repeating: 1, count: r - b.rank) + b.dims
    let sa = strides(ad)
    let sb = strides(bd)
    let so = strides(out)
    let n = out.reduce(1, *)
    var values = [Double](repeating: 0, count: n)
    for flat in 0..<n {
      var ia = 0
      var ib = 0
      var rem = flat
      for i in 0..<r {
        let idx = rem / so[i]
        rem %= so[i]
        if ad[i] != 1 { ia += idx * sa[i] }
        if bd[i] != 1 { ib += idx * sb[i] }
      }
      values[flat] = f(a.values[ia], b.values[ib])
    }
    return Constant(dims: out, values: values)
  }

  /// The dimensions of ``gather(indices:axis:)``'s result: `dims[..<axis] + indices.dims +
  /// dims[(axis + 1)...]`.
  func gatherDims(indices: Constant, axis: Int) -> [Int] {
    Array(dims[..<axis]) + indices.dims + Array(dims[(axis + 1)...])
  }

  /// Elements `index` along `axis` (Gather with integer indices of any rank).
  ///
  /// - Precondition: `0 ≤ axis < rank`, and the caller has checked the size of
  ///   ``gatherDims(indices:axis:)`` (the result is allocated here).
  func gather(indices: Constant, axis: Int) -> Constant? {
    guard axis >= 0, axis < rank, let idx = indices.integers else { return nil }
    let outer = dims[..<axis].reduce(1, *)
    let inner = dims[(axis + 1)...].reduce(1, *)
    let n = dims[axis]
    // An empty result (inner or the indices empty beside an outer extent of 2³¹ − 1) must not
    // cost a pass over the outer extent; the indices are still checked when outer > 0.
    if outer > 0 && (inner == 0 || idx.isEmpty) {
      guard idx.allSatisfy({ ($0 < 0 ? $0 + n : $0) >= 0 && ($0 < 0 ? $0 + n : $0) < n }) else { return nil }
      return Constant(dims: gatherDims(indices: indices, axis: axis), values: [])
    }
    var values = [Double]()
    for o in 0..<outer {
      for i in idx {
        let j = i < 0 ? i + n : i
        guard j >= 0, j < n else { return nil }
        let base = (o * n + j) * inner
        values.append(contentsOf: self.values[base..<(base + inner)])
      }
    }
    return Constant(dims: gatherDims(indices: indices, axis: axis), values: values)
  }

  /// `self[start..<end]` on each axis (steps of 1).
  func slice(start: [Int], end: [Int]) -> Constant {
    let out = zip(start, end).map { $1 - $0 }
    let s = Constant.strides(dims)
    let so = Constant.strides(out)
    let n = out.reduce(1, *)
    var values = [Double](repeating: 0, count: n)
    for flat in 0..<n {
      var src = 0
      var rem = flat
      for i in dims.indices {
        let idx = rem / so[i]
        rem %= so[i]
        src += (idx + start[i]) * s[i]
      }
      values[flat] = self.values[src]
    }
    return Constant(dims: out, values: values)
  }

  /// Concatenation along `axis`.
  ///
  /// - Precondition: the caller has checked the total element count (the result is
  ///   allocated here).
  static func concat(_ parts: [Constant], axis: Int) -> Constant? {
    guard let first = parts.first, axis >= 0, axis < first.rank else { return nil }
    for p in parts {
      guard p.rank == first.rank,
        (0..<p.rank).allSatisfy({ $0 == axis || p.dims[$0] == first.dims[$0] })
      else { return nil }
    }
    var dims = first.dims
    dims[axis] = parts.map { $0.dims[axis] }.reduce(0, +)
    // Empty parts (an extent 0 beside one of 2³¹ − 1) must not cost a pass over the outer
    // extent: nothing to copy (a FuzzONNXFolding find took 80 s here).
    guard parts.contains(where: { !$0.values.isEmpty }) else { return Constant(dims: dims, values: []) }
    let outer = first.dims[..<axis].reduce(1, *)
    var values = [Double]()
    for o in 0..<outer {
      for p in parts {
        let run = p.dims[axis...].reduce(1, *)
        values.append(contentsOf: p.values[(o * run)..<((o + 1) * run)])
      }
    }
    return Constant(dims: dims, values: values)
  }
}
