import Foundation
import LiftNN
import LiftTensor

// The elementwise family: every activation and PReLU, with the fused Rescale path and the
// RevealCancel kernels (see Rules.swift).

/// The RevealCancel pseudocount: values with |t| < ε/2 are pushed to ±ε (exact 0 to +ε).
@inline(__always)
func pseudocount(_ t: Float) -> Float {
  guard abs(t) < nearZero / 2 else { return t }
  return t >= 0 ? t + nearZero : t - nearZero
}

extension Propagation {
  /// Split of an elementwise node: the RevealCancel parts of its operand's parts under
  /// RevealCancel, else the operand's parts times the Rescale factor `Δy/Δx` (gradient
  /// methods never read splits: their scores are gradients).
  mutating func elementwiseSplit(_ id: NodeID, _ op: ElementwiseOp) -> (pos: Tensor, neg: Tensor) {
    let node = graph[id]
    let (ip, ineg) = split(node.inputs[0])
    switch modes[id.rawValue] ?? .rescale {
    case .revealCancel:
      let (yp, yn, _, _) = revealCancelParts(id, op)
      return (yp, yn)
    case .rescale, .gradient, .guided:
      let k = rescaleFactor(id, op)
      return (Tensor.zip2(ip, k) { $0 * $1 }, Tensor.zip2(ineg, k) { $0 * $1 })
    }
  }

  /// Multipliers through an elementwise nonlinearity, by the node's mode.
  mutating func elementwiseMultipliers(_ id: NodeID, _ op: ElementwiseOp, _ my: Multipliers) -> Multipliers {
    let node = graph[id]
    let input = node.inputs[0]
    switch modes[id.rawValue] ?? .rescale {
    case .rescale:
      if case .activation(let f) = op, my.isSymmetric {
        return Multipliers(pos: fusedRescale(id, f, my.pos), neg: nil)
      }
      let s = rescaleFactor(id, op)
      return my.map { $0.multipliedTiled(s) }
    case .revealCancel:
      return revealCancelMultipliers(id, op, my)
    case .gradient, .guided:
      let xi = x[input.rawValue]!
      let guided = modes[id.rawValue] == .guided
      switch op {
      case .activation(let f):
        let g = xi.mapScalars { f.derivative($0) }
        if guided && f.isReLU { return my.map { Tensor.zipTiled($0, g) { m, g in max(m * g, 0) } } }
        return my.map { $0.multipliedTiled(g) }
      case .prelu(let alpha):
        let al = broadcast(exampleShaped(alpha, like: xi), to: xi.shape)
        let g = Tensor.zip2(xi, al) { $0 > 0 ? 1 : $1 }
        return my.map { $0.multipliedTiled(g) }
      }
    }
  }

  /// Rescale factor `Δy/Δx` of an elementwise node, with the derivative at the reference
  /// input where |Δx| < ε. (The original evaluates that fallback at the reference *output*,
  /// wrong for sigmoid/tanh — reference §1.4 and §8.1; we use f′(x⁰).)
  mutating func rescaleFactor(_ id: NodeID, _ op: ElementwiseOp) -> Tensor {
    let node = graph[id]
    let input = node.inputs[0]
    let dx = delta(input), dy = delta(id)
    let r0 = r[input.rawValue]!
    switch op {
    case .activation(let f):
      return Tensor.zip3(dx, dy, r0) { dx, dy, r0 in abs(dx) < nearZero ? f.derivative(r0) : dy / dx }
    case .prelu(let alpha):
      let a = broadcast(exampleShaped(alpha, like: r0), to: r0.shape)
      let q = Tensor.zip2(dx, dy) { dx, dy in abs(dx) < nearZero ? .nan : dy / dx }
      return Tensor.zip3(q, r0, a) { q, r0, a in q.isNaN ? (r0 > 0 ? 1 : a) : q }
    }
  }

