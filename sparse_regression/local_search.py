"""Exact single-swap local search.

Write the ridge problem as plain least squares with augmented columns
``a~_j = [a_j; sqrt(ridge) e_j]`` and target ``b~ = [b; sqrt(ridge) w_ref]``. Let w be the exact
minimiser on a support S (|S| = s), ``M = A_S^T A_S + ridge I`` and ``r~ = b~ - A~ w``, so the
gradient is ``g_j = -a~_j^T r~`` and ``g_S = 0``.

* Removing i from S and refitting raises F by ``beta_i^2 / 2`` with
  ``beta_i = w_i / sqrt((M^-1)_ii)``; the residual moves along the unit vector
  ``v_i = A~_S M^-1 e_i / sqrt((M^-1)_ii)``, the part of column i orthogonal to the others.
* Adding j to ``S - i`` and refitting then lowers F by
  ``(beta_i T_ij - g_j)^2 / (2 (s_j + T_ij^2))``, with ``T_ij = v_i^T a~_j`` and
  ``s_j = ||a~_j||^2 - h_j^T M^-1 h_j`` the squared norm of column j orthogonal to S
  (``h_j = A~_S^T a~_j``).

So every swap (i, j) is scored exactly from ``H = A_S^T A`` (s x p), kept up to date one row per
swap, and ``Z = M^-1 H~`` (s x p): O(s^2 p) per move instead of O(s p) refits. The best
improving swap is applied, the new support is backsolved exactly (float64), and the move is
kept only if F really decreased. When ``s < k``, the best exact addition (orthogonal least
squares step) is made first. The search stops at a swap-optimal point: no single swap, and no
addition while s < k, decreases F.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg as sla

from . import _kernels as K
from .backsolve import backsolve_arrays

__all__ = ["SwapResult", "perturbation_search", "swap_search", "swap_search_cost"]

_EPS_COLLINEAR = 1e-10


@dataclass
class SwapResult:
    coef: np.ndarray
    objective: float
    history: list
    n_swaps: int
    n_adds: int
    swap_optimal: bool


def swap_search_cost(s: int, n: int, p: int) -> tuple[int, int]:
    """(bytes held, multiply-adds per move) of the swap search for a support of size s."""
    return 3 * 8 * s * p, s * s * p + n * p + s * s * n


def swap_search(
    A: np.ndarray,
    b: np.ndarray,
    k: int,
    w: np.ndarray,
    f: float,
    *,
    ridge: float = 0.0,
    w_ref: np.ndarray | None = None,
    col_sq: np.ndarray | None = None,
    Atb: np.ndarray | None = None,
    max_moves: int | None = None,
    rtol: float = 1e-10,
) -> SwapResult:
    """Swap (and fill) local search from ``w``, an exact minimiser on its support."""
    p = A.shape[1]
    if col_sq is None:
        col_sq = K.col_sq_norms(A)
    if Atb is None:
        Atb = K.rmatvec(A, b)
    scale = col_sq + ridge
    ref_term = (ridge * w_ref) if (ridge and w_ref is not None) else None
    if max_moves is None:
        max_moves = max(100, 10 * k)

    S = list(np.flatnonzero(w))
    w = w.copy()
    AS = K.gather_columns(A, np.asarray(S, dtype=np.int64))
    H = (AS.T @ A).astype(np.float64, copy=False) if S else np.zeros((0, p))
    H = np.ascontiguousarray(H)
    history = [f]
    n_swaps = n_adds = 0
    swap_optimal = False
    in_support = np.zeros(p, dtype=np.bool_)
    in_support[S] = True

    for _ in range(max_moves):
        s = len(S)
        Sarr = np.asarray(S, dtype=np.int64)
        wS = w[Sarr]
        # Gradient outside S: g = A^T (A w - b) + ridge (w - w_ref) = H^T w_S - A^T b - ridge w_ref.
        g = H.T @ wS - Atb if s else -Atb.copy()
        if ref_term is not None:
            g -= ref_term
        if s:
            Ht = H.copy()
            Ht[np.arange(s), Sarr] += ridge
            Mmat = Ht[:, Sarr]
            Mmat = 0.5 * (Mmat + Mmat.T)
            try:
                fac = sla.cho_factor(Mmat, lower=True, check_finite=False)
            except np.linalg.LinAlgError:
                break  # numerically singular support: nothing reliable to score
            Z = sla.cho_solve(fac, Ht, check_finite=False)
            proj = np.einsum("ij,ij->j", Ht, Z)
            s_out = scale - proj
            minv_diag = np.diag(sla.cho_solve(fac, np.eye(s), check_finite=False)).copy()
            minv_diag = np.maximum(minv_diag, np.finfo(float).tiny)
        else:
            s_out = scale.copy()

        tol_abs = rtol * max(abs(f), np.finfo(float).tiny)
        move = None
        if s < k:
            j, delta = K.best_add(g, s_out, scale, in_support, _EPS_COLLINEAR)
            if j >= 0 and delta < -tol_abs:
                move = (None, int(j))
        if move is None and s:
            root = np.sqrt(minv_diag)
            T = Z / root[:, None]
            beta = wS / root
            r, j, delta = K.best_swap(T, beta, g, s_out, scale, in_support, _EPS_COLLINEAR)
            if r >= 0 and delta < -tol_abs:
                move = (int(r), int(j))
        if move is None:
            swap_optimal = True
            break

        r, j = move
        S_new = list(S)
        if r is None:
            S_new.append(j)
        else:
            S_new[r] = j
        order = np.argsort(S_new)
        S_sorted = np.asarray(S_new, dtype=np.int64)[order]
        wS_new, f_new = backsolve_arrays(A, b, S_sorted, ridge, w_ref)
        if not f_new < f - tol_abs:
            # The score said "improves" but the exact refit disagrees: the remaining gains are
            # below the numerical resolution. Stop here.
            swap_optimal = True
            break
        new_row = K.rmatvec(A, K.gather_columns(A, np.array([j])).ravel().astype(np.float64))
        if r is None:
            H = np.vstack([H, new_row[None, :]])
            n_adds += 1
        else:
            in_support[S[r]] = False
            H[r] = new_row
            n_swaps += 1
        in_support[j] = True
        S = S_new
        w[:] = 0.0
        w[S_sorted] = wS_new
        f = f_new
        history.append(f)
    return SwapResult(w, f, history, n_swaps, n_adds, swap_optimal)


def perturbation_search(
    A: np.ndarray,
    b: np.ndarray,
    k: int,
    w: np.ndarray,
    f: float,
    *,
    rounds: int,
    rng: np.random.Generator,
    kick: int = 3,
    ridge: float = 0.0,
    w_ref: np.ndarray | None = None,
    col_sq: np.ndarray | None = None,
    Atb: np.ndarray | None = None,
    max_moves: int | None = None,
) -> tuple[np.ndarray, float, list]:
    """Iterated local search: kick the best swap-optimal point, descend again, keep the best.

    Each round replaces between 1 and ``kick`` (drawn uniformly) random members of the
    incumbent's support by random outside coordinates, backsolves, and runs
    :func:`swap_search` from there. Returns the best point,
    its objective and the incumbent objective after every improving round.
    """
    p = A.shape[1]
    improvements = []
    for _ in range(rounds):
        S = np.flatnonzero(w)
        m = min(int(rng.integers(1, kick + 1)) if kick > 1 else 1, S.size, p - S.size)
        if m == 0:
            break
        out = rng.choice(S, size=m, replace=False)
        outside = np.flatnonzero(~np.isin(np.arange(p), S))
        inn = rng.choice(outside, size=m, replace=False)
        S2 = np.sort(np.concatenate([np.setdiff1d(S, out), inn]))
        wS, f2 = backsolve_arrays(A, b, S2, ridge, w_ref)
        w2 = np.zeros(p)
        w2[S2] = wS
        res = swap_search(
            A, b, k, w2, f2, ridge=ridge, w_ref=w_ref, col_sq=col_sq, Atb=Atb, max_moves=max_moves
        )
        if res.objective < f - 1e-12 * abs(f):
            w, f = res.coef, res.objective
            improvements.append(f)
    return w, f, improvements
