"""Shared fixtures: small torch models built from fixed seeds, and the `deeplift` tool."""
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


def cli_path():
    """The `deeplift` binary to compare with: $SWIFTDEEPLIFT_CLI, else the repository's
    release or debug build."""
    given = os.environ.get("SWIFTDEEPLIFT_CLI")
    if given:
        return given
    for c in ("release", "debug"):
        p = ROOT / ".build" / c / "deeplift"
        if p.is_file():
            return str(p)
    return shutil.which("deeplift")


@pytest.fixture(scope="session")
def cli():
    path = cli_path()
    if path is None:
        pytest.skip("no deeplift binary (build the package or set SWIFTDEEPLIFT_CLI)")

    def run(*args, check=True, cwd=None):
        r = subprocess.run([path, *map(str, args)], capture_output=True, text=True, cwd=cwd)
        if check and r.returncode != 0:
            raise AssertionError(f"deeplift {' '.join(map(str, args))} failed ({r.returncode}): {r.stderr}")
        return r

    return run


def max_rel_error(ours, theirs):
    """max |ours − theirs| / max |theirs|: the error relative to the attributions' scale."""
    ours, theirs = np.asarray(ours, dtype=np.float64), np.asarray(theirs, dtype=np.float64)
    assert ours.shape == theirs.shape, (ours.shape, theirs.shape)
    scale = np.abs(theirs).max()
    assert scale > 0, "a zero reference attribution cannot test anything"
    return float(np.abs(ours - theirs).max() / scale)


def one_hot(n, length, seed=0):
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, 4, size=(n, length))
    x = np.zeros((n, 4, length), dtype=np.float32)
    np.put_along_axis(x, idx[:, None, :], 1.0, axis=1)
    return x


@pytest.fixture(scope="session")
def torch():
    return pytest.importorskip("torch")


@pytest.fixture
def mlp(torch):
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(10, 16), torch.nn.ReLU(), torch.nn.Linear(16, 8), torch.nn.ReLU(),
                               torch.nn.Linear(8, 3)).eval()


@pytest.fixture
def genomics_cnn(torch):
    """A small BPNet/Basset-like sequence model: [N, 4, 50] one-hot in, 2 outputs."""
    torch.manual_seed(1)
    return torch.nn.Sequential(
        torch.nn.Conv1d(4, 8, 7, padding=3), torch.nn.ReLU(),
        torch.nn.Conv1d(8, 8, 5, padding=2), torch.nn.ReLU(),
        torch.nn.MaxPool1d(2),
        torch.nn.Flatten(), torch.nn.Linear(8 * 25, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2)).eval()


def export_onnx(torch, module, example, path):
    torch.onnx.export(module, (torch.from_numpy(example[:1]),), str(path), input_names=["x"], output_names=["y"],
                      dynamic_axes={"x": {0: "n"}, "y": {0: "n"}}, opset_version=17, dynamo=False)
    return path
