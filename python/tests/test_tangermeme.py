"""swiftdeeplift.deep_lift_shap against tangermeme's deep_lift_shap (the oracle) on a small
genomics model, with tangermeme's own dinucleotide shuffles as references."""
import numpy as np
import pytest

import swiftdeeplift
from conftest import max_rel_error, one_hot

tangermeme_dls = pytest.importorskip("tangermeme.deep_lift_shap")
ersatz = pytest.importorskip("tangermeme.ersatz")
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

TOL = 1e-5


@pytest.fixture
def bpnet_like(torch):
    """Dilated residual conv stack with a dense head (no max pooling: tangermeme's rules)."""
    torch.manual_seed(11)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.c0 = torch.nn.Conv1d(4, 8, 9, padding=4)
            self.c1 = torch.nn.Conv1d(8, 8, 3, padding=2, dilation=2)
            self.c2 = torch.nn.Conv1d(8, 8, 3, padding=4, dilation=4)
            self.head = torch.nn.Linear(8, 3)
            # One nn.ReLU module per use: tangermeme's rules hook modules, not torch.relu.
            self.r0, self.r1, self.r2 = torch.nn.ReLU(), torch.nn.ReLU(), torch.nn.ReLU()

        def forward(self, x):
            h = self.r0(self.c0(x))
            h = h + self.r1(self.c1(h))
            h = h + self.r2(self.c2(h))
            return self.head(h.mean(dim=-1))

    return Net().eval()


@pytest.mark.parametrize("hypothetical", [False, True])
def test_given_shuffles(torch, bpnet_like, hypothetical):
    X = torch.from_numpy(one_hot(8, 60, seed=12))
    refs = ersatz.dinucleotide_shuffle(X, n=10, random_state=0)
    for target in (0, 2):
        theirs = tangermeme_dls.deep_lift_shap(bpnet_like, X, target=target, references=refs, hypothetical=hypothetical,
                                               device="cpu", batch_size=16)
        ours = swiftdeeplift.deep_lift_shap(bpnet_like, X, target=target, references=refs, hypothetical=hypothetical)
        assert isinstance(ours, torch.Tensor)
        assert max_rel_error(ours.numpy(), theirs.numpy()) <= TOL


def _wrapped_shuffle(X, n, random_state=None):
    return ersatz.dinucleotide_shuffle(X, n=n, random_state=random_state)


@pytest.mark.parametrize("fn", [ersatz.dinucleotide_shuffle, _wrapped_shuffle])
def test_reference_function_as_tangermeme_calls_it(torch, bpnet_like, fn):
    """tangermeme's own shuffle (one call per k) and any other function (one per example)."""
    X = torch.from_numpy(one_hot(5, 60, seed=13))
    theirs = tangermeme_dls.deep_lift_shap(bpnet_like, X, target=1, references=fn,
                                           n_shuffles=6, random_state=3, device="cpu")
    ours, refs = swiftdeeplift.deep_lift_shap(bpnet_like, X, target=1, references=fn,
                                              n_shuffles=6, random_state=3, return_references=True)
    assert tuple(refs.shape) == (5, 6, 4, 60)
    assert max_rel_error(ours.numpy(), theirs.numpy()) <= TOL


def test_library_shuffles_are_the_originals_and_sum_to_delta(torch, bpnet_like):
    """Default references: the library's shuffles (the original deeplift's dinuc_shuffle),
    the same as `deeplift explain --shuffles M --seed S`; the scores sum to Δ."""
    X = one_hot(4, 60, seed=14)
    model = swiftdeeplift.Model(bpnet_like)
    a, deltas = model.explain(X, shuffles=7, seed=5, return_deltas=True)
    hyp = model.explain(X, shuffles=7, seed=5, output="hypothetical")
    b = swiftdeeplift.deep_lift_shap(bpnet_like, X, n_shuffles=7, random_state=5, target=0, hypothetical=True)
    assert isinstance(b, np.ndarray)
    np.testing.assert_array_equal(hyp, b)
    # Projected scores: per position, the contributions' sum on the observed base.
    c = swiftdeeplift.deep_lift_shap(bpnet_like, X, n_shuffles=7, random_state=5, target=0)
    np.testing.assert_allclose(c.sum(axis=1), a.sum(axis=1), atol=1e-6)
    np.testing.assert_array_equal(c, hyp * X)
    assert np.nanmax(deltas) < 1e-4
