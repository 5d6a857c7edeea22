"""Exact minimisation of F on a fixed support.

On a support S the problem is an unconstrained ridge regression,

    (A_S^T A_S + ridge I) w_S = A_S^T b + ridge w_ref_S,

solved by Cholesky when |S| <= n, by the Woodbury identity through an n x n system when
|S| > n and ridge > 0,

    w_S = w_ref_S + A_S^T (A_S A_S^T + ridge I)^{-1} (b - A_S w_ref_S),

and by least squares (minimum-norm) when the system is singular (ridge = 0 and A_S
rank-deficient), so a degenerate support never produces NaN.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg as sla

from . import _kernels as K
from .constants import BACKSOLVE_SINGULAR_RTOL
from .problem import SparseProblem

__all__ = ["backsolve", "backsolve_arrays"]


def _cholesky_or_none(M: np.ndarray):
    try:
        c, low = sla.cho_factor(M, lower=True, check_finite=False)
    except np.linalg.LinAlgError:
        return None
    piv = np.diag(c) ** 2
    if piv.min() <= BACKSOLVE_SINGULAR_RTOL * max(float(np.max(np.diag(M))), np.finfo(float).tiny):
        return None
    return c, low


def backsolve_arrays(
    A: np.ndarray,
    b: np.ndarray,
    support: np.ndarray,
    ridge: float = 0.0,
    w_ref: np.ndarray | None = None,
) -> tuple[np.ndarray, float]:
    """Exact minimiser of F restricted to ``support``.

    Returns ``(w_S, objective)``: the coefficients on ``support`` (same order) and F at the
    full vector that equals ``w_S`` on the support and 0 elsewhere (including the ridge term
    of the coordinates outside the support).
    """
    support = np.asarray(support, dtype=np.int64)
    s = support.shape[0]
    n = A.shape[0]
    ref_out = 0.0
    if w_ref is not None and ridge:
        ref_out = float(w_ref @ w_ref) - float(w_ref[support] @ w_ref[support])
        ref_out = max(ref_out, 0.0)
    if s == 0:
        return np.zeros(0), 0.5 * float(b @ b) + 0.5 * ridge * ref_out
    AS = K.gather_columns(A, support).astype(np.float64, copy=False)
    ref_S = w_ref[support] if (w_ref is not None and ridge) else None

    wS = None
    if ridge > 0 and s > n:
        c = b - AS @ ref_S if ref_S is not None else b.copy()
        Kmat = AS @ AS.T
        Kmat[np.diag_indices_from(Kmat)] += ridge
        fac = _cholesky_or_none(Kmat)
        if fac is not None:
            wS = AS.T @ sla.cho_solve(fac, c, check_finite=False)
            if ref_S is not None:
                wS += ref_S
    elif s <= n or ridge == 0:
        M = AS.T @ AS
        rhs = AS.T @ b
        if ridge:
            M[np.diag_indices_from(M)] += ridge
            if ref_S is not None:
                rhs += ridge * ref_S
        fac = _cholesky_or_none(M) if s <= n or ridge else None
        if fac is not None:
            wS = sla.cho_solve(fac, rhs, check_finite=False)
    if wS is None:
        # Singular or ill-conditioned: least squares on the augmented system.
        if ridge:
            root = np.sqrt(ridge)
            Aaug = np.vstack([AS, root * np.eye(s)])
            baug = np.concatenate([b, root * ref_S if ref_S is not None else np.zeros(s)])
        else:
            Aaug, baug = AS, b
        wS = sla.lstsq(Aaug, baug, lapack_driver="gelsd", check_finite=False)[0]

    r = AS @ wS - b
    f = 0.5 * float(r @ r)
    if ridge:
        d = wS - ref_S if ref_S is not None else wS
        f += 0.5 * ridge * (float(d @ d) + ref_out)
    return wS, f


def backsolve(problem: SparseProblem, support) -> np.ndarray:
    """Coefficient vector (length p) minimising F with nonzeros only on ``support``."""
    support = np.unique(np.asarray(support, dtype=np.int64))
    if support.size and (support[0] < 0 or support[-1] >= problem.n_features):
        raise ValueError(f"support indices must lie in [0, {problem.n_features}).")
    w_ref = problem.w_ref if problem.has_w_ref else None
    wS, _ = backsolve_arrays(problem.A, problem.b, support, problem.ridge, w_ref)
    w = np.zeros(problem.n_features)
    w[support] = wS
    return w
