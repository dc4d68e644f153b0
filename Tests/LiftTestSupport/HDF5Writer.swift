import CHDF5
import Foundation

/// Writes HDF5 files with libhdf5 for tests: real files made the way h5py and tf-keras make
/// them (large attributes, data past 16 MiB), and crafted ones (external links, external raw
/// storage, virtual or unallocated datasets) that no committed fixture needs to hold.
///
/// Paths are absolute inside the file (`/model_weights/dense`); groups are made on demand.
public final class HDF5Writer {
  public struct Failure: Error, CustomStringConvertible {
    public let description: String
  }

  let file: hid_t

  /// Creates (truncates) the file. `latestFormat` selects the HDF5 1.8+ object headers (as
  /// h5py's `libver="latest"`), where attributes over 64 KiB go to dense storage.
  public init(path: String, latestFormat: Bool = false) throws {
    lift_h5_silence_errors()
    let fapl = H5Pcreate(lift_h5p_file_access())
    defer { H5Pclose(fapl) }
    if latestFormat { H5Pset_libver_bounds(fapl, H5F_LIBVER_V18, H5F_LIBVER_V110) }
    file = H5Fcreate(path, lift_h5f_acc_trunc(), lift_h5p_default(), fapl)
    guard file >= 0 else { throw Failure(description: "cannot create \(path)") }
  }

  /// Opens an existing file for writing (to replace objects in a copy of a fixture).
  public init(existing path: String) throws {
    lift_h5_silence_errors()
    file = H5Fopen(path, lift_h5f_acc_rdwr(), lift_h5p_default())
    guard file >= 0 else { throw Failure(description: "cannot open \(path)") }
  }

  deinit { H5Fclose(file) }

  /// Removes the link at `path` (the object's storage stays in the file, unreferenced).
  public func delete(_ path: String) throws {
    try check(H5Ldelete(file, path, lift_h5p_default()), "delete \(path)")
  }

  /// Flushes and closes the file (also done on release).
  public func close() { H5Fflush(file, H5F_SCOPE_GLOBAL) }

  func check(_ status: some BinaryInteger, _ what: String) throws {
    guard status >= 0 else { throw Failure(description: "libhdf5 failed: \(what)") }
  }

  /// Creates the group at `path` and its parents if missing.
  public func group(_ path: String) throws {
    var prefix = ""
    for part in path.split(separator: "/") {
      prefix += "/" + part
      if H5Lexists(file, prefix, lift_h5p_default()) > 0 { continue }
      let g = H5Gcreate2(file, prefix, lift_h5p_default(), lift_h5p_default(), lift_h5p_default())
      try check(g, "create group \(prefix)")
      H5Gclose(g)
    }
  }

  func parent(of path: String) throws {
    let parts = path.split(separator: "/").dropLast()
    if !parts.isEmpty { try group(parts.joined(separator: "/")) }
  }

