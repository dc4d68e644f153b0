"""Bad input raises SwiftDeepLiftError with the tool's one-line message; never a crash."""
import ctypes

import numpy as np
import pytest

import swiftdeeplift
from swiftdeeplift import SwiftDeepLiftError
from swiftdeeplift._lib import LIB
from conftest import export_onnx, one_hot

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture
def model_file(tmp_path, torch, genomics_cnn):
    return export_onnx(torch, genomics_cnn, one_hot(2, 50), tmp_path / "m.onnx")


def cli_message(cli, *args, cwd=None):
    r = cli(*args, check=False, cwd=cwd)
    assert r.returncode == 1, r.stderr
    line = r.stderr.strip().splitlines()[-1]
    assert line.startswith("error: ")
    return line[len("error: "):]


def test_missing_and_truncated_files_say_what_the_tool_says(cli, tmp_path, model_file):
    np.save(tmp_path / "x.npy", one_hot(2, 50))
    missing = tmp_path / "nothere.onnx"
    trunc = tmp_path / "trunc.onnx"
    trunc.write_bytes(model_file.read_bytes()[:300])
    for bad in (missing, trunc):
        with pytest.raises(SwiftDeepLiftError) as e:
            swiftdeeplift.Model(bad)
        # The tool names the file as given: give it the bare name, from its folder.
        assert str(e.value) == cli_message(cli, "explain", bad.name, "--input", "x.npy", "--output", "o.npy", cwd=tmp_path)
        assert e.value.status == 1
    assert not (tmp_path / "o.npy").exists()


def test_bytes_that_are_no_model():
    for data in (b"", b"\x00" * 10, b"PK\x03\x04garbage", b"\x89HDF\r\n\x1a\n" + b"\x00" * 100):
        with pytest.raises(SwiftDeepLiftError):
            swiftdeeplift.Model(data, name="junk.onnx")


def test_shapes_tasks_layers_and_values(model_file):
    m = swiftdeeplift.Model(model_file)
    x = one_hot(3, 50)
    cases = [
        (dict(inputs=one_hot(3, 49)), "49"),
        (dict(inputs=x, task=7), "7"),
        (dict(inputs=x, target_layer="nope"), "'nope'"),
        (dict(inputs=x, references=np.zeros((3, 4, 49), np.float32)), "(3, 4, 49)"),
        (dict(inputs=x, background=np.zeros((2, 4, 48), np.float32)), "(2, 4, 48)"),
        (dict(inputs=x, references=np.zeros((2, 2, 2, 4, 50), np.float32)), "reference"),
        (dict(inputs=np.where(x > 0, np.nan, 0).astype(np.float32)), "NaN"),
        (dict(inputs=x[:0]), "empty"),
        (dict(inputs=[x, x]), "1 input(s)"),
        (dict(inputs=x, output="nonsense"), "nonsense"),
        (dict(inputs=x, maxpool="max"), "max"),
        (dict(inputs=x, shuffles=0), "shuffles"),
        (dict(inputs=x, batch_size=0), "batch-size"),
        (dict(inputs=x, method="integrated-gradients", steps=0), "steps"),
        (dict(inputs=np.zeros((3, 50, 4), np.float32)), "(3, 50, 4)"),
    ]
    for kwargs, needle in cases:
        with pytest.raises(SwiftDeepLiftError) as e:
            m.explain(**kwargs)
        assert needle in str(e.value), (kwargs.keys(), str(e.value))
        assert "\n" not in str(e.value)


def test_python_level_errors(mlp, torch):
    with pytest.raises(ValueError, match="unknown rule"):
        swiftdeeplift.DeepLift(mlp, rule="deeplift-9")
    with pytest.raises(TypeError):
        swiftdeeplift.Model(42)
    with pytest.raises(ValueError, match="3 values for 2 examples"):
        swiftdeeplift.DeepLift(mlp).attribute(torch.zeros(2, 10), target=[0, 1, 2])
    with pytest.raises(ValueError):
        swiftdeeplift.DeepLiftShap(mlp).attribute(torch.zeros(2, 10))
    with pytest.raises(NotImplementedError):
        swiftdeeplift.DeepLift(mlp).attribute(torch.zeros(2, 10), additional_forward_args=(1,))


