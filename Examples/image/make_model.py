#!/usr/bin/env python3
"""Trains the small image classifier bundled for the README heatmap demo (Examples/image/).

Data: scikit-learn's bundled 8x8 handwritten digits (`sklearn.datasets.load_digits`, 1,797
images shipped inside the scikit-learn wheel, no download), pixel values 0..16 scaled to
[0, 1] (ink is bright, the background is 0) and upsampled to 16x16 with bilinear
interpolation so that the heatmap is easier to read.

Model (tf-keras 2.x, Sequential, channels last):
    Input (16, 16, 1) -> Conv2D(16, 3, relu, same) -> MaxPooling2D(2)
    -> Conv2D(32, 3, relu, same) -> MaxPooling2D(2) -> Flatten -> Dense(10) -> Activation(softmax)
The DeepLIFT target is the pre-softmax layer "logits" (the CLI's default); task k is digit k.

Writes, next to this file:
    model.h5     legacy HDF5 (model.save(..., include_optimizer=False))
    digits.npy   float32 [10, 16, 16, 1]: one held-out test image of each digit, row k shows
                 digit k, each classified correctly
    digits.json  for each of those: its label, the sklearn index and the model's softmax output

Run:  python make_model.py      (requirements.txt; about 15 s on 2 CPU cores)
"""
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf_keras as keras  # noqa: E402
from scipy.ndimage import zoom  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SIZE = 16


def prepare(images):
    """[n, 8, 8] values 0..16 -> float32 [n, 16, 16, 1] in [0, 1]."""
    x = images.astype(np.float64) / 16.0
    x = np.stack([zoom(im, SIZE / 8, order=1, mode="nearest", grid_mode=True) for im in x])
    return np.clip(x, 0, 1).astype(np.float32)[..., None]


def main():
    start = time.time()
    keras.utils.set_random_seed(0)
    tf.config.experimental.enable_op_determinism()
    tf.config.threading.set_inter_op_parallelism_threads(1)
    tf.config.threading.set_intra_op_parallelism_threads(1)
    digits = load_digits()
    x, y = prepare(digits.images), digits.target.astype(np.int64)
    rng = np.random.RandomState(0)
    order = rng.permutation(len(x))
    test, train = order[:297], order[297:]

    model = keras.Sequential([
        keras.layers.Input((SIZE, SIZE, 1), name="image"),
        keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="conv1"),
        keras.layers.MaxPooling2D(2, name="pool1"),
        keras.layers.Conv2D(32, 3, padding="same", activation="relu", name="conv2"),
        keras.layers.MaxPooling2D(2, name="pool2"),
        keras.layers.Flatten(name="flatten"),
        keras.layers.Dense(10, name="logits"),
        keras.layers.Activation("softmax", name="output"),
    ], name="digits_cnn")
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(x[train], y[train], epochs=15, batch_size=32, shuffle=True, verbose=0,
              validation_data=(x[test], y[test]))
    _, acc = model.evaluate(x[test], y[test], verbose=0)
    print(f"test accuracy {acc:.4f} on {len(test)} held-out images")

    # One held-out image per digit, the first that is classified correctly.
    probs = model.predict(x[test], verbose=0)
    rows, infos = [], []
    for k in range(10):
        for i in test:
            j = int(np.where(test == i)[0][0])
            if y[i] == k and probs[j].argmax() == k:
                rows.append(x[i])
                infos.append({"label": k, "sklearn_index": int(i),
                              "softmax": [round(float(p), 6) for p in probs[j]]})
                break
    images = np.stack(rows).astype(np.float32)
    assert images.shape == (10, SIZE, SIZE, 1)

    model.save(os.path.join(HERE, "model.h5"), include_optimizer=False, save_format="h5")
    np.save(os.path.join(HERE, "digits.npy"), images)
    with open(os.path.join(HERE, "digits.json"), "w") as f:
        json.dump({"test_accuracy": round(float(acc), 4), "images": infos}, f, indent=1)
    print(f"wrote model.h5, digits.npy {images.shape}, digits.json in {time.time() - start:.1f} s")


if __name__ == "__main__":
    main()