  /// `m ⊙ tile(Δy/Δx)` for an elementwise activation in one pass over the activations of both
  /// sides (no Δ or factor tensors), reading each pair's stored input and reference rows in
  /// place (``PairSide``): the same float operations as ``rescaleFactor(_:_:)`` followed by
  /// `multipliedTiled`, so the result is bit-identical. ReLU is specialised.
  func fusedRescale(_ id: NodeID, _ f: Activation, _ m: Tensor) -> Tensor {
    let input = graph[id].inputs[0]
    let xi = x.stored[input.rawValue]!, ri = r.stored[input.rawValue]!
    let xo = x.stored[id.rawValue]!, ro = r.stored[id.rawValue]!
    let k = x.rowSize(input.rawValue), n = m.scalarCount, pairs = x.pairs
    precondition(k == x.rowSize(id.rawValue) && k == r.rowSize(input.rawValue) && k == r.rowSize(id.rawValue))
    precondition(k > 0 && pairs > 0 ? n % (pairs * k) == 0 : n == 0, "cannot tile \(xi.shape) over \(m.shape)")
    let xm = x.map, rm = r.map
    let isReLU = f.isReLU
    let rows = k > 0 ? n / k : 0
    return Tensor(shape: m.shape) { out in
      m.withUnsafeBufferPointer { mb in
        xi.withUnsafeBufferPointer { xib in
          ri.withUnsafeBufferPointer { rib in
            xo.withUnsafeBufferPointer { xob in
              ro.withUnsafeBufferPointer { rob in
                guard n > 0 && k > 0 else { return }
                let (o0, m0) = (SharedPointer(out.baseAddress!), SharedPointer(mb.baseAddress!))
                let (xi0, xo0) = (SharedPointer(xib.baseAddress!), SharedPointer(xob.baseAddress!))
                let (ri0, ro0) = (SharedPointer(rib.baseAddress!), SharedPointer(rob.baseAddress!))
                forEachRowRange(rows, scalarsPerRow: k) { range in
                  for q in range {
                    let p = q % pairs
                    let xr = xm.row(p) &* k, rr = rm.row(p) &* k
                    let mp = m0.pointer + q &* k, o = o0.pointer + q &* k
                    let xip = xi0.pointer + xr, xop = xo0.pointer + xr
                    let rip = ri0.pointer + rr, rop = ro0.pointer + rr
                    if isReLU {
                      // Select form (both sides computed) so the loop vectorises; the quotient
                      // of a near-zero Δx is discarded.
                      for j in 0..<k {
                        let dx = xip[j] - rip[j]
                        let q = (xop[j] - rop[j]) / dx
                        let g: Float = rip[j] > 0 ? 1 : 0
                        let s = abs(dx) < nearZero ? g : q
                        o[j] = mp[j] * s
                      }
                    } else {
                      for j in 0..<k {
                        let dx = xip[j] - rip[j]
                        let s: Float = abs(dx) < nearZero ? f.derivative(rip[j]) : (xop[j] - rop[j]) / dx
                        o[j] = mp[j] * s
                      }
                    }
                  }
                }
              }
            }
          }
        }
      }
    }
  }

