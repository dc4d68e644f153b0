#!/usr/bin/env python3
"""End-to-end check of `deeplift explain --modisco` with modisco-lite: do the files it writes
load in `modisco motifs`, and does TF-MoDISco find the two planted motifs in them?

Simulates 300 sequences like the training data of make_model.py (length 200, background
.3/.2/.2/.3; AGATAAGG in 2 of 3 sequences, CCAGATGG in every other one), explains them with
the bundled model (genomics-default, 10 dinucleotide shuffles, both tasks), runs
`modisco motifs -s ohe.npz -a hyp_task<K>.npz -n 2000 -w 200` per task and prints each
pattern's consensus. Expected: task 0 -> ...AGATAAGG..., task 1 -> ...CCAGATGG...

Run from the repository root (requirements-modisco.txt; about 2 min on 2 CPU cores):
    python Examples/genomics/modisco_check.py [path/to/deeplift]
"""
import os
import subprocess
import sys
import tempfile

import h5py
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
tool = sys.argv[1] if len(sys.argv) > 1 else ".build/release/deeplift"
modisco = os.path.join(os.path.dirname(sys.executable), "modisco")

rng = np.random.RandomState(3)
n, length = 300, 200
x = np.zeros((n, length, 4), np.float32)
for i in range(n):
    s = list(rng.choice(list("ACGT"), size=length, p=[.3, .2, .2, .3]))
    for motif in (["AGATAAGG"] if i % 3 else []) + (["CCAGATGG"] if i % 2 else []):
        p = rng.randint(0, length - 8)
        s[p:p + 8] = list(motif)
    x[i, np.arange(length), ["ACGT".index(c) for c in s]] = 1

with tempfile.TemporaryDirectory() as tmp:
    np.save(os.path.join(tmp, "x.npy"), x)
    subprocess.run([tool, "explain", os.path.join(HERE, "model.h5"), "--input", os.path.join(tmp, "x.npy"),
                    "--method", "genomics-default", "--shuffles", "10", "--seed", "1", "--task", "all",
                    "--maxpool", "deepshap", "--output", os.path.join(tmp, "scores.npy"),
                    "--modisco", os.path.join(tmp, "modisco")], check=True)
    for task in (0, 1):
        out = os.path.join(tmp, f"task{task}.h5")
        subprocess.run([modisco, "motifs", "-s", os.path.join(tmp, "modisco", "ohe.npz"),
                        "-a", os.path.join(tmp, "modisco", f"hyp_task{task}.npz"),
                        "-n", "2000", "-w", "200", "-o", out], check=True)
        with h5py.File(out) as f:
            for group in ("pos_patterns", "neg_patterns"):
                for name in f.get(group, {}):
                    seq = f[group][name]["sequence"][:]
                    consensus = "".join("ACGT"[b] if seq[j].max() > 0.5 else "n"
                                        for j, b in enumerate(seq.argmax(1)))
                    count = int(f[group][name]["seqlets"]["n_seqlets"][0])
                    print(f"task {task}: {group}/{name}: {count} seqlets, consensus {consensus.strip('n')}")
