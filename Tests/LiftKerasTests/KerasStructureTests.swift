import Foundation
import LiftHDF5
import LiftKeras
import LiftNN
import LiftTensor
import Testing

/// The imported graphs' structure: node names, kinds, origins, parameters, weight shapes.
@Suite("Keras import: graph structure")
struct KerasStructureTests {
  private func kinds(_ g: Graph) -> [String] { g.nodes.map(\.op.kindName) }
  private func names(_ g: Graph) -> [String] { g.nodes.map(\.name) }

  @Test func mlpNamesActivationsAndWeights() throws {
    let g = try loadKerasModel(at: try fixture("mlp.h5"))
    #expect(names(g) == ["features", "hidden1/preact", "hidden1", "hidden2/preact", "hidden2", "logits"])
    #expect(kinds(g) == ["input", "dense", "relu", "dense", "tanh", "dense"])
    #expect(g.nodes.map(\.origin) == ["InputLayer", "Dense", "Dense", "Dense", "Dense", "Dense"])
    #expect(g.inputNames == ["features"])
    #expect(g.outputs == [g.node(named: "logits")!])
    guard case .input(let shape) = g[g.inputs[0]].op else {
      Issue.record("not an input")
      return
    }
    #expect(shape == [6])
    guard case .dense(let w, let b) = g[g.node(named: "hidden1/preact")!].op else {
      Issue.record("hidden1/preact is not dense")
      return
    }
    #expect(w.shape == [6, 8])
    #expect(b?.shape == [8])
    // The weights are Keras' own values (read independently through LiftHDF5).
    let h5 = try HDF5File(url: try fixture("mlp.h5"))
    #expect(try h5.root.dataset("model_weights/hidden1/hidden1/kernel:0").readFloats() == w.scalars)
  }

  @Test func legacySequentialWithoutInputLayer() throws {
    let g = try loadKerasModel(at: try fixture("legacy22_mlp.h5"))
    #expect(g.inputNames == ["hidden1_input"])
    #expect(names(g).dropFirst() == ["hidden1/preact", "hidden1", "hidden2/preact", "hidden2", "logits"])
  }

