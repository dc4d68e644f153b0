"""swiftdeeplift.DeepLift / DeepLiftShap on torch modules passed as modules, against Captum
(the oracle): max relative error ≤ 1e-5 (conftest.max_rel_error)."""
import numpy as np
import pytest

import swiftdeeplift
from conftest import max_rel_error

captum_attr = pytest.importorskip("captum.attr")
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

TOL = 1e-5


def captum(cls, module, x, **kw):
    a = cls(module).attribute(x, **kw)
    if isinstance(a, tuple):
        return tuple(t.detach().numpy() for t in a)
    return a.detach().numpy()


def test_mlp_zero_baseline_every_target(torch, mlp):
    x = torch.randn(16, 10, generator=torch.Generator().manual_seed(2))
    for target in range(3):
        ours = swiftdeeplift.DeepLift(mlp).attribute(x, target=target)
        assert isinstance(ours, torch.Tensor) and ours.shape == x.shape
        assert max_rel_error(ours.numpy(), captum(captum_attr.DeepLift, mlp, x, target=target)) <= TOL


def test_mlp_baselines_per_example_shared_and_scalar(torch, mlp):
    g = torch.Generator().manual_seed(3)
    x, b = torch.randn(12, 10, generator=g), torch.randn(12, 10, generator=g)
    dl = swiftdeeplift.DeepLift(mlp)
    for baselines in (b, b[:1], 0.5):
        ours = dl.attribute(x, baselines=baselines, target=2).numpy()
        assert max_rel_error(ours, captum(captum_attr.DeepLift, mlp, x, baselines=baselines, target=2)) <= TOL


def test_per_example_targets_and_convergence_delta(torch, mlp):
    g = torch.Generator().manual_seed(4)
    x, b = torch.randn(9, 10, generator=g), torch.randn(9, 10, generator=g)
    target = torch.tensor([0, 1, 2, 2, 1, 0, 0, 1, 2])
    ours, delta = swiftdeeplift.DeepLift(mlp).attribute(x, baselines=b, target=target, return_convergence_delta=True)
    theirs, their_delta = captum_attr.DeepLift(mlp).attribute(x, baselines=b, target=target,
                                                             return_convergence_delta=True)
    assert max_rel_error(ours.numpy(), theirs.detach().numpy()) <= TOL
    assert delta.shape == (9,)
    # Captum's delta is signed; ours is its absolute value. Both are float32 round-off.
    assert np.abs(delta.numpy()).max() < 1e-5 and np.abs(their_delta.detach().numpy()).max() < 1e-5


def test_multipliers_when_not_multiplying_by_inputs(torch, mlp):
    g = torch.Generator().manual_seed(5)
    x, b = torch.randn(8, 10, generator=g), torch.randn(8, 10, generator=g)
    ours = swiftdeeplift.DeepLift(mlp, multiply_by_inputs=False).attribute(x, baselines=b, target=1).numpy()
    theirs = captum_attr.DeepLift(mlp, multiply_by_inputs=False).attribute(x, baselines=b, target=1)
    assert max_rel_error(ours, theirs.detach().numpy()) <= TOL


def test_numpy_in_numpy_out(torch, mlp):
    x = np.random.default_rng(6).standard_normal((5, 10)).astype(np.float32)
    ours = swiftdeeplift.DeepLift(mlp).attribute(x, target=0)
    assert isinstance(ours, np.ndarray) and ours.dtype == np.float32
    assert max_rel_error(ours, captum(captum_attr.DeepLift, mlp, torch.from_numpy(x), target=0)) <= TOL


def test_conv_maxpool_model(torch, genomics_cnn):
    """Conv1d, ReLU, MaxPool1d, dense head. Captum passes max-pool gradients through: our
    default `gradient` rule; `deepshap` keeps summation-to-delta where Captum's misses."""
    g = torch.Generator().manual_seed(7)
    x, b = torch.rand(10, 4, 50, generator=g), torch.rand(10, 4, 50, generator=g)
    for target in (0, 1):
        ours = swiftdeeplift.DeepLift(genomics_cnn).attribute(x, baselines=b, target=target).numpy()
        theirs, their_delta = captum_attr.DeepLift(genomics_cnn).attribute(
            x, baselines=b, target=target, return_convergence_delta=True)
        assert max_rel_error(ours, theirs.detach().numpy()) <= TOL
        _, delta = swiftdeeplift.DeepLift(genomics_cnn, maxpool="deepshap").attribute(
            x, baselines=b, target=target, return_convergence_delta=True)
        assert delta.abs().max() < 1e-5 < their_delta.abs().max()


def test_deep_lift_shap_background(torch, genomics_cnn):
    g = torch.Generator().manual_seed(8)
    x, bg = torch.rand(6, 4, 50, generator=g), torch.rand(5, 4, 50, generator=g)
    ours = swiftdeeplift.DeepLiftShap(genomics_cnn).attribute(x, baselines=bg, target=1).numpy()
    theirs = captum(captum_attr.DeepLiftShap, genomics_cnn, x, baselines=bg, target=1)
    assert max_rel_error(ours, theirs) <= TOL


def test_multi_input_module(torch):
    class TwoInputs(torch.nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(9)
            self.a, self.b = torch.nn.Linear(6, 8), torch.nn.Linear(4, 8)
            self.head = torch.nn.Linear(8, 2)
            self.act = torch.nn.ReLU()  # a module: Captum's rules only see nn.ReLU, not torch.relu

        def forward(self, x1, x2):
            return self.head(self.act(self.a(x1) + self.b(x2)))

    m = TwoInputs().eval()
    g = torch.Generator().manual_seed(10)
    x = (torch.randn(7, 6, generator=g), torch.randn(7, 4, generator=g))
    ours = swiftdeeplift.DeepLift(m).attribute(x, target=1)
    theirs = captum(captum_attr.DeepLift, m, x, target=1)
    assert isinstance(ours, tuple) and len(ours) == 2
    for o, t in zip(ours, theirs):
        assert max_rel_error(o.numpy(), t) <= TOL
