import Foundation

extension Activation {
  /// Keras' SELU constants.
  public static let seluScale: Float = 1.0507009873554805
  public static let seluAlpha: Float = 1.6732632423543772

  /// `f(x)` for one scalar.
  @inline(__always)
  public func apply(_ x: Float) -> Float {
    switch self {
    case .relu: return x > 0 ? x : 0
    case .leakyRelu(let a): return x > 0 ? x : a * x
    case .elu(let a): return x > 0 ? x : a * Foundation.expm1(x)
    case .selu: return Activation.seluScale * (x > 0 ? x : Activation.seluAlpha * Foundation.expm1(x))
    case .sigmoid: return Activation.sigmoid(x)
    case .tanh: return Foundation.tanh(x)
    case .softplus: return Activation.softplus(x)
    case .swish: return x * Activation.sigmoid(x)
    case .gelu(let approximate):
      if approximate {
        let c: Float = 0.7978845608028654  // √(2/π)
        return 0.5 * x * (1 + Foundation.tanh(c * (x + 0.044715 * x * x * x)))
      }
      return 0.5 * x * (1 + Foundation.erf(x / 1.4142135623730951))
    case .clip(let lo, let hi): return min(max(x, lo), hi)
    case .hardSigmoid(let a, let b): return min(max(a * x + b, 0), 1)
    case .hardSwish: return x * min(max(x / 6 + 0.5, 0), 1)
    case .mish: return x * Foundation.tanh(Activation.softplus(x))
    case .exp: return Foundation.exp(x)
    case .log: return Foundation.log(x)
    case .sqrt: return x.squareRoot()
    case .pow(let p): return Activation.power(x, p)
    case .reciprocal: return 1 / x
    }
  }

  /// `f′(x)` for one scalar. At kinks the derivative of the side `x ≤ kink` is used
  /// (ReLU′(0) = 0, as TensorFlow and PyTorch do).
  @inline(__always)
  public func derivative(_ x: Float) -> Float {
    switch self {
    case .relu: return x > 0 ? 1 : 0
    case .leakyRelu(let a): return x > 0 ? 1 : a
    case .elu(let a): return x > 0 ? 1 : a * Foundation.exp(x)
    case .selu:
      return Activation.seluScale * (x > 0 ? 1 : Activation.seluAlpha * Foundation.exp(x))
    case .sigmoid:
      let s = Activation.sigmoid(x)
      return s * (1 - s)
    case .tanh:
      let t = Foundation.tanh(x)
      return 1 - t * t
    case .softplus: return Activation.sigmoid(x)
    case .swish:
      let s = Activation.sigmoid(x)
      return s + x * s * (1 - s)
    case .gelu(let approximate):
      if approximate {
        let c: Float = 0.7978845608028654
        let u = c * (x + 0.044715 * x * x * x)
        let t = Foundation.tanh(u)
        return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * c * (1 + 3 * 0.044715 * x * x)
      }
      let cdf = 0.5 * (1 + Foundation.erf(x / 1.4142135623730951))
      let pdf = Foundation.exp(-0.5 * x * x) / 2.5066282746310002
      return cdf + x * pdf
    case .clip(let lo, let hi): return x > lo && x < hi ? 1 : 0
    case .hardSigmoid(let a, let b):
      let u = a * x + b
      return u > 0 && u < 1 ? a : 0
    case .hardSwish:
      // Kinks at ±3; the left-hand slope at each, as for the other kinks (torch's
      // hardswish_backward takes the right-hand one, −0.5, at −3).
      if x <= -3 { return 0 }
      return x <= 3 ? x / 3 + 0.5 : 1
    case .mish:
      // d/dx x·tanh(sp(x)) = tanh(sp) + x·(1 − tanh²(sp))·σ(x), with sp′ = σ.
      let t = Foundation.tanh(Activation.softplus(x))
      return t + x * (1 - t * t) * Activation.sigmoid(x)
    case .exp: return Foundation.exp(x)
    // Outside the domain (x < 0) NaN, like the forward; at 0 log′ and sqrt′ are +∞.
    case .log: return 1 / x
    case .sqrt: return 0.5 / x.squareRoot()
    case .pow(let p):
      // p·xᵖ⁻¹; p = 0 is the constant 1 (0, also at x = 0), p = 1 the identity.
      if p == 0 { return 0 }
      if p == 1 { return 1 }
      return p * Activation.power(x, p - 1)
    case .reciprocal: return -1 / (x * x)
    }
  }