  /// RevealCancel for an elementwise node: `(Δy⁺, Δy⁻, a, b)` with `a = pc(Δx⁺)`,
  /// `b = pc(Δx⁻)` and
  /// ```
  /// Δy⁺ = ½[(f(x⁰+a) − f(x⁰)) + (f(x⁰+b+a) − f(x⁰+b))]
  /// Δy⁻ = ½[(f(x⁰+b) − f(x⁰)) + (f(x⁰+a+b) − f(x⁰+a))]
  /// ```
  /// evaluated in double precision: in float32 the differences are rounding noise when a
  /// part is tiny (reference §1.4 "numerical hazard", §8.10).
  mutating func revealCancelParts(_ id: NodeID, _ op: ElementwiseOp) -> (Tensor, Tensor, Tensor, Tensor) {
    let node = graph[id]
    let (ip, ineg) = split(node.inputs[0])
    let x0 = r[node.inputs[0].rawValue]!
    let n = x0.scalarCount
    precondition(ip.scalarCount == n && ineg.scalarCount == n, "reveal-cancel parts of \(node.name)")
    var a = Tensor.zeros(x0.shape), b = a
    let (yp, yn) = Tensor.pair(shape: x0.shape) { yp, yn in
      a.withUnsafeMutableBufferPointer { ap in
        b.withUnsafeMutableBufferPointer { bp in
          ip.withUnsafeBufferPointer { pp in
            ineg.withUnsafeBufferPointer { np in
              x0.withUnsafeBufferPointer { xp in
                func run<F: UnitFunction>(_ f: F) {
                  for i in 0..<n {
                    let v = revealCancelScalar(xp[i], pp[i], np[i], i, f)
                    yp[i] = v.yp
                    yn[i] = v.yn
                    ap[i] = v.a
                    bp[i] = v.b
                  }
                }
                switch UnitKind(op, input: x0) {
                case .relu: run(ReLUUnit())
                case .leaky(let alpha): run(LeakyUnit(alpha: alpha))
                case .prelu(let alpha): alpha.withUnsafeBufferPointer { run(PReLUUnit(alpha: $0)) }
                case .other(let act): run(ActivationUnit(activation: act))
                }
              }
            }
          }
        }
      }
    }
    return (yp, yn, a, b)
  }

  /// RevealCancel multipliers through an elementwise node, in one pass per task and no
  /// intermediate tensors: `m⁺_x = m⁺_y ⊙ tile(Δy⁺/a)`, `m⁻_x = m⁻_y ⊙ tile(Δy⁻/b)` with
  /// `Δy±, a, b` of ``revealCancelParts(_:_:)`` (the same operations, so the same values).
  mutating func revealCancelMultipliers(_ id: NodeID, _ op: ElementwiseOp, _ my: Multipliers) -> Multipliers {
    let node = graph[id]
    let (ip, ineg) = split(node.inputs[0])
    let x0 = r[node.inputs[0].rawValue]!
    let k = x0.scalarCount, total = my.pos.scalarCount
    precondition(ip.scalarCount == k && ineg.scalarCount == k, "reveal-cancel parts of \(node.name)")
    precondition(k > 0 ? total % k == 0 : total == 0, "cannot tile \(x0.shape) over \(my.pos.shape)")
    let tasks = k > 0 ? total / k : 0
    let mPos = my.pos, mNeg = my.negative
    let (pos, neg) = Tensor.pair(shape: mPos.shape) { outP, outN in
      mPos.withUnsafeBufferPointer { mp in
        mNeg.withUnsafeBufferPointer { mn in
          ip.withUnsafeBufferPointer { pp in
            ineg.withUnsafeBufferPointer { np in
              x0.withUnsafeBufferPointer { xp in
                // Factors of a block of units (cache-resident), then applied to every task.
                let block = 1024
                let sp = UnsafeMutablePointer<Float>.allocate(capacity: 2 * block)
                defer { sp.deallocate() }
                let sn = sp + block
                func run<F: UnitFunction>(_ f: F) {
                  var j0 = 0
                  while j0 < k {
                    let len = min(block, k &- j0)
                    for j in 0..<len {
                      let v = revealCancelScalar(xp[j0 &+ j], pp[j0 &+ j], np[j0 &+ j], j0 &+ j, f)
                      sp[j] = v.yp / v.a
                      sn[j] = v.yn / v.b
                    }
                    for t in 0..<tasks {
                      let base = t &* k &+ j0
                      for j in 0..<len {
                        outP[base &+ j] = mp[base &+ j] * sp[j]
                        outN[base &+ j] = mn[base &+ j] * sn[j]
                      }
                    }
                    j0 &+= len
                  }
                }
                switch UnitKind(op, input: x0) {
                case .relu: run(ReLUUnit())
                case .leaky(let alpha): run(LeakyUnit(alpha: alpha))
                case .prelu(let alpha): alpha.withUnsafeBufferPointer { run(PReLUUnit(alpha: $0)) }
                case .other(let act): run(ActivationUnit(activation: act))
                }
              }
            }
          }
        }
      }
    }
    return Multipliers(pos: pos, neg: neg)
  }
}

