"""Runs modisco-lite (`modisco motifs`) on a `deeplift explain --genome … --output OUT.h5` file
of this example and checks that it finds the planted motifs (truth.json): GATA (`AGATAAGA`)
and AP-1 (`TGAGTCA`), either strand.

    /work/venv-real/bin/python Examples/genome/check_modisco.py OUT.h5 [--window 200]

Each pattern's consensus is the argmax base of its contribution scores at the positions
whose total |score| is at least 30% of the pattern's largest; a motif is found when a
consensus contains its core (GATA: `GATAA`, `AGATA` or their reverse complements; AP-1:
`TGA[CG]TC` or `GA[CG]TCA`, which covers both strands). Prints one line per pattern;
exit status 1 when a planted motif is missing. Pinned versions: requirements.txt.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

import h5py
import numpy as np

CORES = {"GATA": [r"GATAA", r"TTATC", r"AGATA", r"TATCT"], "AP1": [r"TGA[CG]TC", r"GA[CG]TCA"]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("h5")
    ap.add_argument("--window", type=int, default=200, help="modisco -w: bases around each centre")
    ap.add_argument("--max-seqlets", type=int, default=2000)
    a = ap.parse_args()
    modisco = os.path.join(os.path.dirname(sys.executable), "modisco")
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "modisco.h5")
        p = subprocess.run([modisco, "motifs", "-i", a.h5, "-n", str(a.max_seqlets), "-w", str(a.window), "-o", out],
                           capture_output=True, text=True)
        if p.returncode != 0:
            sys.exit(p.stderr)
        found = {k: [] for k in CORES}
        with h5py.File(out) as f:
            for group in ("pos_patterns", "neg_patterns"):
                if group not in f:
                    continue
                for name in f[group]:
                    pat = f[group][name]
                    contrib = pat["contrib_scores"][:]
                    seq = pat["sequence"][:]
                    n = int(pat["seqlets"]["n_seqlets"][()][0])
                    weight = np.abs(contrib).sum(1)
                    keep = np.where(weight >= 0.3 * weight.max())[0]
                    core = "".join("ACGT"[i] for i in seq[keep[0]:keep[-1] + 1].argmax(1))
                    hits = [k for k, res in CORES.items() if any(re.search(r, core) for r in res)]
                    for k in hits:
                        found[k].append(f"{group}/{name}")
                    print(f"{group}/{name}: {n} seqlets, consensus {core}" + (f" -> {', '.join(hits)}" if hits else ""))
    missing = [k for k, v in found.items() if not v]
    print("planted motifs found:", {k: v for k, v in found.items() if v}, "missing:", missing or "none")
    sys.exit(1 if missing else 0)


if __name__ == "__main__":
    main()
