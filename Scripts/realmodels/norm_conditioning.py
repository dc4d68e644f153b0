"""Why torchvision convnext_tiny with a zero reference did not sum to delta (issue 19): a small
torch twin of ConvNeXt (stem conv + LayerNorm, two ConvNeXt blocks, LayerNorm + Linear head,
torchvision's initialisation: zero biases, LayerNorm γ = 1, β = 0) attributed by tangermeme 1.6
`deep_lift_shap` against a zero reference, in float32 and float64.

At a zero input every activation of this net is exactly zero, so every LayerNorm group of the
reference is constant: a⁰ = 0 and v⁰ = ε^(−1/2) (316 at ε = 1e-6·… torch's 1e-6 here: 1000).
The bilinear (Shapley) split of Δ(a·v) that tangermeme's `_layernorm` uses,
v̄·Δa + ā·Δv with v̄ = ½(v + v⁰) ≈ v⁰/2, ā = a/2, Δv ≈ −v⁰, has two terms of order a·v⁰/2
that cancel to a·v: the exact scores are huge and cancel, and each norm multiplies the
cancellation. The script prints, per precision, the depth (number of blocks), Σ|scores|/|Δ|
and |Σ − Δ|/max(1, |Δ|). Run:

    /work/venv-real/bin/python Scripts/realmodels/norm_conditioning.py [--onnx DIR]

(`--onnx DIR` also exports the 2-block twin and its input to DIR/convnext_twin.onnx, x.npy,
for `deeplift explain` on the same model.) Packages: torch 2.13, tangermeme 1.6.0 (see
requirements.txt).
"""
import argparse
import os
import warnings

import numpy as np
import torch
import torch.nn as nn

warnings.filterwarnings("ignore")


class Permute(nn.Module):
    def __init__(s, *dims):
        super().__init__()
        s.dims = dims

    def forward(s, x):
        return x.permute(*s.dims)


class Block(nn.Module):
    """torchvision's CNBlock with the LayerNorm as its own nn.LayerNorm (tangermeme hooks the
    module type) and layer scale γ = 0.5 (torchvision's 1e-6 would hide the block)."""

    def __init__(s, dim):
        super().__init__()
        s.dw = nn.Conv2d(dim, dim, 7, padding=3, groups=dim)
        s.p1 = Permute(0, 2, 3, 1)
        s.norm = nn.LayerNorm(dim, eps=1e-6)
        s.fc1 = nn.Linear(dim, 4 * dim)
        s.act = nn.GELU()
        s.fc2 = nn.Linear(4 * dim, dim)
        s.p2 = Permute(0, 3, 1, 2)
        s.scale = nn.Parameter(torch.full((dim, 1, 1), 0.5))

    def forward(s, x):
        return x + s.scale * s.p2(s.fc2(s.act(s.fc1(s.norm(s.p1(s.dw(x)))))))


class Twin(nn.Module):
    def __init__(s, blocks, dim=16):
        super().__init__()
        s.stem = nn.Conv2d(3, dim, 4, stride=4)
        s.p1 = Permute(0, 2, 3, 1)
        s.norm0 = nn.LayerNorm(dim, eps=1e-6)
        s.p2 = Permute(0, 3, 1, 2)
        s.blocks = nn.Sequential(*[Block(dim) for _ in range(blocks)])
        s.pool = nn.AdaptiveAvgPool2d(1)
        s.flat = nn.Flatten()
        s.norm1 = nn.LayerNorm(dim, eps=1e-6)
        s.head = nn.Linear(dim, 3)
        for m in s.modules():  # torchvision's convnext init: trunc-normal weights, zero biases
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.trunc_normal_(m.weight, std=0.2 if isinstance(m, nn.Linear) else 0.3)
                nn.init.zeros_(m.bias)

    def forward(s, x):  # x: [N, 3, 256] (tangermeme's rank-3 inputs), viewed as 16×16 images
        x = s.p2(s.norm0(s.p1(s.stem(x.reshape(x.shape[0], 3, 16, 16)))))
        x = s.blocks(x)
        return s.head(s.norm1(s.flat(s.pool(x))))


