"""Peak RSS of `deeplift explain` against the number of inputs N (issue 7: memory flat in N).

    Benchmarks/rss.sh [--ns 1000 3000 10000] [--trace] [-- EXTRA deeplift explain options]

Runs `deeplift explain MODEL --input xN.npy --output OUT --threads 2 --quiet EXTRA` once per N
on the bench model (Basset 1000 bp by default, made by make_models.py as in bench.py; the
one-hot inputs are bench.py's generator, rng 1) and prints each N's peak RSS
(`/usr/bin/time -f %M`) side by side with the ratio to the first N. `--trace` also prints
the anonymous RSS (RssAnon of /proc/PID/status, MiB) sampled every 0.5 s, which shows
whether memory plateaus after the first chunk or keeps growing. Exit status 1 when the last
N's peak is more than --limit (default 10 %) above the first N's.
"""
import argparse, os, subprocess, sys, tempfile, time
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


def run(cmd, trace):
    """Runs cmd under `/usr/bin/time -f %M`; returns (peak RSS KiB, wall seconds, RssAnon
    samples in MiB). Not the child's own rusage: a child forked from this Python process
    inherits its RSS high-water mark across exec (Linux keeps the larger of the two)."""
    t = time.perf_counter()
    err = tempfile.TemporaryFile()
    p = subprocess.Popen(["/usr/bin/time", "-f", "rss_kb=%M"] + cmd, stdout=subprocess.DEVNULL, stderr=err)
    samples = []
    while trace and p.poll() is None:
        try:  # the deeplift process is time's only child
            with open(f"/proc/{p.pid}/task/{p.pid}/children") as fh:
                kids = fh.read().split()
            with open(f"/proc/{kids[0]}/status") as fh:
                for line in fh:
                    if line.startswith("RssAnon:"): samples.append(int(line.split()[1]) // 1024)
        except (OSError, IndexError):
            pass
        time.sleep(0.5)
    code = p.wait()
    wall = time.perf_counter() - t
    err.seek(0)
    text = err.read().decode(errors="replace")
    if code != 0:
        raise SystemExit(" ".join(cmd) + "\n" + text)
    kb = int([l for l in text.splitlines() if l.startswith("rss_kb=")][-1].split("=")[1])
    return kb, wall, samples


def main():
    argv = sys.argv[1:]
    extra = []
    if "--" in argv:
        k = argv.index("--"); argv, extra = argv[:k], argv[k + 1:]
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", required=True)
    ap.add_argument("--model", default="basset", choices=["basset", "bpnet"])
    ap.add_argument("--ns", type=int, nargs="+", default=[1000, 10000])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=os.path.join(HERE, ".out"))
    ap.add_argument("--limit", type=float, default=0.10, help="allowed growth of the peak, largest N vs first")
    ap.add_argument("--trace", action="store_true", help="print RssAnon sampled every 0.5 s")
    a = ap.parse_args(argv)
    mdir = os.path.join(a.out, "models"); ddir = os.path.join(a.out, "data"); os.makedirs(ddir, exist_ok=True)
    model = os.path.join(mdir, f"{a.model}.onnx")
    if not os.path.exists(model):
        import torch, make_models
        torch.manual_seed(0); np.random.seed(0)
        make_models.main(mdir)
    from bench import data
    for n in a.ns:
        x = os.path.join(ddir, f"{a.model}_rss{n}.npy")
        if not os.path.exists(x): np.save(x, data(np.random.default_rng(1), a.model, n))
    rows = []
    for n in a.ns:
        x = os.path.join(ddir, f"{a.model}_rss{n}.npy")
        out = os.path.join(a.out, f"rss_scores.npy")
        cmd = [a.bin, "explain", model, "--input", x, "--output", out, "--threads", str(a.threads), "--quiet"] + extra
        kb, wall, samples = run(cmd, a.trace)
        rows.append((n, kb, wall))
        print(f"N={n:6d} peak RSS {kb / 1024:7.1f} MiB  wall {wall:7.2f} s"
              + (f"  RssAnon MiB: {' '.join(map(str, samples))}" if a.trace else ""), flush=True)
    base = rows[0][1]
    print()
    print("| " + " | ".join(f"N = {n}" for n, _, _ in rows) + " | ratio last/first |")
    print("|" + "---|" * (len(rows) + 1))
    print("| " + " | ".join(f"{kb / 1024:.0f} MiB" for _, kb, _ in rows) + f" | {rows[-1][1] / base:.3f} |")
    if extra: print(f"(deeplift explain options: {' '.join(extra)})")
    sys.exit(0 if rows[-1][1] <= base * (1 + a.limit) else 1)


if __name__ == "__main__":
    main()
