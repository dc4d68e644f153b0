import CHDF5

/// An open HDF5 group or dataset: something that carries attributes.
///
/// Not thread-confined by libhdf5 (the library is built thread-safe), but the wrapper makes no
/// promise beyond reading; do not share instances across tasks.
public class HDF5Object {
  let id: hid_t
  let file: FileHandleBox
  /// The absolute path of the object inside its file (`/`, `/model_weights/dense`, …).
  public let path: String

  init(id: hid_t, file: FileHandleBox, path: String) {
    self.id = id
    self.file = file
    self.path = path
  }

  deinit { H5Oclose(id) }

  /// The name of the file, for messages.
  public var fileName: String { file.name }

  func child(_ relative: String) -> String {
    path == "/" ? "/" + relative : path + "/" + relative
  }

  /// Whether the object has an attribute called `name`.
  public func hasAttribute(_ name: String) -> Bool {
    silenceHDF5Errors()
    return H5Aexists(id, name) > 0
  }

  /// Reads a string attribute that holds one string (a scalar, or an array of one element).
  /// Fixed-length (h5py `bytes`) and variable-length (h5py `str`) strings are both accepted;
  /// the bytes are decoded as UTF-8 with invalid sequences replaced.
  public func stringAttribute(_ name: String) throws(HDF5Error) -> String {
    let values = try stringArrayAttribute(name)
    guard values.count == 1 else {
      throw .wrongType(file: file.name, path: child("@" + name), expected: "a single string")
    }
    return values[0]
  }

  /// Reads a string attribute of any rank as a flat array in row-major order (Keras
  /// `weight_names`, `layer_names`). An attribute with no elements gives `[]` whatever its
  /// element type (tf.keras writes an empty `float64` array for layers without weights).
  public func stringArrayAttribute(_ name: String) throws(HDF5Error) -> [String] {
    silenceHDF5Errors()
    let where_ = child("@" + name)
    let attr = try openAttribute(name)
    defer { H5Aclose(attr) }
    let space = H5Aget_space(attr)
    guard space >= 0 else { throw .readFailed(file: file.name, path: where_) }
    defer { H5Sclose(space) }
    let points = H5Sget_simple_extent_npoints(space)
    guard points >= 0 else { throw .readFailed(file: file.name, path: where_) }
    if points == 0 { return [] }
    guard points <= 1 << 24 else { throw .tooLarge(file: file.name, path: where_, dimensions: [Int(points)]) }
    let n = Int(points)
    let ftype = H5Aget_type(attr)
    guard ftype >= 0 else { throw .readFailed(file: file.name, path: where_) }
    defer { H5Tclose(ftype) }
    guard H5Tget_class(ftype) == H5T_STRING else {
      throw .wrongType(file: file.name, path: where_, expected: "a string attribute")
    }
    let memtype = H5Tcopy(lift_h5t_c_s1())
    guard memtype >= 0 else { throw .readFailed(file: file.name, path: where_) }
    defer { H5Tclose(memtype) }
    H5Tset_cset(memtype, H5Tget_cset(ftype))
    // The attribute's stored bytes must hold the declared elements (a variable-length element
    // is a 4-byte length, a heap address of 2–8 bytes and a 4-byte index, so at least 10
    // bytes; a fixed-length one `size` bytes): a dataspace declaring far more elements than
    // the file holds is damage, refused before libhdf5 sizes its conversion buffers by it.
    let isVariable = H5Tis_variable_str(ftype) > 0
    let elementBytes = isVariable ? 10 : max(1, H5Tget_size(ftype))
    let stored = H5Aget_storage_size(attr)
    guard UInt64(n) <= UInt64(stored) / UInt64(elementBytes) else {
      throw .corrupt(file: file.name, reason: "attribute \(where_) declares \(n) strings in \(stored) stored bytes")
    }

    if isVariable {
      // libhdf5 dereferences each element's global heap ID unchecked: check them first.
      try file.strings.checkAttribute(name, elements: n)
      guard H5Tset_size(memtype, lift_h5t_variable()) >= 0 else {
        throw .readFailed(file: file.name, path: where_)
      }
      var pointers = [UnsafeMutablePointer<CChar>?](repeating: nil, count: n)
      let status = pointers.withUnsafeMutableBytes { H5Aread(attr, memtype, $0.baseAddress) }
      guard status >= 0 else { throw .readFailed(file: file.name, path: where_) }
      let strings = pointers.map { pointer -> String in
        guard let pointer else { return "" }
        return String(cString: pointer)  // repairs invalid UTF-8
      }
      _ = pointers.withUnsafeMutableBytes { lift_h5_vlen_reclaim(memtype, space, $0.baseAddress) }
      return strings
    } else {
      let size = H5Tget_size(ftype)
      guard size > 0, size <= 1 << 26, size * n <= 1 << 28 else {
        throw .tooLarge(file: file.name, path: where_, dimensions: [n, size])
      }
      H5Tset_size(memtype, size)
      H5Tset_strpad(memtype, H5T_STR_NULLPAD)
      var buffer = [UInt8](repeating: 0, count: size * n)
      let status = buffer.withUnsafeMutableBytes { H5Aread(attr, memtype, $0.baseAddress) }
      guard status >= 0 else { throw .readFailed(file: file.name, path: where_) }
      return (0..<n).map { i in
        let bytes = buffer[(i * size)..<((i + 1) * size)].prefix { $0 != 0 }
        return String(decoding: bytes, as: UTF8.self)
      }
    }
  }