EPS = 1e-6  # every norm of the twin


def weighted_terms(x, mu, v, x_ref, mu_ref, v_ref, n_norm_dims):
    """tangermeme's `_layer_normalization_terms` with the split weighted by the norm's
    degeneracy (deeplift's rule, see AttributionRules.md): Δ(a·v) = c·Δa + ã·Δv with
    c = λv + (1−λ)v⁰, ã = (1−λ)a + λa⁰, λ = ½ + ½(w⁰² − w²), w = εv²; λ = ½ is tangermeme's split.
    Returned in tangermeme's slots: (c, 2ã, ρ·(a + a⁰)/(2D))."""
    D = 1
    for s in x.shape[-n_norm_dims:]:
        D *= s
    a = x if mu is None else x - mu
    a_ref = x_ref if mu_ref is None else x_ref - mu_ref
    w, w_ref = EPS * v ** 2, EPS * v_ref ** 2
    lam = 0.5 + 0.5 * (w_ref ** 2 - w ** 2)
    c = lam * v + (1 - lam) * v_ref
    a_t = (1 - lam) * a + lam * a_ref
    ratio = (-(v ** 2) * (v_ref ** 2)) / (v + v_ref)
    return c, 2 * a_t, ratio * (a + a_ref) / (2 * D)


def main():
    import tangermeme._deep_lift_utils as tu
    from tangermeme.deep_lift_shap import deep_lift_shap

    ap = argparse.ArgumentParser()
    ap.add_argument("--onnx", help="export the 2-block twin and x.npy to this folder")
    ap.add_argument("--weighted", action="store_true",
                    help="tangermeme with deeplift's weighted split of the norms (instead of its own)")
    a = ap.parse_args()
    if a.weighted:
        tu._layer_normalization_terms = weighted_terms
    print("blocks  dtype    Δ          Σ|s|/|Δ|   |Σ-Δ|/max(1,|Δ|)   (zero reference; random reference)")
    for blocks in [0, 1, 2]:
        torch.manual_seed(7)
        model = Twin(blocks).eval()
        x = torch.randn(2, 3, 256)
        for dtype in [torch.float32, torch.float64]:
            m = model.to(dtype)
            xt = x.to(dtype)
            out = []
            for ref in [torch.zeros_like(xt)[:, None], torch.randn(2, 1, 3, 256, generator=torch.Generator().manual_seed(3)).to(dtype)]:
                mult = deep_lift_shap(m, xt, target=0, references=ref, device="cpu", warning_threshold=1e9,
                                      verbose=False, only_warn=True, raw_outputs=True).detach()
                s = ((xt[:, None] - ref) * mult).mean(1).double()
                with torch.no_grad():
                    d = (m(xt)[:, 0] - m(ref[:, 0])[:, 0]).double()
                sig = s.reshape(2, -1).sum(1)
                out.append(((s.abs().reshape(2, -1).sum(1) / d.abs()).max().item(),
                            ((sig - d).abs() / d.abs().clamp(min=1)).max().item(), d.abs().max().item()))
            (c0, e0, d0), (c1, e1, _) = out
            print(f"{blocks:6d}  {str(dtype)[6:]:7s}  {d0:.3e}  {c0:.3e}  {e0:.3e}          ; {c1:.2e} {e1:.2e}")
        if a.onnx and blocks == 2:
            os.makedirs(a.onnx, exist_ok=True)
            model.float()
            torch.onnx.export(model, (x,), os.path.join(a.onnx, "convnext_twin.onnx"), dynamo=False, opset_version=17,
                              input_names=["x"], output_names=["y"], dynamic_axes={"x": {0: "n"}, "y": {0: "n"}})
            np.save(os.path.join(a.onnx, "x.npy"), x.numpy())
            np.save(os.path.join(a.onnx, "ref_zero.npy"), np.zeros_like(x.numpy()))


if __name__ == "__main__":
    main()
