"""Attention and modern-op architectures with random weights through the `deeplift` CLI
(issue 19's real-model table): does each load, match the framework's forward pass, and sum to
delta under Rescale and RevealCancel; where it does not load, the CLI's error (the first blocker,
or every unsupported op in one line).

    python attention_models.py [--deeplift PATH] [--out DIR] [--n 2] [--models a,b] [--reuse]

Models (random weights; made in a subprocess per framework, under --out or a temporary folder):
  encoder_layer    torch nn.TransformerEncoderLayer(d_model=32, nhead=4, batch_first) on [N, 10, 32],
                   then the first token (x[:, 0]) and a Linear head (4 outputs)
  vit              torchvision VisionTransformer(image_size=32, patch_size=8, num_layers=2,
                   num_heads=2, hidden_dim=32, mlp_dim=64, num_classes=10)
  swin_t, convnext_tiny, efficientnet_b0, regnet_y_400mf   torchvision, 64x64 RGB
  bert             transformers BertModel (2 layers, hidden 32, 2 heads) fed inputs_embeds
                   [N, 16, 32]; output: the pooler's [CLS] vector
  bpnet_profile    bpnet-lite ProfileWrapper(BPNet(n_filters=16, n_layers=2, no control)), one-hot [N, 4, 500]
  chrombpnet_count bpnet-lite CountWrapper(ChromBPNet(bias 8 filters, accessibility 16 filters))
  chrombpnet_both  the same ChromBPNet, both heads: [profile logits (flattened), log counts]
  convnexttiny     keras.applications ConvNeXtTiny (Keras 3, .keras), 64x64 RGB
  keras_encoder    a Keras 3 transformer-encoder block (.keras) on [N, 16, 32]: MultiHeadAttention
                   (4 heads, key_dim 8) + residual + LayerNormalization, FFN Dense(64, relu)-Dense(32)
                   + residual + LayerNormalization, GlobalAveragePooling1D, Dense(4)
The torch models are exported by the TorchScript exporter at opset 17 with a dynamic batch axis.

Each model folder and the checks are those of check_models.py (make_models.py's layout: x.npy,
ref_zero.npy, ref_rand.npy, fw_output.npy, fw_logits_*.npy from a float64 twin, meta.json), and
its check_model / table print the table: load, forward error vs the float64 twin (onnxruntime's
float32 error in parentheses), |Σ - Δ| / max(1, |Δ|) per method and reference.
"""
import argparse
import copy
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import check_models  # noqa: E402  (helpers shared with issue 14's script)
import make_models  # noqa: E402

TORCH_MODELS = ["encoder_layer", "vit", "swin_t", "convnext_tiny", "efficientnet_b0", "regnet_y_400mf",
                "bert", "bpnet_profile", "chrombpnet_count", "chrombpnet_both"]
KERAS3_MODELS = ["convnexttiny", "keras_encoder"]
SEED = make_models.SEED


def calibrate_torch_batchnorm(torch, model, shape):
    """make_models.make_torch's BatchNorm treatment: random γ, β; statistics of 8 random
    inputs (momentum 1 in training mode), perturbed; so activations stay O(1)."""
    g = torch.Generator().manual_seed(SEED)
    bns = [m for m in model.modules() if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d))]
    if not bns:
        return
    with torch.no_grad():
        for m in bns:
            c = m.num_features
            m.weight.copy_(0.5 + torch.rand(c, generator=g))
            m.bias.copy_(0.1 * torch.randn(c, generator=g))
            m.momentum = 1.0
        model.train()
        model(torch.randn(8, *shape, generator=g))
        model.eval()
        for m in bns:
            c = m.num_features
            m.momentum = 0.1
            m.running_mean.add_(0.1 * m.running_var.sqrt() * torch.randn(c, generator=g))
            m.running_var.mul_(0.8 + 0.4 * torch.rand(c, generator=g))


def one_hot_inputs(shape, n):
    """x and a random reference: random one-hot DNA [n, 4, L]; zero reference."""
    def draw(seed):
        idx = np.random.default_rng(seed).integers(0, 4, size=(n, shape[1]))
        return np.transpose(np.eye(4, dtype=np.float32)[idx], (0, 2, 1)).copy()
    x = draw(SEED)
    return {"x": x, "ref_zero": np.zeros_like(x), "ref_rand": draw(SEED + 1)}


