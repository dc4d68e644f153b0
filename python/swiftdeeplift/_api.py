"""Captum- and tangermeme-style calls over Model.explain."""
from __future__ import annotations

import warnings
from typing import Optional

import numpy as np

from ._lib import SwiftDeepLiftError
from ._model import Model, method_name


def _is_torch_tensor(x) -> bool:
    t = type(x)
    return t.__module__.startswith("torch") and hasattr(x, "detach") and hasattr(x, "numpy")


def _to_numpy(x):
    if _is_torch_tensor(x):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def _like(result: np.ndarray, template):
    """`result` as a torch tensor (on the template's device and dtype) when `template` is one."""
    if _is_torch_tensor(template):
        import torch
        return torch.from_numpy(result).to(device=template.device, dtype=template.dtype)
    return result


def _targets(target, n: int):
    """Captum's `target`: None / int (one task for every example) or one int per example
    (a list, array or tensor of N). Returns (task, None) or (None, per-example array)."""
    if target is None:
        return 0, None
    if isinstance(target, (int, np.integer)):
        return int(target), None
    if isinstance(target, tuple):
        raise TypeError("target: tuples (indices into a multi-axis output) are not supported; "
                        "give the index into the output flattened per example")
    t = _to_numpy(target).reshape(-1)
    if t.size == 1:
        return int(t[0]), None
    if t.size != n:
        raise ValueError(f"target: {t.size} values for {n} examples")
    return None, t.astype(np.int64)


def _by_target(explain, xs, target, n, extra_rows=()):
    """Runs `explain(xs, task, rows)` once per distinct target; scatters rows back.
    `extra_rows` are arrays with a leading N axis cut alongside the inputs."""
    task, per = _targets(target, n)
    if per is None:
        return explain(xs, task, list(extra_rows))
    outs, deltas = None, np.full(n, np.nan, dtype=np.float32)
    for k in np.unique(per):
        idx = np.nonzero(per == k)[0]
        scores, d = explain([x[idx] for x in xs], int(k), [r[idx] for r in extra_rows])
        if outs is None:
            outs = [np.empty((n,) + s.shape[1:], dtype=np.float32) for s in scores]
        for o, s in zip(outs, scores):
            o[idx] = s
        deltas[idx] = d
    return outs, deltas


