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


@pytest.mark.parametrize("sparsity", [None, 0.0, 0.6])
def test_falcon_block_mode_splits_the_budget_by_a_global_budgeted_solve(sparsity):
    """Block mode with a MAC budget: the blocks' k and budget shares come from one budgeted
    solve of the unblocked problem; whatever the held-out choice, both budgets hold."""
    torch.manual_seed(3)
    model = TinyConvNet()
    data = conv_data(64)
    rep = prune(
        model,
        data,
        sparsity=sparsity,
        flop_budget=0.3,
        method="falcon",
        block_size=100,
        n_samples=32,
        progress=False,
    )
    rec = rep.history[-1]
    assert rec.block_choice["allocation"] == "global solve on 32 samples"
    assert "global solve" in rec.block_choice["holdout_loss"]
    assert any("global solve on 32 of the 32 samples" in n for n in rep.notes)
    assert rep.macs_kept <= 0.3 * rep.macs_dense * (1 + 1e-9)
    if sparsity is not None:
        assert rep.kept <= round((1 - sparsity) * rep.total)
    for name, p in model.named_parameters():
        if name in rep.masks:
            assert torch.all(p[~rep.masks[name]] == 0)


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
        (dict(flop_budget=1, method="falcon"), "flop_budget"),  # magnitude keeps no weight
        (dict(flop_budget=1, method="magnitude"), "flop_budget"),
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


def test_magnitude_matched_k_equals_the_largest_affordable_top_k():
    from adapters.torch.flops import magnitude_matched_k

    rng = np.random.default_rng(0)
    for _ in range(50):
        p = int(rng.integers(1, 40))
        w = rng.normal(size=p)
        costs = rng.choice([0.0, 1.0, 4.0, 16.0], size=p)
        budget = float(rng.uniform(0, costs.sum() + 1))
        order = np.argsort(-np.abs(w), kind="stable")
        brute = max(k for k in range(p + 1) if costs[order[:k]].sum() <= budget)
        assert magnitude_matched_k(w, costs, budget) == brute


@pytest.mark.parametrize("method", ["magnitude", "falcon"])
def test_flop_budget_alone_keeps_at_most_what_magnitude_needs(method):
    """Without sparsity the cardinality is magnitude pruning's at the budget; sparsity=0.0
    asks for the MAC budget alone (then the w^2 knapsack keeps more, cheaper weights)."""
    from adapters.torch.flops import magnitude_matched_k

    torch.manual_seed(4)
    model = TinyConvNet()
    data = conv_data(64)
    targets = resolve_targets(model)
    costs = flop_costs(model, data[0][:2])
    w = np.concatenate([t.param.detach().numpy().ravel() for t in targets]).astype(np.float64)
    c = np.concatenate([np.full(t.numel, costs[t.name]) for t in targets])
    k_match = magnitude_matched_k(w, c, 0.3 * c.sum())
    runs = {}
    for sparsity in (None, 0.0):
        m = copy.deepcopy(model)
        rep = prune(m, data, flop_budget=0.3, sparsity=sparsity, method=method, n_samples=32,
                    progress=False)  # fmt: skip
        assert rep.macs_kept <= 0.3 * rep.macs_dense * (1 + 1e-9)
        runs[sparsity] = rep
    assert runs[None].kept <= k_match
    assert any("flop_budget without sparsity" in n for n in runs[None].notes)
    assert not any("flop_budget without sparsity" in n for n in runs[0.0].notes)
    if method == "magnitude":
        assert runs[0.0].kept > k_match  # the knapsack alone spends the budget on more weights
        # the knapsack under both budgets keeps at least the w^2 of magnitude's own support
        kept = np.concatenate([runs[None].masks[t.name].numpy().ravel() for t in targets])
        top = np.argsort(-np.abs(w), kind="stable")[:k_match]
        assert (w[kept] ** 2).sum() >= (w[top] ** 2).sum() * (1 - 1e-12)
