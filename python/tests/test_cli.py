"""The package and the `deeplift` tool on the same files give the same scores (one library:
bit-identical for a model file; a module exported in memory agrees to float32 round-off)."""
import numpy as np
import pytest

import swiftdeeplift
from conftest import export_onnx, one_hot

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture
def files(tmp_path, torch, genomics_cnn):
    x = one_hot(6, 50, seed=20)
    rng = np.random.default_rng(21)
    paths = {
        "model": export_onnx(torch, genomics_cnn, x, tmp_path / "m.onnx"),
        "x": tmp_path / "x.npy", "ref": tmp_path / "ref.npy", "refs": tmp_path / "refs.npy", "bg": tmp_path / "bg.npy",
    }
    np.save(paths["x"], x)
    np.save(paths["ref"], rng.random((6, 4, 50), dtype=np.float32))
    np.save(paths["refs"], rng.random((6, 3, 4, 50), dtype=np.float32))
    np.save(paths["bg"], rng.random((5, 4, 50), dtype=np.float32))
    return paths


CASES = [
    # (CLI options, Model.explain keyword arguments)
    ([], {}),
    (["--method", "reveal-cancel", "--task", "1", "--reference", "{ref}"], {"method": "reveal-cancel", "task": 1, "references": "ref"}),
    (["--method", "genomics-default", "--background", "{bg}"], {"method": "genomics-default", "background": "bg"}),
    (["--reference", "{refs}", "--maxpool", "deepshap"], {"references": "refs", "maxpool": "deepshap"}),
    (["--shuffles", "4", "--seed", "7", "--hypothetical"], {"shuffles": 4, "seed": 7, "output": "hypothetical"}),
    (["--task", "0,1", "--multipliers"], {"task": [0, 1], "output": "multipliers"}),
    (["--method", "integrated-gradients", "--steps", "16", "--reference", "{ref}"],
     {"method": "integrated-gradients", "steps": 16, "references": "ref"}),
]


@pytest.mark.parametrize("cli_args,kwargs", CASES, ids=[" ".join(c[0]) or "default" for c in CASES])
def test_model_file_equals_cli(cli, files, tmp_path, cli_args, kwargs):
    out = tmp_path / "out.npy"
    cli("explain", files["model"], "--input", files["x"], "--output", out, "--quiet",
        *[a.format(**files) for a in cli_args])
    expected = np.load(out)
    kw = {k: (np.load(files[v]) if k in ("references", "background") else v) for k, v in kwargs.items()}
    ours = swiftdeeplift.Model(files["model"]).explain(np.load(files["x"]), **kw)
    assert ours.shape == expected.shape and ours.dtype == np.float32
    np.testing.assert_array_equal(ours, expected)


def test_model_bytes_equal_cli(cli, files, tmp_path):
    out = tmp_path / "out.npy"
    cli("explain", files["model"], "--input", files["x"], "--output", out, "--method", "reveal-cancel", "--quiet")
    data = open(files["model"], "rb").read()
    ours = swiftdeeplift.Model(data, name="m.onnx").explain(np.load(files["x"]), method="reveal-cancel")
    np.testing.assert_array_equal(ours, np.load(out))


def test_torch_module_equals_cli_on_its_export(cli, files, tmp_path, genomics_cnn):
    out = tmp_path / "out.npy"
    cli("explain", files["model"], "--input", files["x"], "--output", out, "--reference", files["ref"], "--quiet")
    x, ref = np.load(files["x"]), np.load(files["ref"])
    ours = swiftdeeplift.DeepLift(genomics_cnn).attribute(x, baselines=ref, target=0)
    np.testing.assert_allclose(ours, np.load(out), rtol=0, atol=1e-6 * np.abs(np.load(out)).max())