def torch_builders(torch):
    tv = make_models.import_torchvision()
    nn = torch.nn

    class FirstToken(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.TransformerEncoderLayer(d_model=32, nhead=4, dim_feedforward=64, dropout=0.0,
                                                   batch_first=True)
            self.head = nn.Linear(32, 4)

        def forward(self, x):
            return self.head(self.body(x)[:, 0])

    class Bert(nn.Module):
        def __init__(self):
            super().__init__()
            import transformers
            cfg = transformers.BertConfig(vocab_size=8, hidden_size=32, num_hidden_layers=2,
                                          num_attention_heads=2, intermediate_size=64,
                                          max_position_embeddings=32, hidden_dropout_prob=0.0,
                                          attention_probs_dropout_prob=0.0, attn_implementation="eager")
            self.bert = transformers.BertModel(cfg)

        def forward(self, x):
            return self.bert(inputs_embeds=x).pooler_output

    def loud(bpnet):
        """Output heads ×30: with the default initialisation a BPNet's profile logits and
        counts vary by ~1e-4 between inputs, which would make the Σ-Δ test vacuous."""
        with torch.no_grad():
            bpnet.fconv.weight.mul_(30)
            bpnet.linear.weight.mul_(30)
        return bpnet

    def chrombpnet():
        import bpnetlite.bpnet
        import bpnetlite.chrombpnet
        bias = loud(bpnetlite.bpnet.BPNet(n_filters=8, n_layers=2, n_outputs=1, n_control_tracks=0, verbose=False))
        acc = loud(bpnetlite.bpnet.BPNet(n_filters=16, n_layers=2, n_outputs=1, n_control_tracks=0, verbose=False))
        return bpnetlite.chrombpnet.ChromBPNet(bias, acc)

    class BothHeads(nn.Module):
        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, x):
            profile, counts = self.model(x)
            return torch.cat([profile.flatten(1), counts], 1)

    def bpnet_profile():
        import bpnetlite.bpnet
        return bpnetlite.bpnet.ProfileWrapper(
            loud(bpnetlite.bpnet.BPNet(n_filters=16, n_layers=2, n_outputs=2, n_control_tracks=0, verbose=False)))

    def count_wrapper():
        import bpnetlite.bpnet
        return bpnetlite.bpnet.CountWrapper(chrombpnet())

    image = (3, 64, 64)
    # name -> (constructor, per-example input shape, input kind)
    return tv, {
        "encoder_layer": (FirstToken, (10, 32), "normal"),
        "vit": (lambda: tv.models.VisionTransformer(image_size=32, patch_size=8, num_layers=2, num_heads=2,
                                                    hidden_dim=32, mlp_dim=64, num_classes=10), (3, 32, 32), "normal"),
        "swin_t": (lambda: tv.models.swin_t(weights=None), image, "normal"),
        "convnext_tiny": (lambda: tv.models.convnext_tiny(weights=None), image, "normal"),
        "efficientnet_b0": (lambda: tv.models.efficientnet_b0(weights=None), image, "normal"),
        "regnet_y_400mf": (lambda: tv.models.regnet_y_400mf(weights=None), image, "normal"),
        "bert": (Bert, (16, 32), "normal"),
        "bpnet_profile": (bpnet_profile, (4, 500), "onehot"),
        "chrombpnet_count": (count_wrapper, (4, 500), "onehot"),
        "chrombpnet_both": (lambda: BothHeads(chrombpnet()), (4, 500), "onehot"),
    }


def make_torch(out, names, n):
    import torch
    import onnxruntime as ort
    torch.manual_seed(SEED)
    torch.set_num_threads(2)
    # The fused inference kernels of nn.MultiheadAttention / TransformerEncoderLayer
    # (aten::_native_multi_head_attention) have no ONNX export: the exporter must trace the
    # decomposed Python path, as a model exported for deployment would be.
    torch.backends.mha.set_fastpath_enabled(False)
    tv, builders = torch_builders(torch)
    versions = {"torch": torch.__version__, "torchvision": tv.__version__, "onnxruntime": ort.__version__}
    try:
        import transformers
        versions["transformers"] = transformers.__version__
    except ImportError:
        pass
    for name in names:
        ctor, shape, kind = builders[name]
        torch.manual_seed(SEED)
        model = ctor().eval()
        # torchvision's ViT starts its head at zero (a constant output): random like the rest.
        with torch.no_grad():
            for m in model.modules():
                if isinstance(m, torch.nn.Linear) and not m.weight.abs().max() > 0:
                    torch.nn.init.normal_(m.weight, std=m.in_features ** -0.5)
        calibrate_torch_batchnorm(torch, model, shape)
        folder = os.path.join(out, f"{name}-onnx")
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, "model.onnx")
        try:
            with torch.no_grad():
                torch.onnx.export(model, (torch.zeros(1, *shape),), path, opset_version=17, dynamo=False,
                                  input_names=["input"], output_names=["output"],
                                  dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}})
        except Exception as e:  # noqa: BLE001 (recorded in the table)
            print(f"{name}: export failed: {type(e).__name__}: {str(e).splitlines()[0][:300]}", flush=True)
            continue
        arrays = one_hot_inputs(shape, n) if kind == "onehot" else make_models.inputs(shape, n)
        sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        arrays["fw_output"] = sess.run(None, {"input": arrays["x"]})[0].reshape(n, -1)
        twin = copy.deepcopy(model).double()
        with torch.no_grad():
            for r in ("x", "ref_zero", "ref_rand"):
                arrays["fw_logits_" + r] = twin(torch.from_numpy(arrays[r]).double()).reshape(n, -1).numpy()
        f32 = make_models.rel(arrays["fw_output"], arrays["fw_logits_x"])
        make_models.write_common(folder, arrays, {
            "model": name, "format": "onnx", "file": "model.onnx", "input_shape": list(shape),
            "framework": "onnxruntime {onnxruntime} (torch {torch}, opset 17)".format(**versions),
            "versions": versions, "target_is": "model output", "framework_f32_vs_f64_max_rel": f32})
        print(f"{name}: onnx written ({os.path.getsize(path) / 2**20:.1f} MiB), onnxruntime vs torch float64 "
              f"max rel {f32:.2e}, output std {arrays['fw_logits_x'].std():.3g}", flush=True)


