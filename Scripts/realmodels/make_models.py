"""Builds real architectures with random weights, writes inputs and references, and records
the framework's own forward pass, for `check_models.py` (issue 14's evidence).

    python make_models.py GROUP OUTDIR [--n N] [--size S] [--models a,b]

GROUP is `torch` (torchvision -> ONNX, opset 17, TorchScript exporter), `tfkeras` (keras.applications in tf-keras 2.x,
saved as `.h5`) or `keras3` (keras.applications in Keras 3, saved as `.keras`). Each group runs
in its own process (torch and TensorFlow in one process fight over threads and memory).

Every model gets a folder OUTDIR/<name>-<format>/ with
  model.<ext>          the model file
  x.npy                N random inputs, N(0, 1), the framework's layout (NCHW / NHWC)
  ref_zero.npy         N zero references
  ref_rand.npy         N random references, N(0, 1), another seed
  fw_output.npy        the framework's float32 output on x (onnxruntime / Keras)
  fw_logits_<r>.npy    the logits for x, ref_zero, ref_rand: the model output, or the
                       pre-activation of a final softmax (the default DeepLIFT target, paper
                       section 3.6), computed in float64 by a float64 twin of the model (same
                       weights), so measured errors are the tool's, not the framework's
  meta.json            names, shapes, versions

Weights are the libraries' random initialisation; BatchNorm gets random γ, β and statistics
measured on random images, then perturbed (see calibrate_batchnorm), so activations stay O(1)
through the depth as in a trained network and BatchNorm is not the identity.
"""
import argparse
import copy
import json
import os
import sys

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up chatter

SEED = 1234


def draw_images(rng, shape, pixels):
    """Random images: standard normal (models that take normalised inputs), or with `pixels`
    uniform in [0, 255) (models that rescale raw pixels themselves, keras.applications
    EfficientNet: a N(0, 1) image is nearly constant after its Rescaling(1/255) +
    Normalization, so every activation is a large constant plus a small signal and float32
    loses the signal — TensorFlow's own logits then miss the float64 twin by 2e-3 to 5e-3)."""
    if pixels:
        return rng.uniform(0, 255, size=shape).astype(np.float32)
    return rng.standard_normal(shape).astype(np.float32)


def inputs(shape, n, pixels=False):
    """x, zero and random references: float32 [n, *shape], fixed seeds (see draw_images)."""
    x = draw_images(np.random.default_rng(SEED), (n, *shape), pixels)
    rand = draw_images(np.random.default_rng(SEED + 1), (n, *shape), pixels)
    return {"x": x, "ref_zero": np.zeros_like(x), "ref_rand": rand}


# keras.applications models whose first layers rescale raw pixels (include_preprocessing).
PIXEL_INPUTS = {"EfficientNetB0"}


