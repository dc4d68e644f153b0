"""swift-deeplift vs Captum / tangermeme on the bench models, side by side, in one run.

Run through Benchmarks/run.sh (it builds the release binary and picks the venv).  Steps:
1. make the bench models (make_models.py, a copy of ../shared/bench/make_models.py) as .pt + .onnx;
2. write the inputs as .npy (the same generator as anchors_bench.py: rng 0, one-hot for
   sequences, standard normal otherwise) and a 20-row background per model;
3. time, interleaved round by round (best of --reps), every measurement:
   ours (`deeplift explain`, --threads 2, DEEPLIFT_TIMING=1 for the in-process split) and the
   anchors (torch.set_num_threads(2)): Captum DeepLift (rescale, zero reference, target 0),
   Captum DeepLiftShap (20-row background), tangermeme deep_lift_shap (20 dinucleotide
   shuffles); RevealCancel and genomics-default against our Rescale; peak RSS (/usr/bin/time
   -f %M) for N = 1k and 10k on Basset.
   Issue 19's models (make_models_issue19.py), asked for by name: `transformer` (an
   nn.TransformerEncoderLayer, d_model 128, 4 heads, seq 64; anchors on its tangermeme twin with
   BilinearOp products) and `chrombpnet` (bpnet-lite CountWrapper(ChromBPNet), 512 filters,
   2114 bp): Rescale and RevealCancel with a zero reference (ours), Captum DeepLift and
   tangermeme deep_lift_shap with explicit zero references; chrombpnet also 5 dinucleotide
   shuffles (ours --shuffles 5 vs tangermeme n_shuffles=5; 20 exceed our memory budget there).
   Small N: one round is minutes.
Prints a table (examples/s; an example = one input explained against all its references) and
writes it as JSON + Markdown under --out.
"""
import argparse, json, os, platform, subprocess, sys, time
import warnings
import numpy as np
warnings.filterwarnings("ignore")

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

SHAPE = {"basset": (4, 1000), "bpnet": (4, 1000), "mnist": (1, 28, 28), "tabular": (32,),
         "transformer": (64, 128), "chrombpnet": (4, 2114)}
N_DL = {"tabular": 4096, "mnist": 512, "basset": 256, "bpnet": 128, "transformer": 64, "chrombpnet": 4}
# Issue 19's models: examples and shuffles per example for the shuffle measurement (N_DL is
# the zero-reference N). ChromBPNet with 20 shuffles is refused by our memory budget (one
# example with 20 references: 16 GB of activations against a 12.6 GB budget on a 23 GB machine).
N_SHUFFLE = {"chrombpnet": 2}
SHUFFLES_19 = {"chrombpnet": 5}
ISSUE19 = ("transformer", "chrombpnet")
SEQUENCES = ("basset", "bpnet", "chrombpnet")
M = 20


def data(rng, name, n):
    if name in SEQUENCES:
        L = SHAPE[name][1]
        idx = rng.integers(0, 4, size=(n, L)); x = np.zeros((n, 4, L), np.float32)
        x[np.arange(n)[:, None], idx, np.arange(L)[None, :]] = 1; return x
    return rng.standard_normal((n,) + SHAPE[name]).astype(np.float32)