  /// `f(x)` in double precision (RevealCancel evaluates differences of nearly equal values).
  @inline(__always)
  public func apply(_ x: Double) -> Double {
    switch self {
    case .relu: return x > 0 ? x : 0
    case .leakyRelu(let a): return x > 0 ? x : Double(a) * x
    case .elu(let a): return x > 0 ? x : Double(a) * Foundation.expm1(x)
    case .selu:
      return 1.0507009873554805 * (x > 0 ? x : 1.6732632423543772 * Foundation.expm1(x))
    case .sigmoid: return 1 / (1 + Foundation.exp(-x))
    case .tanh: return Foundation.tanh(x)
    case .softplus: return max(x, 0) + Foundation.log1p(Foundation.exp(-abs(x)))
    case .swish: return x / (1 + Foundation.exp(-x))
    case .gelu(let approximate):
      if approximate {
        let c = 0.7978845608028654
        return 0.5 * x * (1 + Foundation.tanh(c * (x + 0.044715 * x * x * x)))
      }
      return 0.5 * x * (1 + Foundation.erf(x / 1.4142135623730951))
    case .clip(let lo, let hi): return min(max(x, Double(lo)), Double(hi))
    case .hardSigmoid(let a, let b): return min(max(Double(a) * x + Double(b), 0), 1)
    case .hardSwish: return x * min(max(x / 6 + 0.5, 0), 1)
    case .mish: return x * Foundation.tanh(max(x, 0) + Foundation.log1p(Foundation.exp(-abs(x))))
    case .exp: return Foundation.exp(x)
    case .log: return Foundation.log(x)
    case .sqrt: return x.squareRoot()
    case .pow(let p): return Activation.power(x, Double(p))
    case .reciprocal: return 1 / x
    }
  }

  /// Whether `f` is defined only on part of the reals (log, sqrt, reciprocal, pow with a
  /// non-integer or negative exponent): its forward gives NaN or ±∞ outside, so an explanation checks its
  /// operands.
  public var hasRestrictedDomain: Bool {
    switch self {
    case .log, .sqrt, .reciprocal: return true
    case .pow(let p): return p.rounded() != p || p < 0
    case .relu, .leakyRelu, .elu, .selu, .sigmoid, .tanh, .softplus, .swish, .gelu, .clip, .hardSigmoid,
      .hardSwish, .mish, .exp:
      return false
    }
  }

  /// `xᵖ` as `powf` (NaN for a negative base and a non-integer exponent); squares exactly.
  @inline(__always)
  static func power(_ x: Float, _ p: Float) -> Float {
    if p == 2 { return x * x }
    return Foundation.pow(x, p)
  }

  @inline(__always)
  static func power(_ x: Double, _ p: Double) -> Double {
    if p == 2 { return x * x }
    return Foundation.pow(x, p)
  }

  /// Whether `f` is the plain ReLU (guided backprop modifies only ReLUs, as Captum does).
  public var isReLU: Bool { if case .relu = self { true } else { false } }

  /// `log(1 + eˣ)` without overflow: `max(x, 0) + log1p(e^{−|x|})`.
  @inline(__always)
  static func softplus(_ x: Float) -> Float {
    max(x, 0) + Foundation.log1p(Foundation.exp(-abs(x)))
  }

  @inline(__always)
  static func sigmoid(_ x: Float) -> Float {
    // Two branches keep e^{−|x|} ≤ 1, so neither overflows.
    if x >= 0 { return 1 / (1 + Foundation.exp(-x)) }
    let e = Foundation.exp(x)
    return e / (1 + e)
  }
}
