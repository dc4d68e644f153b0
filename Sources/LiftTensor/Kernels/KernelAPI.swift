// Kernel API of LiftTensor. Every function here is channels-last with the batch axis first:
// 1D activations are `[N, L, C]`, 2D activations `[N, H, W, C]`, dense activations `[N, F]`.
// The parameter types live here; the kernels are in Convolution.swift, Pooling.swift,
// GEMM.swift, Layout.swift, Broadcast.swift and ../Tensor+Arithmetic.swift; BLAS/BLAS.swift
// wraps OpenBLAS and owns the threading.

/// Parameters of a (grouped, dilated, strided) convolution; the kernel size comes from the
/// weight tensor.
public struct ConvParameters: Hashable, Sendable {
  /// Step between windows, one entry (≥ 1) per spatial axis.
  public var strides: [Int]
  /// Spacing between kernel taps (1 = dense), one entry (≥ 1) per spatial axis.
  public var dilations: [Int]
  /// How the spatial axes are padded (zeros).
  public var padding: Padding
  /// Number of groups; input and output channels are split into `groups` equal parts
  /// (`groups == C_in` with one filter per channel is depthwise).
  public var groups: Int

  /// Creates convolution parameters; `strides` and `dilations` have one entry per spatial axis.
  public init(strides: [Int], dilations: [Int], padding: Padding, groups: Int = 1) {
    self.strides = strides
    self.dilations = dilations
    self.padding = padding
    self.groups = groups
  }

  /// The window geometry for a kernel with spatial extents `kernel`.
  public func geometry(kernel: [Int]) -> WindowGeometry {
    WindowGeometry(size: kernel, strides: strides, dilations: dilations, padding: padding)
  }
}

/// Parameters of a max or average pooling window.
public struct PoolParameters: Hashable, Sendable {
  /// Window extent, one entry (≥ 1) per spatial axis.
  public var size: [Int]
  /// Step between windows, one entry (≥ 1) per spatial axis.
  public var strides: [Int]
  /// How the spatial axes are padded (−∞ for max pooling; excluded from or counted as zeros in
  /// average pooling, see ``countIncludePad``).
  public var padding: Padding
  /// Average pooling only: whether padded positions count in the divisor (ONNX
  /// `count_include_pad=1`). TensorFlow/Keras `SAME` average pooling divides by the number of
  /// valid elements (`false`).
  public var countIncludePad: Bool

  /// Creates pooling parameters; `size` and `strides` have one entry per spatial axis.
  public init(size: [Int], strides: [Int], padding: Padding, countIncludePad: Bool = false) {
    self.size = size
    self.strides = strides
    self.padding = padding
    self.countIncludePad = countIncludePad
  }

  /// The window geometry (no dilation).
  public var geometry: WindowGeometry {
    WindowGeometry(size: size, strides: strides, dilations: nil, padding: padding)
  }
}
