import Foundation
import LiftTensor

/// Size limits every importer applies to what a model file declares, so that a crafted file
/// is refused with an error before anything is allocated (issue 15: one cap for every tensor).
public enum TensorLimits {
  /// The most elements one tensor may have — a weight, a folded constant, or one example's
  /// activation of a node: 2³¹ (8 GiB of float32).
  public static let maximumElements = 1 << 31

  /// How many elements an importer may compute at load time beyond what the file stores
  /// (ONNX `ConstantOfShape`, folded broadcasts, gathers, concatenations, casts), summed over
  /// the whole import: 2²⁴. Such values are held as `Double` while importing; in real models
  /// they are shapes, axes and small fills. Folding may use this much plus as many elements
  /// as the file's stored tensors hold, so a 100-byte file cannot make the importer allocate
  /// gigabytes, neither with one node nor with many.
  public static let maximumFoldedElements = 1 << 24

  /// The element count of `dimensions` when every extent is non-negative, the product does
  /// not overflow and it is at most ``maximumElements``; nil otherwise.
  public static func checkedElements(_ dimensions: [Int]) -> Int? {
    checkedElements(dimensions, atMost: maximumElements)
  }

  /// The element count of `dimensions` when every extent lies in `0...limit` and the product
  /// does not overflow and is at most `limit`; nil otherwise. (Bounding every extent, not only
  /// the product, keeps sums and products of extents from overflowing even when another
  /// extent is 0.)
  public static func checkedElements(_ dimensions: [Int], atMost limit: Int) -> Int? {
    guard dimensions.allSatisfy({ $0 <= limit }), let n = Shape.checkedCount(dimensions), n <= limit else {
      return nil
    }
    return n
  }

  /// Whether `value` may be used as an extent-like integer of a model file (a pad, stride,
  /// dilation, kernel size, group count): `0...maximumElements`. Products of two such values
  /// and sums of a few stay far inside `Int`, so shape formulas on them cannot overflow.
  public static func isPlausibleExtent(_ value: Int) -> Bool {
    0 <= value && value <= maximumElements
  }
}

/// How many bytes of activations a run may hold at once, so that a batch that would not fit
/// in memory is made smaller, and a model whose single example cannot fit is refused with an
/// error, before anything is allocated (issue 15: a 300-byte `.keras` padding one axis to
/// 2.1·10⁹ passed the element cap and aborted after 16 GB).
///
/// The budget is ``fraction`` of the memory the process may use: the least of physical memory
/// (`sysconf(_SC_PHYS_PAGES) · sysconf(_SC_PAGESIZE)`), the cgroup limit (v2 `memory.max` of
/// the process's cgroup or of the root, v1 `memory.limit_in_bytes`) and the `RLIMIT_AS` /
/// `RLIMIT_DATA` resource limits (`ulimit -v`, `ulimit -d`). The environment variable
/// `DEEPLIFT_MEMORY_BUDGET` (bytes, or a number with a suffix `K`, `M`, `G`, `T`: powers of
/// 1024) replaces it.
public enum MemoryBudget {
  /// The environment variable that sets the budget (see ``parse(_:)`` for its form).
  public static let environmentVariable = "DEEPLIFT_MEMORY_BUDGET"

  /// The share of the process's memory that activations may take: the rest is left for the
  /// inputs and outputs (held whole), the weights, the kernels' scratch buffers and the
  /// allocator's overhead.
  public static let fraction = 0.5

  /// The budget in bytes: ``environmentVariable`` when set to a valid value, otherwise
  /// ``fraction`` of ``processMemory()``. Read once per process.
  public static let bytes: Int = {
    if let text = ProcessInfo.processInfo.environment[environmentVariable], let value = parse(text) { return value }
    return Int(Double(processMemory()) * fraction)
  }()

