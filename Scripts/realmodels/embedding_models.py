"""Token-id (embedding) models and a scikit-learn classifier with random weights through the
`deeplift` CLI (issue 20's table): does each load, match the framework's forward pass, and sum
to delta under Rescale and RevealCancel.

    python embedding_models.py [--deeplift PATH] [--out DIR] [--n 2] [--models a,b] [--reuse]

Models (random weights, made in a subprocess per framework under --out or a temporary folder):
  textcnn         torch Embedding(100, 16) → Conv1d(16, 32, 5) → ReLU → MaxPool1d(2) → mean over
                  length → Linear(32, 4) (its weights ×10), int64 ids [N, 32], exported by the TorchScript
                  exporter (opset 17, dynamic batch)
  bert_ids        transformers BertForSequenceClassification (vocab 100, hidden 64, 2 layers,
                  4 heads, 4 labels; classifier weights ×30) exported from input_ids [N, 32]
                  (the exporter adds Shape nodes of the ids beside the word-embedding Gather)
  keras_embedding the same architecture in Keras (Input((32,), int32) → Embedding → Conv1D(relu)
                  → MaxPooling1D → GlobalAveragePooling1D → Dense), saved by tf-keras 2.21 (.h5)
                  and by Keras 3.15 (.keras); the float64 truth is a torch twin with the Keras
                  weights
  mlp_classifier  scikit-learn MLPClassifier(hidden_layer_sizes=(16, 8)) fitted on random data
                  (10 features, 3 classes), converted by skl2onnx (float input [N, 10]; outputs
                  label and probabilities: the label is skipped with a note, the probabilities
                  explained through their pre-softmax); float64 truth from its coefs_/intercepts_

Inputs: token ids drawn in 1..99 (`x.npy`, int64); references: all token 0 (`ref_zero.npy`, the
CLI's default reference for ids) and random ids (`ref_rand.npy`). The MLP takes Gaussian
features with zero and Gaussian references. Each model folder and the checks are those of
check_models.py (its check_model / table, imported): load, forward error vs the float64 twin
(the framework's float32 error in parentheses), |Σ - Δ| / max(1, |Δ|) per method and reference,
Σ over the scores the CLI writes (per-token sums for ids: their total is the embedding scores').
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import check_models  # noqa: E402  (helpers shared with issue 14's script)
import make_models  # noqa: E402

GROUPS = {"torch": (["textcnn", "bert_ids"], "onnx"), "keras": (["keras_embedding"], None),
          "sklearn": (["mlp_classifier"], "onnx")}
MODELS = ["textcnn", "bert_ids", "keras_embedding", "mlp_classifier"]
V, D, L, C, K, OUT = 100, 16, 32, 32, 5, 4
SEED = make_models.SEED


def token_inputs(n):
    rng = np.random.default_rng(SEED)
    return {"x": rng.integers(1, V, (n, L)).astype(np.int64), "ref_zero": np.zeros((n, L), np.int64),
            "ref_rand": np.random.default_rng(SEED + 1).integers(0, V, (n, L)).astype(np.int64)}


def text_cnn(torch):
    nn = torch.nn

    class TextCNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(V, D)
            self.conv = nn.Conv1d(D, C, K)
            self.relu = nn.ReLU()
            self.pool = nn.MaxPool1d(2)
            self.fc = nn.Linear(C, OUT)

        def forward(self, ids):
            h = self.pool(self.relu(self.conv(self.emb(ids).transpose(1, 2))))
            return self.fc(h.mean(dim=2))

    return TextCNN()


def twin_logits(torch, model, arrays):
    twin = model.double().eval()
    with torch.no_grad():
        return {"fw_logits_" + r: twin(torch.from_numpy(arrays[r])).numpy() for r in ("x", "ref_zero", "ref_rand")}


def bert_ids(torch):
    make_models.import_torchvision()  # the CPU torch + PyPI torchvision work-around, before transformers
    from transformers import BertConfig, BertForSequenceClassification
    cfg = BertConfig(vocab_size=V, hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128,
                     max_position_embeddings=64, num_labels=OUT)
    bert = BertForSequenceClassification(cfg).eval()
    bert.config.return_dict = False

    class Logits(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.bert = bert

        def forward(self, ids):
            return self.bert(ids)[0]

    model = Logits().eval()
    with torch.no_grad():  # BERT's 0.02-std head gives logits ~0.01: O(1) instead
        bert.classifier.weight.mul_(30)
    return model


def make_torch(out, n):
    import copy
    import onnxruntime as ort
    import torch
    for name in GROUPS["torch"][0]:
        torch.manual_seed(SEED)
        if name == "textcnn":
            model = text_cnn(torch).eval()
            with torch.no_grad():  # logits O(1) rather than O(0.1): a stronger summation check
                model.fc.weight.mul_(10)
        else:
            model = bert_ids(torch)
        folder = os.path.join(out, f"{name}-onnx")
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, "model.onnx")
        with torch.no_grad():
            torch.onnx.export(model, (torch.ones(1, L, dtype=torch.long),), path, opset_version=17, dynamo=False,
                              input_names=["ids"], output_names=["output"],
                              dynamic_axes={"ids": {0: "batch"}, "output": {0: "batch"}})
        arrays = token_inputs(n)
        arrays["fw_output"] = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, {"ids": arrays["x"]})[0]
        arrays.update(twin_logits(torch, copy.deepcopy(model), arrays))
        f32 = make_models.rel(arrays["fw_output"], arrays["fw_logits_x"])
        make_models.write_common(folder, arrays, {
            "model": name, "format": "onnx", "file": "model.onnx", "input_shape": [L],
            "framework": f"onnxruntime {ort.__version__} (torch {torch.__version__}, opset 17)",
            "target_is": "model output", "framework_f32_vs_f64_max_rel": f32})
        print(f"{name}: onnx written, onnxruntime vs torch float64 max rel {f32:.2e}", flush=True)


def make_keras(out, n):
    import torch
    arrays0 = token_inputs(n)
    for keras_name, ext in (("tf_keras", "h5"), ("keras", "keras")):
        keras = __import__(keras_name)
        Lyr = keras.layers
        x = keras.Input((L,), dtype="int32", name="ids")
        h = Lyr.Embedding(V, D, name="emb")(x)
        h = Lyr.MaxPooling1D(2, name="pool")(Lyr.Conv1D(C, K, activation="relu", name="conv")(h))
        m = keras.Model(x, Lyr.Dense(OUT, name="out")(Lyr.GlobalAveragePooling1D(name="gap")(h)))
        rng = np.random.default_rng(SEED)
        for layer in m.layers:
            w = layer.get_weights()
            if w:
                layer.set_weights([rng.normal(0, 0.3, v.shape).astype(np.float32) for v in w])
        folder = os.path.join(out, f"keras_embedding-{ext}")
        os.makedirs(folder, exist_ok=True)
        m.save(os.path.join(folder, f"model.{ext}"), **({"include_optimizer": False} if ext == "h5" else {}))
        arrays = dict(arrays0)
        arrays["fw_output"] = np.asarray(m.predict(arrays["x"].astype(np.int32), verbose=0), np.float32)
        twin = text_cnn(torch)
        emb, conv, dense = (m.get_layer(k).get_weights() for k in ("emb", "conv", "out"))
        with torch.no_grad():
            twin.emb.weight.copy_(torch.from_numpy(emb[0]))
            twin.conv.weight.copy_(torch.from_numpy(conv[0].transpose(2, 1, 0).copy()))
            twin.conv.bias.copy_(torch.from_numpy(conv[1]))
            twin.fc.weight.copy_(torch.from_numpy(dense[0].T.copy()))
            twin.fc.bias.copy_(torch.from_numpy(dense[1]))
        arrays.update(twin_logits(torch, twin, arrays))
        f32 = make_models.rel(arrays["fw_output"], arrays["fw_logits_x"])
        make_models.write_common(folder, arrays, {
            "model": "keras_embedding", "format": ext, "file": f"model.{ext}", "input_shape": [L],
            "framework": f"{keras_name} {keras.__version__}", "target_is": "model output",
            "framework_f32_vs_f64_max_rel": f32})
        print(f"keras_embedding {ext}: written, Keras float32 vs float64 twin max rel {f32:.2e}", flush=True)


def make_sklearn(out, n):
    import onnxruntime as ort
    import skl2onnx
    import sklearn
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.neural_network import MLPClassifier
    rng = np.random.default_rng(SEED)
    xs, ys = rng.standard_normal((300, 10)), rng.integers(0, 3, 300)
    clf = MLPClassifier(hidden_layer_sizes=(16, 8), max_iter=50, random_state=0).fit(xs, ys)
    folder = os.path.join(out, "mlp_classifier-onnx")
    os.makedirs(folder, exist_ok=True)
    onx = skl2onnx.convert_sklearn(clf, initial_types=[("input", FloatTensorType([None, 10]))],
                                   target_opset=17, options={id(clf): {"zipmap": False}})
    with open(os.path.join(folder, "model.onnx"), "wb") as f:
        f.write(onx.SerializeToString())
    arrays = make_models.inputs((10,), n)
    sess = ort.InferenceSession(os.path.join(folder, "model.onnx"), providers=["CPUExecutionProvider"])
    arrays["fw_output"] = sess.run(["probabilities"], {"input": arrays["x"]})[0]

    def logits(x):  # float64, from the fitted weights (relu hidden layers, softmax output)
        h = x.astype(np.float64)
        for i, (w, b) in enumerate(zip(clf.coefs_, clf.intercepts_)):
            h = h @ w + b
            if i < len(clf.coefs_) - 1:
                h = np.maximum(h, 0)
        return h
    for r in ("x", "ref_zero", "ref_rand"):
        arrays["fw_logits_" + r] = logits(arrays[r])
    p = np.exp(arrays["fw_logits_x"] - arrays["fw_logits_x"].max(1, keepdims=True))
    f32 = make_models.rel(arrays["fw_output"], p / p.sum(1, keepdims=True))
    make_models.write_common(folder, arrays, {
        "model": "mlp_classifier", "format": "onnx", "file": "model.onnx", "input_shape": [10],
        "framework": f"onnxruntime {ort.__version__} (scikit-learn {sklearn.__version__}, skl2onnx {skl2onnx.__version__})",
        "final_activation": "softmax", "target_is": "pre-softmax", "framework_f32_vs_f64_max_rel": f32})
    print(f"mlp_classifier: onnx written, onnxruntime vs float64 max rel {f32:.2e}", flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--deeplift", default=os.environ.get("DEEPLIFT", os.path.join(check_models.REPO, ".build/release/deeplift")),
                   help="the CLI (default: $DEEPLIFT, else .build/release/deeplift)")
    p.add_argument("--out", help="folder for the models and results (kept); default: a temporary folder, removed")
    p.add_argument("--n", type=int, default=2, help="examples per model (default 2)")
    p.add_argument("--task", type=int, default=0, help="target neuron (default 0)")
    p.add_argument("--models", default="", help="comma-separated subset of " + ",".join(MODELS))
    p.add_argument("--reuse", action="store_true", help="keep model folders already in --out (no rebuild)")
    p.add_argument("--timeout", type=int, default=1800, help="seconds per CLI call (default 1800)")
    p.add_argument("--make", nargs=2, metavar=("GROUP", "OUT"), help=argparse.SUPPRESS)  # the subprocess
    a = p.parse_args()
    if a.make:
        group, out = a.make
        {"torch": make_torch, "keras": make_keras, "sklearn": make_sklearn}[group](out, a.n)
        return
    wanted = [m for m in (a.models.split(",") if a.models else MODELS) if m]
    unknown = [m for m in wanted if m not in MODELS]
    if unknown:
        sys.exit(f"error: unknown models {unknown}")
    exe = os.path.abspath(a.deeplift)
    if not os.access(exe, os.X_OK):
        sys.exit(f"error: {exe}: no deeplift executable (build with `swift build -c release --product deeplift`)")
    out = os.path.abspath(a.out) if a.out else tempfile.mkdtemp(prefix="deeplift-embedding-")
    os.makedirs(out, exist_ok=True)
    ok = False
    try:
        folders = []
        for group, (names, ext) in GROUPS.items():
            names = [m for m in names if m in wanted]
            if not names:
                continue
            exts = [ext] if ext else ["h5", "keras"]
            mine = [os.path.join(out, f"{m}-{e}") for m in names for e in exts]
            if not (a.reuse and all(os.path.exists(os.path.join(f, "meta.json")) for f in mine)):
                print(f"making {group}: {', '.join(names)}", flush=True)
                mk = subprocess.run([sys.executable, os.path.abspath(__file__), "--make", group, out, "--n", str(a.n)],
                                    capture_output=True, text=True)
                for line in mk.stdout.splitlines():
                    print("  " + line, flush=True)
                if mk.returncode != 0:
                    print(f"  making {group} failed:\n{mk.stderr[-3000:]}", flush=True)
            folders += mine
        rows = []
        for folder in folders:
            name, ext = os.path.basename(folder).rsplit("-", 1)
            if not os.path.exists(os.path.join(folder, "meta.json")):
                rows.append({"model": name, "format": ext, "file_mib": "—", "load": False, "notes": ["not made (see above)"]})
                continue
            print(f"checking {name}-{ext}", flush=True)
            rows.append(check_models.check_model(exe, folder, a.task, a.timeout))
        ok = check_models.write_results(
            rows, out, f"deeplift {exe}, {a.n} examples, task {a.task}, --maxpool deepshap", name="embedding_results")
        ok = ok and len(rows) == len(folders)
    finally:
        if not a.out:
            shutil.rmtree(out, ignore_errors=True)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
