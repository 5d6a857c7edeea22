"""Swap and addition scores restricted to moves that fit a cost budget (FALCON).

Twins of ``_kernels.best_swap`` / ``best_add`` with one more test: column ``j`` may enter in
place of support row ``r`` only if ``costs[j] <= room + row_cost[r]`` (``room`` = budget minus
the support's cost), and may be added only if ``costs[j] <= room``.
"""

from __future__ import annotations

import numba as nb
import numpy as np
from numba import prange

from ._kernels import _jit_pair, _pick
from .constants import SWAP_SKIP_MARGIN

__all__ = ["best_add_budget", "best_swap_budget"]


def _best_swap_budget_impl(
    Z, inv_root, beta, gout, s_out, scale, in_support, eps, costs, row_cost, room
):
    nrow, p = Z.shape
    beta_crit = 0.0  # rows that no column can improve are skipped (see _kernels.best_swap)
    for j in range(p):
        if not in_support[j] and s_out[j] > eps * scale[j]:
            t = np.sqrt(max(scale[j] - s_out[j], 0.0))
            v = abs(gout[j]) * (t + np.sqrt(scale[j])) / s_out[j]
            if v > beta_crit:
                beta_crit = v
    beta_crit *= 1.0 + SWAP_SKIP_MARGIN
    row_best = np.zeros(nrow)
    row_j = np.full(nrow, -1)
    for r in prange(nrow):
        br = beta[r]
        if abs(br) >= beta_crit:
            continue
        limit = room + row_cost[r]
        ir = inv_root[r]
        base = 0.5 * br * br
        best = 0.0
        bj = -1
        for j in range(p):
            if in_support[j] or costs[j] > limit:
                continue
            t = Z[r, j] * ir
            den = s_out[j] + t * t
            if den <= eps * scale[j]:
                continue
            num = br * t - gout[j]
            d = base - 0.5 * num * num / den
            if d < best:
                best = d
                bj = j
        row_best[r] = best
        row_j[r] = bj
    best = 0.0
    bi = -1
    bj = -1
    for r in range(nrow):
        if row_best[r] < best:
            best = row_best[r]
            bi = r
            bj = row_j[r]
    return bi, bj, best


_best_swap_budget = _jit_pair(_best_swap_budget_impl)


def best_swap_budget(Z, inv_root, beta, gout, s_out, scale, in_support, eps, costs, row_cost, room):
    """Best single swap that keeps the support's cost within the budget: (row, j, delta)."""
    return _pick(_best_swap_budget, Z.size)(
        Z, inv_root, beta, gout, s_out, scale, in_support, eps, costs, row_cost, room
    )


@nb.njit(cache=True, nogil=True, fastmath=True)
def best_add_budget(gout, s_out, scale, in_support, eps, costs, room):
    """Best single addition among the columns that fit: (j, delta) with delta <= 0."""
    p = gout.shape[0]
    best = 0.0
    bj = -1
    for j in range(p):
        if in_support[j] or costs[j] > room:
            continue
        den = s_out[j]
        if den <= eps * scale[j]:
            continue
        d = -0.5 * gout[j] * gout[j] / den
        if d < best:
            best = d
            bj = j
    return bj, best
