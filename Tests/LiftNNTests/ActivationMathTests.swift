import Foundation
import LiftNN
import Testing

/// Values and derivatives of the activations added for issue 20, from their definitions.
@Suite("Activation math: hard-sigmoid, hard-swish, Mish")
struct ActivationMathTests {
  static let hardSigmoid02 = Activation.hardSigmoid(alpha: 0.2, beta: 0.5)
  static let hardSigmoidSixth = Activation.hardSigmoid(alpha: 1.0 / 6, beta: 0.5)

  @Test func valuesAtKnownPoints() {
    // clip(0.2x + 0.5, 0, 1): 0 below −2.5, 1 above 2.5.
    #expect(Self.hardSigmoid02.apply(Float(-3)) == 0)
    #expect(Self.hardSigmoid02.apply(Float(1)) == 0.7)
    #expect(Self.hardSigmoid02.apply(Float(3)) == 1)
    // relu6(x + 3)/6 at 0 and 1.5: 0.5 and 0.75.
    #expect(Self.hardSigmoidSixth.apply(Float(0)) == 0.5)
    #expect(abs(Self.hardSigmoidSixth.apply(Float(1.5)) - 0.75) < 1e-7)
    // x·relu6(x + 3)/6: 0 at −4, 1·4/6 at 1, x itself at 5.
    #expect(Activation.hardSwish.apply(Float(-4)) == 0)
    #expect(abs(Activation.hardSwish.apply(Float(1)) - 2.0 / 3) < 1e-7)
    #expect(Activation.hardSwish.apply(Float(5)) == 5)
    // Mish(1) = tanh(log(1 + e)) = 0.8650983882673103 (Misra 2019, Table 1 uses the same).
    #expect(abs(Activation.mish.apply(Float(1)) - 0.86509839) < 1e-6)
    #expect(abs(Activation.mish.apply(Double(1)) - 0.8650983882673103) < 1e-14)
    #expect(Activation.mish.apply(Float(0)) == 0)
    // Large |x|: no overflow; Mish(x) → x above, → 0⁻ below.
    #expect(Activation.mish.apply(Float(100)) == 100)
    #expect(Activation.mish.apply(Float(-100)).magnitude < 1e-30)
  }

  /// f′ against a central difference of the double-precision f; at the kinks the library's
  /// convention, the left-hand slope.
  @Test func derivatives() {
    let fs: [Activation] = [Self.hardSigmoid02, Self.hardSigmoidSixth, .hardSwish, .mish]
    for f in fs {
      for x in stride(from: -5.9, through: 5.9, by: 0.37) {
        let h = 1e-6
        let numeric = (f.apply(x + h) - f.apply(x - h)) / (2 * h)
        #expect(abs(Double(f.derivative(Float(x))) - numeric) < 1e-4, "\(f) at \(x)")
      }
    }
    #expect(Activation.hardSwish.derivative(Float(-3)) == 0)
    #expect(Activation.hardSwish.derivative(Float(3)) == 1.5)
    #expect(Self.hardSigmoid02.derivative(Float(2.5)) == 0)
    #expect(Activation.hardSigmoid(alpha: 0.2, beta: 0.5).derivative(Float(0)) == 0.2)
  }

  @Test func kindNames() {
    #expect(Op.activation(.hardSwish).kindName == "hard_swish")
    #expect(Op.activation(Self.hardSigmoid02).kindName == "hard_sigmoid")
    #expect(Op.activation(.mish).kindName == "mish")
  }
}