  /// Reads an integer attribute of any rank as a flat array (converted to `Int`).
  public func intArrayAttribute(_ name: String) throws(HDF5Error) -> [Int] {
    silenceHDF5Errors()
    let where_ = child("@" + name)
    let attr = try openAttribute(name)
    defer { H5Aclose(attr) }
    let space = H5Aget_space(attr)
    guard space >= 0 else { throw .readFailed(file: file.name, path: where_) }
    defer { H5Sclose(space) }
    let points = H5Sget_simple_extent_npoints(space)
    guard points >= 0 else { throw .readFailed(file: file.name, path: where_) }
    if points == 0 { return [] }
    guard points <= 1 << 24 else { throw .tooLarge(file: file.name, path: where_, dimensions: [Int(points)]) }
    let ftype = H5Aget_type(attr)
    guard ftype >= 0 else { throw .readFailed(file: file.name, path: where_) }
    defer { H5Tclose(ftype) }
    guard H5Tget_class(ftype) == H5T_INTEGER else {
      throw .wrongType(file: file.name, path: where_, expected: "an integer attribute")
    }
    var values = [Int64](repeating: 0, count: Int(points))
    let status = values.withUnsafeMutableBytes { H5Aread(attr, lift_h5t_native_int64(), $0.baseAddress) }
    guard status >= 0 else { throw .readFailed(file: file.name, path: where_) }
    return values.map { Int($0) }
  }

  /// Reads an integer attribute holding one value.
  public func intAttribute(_ name: String) throws(HDF5Error) -> Int {
    let values = try intArrayAttribute(name)
    guard values.count == 1 else {
      throw .wrongType(file: file.name, path: child("@" + name), expected: "a single integer")
    }
    return values[0]
  }

  private func openAttribute(_ name: String) throws(HDF5Error) -> hid_t {
    guard H5Aexists(id, name) > 0 else { throw .missing(file: file.name, path: child("@" + name)) }
    let attr = H5Aopen(id, name, lift_h5p_default())
    guard attr >= 0 else { throw .readFailed(file: file.name, path: child("@" + name)) }
    return attr
  }
}

