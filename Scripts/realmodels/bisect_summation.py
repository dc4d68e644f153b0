"""Where does a real model's summation-to-delta error come from? Explains a series of inner
tensors of an ONNX model (or layers of a Keras model) as targets, in graph order, and prints for
each: |Σ scores − Δ| / max(1, |Δ|) with Δ from the tool's own forward pass, the scores'
cancellation Σ|s| / |Δ|, and the float32 rounding it implies (2^-24·Σ|s| / max(1, |Δ|)).
An error that tracks the float32 floor as the target moves deeper is rounding of cancelling
scores; one that jumps at one tensor while the floor does not points at that tensor's rule.

    python bisect_summation.py MODEL_FOLDER [--ops Add,Mul] [--layers a,b,c] [--count 12]
        [--method rescale] [--reference rand] [--deeplift PATH]

MODEL_FOLDER is one of check_models.py's / attention_models.py's folders (meta.json, x.npy,
ref_zero.npy, ref_rand.npy). ONNX: the targets are the outputs of the nodes whose op type is in
--ops (default Add,Mul: residual sums and squeeze-excitation gates), --count of them spread
evenly (the last one always), or --layers. Keras: --layers is required (layer names). The
neuron explained in each target is the centre of its first channel (ONNX [C, H, W]: index
(H/2)·W + W/2; otherwise element 0). Packages: numpy, onnx (see requirements.txt).
"""
import argparse
import json
import os
import re
import subprocess
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))


def run(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(" ".join(cmd[:3]) + ": " + (p.stderr.strip().splitlines() or ["?"])[-1])
    return p


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folder")
    ap.add_argument("--ops", default="Add,Mul")
    ap.add_argument("--layers", default="")
    ap.add_argument("--count", type=int, default=12)
    ap.add_argument("--method", default="rescale")
    ap.add_argument("--reference", default="rand", choices=["zero", "rand"])
    ap.add_argument("--deeplift", default=os.environ.get("DEEPLIFT", os.path.join(REPO, ".build/release/deeplift")))
    a = ap.parse_args()
    meta = json.load(open(os.path.join(a.folder, "meta.json")))
    model = os.path.join(a.folder, meta["file"])
    if a.layers:
        targets = a.layers.split(",")
    else:
        import onnx
        g = onnx.load(model, load_external_data=False).graph
        ops = set(a.ops.split(","))
        outs = [n.output[0] for n in g.node if n.op_type in ops]
        idx = sorted(set(np.linspace(0, len(outs) - 1, min(a.count, len(outs))).round().astype(int)))
        targets = [outs[i] for i in idx]
    x, ref = os.path.join(a.folder, "x.npy"), os.path.join(a.folder, f"ref_{a.reference}.npy")
    print(f"{meta['model']} ({meta['format']}), {a.method}, reference {a.reference}")
    print(f"{'target':40s} {'shape':>16s} {'|Σ-Δ|/max(1,|Δ|)':>17s} {'Σ|s|/|Δ|':>10s} {'f32 floor':>10s} {'|Δ|':>9s}")
    with tempfile.TemporaryDirectory() as tmp:
        for t in targets:
            try:
                vals = {}
                for name, path in (("x", x), ("r", ref)):
                    out = os.path.join(tmp, f"p_{name}.npy")
                    run([a.deeplift, "predict", model, "--input", path, "--layer", t, "--output", out])
                    vals[name] = np.load(out).astype(np.float64)
                shape = vals["x"].shape[1:]
                task = (shape[1] // 2) * shape[2] + shape[2] // 2 if len(shape) == 3 and meta["format"] == "onnx" else 0
                out = os.path.join(tmp, "s.npy")
                run([a.deeplift, "explain", model, "--input", x, "--reference", ref, "--method", a.method,
                     "--maxpool", "deepshap", "--target", t, "--task", str(task), "--output", out])
                s = np.load(out).astype(np.float64).reshape(vals["x"].shape[0], -1)
                d = (vals["x"] - vals["r"]).reshape(vals["x"].shape[0], -1)[:, task]
                err = np.abs(s.sum(1) - d) / np.maximum(1, np.abs(d))
                canc = np.abs(s).sum(1) / np.maximum(np.abs(d), 1e-30)
                floor = 2.0**-24 * np.abs(s).sum(1) / np.maximum(1, np.abs(d))
                print(f"{t[-40:]:40s} {str(list(shape)):>16s} {err.max():17.2e} {canc.max():10.2e} {floor.max():10.2e} "
                      f"{np.abs(d).max():9.2e}", flush=True)
            except RuntimeError as e:
                print(f"{t[-40:]:40s} error: {str(e)[:200]}", flush=True)


if __name__ == "__main__":
    main()