def make_keras3(out, names, n, size):
    make_models.KERAS_APPS.clear()
    make_models.KERAS_APPS.update({"ConvNeXtTiny": "convnexttiny"})
    make_models.make_keras(out, ["ConvNeXtTiny"] if "convnexttiny" in names else [], n, size, legacy=False)
    if "keras_encoder" in names:
        make_keras_encoder(out, n)


def keras_encoder(keras, seq=16, d=32, heads=4, ffn=64, outputs=4):
    """A post-norm transformer-encoder block (the Keras text-classification example's)."""
    L = keras.layers
    x = keras.Input((seq, d), name="x")
    a = L.MultiHeadAttention(num_heads=heads, key_dim=d // heads, name="mha")(x, x)
    h = L.LayerNormalization(epsilon=1e-6, name="ln1")(L.Add(name="res1")([x, a]))
    f = L.Dense(d, name="ffn2")(L.Dense(ffn, activation="relu", name="ffn1")(h))
    h = L.LayerNormalization(epsilon=1e-6, name="ln2")(L.Add(name="res2")([h, f]))
    return keras.Model(x, L.Dense(outputs, name="head")(L.GlobalAveragePooling1D(name="pool")(h)))


def make_keras_encoder(out, n):
    import keras
    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(2)
    keras.utils.set_random_seed(SEED)
    shape = (16, 32)
    model = keras_encoder(keras)
    # Random biases (Keras starts them at zero: with x = 0 the first LayerNormalization would
    # then normalise an all-zero vector, (0 - 0)/sqrt(0 + eps), and the zero reference would sit
    # on its singular point, as no trained model's does), and random LayerNormalization γ, β
    # (their initial 1, 0 would hide a mix-up of the two).
    rng = np.random.default_rng(SEED + 5)
    for layer in model.layers:
        ws = layer.get_weights()
        if ws and type(layer).__name__ != "LayerNormalization":
            layer.set_weights([(0.1 * rng.standard_normal(w.shape)).astype(np.float32) if not w.any() else w
                               for w in ws])
        if type(layer).__name__ == "LayerNormalization":
            g, b = layer.get_weights()
            layer.set_weights([(1 + 0.2 * rng.standard_normal(g.shape)).astype(np.float32),
                               (0.2 * rng.standard_normal(b.shape)).astype(np.float32)])
    folder = os.path.join(out, "keras_encoder-keras")
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "model.keras")
    model.save(path)
    arrays = make_models.inputs(shape, n)
    arrays["fw_output"] = np.asarray(model(arrays["x"], training=False))
    keras.config.set_dtype_policy("float64")
    try:
        twin = keras_encoder(keras)
        assert "float64" in str(twin.weights[-1].dtype), twin.weights[-1].dtype
        twin.set_weights([np.asarray(w, np.float64) for w in model.get_weights()])
        for r in ("x", "ref_zero", "ref_rand"):
            arrays["fw_logits_" + r] = np.asarray(twin(arrays[r].astype(np.float64), training=False), np.float64)
    finally:
        keras.config.set_dtype_policy("float32")
    f32 = make_models.rel(arrays["fw_output"], arrays["fw_logits_x"])
    make_models.write_common(folder, arrays, {
        "model": "keras_encoder", "format": "keras", "file": "model.keras", "input_shape": list(shape),
        "framework": f"keras {keras.__version__} (tensorflow {tf.__version__})", "target_is": "model output",
        "final_activation": "linear", "output_vs_f64_max_rel": f32, "framework_f32_vs_f64_max_rel": f32,
        "file_bytes": os.path.getsize(path)})
    print(f"keras_encoder: keras written ({os.path.getsize(path) / 2**20:.2f} MiB), float32 vs float64 {f32:.2e}, "
          f"output std {arrays['fw_logits_x'].std():.3g}", flush=True)