def test_c_abi_refuses_null_and_malformed_arguments(model_file):
    """Direct calls with null handles, pointers and bad counts: status 2 and a message, no trap."""
    err = ctypes.create_string_buffer(256)
    assert LIB.liftc_model_open(None, None, err, 256) == 2
    out = ctypes.c_void_p()
    assert LIB.liftc_model_open(None, ctypes.byref(out), err, 256) == 2 and b"null" in err.value
    assert LIB.liftc_model_open_bytes(None, 5, None, ctypes.byref(out), err, 256) == 2
    assert LIB.liftc_model_input_count(None) == -1
    LIB.liftc_model_free(None)
    LIB.liftc_options_free(None)
    opts = LIB.liftc_options_new()
    try:
        assert LIB.liftc_options_set(opts, b"colour", b"red", err, 256) == 2 and b"unknown option" in err.value
        assert LIB.liftc_options_set(None, b"task", b"1", err, 256) == 2
        assert LIB.liftc_options_set(opts, b"task", b"-1", err, 256) == 2
        null = ctypes.POINTER(ctypes.c_float)()
        assert LIB.liftc_explain(None, opts, 0, None, None, None, 0, 0, None, None, None, 0, None, None, None,
                                 null, 0, err, 256) == 2
        assert LIB.liftc_model_open(str(model_file).encode(), ctypes.byref(out), err, 256) == 0
        try:
            # One input claimed, but null data / ranks; then a negative rank; then a bad reference kind.
            assert LIB.liftc_explain(out, opts, 1, None, None, None, 0, 0, None, None, None, 1, None, None, None,
                                     null, 0, err, 256) == 2
            ranks = (ctypes.c_int32 * 1)(-3)
            dims = (ctypes.c_int64 * 1)(1)
            data = (ctypes.POINTER(ctypes.c_float) * 1)()
            assert LIB.liftc_explain(out, opts, 1, data, ranks, dims, 0, 0, None, None, None, 1, None, None, None,
                                     null, 0, err, 256) == 2 and b"rank" in err.value
            x = one_hot(1, 50)
            data = (ctypes.POINTER(ctypes.c_float) * 1)(x.ctypes.data_as(ctypes.POINTER(ctypes.c_float)))
            ranks = (ctypes.c_int32 * 1)(3)
            dims = (ctypes.c_int64 * 3)(1, 4, 50)
            assert LIB.liftc_explain(out, opts, 1, data, ranks, dims, 9, 0, None, None, None, 1, None, None, None,
                                     null, 0, err, 256) == 2 and b"reference kind" in err.value
            # A wrong output shape is refused before anything is written.
            o = np.full((1, 4, 49), 7.0, np.float32)
            odata = (ctypes.POINTER(ctypes.c_float) * 1)(o.ctypes.data_as(ctypes.POINTER(ctypes.c_float)))
            odims = (ctypes.c_int64 * 3)(1, 4, 49)
            assert LIB.liftc_explain(out, opts, 1, data, ranks, dims, 0, 0, None, None, None, 1, odata, ranks, odims,
                                     null, 0, err, 256) == 2 and b"(1, 4, 49)" in err.value
            assert (o == 7.0).all()
            # A message longer than the buffer is cut, NUL-terminated.
            small = ctypes.create_string_buffer(8)
            assert LIB.liftc_options_set(opts, b"colour", b"red", small, 8) == 2 and len(small.value) == 7
        finally:
            LIB.liftc_model_free(out)
    finally:
        LIB.liftc_options_free(opts)