def rel(a, b):
    """max |a − b| / max |b|."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.abs(a - b).max() / max(1e-300, np.abs(b).max()))


def logits(keras, model, x):
    """The pre-activation of the model's final Dense layer (the default DeepLIFT target when
    it ends in a softmax), in float64 from the layer's weights and its input; for a model that
    ends in a softmax Activation layer (MobileNetV3), that layer's input."""
    last = model.layers[-1]
    if type(last).__name__ == "Activation":
        return np.asarray(keras.Model(model.inputs, last.input)(x, training=False), np.float64)
    assert type(last).__name__ == "Dense", type(last).__name__
    features = keras.Model(model.inputs, last.input)
    kernel, bias = [np.asarray(w, np.float64) for w in last.get_weights()]
    return np.asarray(features(x, training=False), np.float64) @ kernel + bias


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
    builders = {"resnet18": tv.models.resnet18, "densenet121": tv.models.densenet121,
                # weights=None: no input transform; the auxiliary heads run only in training.
                "googlenet": lambda weights: tv.models.googlenet(weights=weights, aux_logits=False,
                                                                 init_weights=True),
                "mobilenet_v3_small": tv.models.mobilenet_v3_small,
                # channel shuffle (reshape-transpose-reshape) and x.chunk(2) of an activation
                "shufflenet_v2_x0_5": tv.models.shufflenet_v2_x0_5}
    for name in names:
        if name not in builders:
            continue
        model = builders[name](weights=None).eval()
        # BatchNorm as in calibrate_batchnorm: random γ, β; statistics of 8 random images
        # (momentum 1 in training mode: the running values become the batch's), perturbed.
        g = torch.Generator().manual_seed(SEED)
        bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
        with torch.no_grad():
            for m in bns:
                c = m.num_features
                m.weight.copy_(0.5 + torch.rand(c, generator=g))
                m.bias.copy_(0.1 * torch.randn(c, generator=g))
                m.momentum = 1.0
            model.train()
            model(torch.randn(8, 3, size, size, generator=g))
            model.eval()
            for m in bns:
                c = m.num_features
                m.momentum = 0.1
                m.running_mean.add_(0.1 * m.running_var.sqrt() * torch.randn(c, generator=g))
                m.running_var.mul_(0.8 + 0.4 * torch.rand(c, generator=g))
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
        arrays["fw_output"] = sess.run(None, {"input": arrays["x"]})[0]
        # The reference logits in float64 (torch's float64 twin of the model), so the errors
        # measured are the tool's, not float32 rounding in the framework.
        twin = copy.deepcopy(model).double()
        with torch.no_grad():
            for r in ("x", "ref_zero", "ref_rand"):
                arrays["fw_logits_" + r] = twin(torch.from_numpy(arrays[r]).double()).numpy()
        f32_vs_f64 = rel(arrays["fw_output"], arrays["fw_logits_x"])
        write_common(folder, arrays, {
            "model": name, "format": "onnx", "file": "model.onnx", "input_shape": list(shape),
            "framework": f"onnxruntime {ort.__version__} (torch {torch.__version__}, "
                         f"torchvision {tv.__version__}, opset 17)",
            "target_is": "model output (logits)", "framework_f32_vs_f64_max_rel": f32_vs_f64})
        print(f"{name}: onnx written, onnxruntime (float32) vs torch float64 max rel {f32_vs_f64:.2e}, "
              f"logits std {arrays['fw_logits_x'].std():.3g}", flush=True)


# --- keras.applications -------------------------------------------------------------------------

KERAS_APPS = {"ResNet50": "resnet50", "DenseNet121": "densenet121", "NASNetMobile": "nasnetmobile",
              "MobileNetV3Small": "mobilenetv3small", "EfficientNetB0": "efficientnetb0"}


