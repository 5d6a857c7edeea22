"""Per-weight FLOP costs measured from the model (FALCON), and the FLOP-budget allocation.

The cost of one weight is the multiply-adds (MACs) it takes part in per sample:

* ``Conv{1,2}d``: one MAC per output position, ``prod(output spatial dims)`` (H_out * W_out
  for 2-D), whatever the groups (a depthwise weight acts on one channel at every position);
* ``Linear``: the number of positions it is applied to, ``output.numel() / (batch *
  out_features)``: 1 for an MLP, the sequence length for a transformer.

They are measured with forward hooks on one example batch, so no architecture is hard-coded.
A dense layer's MACs per sample are ``numel * cost``; PyTorch's ``FlopCounterMode`` counts
``2 x`` that (a multiply and an add).
"""

from __future__ import annotations

import math
import numbers

import numpy as np
import torch
from torch import nn

from sparse_regression.constants import BUDGET_RTOL
from sparse_regression.knapsack import knapsack_support

from .targets import resolve_targets

__all__ = ["flop_costs", "resolve_flop_budget", "knapsack_mask", "magnitude_matched_k"]


@torch.no_grad()
def flop_costs(model: nn.Module, example_input, targets=None, ignore=None) -> dict[str, float]:
    """MACs per sample that one weight of each target costs: ``{parameter name: cost}``.

    Parameters
    ----------
    model : nn.Module
    example_input : Tensor (or tuple of Tensors)
        One batch the model accepts (its batch size is divided out).
    targets, ignore :
        As for :func:`adapters.torch.prune` (default: every Linear/Conv weight).

    The model runs once in eval mode (BatchNorm statistics untouched) and is left as it was.
    A target used several times (shared weights) sums its uses.
    """
    tlist = resolve_targets(model, targets, ignore)
    by_param = {id(t.param): t.name for t in tlist}
    costs = dict.fromkeys(by_param.values(), 0.0)
    inputs = example_input if isinstance(example_input, tuple | list) else (example_input,)
    if not inputs or not isinstance(inputs[0], torch.Tensor) or inputs[0].ndim < 1:
        raise ValueError("example_input must be a batch tensor (or a tuple of them).")
    batch = int(inputs[0].shape[0])

    def hook(module, _inp, out):
        name = by_param.get(id(getattr(module, "weight", None)))
        if name is None or not isinstance(out, torch.Tensor):
            return
        if isinstance(module, nn.Linear):
            positions = out.numel() / (batch * module.out_features)
        else:  # Conv1d / Conv2d / Conv3d: output is (N, C_out, *spatial)
            positions = float(math.prod(out.shape[2:]))
        costs[name] += positions

    kinds = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, kinds)]
    was_training = model.training
    try:
        model.eval()
        model(*inputs)
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    missing = [n for n, c in costs.items() if c == 0.0]
    if missing:
        raise ValueError(
            f"no forward use of target(s) {missing[:3]} was seen on example_input; FLOP costs "
            "are measured for Linear/Conv weights used in forward; exclude others with ignore=."
        )
    return costs


def resolve_flop_budget(flop_budget, dense_macs: float) -> float:
    """The absolute MAC budget: a float in (0, 1] is a fraction of ``dense_macs``, an int an
    absolute count (<= dense). ValueError naming ``flop_budget`` otherwise."""
    if isinstance(flop_budget, bool) or not isinstance(flop_budget, numbers.Real):
        raise ValueError(
            f"flop_budget must be a float in (0, 1] (fraction of the targets' dense MACs) or an "
            f"int number of MACs, got {flop_budget!r}."
        )
    if isinstance(flop_budget, numbers.Integral):
        val = float(flop_budget)
        if not 0 < val <= dense_macs:
            raise ValueError(
                f"flop_budget={flop_budget} MACs must be in (0, {int(dense_macs)}] (the targets' "
                "dense MACs per sample); pass a float for a fraction."
            )
        return val
    val = float(flop_budget)
    if not math.isfinite(val) or not 0.0 < val <= 1.0:
        raise ValueError(
            f"flop_budget must be in (0, 1] as a fraction of the dense MACs, got {flop_budget!r}."
        )
    return val * dense_macs


def knapsack_mask(w: np.ndarray, costs: np.ndarray, k: int, budget: float) -> np.ndarray:
    """FLOP-aware magnitude pruning: the mask maximising ``sum w_i^2`` under ``||mask||_0 <= k``
    and ``sum costs_i mask_i <= budget`` (the ILP on w^2 of FALCON's released scripts)."""
    res = knapsack_support(w * w, k, costs, budget)
    mask = np.zeros(w.shape[0], dtype=bool)
    mask[res.support] = True
    return mask


def magnitude_matched_k(w: np.ndarray, costs: np.ndarray, budget: float) -> int:
    """The number of weights global magnitude pruning keeps when it meets a MAC budget: the
    largest k whose top-k weights by ``|w|`` cost at most ``budget``.

    ``prune(flop_budget=...)`` without ``sparsity`` uses it as the cardinality: with the MAC
    budget alone, the knapsack on w^2 spends the budget on many cheap weights and strips the
    expensive early layers, and plain magnitude pruning at this k (which meets the budget)
    beats it by far (docs/falcon.md, "Which cardinality")."""
    order = np.argsort(-np.abs(w), kind="stable")
    spent = np.cumsum(np.asarray(costs, dtype=np.float64)[order])
    return int(np.searchsorted(spent, budget * (1 + BUDGET_RTOL), side="right"))
