"""Recurrent classifiers with random weights through the `deeplift` CLI (issue 20's evidence):
does each load, match the framework's forward pass, and sum to delta under Rescale and
RevealCancel with zero and random references.

    python recurrent_models.py [--deeplift PATH] [--out DIR] [--n 2] [--models a,b] [--reuse]

Models (random weights, the frameworks' initialisations times 3 so that gates saturate and
outputs spread; made in a subprocess per framework, under --out or a temporary folder):
  lstm_classifier   torch nn.LSTM(16, 64, num_layers=2, batch_first) on [N, 40, 16], the last
                    step → Linear(64, 4); exported to ONNX (TorchScript exporter, opset 17,
                    dynamic batch)
  bigru_classifier  torch nn.GRU(16, 32, bidirectional, batch_first) on [N, 40, 16], the mean
                    over time → Linear(64, 4); ONNX as above
  lstm_keras        Keras Input((40, 16)) → LSTM(64, return_sequences) → LSTM(32) → Dense(4),
                    saved by tf-keras (.h5) and Keras 3 (.keras)
  bigru_keras       Keras Input((40, 16)) → Bidirectional(GRU(32, return_sequences)) →
                    GlobalAveragePooling1D → Dense(4), .h5 and .keras

Each model folder and the checks are those of check_models.py (make_models.py's layout: x.npy,
ref_zero.npy, ref_rand.npy, fw_output.npy, fw_logits_*.npy from a float64 twin — the torch
module in float64, the Keras model rebuilt with floatx float64 and the same weights —,
meta.json); its check_model / table give the table. Pinned packages: requirements.txt here.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check_models  # noqa: E402  (the checks and the table)
import make_models  # noqa: E402  (inputs, rel, write_common)

TORCH_MODELS = ["lstm_classifier", "bigru_classifier"]
KERAS_MODELS = ["lstm_keras", "bigru_keras"]
STEPS, FEATURES, CLASSES = 40, 16, 4
WEIGHT_SCALE = 3.0  # every weight times this (saturated gates, outputs of order 1)


def make_torch(out, names, n):
    import torch
    import torch.nn as nn
    import onnxruntime as ort
    torch.set_num_threads(2)

    class LSTMClassifier(nn.Module):
        def __init__(s):
            super().__init__()
            s.rnn = nn.LSTM(FEATURES, 64, num_layers=2, batch_first=True)
            s.out = nn.Linear(64, CLASSES)

        def forward(s, x):
            return s.out(s.rnn(x)[0][:, -1])

    class BiGRUClassifier(nn.Module):
        def __init__(s):
            super().__init__()
            s.rnn = nn.GRU(FEATURES, 32, bidirectional=True, batch_first=True)
            s.out = nn.Linear(64, CLASSES)

        def forward(s, x):
            return s.out(s.rnn(x)[0].mean(1))

    builders = {"lstm_classifier": LSTMClassifier, "bigru_classifier": BiGRUClassifier}
    shape = (STEPS, FEATURES)
    for name in names:
        torch.manual_seed(make_models.SEED)
        model = builders[name]().eval()
        # torch's init (uniform ±1/√hidden) leaves the gates near their midpoints and the
        # outputs near 0: scaled up, the gates saturate and the outputs spread (|Δ| ~ 1).
        with torch.no_grad():
            for p_ in model.parameters():
                p_.mul_(WEIGHT_SCALE)
        folder = os.path.join(out, f"{name}-onnx")
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, "model.onnx")
        with torch.no_grad():
            torch.onnx.export(model, (torch.zeros(1, *shape),), path, opset_version=17, dynamo=False,
                              input_names=["input"], output_names=["output"],
                              dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}})
        arrays = make_models.inputs(shape, n)
        sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        arrays["fw_output"] = sess.run(None, {"input": arrays["x"]})[0]
        twin = model.double()
        with torch.no_grad():
            for r in ("x", "ref_zero", "ref_rand"):
                arrays["fw_logits_" + r] = twin(torch.from_numpy(arrays[r]).double()).numpy()
        f32 = make_models.rel(arrays["fw_output"], arrays["fw_logits_x"])
        make_models.write_common(folder, arrays, {
            "model": name, "format": "onnx", "file": "model.onnx", "input_shape": list(shape),
            "framework": f"onnxruntime {ort.__version__} (torch {torch.__version__}, opset 17)",
            "target_is": "model output", "framework_f32_vs_f64_max_rel": f32})
        print(f"{name}: onnx written, onnxruntime vs torch float64 max rel {f32:.2e}", flush=True)


def keras_builders(keras):
    L = keras.layers

    def lstm():
        x = keras.Input((STEPS, FEATURES))
        h = L.LSTM(64, return_sequences=True)(x)
        return keras.Model(x, L.Dense(CLASSES)(L.LSTM(32)(h)))

    def bigru():
        x = keras.Input((STEPS, FEATURES))
        h = L.Bidirectional(L.GRU(32, return_sequences=True))(x)
        return keras.Model(x, L.Dense(CLASSES)(L.GlobalAveragePooling1D()(h)))

    return {"lstm_keras": lstm, "bigru_keras": bigru}


def make_keras(out, names, n, legacy):
    if legacy:
        os.environ["TF_USE_LEGACY_KERAS"] = "1"
        import tf_keras as keras
        ext = "h5"
    else:
        import keras
        ext = "keras"
    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(2)
    builders = keras_builders(keras)
    shape = (STEPS, FEATURES)
    for name in names:
        keras.utils.set_random_seed(make_models.SEED)
        model = builders[name]()
        # Random biases too (Keras starts them at zero, LSTM's forget bias at one).
        rng = np.random.default_rng(make_models.SEED + 7)
        model.set_weights([WEIGHT_SCALE * w + 0.1 * rng.standard_normal(w.shape).astype(np.float32)
                           for w in model.get_weights()])
        folder = os.path.join(out, f"{name}-{ext}")
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, f"model.{ext}")
        model.save(path)
        arrays = make_models.inputs(shape, n)
        arrays["fw_output"] = np.asarray(model(arrays["x"], training=False))
        keras.backend.set_floatx("float64")
        if not legacy:
            keras.config.set_dtype_policy("float64")
        try:
            twin = builders[name]()
            twin.set_weights([np.asarray(w, np.float64) for w in model.get_weights()])
            for r in ("x", "ref_zero", "ref_rand"):
                arrays["fw_logits_" + r] = np.asarray(twin(arrays[r].astype(np.float64), training=False), np.float64)
        finally:
            keras.backend.set_floatx("float32")
            if not legacy:
                keras.config.set_dtype_policy("float32")
        f32 = make_models.rel(arrays["fw_output"], arrays["fw_logits_x"])
        make_models.write_common(folder, arrays, {
            "model": name, "format": ext, "file": f"model.{ext}", "input_shape": list(shape),
            "framework": f"{'tf-keras' if legacy else 'keras'} {keras.__version__} (tensorflow {tf.__version__})",
            "target_is": "model output", "final_activation": "linear", "framework_f32_vs_f64_max_rel": f32})
        print(f"{name}: {ext} written, float32 vs float64 max rel {f32:.2e}", flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--deeplift", default=os.environ.get("DEEPLIFT", os.path.join(check_models.REPO, ".build/release/deeplift")),
                   help="the CLI (default: $DEEPLIFT, else .build/release/deeplift)")
    p.add_argument("--out", help="folder for the models and results (kept); default: a temporary folder, removed")
    p.add_argument("--n", type=int, default=2, help="examples per model (default 2)")
    p.add_argument("--task", type=int, default=0, help="target neuron (default 0)")
    p.add_argument("--models", default="", help="comma-separated subset of " + ",".join(TORCH_MODELS + KERAS_MODELS))
    p.add_argument("--reuse", action="store_true", help="keep model folders already in --out (no rebuild)")
    p.add_argument("--timeout", type=int, default=1800, help="seconds per CLI call (default 1800)")
    p.add_argument("--make", nargs=2, metavar=("GROUP", "OUT"), help=argparse.SUPPRESS)  # the subprocess
    a = p.parse_args()
    wanted = [m for m in (a.models.split(",") if a.models else TORCH_MODELS + KERAS_MODELS) if m]
    if a.make:
        group, out = a.make
        if group == "torch":
            make_torch(out, [m for m in wanted if m in TORCH_MODELS], a.n)
        else:
            make_keras(out, [m for m in wanted if m in KERAS_MODELS], a.n, legacy=group == "tfkeras")
        return
    unknown = [m for m in wanted if m not in TORCH_MODELS + KERAS_MODELS]
    if unknown:
        sys.exit(f"error: unknown models {unknown}")
    exe = os.path.abspath(a.deeplift)
    if not os.access(exe, os.X_OK):
        sys.exit(f"error: {exe}: no deeplift executable (build with `swift build -c release --product deeplift`)")
    out = os.path.abspath(a.out) if a.out else tempfile.mkdtemp(prefix="deeplift-recurrent-")
    os.makedirs(out, exist_ok=True)
    ok = False
    try:
        folders = []
        for group, names, ext in (("torch", TORCH_MODELS, "onnx"), ("tfkeras", KERAS_MODELS, "h5"),
                                  ("keras3", KERAS_MODELS, "keras")):
            names = [m for m in names if m in wanted]
            todo = [m for m in names if not (a.reuse and os.path.exists(os.path.join(out, f"{m}-{ext}", "meta.json")))]
            if todo:
                print(f"making {group}: {', '.join(todo)}", flush=True)
                mk = subprocess.run([sys.executable, os.path.abspath(__file__), "--make", group, out,
                                     "--n", str(a.n), "--models", ",".join(todo)], capture_output=True, text=True)
                for line in mk.stdout.splitlines():
                    print("  " + line, flush=True)
                if mk.returncode != 0:
                    print(f"  making {group} failed:\n{mk.stderr[-3000:]}", flush=True)
            folders += [os.path.join(out, f"{m}-{ext}") for m in names]
        rows = []
        for folder in folders:
            if not os.path.exists(os.path.join(folder, "meta.json")):
                name, ext = os.path.basename(folder).rsplit("-", 1)
                rows.append({"model": name, "format": ext, "file_mib": "—", "load": False, "notes": ["not made"]})
                continue
            print(f"checking {os.path.basename(folder)}", flush=True)
            rows.append(check_models.check_model(exe, folder, a.task, a.timeout))
        text = check_models.table(rows)
        print("\n" + text)
        with open(os.path.join(out, "results.md"), "w") as fh:
            fh.write(text + "\n")
        with open(os.path.join(out, "results.json"), "w") as fh:
            json.dump(rows, fh, indent=1)
        ok = len(rows) == len(folders) and all(r.get("pass") for r in rows)
    finally:
        if not a.out:
            shutil.rmtree(out, ignore_errors=True)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
