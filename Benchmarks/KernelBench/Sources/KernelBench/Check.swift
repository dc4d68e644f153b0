import LiftTensor

/// Release-mode check of default chunking + threading against a naive 1-D conv.
func checkLarge() {
  func naive1D(_ x: Tensor, _ w: Tensor, pad: Int, stride s: Int, dil d: Int, groups: Int) -> [Double] {
    let n = x.shape[0]
    let l = x.shape[1]
    let cin = x.shape[2]
    let k = w.shape[0]
    let cig = w.shape[1]
    let cout = w.shape[2]
    let cog = cout / groups
    let lout = (l + 2 * pad - (k - 1) * d - 1) / s + 1
    var y = [Double](repeating: 0, count: n * lout * cout)
    for b in 0..<n {
      for o in 0..<lout {
        for co in 0..<cout {
          let g = co / cog
          var acc = 0.0
          for t in 0..<k {
            let p = o * s + t * d - pad
            if p < 0 || p >= l { continue }
            for ci in 0..<cig {
              acc +=
                Double(x.scalars[(b * l + p) * cin + g * cig + ci])
                * Double(w.scalars[(t * cig + ci) * cout + co])
            }
          }
          y[(b * lout + o) * cout + co] = acc
        }
      }
    }
    return y
  }
  for threads in [1, 2, 3] {
    BLAS.setThreads(threads)
    for (n, l, cin, k, cout, groups, s, d) in [
      (8, 2000, 16, 7, 32, 1, 1, 1), (5, 3001, 8, 5, 12, 2, 2, 2), (3, 20000, 4, 3, 8, 1, 3, 1),
    ] {
      let x = Tensor(shape: [n, l, cin], scalars: (0..<(n * l * cin)).map { _ in Float.random(in: -1...1) })
      let w = Tensor(
        shape: [k, cin / groups, cout],
        scalars: (0..<(k * cin / groups * cout)).map { _ in Float.random(in: -1...1) })
      let pad = (k - 1) * d / 2
      let p = ConvParameters(
        strides: [s], dilations: [d], padding: .explicit(before: [pad], after: [pad]), groups: groups)
      let y = conv(x, weight: w, bias: nil, parameters: p)
      let ref = naive1D(x, w, pad: pad, stride: s, dil: d, groups: groups)
      var worst = 0.0
      for i in 0..<ref.count { worst = max(worst, abs(Double(y.scalars[i]) - ref[i])) }
      // Adjoint
      let dy = Tensor(shape: y.shape, scalars: (0..<y.scalarCount).map { _ in Float.random(in: -1...1) })
      let dx = convBackwardInput(dy, weight: w, inputShape: x.shape, parameters: p)
      let lhs = y.dot(dy)
      let rhs = x.dot(dx)
      print(
        "threads \(threads) \(x.shape) k\(k) g\(groups) s\(s) d\(d): max |err| \(worst), adjoint rel \(abs(lhs - rhs) / max(abs(lhs), 1))"
      )
    }
  }
}
