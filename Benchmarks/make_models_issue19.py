"""Issue 19's bench models (bench.py makes them when asked for `transformer` or `chrombpnet`):

  transformer  nn.TransformerEncoderLayer(d_model=128, nhead=4, dim_feedforward=512, dropout=0,
               batch_first=True) on [N, 64, 128], mean over the sequence, Linear(128, 2).
               ONNX (TorchScript exporter, opset 17, dynamic batch, the fused MHA fast path off)
               for us; for the anchors its tangermeme-compatible twin `TangermemeEncoder` (the
               same weights; q·kᵀ and attention·V through tangermeme's BilinearOp, nn.Softmax,
               nn.LayerNorm, nn.ReLU modules), whose output equals the layer's (asserted).
  chrombpnet   bpnet-lite CountWrapper(ChromBPNet(bias = BPNet(128 filters, 4 layers),
               accessibility = BPNet(512 filters, 8 layers))), one-hot [N, 4, 2114], 1000-bp
               profile (trimming 557), the log-count output. The same torch model for the anchors.

Writes MODEL.onnx and MODEL.pt (the anchor module, pickled whole) under the models folder.
"""
import os

import torch
import torch.nn as nn

SHAPE = {"transformer": (64, 128), "chrombpnet": (4, 2114)}


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.TransformerEncoderLayer(d_model=128, nhead=4, dim_feedforward=512, dropout=0.0,
                                               batch_first=True)
        self.head = nn.Linear(128, 2)

    def forward(self, x):
        return self.head(self.body(x).mean(1))


class TangermemeEncoder(nn.Module):
    """`Encoder` with its products as hookable BilinearOp modules (post-norm, ReLU)."""

    def __init__(self, enc):
        super().__init__()
        from tangermeme.deep_lift_shap import BilinearOp
        layer = enc.body
        d = layer.self_attn.embed_dim
        self.heads = layer.self_attn.num_heads
        w, b = layer.self_attn.in_proj_weight.detach(), layer.self_attn.in_proj_bias.detach()
        self.q, self.k, self.v = nn.Linear(d, d), nn.Linear(d, d), nn.Linear(d, d)
        with torch.no_grad():
            for i, lin in enumerate((self.q, self.k, self.v)):
                lin.weight.copy_(w[i * d:(i + 1) * d])
                lin.bias.copy_(b[i * d:(i + 1) * d])
        self.o = layer.self_attn.out_proj
        self.mm1, self.mm2, self.softmax = BilinearOp(), BilinearOp(), nn.Softmax(dim=-1)
        self.ln1, self.ln2 = layer.norm1, layer.norm2
        self.l1, self.relu, self.l2 = layer.linear1, nn.ReLU(), layer.linear2
        self.head = enc.head

    def forward(self, x):
        n, t, d = x.shape
        h = self.heads
        hd = d // h
        q = (self.q(x) * hd ** -0.5).view(n, t, h, hd).transpose(1, 2)
        k = self.k(x).view(n, t, h, hd).permute(0, 2, 3, 1)
        v = self.v(x).view(n, t, h, hd).transpose(1, 2)
        a = self.mm2(self.softmax(self.mm1(q, k)), v).transpose(1, 2).reshape(n, t, d)
        x = self.ln1(x + self.o(a))
        x = self.ln2(x + self.l2(self.relu(self.l1(x))))
        return self.head(x.mean(1))


def chrombpnet():
    import bpnetlite.bpnet
    import bpnetlite.chrombpnet
    bias = bpnetlite.bpnet.BPNet(n_filters=128, n_layers=4, n_outputs=1, n_control_tracks=0, trimming=557,
                                 verbose=False)
    acc = bpnetlite.bpnet.BPNet(n_filters=512, n_layers=8, n_outputs=1, n_control_tracks=0, trimming=557,
                                verbose=False)
    return bpnetlite.bpnet.CountWrapper(bpnetlite.chrombpnet.ChromBPNet(bias, acc))


def make(name, mdir):
    """Writes `name`.onnx and `name`.pt (the anchors' module) unless both exist."""
    os.makedirs(mdir, exist_ok=True)
    onnx_path, pt_path = os.path.join(mdir, name + ".onnx"), os.path.join(mdir, name + ".pt")
    if os.path.exists(onnx_path) and os.path.exists(pt_path):
        return
    torch.manual_seed(19)
    torch.backends.mha.set_fastpath_enabled(False)
    model = (Encoder() if name == "transformer" else chrombpnet()).eval()
    x = torch.randn((2,) + SHAPE[name])
    torch.onnx.export(model, (x,), onnx_path, opset_version=17, dynamo=False, input_names=["input"],
                      output_names=["output"], dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}})
    anchor = TangermemeEncoder(model).eval() if name == "transformer" else model
    with torch.no_grad():
        gap = (anchor(x) - model(x)).abs().max().item()
    assert gap < 1e-4, (name, gap)
    torch.save(anchor, pt_path)
