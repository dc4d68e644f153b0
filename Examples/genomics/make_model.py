#!/usr/bin/env python3
"""Trains the small genomics CNN bundled for the README demo (Examples/genomics/).

Simulated data, in the spirit of the original deeplift's genomics example: random background
DNA of length 200 (A/C/G/T with probabilities .3/.2/.2/.3) in which motif instances are
embedded at random positions:

    task 0: GATA motif "AGATAAGG" (contains GATAA) present
    task 1: TAL1 motif "CCAGATGG" (contains CAGATG) present

Each training sequence gets no motif, one GATA, one TAL1, or both (1-2 copies each).

Model (tf-keras 2.x, Sequential, channels last):
    Input (200, 4) one-hot  -> Conv1D(16, 11, relu, same) -> MaxPooling1D(4) -> Flatten
    -> Dense(32, relu) -> Dropout(0.2) -> Dense(2) -> Activation(sigmoid)
The DeepLIFT target is the pre-sigmoid layer "logits" (the CLI's default).

Writes, next to this file:
    model.h5            legacy HDF5 (model.save(..., include_optimizer=False))
    sequences.npy       float32 [20, 200, 4] one-hot test sequences
    sequences.json      for each of those: the DNA string, labels and motif positions
    reference.npy       float32 [200, 4], the background base frequencies at every position
                        (a shared reference for DeepLIFT)

Run:  python make_model.py      (requirements.txt; about 20 s on 2 CPU cores)
"""
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf_keras as keras  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
L = 200
ALPHABET = "ACGT"
BACKGROUND = [0.3, 0.2, 0.2, 0.3]
MOTIFS = {"GATA": "AGATAAGG", "TAL1": "CCAGATGG"}


CORES = ["GATAA", "TTATC", "CAGATG", "CATCTG"]   # motif cores and reverse complements


def simulate(rng, n, classes=None, clean=False):
    """Returns one-hot [n, L, 4] float32, labels [n, 2], list of info dicts.
    clean=True: the background holds no motif core (either strand) by chance."""
    seqs, labels, infos = [], [], []
    for i in range(n):
        cls = rng.randint(4) if classes is None else classes[i]
        want = {"GATA": cls in (1, 3), "TAL1": cls in (2, 3)}
        while True:
            s = list(rng.choice(list(ALPHABET), size=L, p=BACKGROUND))
            if not clean or not any(c in "".join(s) for c in CORES):
                break
        taken = np.zeros(L, bool)
        placed = []
        for name, present in want.items():
            if not present:
                continue
            motif = MOTIFS[name]
            for _ in range(rng.randint(1, 3)):
                for _try in range(100):
                    pos = rng.randint(0, L - len(motif) + 1)
                    if not taken[pos:pos + len(motif)].any():
                        break
                taken[pos:pos + len(motif)] = True
                s[pos:pos + len(motif)] = list(motif)
                placed.append({"motif": name, "sequence": motif, "start": int(pos),
                               "end": int(pos + len(motif))})
        seq = "".join(s)
        # label from the final sequence (a background occurrence counts too)
        lab = [float(MOTIFS["GATA"] in seq), float(MOTIFS["TAL1"] in seq)]
        seqs.append(seq)
        labels.append(lab)
        infos.append({"sequence": seq, "labels": lab,
                      "motifs": sorted(placed, key=lambda p: p["start"])})
    onehot = np.zeros((n, L, 4), np.float32)
    for i, seq in enumerate(seqs):
        onehot[i, np.arange(L), [ALPHABET.index(c) for c in seq]] = 1.0
    return onehot, np.array(labels, np.float32), infos


def build_model():
    Lyr = keras.layers
    return keras.Sequential([
        keras.Input(shape=(L, 4), name="sequence"),
        Lyr.Conv1D(16, 11, activation="relu", padding="same", name="conv"),
        Lyr.MaxPooling1D(4, name="pool"),
        Lyr.Flatten(name="flatten"),
        Lyr.Dense(32, activation="relu", name="dense"),
        Lyr.Dropout(0.2, name="dropout"),
        Lyr.Dense(2, name="logits"),
        Lyr.Activation("sigmoid", name="output"),
    ], name="genomics_example")


def main():
    t0 = time.time()
    keras.utils.set_random_seed(1234)
    tf.config.experimental.enable_op_determinism()
    rng = np.random.RandomState(1234)
    x_train, y_train, _ = simulate(rng, 6000)
    x_val, y_val, _ = simulate(rng, 1000)
    model = build_model()
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="binary_crossentropy",
                  metrics=[keras.metrics.BinaryAccuracy(name="acc")])
    model.fit(x_train, y_train, batch_size=64, epochs=30, validation_data=(x_val, y_val),
              verbose=2)
    pred = model.predict(x_val, verbose=0) > 0.5
    acc = (pred == (y_val > 0.5)).mean(axis=0)
    print("validation accuracy per task: GATA %.3f, TAL1 %.3f" % (acc[0], acc[1]))

    # 20 test sequences: 5 with neither motif, 5 GATA, 5 TAL1, 5 both -> 15 of 20 with a motif;
    # ordered neither, GATA, TAL1, both; no chance motif core in their background.
    trng = np.random.RandomState(99)
    classes = [0] * 5 + [1] * 5 + [2] * 5 + [3] * 5
    x_test, y_test, infos = simulate(trng, 20, classes, clean=True)
    p = model.predict(x_test, verbose=0)
    test_acc = ((p > 0.5) == (y_test > 0.5)).mean()
    print("test sequences accuracy: %.3f" % test_acc)
    for info, pi in zip(infos, p):
        info["prediction"] = [round(float(v), 4) for v in pi]

    model.save(os.path.join(HERE, "model.h5"), include_optimizer=False)
    np.save(os.path.join(HERE, "sequences.npy"), x_test.astype(np.float32))
    np.save(os.path.join(HERE, "reference.npy"),
            np.tile(np.array(BACKGROUND, np.float32), (L, 1)))
    with open(os.path.join(HERE, "sequences.json"), "w") as f:
        json.dump({"alphabet": ALPHABET, "tasks": ["GATA", "TAL1"], "motifs": MOTIFS,
                   "sequences": infos}, f, indent=1)
    print("wrote model.h5 (%d bytes), sequences.npy, sequences.json in %.0f s"
          % (os.path.getsize(os.path.join(HERE, "model.h5")), time.time() - t0))


if __name__ == "__main__":
    main()