/// An HDF5 group: a directory of named groups and datasets.
public final class HDF5Group: HDF5Object {
  /// The names of the group's direct children (groups, datasets), in name order.
  public func childNames() throws(HDF5Error) -> [String] {
    silenceHDF5Errors()
    var info = H5G_info_t()
    guard H5Gget_info(id, &info) >= 0 else { throw .readFailed(file: file.name, path: path) }
    guard info.nlinks <= 1 << 24 else {
      throw .tooLarge(file: file.name, path: path, dimensions: [Int(info.nlinks)])
    }
    var names = [String]()
    for i in 0..<info.nlinks {
      let length = H5Lget_name_by_idx(id, ".", H5_INDEX_NAME, H5_ITER_INC, i, nil, 0, lift_h5p_default())
      guard length >= 0, length < 1 << 20 else { throw .readFailed(file: file.name, path: path) }
      var buffer = [CChar](repeating: 0, count: Int(length) + 1)
      let got = H5Lget_name_by_idx(
        id, ".", H5_INDEX_NAME, H5_ITER_INC, i, &buffer, buffer.count, lift_h5p_default())
      guard got >= 0 else { throw .readFailed(file: file.name, path: path) }
      names.append(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
    }
    return names
  }

  /// Whether a link exists at the relative `path` (`a/b/c`), checked component by component.
  /// A link that is not a hard link (external, soft, user-defined) counts as existing and is
  /// not followed: opening the path then throws ``HDF5Error/refused(file:path:reason:)``.
  public func contains(_ path: String) -> Bool {
    walk(path).exists
  }

  /// Walks `path` one component at a time without following anything but hard links: an
  /// external link would make libhdf5 open another file (any path on the machine), and a soft
  /// link may lead to one. `link` is the first link that is not a hard link, with its type
  /// (`H5L_TYPE_SOFT` 1, `H5L_TYPE_EXTERNAL` 64, user-defined ≥ 65).
  func walk(_ path: String) -> (exists: Bool, link: (path: String, type: Int32)?) {
    silenceHDF5Errors()
    let components = path.split(separator: "/", omittingEmptySubsequences: true)
    guard !components.isEmpty else { return (false, nil) }
    var prefix = ""
    for component in components {
      prefix += prefix.isEmpty ? String(component) : "/" + component
      // H5Lexists traverses the components before the last one: all checked to be hard links.
      guard H5Lexists(id, prefix, lift_h5p_default()) > 0 else { return (false, nil) }
      let type = lift_h5l_type(id, prefix)
      if type != 0 { return (true, (prefix, type)) }
    }
    return (true, nil)
  }

  /// The refusal of the link at the relative `path` of type `type`, naming its target.
  func refusal(link path: String, type: Int32) -> HDF5Error {
    let reason: String
    switch type {
    case 64:
      // The value of an external link: flags (1 byte), file name, NUL, object path, NUL.
      var target = "another file"
      let size = lift_h5l_value_size(id, path)
      if size > 0, size < 1 << 16 {
        var value = [UInt8](repeating: 0, count: size)
        if H5Lget_val(id, path, &value, value.count, lift_h5p_default()) >= 0 {
          let parts = value.dropFirst().split(separator: 0, omittingEmptySubsequences: false)
          if parts.count >= 2 {
            target = "'\(String(decoding: parts[0], as: UTF8.self))' (object '\(String(decoding: parts[1], as: UTF8.self))')"
          }
        }
      }
      reason = "is an external link to \(target); data outside the file is not read"
    case 1: reason = "is a soft link; only hard links are followed"
    default: reason = "is a user-defined link (type \(type)); only hard links are followed"
    }
    return .refused(file: file.name, path: child(path), reason: reason)
  }

  /// Whether the object at the relative `path` exists and is a group (true as well for a link
  /// that is not followed, so that opening it reports the refusal).
  public func containsGroup(_ path: String) -> Bool {
    let walked = walk(path)
    guard walked.exists else { return false }
    if walked.link != nil { return true }
    let object = H5Oopen(id, path, lift_h5p_default())
    guard object >= 0 else { return false }
    defer { H5Oclose(object) }
    return H5Iget_type(object) == H5I_GROUP
  }

  /// Opens the group at the relative `path`.
  public func group(_ path: String) throws(HDF5Error) -> HDF5Group {
    let object = try openObject(path, type: H5I_GROUP, expected: "a group")
    return HDF5Group(id: object, file: file, path: child(path))
  }

  /// Opens the dataset at the relative `path` (dataset names may contain `:`, as in Keras'
  /// `kernel:0`; `/` separates groups).
  public func dataset(_ path: String) throws(HDF5Error) -> HDF5Dataset {
    let object = try openObject(path, type: H5I_DATASET, expected: "a dataset")
    return try HDF5Dataset(datasetID: object, file: file, path: child(path))
  }

  private func openObject(_ path: String, type: H5I_type_t, expected: String) throws(HDF5Error) -> hid_t {
    let walked = walk(path)
    guard walked.exists else { throw .missing(file: file.name, path: child(path)) }
    if let link = walked.link { throw refusal(link: link.path, type: link.type) }
    let object = H5Oopen(id, path, lift_h5p_default())
    guard object >= 0 else { throw .readFailed(file: file.name, path: child(path)) }
    guard H5Iget_type(object) == type else {
      H5Oclose(object)
      throw .wrongType(file: file.name, path: child(path), expected: expected)
    }
    return object
  }
}

/// An HDF5 dataset of numbers.
public final class HDF5Dataset: HDF5Object {
  /// The extents, outermost first (`[]` for a scalar dataset).
  public let shape: [Int]
  /// Number of elements (product of ``shape``; 1 for a scalar).
  public let count: Int

