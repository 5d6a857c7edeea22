"""Exact minimisation of F on a fixed support.

On a support S the problem is an unconstrained ridge regression,

    (A_S^T A_S + ridge I) w_S = A_S^T b + ridge w_ref_S,

solved in the smaller of the two spaces:

* ``|S| <= n``: Cholesky of the s x s matrix above;
* ``|S| > n``: through the n x n matrix ``K = A_S A_S^T + ridge I`` (Woodbury),

      w_S = w_ref_S + A_S^T K^{-1} (b - A_S w_ref_S),

  which for ``ridge = 0`` is the minimum-norm least-squares solution ``A_S^+ b``
  (``A_S^+ = A_S^T (A_S A_S^T)^+``). No s x s matrix is formed when s > n, whatever the ridge.

A numerically singular system (``ridge = 0`` with zero, duplicated or collinear columns; a
ridge negligible against the columns' scale) falls back to least squares on column-equilibrated
data, so a degenerate support never produces NaN and columns scaled by 1e6 or 1e-6 are judged
each on its own scale. The objective is computed from the residual ``A_S w_S - b`` in float64,
never from an expansion of the quadratic (which cancels catastrophically on scaled data).
"""

from __future__ import annotations

import numpy as np
import scipy.linalg as sla

from . import _kernels as K
from .constants import BACKSOLVE_SINGULAR_RTOL, COMPILED_FIT_MAX_SUPPORT
from .problem import SparseProblem
from .quadratic import Quadratic

__all__ = ["backsolve", "backsolve_support", "support_values"]


def _cholesky_or_none(M: np.ndarray):
    d = np.diag(M)
    if not np.all(d > 0):
        return None
    try:
        c, low = sla.cho_factor(M, lower=True, check_finite=False)
    except np.linalg.LinAlgError:
        return None
    if not np.all(np.diag(c) ** 2 > BACKSOLVE_SINGULAR_RTOL * d):
        return None
    return c, low


def _column_scales(X: np.ndarray) -> np.ndarray:
    d = np.sqrt(np.einsum("ij,ij->j", X, X))
    d[~(d > 0)] = 1.0
    return d


def _least_squares(AS, b, ridge, ref_S):
    """Least squares on the (augmented) system, in the smaller space: ``lstsq`` on
    equilibrated columns when s <= n, the thin SVD of ``A_S`` (n x s) when s > n."""
    n, s = AS.shape
    if s <= n:
        if ridge:
            root = np.sqrt(ridge)
            X = np.vstack([AS, root * np.eye(s)])
            y = np.concatenate([b, root * ref_S if ref_S is not None else np.zeros(s)])
        else:
            X, y = AS, b
        d = _column_scales(X)
        # singular values below max(shape) eps sig_max are rounding (numpy's lstsq default;
        # scipy's eps alone keeps the 1e-16 left by exactly duplicated columns -> w ~ 1e14)
        cond = max(X.shape) * np.finfo(float).eps
        return sla.lstsq(X / d, y, cond=cond, lapack_driver="gelsd", check_finite=False)[0] / d
    # s > n: the thin SVD A_S = U diag(sig) V^T (n x s, memory O(n s)) gives both cases
    # without squaring the condition number as the n x n Gram would
    c = b - AS @ ref_S if ref_S is not None else b
    if ridge:
        U, sig, Vt = sla.svd(AS, full_matrices=False, check_finite=False)
        wS = Vt.T @ ((sig / (sig * sig + ridge)) * (U.T @ c))
        return wS + ref_S if ref_S is not None else wS
    # ridge = 0: any least-squares solution has the same F; equilibrated columns keep every
    # column's scale, and singular values below max(n, s) eps sig_max are numerically zero
    # (numpy's lstsq default; with n eps, 55 identical columns of a 2-row A kept a rounding
    # singular value of 7e-16 sig_max and gave w ~ 5e13 with a worse F: fuzz case 481527)
    d = _column_scales(AS)
    U, sig, Vt = sla.svd(AS / d, full_matrices=False, check_finite=False)
    keep = sig > (sig[0] if sig.size else 0.0) * max(n, s) * np.finfo(float).eps
    y = Vt[keep].T @ ((U[:, keep].T @ c) / sig[keep])
    return y / d


def _compiled_fit(q: Quadratic) -> tuple[np.ndarray | None, int]:
    """``(A.T, largest support)`` for the compiled normal-equations fit (float64 A stored
    column-major, float64 b, supports up to ``min(n, COMPILED_FIT_MAX_SUPPORT)``), else
    ``(None, 0)``."""
    At = K.columns_as_rows(q.A)
    if At is None or q.b.dtype != np.float64:
        return None, 0
    return At, min(q.A.shape[0], COMPILED_FIT_MAX_SUPPORT)


