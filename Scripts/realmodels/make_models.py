"""Builds real architectures with random weights, writes inputs and references, and records
the framework's own forward pass, for `check_models.py` (issue 14's evidence).

    python make_models.py GROUP OUTDIR [--n N] [--size S] [--models a,b]

GROUP is `torch` (torchvision -> ONNX, opset 17; the framework reference is onnxruntime on
the exported file, checked against torch), `tfkeras` (keras.applications in tf-keras 2.x,
saved as `.h5`) or `keras3` (keras.applications in Keras 3, saved as `.keras`). Each group runs
in its own process (torch and TensorFlow in one process fight over threads and memory).

Every model gets a folder OUTDIR/<name>-<format>/ with
  model.<ext>          the model file
  x.npy                N random inputs, N(0, 1), the framework's layout (NCHW / NHWC)
  ref_zero.npy         N zero references
  ref_rand.npy         N random references, N(0, 1), another seed
  fw_output.npy        the framework's output on x (what `deeplift predict` must give)
  fw_logits_<r>.npy    the framework's logits for x, ref_zero, ref_rand: the model output, or
                       the pre-activation of a final softmax (the default DeepLIFT target,
                       paper section 3.6), computed in float64 from the Dense layer's weights
  meta.json            names, shapes, versions

"Random weights" includes the BatchNorm statistics and affine parameters (drawn around the
identity), so BatchNorm folding and its rules are exercised, not only identity BatchNorms.
"""
import argparse
import json
import os
import sys

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up chatter

SEED = 1234


def inputs(shape, n):
    """x, zero and random references: float32 [n, *shape], fixed seeds."""
    rng = np.random.default_rng(SEED)
    x = rng.standard_normal((n, *shape)).astype(np.float32)
    rand = np.random.default_rng(SEED + 1).standard_normal((n, *shape)).astype(np.float32)
    return {"x": x, "ref_zero": np.zeros_like(x), "ref_rand": rand}


