"""The reality check: actual loss on a held-out slice of the calibration data.

The quadratic model predicts the loss change of a pruned point; the held-out slice measures it.
``calibration_split`` draws ``holdout_size(n)`` samples beyond the ``n`` Fisher samples when the
data has them; otherwise the slice is the last samples of the Fisher set (then it is not
independent, and the report says so).
"""

from __future__ import annotations

import warnings

import torch

from .fisher import collect_samples
from .per_sample_grads import per_sample_loss_sum

__all__ = ["holdout_size", "calibration_split", "head_samples", "holdout_loss"]


def holdout_size(n_samples: int) -> int:
    """Samples in the held-out slice: n/4, at least 16, at most 256."""
    return min(256, max(16, n_samples // 4))


def calibration_split(data, n_samples: int, device, random_state=None):
    """``(fisher_batches, holdout_batches, independent)`` from ``data``."""
    h = holdout_size(n_samples)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        batches = collect_samples(data, n_samples + h, device, random_state)
    total = sum(len(x) for x, _ in batches)
    if total < n_samples:
        warnings.warn(
            f"data yielded {total} samples, fewer than n_samples={n_samples}; using {total}.",
            stacklevel=3,
        )
    fisher, rest, seen = [], [], 0
    for x, y in batches:
        take = max(0, min(len(x), n_samples - seen))
        if take:
            fisher.append((x[:take], y[:take]))
        if take < len(x):
            rest.append((x[take:], y[take:]))
        seen += len(x)
    if rest:
        return fisher, rest, True
    # no samples beyond the Fisher set: reuse its last h samples (not independent)
    tail, need = [], min(h, total)
    for x, y in reversed(fisher):
        take = min(len(x), need)
        tail.insert(0, (x[len(x) - take :], y[len(y) - take :]))
        need -= take
        if need == 0:
            break
    return fisher, tail, False


def head_samples(batches, m: int) -> list[tuple]:
    """The first ``m`` samples of ``batches`` (the last batch sliced)."""
    out, seen = [], 0
    for x, y in batches:
        take = min(len(x), m - seen)
        if take <= 0:
            break
        out.append((x[:take], y[:take]))
        seen += take
    return out


@torch.no_grad()
def holdout_loss(model: torch.nn.Module, batches, loss_fn) -> float:
    """Mean loss over the held-out batches, in eval mode (the mode is restored)."""
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        total, count = 0.0, 0
        for x, y in batches:
            total += float(per_sample_loss_sum(loss_fn, model(x), y))
            count += len(x)
    finally:
        for m, mode in modes:
            m.training = mode
    return total / max(count, 1)
