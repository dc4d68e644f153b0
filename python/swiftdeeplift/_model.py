"""Models: a file, bytes, a torch module (exported to ONNX in memory) or a Keras model."""
from __future__ import annotations

import ctypes
import io
import os
import tempfile
import threading
import warnings
from typing import Optional, Sequence

import numpy as np

from ._lib import LIB, Arrays, SwiftDeepLiftError, as_float32, check

# Reference kinds of liftc_explain.
ZEROS, ARRAYS, BACKGROUND, SHUFFLES = 0, 1, 2, 3

METHODS = ("rescale", "reveal-cancel", "genomics-default", "gradient", "input-x-gradient",
           "guided-backprop", "integrated-gradients")


def method_name(rule: str) -> str:
    """`rescale`, `reveal-cancel`, `genomics-default`…; underscores and case are accepted."""
    name = str(rule).strip().lower().replace("_", "-")
    aliases = {"revealcancel": "reveal-cancel", "genomicsdefault": "genomics-default", "deeplift": "rescale"}
    name = aliases.get(name, name)
    if name not in METHODS:
        raise ValueError(f"unknown rule '{rule}' (one of: {', '.join(METHODS)})")
    return name


class _Handle:
    """One loaded model (liftc_model), freed with the object."""

    def __init__(self, ptr: int):
        self.ptr = ctypes.c_void_p(ptr)

    def __del__(self):
        if LIB is not None and self.ptr:
            LIB.liftc_model_free(self.ptr)
            self.ptr = ctypes.c_void_p()


def _open_path(path: str) -> _Handle:
    out = ctypes.c_void_p()
    check(LIB.liftc_model_open, os.fsencode(path), ctypes.byref(out))
    return _Handle(out.value)


def _open_bytes(data: bytes, name: str) -> _Handle:
    out = ctypes.c_void_p()
    check(LIB.liftc_model_open_bytes, data, len(data), name.encode(), ctypes.byref(out))
    return _Handle(out.value)


def _is_torch_module(obj) -> bool:
    try:
        import torch
    except ImportError:
        return False
    return isinstance(obj, torch.nn.Module)


def _is_keras_model(obj) -> bool:
    mod = type(obj).__module__
    return (mod.startswith("keras") or mod.startswith("tf_keras") or mod.startswith("tensorflow")) and hasattr(obj, "save")


def _torch_to_onnx(module, examples: Sequence[np.ndarray]) -> bytes:
    """`torch.onnx.export` of `module` into bytes, with a dynamic batch axis; traced on one
    example of each input."""
    import torch
    try:
        import onnx  # noqa: F401  (torch.onnx.export needs it)
    except ImportError:
        raise ImportError("a torch module is exported to ONNX in memory, which needs the onnx package: "
                          "pip install onnx (or install swiftdeeplift[torch])") from None

    args = tuple(torch.from_numpy(np.ascontiguousarray(e[:1])) for e in examples)
    names = [f"input_{i}" if len(args) > 1 else "input" for i in range(len(args))]
    buf = io.BytesIO()
    was_training = module.training
    module.eval()
    try:
        with warnings.catch_warnings():
            # The TorchScript exporter (dynamo=False) warns that it is legacy; it needs no
            # onnxscript and keeps module names in the graph.
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.onnx.export(module, args, buf, input_names=names, output_names=["output"],
                              dynamic_axes={**{n: {0: "batch"} for n in names}, "output": {0: "batch"}},
                              opset_version=17, dynamo=False)
    finally:
        module.train(was_training)
    return buf.getvalue()


def _keras_to_file(model, folder: str) -> str:
    """Saves a Keras model where LiftKit reads it: `.keras` for Keras 3, `.h5` for tf-keras."""
    mod = type(model).__module__
    keras3 = False
    if mod.startswith("keras"):
        try:
            import keras
            keras3 = int(keras.__version__.split(".")[0]) >= 3
        except Exception:
            keras3 = False
    path = os.path.join(folder, "model.keras" if keras3 else "model.h5")
    model.save(path)
    return path