def calibrate_batchnorm(model, shape, pixels=False):
    """Random BatchNorm parameters, with statistics like a trained network's.

    keras.applications leaves moving mean 0 and variance 1 and draws kernels Glorot-uniform:
    through 50+ layers the activations then shrink (ResNet50's logits differ by ~0.005 between
    two inputs, which would make the 1e-4·max(1, |Δ|) test vacuous), and with He kernels they
    grow (logits ~1e4 in ResNet50 and NASNetMobile). So:
    γ ~ U(0.5, 1.5), β ~ 0.1·N(0, 1); then one forward pass in training mode with momentum 0
    sets each moving mean and variance to its input's batch statistics (on 8 random images,
    every BatchNorm seeing the ones before it already normalised); then the statistics are
    perturbed (mean + 0.1·σ·N(0, 1), variance × U(0.8, 1.2)) so they are not exact."""
    rng = np.random.default_rng(SEED + 3)
    bns = [l for l in model.layers if type(l).__name__ == "BatchNormalization"]
    for bn in bns:
        ws = bn.get_weights()  # [gamma?, beta?, moving_mean, moving_variance]
        c = ws[-1].shape[0]
        new = []
        if bn.scale:
            new.append((0.5 + rng.random(c)).astype(np.float32))
        if bn.center:
            new.append((0.1 * rng.standard_normal(c)).astype(np.float32))
        bn.set_weights(new + ws[-2:])
    momenta = [bn.momentum for bn in bns]
    for bn in bns:
        bn.momentum = 0.0
    calibration = draw_images(np.random.default_rng(SEED + 2), (8, *shape), pixels)
    model(calibration, training=True)
    for bn, m in zip(bns, momenta):
        bn.momentum = m
        ws = bn.get_weights()
        mean, var = ws[-2], ws[-1]
        c = mean.shape[0]
        ws[-2] = (mean + 0.1 * np.sqrt(var) * rng.standard_normal(c)).astype(np.float32)
        ws[-1] = (var * (0.8 + 0.4 * rng.random(c))).astype(np.float32)
        bn.set_weights(ws)


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
        # Preprocessing Normalization layers (EfficientNet): statistics other than 0 and 1.
        rng = np.random.default_rng(SEED + 4)
        for layer in model.layers:
            if type(layer).__name__ == "Normalization" and layer.get_weights():
                ws = layer.get_weights()
                c = ws[0].shape
                layer.set_weights([(0.5 + 0.1 * rng.standard_normal(c)).astype(np.float32),
                                   (0.05 + 0.05 * rng.random(c)).astype(np.float32)] + ws[2:])
                # set_weights fills the adapt_* variables only; the statistics the layer uses
                # are taken from them by finalize_state (which loading the file calls): without
                # it the model calibrated and saved here computes with mean 0, variance 1 and
                # the saved file with the statistics above (logits ~1e6 in EfficientNetB0).
                layer.finalize_state()
        pixels = name in PIXEL_INPUTS
        calibrate_batchnorm(model, shape, pixels)
        folder = os.path.join(out, f"{KERAS_APPS[name]}-{fmt}")
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, f"model.{ext}")
        model.save(path)
        arrays = inputs(shape, n, pixels)
        out_x = np.asarray(model(arrays["x"], training=False))
        arrays["fw_output"] = out_x
        act = getattr(model.layers[-1].activation, "__name__", str(model.layers[-1].activation))
        act = "softmax" if "softmax" in act else act
        logits32 = logits(keras, model, arrays["x"])
        # The reference logits in float64: the same architecture built with floatx float64 and
        # given the same weights, so the errors measured are the tool's, not float32 rounding
        # in the framework.
        keras.backend.set_floatx("float64")
        if not legacy:  # Keras 3 caches the global dtype policy: floatx alone is not enough
            keras.config.set_dtype_policy("float64")
        try:
            twin = ctor(weights=None, input_shape=shape)
            assert "float64" in str(twin.weights[-1].dtype), twin.weights[-1].dtype
            twin.set_weights([np.asarray(w, np.float64) if np.asarray(w).dtype.kind == "f" else np.asarray(w)
                              for w in model.get_weights()])
            for layer in twin.layers:
                if type(layer).__name__ == "Normalization" and layer.get_weights():
                    layer.finalize_state()
            for r in ("x", "ref_zero", "ref_rand"):
                arrays["fw_logits_" + r] = logits(keras, twin, arrays[r].astype(np.float64))
        finally:
            keras.backend.set_floatx("float32")
            if not legacy:
                keras.config.set_dtype_policy("float32")
        f32_vs_f64 = rel(logits32, arrays["fw_logits_x"])
        # The logits, passed through the final activation, must give the model's output.
        if act == "softmax":
            z = arrays["fw_logits_x"]
            p = np.exp(z - z.max(1, keepdims=True))
            p /= p.sum(1, keepdims=True)
            check = rel(out_x, p)
        else:
            check = rel(out_x, arrays["fw_logits_x"])
        write_common(folder, arrays, {
            "model": KERAS_APPS[name], "format": fmt, "file": f"model.{ext}", "input_shape": list(shape),
            "framework": f"{'tf-keras' if legacy else 'keras'} {keras.__version__} (tensorflow {tf.__version__})",
            "target_is": f"pre-activation of the final Dense ({act})" if act == "softmax" else "model output",
            "final_activation": act, "pixel_inputs": pixels, "output_vs_f64_max_rel": check, "framework_f32_vs_f64_max_rel": f32_vs_f64,
            "file_bytes": os.path.getsize(path)})
        print(f"{name}: {fmt} written ({os.path.getsize(path) / 2**20:.1f} MiB), "
              f"float32 vs float64: logits {f32_vs_f64:.2e}, output {check:.2e}; logits std {arrays['fw_logits_x'].std():.3g}", flush=True)
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