def write_common(folder, arrays, meta):
    os.makedirs(folder, exist_ok=True)
    for k, v in arrays.items():
        np.save(os.path.join(folder, k + ".npy"), v)
    with open(os.path.join(folder, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)


# --- torch / torchvision -> ONNX --------------------------------------------------------------

def import_torchvision():
    """Imports torchvision; works around the PyPI torchvision wheel (a CUDA build) beside the
    CPU-only torch wheel: its compiled ops do not load, and torchvision then fails at import
    registering fake kernels for `torchvision::nms`. The models used here are pure Python, so
    those registrations are skipped (only when the plain import fails that way)."""
    import torch
    import torch.library
    try:
        import torchvision
        return torchvision
    except RuntimeError as e:
        if "torchvision::" not in str(e):
            raise
    for m in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
        del sys.modules[m]
    orig = torch.library.register_fake

    def register_fake(op, *a, **k):
        if isinstance(op, str) and op.startswith("torchvision::"):
            return lambda f: f
        return orig(op, *a, **k)

    torch.library.register_fake = register_fake
    try:
        import torchvision
    finally:
        torch.library.register_fake = orig
    return torchvision


def make_torch(out, names, n, size):
    import torch
    import onnxruntime as ort
    tv = import_torchvision()
    torch.manual_seed(SEED)
    torch.set_num_threads(2)
    builders = {"resnet18": tv.models.resnet18, "densenet121": tv.models.densenet121}
    for name in names:
        if name not in builders:
            continue
        model = builders[name](weights=None).eval()
        g = torch.Generator().manual_seed(SEED)
        with torch.no_grad():
            for m in model.modules():
                if isinstance(m, torch.nn.BatchNorm2d):
                    c = m.num_features
                    m.running_mean.copy_(0.1 * torch.randn(c, generator=g))
                    m.running_var.copy_(0.5 + torch.rand(c, generator=g))
                    m.weight.copy_(0.5 + torch.rand(c, generator=g))
                    m.bias.copy_(0.1 * torch.randn(c, generator=g))
        folder = os.path.join(out, f"{name}-onnx")
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, "model.onnx")
        shape = (3, size, size)
        dummy = torch.zeros(1, *shape)
        torch.onnx.export(model, (dummy,), path, opset_version=17, dynamo=False,
                          input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
        arrays = inputs(shape, n)
        sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        logits = {}
        for r in ("x", "ref_zero", "ref_rand"):
            logits[r] = sess.run(None, {"input": arrays[r]})[0]
        with torch.no_grad():
            t = model(torch.from_numpy(arrays["x"])).numpy()
        scale = max(1e-30, float(np.abs(t).max()))
        ort_vs_torch = float(np.abs(logits["x"] - t).max() / scale)
        arrays["fw_output"] = logits["x"]
        for r, v in logits.items():
            arrays["fw_logits_" + r] = v.astype(np.float64)
        write_common(folder, arrays, {
            "model": name, "format": "onnx", "file": "model.onnx", "input_shape": list(shape),
            "framework": f"onnxruntime {ort.__version__} (torch {torch.__version__}, "
                         f"torchvision {tv.__version__}, opset 17)",
            "target_is": "model output (logits)", "onnxruntime_vs_torch_max_rel": ort_vs_torch})
        print(f"{name}: onnx written, onnxruntime vs torch max rel {ort_vs_torch:.2e}", flush=True)


# --- keras.applications -------------------------------------------------------------------------

KERAS_APPS = {"ResNet50": "resnet50", "DenseNet121": "densenet121", "NASNetMobile": "nasnetmobile"}


def make_keras(out, names, n, size, legacy):
    if legacy:
        os.environ["TF_USE_LEGACY_KERAS"] = "1"
        import tf_keras as keras
        fmt, ext = "h5", "h5"
    else:
        import keras
        fmt, ext = "keras", "keras"
    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(2)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    keras.utils.set_random_seed(SEED)
    for name in names:
        if name not in KERAS_APPS:
            continue
        ctor = getattr(keras.applications, name)
        shape = (size, size, 3)
        model = ctor(weights=None, input_shape=shape)
        rng = np.random.default_rng(SEED)
        for layer in model.layers:
            # keras.applications draws kernels Glorot-uniform: through 50+ ReLU layers the
            # activations shrink to ~1e-3 and Δ with them, which would make the 1e-4·max(1, |Δ|)
            # test vacuous. He-normal (as torchvision's kaiming init) keeps them O(1).
            if hasattr(layer, "weights") and layer.weights and type(layer).__name__ != "BatchNormalization":
                ws = layer.get_weights()
                for i, w in enumerate(layer.weights):
                    wname = w.name.split("/")[-1].split(":")[0]
                    if "kernel" in wname and ws[i].ndim >= 2:
                        shape = ws[i].shape
                        fan_in = shape[0] * shape[1] if "depthwise" in wname else int(np.prod(shape[:-1]))
                        ws[i] = (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)
                layer.set_weights(ws)
            if type(layer).__name__ == "BatchNormalization":
                ws = layer.get_weights()
                c = ws[0].shape[0]
                new = []
                # The order is [gamma?, beta?, moving_mean, moving_variance]; gamma and beta
                # may be absent (scale=False / center=False).
                k = len(ws) - 2
                if layer.scale:
                    new.append((0.5 + rng.random(c)).astype(np.float32))
                if layer.center:
                    new.append((0.1 * rng.standard_normal(c)).astype(np.float32))
                assert len(new) == k
                new.append((0.1 * rng.standard_normal(c)).astype(np.float32))
                new.append((0.5 + rng.random(c)).astype(np.float32))
                layer.set_weights(new)
        folder = os.path.join(out, f"{KERAS_APPS[name]}-{fmt}")
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, f"model.{ext}")
        model.save(path)
        arrays = inputs(shape, n)
        last = model.layers[-1]
        act = getattr(last.activation, "__name__", str(last.activation))
        assert type(last).__name__ == "Dense", type(last).__name__
        features = keras.Model(model.inputs, last.input)
        kernel, bias = [np.asarray(w, np.float64) for w in last.get_weights()]
        out_x = np.asarray(model(arrays["x"], training=False))
        arrays["fw_output"] = out_x
        for r in ("x", "ref_zero", "ref_rand"):
            f = np.asarray(features(arrays[r], training=False), np.float64)
            arrays["fw_logits_" + r] = f @ kernel + bias
        # The logits, passed through the final activation, must give the model's output.
        if act == "softmax":
            z = arrays["fw_logits_x"]
            p = np.exp(z - z.max(1, keepdims=True))
            p /= p.sum(1, keepdims=True)
            check = float(np.abs(p - out_x).max() / max(1e-30, np.abs(out_x).max()))
        else:
            check = float(np.abs(arrays["fw_logits_x"] - out_x).max() / max(1e-30, np.abs(out_x).max()))
        write_common(folder, arrays, {
            "model": KERAS_APPS[name], "format": fmt, "file": f"model.{ext}", "input_shape": list(shape),
            "framework": f"{'tf-keras' if legacy else 'keras'} {keras.__version__} (tensorflow {tf.__version__})",
            "target_is": f"pre-activation of the final Dense ({act})" if act == "softmax" else "model output",
            "final_activation": act, "logits_vs_output_max_rel": check,
            "file_bytes": os.path.getsize(path)})
        print(f"{name}: {fmt} written ({os.path.getsize(path) / 2**20:.1f} MiB), "
              f"logits check {check:.2e}, logits std {arrays['fw_logits_x'].std():.3g}", flush=True)
        keras.backend.clear_session()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("group", choices=["torch", "tfkeras", "keras3"])
    p.add_argument("out")
    p.add_argument("--n", type=int, default=2, help="examples (default 2)")
    p.add_argument("--size", type=int, default=64, help="image height and width (default 64)")
    p.add_argument("--models", default="", help="comma-separated subset (default: all of the group)")
    a = p.parse_args()
    if a.group == "torch":
        names = a.models.split(",") if a.models else ["resnet18", "densenet121"]
        make_torch(a.out, names, a.n, a.size)
    else:
        names = a.models.split(",") if a.models else list(KERAS_APPS)
        names = [k for k in KERAS_APPS if k in names or KERAS_APPS[k] in names]
        make_keras(a.out, names, a.n, a.size, legacy=(a.group == "tfkeras"))


if __name__ == "__main__":
    main()
