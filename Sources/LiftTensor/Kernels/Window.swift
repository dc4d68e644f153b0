/// How a sliding-window op (convolution, pooling) pads its spatial axes.
public enum Padding: Hashable, Sendable {
  /// No padding: only windows that fit entirely inside the input.
  case valid
  /// TensorFlow `SAME`: output extent `ceil(in / stride)`; the total padding
  /// `max((out − 1)·stride + (k − 1)·dilation + 1 − in, 0)` is split with the smaller half
  /// *before* and the extra element *after* (asymmetric).
  case same
  /// Explicit per-spatial-axis padding (ONNX `pads`, Keras `ZeroPadding`), one entry per
  /// spatial axis in `before` and in `after`.
  case explicit(before: [Int], after: [Int])
}

/// Geometry of a sliding window over the spatial axes of a channels-last tensor
/// `[N, S₁, …, S_d, C]` (d = 1 or 2).
public struct WindowGeometry: Hashable, Sendable {
  /// Window extent per spatial axis (kernel size or pool size).
  public var size: [Int]
  public var strides: [Int]
  public var dilations: [Int]
  public var padding: Padding

  public init(size: [Int], strides: [Int], dilations: [Int]? = nil, padding: Padding) {
    self.size = size
    self.strides = strides
    self.dilations = dilations ?? [Int](repeating: 1, count: size.count)
    self.padding = padding
  }

  /// Number of spatial axes.
  public var spatialRank: Int { size.count }

  /// Pads before and after each spatial axis for an input of spatial extents `input`.
  ///
  /// - Precondition: the geometry fits the input (``outputSpatial(input:)`` is not nil).
  public func pads(input: [Int]) -> (before: [Int], after: [Int]) {
    guard let pads = checkedPads(input: input) else { preconditionFailure("window geometry overflows Int") }
    return pads
  }

  /// ``pads(input:)``, or nil when `same` padding's arithmetic overflows `Int` (extents,
  /// strides or dilations read from a crafted file).
  func checkedPads(input: [Int]) -> (before: [Int], after: [Int])? {
    switch padding {
    case .valid:
      return ([Int](repeating: 0, count: spatialRank), [Int](repeating: 0, count: spatialRank))
    case .explicit(let before, let after):
      return (before, after)
    case .same:
      var before = [Int](), after = [Int]()
      for i in 0..<spatialRank {
        // out = ⌈in / stride⌉; total = max((out − 1)·stride + (k − 1)·dilation + 1 − in, 0).
        guard strides[i] >= 1, input[i] >= 0, let effective = effectiveSize(i) else { return nil }
        let out = input[i] / strides[i] + (input[i] % strides[i] == 0 ? 0 : 1)
        let (span, o1) = (out - 1).multipliedReportingOverflow(by: strides[i])
        let (reach, o2) = span.addingReportingOverflow(effective)
        guard !o1, !o2 else { return nil }
        let total = max(reach - input[i], 0)
        before.append(total / 2)
        after.append(total - total / 2)
      }
      return (before, after)
    }
  }

  /// `(size − 1)·dilation + 1` on axis `i`, or nil when it overflows or a factor is below 1.
  private func effectiveSize(_ i: Int) -> Int? {
    guard size[i] >= 1, dilations[i] >= 1 else { return nil }
    let (span, overflow) = (size[i] - 1).multipliedReportingOverflow(by: dilations[i])
    guard !overflow, span < Int.max else { return nil }
    return span + 1
  }

  /// Output spatial extents for input extents `input`, or `nil` when the window does not fit
  /// (an extent would be < 1) or a parameter is not positive.
  public func outputSpatial(input: [Int]) -> [Int]? {
    guard input.count == spatialRank, strides.count == spatialRank, dilations.count == spatialRank,
      size.allSatisfy({ $0 >= 1 }), strides.allSatisfy({ $0 >= 1 }), dilations.allSatisfy({ $0 >= 1 })
    else { return nil }
    // Every sum and product is checked: pads, sizes and dilations come from model files
    // (an ONNX pad of 2⁶² trapped here).
    guard input.allSatisfy({ $0 >= 0 }), let (before, after) = checkedPads(input: input),
      before.count == spatialRank, after.count == spatialRank,
      before.allSatisfy({ $0 >= 0 }), after.allSatisfy({ $0 >= 0 })
    else { return nil }
    var out = [Int]()
    for i in 0..<spatialRank {
      guard let effective = effectiveSize(i) else { return nil }
      let (a, o1) = input[i].addingReportingOverflow(before[i])
      let (padded, o2) = a.addingReportingOverflow(after[i])
      guard !o1, !o2, padded >= effective else { return nil }
      out.append((padded - effective) / strides[i] + 1)
    }
    return out
  }
}