  /// Parses a byte count: digits with an optional fraction, then an optional suffix `K`, `M`,
  /// `G` or `T` (powers of 1024; a trailing `B`/`iB` is allowed: `512M`, `1.5GiB`, `2g`).
  ///
  /// - Returns: the bytes (rounded down), or nil unless the value is at least 1 byte and at
  ///   most 2⁶² (and finite: `inf`, `nan`, exponents and signs are refused).
  public static func parse(_ text: String) -> Int? {
    var s = text.trimmingCharacters(in: .whitespaces).uppercased()
    for unit in ["IB", "B"] where s.hasSuffix(unit) {
      s.removeLast(unit.count)
      break
    }
    var scale = 1.0
    if let last = s.last, let power = ["K": 1, "M": 2, "G": 3, "T": 4][String(last)] {
      scale = pow(1024, Double(power))
      s.removeLast()
    }
    // Digits and at most one point only: Double("inf"), "1e300" and "-1" are not byte counts.
    guard !s.isEmpty, s.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == ".") }),
      s.filter({ $0 == "." }).count <= 1, let value = Double(s)
    else { return nil }
    let bytes = value * scale
    guard bytes.isFinite, bytes >= 1, bytes <= Double(1 << 62) else { return nil }
    return Int(bytes)
  }

  /// The memory this process may use, in bytes: the least of physical memory, the cgroup
  /// memory limit and the address-space and data-segment resource limits (see the type's
  /// documentation).
  public static func processMemory() -> Int {
    var limits: [UInt64] = []
    let pages = sysconf(Int32(_SC_PHYS_PAGES)), pageSize = sysconf(Int32(_SC_PAGESIZE))
    if pages > 0 && pageSize > 0 {
      let (product, overflow) = UInt64(pages).multipliedReportingOverflow(by: UInt64(pageSize))
      limits.append(overflow ? UInt64.max : product)
    } else {
      limits.append(ProcessInfo.processInfo.physicalMemory)
    }
    for path in cgroupLimitFiles() {
      // "max" (no limit) and unreadable files are skipped; v1 reports "no limit" as a huge number.
      if let text = try? String(contentsOfFile: path, encoding: .utf8),
        let value = UInt64(text.trimmingCharacters(in: .whitespacesAndNewlines)), value > 0
      {
        limits.append(value)
      }
    }
    // RLIM_INFINITY is all ones on Linux and 2⁶³ − 1 on Darwin: anything from Int.max up is
    // no limit.
    #if os(Linux)
      let resources = [__rlimit_resource_t(RLIMIT_AS.rawValue), __rlimit_resource_t(RLIMIT_DATA.rawValue)]
    #else
      let resources = [RLIMIT_AS, RLIMIT_DATA]
    #endif
    for resource in resources {
      var limit = rlimit()
      if getrlimit(resource, &limit) == 0, UInt64(limit.rlim_cur) < UInt64(Int.max) {
        limits.append(UInt64(limit.rlim_cur))
      }
    }
    return Int(min(limits.min() ?? 0, UInt64(Int.max)))
  }

  /// The cgroup files that may hold this process's memory limit: v2 `memory.max` of the
  /// process's own cgroup (from `/proc/self/cgroup`) and of the mount root, and v1
  /// `memory.limit_in_bytes`.
  static func cgroupLimitFiles() -> [String] {
    var files = ["/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"]
    if let text = try? String(contentsOfFile: "/proc/self/cgroup", encoding: .utf8) {
      for line in text.split(separator: "\n") where line.hasPrefix("0::/") {
        let path = line.dropFirst(3)
        if path.count > 1, !path.contains("..") { files.append("/sys/fs/cgroup\(path)/memory.max") }
      }
    }
    return files
  }

  /// `bytes` for messages: `512 B`, `3.2 MB`, `8.4 GB` (powers of 1000, as `ls -lh --si`).
  public static func describe(_ bytes: Int) -> String {
    let units = ["B", "kB", "MB", "GB", "TB", "PB", "EB"]
    var value = Double(bytes)
    var unit = 0
    while value >= 1000 && unit < units.count - 1 {
      value /= 1000
      unit += 1
    }
    return unit == 0 ? "\(bytes) B" : String(format: "%.1f", value) + " " + units[unit]
  }
}
