import Foundation
import LiftNN
import LiftTensor
import Testing

/// Exp, log, sqrt, pow and the reductions (issue 19) against their definitions.
@Suite("Exp, log, sqrt, pow and reductions: values, derivatives, domains, shapes")
struct UnaryReductionMathTests {
  @Test func valuesAndDomains() {
    #expect(abs(Activation.exp.apply(Float(1)) - Float(M_E)) < 1e-6)
    #expect(abs(Activation.log.apply(Float(M_E)) - 1) < 1e-7)
    #expect(Activation.sqrt.apply(Float(4)) == 2)
    #expect(Activation.pow(exponent: 2).apply(Float(-3)) == 9)
    #expect(Activation.pow(exponent: 3).apply(Float(-2)) == -8)
    #expect(abs(Activation.pow(exponent: 0.5).apply(Float(2)) - Float(2).squareRoot()) < 1e-7)
    // Outside the domain: NaN (−∞ for log 0), as powf, logf, sqrtf and onnxruntime.
    #expect(Activation.log.apply(Float(-1)).isNaN)
    #expect(Activation.log.apply(Float(0)) == -.infinity)
    #expect(Activation.sqrt.apply(Float(-1)).isNaN)
    #expect(Activation.pow(exponent: 0.5).apply(Float(-4)).isNaN)
    #expect(Activation.pow(exponent: -1).apply(Float(0)) == .infinity)
    #expect(Activation.log.hasRestrictedDomain && Activation.sqrt.hasRestrictedDomain)
    #expect(Activation.pow(exponent: 1.5).hasRestrictedDomain && Activation.pow(exponent: -2).hasRestrictedDomain)
    #expect(!Activation.pow(exponent: 2).hasRestrictedDomain && !Activation.exp.hasRestrictedDomain)
  }

  /// f′ against a central difference of the double-precision f.
  @Test(arguments: [Activation.exp, .log, .sqrt, .pow(exponent: 2), .pow(exponent: 3), .pow(exponent: 0.5),
    .pow(exponent: -1), .pow(exponent: 0)])
  func derivativeIsTheSlope(_ f: Activation) {
    for x in [0.3, 1.0, 2.5] {
      let h = 1e-6
      let slope = (f.apply(x + h) - f.apply(x - h)) / (2 * h)
      let d = Double(f.derivative(Float(x)))
      #expect(abs(d - slope) <= 1e-5 * max(1, abs(slope)), "\(f) at \(x): \(d) vs \(slope)")
    }
  }

  /// Every reduction over every non-empty axis set of a [2, 3, 4] tensor, both keepDims,
  /// against nested loops.
  @Test func reductionsMatchNestedLoops() {
    let dims = [2, 3, 4]
    let x = Tensor(shape: Shape(dims), scalars: (0..<24).map { Float(($0 * 7) % 11) - 4.5 })
    for axes in [[1], [2], [1, 2]] {
      for kind in [Reduction.sum, .mean, .max, .logSumExp] {
        // Expected, [2, k] with k the kept extent (1 when both axes go).
        var expected = [Float]()
        let keptExtent = axes == [1] ? 4 : (axes == [2] ? 3 : 1)
        for n in 0..<2 {
          for k in 0..<keptExtent {
            var group = [Double]()
            for i in 0..<3 {
              for j in 0..<4 {
                let keptIndex = axes == [1] ? j : (axes == [2] ? i : 0)
                if keptIndex == k { group.append(Double(x.scalars[n * 12 + i * 4 + j])) }
              }
            }
            let sum = group.reduce(0, +), top = group.max()!
            switch kind {
            case .sum: expected.append(Float(sum))
            case .mean: expected.append(Float(sum / Double(group.count)))
            case .max: expected.append(Float(top))
            case .logSumExp: expected.append(Float(Foundation.log(group.map { Foundation.exp($0) }.reduce(0, +))))
            }
          }
        }
        for keepDims in [false, true] {
          let y = reduce(x, kind, axes: axes, keepDims: keepDims)
          let shape = (0..<3).compactMap { a -> Int? in
            axes.contains(a) ? (keepDims ? 1 : nil) : dims[a]
          }
          #expect(y.shape.dimensions == shape, "\(kind) \(axes) keepDims \(keepDims): \(y.shape)")
          for (a, b) in zip(y.scalars, expected) {
            #expect(abs(a - b) <= 1e-5 * max(1, abs(b)), "\(kind) \(axes): \(y.scalars) vs \(expected)")
          }
        }
      }
    }
  }

  @Test func logSumExpDoesNotOverflow() {
    let x = Tensor(shape: [1, 2], scalars: [1000, 1000])
    let y = reduce(x, .logSumExp, axes: [1], keepDims: false)
    #expect(abs(y.scalars[0] - (1000 + Float(Foundation.log(2.0)))) < 1e-3)
  }

  @Test func reduceShapeRule() throws {
    func shape(_ op: Op, _ s: [Int?]) -> [Int?]? {
      try? Graph.exampleShape(Node(op: op, inputs: [NodeID(0)], name: "r"), operands: [s])
    }
    #expect(shape(.reduce(.sum, axes: [1, 3], keepDims: false), [2, 3, 4]) == [3])
    #expect(shape(.reduce(.max, axes: [2], keepDims: true), [2, nil, 4]) == [2, 1, 4])
    #expect(shape(.reduce(.mean, axes: [1], keepDims: false), [5]) == [])
    #expect(shape(.reduce(.sum, axes: [0], keepDims: false), [5]) == nil)  // the batch axis
    #expect(shape(.reduce(.sum, axes: [2, 1], keepDims: false), [5, 2]) == nil)  // not ascending
    #expect(shape(.reduce(.sum, axes: [3], keepDims: false), [5, 2]) == nil)
    #expect(shape(.reduce(.max, axes: [1], keepDims: false), [0, 2]) == nil)  // max of nothing
    #expect(shape(.reduce(.sum, axes: [1], keepDims: false), [0, 2]) == [2])  // a sum of nothing is 0
  }
}
