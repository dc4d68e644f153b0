"""Real architectures with random weights through the `deeplift` CLI: does each load, match the
framework's forward pass, and sum to delta under Rescale and RevealCancel (issue 14's evidence).

    python check_models.py [--deeplift PATH] [--out DIR] [--n 2] [--size 64] [--models ...]

Models (made by make_models.py in a subprocess per framework, under --out or a temporary
folder; nothing is written into the repository): torchvision resnet18 and densenet121 exported
to ONNX, keras.applications ResNet50, DenseNet121 and NASNetMobile saved by tf-keras as `.h5`
and by Keras 3 as `.keras`; issue 20's zoo rows: torchvision googlenet (ceil-mode pools) and
mobilenet_v3_small, shufflenet_v2_x0_5 (channel shuffle, chunk), keras.applications MobileNetV3Small (tf-keras: TFOpLambda hard-swish) and
EfficientNetB0 (Rescaling + Normalization preprocessing; .h5 and .keras).

For each model file:
  load      `deeplift inspect` succeeds; its "default target:" line names the target T
  fwd       `deeplift predict` vs the true output, max |a - b| / max |b|, and
            `deeplift predict --layer T` vs the true logits; "true" is a float64 twin of the
            model in the framework (make_models.py); the framework's own float32 output
            against it is shown in parentheses
  Σ-Δ       `deeplift explain --method M --maxpool deepshap --reference R` for M in rescale,
            reveal-cancel and R in zero, random (per example); Σ = the sum of the scores of an
            example, Δ = logits(x) - logits(R) at --task (default 0);
            reported: max over examples of |Σ - Δ| / max(1, |Δ|), with Δ from the tool's own
            forward pass (`predict --layer T`: the rules' error) and, in parentheses, from
            the float64 twin (adds the float32 forward error); pass: the first <= 1e-4, and
            the forward error <= max(1e-5, 3x the framework's own float32 error).
            The CLI's own "summation-to-delta: worst ..." line is recorded in results.json.
The exit status is 0 when every model passes, 1 otherwise.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
GROUPS = {  # group -> (format, model folder names)
    "torch": ("onnx", ["resnet18", "densenet121", "googlenet", "mobilenet_v3_small", "shufflenet_v2_x0_5"]),
    "tfkeras": ("h5", ["resnet50", "densenet121", "nasnetmobile", "mobilenetv3small", "efficientnetb0"]),
    "keras3": ("keras", ["resnet50", "densenet121", "nasnetmobile", "efficientnetb0"]),
}
METHODS = ["rescale", "reveal-cancel"]
REFERENCES = ["zero", "rand"]
TOLERANCE = 1e-4
FORWARD_TOLERANCE = 1e-5


def run(cmd, timeout):
    t = time.monotonic()
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    return p, time.monotonic() - t


def error_line(p):
    lines = [l for l in (p.stderr + p.stdout).splitlines() if l.strip()]
    errs = [l for l in lines if l.startswith("error")]
    return (errs or lines or [f"exit {p.returncode}"])[-1]


def rel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        return float("inf")
    return float(np.abs(a - b).max() / max(1e-30, np.abs(b).max()))


def check_model(exe, folder, task, timeout):
    meta = json.load(open(os.path.join(folder, "meta.json")))
    model = os.path.join(folder, meta["file"])
    f = lambda name: os.path.join(folder, name)
    row = {"model": meta["model"], "format": meta["format"], "framework": meta["framework"],
           "file_mib": round(os.path.getsize(model) / 2**20, 1), "notes": []}
    p, _ = run([exe, "inspect", model], timeout)
    if p.returncode != 0:
        row["load"] = False
        row["notes"].append("inspect: " + error_line(p))
        return row
    m = re.search(r"^default target: (.+)$", p.stdout, re.M)
    if not m:
        row["load"] = False
        row["notes"].append("inspect printed no 'default target:' line")
        return row
    target = m.group(1).strip()
    row["load"], row["target"] = True, target

    p, _ = run([exe, "predict", model, "--input", f("x.npy"), "--output", f("pred.npy")], timeout)
    if p.returncode != 0:
        row["load"] = False
        row["notes"].append("predict: " + error_line(p))
        return row
    # The true output: the float64 logits, through the final softmax where there is one.
    truth = np.load(f("fw_logits_x.npy"))
    if meta.get("final_activation") == "softmax":
        truth = np.exp(truth - truth.max(1, keepdims=True))
        truth /= truth.sum(1, keepdims=True)
    row["fwd_output"] = rel(np.load(f("pred.npy")), truth)
    row["framework_f32"] = rel(np.load(f("fw_output.npy")), truth)
    tool_logits = {}
    for r in ["x"] + ["ref_" + r for r in REFERENCES]:
        p, _ = run([exe, "predict", model, "--input", f(r + ".npy"), "--layer", target,
                    "--output", f(f"pred_{r}.npy")], timeout)
        if p.returncode != 0:
            row["notes"].append(f"predict --layer {target}: " + error_line(p))
            break
        tool_logits[r] = np.load(f(f"pred_{r}.npy")).reshape(np.load(f("x.npy")).shape[0], -1)
    if "x" in tool_logits:
        row["fwd_target"] = rel(tool_logits["x"], np.load(f("fw_logits_x.npy")))

    logits_x = np.load(f("fw_logits_x.npy"))
    row["time_s"] = 0.0
    for method in METHODS:
        for r in REFERENCES:
            key = f"{method}/{r}"
            out = f(f"scores_{method}_{r}.npy")
            cmd = [exe, "explain", model, "--input", f("x.npy"), "--reference", f(f"ref_{r}.npy"),
                   "--method", method, "--maxpool", "deepshap", "--task", str(task), "--output", out]
            p, dt = run(cmd, timeout)
            row["time_s"] += dt
            if p.returncode != 0:
                row[key] = None
                row["notes"].append(f"explain {key}: " + error_line(p))
                continue
            scores = np.load(out).astype(np.float64)
            sigma = scores.reshape(scores.shape[0], -1).sum(1)
            delta = logits_x[:, task] - np.load(f(f"fw_logits_ref_{r}.npy"))[:, task]
            row[key] = float((np.abs(sigma - delta) / np.maximum(1.0, np.abs(delta))).max())
            row[key + "/max|Δ|"] = float(np.abs(delta).max())
            row[key + "/rel_to_|Δ|"] = float((np.abs(sigma - delta) / np.abs(delta)).max())
            abs_sum = np.abs(scores).reshape(scores.shape[0], -1).sum(1)
            row[key + "/Σ|s|/|Δ|"] = float((abs_sum / np.abs(delta)).max())
            # Scores that cancel: float32 rounding alone moves Σ by up to ~2^-24·Σ|s|.
            row[key + "/float32_floor"] = float((2.0**-24 * abs_sum / np.maximum(1.0, np.abs(delta))).max())
            m = re.search(r"summation-to-delta: worst .*? = (\S+) over", p.stderr)
            row[key + "/cli"] = float(m.group(1)) if m else None
            if "warning: summation-to-delta" in p.stderr:
                row["notes"].append(f"explain {key}: CLI warned: " + [
                    l for l in p.stderr.splitlines() if l.startswith("warning: summation-to-delta")][0])
            if f"ref_{r}" in tool_logits:  # Δ from the tool's own forward pass: judges the rules
                d_tool = tool_logits["x"][:, task] - tool_logits[f"ref_{r}"][:, task]
                row[key + "/vs_tool_delta"] = float((np.abs(sigma - d_tool) / np.maximum(1.0, np.abs(d_tool))).max())
                if row[key + "/vs_tool_delta"] > TOLERANCE:
                    row["notes"].append(
                        f"explain {key}: |Σ-Δ|/max(1,|Δ|) = {row[key + '/vs_tool_delta']:.2e}; the scores cancel "
                        f"(Σ|s| up to {row[key + '/Σ|s|/|Δ|']:.3g}·|Δ|): float32 rounding of them alone is "
                        f"~{row[key + '/float32_floor']:.1e}")
    # The rules are judged against the tool's own Δ (its scores can sum to nothing else); the
    # error against the true Δ adds the float32 forward error, which the framework's float32
    # pass has too (shown in parentheses). The forward pass must be within 1e-5 or, on models
    # where float32 itself is not (deep residual nets), within 3× the framework's own error.
    sd = [row.get(f"{m}/{r}/vs_tool_delta") for m in METHODS for r in REFERENCES]
    forward_limit = max(FORWARD_TOLERANCE, 3 * row.get("framework_f32", 0))
    row["pass"] = (row["load"] and row.get("fwd_output", 1) <= forward_limit
                   and row.get("fwd_target", 1) <= forward_limit
                   and all(v is not None and v <= TOLERANCE for v in sd))
    return row


def fmt(v, digits=1):
    if v is None:
        return "—"
    if isinstance(v, bool):
        return "yes" if v else "NO"
    if isinstance(v, float):
        return f"{v:.{digits}e}"
    return str(v)


def table(rows):
    head = ["model", "format", "MiB", "load", "fwd rel err: out / target (framework f32)",
            "rescale zero", "rescale rand", "reveal-cancel zero", "reveal-cancel rand", "max Δ", "time s", "pass"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        fwd = "—" if "fwd_output" not in r else (
            f"{fmt(r['fwd_output'])} / {fmt(r.get('fwd_target'))} ({fmt(r.get('framework_f32'))})")
        cells = [r["model"], r["format"], f"{r['file_mib']}", fmt(r["load"]), fwd]
        cells += [f"{fmt(r.get(f'{m}/{ref}/vs_tool_delta'))} ({fmt(r.get(f'{m}/{ref}'))})"
                  for m in METHODS for ref in REFERENCES]
        deltas = [r[k] for k in r if k.endswith("/max|Δ|")]
        cells += [f"{max(deltas):.2g}" if deltas else "—"]  # max over examples and references of |Δ|
        cells += [f"{r['time_s']:.1f}" if "time_s" in r else "—", "PASS" if r.get("pass") else "FAIL"]
        lines.append("| " + " | ".join(cells) + " |")
    notes = [f"- {r['model']} {r['format']}: {n}" for r in rows for n in r["notes"]]
    return "\n".join(lines + ([""] + notes if notes else []))


def write_results(rows, out_dir, title, name="results"):
    """The one results tail of the real-model scripts: prints the table of `rows`
    (`check_model`'s dicts) under `title` (what was run: executable, examples, options; the
    repository's HEAD is added) with the legend, writes it to OUT_DIR/NAME.md and every number
    to OUT_DIR/NAME.json, and returns True when every row passes."""
    commit = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    text = (f"{title} (repo HEAD {commit or '?'}).\n"
            f"fwd: max|a-b|/max|b| of deeplift predict vs the float64 twin, output / target (framework float32 vs twin).\n"
            f"Σ-Δ columns: max over examples of |Σ-Δ|/max(1,|Δ|), Δ from deeplift predict --layer TARGET "
            f"(Δ from the float64 twin).\n"
            f"pass: forward <= max({FORWARD_TOLERANCE:g}, 3x framework float32), every Σ-Δ <= {TOLERANCE:g}\n\n" + table(rows))
    print("\n" + text)
    with open(os.path.join(out_dir, name + ".md"), "w") as fh:
        fh.write(text + "\n")
    with open(os.path.join(out_dir, name + ".json"), "w") as fh:
        json.dump(rows, fh, indent=1)
    return bool(rows) and all(r.get("pass") for r in rows)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--deeplift", default=os.environ.get("DEEPLIFT", os.path.join(REPO, ".build/release/deeplift")),
                   help="the CLI (default: $DEEPLIFT, else .build/release/deeplift)")
    p.add_argument("--out", help="folder for the models and results (kept); default: a temporary folder, removed")
    p.add_argument("--n", type=int, default=2, help="examples per model (default 2)")
    p.add_argument("--size", type=int, default=64, help="image height and width (default 64)")
    p.add_argument("--task", type=int, default=0, help="target neuron (default 0)")
    p.add_argument("--groups", default="torch,tfkeras,keras3", help="subset of torch,tfkeras,keras3")
    p.add_argument("--models", default="", help="comma-separated model subset, e.g. resnet18,nasnetmobile")
    p.add_argument("--reuse", action="store_true", help="keep model folders already in --out (no rebuild)")
    p.add_argument("--timeout", type=int, default=1800, help="seconds per CLI call (default 1800)")
    a = p.parse_args()
    exe = os.path.abspath(a.deeplift)
    if not os.access(exe, os.X_OK):
        sys.exit(f"error: {exe}: no deeplift executable (build with `swift build -c release --product deeplift`)")
    out = os.path.abspath(a.out) if a.out else tempfile.mkdtemp(prefix="deeplift-realmodels-")
    os.makedirs(out, exist_ok=True)
    wanted = set(a.models.split(",")) if a.models else None
    folders = []
    try:
        for group in a.groups.split(","):
            ext, names = GROUPS[group]
            names = [n for n in names if wanted is None or n in wanted]
            todo = [n for n in names
                    if not (a.reuse and os.path.exists(os.path.join(out, f"{n}-{ext}", "meta.json")))]
            if todo:
                print(f"making {group}: {', '.join(todo)}", flush=True)
                mk = subprocess.run([sys.executable, os.path.join(HERE, "make_models.py"), group, out,
                                     "--n", str(a.n), "--size", str(a.size), "--models", ",".join(todo)],
                                    capture_output=True, text=True)
                for l in mk.stdout.splitlines():
                    print("  " + l, flush=True)
                if mk.returncode != 0:
                    print(f"  make_models.py {group} failed:\n{mk.stderr[-3000:]}", flush=True)
            folders += [os.path.join(out, f"{n}-{ext}") for n in names]
        rows = []
        for folder in folders:
            if not os.path.exists(os.path.join(folder, "meta.json")):
                name, ext = os.path.basename(folder).rsplit("-", 1)
                rows.append({"model": name, "format": ext, "file_mib": "—", "load": False,
                             "notes": ["not made: make_models.py failed (see above)"]})
                continue
            print(f"checking {os.path.basename(folder)}", flush=True)
            rows.append(check_model(exe, folder, a.task, a.timeout))
        ok = write_results(rows, out, f"deeplift {exe}, {a.n} examples, {a.size}x{a.size} inputs, task {a.task}, "
                                      f"--maxpool deepshap")
        ok = ok and len(rows) == len(folders)
    finally:
        if not a.out:
            shutil.rmtree(out, ignore_errors=True)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