/// RevealCancel of one unit: `a = pc(p)`, `b = pc(n)` and
/// `Δy⁺ = ½[(f(x⁰+a) − f(x⁰)) + (f(x⁰+a+b) − f(x⁰+b))]`,
/// `Δy⁻ = ½[(f(x⁰+b) − f(x⁰)) + (f(x⁰+a+b) − f(x⁰+a))]` in double precision
/// (`f(v, i)`: the activation of unit `i` at `v`).
@inline(__always)
func revealCancelScalar<F: UnitFunction>(
  _ x0: Float, _ p: Float, _ n: Float, _ i: Int, _ f: F
) -> (yp: Float, yn: Float, a: Float, b: Float) {
  let a = pseudocount(p), b = pseudocount(n)
  let x = Double(x0), pa = Double(a), pb = Double(b)
  let f0 = f(x, i), fa = f(x + pa, i), fb = f(x + pb, i), fab = f(x + pa + pb, i)
  if f.hasRestrictedDomain && !(fa.isFinite && fb.isFinite) && f0.isFinite && fab.isFinite {
    // A restricted domain (log, sqrt, pow) holds x⁰ and x but not x⁰ + a or x⁰ + b: split
    // Δy by the secant, Rescale's parts (k·a, k·b), which keep Δy⁺ + Δy⁻ = Δy.
    let s = pa + pb
    let h = 1e-6 * Swift.max(1, abs(x))
    let k = abs(s) < 1e-7 ? (f(x + h, i) - f0) / h : (fab - f0) / s
    return (Float(k * pa), Float(k * pb), a, b)
  }
  return (Float(0.5 * ((fa - f0) + (fab - fb))), Float(0.5 * ((fb - f0) + (fab - fa))), a, b)
}

/// An elementwise activation in double precision, `f(v, i)` for unit `i` (the flat index
/// within the node's input `[P, …]`, for PReLU's α). Loops generic over it specialise.
protocol UnitFunction {
  func callAsFunction(_ v: Double, _ i: Int) -> Double
  /// Whether `f` is undefined on part of the reals (``revealCancelScalar(_:_:_:_:_:)``'s
  /// fallback; false for the piecewise-linear units, so their loops skip the check).
  var hasRestrictedDomain: Bool { get }
}

extension UnitFunction {
  var hasRestrictedDomain: Bool { false }
}

struct ReLUUnit: UnitFunction {
  @inline(__always) func callAsFunction(_ v: Double, _ i: Int) -> Double { v > 0 ? v : 0 }
}

/// `v > 0 ? v : α·v` (Leaky ReLU).
struct LeakyUnit: UnitFunction {
  let alpha: Double
  @inline(__always) func callAsFunction(_ v: Double, _ i: Int) -> Double { v > 0 ? v : alpha * v }
}

/// `v > 0 ? v : α[i]·v` (PReLU, α broadcast to the input's shape).
struct PReLUUnit: UnitFunction {
  let alpha: UnsafeBufferPointer<Float>
  @inline(__always) func callAsFunction(_ v: Double, _ i: Int) -> Double { v > 0 ? v : Double(alpha[i]) * v }
}

struct ActivationUnit: UnitFunction {
  let activation: Activation
  var hasRestrictedDomain: Bool { activation.hasRestrictedDomain }
  @inline(__always) func callAsFunction(_ v: Double, _ i: Int) -> Double { activation.apply(v) }
}

/// Which ``UnitFunction`` an elementwise node applies (callers switch over it and call a
/// generic loop with the concrete type, so that the loop specialises).
enum UnitKind {
  case relu
  case leaky(Double)
  /// α broadcast to the shape of the node's input.
  case prelu(Tensor)
  case other(Activation)

  init(_ op: ElementwiseOp, input x0: Tensor) {
    switch op {
    case .activation(.relu): self = .relu
    case .activation(.leakyRelu(let alpha)): self = .leaky(Double(alpha))
    case .activation(let act): self = .other(act)
    case .prelu(let alpha): self = .prelu(broadcast(exampleShaped(alpha, like: x0), to: x0.shape))
    }
  }
}