class Model:
    """A model the Swift library explains in process.

    `source` is a path (`.h5`, `.keras`, `.onnx`; the format is read from the content), the
    bytes of such a file, a `torch.nn.Module` (exported to ONNX in memory on first use, with a
    dynamic batch axis; re-exported for inputs of another per-example shape) or a Keras model
    (saved to a temporary file, read and removed).
    """

    def __init__(self, source, *, name: Optional[str] = None):
        self._source = source
        self._torch = _is_torch_module(source)
        self._handles = {}
        self._lock = threading.Lock()
        if self._torch:
            return
        if isinstance(source, Model):
            self._torch = source._torch
            self._source = source._source
            self._handles = source._handles
            return
        if isinstance(source, (bytes, bytearray, memoryview)):
            self._handles[None] = _open_bytes(bytes(source), name or "model.onnx")
        elif isinstance(source, (str, os.PathLike)):
            self._handles[None] = _open_path(os.fspath(source))
        elif _is_keras_model(source):
            with tempfile.TemporaryDirectory(prefix="swiftdeeplift-") as d:
                self._handles[None] = _open_path(_keras_to_file(source, d))
        else:
            raise TypeError(f"model: expected a path, bytes, a torch.nn.Module or a Keras model, got {type(source).__name__}")

    @property
    def is_torch(self) -> bool:
        return self._torch

    def _handle(self, inputs: Sequence[np.ndarray]) -> _Handle:
        if not self._torch:
            return self._handles[None]
        key = tuple(a.shape[1:] for a in inputs)
        with self._lock:
            h = self._handles.get(key)
            if h is None:
                h = _open_bytes(_torch_to_onnx(self._source, inputs), f"{type(self._source).__name__}.onnx")
                self._handles[key] = h
            return h

    def info(self, key: str, inputs: Optional[Sequence[np.ndarray]] = None) -> str:
        """A property of the loaded model: `format`, `channel-axis`, `default-target`,
        `layers`, `inputs` (torch modules: needs example `inputs`)."""
        if self._torch and inputs is None:
            raise ValueError("a torch module is exported on first use: pass example inputs")
        h = self._handle(inputs or [])
        buf = ctypes.create_string_buffer(1 << 20)
        check(LIB.liftc_model_info, h.ptr, key.encode(), buf, len(buf))
        return buf.value.decode("utf-8", "replace")

    def explain(self, inputs, *, method: str = "rescale", task=0, target_layer: Optional[str] = None,
                references=None, background=None, shuffles: Optional[int] = None, seed: int = 0,
                output: str = "contributions", maxpool: str = "gradient", batch_size: Optional[int] = None,
                steps: Optional[int] = None, ig_method: Optional[str] = None, threads: Optional[int] = None,
                channel_axis: Optional[int] = None, return_deltas: bool = False):
        """The `deeplift explain` workflow in process, with the command line's options and
        defaults (CLI.md): `references` by rank (one example's shape: shared; the input's shape:
        per example; `[N, M, …]`: M per example, averaged), `background` (`[M, …]`, averaged
        over all rows), or `shuffles` dinucleotide shuffles drawn with `seed` (the original's
        `dinuc_shuffle`). `inputs` is one array or a list (one per model input, float32 after
        conversion). Returns a float32 array per input (a list for several inputs) shaped like
        the input (`[N, T, …]` for T > 1 tasks), and with `return_deltas` the per-example
        `|Σ scores − Δ|` as well."""
        single = not isinstance(inputs, (list, tuple))
        xs = [as_float32(x, "input") for x in ([inputs] if single else inputs)]
        if any(x.ndim < 1 for x in xs):
            raise SwiftDeepLiftError("an input has no batch axis (shape ())")
        n = xs[0].shape[0] if xs else 0
        tasks = task if isinstance(task, str) else (
            ",".join(str(int(t)) for t in task) if isinstance(task, (list, tuple, np.ndarray)) else str(int(task)))
        t_count = len(tasks.split(",")) if tasks != "all" else None
        if t_count is None:
            raise ValueError("task='all' is not supported here: give the task indices")
        kinds = [references is not None, background is not None, shuffles is not None]
        if sum(kinds) > 1:
            raise ValueError("give at most one of references, background, shuffles")
        if references is not None:
            kind = ARRAYS
            refs = [as_float32(r, "references") for r in (references if isinstance(references, (list, tuple)) else [references])]
        elif background is not None:
            kind = BACKGROUND
            refs = [as_float32(r, "background") for r in (background if isinstance(background, (list, tuple)) else [background])]
        elif shuffles is not None:
            kind, refs = SHUFFLES, []
        else:
            kind, refs = ZEROS, []
        outs = [np.empty((x.shape[0], t_count) + x.shape[1:] if t_count > 1 else x.shape, dtype=np.float32) for x in xs]
        deltas = np.full(n, np.nan, dtype=np.float32)
        opts = LIB.liftc_options_new()
        try:
            def put(key, value):
                if value is not None:
                    check(LIB.liftc_options_set, opts, key.encode(), str(value).encode())
            put("method", method_name(method))
            put("task", tasks)
            put("target", target_layer)
            put("output", output)
            put("maxpool", maxpool)
            put("batch-size", batch_size)
            put("steps", steps)
            put("ig-method", ig_method)
            put("threads", threads)
            put("channel-axis", channel_axis)
            if shuffles is not None:
                put("shuffles", int(shuffles))
                put("seed", int(seed))
            h = self._handle(xs)
            xa, ra, oa = Arrays(xs), Arrays(refs), Arrays(outs, writable=True)
            check(LIB.liftc_explain, h.ptr, opts,
                  xa.count, xa.data, xa.ranks, xa.dims,
                  kind, ra.count, ra.data, ra.ranks, ra.dims,
                  oa.count, oa.data, oa.ranks, oa.dims,
                  deltas.ctypes.data_as(ctypes.POINTER(ctypes.c_float)), n)
        finally:
            LIB.liftc_options_free(opts)
        return self._result(outs, deltas, single, return_deltas)

    @staticmethod
    def _result(outs, deltas, single, return_deltas):
        scores = outs[0] if single else outs
        return (scores, deltas) if return_deltas else scores