def onnx_op_types(path):
    """The operator types of an ONNX file, with counts (for the notes)."""
    try:
        import onnx
        m = onnx.load(path, load_external_data=False)
    except Exception:  # noqa: BLE001
        return {}
    counts = {}
    for node in m.graph.node:
        counts[node.op_type] = counts.get(node.op_type, 0) + 1
    return counts


def summarize(note):
    """An "unsupported operators" error as op×count (the CLI lists every node)."""
    m = re.search(r"unsupported operators \(opset \d+\): (.*)$", note)
    if not m:
        return note[:400]
    ops = re.findall(r"([\w.]+) \(nodes? ([^)]*)\)", m.group(1))
    return note[:m.start(1)] + ", ".join(f"{op}×{len(nodes.split(', '))}" for op, nodes in ops)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--deeplift", default=os.environ.get("DEEPLIFT", os.path.join(check_models.REPO, ".build/release/deeplift")),
                   help="the CLI (default: $DEEPLIFT, else .build/release/deeplift)")
    p.add_argument("--out", help="folder for the models and results (kept); default: a temporary folder, removed")
    p.add_argument("--n", type=int, default=2, help="examples per model (default 2)")
    p.add_argument("--task", type=int, default=0, help="target neuron (default 0)")
    p.add_argument("--models", default="", help="comma-separated subset of " + ",".join(TORCH_MODELS + KERAS3_MODELS))
    p.add_argument("--reuse", action="store_true", help="keep model folders already in --out (no rebuild)")
    p.add_argument("--timeout", type=int, default=1800, help="seconds per CLI call (default 1800)")
    p.add_argument("--make", nargs=2, metavar=("GROUP", "OUT"), help=argparse.SUPPRESS)  # the subprocess
    a = p.parse_args()
    wanted = [m for m in (a.models.split(",") if a.models else TORCH_MODELS + KERAS3_MODELS) if m]
    if a.make:
        group, out = a.make
        if group == "torch":
            make_torch(out, [m for m in wanted if m in TORCH_MODELS], a.n)
        else:
            make_keras3(out, wanted, a.n, 64)
        return
    unknown = [m for m in wanted if m not in TORCH_MODELS + KERAS3_MODELS]
    if unknown:
        sys.exit(f"error: unknown models {unknown}")
    exe = os.path.abspath(a.deeplift)
    if not os.access(exe, os.X_OK):
        sys.exit(f"error: {exe}: no deeplift executable (build with `swift build -c release --product deeplift`)")
    out = os.path.abspath(a.out) if a.out else tempfile.mkdtemp(prefix="deeplift-attention-")
    os.makedirs(out, exist_ok=True)
    folders = []
    ok = False
    try:
        for group, names, ext in (("torch", TORCH_MODELS, "onnx"), ("keras3", KERAS3_MODELS, "keras")):
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
            name, ext = os.path.basename(folder).rsplit("-", 1)
            if not os.path.exists(os.path.join(folder, "meta.json")):
                rows.append({"model": name, "format": ext, "file_mib": "—", "load": False,
                             "notes": ["not made: export failed (see above)"]})
                continue
            print(f"checking {name}-{ext}", flush=True)
            row = check_models.check_model(exe, folder, a.task, a.timeout)
            row["notes"] = [summarize(n) for n in row["notes"]]
            if not row["load"] and ext == "onnx":
                ops = onnx_op_types(os.path.join(folder, "model.onnx"))
                row["notes"].append("ops: " + ", ".join(f"{k}×{v}" for k, v in sorted(ops.items())))
            rows.append(row)
        commit = subprocess.run(["git", "-C", check_models.REPO, "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True).stdout.strip()
        text = (f"deeplift {exe} (repo HEAD {commit or '?'}), {a.n} examples, task {a.task}, --maxpool deepshap.\n"
                f"fwd: max|a-b|/max|b| of deeplift predict vs the float64 twin, output / target (framework float32 vs twin).\n"
                f"Σ-Δ columns: max over examples of |Σ-Δ|/max(1,|Δ|), Δ from deeplift predict --layer TARGET "
                f"(Δ from the float64 twin).\n"
                f"pass: forward <= max({check_models.FORWARD_TOLERANCE:g}, 3x framework float32), "
                f"every Σ-Δ <= {check_models.TOLERANCE:g}\n\n" + check_models.table(rows))
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
