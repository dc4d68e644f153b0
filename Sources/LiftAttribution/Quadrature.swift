import Foundation

extension IntegrationRule {
  /// Points `α_k ∈ [0, 1]` and weights `w_k` of the rule with `n` points, exactly as Captum's
  /// `approximation_parameters` builds them (integrated gradients sums
  /// `w_k · ∇f(r + α_k (x − r))`).
  ///
  /// - riemann_left: α = linspace(0, 1 − 1/n, n), w = 1/n
  /// - riemann_right: α = linspace(1/n, 1, n), w = 1/n
  /// - riemann_middle: α = linspace(1/(2n), 1 − 1/(2n), n), w = 1/n
  /// - riemann_trapezoid: α = linspace(0, 1, n), w = 1/n with the first and last halved
  ///   (Captum's weights, which sum to (n − 1)/n)
  /// - gausslegendre: NumPy `leggauss(n)` nodes and weights mapped to [0, 1]:
  ///   α = ½(1 + t), w = ½·w_t
  public func pointsAndWeights(_ n: Int) -> (alphas: [Double], weights: [Double]) {
    precondition(n >= 1, "integration needs at least one point")
    func linspace(_ a: Double, _ b: Double) -> [Double] {
      n == 1 ? [a] : (0..<n).map { a + (b - a) * Double($0) / Double(n - 1) }
    }
    let h = 1.0 / Double(n)
    switch self {
    case .riemannLeft: return (linspace(0, 1 - h), Array(repeating: h, count: n))
    case .riemannRight: return (linspace(h, 1), Array(repeating: h, count: n))
    case .riemannMiddle: return (linspace(h / 2, 1 - h / 2), Array(repeating: h, count: n))
    case .riemannTrapezoid:
      var w = Array(repeating: h, count: n)
      w[0] /= 2
      w[n - 1] /= 2
      return (linspace(0, 1), w)
    case .gaussLegendre:
      let (t, w) = gaussLegendreNodes(n)
      return (t.map { 0.5 * (1 + $0) }, w.map { 0.5 * $0 })
    }
  }
}

/// Gauss–Legendre nodes (ascending) and weights on [−1, 1], by Newton iteration on the
/// Legendre polynomial Pₙ (the values NumPy's `leggauss` returns, to double precision).
func gaussLegendreNodes(_ n: Int) -> (nodes: [Double], weights: [Double]) {
  var nodes = [Double](repeating: 0, count: n), weights = [Double](repeating: 0, count: n)
  for i in 0..<(n + 1) / 2 {
    var z = cos(Double.pi * (Double(i) + 0.75) / (Double(n) + 0.5))
    var dp = 0.0
    for _ in 0..<100 {
      var p0 = 1.0, p1 = 0.0
      for j in 1...n {
        let p2 = p1
        p1 = p0
        p0 = ((2 * Double(j) - 1) * z * p1 - (Double(j) - 1) * p2) / Double(j)
      }
      dp = Double(n) * (z * p0 - p1) / (z * z - 1)
      let dz = p0 / dp
      z -= dz
      if abs(dz) < 1e-16 { break }
    }
    // Recompute the derivative at the converged root for the weight.
    var p0 = 1.0, p1 = 0.0
    for j in 1...n {
      let p2 = p1
      p1 = p0
      p0 = ((2 * Double(j) - 1) * z * p1 - (Double(j) - 1) * p2) / Double(j)
    }
    dp = Double(n) * (z * p0 - p1) / (z * z - 1)
    let w = 2 / ((1 - z * z) * dp * dp)
    nodes[i] = -z
    nodes[n - 1 - i] = z
    weights[i] = w
    weights[n - 1 - i] = w
  }
  if n % 2 == 1 { nodes[n / 2] = 0 }
  return (nodes, weights)
}
