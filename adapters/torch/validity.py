"""Checks on what a prune starts from: finite weights, and a Fisher that can rank them."""

from __future__ import annotations

import math
import warnings

import numpy as np
import torch

from sparse_regression.constants import NEGLIGIBLE_FISHER

__all__ = ["check_finite_weights", "check_fisher_scale"]


def check_finite_weights(targets) -> None:
    """ValueError naming the first target parameter with NaN or inf entries (every method)."""
    for t in targets:
        with torch.no_grad():
            bad = int((~torch.isfinite(t.param.detach())).sum())
        if bad:
            raise ValueError(
                f"parameter {t.name!r} has {bad} NaN or inf weight(s) of {t.numel}; pruning "
                "would silently turn them into zeros or spread them. Repair or reload the "
                "weights (or exclude the parameter with ignore=[...]) first; the model was "
                "not changed."
            )


def check_fisher_scale(mean_diag: float, w: np.ndarray, n_samples: int) -> None:
    """Refuse a zero empirical Fisher, warn about a negligible one.

    ``mean_diag = mean(diag(A^T A))`` is the mean squared per-sample gradient. Zero means every
    per-sample gradient of the loss vanishes at the dense weights: the quadratic model is then
    identically zero (any weights are "optimal") and its ridge ``ridge * mean_diag`` is zero too.
    """
    if mean_diag == 0.0 or not math.isfinite(mean_diag):
        raise ValueError(
            f"the empirical Fisher is zero: the loss gradient vanishes at the dense weights for "
            f"all {n_samples} calibration samples, so the quadratic model cannot rank weights "
            "(and its relative ridge is 0). This happens with a loss measured against the dense "
            "model's own outputs (1 - cosine similarity, MSE to them): its gradient is 0 at the "
            "dense weights. Use a loss whose per-sample gradients are nonzero there (e.g. "
            "cross-entropy to the labels, the default), or method='magnitude'. The model was "
            "not changed."
        )
    scale = 0.5 * mean_diag * float(w @ w)
    if scale < NEGLIGIBLE_FISHER:
        warnings.warn(
            f"the empirical Fisher is negligible: removing every weight changes the loss by "
            f"about {scale:.2g} under the quadratic model (mean squared per-sample gradient "
            f"{mean_diag:.2g}), below what the loss resolves; the loss gradient nearly vanishes "
            "at the dense weights, so weights are ranked by rounding noise. Check loss_fn (a "
            "loss measured against the dense model's own outputs has zero gradient there).",
            RuntimeWarning,
            stacklevel=3,
        )