def test_keras_model_object_equals_cli_on_its_file(cli, tmp_path):
    keras = pytest.importorskip("keras")
    if int(keras.__version__.split(".")[0]) < 3:
        pytest.skip("Keras 3 needed")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((12,)), keras.layers.Dense(8, activation="relu"),
                              keras.layers.Dense(3, activation="softmax")])
    path = tmp_path / "k.keras"
    model.save(path)
    x = np.random.default_rng(22).standard_normal((5, 12)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    cli("explain", path, "--input", tmp_path / "x.npy", "--output", tmp_path / "o.npy", "--task", "2", "--quiet")
    ours = swiftdeeplift.DeepLift(model, rule="rescale").attribute(x, target=2)
    np.testing.assert_array_equal(ours, np.load(tmp_path / "o.npy"))


def test_model_info(files, genomics_cnn):
    m = swiftdeeplift.Model(files["model"])
    assert m.info("format") == "onnx" and m.info("channel-axis") == "1"
    assert m.info("inputs") == "x" and m.info("default-target") == "y"
    assert "y" in m.info("layers").splitlines()
    with pytest.raises(swiftdeeplift.SwiftDeepLiftError, match="unknown model property"):
        m.info("colour")
    t = swiftdeeplift.Model(genomics_cnn)
    assert t.is_torch and t.info("inputs", [np.load(files["x"])]) == "input"


def test_one_model_many_calls_keeps_nothing_between_them(files):
    """A model keeps the explainer of its last options (and the engine its shared references'
    forward pass): a second call with other shared references or background must not reuse them."""
    x = np.load(files["x"])
    rng = np.random.default_rng(23)
    bg1, bg2 = rng.random((4, 4, 50), dtype=np.float32), rng.random((4, 4, 50), dtype=np.float32)
    ref1, ref2 = bg1[0], bg2[0]
    m = swiftdeeplift.Model(files["model"])
    got = [m.explain(x, background=bg1), m.explain(x, background=bg2), m.explain(x, references=ref1),
           m.explain(x, references=ref2)]
    fresh = [swiftdeeplift.Model(files["model"]).explain(x, background=bg1),
             swiftdeeplift.Model(files["model"]).explain(x, background=bg2),
             swiftdeeplift.Model(files["model"]).explain(x, references=ref1),
             swiftdeeplift.Model(files["model"]).explain(x, references=ref2)]
    for a, b in zip(got, fresh):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(got[0], got[1]) and not np.array_equal(got[2], got[3])


def test_threads_from_python(files):
    """Calls from several Python threads at once on one model (ctypes drops the GIL)."""
    from concurrent.futures import ThreadPoolExecutor
    x = np.load(files["x"])
    m = swiftdeeplift.Model(files["model"])
    expected = [m.explain(x, task=t, method=r) for t in (0, 1) for r in ("rescale", "reveal-cancel")]
    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(m.explain, x, task=t, method=r) for _ in range(3) for t in (0, 1)
                   for r in ("rescale", "reveal-cancel")]
        got = [f.result() for f in futures]
    for i, g in enumerate(got):
        np.testing.assert_array_equal(g, expected[i % 4])


def test_tf_keras_model_object_equals_cli_on_its_file(cli, tmp_path):
    """A tf-keras (Keras 2) model object is saved as .h5 (skipped where tf-keras is absent, as in CI)."""
    tf_keras = pytest.importorskip("tf_keras")
    tf_keras.utils.set_random_seed(0)
    model = tf_keras.Sequential([tf_keras.layers.Dense(8, activation="relu", input_shape=(6,)),
                                 tf_keras.layers.Dense(2, activation="sigmoid")])
    path = tmp_path / "k.h5"
    model.save(path)
    x = np.random.default_rng(24).standard_normal((4, 6)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    cli("explain", path, "--input", tmp_path / "x.npy", "--output", tmp_path / "o.npy", "--task", "1",
        "--method", "reveal-cancel", "--quiet")
    ours = swiftdeeplift.DeepLift(model, rule="reveal-cancel").attribute(x, target=1)
    np.testing.assert_array_equal(ours, np.load(tmp_path / "o.npy"))
