"""FLOP costs from forward hooks vs PyTorch's counter; prune() under a FLOP budget."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from adapters.demo.models import MLPNet, MobileNetV1, ResNet20
from adapters.torch import flop_costs, prune, resolve_targets

from .chita_torch_helpers import TinyConvNet, conv_data


def counted_macs(model, x):
    """Multiply-adds per sample of every conv/linear, by FlopCounterMode (FLOPs = 2 MACs)."""
    with FlopCounterMode(display=False) as counter:
        model.eval()(x)
    return counter.get_total_flops() / 2 / x.shape[0]


@pytest.mark.parametrize(
    "make, shape",
    [
        (lambda: ResNet20(num_classes=10), (1, 1, 32, 32)),
        (lambda: MobileNetV1(in_channels=1, num_classes=10), (1, 1, 32, 32)),
        (lambda: MLPNet(), (2, 784)),
        (lambda: TinyConvNet(), (2, 2, 9, 9)),
    ],
)
def test_dense_macs_match_flop_counter(make, shape):
    torch.manual_seed(0)
    model = make()
    x = torch.randn(*shape)
    costs = flop_costs(model, x)
    dense = sum(p.numel() * costs[n] for n, p in model.named_parameters() if n in costs)
    assert dense == pytest.approx(counted_macs(model, x), rel=1e-9)


def test_costs_per_layer_kind():
    model = TinyConvNet()
    costs = flop_costs(model, torch.randn(3, 2, 9, 9))
    assert costs["conv1.weight"] == 81.0  # 9 x 9 output positions
    assert costs["conv2.weight"] == 16.0  # stride 2, no padding, grouped: 4 x 4
    assert costs["fc.weight"] == 1.0


@pytest.mark.parametrize("method", ["magnitude", "falcon", "falcon++"])
@pytest.mark.parametrize("budget, sparsity", [(0.4, None), (0.5, 0.6)])
def test_prune_respects_flop_budget(method, budget, sparsity):
    torch.manual_seed(0)
    model = TinyConvNet()
    data = conv_data(64)
    kw = dict(stages=3) if method == "falcon++" else {}
    rep = prune(
        model,
        data,
        sparsity=sparsity,
        flop_budget=budget,
        method=method,
        n_samples=32,
        progress=False,
        **kw,
    )
    assert rep.macs_kept <= budget * rep.macs_dense * (1 + 1e-9)
    if sparsity is not None:
        assert rep.kept <= round((1 - sparsity) * rep.total)
    # the masks are what the model holds
    for name, p in model.named_parameters():
        if name in rep.masks:
            assert torch.all(p[~rep.masks[name]] == 0)
    text = rep.summary()
    assert "MACs before" in text and "of dense MACs kept" in text


def test_falcon_block_mode_and_absolute_budget():
    torch.manual_seed(1)
    model = TinyConvNet()
    data = conv_data(64)
    costs = flop_costs(model, data[0][:2])
    dense = sum(t.numel * costs[t.name] for t in resolve_targets(model))
    rep = prune(
        model,
        data,
        flop_budget=int(0.3 * dense),
        method="falcon",
        block_size=100,
        n_samples=32,
        progress=False,
    )
    assert rep.macs_kept <= int(0.3 * dense)
    assert rep.objective <= rep.objective_magnitude * (1 + 1e-9)


def test_falcon_objective_beats_flop_aware_magnitude():
    torch.manual_seed(2)
    model = TinyConvNet()
    data = conv_data(64)
    rep = prune(model, data, flop_budget=0.3, method="falcon", n_samples=48, progress=False)
    assert rep.objective < rep.objective_magnitude


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(flop_budget=0.0, method="falcon"), "flop_budget"),
        (dict(flop_budget=1.5, method="falcon"), "flop_budget"),
        (dict(flop_budget=float("nan"), method="falcon"), "flop_budget"),
        (dict(flop_budget=10**12, method="falcon"), "flop_budget"),
        (dict(flop_budget=-3, method="magnitude"), "flop_budget"),
        (dict(flop_budget="half", method="falcon"), "flop_budget"),
        (dict(flop_budget=0.5, method="falcon", scope="layer", sparsity=0.5), "scope"),
        (dict(flop_budget=0.5, method="chita", sparsity=0.5), "flop_budget"),
        (dict(method="falcon", sparsity=0.5), "flop_budget"),
        (dict(method="chita"), "sparsity"),
    ],
)
def test_bad_budgets_raise_and_leave_model_untouched(kw, match):
    model = TinyConvNet()
    before = copy.deepcopy(model.state_dict())
    with pytest.raises(ValueError, match=match):
        prune(model, conv_data(32), n_samples=16, progress=False, **kw)
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_flop_costs_needs_a_batch():
    with pytest.raises(ValueError, match="example_input"):
        flop_costs(TinyConvNet(), "not a tensor")
    assert np.isclose(sum(flop_costs(nn.Linear(3, 2), torch.randn(4, 5, 3)).values()), 5.0)


def test_falcon_pp_stages_run_the_budgeted_swap_round():
    """Every falcon++ stage ends with the swap search under the budget (IHT's knapsack
    projection alone rarely moves the support); chita++'s stages keep to IHT."""
    torch.manual_seed(3)
    data = conv_data(64)
    kw = dict(n_samples=48, progress=False, stages=2)
    rep = prune(TinyConvNet(), data, flop_budget=0.3, method="falcon++", **kw)
    assert len(rep.history) == 2
    for h in rep.history:
        assert h.solver["local_search"] and not h.degraded
        assert h.flop_budget is not None
    assert rep.macs_kept <= 0.3 * rep.macs_dense * (1 + 1e-9)
    rep = prune(TinyConvNet(), data, sparsity=0.7, method="chita++", **kw)
    assert all("local_search" not in h.solver for h in rep.history)
