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
from ..backsolve import backsolve_arrays
from ..constants import (
    LARGE_SEARCH_ROUNDS,
    SWAP_COLLINEAR_RTOL,
    SWAP_RTOL,
    WOODBURY_MOVES,
    WOODBURY_POOL_ADD,
    WOODBURY_POOL_REFRESH,
    WOODBURY_POOL_REMOVE,
)
from ..woodbury import support_factor, woodbury_sq_norms
from .single import SwapResult

__all__ = ["woodbury_swap_search"]


class _Pool:
    """Y = K^-1 A_C, Z = A_C^T Y, u = K^-1 c and v = A_C^T u for a candidate pool C."""

    def __init__(self, A, b, S, C, ridge, w_ref, factor=None):
        self.A, self.b, self.ridge, self.w_ref = A, b, ridge, w_ref
        self.C = np.asarray(C, dtype=np.int64)
        self.AC = np.asfortranarray(K.gather_columns(A, self.C).astype(np.float64))
        self.w_ref_c = w_ref[self.C] if w_ref is not None else np.zeros(self.C.size)
        self.refresh(S, factor)

    def refresh(self, S, factor=None):
        """Recompute every maintained quantity for support S (sorted); ``factor`` is
        ``support_factor(A, b, S, ...)`` when the caller already has it."""
        self.S = np.asarray(S, dtype=np.int64)
        if factor is None:
            factor = support_factor(self.A, self.b, self.S, self.ridge, self.w_ref)
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
        return 0.5 * self.ridge * (float(self.c @ self.u) + self.ref_out)

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


def _candidates(A, b, S, w, ridge, w_ref, col_sq, n_remove, n_add):
    """Pool for one round: the n_remove support members with the smallest exact removal cost
    and the n_add outside columns with the largest exact addition gain. Also returns the
    support's ``support_factor``, which the pool reuses."""
    p = A.shape[1]
    factor = support_factor(A, b, S, ridge, w_ref)
    AS, _, L, u = factor
    X = sla.solve_triangular(L, AS, lower=True, check_finite=False)
    q = np.einsum("ij,ij->j", X, X)
    minv = np.maximum((1.0 - q) / ridge, np.finfo(float).tiny)
    removal = 0.5 * w[S] ** 2 / minv
    members = S[np.argsort(removal, kind="stable")[: min(n_remove, S.size)]]
    # exact addition gains g_j^2 / (2 s_j), s_j = ridge (1 + a_j^T K^-1 a_j), for every column:
    # with a small ridge s_j ranges from ridge to ||a_j||^2, so no cheaper proxy ranks them
    g = -ridge * (K.rmatvec(A, u) + (w_ref if w_ref is not None else 0.0))
    # (a ranking only, so the triangular solves run in A's precision: float32 halves their cost)
    gain = g * g / woodbury_sq_norms(A, L, ridge, dtype=A.dtype)
    gain[S] = -1.0
    m = min(n_add, p - S.size)
    entrants = np.argpartition(-gain, m - 1)[:m] if m > 0 else np.zeros(0, dtype=np.int64)
    return np.concatenate([members, entrants]), factor


def woodbury_swap_search(
    A: np.ndarray,
    b: np.ndarray,
    k: int,
    w: np.ndarray,
    f: float,
    *,
    ridge: float,
    w_ref: np.ndarray | None = None,
    col_sq: np.ndarray | None = None,
    n_remove: int = WOODBURY_POOL_REMOVE,
    n_add: int = WOODBURY_POOL_ADD,
    max_moves: int = WOODBURY_MOVES,
    max_rounds: int = LARGE_SEARCH_ROUNDS,
    refresh_every: int = WOODBURY_POOL_REFRESH,
    rtol: float = SWAP_RTOL,
    log=None,
) -> SwapResult:
    """Swap search over candidate pools in the Woodbury space (``ridge > 0``).

    ``w`` must be the exact minimiser on its support. Returns the best point found, with
    ``swap_optimal=False`` (pools do not cover every pair).
    """
    if ridge <= 0:
        raise ValueError("woodbury_swap_search needs ridge > 0.")
    if col_sq is None:
        col_sq = K.col_sq_norms(A)
    history = [f]
    n_swaps = n_adds = 0
    w = w.copy()
    eps = SWAP_COLLINEAR_RTOL
    for rnd in range(1, max_rounds + 1):
        S = np.flatnonzero(w)
        C, factor = _candidates(A, b, S, w, ridge, w_ref, col_sq, n_remove, n_add)
        pool = _Pool(A, b, S, C, ridge, w_ref, factor)
        support = set(S.tolist())
        moves = 0
        while moves < max_moves:
            can_add = len(support) < k
            i, j, delta = K.best_pool_move(
                pool.Z, pool.member, pool.w_ref_c, pool.v, col_sq[pool.C], ridge, can_add, eps
            )
            if j < 0 or delta >= -rtol * abs(f):
                break
            if i >= 0:
                pool.remove(i)
                support.discard(int(pool.C[i]))
                n_swaps += 1
            else:
                n_adds += 1
            pool.add(j)
            support.add(int(pool.C[j]))
            moves += 1
            if pool.moves >= refresh_every:
                pool.refresh(sorted(support))
        S_new = np.array(sorted(support), dtype=np.int64)
        wS, f_new = backsolve_arrays(A, b, S_new, ridge, w_ref)
        if log is not None:
            log(f"woodbury swap round {rnd}: {moves} moves, F {f:.8g} -> {f_new:.8g}")
        if not f_new < f - rtol * abs(f):
            break
        w = np.zeros(A.shape[1])
        w[S_new] = wS
        f = f_new
        history.append(f)
        if moves == 0:
            break
    return SwapResult(w, f, history, n_swaps, n_adds, False)
