"""Swap search for large problems: exact moves on a working set, checked against all columns.

The exact swap search of :mod:`local_search` keeps ``s x p`` arrays; when ``k p`` is large (as in
pruning) it runs instead on a working set ``W`` of columns: the support plus the outside
columns that could improve the objective the most. Which columns those are is known exactly:
for any support member ``i``, swapping in ``j`` lowers F by at most

    g_j^2 / (2 s_j),

the exact gain of *adding* ``j`` (``s_j`` the squared norm of ``a~_j`` orthogonal to the
support), by Cauchy-Schwarz on the swap score of :mod:`local_search`. So after each round on
``W`` one full gradient and the orthogonal norms of all columns either certify that no single
swap or addition anywhere improves F (the point is swap-optimal over all ``p`` columns) or
name the columns to bring into ``W`` for the next round. ``solve`` labels a certified result
"swap-optimal" (docs/algorithms.md, section 4c).

The orthogonal norms cost one ``n x n`` factorisation and an ``O(n^2 p)`` triangular solve when
``ridge > 0`` and the support is large (``s_j = ridge (1 + a_j^T K^-1 a_j)``,
``K = ridge I + A_S A_S^T``), or ``O(s n p)`` through ``A_S^T A`` otherwise.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg as sla

from .. import _kernels as K
from ..constants import (
    LARGE_SEARCH_ROUNDS,
    SWAP_RTOL,
    WORKING_SET_EXACT_EVERY,
    WORKING_SET_SCREEN_RTOL,
)
from ..quadratic import Quadratic
from ..woodbury import column_chunks, ridge_gram_cholesky, woodbury_sq_norms
from .single import GramRows, SwapResult, swap_search

__all__ = ["orthogonal_sq_norms", "working_set_swap_search"]


def orthogonal_sq_norms(q: Quadratic, support) -> np.ndarray:
    """``s_j = min_x ||a~_j - A~_S x||^2`` for every column (0 on the support), float64.

    ``a~_j = [a_j; sqrt(ridge) e_j]`` are the augmented columns of the ridge problem ``q``.
    """
    A, ridge, col_sq = q.A, q.ridge, q.col_sq
    n, p = A.shape
    S = np.asarray(support, dtype=np.int64)
    s = S.size
    out = np.empty(p)
    if s == 0:
        out[:] = col_sq + ridge
        return out
    AS = K.gather_columns(A, S).astype(np.float64)
    if ridge > 0 and 2 * s >= n:
        # Woodbury: s_j = ridge (1 + a_j^T (ridge I + A_S A_S^T)^-1 a_j).
        out[:] = woodbury_sq_norms(A, ridge_gram_cholesky(AS, ridge), ridge)
    else:
        M = AS.T @ AS
        M[np.diag_indices(s)] += ridge
        L = sla.cholesky(M, lower=True, check_finite=False)
        ASt = np.ascontiguousarray(AS.T)
        for c in column_chunks(p, n):
            Hc = ASt @ A[:, c].astype(np.float64)
            X = sla.solve_triangular(L, Hc, lower=True, check_finite=False)
            out[c] = col_sq[c] + ridge - np.einsum("ij,ij->j", X, X)
    out[S] = 0.0
    np.maximum(out, 0.0, out=out)
    return out


def working_set_swap_search(
    q: Quadratic,
    k: int,
    w: np.ndarray,
    f: float,
    *,
    size: int | None = None,
    max_rounds: int = LARGE_SEARCH_ROUNDS,
    max_moves: int | None = None,
    exact_every: int | None = None,
    rtol: float = SWAP_RTOL,
    log=None,
) -> SwapResult:
    """Swap search on working sets of about ``size`` columns, grown by the global bound.

    ``w`` must be an exact minimiser on its support. ``swap_optimal`` in the result means the
    last global check certified that no single swap or addition over all ``p`` columns lowers
    F by more than ``rtol |F|``.
    """
    A, ridge, col_sq = q.A, q.ridge, q.col_sq
    n, p = A.shape
    if size is None:
        size = min(p, 2 * k + 100)
    if exact_every is None:
        exact_every = 1 if k <= n else WORKING_SET_EXACT_EVERY
    history = [f]
    n_swaps = n_adds = 0
    certified = False
    w = w.copy()
    for rnd in range(1, max_rounds + 1):
        S = np.flatnonzero(w)
        g = q.gradient(w, K.matvec_cols(A, S, w[S]))
        s_out = orthogonal_sq_norms(q, S)
        gain = np.zeros(p)
        ok = s_out > WORKING_SET_SCREEN_RTOL * (col_sq + ridge)
        gain[ok] = g[ok] ** 2 / (2.0 * s_out[ok])
        gain[S] = 0.0
        best = float(gain.max())
        if log is not None:
            log(f"working-set round {rnd}: F={f:.8g}, largest outside gain bound {best:.3g}")
        if best <= rtol * abs(f):
            certified = True
            break
        m = max(0, min(p, size) - S.size)
        cand = np.argpartition(-gain, m - 1)[:m] if m else np.zeros(0, dtype=np.int64)
        cand = cand[gain[cand] > 0]
        W = np.union1d(S, cand)
        sub = q.restrict(W)
        res = swap_search(
            sub,
            k,
            w[W],
            f,
            gram=GramRows(sub.A, max_rows=2 * k + 16),
            max_moves=max_moves,
            exact_every=exact_every,
            rtol=rtol,
        )
        n_swaps += res.n_swaps
        n_adds += res.n_adds
        if not res.objective < f - rtol * abs(f):
            break  # no improving move among the best candidates
        w = np.zeros(p)
        w[W] = res.coef
        f = res.objective
        history.extend(res.history[1:])
    return SwapResult(w, f, history, n_swaps, n_adds, certified)
