#ifndef LIFT_CHDF5_SHIM_H
#define LIFT_CHDF5_SHIM_H
#include <hdf5.h>
#include <hdf5_hl.h>

// HDF5's type/flag "constants" are macros that expand to function calls or casts
// (H5T_NATIVE_FLOAT is (H5OPEN H5T_NATIVE_FLOAT_g)); Swift does not import those.
static inline hid_t lift_h5t_native_float(void)  { return H5T_NATIVE_FLOAT; }
static inline hid_t lift_h5t_native_double(void) { return H5T_NATIVE_DOUBLE; }
static inline hid_t lift_h5t_native_int64(void)  { return H5T_NATIVE_INT64; }
static inline hid_t lift_h5t_native_int8(void)   { return H5T_NATIVE_INT8; }
static inline hid_t lift_h5t_c_s1(void)          { return H5T_C_S1; }
static inline hid_t lift_h5p_default(void)       { return H5P_DEFAULT; }
static inline hid_t lift_h5s_all(void)           { return H5S_ALL; }
static inline unsigned lift_h5f_acc_rdonly(void) { return H5F_ACC_RDONLY; }
static inline size_t lift_h5t_variable(void)     { return H5T_VARIABLE; }

static inline herr_t lift_h5_vlen_reclaim(hid_t memtype, hid_t space, void *buf) {
#if H5_VERSION_GE(1, 12, 0)
    return H5Treclaim(memtype, space, H5P_DEFAULT, buf);
#else
    return H5Dvlen_reclaim(memtype, space, H5P_DEFAULT, buf);
#endif
}

// Property-list classes and creation flags (macros that expand to library globals).
static inline hid_t lift_h5p_file_access(void)    { return H5P_FILE_ACCESS; }
static inline hid_t lift_h5p_dataset_create(void) { return H5P_DATASET_CREATE; }
static inline hid_t lift_h5p_link_access(void)    { return H5P_LINK_ACCESS; }
static inline unsigned lift_h5f_acc_trunc(void)   { return H5F_ACC_TRUNC; }
static inline unsigned lift_h5f_acc_rdwr(void)    { return H5F_ACC_RDWR; }

/// The type of the link `name` relative to `loc` (H5L_TYPE_HARD 0, SOFT 1, EXTERNAL 64,
/// user-defined ≥ 65), or -1 when it cannot be read. The last component is not traversed.
/// Wraps H5Lget_info, whose struct was renamed in HDF5 1.12.
static inline int lift_h5l_type(hid_t loc, const char *name) {
#if H5_VERSION_GE(1, 12, 0)
    H5L_info2_t info;
    if (H5Lget_info2(loc, name, &info, H5P_DEFAULT) < 0) return -1;
#else
    H5L_info_t info;
    if (H5Lget_info(loc, name, &info, H5P_DEFAULT) < 0) return -1;
#endif
    return (int)info.type;
}

/// The size of the value of the soft or user-defined link `name` (an external link's value
/// is a flags byte, the file name and the object path, each NUL-terminated), or -1.
static inline long lift_h5l_value_size(hid_t loc, const char *name) {
#if H5_VERSION_GE(1, 12, 0)
    H5L_info2_t info;
    if (H5Lget_info2(loc, name, &info, H5P_DEFAULT) < 0 || info.type == H5L_TYPE_HARD) return -1;
#else
    H5L_info_t info;
    if (H5Lget_info(loc, name, &info, H5P_DEFAULT) < 0 || info.type == H5L_TYPE_HARD) return -1;
#endif
    return (long)info.u.val_size;
}

// Silences HDF5's automatic error-stack printing: the Swift wrapper reports errors itself.
static inline void lift_h5_silence_errors(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

/// The number of attributes of an object, or -1 (H5Oget_info's struct changed in HDF5 1.12).
static inline long long lift_h5o_num_attrs(hid_t obj) {
#if H5_VERSION_GE(1, 12, 0)
    H5O_info2_t info;
    if (H5Oget_info3(obj, &info, H5O_INFO_NUM_ATTRS) < 0) return -1;
#else
    H5O_info_t info;
    if (H5Oget_info2(obj, &info, H5O_INFO_NUM_ATTRS) < 0) return -1;
#endif
    return (long long)info.num_attrs;
}
#endif
