#!/usr/bin/env python3
"""Checks that `deeplift predict` on the bundled digits model equals Keras.

Run from the repository root after `swift build -c release`:
    python Examples/image/check_predict.py [path/to/deeplift]
Prints the largest absolute differences of the softmax outputs and the logits; exits 1 when
either exceeds 1e-4 or a predicted class differs.
"""
import os
import subprocess
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np  # noqa: E402
import tf_keras as keras  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
tool = sys.argv[1] if len(sys.argv) > 1 else ".build/release/deeplift"
model_path, x_path = os.path.join(HERE, "model.h5"), os.path.join(HERE, "digits.npy")
model = keras.models.load_model(model_path)
x = np.load(x_path)
ok = True
with tempfile.TemporaryDirectory() as tmp:
    for layer in ("output", "logits"):
        out = os.path.join(tmp, layer + ".npy")
        subprocess.run([tool, "predict", model_path, "--input", x_path, "--layer", layer, "--output", out],
                       check=True)
        ours = np.load(out)
        theirs = keras.Model(model.inputs, model.get_layer(layer).output).predict(x, verbose=0)
        diff = float(np.abs(ours - theirs).max())
        same = bool((ours.argmax(1) == theirs.argmax(1)).all())
        print(f"{layer}: shape {ours.shape}, max |deeplift - keras| = {diff:.3g}, same classes: {same}")
        ok = ok and diff <= 1e-4 and same
sys.exit(0 if ok else 1)