class DeepLift:
    """Captum's `DeepLift`, computed by the Swift library.

    `model`: a `torch.nn.Module`, a Keras model, a model file path (`.h5`, `.keras`, `.onnx`)
    or a :class:`Model`. `multiply_by_inputs=False` returns the multipliers, as Captum does.
    `rule`: `rescale` (Captum's), `reveal-cancel` or `genomics-default`. `maxpool`: `gradient`
    (the default: the original deeplift's and the `deeplift` tool's rule, and what Captum's
    `DeepLift` computes for `MaxPool` layers) or `deepshap` (keeps summation-to-delta when the
    baselines differ from the input inside pooled windows). `target_layer`: the explained
    layer (default: the model's output, or its pre-softmax/sigmoid activation when it ends in
    one — paper §3.6; Captum explains the output as it is).
    """

    _background = False

    def __init__(self, model, multiply_by_inputs: bool = True, *, rule: str = "rescale", maxpool: str = "gradient",
                 target_layer: Optional[str] = None, batch_size: Optional[int] = None, threads: Optional[int] = None):
        self.model = model if isinstance(model, Model) else Model(model)
        self.multiplies_by_inputs = multiply_by_inputs
        self.rule = method_name(rule)
        if self.rule not in ("rescale", "reveal-cancel", "genomics-default"):
            raise ValueError(f"rule: {rule} is not a DeepLIFT rule (rescale, reveal-cancel, genomics-default)")
        self.maxpool = maxpool
        self.target_layer = target_layer
        self.batch_size = batch_size
        self.threads = threads

    @property
    def multiplies_by_inputs_(self):
        return self.multiplies_by_inputs

    def attribute(self, inputs, baselines=None, target=None, additional_forward_args=None,
                  return_convergence_delta: bool = False, custom_attribution_func=None):
        """Captum's arguments and shapes: `inputs` a tensor/array or a tuple of them (one per
        model input); `baselines` None (zeros), a scalar, one example's shape or `(1, …)`
        (shared), or the inputs' shape (per example) — for `DeepLiftShap`, `[M, …]` rows
        averaged over; `target` an int or one int per example. Returns the attributions in
        the inputs' structure and type (torch tensors for torch tensors), and with
        `return_convergence_delta` the per-example `|Σ attributions − Δ target|` (Captum's
        delta is signed; this is its absolute value; for `DeepLiftShap`, of the attributions
        and Δ averaged over the baselines, where Captum gives one per example–baseline pair)."""
        if additional_forward_args is not None:
            raise NotImplementedError("additional_forward_args is not supported: the model is explained as exported")
        if custom_attribution_func is not None:
            raise NotImplementedError("custom_attribution_func is not supported")
        is_tuple = isinstance(inputs, tuple)
        templates = inputs if is_tuple else (inputs,)
        xs = [_to_numpy(x).astype(np.float32, copy=False) for x in templates]
        n = xs[0].shape[0] if xs and xs[0].ndim else 0
        refs, kind = self._baselines(baselines, xs)

        def run(xs_, task, rows):
            kwargs = {}
            if kind == "references":
                kwargs["references"] = rows if rows else refs
            elif kind == "background":
                kwargs["background"] = refs
            scores, deltas = self.model.explain(
                list(xs_), method=self.rule, task=task, target_layer=self.target_layer,
                output="contributions" if self.multiplies_by_inputs else "multipliers", maxpool=self.maxpool,
                batch_size=self.batch_size, threads=self.threads, return_deltas=True, **kwargs)
            return scores, deltas

        per_example = kind == "references" and all(r.shape == x.shape for r, x in zip(refs, xs))
        outs, deltas = _by_target(run, xs, target, n, extra_rows=refs if per_example else ())
        result = tuple(_like(o, t) for o, t in zip(outs, templates))
        result = result if is_tuple else result[0]
        if return_convergence_delta:
            return result, _like(deltas, templates[0])
        return result

    def _baselines(self, baselines, xs):
        if baselines is None:
            if self._background:
                raise ValueError("DeepLiftShap needs baselines ([M, …] rows)")
            return [], "zeros"
        bs = baselines if isinstance(baselines, tuple) else (baselines,)
        if len(bs) != len(xs):
            raise SwiftDeepLiftError(f"{len(bs)} baseline(s) for {len(xs)} input(s)")
        refs = []
        for b, x in zip(bs, xs):
            if isinstance(b, (int, float)):
                b = np.full(x.shape[1:], b, dtype=np.float32)
            b = _to_numpy(b).astype(np.float32, copy=False)
            if self._background:
                refs.append(b)
                continue
            # Captum broadcasts a (1, …) baseline over the batch: one shared reference.
            if b.ndim == x.ndim and b.shape[0] == 1 and x.shape[0] != 1:
                b = b[0]
            refs.append(b)
        return refs, "background" if self._background else "references"


class DeepLiftShap(DeepLift):
    """Captum's `DeepLiftShap`: every example against every row of `baselines` (`[M, …]`),
    averaged (SHAP `DeepExplainer` semantics)."""

    _background = True


def _drawn_references(fn, X, n: int, random_state):
    """`[N, n, …]` references from a reference function, seeded as tangermeme seeds them:
    reference k of example j is `fn(X[j:j+1], n=1, random_state=random_state + k)`; one call
    per k with a list of seeds for tangermeme's `dinucleotide_shuffle` (which takes one)."""
    if random_state is None:
        return _to_numpy(fn(X, n=n))
    mod = getattr(fn, "__module__", "") or ""
    if getattr(fn, "__name__", "") == "dinucleotide_shuffle" and mod.startswith("tangermeme"):
        cols = [_to_numpy(fn(X, n=1, random_state=[random_state + k] * len(X)))[:, 0] for k in range(n)]
    else:
        cols = [np.concatenate([_to_numpy(fn(X[j:j + 1], n=1, random_state=random_state + k))[:, 0]
                                for j in range(len(X))]) for k in range(n)]
    return np.stack(cols, axis=1)


