// Best-of-15 wall times. Compare configurations on the same machine in one session; pin the
// thread count (argument) and note OPENBLAS_CORETYPE, which selects the BLAS kernel.
import Foundation
import LiftTensor

func time(_ name: String, flops: Double = 0, reps: Int = 15, _ body: () -> Void) {
  body()
  var best = Double.infinity
  for _ in 0..<reps {
    let t0 = DispatchTime.now().uptimeNanoseconds
    body()
    let t = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
    best = min(best, t)
  }
  let rate = flops > 0 ? String(format: "%6.1f GFLOP/s", flops / best / 1e9) : ""
  print(
    name.padding(toLength: 40, withPad: " ", startingAt: 0) + String(format: "%9.2f ms  ", best * 1e3) + rate)
}
/// Uniform random tensor in [-1, 1].
func rnd(_ s: Shape) -> Tensor {
  Tensor(shape: s, scalars: (0..<s.scalarCount).map { _ in Float.random(in: -1...1) })
}

if CommandLine.arguments.contains("check") {
  checkLarge()
  exit(0)
}
let threads = Int(CommandLine.arguments.dropFirst().first ?? "") ?? BLAS.threads
BLAS.setThreads(threads)
print(
  BLAS.configuration, "| threads", BLAS.threads, "| OPENBLAS_CORETYPE",
  ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] ?? "unset")
var sink: Float = 0
do {
  let x = rnd([64, 1000, 4])
  let w = rnd([19, 4, 64])
  let b = rnd([64])
  let p = ConvParameters(strides: [1], dilations: [1], padding: .same)
  let fl = 2.0 * 64 * 1000 * 76 * 64
  time("conv1d 64x1000x4 k19 ->64", flops: fl) {
    sink += conv(x, weight: w, bias: b, parameters: p).scalars[7]
  }
  let dy = rnd([64, 1000, 64])
  time("convBackwardInput same", flops: fl) {
    sink += convBackwardInput(dy, weight: w, inputShape: x.shape, parameters: p).scalars[3]
  }
  let pp = PoolParameters(size: [4], strides: [4], padding: .valid)
  time("maxPool 64x1000x64 /4") { sink += maxPool(dy, pp).scalars[1] }
  time("maxPoolArgmax 64x1000x64 /4") { sink += Float(maxPoolArgmax(dy, pp)[1]) }
  let idx = maxPoolArgmax(dy, pp)
  let g = rnd([64, 250, 64])
  time("scatterAdd") { sink += scatterAdd(g, indices: idx, inputShape: dy.shape).scalars[2] }
  time("avgPool 64x1000x64 /4") { sink += averagePool(dy, pp).scalars[1] }
  time("avgPoolBackward") { sink += averagePoolBackward(g, inputShape: dy.shape, pp).scalars[1] }
  time("elementwise add 4M") { sink += (dy + dy).scalars[0] }
  time("map relu 4M") { sink += dy.map { max($0, 0) }.scalars[0] }
  let s = rnd([1, 1, 64])
  time("broadcastMultiplyAdd 4M") { sink += broadcastMultiplyAdd(dy, scale: s, offset: s).scalars[0] }
  time("transpose [64,1000,64] 0,2,1") { sink += transposed(dy, permutation: [0, 2, 1]).scalars[0] }
}
do {
  let x = rnd([64, 250, 64])
  let w = rnd([11, 64, 64])
  let p = ConvParameters(strides: [1], dilations: [1], padding: .same)
  let fl = 2.0 * 64 * 250 * 704 * 64
  time("conv1d 64x250x64 k11 ->64", flops: fl) {
    sink += conv(x, weight: w, bias: nil, parameters: p).scalars[7]
  }
  let dy = rnd([64, 250, 64])
  time("convBackwardInput", flops: fl) {
    sink += convBackwardInput(dy, weight: w, inputShape: x.shape, parameters: p).scalars[3]
  }
  let p2 = ConvParameters(strides: [1], dilations: [4], padding: .same)
  time("conv1d dil4", flops: fl) { sink += conv(x, weight: w, bias: nil, parameters: p2).scalars[7] }
}
do {
  let x = rnd([16, 32, 32, 32])
  let w = rnd([3, 3, 32, 64])
  let p = ConvParameters(strides: [1, 1], dilations: [1, 1], padding: .same)
  let fl = 2.0 * 16 * 1024 * 288 * 64
  time("conv2d 16x32x32x32 3x3 ->64", flops: fl) {
    sink += conv(x, weight: w, bias: nil, parameters: p).scalars[7]
  }
  let dy = rnd([16, 32, 32, 64])
  time("convBackwardInput 2d", flops: fl) {
    sink += convBackwardInput(dy, weight: w, inputShape: x.shape, parameters: p).scalars[3]
  }
  let wd = rnd([3, 3, 1, 32])
  let pd = ConvParameters(strides: [1, 1], dilations: [1, 1], padding: .same, groups: 32)
  time("depthwise 3x3 32ch", flops: 2.0 * 16 * 1024 * 9 * 32) {
    sink += conv(x, weight: wd, bias: nil, parameters: pd).scalars[7]
  }
}
do {
  let x = rnd([64, 4096])
  let w = rnd([4096, 1024])
  time("dense 64x4096x1024", flops: 2.0 * 64 * 4096 * 1024) {
    sink += dense(x, weight: w, bias: nil).scalars[0]
  }
}
print(sink)
