"""ctypes bindings of the C ABI (Sources/LiftC/liftc.h)."""
from __future__ import annotations

import ctypes
import os
from pathlib import Path

import numpy as np

_ERR_CAP = 4096

c_int32_p = ctypes.POINTER(ctypes.c_int32)
c_int64_p = ctypes.POINTER(ctypes.c_int64)
c_float_p = ctypes.POINTER(ctypes.c_float)
c_float_pp = ctypes.POINTER(c_float_p)


class SwiftDeepLiftError(RuntimeError):
    """The library refused the model, input or options; the message is the `deeplift` tool's
    one line (naming the file, layer or shape). `status` is 1 (refused) or 2 (malformed call)."""

    def __init__(self, message: str, status: int = 1):
        super().__init__(message)
        self.status = status


def _library_path() -> Path:
    given = os.environ.get("SWIFTDEEPLIFT_LIB")
    if given:
        return Path(given)
    return Path(__file__).resolve().parent / "libLiftC.so"


def _load() -> ctypes.CDLL:
    path = _library_path()
    if not path.is_file():
        raise ImportError(f"{path}: the Swift library is missing (reinstall with `pip install ./python`, "
                          "or set SWIFTDEEPLIFT_LIB to a built libLiftC.so)")
    lib = ctypes.CDLL(str(path))
    vp = ctypes.c_void_p
    err = [ctypes.c_char_p, ctypes.c_int64]
    lib.liftc_version.restype = ctypes.c_char_p
    lib.liftc_version.argtypes = []
    lib.liftc_model_open.restype = ctypes.c_int32
    lib.liftc_model_open.argtypes = [ctypes.c_char_p, ctypes.POINTER(vp)] + err
    lib.liftc_model_open_bytes.restype = ctypes.c_int32
    lib.liftc_model_open_bytes.argtypes = [ctypes.c_char_p, ctypes.c_int64, ctypes.c_char_p, ctypes.POINTER(vp)] + err
    lib.liftc_model_free.restype = None
    lib.liftc_model_free.argtypes = [vp]
    lib.liftc_model_input_count.restype = ctypes.c_int64
    lib.liftc_model_input_count.argtypes = [vp]
    lib.liftc_model_info.restype = ctypes.c_int32
    lib.liftc_model_info.argtypes = [vp, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_int64] + err
    lib.liftc_options_new.restype = vp
    lib.liftc_options_new.argtypes = []
    lib.liftc_options_free.restype = None
    lib.liftc_options_free.argtypes = [vp]
    lib.liftc_options_set.restype = ctypes.c_int32
    lib.liftc_options_set.argtypes = [vp, ctypes.c_char_p, ctypes.c_char_p] + err
    lib.liftc_explain.restype = ctypes.c_int32
    lib.liftc_explain.argtypes = [
        vp, vp,
        ctypes.c_int64, c_float_pp, c_int32_p, c_int64_p,
        ctypes.c_int32, ctypes.c_int64, c_float_pp, c_int32_p, c_int64_p,
        ctypes.c_int64, c_float_pp, c_int32_p, c_int64_p,
        c_float_p, ctypes.c_int64,
    ] + err
    return lib


LIB = _load()


def check(call, *args) -> None:
    """Calls `call(*args, err, cap)`, raising SwiftDeepLiftError with the library's message."""
    buf = ctypes.create_string_buffer(_ERR_CAP)
    status = call(*args, buf, _ERR_CAP)
    if status != 0:
        raise SwiftDeepLiftError(buf.value.decode("utf-8", "replace"), status)


class Arrays:
    """`n` float32 C-order arrays as the C ABI takes them (data pointers, ranks, extents);
    keeps the arrays alive while the call runs."""

    def __init__(self, arrays, writable: bool = False):
        self.arrays = list(arrays)
        for a in self.arrays:
            assert a.dtype == np.float32 and a.flags.c_contiguous and (a.flags.writeable or not writable)
        n = len(self.arrays)
        self.count = n
        self.data = (c_float_p * max(n, 1))(*[a.ctypes.data_as(c_float_p) for a in self.arrays])
        self.ranks = (ctypes.c_int32 * max(n, 1))(*[a.ndim for a in self.arrays])
        dims = [d for a in self.arrays for d in a.shape]
        self.dims = (ctypes.c_int64 * max(len(dims), 1))(*dims)


def as_float32(a, what: str) -> np.ndarray:
    """A float32 C-order array, converted without a copy when `a` already is one."""
    arr = np.asarray(a)
    if arr.dtype.kind not in "fiub":
        raise TypeError(f"{what}: expected a numeric array, got dtype {arr.dtype}")
    return np.ascontiguousarray(arr, dtype=np.float32)