  init(datasetID id: hid_t, file: FileHandleBox, path: String) throws(HDF5Error) {
    silenceHDF5Errors()
    let space = H5Dget_space(id)
    guard space >= 0 else {
      H5Oclose(id)
      throw .readFailed(file: file.name, path: path)
    }
    defer { H5Sclose(space) }
    let rank = H5Sget_simple_extent_ndims(space)
    guard rank >= 0, rank <= 32 else {
      H5Oclose(id)
      throw .readFailed(file: file.name, path: path)
    }
    var dims = [hsize_t](repeating: 0, count: Int(rank))
    guard H5Sget_simple_extent_dims(space, &dims, nil) >= 0 else {
      H5Oclose(id)
      throw .readFailed(file: file.name, path: path)
    }
    var count = 1
    for d in dims {
      let (product, overflow) = count.multipliedReportingOverflow(by: Int(clamping: d))
      guard !overflow, d <= 1 << 40, product <= 1 << 31 else {
        H5Oclose(id)
        throw .tooLarge(file: file.name, path: path, dimensions: dims.map { Int(clamping: $0) })
      }
      count = product
    }
    self.shape = dims.map { Int($0) }
    self.count = count
    // Data stored outside the file is refused before anything is read: external raw-data
    // storage (H5Pset_external, any path on the machine) and virtual datasets (mapped from
    // other files).
    let dcpl = H5Dget_create_plist(id)
    guard dcpl >= 0 else {
      H5Oclose(id)
      throw .readFailed(file: file.name, path: path)
    }
    defer { H5Pclose(dcpl) }
    var refusal: String?
    if H5Pget_layout(dcpl) == H5D_VIRTUAL {
      refusal = "is a virtual dataset (its data comes from other files); data outside the file is not read"
    } else if H5Pget_external_count(dcpl) != 0 {
      var name = [CChar](repeating: 0, count: 4096)
      var offset = off_t()
      var size = hsize_t()
      let target =
        H5Pget_external(dcpl, 0, name.count, &name, &offset, &size) >= 0
        ? "'\(String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))'" : "another file"
      refusal = "stores its data in the external file \(target); data outside the file is not read"
    }
    if let refusal {
      H5Oclose(id)
      throw .refused(file: file.name, path: path, reason: refusal)
    }
    super.init(id: id, file: file, path: path)
  }

  /// Bytes a dataset may declare beyond what it stores: a legitimately compressed dataset
  /// holds fewer bytes than it declares, so the bound is a ratio (deflate, the common filter,
  /// cannot exceed about 1032:1) above an absolute allowance that is cheap whatever the file.
  public static let expansionRatio = 1024
  /// Declared bytes always allowed (64 MiB), per dataset and per file.
  public static let allowance = 64 << 20

  /// Reads every element converted to `Float`, in row-major order. Floating-point datasets of
  /// any width (float16, float32, float64) and integer datasets are accepted; libhdf5 converts.
  ///
  /// Before anything is allocated, the declared size is checked: at most `maximumElements`
  /// elements; at most ``allowance`` bytes or ``expansionRatio`` times the bytes the dataset
  /// stores (an unallocated chunked dataset stores none and reads as its fill value); and
  /// all datasets read from one file together at most ``allowance`` +
  /// ``expansionRatio`` × the file's size. (A 0.5 MB file declaring 8 GB kernels is refused;
  /// a real model file declares about its own size, twice for float16 weights.)
  ///
  /// - Throws: ``HDF5Error/refused(file:path:reason:)`` when a bound is exceeded,
  ///   ``HDF5Error/wrongType(file:path:expected:)`` for non-numeric data,
  ///   ``HDF5Error/readFailed(file:path:)``.
  public func readFloats(maximumElements: Int = 1 << 31) throws(HDF5Error) -> [Float] {
    silenceHDF5Errors()
    guard count <= maximumElements else {
      throw .refused(file: file.name, path: path, reason: "declares \(count) elements, more than the limit \(maximumElements)")
    }
    let declared = count * MemoryLayout<Float>.size
    let stored = Int(clamping: H5Dget_storage_size(id))
    guard declared <= Self.allowance || declared / Self.expansionRatio <= stored else {
      throw .refused(
        file: file.name, path: path,
        reason: "declares \(declared) bytes but stores \(stored) (unallocated or implausibly compressed data)")
    }
    var fileSize: hsize_t = 0
    H5Fget_filesize(file.id, &fileSize)
    let budget = Self.allowance + Self.expansionRatio * Int(clamping: fileSize)
    guard file.declaredBytes + declared <= budget else {
      throw .refused(
        file: file.name, path: path,
        reason: "brings the data read to \(file.declaredBytes + declared) bytes, more than \(budget) for a file of \(fileSize) bytes")
    }
    file.declaredBytes += declared
    let ftype = H5Dget_type(id)
    guard ftype >= 0 else { throw .readFailed(file: file.name, path: path) }
    defer { H5Tclose(ftype) }
    let typeClass = H5Tget_class(ftype)
    guard typeClass == H5T_FLOAT || typeClass == H5T_INTEGER else {
      throw .wrongType(file: file.name, path: path, expected: "a numeric dataset")
    }
    if count == 0 { return [] }
    var values = [Float](repeating: 0, count: count)
    let status = values.withUnsafeMutableBytes {
      H5Dread(id, lift_h5t_native_float(), lift_h5s_all(), lift_h5s_all(), lift_h5p_default(), $0.baseAddress)
    }
    guard status >= 0 else { throw .readFailed(file: file.name, path: path) }
    return values
  }
}