  /// Writes a string attribute on the object at `path`: a scalar when `values` has one element
  /// and `scalar` is true, else a 1-D array. Variable-length strings are what h5py writes for
  /// Python `str`/`bytes` (tf-keras' `model_config`, `weight_names`); fixed-length ones what
  /// it writes for numpy `bytes_` arrays.
  public func stringAttribute(
    on path: String, _ name: String, _ values: [String], variableLength: Bool, scalar: Bool = true
  ) throws {
    let object = H5Oopen(file, path, lift_h5p_default())
    try check(object, "open \(path)")
    defer { H5Oclose(object) }
    let type = H5Tcopy(lift_h5t_c_s1())
    defer { H5Tclose(type) }
    let longest = values.map(\.utf8.count).max() ?? 0
    try check(H5Tset_size(type, variableLength ? lift_h5t_variable() : max(1, longest)), "string size")
    var dims = [hsize_t(values.count)]
    let space = scalar && values.count == 1 ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &dims, nil)
    defer { H5Sclose(space) }
    let attr = H5Acreate2(object, name, type, space, lift_h5p_default(), lift_h5p_default())
    try check(attr, "create attribute \(name)")
    defer { H5Aclose(attr) }
    if variableLength {
      let strings = values.map { strdup($0) }
      defer { strings.forEach { free($0) } }
      var pointers: [UnsafePointer<CChar>?] = strings.map { UnsafePointer($0) }
      try check(H5Awrite(attr, type, &pointers), "write attribute \(name)")
    } else {
      var bytes = [UInt8](repeating: 0, count: values.count * max(1, longest))
      for (i, v) in values.enumerated() {
        for (j, b) in v.utf8.enumerated() { bytes[i * max(1, longest) + j] = b }
      }
      try check(H5Awrite(attr, type, &bytes), "write attribute \(name)")
    }
  }

  /// Where a dataset's raw data lives.
  public enum Storage {
    /// Contiguous, written from `values`.
    case contiguous
    /// Chunked with these chunk extents and never written: no chunk is allocated, reads
    /// give the fill value.
    case unallocatedChunks([Int])
    /// Chunked and deflate-compressed (level 9), written from `values`.
    case compressed(chunks: [Int])
    /// External raw-data storage: the elements are read from `file` at `offset`.
    case external(file: String, offset: Int)
  }

  /// Creates a float32 dataset at `path` with `shape`, written from `values` (row-major; none
  /// for unallocated storage).
  public func floatDataset(_ path: String, shape: [Int], values: [Float] = [], storage: Storage = .contiguous) throws {
    try parent(of: path)
    var dims = shape.map { hsize_t($0) }
    let space = H5Screate_simple(Int32(dims.count), &dims, nil)
    defer { H5Sclose(space) }
    let dcpl = H5Pcreate(lift_h5p_dataset_create())
    defer { H5Pclose(dcpl) }
    switch storage {
    case .contiguous: break
    case .unallocatedChunks(let chunks), .compressed(let chunks):
      var c = chunks.map { hsize_t($0) }
      try check(H5Pset_chunk(dcpl, Int32(c.count), &c), "chunk")
      if case .compressed = storage { try check(H5Pset_deflate(dcpl, 9), "deflate") }
    case .external(let name, let offset):
      let bytes = hsize_t(shape.reduce(1, *) * 4)
      try check(H5Pset_external(dcpl, name, off_t(offset), bytes), "external \(name)")
    }
    let d = H5Dcreate2(
      file, path, lift_h5t_native_float(), space, lift_h5p_default(), dcpl, lift_h5p_default())
    try check(d, "create dataset \(path)")
    defer { H5Dclose(d) }
    if case .unallocatedChunks = storage { return }
    if case .external = storage, values.isEmpty { return }
    try check(
      values.withUnsafeBytes {
        H5Dwrite(d, lift_h5t_native_float(), lift_h5s_all(), lift_h5s_all(), lift_h5p_default(), $0.baseAddress)
      }, "write \(path)")
  }

  /// A virtual dataset at `path` (float32, `count` elements) mapping all of `sourceDataset`
  /// in `sourceFile`.
  public func virtualDataset(_ path: String, count: Int, sourceFile: String, sourceDataset: String) throws {
    try parent(of: path)
    var dims = [hsize_t(count)]
    let space = H5Screate_simple(1, &dims, nil)
    defer { H5Sclose(space) }
    let source = H5Screate_simple(1, &dims, nil)
    defer { H5Sclose(source) }
    let dcpl = H5Pcreate(lift_h5p_dataset_create())
    defer { H5Pclose(dcpl) }
    try check(H5Pset_virtual(dcpl, space, sourceFile, sourceDataset, source), "virtual")
    let d = H5Dcreate2(
      file, path, lift_h5t_native_float(), space, lift_h5p_default(), dcpl, lift_h5p_default())
    try check(d, "create virtual dataset \(path)")
    H5Dclose(d)
  }

  /// An external link at `path` to `object` in `targetFile`.
  public func externalLink(_ path: String, targetFile: String, object: String) throws {
    try parent(of: path)
    try check(
      H5Lcreate_external(targetFile, object, file, path, lift_h5p_default(), lift_h5p_default()),
      "external link \(path)")
  }

  /// A soft link at `path` to `target` (a path in this file).
  public func softLink(_ path: String, target: String) throws {
    try parent(of: path)
    try check(H5Lcreate_soft(target, file, path, lift_h5p_default(), lift_h5p_default()), "soft link \(path)")
  }
}
