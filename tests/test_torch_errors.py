"""Clear errors, and the model left exactly as it was after any error."""

import subprocess
import sys

import pytest
import torch
from torch import nn  # noqa: E402

from adapters.torch import prune  # noqa: E402

from .chita_torch_helpers import (
    TinyConvNet,
    assert_unchanged,
    conv_data,
    state_of,
    trained_mlp,
)


@pytest.fixture
def model():
    torch.manual_seed(0)
    return TinyConvNet().train()


def test_empty_loader(model):
    before = state_of(model)
    empty = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.zeros(0, 2, 9, 9), torch.zeros(0, dtype=torch.long))
    )
    with pytest.raises(ValueError, match="no samples"):
        prune(model, empty, sparsity=0.5, progress=False)
    assert_unchanged(model, before)


@pytest.mark.parametrize("bad", [1.0, -0.1, 1.5, float("nan"), "0.5", True])
def test_sparsity_outside_range(model, bad):
    before = state_of(model)
    with pytest.raises(ValueError, match="sparsity"):
        prune(model, conv_data(8), sparsity=bad, progress=False)
    assert_unchanged(model, before)


def test_no_target_parameters():
    model = nn.Sequential(nn.BatchNorm1d(4), nn.ReLU())
    before = state_of(model)
    with pytest.raises(ValueError, match="no parameter to prune"):
        prune(
            model,
            (torch.randn(8, 4), torch.zeros(8, dtype=torch.long)),
            sparsity=0.5,
            progress=False,
        )
    assert_unchanged(model, before)


def test_unknown_target_names(model):
    with pytest.raises(ValueError, match="conv1.weight"):
        prune(model, conv_data(8), sparsity=0.5, targets=["conv1"], progress=False)
    with pytest.raises(ValueError, match="matches no parameter"):
        prune(model, conv_data(8), sparsity=0.5, targets="re:nothing.*", progress=False)


def test_over_memory_limit_says_what_fits(model):
    before = state_of(model)
    with pytest.raises(ValueError, match=r"bytes.*n_samples <= \d+.*block_size=\d+") as exc:
        prune(
            model, conv_data(40), sparsity=0.5, n_samples=40, memory_limit="100KB", progress=False
        )
    assert "memory_limit" in str(exc.value)
    assert_unchanged(model, before)
    with pytest.raises(ValueError, match="block"):
        prune(
            model,
            conv_data(40),
            sparsity=0.5,
            n_samples=40,
            block_size=10_000,
            memory_limit=1000,
            progress=False,
        )
    assert_unchanged(model, before)
    with pytest.raises(ValueError, match="memory_limit"):
        prune(model, conv_data(8), sparsity=0.5, memory_limit="lots", progress=False)


@pytest.mark.parametrize(
    "kw",
    [
        dict(method="foo"),
        dict(scope="all"),
        dict(mask_mode="x"),
        dict(n_samples=0),
        dict(ridge=-1.0),
        dict(block_size=0),
        dict(solver=object()),
        dict(schedule="weird", stages=2, method="chita++"),
    ],
)
def test_bad_arguments(model, kw):
    before = state_of(model)
    with pytest.raises(ValueError):
        prune(model, conv_data(8), sparsity=0.5, progress=False, **kw)
    assert_unchanged(model, before)


class FailingLoss:
    """Raises on the ``fail_at``-th call (after earlier stages modified the model)."""

    def __init__(self, fail_at):
        self.calls, self.fail_at = 0, fail_at

    def __call__(self, out, y):
        self.calls += 1
        if self.calls >= self.fail_at:
            raise RuntimeError("boom")
        return nn.functional.cross_entropy(out, y)


@pytest.mark.parametrize("mask_mode", ["bake", "prune", "parametrize"])
def test_error_mid_run_restores_model(mask_mode):
    model, data = trained_mlp()
    model.train()
    model.fc2.weight.requires_grad_(False)
    before = state_of(model)
    with pytest.raises(RuntimeError, match="boom"):
        prune(
            model,
            data,
            sparsity=0.9,
            method="chita++",
            stages=3,
            loss_fn=FailingLoss(3),
            n_samples=64,
            mask_mode=mask_mode,
            progress=False,
        )
    assert_unchanged(model, before)


class BrokenSolver:
    def solve(self, problem, warm_start=None):
        raise ArithmeticError("solver failed")


@pytest.mark.parametrize("mask_mode", ["bake", "prune"])
def test_solver_error_restores_model(mask_mode):
    model, data = trained_mlp()
    before = state_of(model)
    with pytest.raises(ArithmeticError):
        prune(model, data, sparsity=0.5, solver=BrokenSolver(), mask_mode=mask_mode, progress=False)
    assert_unchanged(model, before)


class NaNLoss:
    """Cross-entropy that turns into NaN for some samples (as a diverging model would)."""

    def __call__(self, out, y):
        loss = nn.functional.cross_entropy(out, y, reduction="none")
        loss = torch.where(y == 0, loss * float("nan"), loss)
        return loss.mean()


@pytest.mark.parametrize("block_size", [None, 40])
def test_non_finite_gradients_raise_and_restore(block_size):
    model, data = trained_mlp()
    before = state_of(model)
    with pytest.raises(ValueError, match="NaN or inf"):
        prune(
            model,
            data,
            sparsity=0.5,
            loss_fn=NaNLoss(),
            n_samples=64,
            block_size=block_size,
            progress=False,
        )
    assert_unchanged(model, before)


def test_import_error_names_the_extra():
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "try:\n    import adapters.torch\nexcept ImportError as e:\n    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert 'pip install "chita[torch]"' in out.stdout