def backsolve_support(q: Quadratic, support: np.ndarray) -> tuple[np.ndarray, float]:
    """Exact minimiser of the quadratic ``q`` restricted to ``support``.

    Returns ``(w_S, objective)``: the coefficients on ``support`` (same order) and F at the
    full vector that equals ``w_S`` on the support and 0 elsewhere (including the ridge term
    of the coordinates outside the support and ``q.const``). Memory: O(n s + min(n, s)^2).
    """
    A, b, ridge = q.A, q.b, q.ridge
    w_ref = q.w_ref if ridge else None
    support = np.asarray(support, dtype=np.int64)
    s = support.shape[0]
    n = A.shape[0]
    if s == 0:
        return np.zeros(0), q.f_zero
    ref_S = w_ref[support] if (w_ref is not None and ridge) else None
    At, limit = _compiled_fit(q)
    if s <= limit:
        # float64 column-major A, small supports: one compiled call instead of a dozen
        # NumPy/SciPy calls (half the time at s = 30; the swap search's exact checkpoints and
        # splicing call this thousands of times). LAPACK's factorisation wins above.
        ok, wS, ASwS = K.support_fit(At, b, support, ridge, ref_S)
        if ok and np.all(np.isfinite(wS)):
            return wS, q.support_value(support, wS, ASwS)
    wS = None
    AS = K.gather_columns(A, support).astype(np.float64, copy=False)
    if s > n:
        if ridge > 0:
            c = b - AS @ ref_S if ref_S is not None else b.copy()
            Kmat = AS @ AS.T
            Kmat[np.diag_indices_from(Kmat)] += ridge
            fac = _cholesky_or_none(Kmat)
            if fac is not None:
                wS = AS.T @ sla.cho_solve(fac, c, check_finite=False)
                if ref_S is not None:
                    wS += ref_S
    else:
        M = AS.T @ AS
        rhs = AS.T @ b
        if ridge:
            M[np.diag_indices_from(M)] += ridge
            if ref_S is not None:
                rhs += ridge * ref_S
        fac = _cholesky_or_none(M)
        if fac is not None:
            wS = sla.cho_solve(fac, rhs, check_finite=False)
    if wS is None or not np.all(np.isfinite(wS)):
        wS = _least_squares(AS, b, ridge, ref_S)

    return wS, q.support_value(support, wS, AS @ wS)


def support_values(q: Quadratic, supports: list[np.ndarray]) -> np.ndarray:
    """F at the exact minimiser on each (sorted) support, as :func:`backsolve_support` gives
    it, from one compiled call; NaN for the supports it does not cover (A not float64
    column-major, a support above ``min(n, COMPILED_FIT_MAX_SUPPORT)`` or numerically
    singular): the caller backsolves those one by one. For the m trial supports of splicing,
    where a call per support costs more in Python than the fit itself."""
    ridge = q.ridge
    out = np.full(len(supports), np.nan)
    At, limit = _compiled_fit(q)
    use = [i for i, S in enumerate(supports) if 0 < len(S) <= limit]
    if not use:
        return out
    flat = np.concatenate([np.asarray(supports[i], dtype=np.int64) for i in use])
    offsets = np.zeros(len(use) + 1, dtype=np.int64)
    np.cumsum([len(supports[i]) for i in use], out=offsets[1:])
    for lo, hi in zip(offsets[:-1], offsets[1:], strict=True):
        flat[lo:hi].sort()
    w_ref = q.w_ref if (ridge and q.w_ref is not None) else np.zeros(0)
    ok, rss, pen, ref_sq = K.support_fit_values(At, q.b, flat, offsets, ridge, w_ref)
    f = q.support_value_from_sums(rss, pen, ref_sq)
    out[np.asarray(use)[ok]] = f[ok]
    return out


def backsolve(problem: SparseProblem, support) -> np.ndarray:
    """Coefficient vector (length p) minimising F with nonzeros only on ``support``."""
    support = np.unique(np.asarray(support, dtype=np.int64))
    if support.size and (support[0] < 0 or support[-1] >= problem.n_features):
        raise ValueError(f"support indices must lie in [0, {problem.n_features}).")
    wS, _ = backsolve_support(problem.quadratic, support)
    w = np.zeros(problem.n_features)
    w[support] = wS
    return w
