"""Swap search in the n-dimensional Woodbury space, for ridge > 0 and large supports.

With ``ridge = lambda > 0``, a support S, ``c = b - A_S w_ref_S``, ``K = lambda I + A_S A_S^T``
(n x n) and ``u = K^-1 c``, the exact minimiser on S and everything the swap scores of
:mod:`local_search` need follow from n-dimensional quantities:

    w_S = w_ref_S + A_S^T u,        residual A w - b = -lambda u,
    g_j = -lambda (a_j^T u + w_ref_j)                  (j outside S),
    Z_ij = a_i^T K^-1 a_j = (M^-1 A_S^T A)_ij,         (M^-1)_ii = (1 - Z_ii) / lambda,
    s_j = lambda (1 + Z_jj)                            (j outside S),
    F = lambda/2 (c^T u + ||w_ref outside S||^2).

A swap changes K by ``- a_i a_i^T + a_j a_j^T``: two Sherman-Morrison updates. Keeping
``Y = K^-1 A_C``, ``Z = A_C^T K^-1 A_C``, ``u`` and ``A_C^T u`` for a candidate pool ``C`` (the
support members cheapest to remove and the outside columns with the largest exact addition
gains) makes one move cost O(n |C| + |C|^2), independent of k and p, while every candidate
pair is still scored exactly. Rounds re-select the candidates from all columns; each round
ends with an exact float64 backsolve and is kept only if it lowered F.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg as sla
import scipy.linalg.blas as blas

from .. import _kernels as K
from ..backsolve import backsolve_support
from ..constants import (
    BUDGET_RTOL,
    LARGE_SEARCH_ROUNDS,
    SWAP_COLLINEAR_RTOL,
    SWAP_RTOL,
    TINY,
    WOODBURY_MOVES,
    WOODBURY_POOL_ADD,
    WOODBURY_POOL_REFRESH,
    WOODBURY_POOL_REMOVE,
    WOODBURY_RANK_MAX_WORK,
    WOODBURY_SCREEN_FACTOR,
    WOODBURY_SKETCH_DIM,
)
from ..quadratic import Quadratic
from ..woodbury import column_chunks, support_factor, woodbury_sq_norms
from .single import SwapResult

__all__ = ["woodbury_swap_search"]


class _Pool:
    """Y = K^-1 A_C, Z = A_C^T Y, u = K^-1 c and v = A_C^T u for a candidate pool C."""

    def __init__(self, q: Quadratic, S, C, factor=None):
        self.q, self.ridge, self.w_ref = q, q.ridge, q.w_ref
        w_ref = q.w_ref
        self.C = np.asarray(C, dtype=np.int64)
        self.AC = np.asfortranarray(K.gather_columns(q.A, self.C).astype(np.float64))
        self.w_ref_c = w_ref[self.C] if w_ref is not None else np.zeros(self.C.size)
        self.refresh(S, factor)

    def refresh(self, S, factor=None):
        """Recompute every maintained quantity for support S (sorted); ``factor`` is
        ``support_factor(q, S)`` when the caller already has it."""
        self.S = np.asarray(S, dtype=np.int64)
        if factor is None:
            factor = support_factor(self.q, self.S)
        _, self.c, self.L, self.u = factor
        self.Y = np.asfortranarray(sla.cho_solve((self.L, True), self.AC, check_finite=False))
        self.Z = np.asfortranarray(self.AC.T @ self.Y)
        self.v = self.AC.T @ self.u
        self.member = np.isin(self.C, self.S)
        ref = self.w_ref
        self.ref_out = (
            float(ref @ ref) - float(ref[self.S] @ ref[self.S]) if ref is not None else 0.0
        )
        self.moves = 0

    def objective(self) -> float:
        return 0.5 * self.ridge * (float(self.c @ self.u) + self.ref_out) + self.q.const

    def _rank1(self, t: int, sign: float) -> None:
        """K <- K + sign * a_t a_t^T for pool column t (Sherman-Morrison)."""
        y = self.Y[:, t].copy()
        zc = self.Z[:, t].copy()
        d = 1.0 + sign * zc[t]
        coef = -sign / d
        vt = self.v[t]
        blas.dger(coef, y, zc, a=self.Y, overwrite_a=1)
        blas.dger(coef, zc, zc, a=self.Z, overwrite_a=1)
        self.u += coef * vt * y
        self.v += coef * vt * zc

    def _shift_c(self, t: int, amount: float) -> None:
        """c <- c + amount * a_t (with K already updated)."""
        if amount:
            self.c += amount * self.AC[:, t]
            self.u += amount * self.Y[:, t]
            self.v += amount * self.Z[:, t]

    def remove(self, t: int) -> None:
        self._rank1(t, -1.0)
        self._shift_c(t, self.w_ref_c[t])
        self.member[t] = False
        self.ref_out += self.w_ref_c[t] ** 2
        self.moves += 1

    def add(self, t: int) -> None:
        self._rank1(t, 1.0)
        self._shift_c(t, -self.w_ref_c[t])
        self.member[t] = True
        self.ref_out -= self.w_ref_c[t] ** 2
        self.moves += 1


def _sketched_sq_norms(A: np.ndarray, L: np.ndarray, ridge: float) -> np.ndarray:
    """Estimates of ``s_j = ridge (1 + ||L^-1 a_j||^2)`` for every column from a Gaussian
    sketch ``Omega`` (m x n, fixed seed): ``||Omega L^-1 a_j||^2`` is unbiased with relative
    standard deviation ``sqrt(2/m)``; costs m n^2 + m n p instead of n^2 p."""
    n, p = A.shape
    m = min(WOODBURY_SKETCH_DIM, n)
    omega = np.random.default_rng(0).standard_normal((n, m)) / np.sqrt(m)
    # Y = L^-T Omega^T, so that Omega L^-1 a = Y^T a
    Y = sla.solve_triangular(L, omega, trans="T", lower=True, check_finite=False)
    Yt = np.ascontiguousarray(Y.T, dtype=A.dtype)
    out = np.empty(p)
    for c in column_chunks(p, max(n, m)):
        Z = Yt @ A[:, c]
        out[c] = ridge * (1.0 + np.einsum("ij,ij->j", Z, Z, dtype=np.float64))
    return out


def _top_split(score, m: int, per_cost=None) -> np.ndarray:
    """Indices of the ``m`` largest ``score`` entries; with ``per_cost``, half of them by
    ``score`` and the rest by ``score / per_cost`` (gain per unit of cost), distinct."""
    m = min(m, score.size)
    if per_cost is None or m == 0:
        return np.argpartition(-score, m - 1)[:m] if m else np.zeros(0, dtype=np.int64)
    half = (m + 1) // 2
    first = np.argpartition(-score, half - 1)[:half]
    ratio = score / np.maximum(per_cost, TINY)
    ratio[first] = -np.inf
    rest = np.argpartition(-ratio, m - half - 1)[: m - half] if m > half else first[:0]
    return np.concatenate([first, rest])


def _candidates(q: Quadratic, S, w, n_remove, n_add, stats=None, costs=None):
    """Pool for one round: the n_remove support members with the smallest exact removal cost
    and the n_add outside columns with the largest exact addition gain. Also returns the
    support's ``support_factor``, which the pool reuses.

    The exact gain ``g_j^2 / s_j`` costs n^2 per column (``s_j`` needs ``L^-1 a_j``). When
    ranking all outside columns costs more than ``WOODBURY_RANK_MAX_WORK``, they are screened
    first by the gain with ``s_j`` from a Gaussian sketch (``_sketched_sq_norms``, m n per
    column); only the ``max(WOODBURY_SCREEN_FACTOR n_add, WOODBURY_RANK_MAX_WORK / n^2)`` best
    by the estimate are ranked exactly. (The bound ``s_j <= ridge + ||a_j||^2`` screens badly:
    on MLPNet at n=2000 it cost 3 points of accuracy; the sketch none.)
    """
    A, ridge, w_ref = q.A, q.ridge, q.w_ref
    n, p = A.shape
    factor = support_factor(q, S)
    AS, _, L, u = factor
    X = sla.solve_triangular(L, AS, lower=True, check_finite=False)
    lev = np.einsum("ij,ij->j", X, X)  # a_i^T K^-1 a_i for the members
    minv = np.maximum((1.0 - lev) / ridge, np.finfo(float).tiny)
    removal = 0.5 * w[S] ** 2 / minv
    if costs is None:
        members = S[np.argsort(removal, kind="stable")[: min(n_remove, S.size)]]
    else:  # with a budget also the members that free the most cost per unit of loss
        members = S[_top_split(-removal, n_remove, costs[S])]
    m = min(n_add, p - S.size)
    if m <= 0:
        return members, factor
    # exact addition gains g_j^2 / (2 s_j), s_j = ridge (1 + a_j^T K^-1 a_j): with a small
    # ridge s_j ranges from ridge to ||a_j||^2, so no cheap bound ranks them
    g = -ridge * (K.rmatvec(A, u) + (w_ref if w_ref is not None else 0.0))
    outside = np.ones(p, dtype=bool)
    outside[S] = False
    n_rank = max(WOODBURY_SCREEN_FACTOR * m, WOODBURY_RANK_MAX_WORK // max(n * n, 1))
    # (a ranking only, so the triangular solves run in A's precision: float32 halves their cost)
    if n_rank < p - S.size:
        est = np.where(outside, g * g / _sketched_sq_norms(A, L, ridge), -1.0)
        pool = _top_split(est, n_rank, costs)
        s_pool = woodbury_sq_norms(K.gather_columns(A, pool), L, ridge, dtype=A.dtype)
    else:
        pool = np.flatnonzero(outside)
        s_pool = woodbury_sq_norms(A, L, ridge, dtype=A.dtype)[pool]
    if stats is not None:
        stats["ranked"] = max(stats.get("ranked", 0), int(pool.size))
    gain = g[pool] ** 2 / s_pool
    top = _top_split(gain, m, None if costs is None else costs[pool])
    return np.concatenate([members, pool[top]]), factor


def woodbury_swap_search(
    q: Quadratic,
    k: int,
    w: np.ndarray,
    f: float,
    *,
    n_remove: int = WOODBURY_POOL_REMOVE,
    n_add: int = WOODBURY_POOL_ADD,
    max_moves: int = WOODBURY_MOVES,
    max_rounds: int = LARGE_SEARCH_ROUNDS,
    refresh_every: int = WOODBURY_POOL_REFRESH,
    rtol: float = SWAP_RTOL,
    log=None,
    stats: dict | None = None,
    costs: np.ndarray | None = None,
    budget: float | None = None,
) -> SwapResult:
    """Swap search over candidate pools in the Woodbury space (``ridge > 0``).

    ``w`` must be the exact minimiser on its support (and within the budget, when ``costs``
    and ``budget`` are given: then every move keeps ``sum_{i in S} costs_i <= budget``).
    Returns the best point found, with ``swap_optimal=False`` (pools do not cover every pair).
    ``stats["ranked"]``, when a dict is given, receives the most columns ranked exactly in a
    round (``_candidates``).
    """
    ridge, col_sq = q.ridge, q.col_sq
    if ridge <= 0:
        raise ValueError("woodbury_swap_search needs ridge > 0.")
    history = [f]
    n_swaps = n_adds = 0
    w = w.copy()
    eps = SWAP_COLLINEAR_RTOL
    for rnd in range(1, max_rounds + 1):
        S = np.flatnonzero(w)
        C, factor = _candidates(q, S, w, n_remove, n_add, stats, costs)
        pool = _Pool(q, S, C, factor)
        support = set(S.tolist())
        if costs is None:
            cost_c, slack = np.zeros(pool.C.size), np.inf
        else:
            cost_c = np.asarray(costs, dtype=np.float64)[pool.C]
            slack = budget * (1 + BUDGET_RTOL) + TINY - float(costs[S].sum())
        moves = 0
        while moves < max_moves:
            can_add = len(support) < k
            i, j, delta = K.best_pool_move(
                pool.Z,
                pool.member,
                pool.w_ref_c,
                pool.v,
                col_sq[pool.C],
                ridge,
                can_add,
                eps,
                cost_c,
                slack,
            )
            if j < 0 or delta >= -rtol * abs(f):
                break
            if i >= 0:
                pool.remove(i)
                support.discard(int(pool.C[i]))
                slack += cost_c[i]
                n_swaps += 1
            else:
                n_adds += 1
            slack -= cost_c[j]
            pool.add(j)
            support.add(int(pool.C[j]))
            moves += 1
            if pool.moves >= refresh_every:
                pool.refresh(sorted(support))
        S_new = np.array(sorted(support), dtype=np.int64)
        wS, f_new = backsolve_support(q, S_new)
        if log is not None:
            log(f"woodbury swap round {rnd}: {moves} moves, F {f:.8g} -> {f_new:.8g}")
        if not f_new < f - rtol * abs(f):
            break
        w = np.zeros(q.n_features)
        w[S_new] = wS
        f = f_new
        history.append(f)
        if moves == 0:
            break
    return SwapResult(w, f, history, n_swaps, n_adds, False)
