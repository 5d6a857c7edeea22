"""Issue 13 on the adapter: non-finite weights in every method, a zero or negligible Fisher,
memory messages that say what is possible; the model is untouched after each error."""

import warnings

import numpy as np
import pytest
import torch

from adapters.torch import prune
from adapters.torch.validity import check_fisher_scale

from .chita_torch_helpers import TinyMLP, assert_unchanged, mlp_data, state_of


def _untrained():
    torch.manual_seed(0)
    return TinyMLP(), mlp_data(32)


def _same_including_nan(model, before):
    for k, v in before["values"].items():
        after = model.state_dict()[k]
        assert torch.equal(torch.isnan(after), torch.isnan(v)), k
        assert torch.equal(torch.nan_to_num(after), torch.nan_to_num(v)), k


@pytest.mark.parametrize(
    "method, bad",
    [
        ("magnitude", float("nan")),
        ("magnitude", -float("inf")),
        ("chita", float("inf")),
        ("chita++", float("nan")),
    ],
)
def test_non_finite_weight_rejected_in_every_method(method, bad):
    model, data = _untrained()
    with torch.no_grad():
        model.fc2.weight[3, 4] = bad
    before = state_of(model)
    kw = {"stages": 2} if method == "chita++" else {}
    with pytest.raises(ValueError, match=r"'fc2\.weight'.*NaN or inf"):
        prune(model, data, sparsity=0.5, method=method, n_samples=16, progress=False, **kw)
    _same_including_nan(model, before)


class DenseOutputLoss:
    """Squared distance to the model's own (detached) output: zero gradient at the dense
    weights, like 1 - cosine similarity to the dense outputs."""

    def __call__(self, out, y):
        return ((out - out.detach()) ** 2).sum(dim=-1)


@pytest.mark.parametrize("block_size", [None, 64])
def test_zero_fisher_names_the_cause(block_size):
    model, data = _untrained()
    before = state_of(model)
    with pytest.raises(ValueError, match="gradient vanishes at the dense weights"):
        prune(
            model,
            data,
            sparsity=0.5,
            loss_fn=DenseOutputLoss(),
            n_samples=16,
            block_size=block_size,
            memory_limit="4GB",
            progress=False,
        )
    assert_unchanged(model, before)


def test_negligible_fisher_warns():
    w = np.ones(100)
    with pytest.warns(RuntimeWarning, match="negligible"):
        check_fisher_scale(1e-30, w, 8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_fisher_scale(1e-3, w, 8)


def test_tiny_memory_limit_says_what_is_possible():
    model, data = _untrained()
    before = state_of(model)
    with pytest.raises(ValueError) as exc:
        prune(model, data, sparsity=0.5, n_samples=16, memory_limit="1KB", progress=False)
    msg = str(exc.value)
    assert "n_samples <= 0" not in msg
    assert "Not even one sample fits" in msg and "raise memory_limit to at least" in msg
    assert_unchanged(model, before)


def test_ridge_zero_with_wide_support_prunes():
    """ridge=0.0 (allowed by the docs) with k > n: the backsolve works in the n-dimensional
    space (no k x k system) and the result is finite."""
    model, data = _untrained()
    report = prune(model, data, sparsity=0.3, ridge=0.0, n_samples=8, progress=False)
    assert report.sparsity == 0.3
    for p in model.parameters():
        assert torch.isfinite(p).all()


def test_demo_rejects_negative_threads(capsys):
    from adapters.demo.cli import main

    assert main(["demo", "--threads", "-1"]) == 2
    assert "--threads must be >= 0" in capsys.readouterr().err
