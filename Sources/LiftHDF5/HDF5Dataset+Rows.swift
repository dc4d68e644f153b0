import CHDF5

extension HDF5Object {
  /// The names of the object's attributes, in name order.
  ///
  /// - Throws: ``HDF5Error/readFailed(file:path:)``, ``HDF5Error/tooLarge(file:path:dimensions:)``
  ///   for an implausible count.
  public func attributeNames() throws(HDF5Error) -> [String] {
    silenceHDF5Errors()
    let count = lift_h5o_num_attrs(id)
    guard count >= 0 else { throw .readFailed(file: file.name, path: path) }
    guard count <= 1 << 16 else { throw .tooLarge(file: file.name, path: path, dimensions: [Int(count)]) }
    var names: [String] = []
    for i in 0..<hsize_t(count) {
      let length = H5Aget_name_by_idx(id, ".", H5_INDEX_NAME, H5_ITER_INC, i, nil, 0, lift_h5p_default())
      guard length >= 0, length < 1 << 16 else { throw .readFailed(file: file.name, path: path) }
      var buffer = [CChar](repeating: 0, count: Int(length) + 1)
      guard H5Aget_name_by_idx(id, ".", H5_INDEX_NAME, H5_ITER_INC, i, &buffer, buffer.count, lift_h5p_default()) >= 0
      else { throw .readFailed(file: file.name, path: path) }
      names.append(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
    }
    return names
  }
}

extension HDF5Dataset {
  /// The stored element type in words: `int8`, `int64`, `float32`, `vlen-string`, … (class
  /// and size), for checks before reading rows.
  public var elementDescription: String {
    silenceHDF5Errors()
    let type = H5Dget_type(id)
    guard type >= 0 else { return "unknown" }
    defer { H5Tclose(type) }
    let size = H5Tget_size(type)
    switch H5Tget_class(type) {
    case H5T_INTEGER: return (H5Tget_sign(type) == H5T_SGN_2 ? "int" : "uint") + String(size * 8)
    case H5T_FLOAT: return "float" + String(size * 8)
    case H5T_STRING: return H5Tis_variable_str(type) > 0 ? "vlen-string" : "string\(size)"
    default: return "other"
    }
  }

  /// Selects rows `range` (along the first axis) of the dataset and a matching memory space.
  func withRows(_ range: Range<Int>, _ body: (hid_t, hid_t) -> herr_t) throws(HDF5Error) {
    guard !shape.isEmpty, range.lowerBound >= 0, range.upperBound <= shape[0] else {
      throw .tooLarge(file: file.name, path: path, dimensions: shape)
    }
    let fileSpace = H5Dget_space(id)
    guard fileSpace >= 0 else { throw .readFailed(file: file.name, path: path) }
    defer { H5Sclose(fileSpace) }
    var start = [hsize_t(range.lowerBound)] + shape.dropFirst().map { _ in hsize_t(0) }
    var count = [hsize_t(range.count)] + shape.dropFirst().map { hsize_t($0) }
    guard H5Sselect_hyperslab(fileSpace, H5S_SELECT_SET, &start, nil, &count, nil) >= 0 else {
      throw .readFailed(file: file.name, path: path)
    }
    let memory = H5Screate_simple(Int32(count.count), &count, nil)
    guard memory >= 0 else { throw .readFailed(file: file.name, path: path) }
    defer { H5Sclose(memory) }
    guard body(memory, fileSpace) >= 0 else { throw .readFailed(file: file.name, path: path) }
  }

  /// Elements per row (the product of the extents after the first).
  public var rowElements: Int { shape.dropFirst().reduce(1, *) }

  /// Reads rows `range` of a numeric dataset converted to `Float` (row-major).
  public func readFloatRows(_ range: Range<Int>) throws(HDF5Error) -> [Float] {
    try readRows(range, type: lift_h5t_native_float(), zero: Float(0))
  }

  /// Reads rows `range` of an integer dataset converted to `Int8` (row-major).
  public func readInt8Rows(_ range: Range<Int>) throws(HDF5Error) -> [Int8] {
    try readRows(range, type: lift_h5t_native_int8(), zero: Int8(0))
  }

  /// Reads rows `range` of an integer dataset converted to `Int64`.
  public func readInt64Rows(_ range: Range<Int>) throws(HDF5Error) -> [Int64] {
    try readRows(range, type: lift_h5t_native_int64(), zero: Int64(0))
  }

  func readRows<T>(_ range: Range<Int>, type: hid_t, zero: T) throws(HDF5Error) -> [T] {
    silenceHDF5Errors()
    let (n, overflow) = range.count.multipliedReportingOverflow(by: rowElements)
    guard !overflow, n <= 1 << 31 else { throw .tooLarge(file: file.name, path: path, dimensions: shape) }
    let ftype = H5Dget_type(id)
    guard ftype >= 0 else { throw .readFailed(file: file.name, path: path) }
    let typeClass = H5Tget_class(ftype)
    H5Tclose(ftype)
    guard typeClass == H5T_FLOAT || typeClass == H5T_INTEGER else {
      throw .wrongType(file: file.name, path: path, expected: "a numeric dataset")
    }
    var values = [T](repeating: zero, count: n)
    if n == 0 { return values }
    let result = values.withUnsafeMutableBytes { buffer -> Result<Void, HDF5Error> in
      do throws(HDF5Error) {
        try withRows(range) { H5Dread(id, type, $0, $1, lift_h5p_default(), buffer.baseAddress) }
        return .success(())
      } catch {
        return .failure(error)
      }
    }
    try result.get()
    return values
  }

  /// Reads rows `range` of a one-dimensional variable-length string dataset (what h5py
  /// writes for `str` arrays and ``HDF5Output`` for strings). Only for files this package
  /// wrote (merged shards): libhdf5 follows each element's heap reference unchecked.
  public func readStringRows(_ range: Range<Int>) throws(HDF5Error) -> [String] {
    silenceHDF5Errors()
    guard shape.count == 1 else { throw .wrongType(file: file.name, path: path, expected: "a 1-D string dataset") }
    let ftype = H5Dget_type(id)
    guard ftype >= 0 else { throw .readFailed(file: file.name, path: path) }
    let variable = H5Tget_class(ftype) == H5T_STRING && H5Tis_variable_str(ftype) > 0
    H5Tclose(ftype)
    guard variable else { throw .wrongType(file: file.name, path: path, expected: "a variable-length string dataset") }
    if range.isEmpty { return [] }
    let memtype = H5Tcopy(lift_h5t_c_s1())
    guard memtype >= 0 else { throw .readFailed(file: file.name, path: path) }
    defer { H5Tclose(memtype) }
    H5Tset_size(memtype, lift_h5t_variable())
    H5Tset_cset(memtype, H5T_CSET_UTF8)
    var pointers = [UnsafeMutablePointer<CChar>?](repeating: nil, count: range.count)
    var strings: [String] = []
    let result = pointers.withUnsafeMutableBytes { buffer -> Result<Void, HDF5Error> in
      do throws(HDF5Error) {
        try withRows(range) { memory, fileSpace in
          let status = H5Dread(id, memtype, memory, fileSpace, lift_h5p_default(), buffer.baseAddress)
          guard status >= 0 else { return status }
          strings = buffer.bindMemory(to: UnsafeMutablePointer<CChar>?.self).map { $0.map { String(cString: $0) } ?? "" }
          return lift_h5_vlen_reclaim(memtype, memory, buffer.baseAddress)
        }
        return .success(())
      } catch {
        return .failure(error)
      }
    }
    try result.get()
    return strings
  }
}
