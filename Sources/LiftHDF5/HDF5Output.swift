import CHDF5
import Foundation

/// Writes a new HDF5 file of fixed-shape datasets, filled row range by row range (memory flat
/// in the number of rows), plus groups and string attributes. Made for outputs: the caller
/// gives the path (a temporary file, renamed into place once complete) and calls ``close()``.
///
/// Element types: int8, float32, int64 and variable-length UTF-8 strings (what h5py writes
/// for `str` arrays). Paths are absolute inside the file (`/raw/seq`); parent groups are made
/// on demand.
public final class HDF5Output {
  /// The element type of a dataset.
  public enum Element: Sendable {
    case int8, float32, int64, string
  }

  /// One dataset being filled; rows are written along its first axis.
  public final class Dataset {
    let id: hid_t
    let element: Element
    let shape: [Int]
    let path: String
    let file: String

    init(id: hid_t, element: Element, shape: [Int], path: String, file: String) {
      self.id = id
      self.element = element
      self.shape = shape
      self.path = path
      self.file = file
    }

    deinit { H5Dclose(id) }

    /// Selects rows `range` of the file's dataspace and a matching memory space.
    func withRows(_ range: Range<Int>, _ body: (hid_t, hid_t) -> herr_t) throws(HDF5Error) {
      precondition(range.lowerBound >= 0 && range.upperBound <= shape[0])
      let fileSpace = H5Dget_space(id)
      defer { H5Sclose(fileSpace) }
      var start = [hsize_t(range.lowerBound)] + shape.dropFirst().map { _ in hsize_t(0) }
      var count = [hsize_t(range.count)] + shape.dropFirst().map { hsize_t($0) }
      guard H5Sselect_hyperslab(fileSpace, H5S_SELECT_SET, &start, nil, &count, nil) >= 0 else {
        throw .readFailed(file: file, path: path)
      }
      let memory = H5Screate_simple(Int32(count.count), &count, nil)
      defer { H5Sclose(memory) }
      guard body(memory, fileSpace) >= 0 else { throw .readFailed(file: file, path: path) }
    }

    /// Writes rows `range` from `values` (row-major, `range.count × ∏ shape[1...]` elements
    /// of the dataset's type: `Int8`, `Float`, `Int64`).
    public func write<T>(rows range: Range<Int>, _ values: UnsafeBufferPointer<T>) throws(HDF5Error) {
      let type: hid_t
      switch element {
      case .int8: type = lift_h5t_native_int8()
      case .float32: type = lift_h5t_native_float()
      case .int64: type = lift_h5t_native_int64()
      case .string: preconditionFailure("strings are written with write(rows:strings:)")
      }
      precondition(values.count == range.count * shape.dropFirst().reduce(1, *))
      try withRows(range) { H5Dwrite(id, type, $0, $1, lift_h5p_default(), values.baseAddress) }
    }

    /// Writes rows `range` of a one-dimensional string dataset.
    public func write(rows range: Range<Int>, strings: [String]) throws(HDF5Error) {
      precondition(element == .string && strings.count == range.count)
      let type = HDF5Output.stringType()
      defer { H5Tclose(type) }
      let copies = strings.map { strdup($0) }
      defer { copies.forEach { free($0) } }
      var pointers: [UnsafePointer<CChar>?] = copies.map { UnsafePointer($0) }
      try withRows(range) { H5Dwrite(id, type, $0, $1, lift_h5p_default(), &pointers) }
    }
  }

  let file: hid_t
  /// The name used in errors.
  public let name: String
  private var closed = false

  /// Creates (truncates) the file at `path`.
  ///
  /// - Throws: ``HDF5Error/unreadable(file:reason:)`` when libhdf5 cannot create it.
  public init(path: String, name: String) throws(HDF5Error) {
    lift_h5_silence_errors()
    self.name = name
    file = H5Fcreate(path, lift_h5f_acc_trunc(), lift_h5p_default(), lift_h5p_default())
    guard file >= 0 else { throw .unreadable(file: name, reason: "libhdf5 cannot create the file") }
  }

  deinit { close() }

  /// Flushes and closes the file; later calls do nothing.
  public func close() {
    guard !closed else { return }
    closed = true
    H5Fclose(file)
  }

  static func stringType() -> hid_t {
    let type = H5Tcopy(lift_h5t_c_s1())
    H5Tset_size(type, lift_h5t_variable())
    H5Tset_cset(type, H5T_CSET_UTF8)
    return type
  }

  /// Creates the groups of `path` that are missing.
  public func group(_ path: String) throws(HDF5Error) {
    var prefix = ""
    for part in path.split(separator: "/") {
      prefix += "/" + part
      if H5Lexists(file, prefix, lift_h5p_default()) > 0 { continue }
      let g = H5Gcreate2(file, prefix, lift_h5p_default(), lift_h5p_default(), lift_h5p_default())
      guard g >= 0 else { throw .readFailed(file: name, path: prefix) }
      H5Gclose(g)
    }
  }

  /// Creates the dataset `path` of `shape` (contiguous, filled by ``Dataset/write(rows:_:)``).
  public func dataset(_ path: String, _ element: Element, shape: [Int]) throws(HDF5Error) -> Dataset {
    let parents = path.split(separator: "/").dropLast()
    if !parents.isEmpty { try group(parents.joined(separator: "/")) }
    var dims = shape.map { hsize_t($0) }
    let space = H5Screate_simple(Int32(dims.count), &dims, nil)
    defer { H5Sclose(space) }
    let type: hid_t
    switch element {
    case .int8: type = H5Tcopy(lift_h5t_native_int8())
    case .float32: type = H5Tcopy(lift_h5t_native_float())
    case .int64: type = H5Tcopy(lift_h5t_native_int64())
    case .string: type = HDF5Output.stringType()
    }
    defer { H5Tclose(type) }
    let id = H5Dcreate2(file, path, type, space, lift_h5p_default(), lift_h5p_default(), lift_h5p_default())
    guard id >= 0 else { throw .readFailed(file: name, path: path) }
    return Dataset(id: id, element: element, shape: shape, path: path, file: name)
  }

  /// Sets the scalar variable-length string attribute `key` on the root group.
  public func attribute(_ key: String, _ value: String) throws(HDF5Error) {
    let type = HDF5Output.stringType()
    defer { H5Tclose(type) }
    let space = H5Screate(H5S_SCALAR)
    defer { H5Sclose(space) }
    let attr = H5Acreate2(file, key, type, space, lift_h5p_default(), lift_h5p_default())
    guard attr >= 0 else { throw .readFailed(file: name, path: "/@\(key)") }
    defer { H5Aclose(attr) }
    let copy = strdup(value)
    defer { free(copy) }
    var pointer: UnsafePointer<CChar>? = UnsafePointer(copy)
    guard H5Awrite(attr, type, &pointer) >= 0 else { throw .readFailed(file: name, path: "/@\(key)") }
  }
}