def deep_lift_shap(model, X, args=None, target: int = 0, batch_size: int = 32, references=None, n_shuffles: int = 20,
                   return_references: bool = False, hypothetical: bool = False, warning_threshold: float = 0.001,
                   additional_nonlinear_ops=None, print_convergence_deltas: bool = False, raw_outputs: bool = False,
                   device=None, random_state: Optional[int] = None, verbose: bool = False, *, rule: str = "rescale",
                   maxpool: str = "gradient", threads: Optional[int] = None):
    """tangermeme's `deep_lift_shap`, computed by the Swift library.

    `X`: one-hot sequences `[N, 4, L]` for a torch module or ONNX file (`[N, L, 4]` for
    Keras). `references`: None (`n_shuffles` dinucleotide shuffles drawn in the library with
    the original deeplift's `dinuc_shuffle` and seed `random_state`, 0 when None — not
    tangermeme's generator), an array `[N, M, 4, L]`, or a function seeded as tangermeme
    seeds it (reference k of example j drawn by `references(X[j:j+1], n=1,
    random_state=random_state + k)`; pass
    `tangermeme.ersatz.dinucleotide_shuffle` for tangermeme's own shuffles). `batch_size`
    counts example–reference pairs (speed only). Returns, as tangermeme does, the hypothetical
    attributions averaged over the references with `hypothetical=True`, else those times `X`
    (projected onto the observed bases), as a torch tensor for a torch `X`;
    with `return_references`, `(attributions, references)` (only for given or generated
    arrays). A summation-to-delta error above `warning_threshold` warns, as tangermeme does.
    """
    if args is not None:
        raise NotImplementedError("args (additional forward arguments) is not supported")
    if additional_nonlinear_ops is not None:
        raise NotImplementedError("additional_nonlinear_ops is not supported: the library knows its layers")
    if raw_outputs:
        raise NotImplementedError("raw_outputs is not supported")
    m = model if isinstance(model, Model) else Model(model)
    x = _to_numpy(X).astype(np.float32, copy=False)
    kwargs = {}
    refs = None
    if references is None:
        kwargs["shuffles"] = int(n_shuffles)
        kwargs["seed"] = 0 if random_state is None else int(random_state)
    else:
        if callable(references):
            refs = _drawn_references(references, X, int(n_shuffles), random_state)
        else:
            refs = references
        r = _to_numpy(refs).astype(np.float32, copy=False)
        if r.ndim != x.ndim + 1:
            raise SwiftDeepLiftError(
                f"references have shape {tuple(r.shape)} but X has shape {tuple(x.shape)}: give [N, M, …] (M references per example)")
        kwargs["references"] = r
    # tangermeme's scores are always hypothetical ones, averaged; without `hypothetical` they
    # are projected onto the observed one-hot characters (× X): per position, the sum of the
    # contributions there, on the observed base.
    scores, deltas = m.explain(x, method=rule, task=int(target), output="hypothetical", maxpool=maxpool,
                               batch_size=batch_size, threads=threads, return_deltas=True, **kwargs)
    if not hypothetical:
        scores *= x
    if print_convergence_deltas:
        print(deltas)
    bad = np.nan_to_num(deltas, nan=np.inf) > warning_threshold
    if bad.any():
        warnings.warn(f"summation-to-delta: {int(bad.sum())} example(s) with |Σ scores − Δ| above {warning_threshold} "
                      f"(worst {float(np.nanmax(deltas)):.3g})", RuntimeWarning, stacklevel=2)
    out = _like(scores, X)
    if return_references:
        if refs is None:
            raise NotImplementedError("return_references needs given references or a reference function")
        return out, refs
    return out