  @Test func imageCNNParameters() throws {
    let g = try loadKerasModel(at: try fixture("image_cnn.h5"))
    #expect(
      names(g) == [
        "image", "conv/preact", "conv", "bn", "maxpool", "avgpool", "flatten", "probs/preact", "probs",
      ])
    #expect(
      kinds(g) == [
        "input", "conv2d", "relu", "affine", "max_pool2d", "avg_pool2d", "reshape", "dense", "softmax",
      ])
    guard case .conv(let w, let b, let p) = g[g.node(named: "conv/preact")!].op else { return }
    #expect(w.shape == [3, 3, 3, 4] && b?.shape == [4])
    #expect(p == ConvParameters(strides: [2, 2], dilations: [1, 1], padding: .same, groups: 1))
    guard case .averagePool(let pool) = g[g.node(named: "avgpool")!].op else { return }
    #expect(pool == PoolParameters(size: [2, 2], strides: [2, 2], padding: .same, countIncludePad: false))
    guard case .softmax(let axis) = g[g.node(named: "probs")!].op else { return }
    #expect(axis == 1)
    guard case .reshape(let target) = g[g.node(named: "flatten")!].op else { return }
    #expect(target == [2 * 2 * 4])  // 12 → 6 (stride 2) → 3 (max) → 2 (avg, SAME, stride 2)

    // BatchNormalization → affine with scale = γ/√(σ²+ε), offset = β − μ·scale (double precision).
    guard case .affine(let scale, let offset) = g[g.node(named: "bn")!].op else { return }
    #expect(scale.shape == [1, 1, 4] && offset.shape == [1, 1, 4])
    let bn = try HDF5File(url: try fixture("image_cnn.h5")).root.group("model_weights/bn/bn")
    let gamma = try bn.dataset("gamma:0").readFloats()
    let beta = try bn.dataset("beta:0").readFloats()
    let mean = try bn.dataset("moving_mean:0").readFloats()
    let variance = try bn.dataset("moving_variance:0").readFloats()
    #expect(gamma.contains { $0 < 0 })
    for i in 0..<4 {
      let s = Double(gamma[i]) / (Double(variance[i]) + 1e-3).squareRoot()
      #expect(abs(Double(scale.scalars[i]) - s) <= 1e-6 * max(1, abs(s)))
      #expect(
        abs(Double(offset.scalars[i]) - (Double(beta[i]) - Double(mean[i]) * s)) <= 1e-6 * max(1, abs(s)))
    }
  }

  @Test(arguments: ["zoo.h5", "zoo3.keras"])
  func zooLowerings(_ file: String) throws {
    let g = try loadKerasModel(at: try fixture(file))
    func op(_ name: String) throws -> Op { g[try #require(g.node(named: name), "no node \(name)")].op }
    guard case .conv(let w, let b, let p) = try op("causal_conv") else {
      Issue.record("causal_conv")
      return
    }
    #expect(w.shape == [3, 3, 4] && b == nil)
    #expect(p == ConvParameters(strides: [1], dilations: [2], padding: .explicit(before: [4], after: [0])))
    guard case .prelu(let alpha) = try op("prelu") else {
      Issue.record("prelu")
      return
    }
    #expect(alpha.shape == [1, 4])
    guard case .pad(let before, let after, let value) = try op("zeropad") else {
      Issue.record("zeropad")
      return
    }
    #expect(before == [1, 0] && after == [2, 0] && value == 0)
    guard case .slice(let start, let end) = try op("crop") else {
      Issue.record("crop")
      return
    }
    #expect(start == [2, 0] && end == [22, 4])
    guard case .activation(.elu(let a)) = try op("elu") else {
      Issue.record("elu")
      return
    }
    #expect(a == 0.7)
    guard case .activation(.leakyRelu(let slope)) = try op("leaky") else {
      Issue.record("leaky")
      return
    }
    #expect(slope == 0.2)
    guard case .affine(let scale, _) = try op("bn_axis1") else {
      Issue.record("bn_axis1")
      return
    }
    #expect(scale.shape == [20, 1])
    guard case .identity = try op("dropout"), case .identity = try op("noise") else {
      Issue.record("identity")
      return
    }
    guard case .reshape(let shape) = try op("reshape") else {
      Issue.record("reshape")
      return
    }
    #expect(shape == [4, 5, 4])
    guard case .globalMaxPool = try op("gmax"), case .globalAveragePool = try op("gavg") else { return }
    guard case .concat(let axis) = try op("concat") else {
      Issue.record("concat")
      return
    }
    #expect(axis == 1)
    for (name, expected) in [
      ("d_selu", "selu"), ("d_softplus", "softplus"), ("d_swish", "swish"), ("d_gelu", "gelu"),
    ] {
      #expect(try op(name).kindName == expected)
      #expect(try op(name + "/preact").kindName == "dense")
    }
    guard case .activation(.gelu(let approximate)) = try op("d_gelu") else { return }
    #expect(!approximate)
    guard case .activation(.clip(let lower, let upper)) = try op("relu_cap") else {
      Issue.record("relu_cap")
      return
    }
    #expect(lower == 0 && upper == 0.8)
    guard case .activation(.leakyRelu(let s2)) = try op("relu_leaky") else {
      Issue.record("relu_leaky")
      return
    }
    #expect(abs(s2 - 0.1) < 1e-7)
    guard case .softmax(let softmaxAxis) = try op("softmax") else {
      Issue.record("softmax")
      return
    }
    #expect(softmaxAxis == 1)
    #expect(g[try #require(g.node(named: "softmax"))].origin == "Softmax")
  }

  /// Nested models are inlined: inner nodes are `<model>/<layer>`, the nested model's output is
  /// an identity node named after it, and clashing inner names ("dense" ×3) stay distinct.
  @Test(arguments: ["nested.h5", "nested3.keras"])
  func nestedModelsAreInlined(_ file: String) throws {
    let g = try loadKerasModel(at: try fixture(file))
    #expect(
      names(g) == [
        "x", "encoder/dense/preact", "encoder/dense", "encoder/bn", "encoder", "head/cat",
        "head/dense/preact", "head/dense", "head", "dense",
      ])
    #expect(g[g.node(named: "encoder")!].origin == "Sequential")
    #expect(g[g.node(named: "head/cat")!].inputs == [g.node(named: "encoder")!, g.node(named: "x")!])
    guard case .dense(let inner, _) = g[g.node(named: "head/dense/preact")!].op,
      case .dense(let outer, _) = g[g.node(named: "dense")!].op
    else {
      Issue.record("not dense")
      return
    }
    #expect(inner.shape == [11, 3] && outer.shape == [3, 2])
  }

  @Test func multiInputMultiOutput() throws {
    let g = try loadKerasModel(at: try fixture("two_input.h5"))
    #expect(g.inputNames == ["seq", "vec"])
    #expect(g.outputs.map { g[$0].name } == ["out", "vec_dense"])
  }

  @Test(arguments: ["residual.h5", "residual3.keras", "residual3.h5", "legacy22_residual.h5"])
  func sharedLayerCallsShareWeights(_ file: String) throws {
    let g = try loadKerasModel(at: try fixture(file))
    let first = try #require(g.node(named: "shared/preact"))
    let second = try #require(g.node(named: "shared@1/preact"))
    guard case .dense(let w1, _) = g[first].op, case .dense(let w2, _) = g[second].op else {
      Issue.record("shared calls are not dense")
      return
    }
    #expect(w1 == w2)
    #expect(g[second].inputs == [g.node(named: "b")!])
    #expect(g[g.node(named: "add")!].inputs == ["a", "b", "shared"].map { g.node(named: $0)! })
    #expect(g.outputs.map { g[$0].name } == ["out"])
  }
}