def issue19_measurements(a, name, s, mdir, ours):
    """Ours (Rescale, RevealCancel; zero reference; chrombpnet also SHUFFLES_19 shuffles) and
    the anchors on the same model: Captum DeepLift and tangermeme deep_lift_shap with explicit
    zero references (transformer: on the tangermeme twin), tangermeme with the same number of
    shuffles."""
    import torch
    f = s["files"]
    meas = [(name, "rescale, zero ref", "ours", lambda: ours(name, f["x"], s["ours_n"], [])),
            (name, "reveal-cancel, zero ref", "ours", lambda: ours(name, f["x"], s["ours_n"], ["--method", "reveal-cancel"]))]
    ns = N_SHUFFLE.get(name)
    k = SHUFFLES_19.get(name, M)
    if ns:
        meas.append((name, f"rescale, {k} shuffles", "ours", lambda: ours(name, f["xs"], ns, ["--shuffles", str(k), "--seed", "0"])))
    if a.no_anchors:
        return meas
    m = torch.load(f"{mdir}/{name}.pt", weights_only=False).eval()
    x = s["x"]; n = s["n"]

    def captum_dl():
        from captum.attr import DeepLift
        dl = DeepLift(m); t = time.perf_counter()
        for i in range(0, n, 64): dl.attribute(x[i:i+64], baselines=torch.zeros_like(x[i:i+64]), target=0)
        return dict(n=n, explain=time.perf_counter() - t)

    def tangermeme_zero():
        from tangermeme.deep_lift_shap import deep_lift_shap
        t = time.perf_counter()
        deep_lift_shap(m, x, target=0, references=torch.zeros((n, 1) + tuple(x.shape[1:])), batch_size=64,
                       warning_threshold=1e9, verbose=False, only_warn=True)
        return dict(n=n, explain=time.perf_counter() - t)

    meas.append((name, "rescale, zero ref", "captum.DeepLift", captum_dl))
    meas.append((name, "rescale, zero ref", "tangermeme.deep_lift_shap", tangermeme_zero))
    if ns:
        def tangermeme_shuffles():
            from tangermeme.deep_lift_shap import deep_lift_shap
            t = time.perf_counter()
            deep_lift_shap(m, x[:ns], target=0, n_shuffles=k, batch_size=64, random_state=0, verbose=False,
                           warning_threshold=1e9)
            return dict(n=ns, explain=time.perf_counter() - t)
        meas.append((name, f"rescale, {k} shuffles", "tangermeme.deep_lift_shap", tangermeme_shuffles))
    return meas


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--baseline-bin", help="a second deeplift binary (e.g. an older commit), timed as 'ours@base'")
    ap.add_argument("--out", default=os.path.join(HERE, ".out"))
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--models", nargs="*", default=["tabular", "mnist", "basset", "bpnet"])
    ap.add_argument("--no-anchors", action="store_true", help="time only ours")
    ap.add_argument("--no-rss", action="store_true")
    ap.add_argument("--scale", type=float, default=1.0, help="multiply our N (amortise start-up)")
    ap.add_argument("--pylib", help="libLiftC.so: also time the Python package (python/swiftdeeplift) in process, "
                    "on the torch modules, beside Captum and tangermeme")
    a = ap.parse_args()
    sdl = None
    if a.pylib:
        os.environ["SWIFTDEEPLIFT_LIB"] = os.path.abspath(a.pylib)
        sys.path.insert(0, os.path.join(HERE, "..", "python"))
        import swiftdeeplift as sdl
    import torch
    torch.set_num_threads(a.threads)
    mdir = os.path.join(a.out, "models"); ddir = os.path.join(a.out, "data"); os.makedirs(ddir, exist_ok=True)
    import make_models
    torch.manual_seed(0); np.random.seed(0)
    make_models.main(mdir)
    import make_models_issue19
    for name in a.models:
        if name in ISSUE19:
            make_models_issue19.make(name, mdir)
    ctor = {"basset": make_models.Basset, "bpnet": make_models.BPNetLike,
            "mnist": make_models.MnistCNN, "tabular": make_models.Tabular}

    rng = np.random.default_rng(0)
    sets = {}
    for name in a.models:
        n = N_DL[name]; x = data(rng, name, n); bg = data(rng, name, M)
        nb = max(n // 8, 8)
        ours_n = int(n * a.scale); ours_nb = int(nb * a.scale)
        xo = np.concatenate([x] * (ours_n // n + 1))[:ours_n]; xbo = np.concatenate([x[:nb]] * (ours_nb // nb + 1))[:ours_nb]
        files = {"x": f"{ddir}/{name}_x.npy", "xb": f"{ddir}/{name}_xb.npy", "bg": f"{ddir}/{name}_bg.npy"}
        np.save(files["x"], xo); np.save(files["xb"], xbo); np.save(files["bg"], bg)
        if name in N_SHUFFLE:
            files["xs"] = f"{ddir}/{name}_xs.npy"; np.save(files["xs"], x[:N_SHUFFLE[name]])
        sets[name] = dict(x=torch.tensor(x), xb=torch.tensor(x[:nb]), bg=torch.tensor(bg), n=n, nb=nb,
                          ours_n=ours_n, ours_nb=ours_nb, files=files)
    if "basset" in a.models and not a.no_rss:
        for n in (1000, 10000):
            np.save(f"{ddir}/basset_rss{n}.npy", data(np.random.default_rng(1), "basset", n))

    env = dict(os.environ); env["DEEPLIFT_TIMING"] = "1"
    outnpy = os.path.join(a.out, "scores.npy")

    def ours(model, xfile, n, extra, binary=None):
        cmd = ["/usr/bin/time", "-f", "rss_kb=%M", binary or a.bin, "explain", f"{mdir}/{model}.onnx", "--input", xfile,
               "--output", outnpy, "--threads", str(a.threads), "--quiet"] + extra
        t = time.perf_counter(); p = subprocess.run(cmd, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - t
        if p.returncode != 0: raise RuntimeError(" ".join(cmd) + "\n" + p.stderr)
        tl = [l for l in p.stderr.splitlines() if l.startswith("timing:")][0]
        parts = dict(kv.split("=") for kv in tl.split()[1:])
        rss = int([l for l in p.stderr.splitlines() if l.startswith("rss_kb=")][0].split("=")[1])
        return dict(n=n, wall=wall, load=float(parts["load"]), explain=float(parts["explain"]), rss_kb=rss)

    # measurements: key -> (callable returning dict with n + seconds)
    meas = []
    for name in a.models:
        if name in ISSUE19:
            meas += issue19_measurements(a, name, sets[name], mdir, ours)
            continue
        s = sets[name]; f = s["files"]
        meas.append((name, "rescale, zero ref", "ours", lambda f=f, s=s, name=name: ours(name, f["x"], s["ours_n"], [])))
        meas.append((name, "reveal-cancel, zero ref", "ours", lambda f=f, s=s, name=name: ours(name, f["x"], s["ours_n"], ["--method", "reveal-cancel"])))
        meas.append((name, "genomics-default, zero ref", "ours", lambda f=f, s=s, name=name: ours(name, f["x"], s["ours_n"], ["--method", "genomics-default"])))
        meas.append((name, "rescale, 20-row background", "ours", lambda f=f, s=s, name=name: ours(name, f["xb"], s["ours_nb"], ["--background", f["bg"]])))
        if name in ("basset", "bpnet"):
            meas.append((name, "rescale, 20 shuffles", "ours", lambda f=f, s=s, name=name: ours(name, f["xb"], s["ours_nb"], ["--shuffles", "20", "--seed", "0"])))
        if a.baseline_bin:
            for (mm, mt, tl, fn) in [e for e in meas if e[0] == name and e[2] == "ours"]:
                extra = {"rescale, zero ref": [], "reveal-cancel, zero ref": ["--method", "reveal-cancel"],
                         "genomics-default, zero ref": ["--method", "genomics-default"],
                         "rescale, 20-row background": ["--background", f["bg"]],
                         "rescale, 20 shuffles": ["--shuffles", "20", "--seed", "0"]}[mt]
                xf, nn = (f["x"], s["ours_n"]) if "zero ref" in mt else (f["xb"], s["ours_nb"])
                meas.append((name, mt, "ours@base", lambda xf=xf, nn=nn, extra=extra, name=name: ours(name, xf, nn, extra, a.baseline_bin)))
        if a.no_anchors: continue
        m = ctor[name](); m.load_state_dict(torch.load(f"{mdir}/{name}.pt")); m.eval()
        from captum.attr import DeepLift, DeepLiftShap
        def captum_dl(m=m, s=s):
            dl = DeepLift(m); x = s["x"]; z = torch.zeros_like(x); n = s["n"]
            t = time.perf_counter()
            for i in range(0, n, 64): dl.attribute(x[i:i+64], baselines=z[i:i+64], target=0)
            return dict(n=n, explain=time.perf_counter() - t)
        def captum_dls(m=m, s=s):
            dls = DeepLiftShap(m); xb = s["xb"]; nb = s["nb"]
            t = time.perf_counter()
            for i in range(0, nb, 4): dls.attribute(xb[i:i+4], baselines=s["bg"], target=0)
            return dict(n=nb, explain=time.perf_counter() - t)
        if sdl is not None:
            # In process from Python: the torch module itself (exported to ONNX once, in the
            # warm-up call on one example, as Captum's set-up is outside its timing too).
            def py_dl(m=m, s=s):
                dl = sdl.DeepLift(m, threads=a.threads); x = s["x"]
                dl.attribute(x[:1], target=0)
                t = time.perf_counter(); dl.attribute(x, target=0)
                return dict(n=s["n"], explain=time.perf_counter() - t)
            def py_dls(m=m, s=s):
                dls = sdl.DeepLiftShap(m, threads=a.threads); xb = s["xb"]
                dls.attribute(xb[:1], baselines=s["bg"], target=0)
                t = time.perf_counter(); dls.attribute(xb, baselines=s["bg"], target=0)
                return dict(n=s["nb"], explain=time.perf_counter() - t)
            meas.append((name, "rescale, zero ref", "swiftdeeplift.DeepLift", py_dl))
            meas.append((name, "rescale, 20-row background", "swiftdeeplift.DeepLiftShap", py_dls))
            if name in ("basset", "bpnet"):
                def py_tm(m=m, s=s):
                    sdl.deep_lift_shap(m, s["xb"][:1], target=0, n_shuffles=M, random_state=0, threads=a.threads)
                    t = time.perf_counter()
                    sdl.deep_lift_shap(m, s["xb"], target=0, n_shuffles=M, random_state=0, threads=a.threads,
                                       warning_threshold=1e9)
                    return dict(n=s["nb"], explain=time.perf_counter() - t)
                meas.append((name, "rescale, 20 shuffles", "swiftdeeplift.deep_lift_shap", py_tm))
        meas.append((name, "rescale, zero ref", "captum.DeepLift", captum_dl))
        meas.append((name, "rescale, 20-row background", "captum.DeepLiftShap", captum_dls))
        if name in ("basset", "bpnet"):
            def tm(m=m, s=s):
                from tangermeme.deep_lift_shap import deep_lift_shap
                t = time.perf_counter()
                deep_lift_shap(m, s["xb"], target=0, n_shuffles=M, batch_size=64, random_state=0, verbose=False,
                               warning_threshold=1e9)
                return dict(n=s["nb"], explain=time.perf_counter() - t)
            meas.append((name, "rescale, 20 shuffles", "tangermeme.deep_lift_shap", tm))
    if "basset" in a.models and not a.no_rss:
        for n in (1000, 10000):
            meas.append(("basset", f"peak RSS, N={n}", "ours", lambda n=n: ours("basset", f"{ddir}/basset_rss{n}.npy", n, [])))

    results = {}
    for r in range(a.reps):
        for (model, method, tool, fn) in meas:
            if "peak RSS" in method and r > 0: continue
            la = os.getloadavg()[0]
            res = fn(); res["loadavg"] = la
            results.setdefault((model, method, tool), []).append(res)
            print(f"[round {r+1}] {model:8s} {method:28s} {tool:26s} n={res['n']:6d} explain={res['explain']:.4f}s"
                  + (f" wall={res['wall']:.3f}s rss={res['rss_kb']/1024:.0f}MiB" if "wall" in res else "")
                  + f" load={la:.2f}", flush=True)

    rows = []
    for (model, method, tool), rs in results.items():
        b = min(rs, key=lambda r: r["explain"])
        row = dict(model=model, method=method, tool=tool, n=b["n"], ex_per_s=b["n"] / b["explain"],
                   load=b["loadavg"])
        if "wall" in b:
            bw = min(rs, key=lambda r: r["wall"])
            row.update(wall_ex_per_s=b["n"] / bw["wall"], startup_s=b["load"], rss_mib=max(r["rss_kb"] for r in rs) / 1024)
        rows.append(row)
    # ratios: ours / theirs for the same model + method; our other rules vs our rescale
    def find(model, method, tool):
        return next((r for r in rows if r["model"] == model and r["method"] == method and r["tool"] == tool), None)
    anchors = {"rescale, zero ref": "captum.DeepLift", "rescale, 20-row background": "captum.DeepLiftShap",
               "rescale, 20 shuffles": "tangermeme.deep_lift_shap"}
    for r in rows:
        if r["tool"].startswith("swiftdeeplift."):
            # The Python package against the anchor of the same model and method.
            o = find(r["model"], r["method"], anchors.get(r["method"], ""))
            if o: r["vs_anchor"] = r["ex_per_s"] / o["ex_per_s"]
        elif r["tool"] not in ("ours", "ours@base"):
            o = find(r["model"], r["method"], "ours")
            if o: r["ratio"] = o["ex_per_s"] / r["ex_per_s"]
        elif r["tool"] == "ours@base":
            o = find(r["model"], r["method"], "ours")
            if o: r["speedup"] = o["ex_per_s"] / r["ex_per_s"]
        elif r["method"].startswith(("reveal-cancel", "genomics-default")):
            o = find(r["model"], "rescale, zero ref", "ours")
            if o: r["time_vs_rescale"] = o["ex_per_s"] / r["ex_per_s"]
    rss = [find("basset", f"peak RSS, N={n}", "ours") for n in (1000, 10000)]

    lines = ["| model | method | tool | N | examples/s (in-process) | examples/s (whole process) | ours/theirs |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        if "peak RSS" in r["method"]: continue
        ratio = f"{r['vs_anchor']:.2f}x (in-process vs {anchors[r['method']]})" if "vs_anchor" in r else f"{r['ratio']:.2f}x" if "ratio" in r else f"ours is {r['speedup']:.2f}x this" if "speedup" in r else (f"time {r['time_vs_rescale']:.2f}x rescale" if "time_vs_rescale" in r else "")
        whole = f"{r['wall_ex_per_s']:.4g}" if "wall_ex_per_s" in r else ""
        lines.append(f"| {r['model']} | {r['method']} | {r['tool']} | {r['n']} | {r['ex_per_s']:.4g} | {whole} | {ratio} |")
    if all(rss):
        lines.append("")
        lines.append(f"Peak RSS, Basset rescale zero ref: N=1000 {rss[0]['rss_mib']:.0f} MiB, N=10000 {rss[1]['rss_mib']:.0f} MiB "
                     f"({(rss[1]['rss_mib'] / rss[0]['rss_mib'] - 1) * 100:+.1f}%); examples/s {rss[0]['ex_per_s']:.4g} / {rss[1]['ex_per_s']:.4g}")
    table = "\n".join(lines)
    print(); print(table)
    with open(os.path.join(a.out, "results.json"), "w") as fh:
        json.dump(dict(rows=rows, raw={"|".join(k): v for k, v in results.items()},
                       machine=platform.processor(), date=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())), fh, indent=1)
    with open(os.path.join(a.out, "table.md"), "w") as fh:
        fh.write(table + "\n")


if __name__ == "__main__":
    main()
