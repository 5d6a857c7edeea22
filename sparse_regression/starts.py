"""Cheap starting supports for the swap search (a portfolio: each start is descended, the best
end point kept).

All work on the ridge problem through its augmented columns ``a~_j = [a_j; sqrt(ridge) e_j]``
and ``b~ = [b; sqrt(ridge) w_ref]``, so ``F(w) = 1/2 ||A~ w - b~||^2``:

* :func:`omp_start`: orthogonal matching pursuit over all p columns. Step t picks the column
  of largest correlation with the residual, ``|g_j|`` (scikit-learn's rule: columns are not
  normalised, so on unit-norm columns it is the normalised rule too), and refits exactly;
  the Cholesky factor ``L L^T = A~_S^T A~_S`` grows by one row per step (O(n s)), and with
  ``z = L^-1 A~_S^T b~`` the objective is ``F = 1/2 ||b~||^2 - 1/2 ||z||^2``. One full
  product ``A^T r`` per step: O(k n p) in all.
* :func:`screening_start`: the k columns of largest ``g_j^2 / ||a~_j||^2`` at w = 0 (sure
  independence screening), refitted.
* :func:`splicing_start`: abess's splicing descent from the screening support. Each iteration
  computes the backward sacrifices ``||a~_i||^2 w_i^2 / 2`` (support) and forward sacrifices
  ``g_j^2 / (2 ||a~_j||^2)`` (outside), exchanges the C cheapest members for the C best
  outsiders for C = 1..c_max, refits each exactly and takes the best if it lowers F. Its
  heuristic exchange scores lead to other basins than the exact swap search does (on
  correlated designs each wins on some instances), so it is a start of the portfolio.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg as sla

from . import _kernels as K
from ._start_kernels import forward_path, lockstep_starts, omp_path, splicing_path
from .backsolve import backsolve_support
from .constants import (
    SPLICING_MAX_EXCHANGE,
    SPLICING_MAX_ITER,
    SWAP_COLLINEAR_RTOL,
    SWAP_PIVOT_RTOL,
    SWAP_RTOL,
)
from .quadratic import Quadratic

__all__ = [
    "portfolio_starts",
    "forward_start",
    "omp_start",
    "screening_start",
    "splicing_start",
]

_EPS_COLLINEAR = SWAP_COLLINEAR_RTOL


def _refit(q: Quadratic, S: np.ndarray) -> tuple[np.ndarray, float]:
    """``(w, F(w))`` with ``w`` the exact minimiser on the support S (any order)."""
    w = np.zeros(q.n_features)
    if S.size == 0:
        return w, q.f_zero
    S = np.sort(S)
    wS, f = backsolve_support(q, S)
    w[S] = wS
    return w, f


def _on_gram_rows(path, gram, k: int, At: np.ndarray, *args) -> np.ndarray:
    """Support chosen by a start's compiled path, its Gram rows taken from (and left in) the
    swap search's cache ``gram`` (a :class:`~.swaps.GramRows`), or from private rows when
    there is no cache or it cannot make room for k rows."""
    if gram is not None:
        gram.reserve(k)  # a start adds at most k rows
        S, gram.count, complete = path(At, *args, gram.rows, gram.slot, gram.count)
        if complete:
            return S
    p = At.shape[0]
    rows = np.empty((min(k, p), p))
    return path(At, *args, rows, np.full(p, -1, dtype=np.int64), 0)[0]


def omp_start(q: Quadratic, k: int, gram=None) -> tuple[np.ndarray, float]:
    """OMP to k nonzeros (fewer if the remaining columns are collinear with the chosen ones).

    Returns ``(w, F(w))`` with ``w`` the exact minimiser on its support. Compiled
    (:func:`~._start_kernels.omp_path`) when A is float64 stored column-major, its products
    taken from the Gram rows of the chosen columns: given the swap search's row cache
    ``gram``, rows other starts or descents computed are reused, and the rows computed here
    are left for them.
    """
    At = K.columns_as_rows(q.A)
    if At is None:
        return _omp_start_python(q, k)
    S = _on_gram_rows(omp_path, gram, k, At, q.rhs, q.col_sq + q.ridge, k, _EPS_COLLINEAR)
    return _refit(q, S)


def forward_start(q: Quadratic, k: int, gram=None) -> tuple[np.ndarray, float] | None:
    """Exact forward selection to k nonzeros: each step adds the column whose exact refit
    lowers F most, ``argmax_j c_j^2 / s_j`` (``c_j = a~_j^T r~``, ``s_j`` the squared norm of
    ``a~_j`` orthogonal to the chosen columns). The swap search's additions make the same
    choices; this compiled path (:func:`~._start_kernels.forward_path`) costs one Gram row
    (reused from, and left in, the cache ``gram`` when given) and O(s p) per step instead of
    the swap search's factor updates. Returns ``(w, F(w))``, ``w`` exact on its support, or
    None unless A is float64 stored column-major (then the swap search adds from 0)."""
    At = K.columns_as_rows(q.A)
    if At is None:
        return None
    args = (q.rhs, q.col_sq + q.ridge, q.ridge, k, _EPS_COLLINEAR)
    return _refit(q, _on_gram_rows(forward_path, gram, k, At, *args))


def portfolio_starts(q: Quadratic, k: int, gram=None, *, splicing: bool = False) -> dict:
    """``{"forward": forward_start(q, k, gram), "omp": omp_start(q, k, gram)}``, with
    ``"splicing": splicing_start(q, k)`` when ``splicing``, computed in lockstep
    (:func:`~._start_kernels.lockstep_starts`) when A is float64 stored column-major and the
    cache ``gram`` has room: the Gram rows the first two need and splicing's correlations
    come from shared passes over A (up to three products per pass), so the three cost about
    the passes of forward selection alone."""
    At = K.columns_as_rows(q.A)
    if At is not None and gram is not None:
        gram.reserve(3 * k)  # the greedy starts add at most 2 k rows, splicing's support k
        scale = q.col_sq + q.ridge
        if splicing and k <= q.n_samples:
            S0, w0, f0, w_ref = _splicing_from(q, k)
        else:  # splicing not run in lockstep: no screening refit to pay for
            S0, w0, f0, w_ref = (
                np.zeros(0, dtype=np.int64),
                np.zeros(0),
                q.f_zero,
                np.zeros(q.n_features),
            )
        S_f, S_o, S_sp, gram.count, complete_f, complete_o = lockstep_starts(
            At, q.rhs, scale, q.ridge, k, _EPS_COLLINEAR, gram.rows, gram.slot, gram.count,
            np.asarray(q.b, dtype=np.float64), q.ref_term, w_ref, q.ref_sq, q.const,
            S0, w0, f0, SPLICING_MAX_EXCHANGE, SPLICING_MAX_ITER, SWAP_RTOL, SWAP_PIVOT_RTOL,
        )  # fmt: skip
        if complete_f and complete_o:
            out = {"forward": _refit(q, S_f), "omp": _refit(q, S_o)}
            if splicing:
                # (not run in lockstep for an empty screening support or k > n)
                out["splicing"] = (
                    _splicing_result(q, S_sp, w0, f0, S0) if S0.size else splicing_start(q, k)
                )
            return out
    out = {"forward": forward_start(q, k, gram=gram), "omp": omp_start(q, k, gram=gram)}
    if splicing:
        out["splicing"] = splicing_start(q, k)
    return out


def _omp_start_python(q: Quadratic, k: int) -> tuple[np.ndarray, float]:
    """:func:`omp_start` in NumPy (any storage order; the reference of the compiled loop)."""
    A, ridge = q.A, q.ridge
    n, p = A.shape
    scale = q.col_sq + ridge
    ref_term = q.ref_term
    b = np.asarray(q.b, dtype=np.float64)
    k = min(k, p)
    L = np.zeros((k, k))
    AS = np.zeros((n, k))
    z = np.zeros(k)
    S: list[int] = []
    blocked = np.zeros(p, dtype=np.bool_)
    blocked[scale <= 0] = True
    r = b.copy()  # b - A_S w_S
    wS = np.zeros(0)
    while len(S) < k:
        c = K.rmatvec(A, r) + ref_term  # -g: A^T (b - A w) + ridge (w_ref - w) off S
        score = np.where(blocked, -1.0, c * c)
        j = int(np.argmax(score))
        if score[j] <= 0.0:
            break
        s = len(S)
        aj = K.gather_columns(A, np.array([j], dtype=np.int64))[:, 0].astype(np.float64)
        v = AS[:, :s].T @ aj
        l = sla.solve_triangular(L[:s, :s], v, lower=True, check_finite=False) if s else v
        d2 = scale[j] - float(l @ l)
        blocked[j] = True
        if d2 <= _EPS_COLLINEAR * scale[j]:
            continue  # in the span of the chosen columns: never pick it again
        d = np.sqrt(d2)
        L[s, :s] = l
        L[s, s] = d
        AS[:, s] = aj
        rhs_j = float(aj @ b) + ref_term[j]
        z[s] = (rhs_j - float(l @ z[:s])) / d
        S.append(j)
        Ls = L[: s + 1, : s + 1]
        wS = sla.solve_triangular(Ls.T, z[: s + 1], lower=False, check_finite=False)
        r = b - AS[:, : s + 1] @ wS
    # one exact refit on the sorted support (the incremental factor drifts slightly)
    return _refit(q, np.asarray(S, dtype=np.int64))


def screening_start(q: Quadratic, k: int) -> tuple[np.ndarray, float]:
    """The k columns of largest ``g_j^2 / ||a~_j||^2`` at ``w = 0``, refitted exactly."""
    p = q.n_features
    c = q.rhs
    scale = q.col_sq + q.ridge
    score = np.zeros(p)
    ok = scale > 0
    score[ok] = c[ok] ** 2 / scale[ok]
    S = K.topk_abs(score, min(k, p))
    return _refit(q, S[score[S] > 0])


def splicing_start(
    q: Quadratic,
    k: int,
    *,
    c_max: int = SPLICING_MAX_EXCHANGE,
    max_iter: int = SPLICING_MAX_ITER,
) -> tuple[np.ndarray, float]:
    """abess-style splicing descent from :func:`screening_start`; ``(w, F(w))``, ``w`` exact
    on its support. Compiled (:func:`~._start_kernels.splicing_path`) when A is float64
    stored column-major and ``k <= n``; an exchange whose refit is numerically singular is then
    skipped rather than refitted by least squares."""
    At = K.columns_as_rows(q.A)
    if At is None or k > q.n_samples:
        return _splicing_start_python(q, k, c_max=c_max, max_iter=max_iter)
    S0, w0, f0, w_ref = _splicing_from(q, k)
    S = splicing_path(
        At, np.asarray(q.b, dtype=np.float64), q.rhs, q.ref_term, w_ref, q.ridge, q.ref_sq,
        q.const, q.col_sq + q.ridge, S0, w0, f0, c_max, max_iter, SWAP_RTOL, SWAP_PIVOT_RTOL,
    )  # fmt: skip
    return _splicing_result(q, S, w0, f0, S0)


def _splicing_from(q: Quadratic, k: int):
    """Splicing's starting point (the screening support ``S0``, its exact coefficients
    ``w0`` and ``F = f0``) and the ``w_ref`` its refits use."""
    w, f = screening_start(q, k)
    S0 = np.flatnonzero(w)
    w_ref = q.w_ref if (q.ridge and q.w_ref is not None) else np.zeros(q.n_features)
    return S0, w[S0], f, w_ref


def _splicing_result(q: Quadratic, S, w0, f0, S0) -> tuple[np.ndarray, float]:
    """The splicing path's final support refitted, or its start where that is not lower."""
    w_new, f_new = _refit(q, S)
    f_new = q.value(w_new)  # from the residual: a start never claims a lower F than it has
    if f_new < f0:
        return w_new, f_new
    w = np.zeros(q.n_features)
    w[S0] = w0
    return w, f0


def _splicing_start_python(
    q: Quadratic, k: int, *, c_max: int, max_iter: int
) -> tuple[np.ndarray, float]:
    """:func:`splicing_start` in NumPy (any storage order, any k)."""
    p = q.n_features
    w, f = screening_start(q, k)
    scale = q.col_sq + q.ridge
    safe = np.where(scale > 0, scale, 1.0)
    for _ in range(max_iter):
        S = np.flatnonzero(w)
        if S.size == 0 or S.size >= p:
            break
        g = q.gradient(w)
        back = 0.5 * scale[S] * w[S] ** 2
        fwd = np.where(scale > 0, 0.5 * g * g / safe, -1.0)
        fwd[S] = -1.0
        order_in = S[np.argsort(back, kind="stable")]
        c_top = min(c_max, S.size, p - S.size)
        top = np.argpartition(-fwd, c_top - 1)[:c_top]
        top = top[np.argsort(-fwd[top], kind="stable")]
        best = None
        best_f = f - SWAP_RTOL * abs(f)
        for c in range(1, c_top + 1):
            S_new = np.sort(np.concatenate([order_in[c:], top[:c]]))
            wS, f_new = backsolve_support(q, S_new)
            if f_new < best_f:
                best_f, best = f_new, (S_new, wS)
        if best is None:
            break
        w_new = np.zeros(p)
        w_new[best[0]] = best[1]
        # F from the residual: the backsolve's own value can disagree on degenerate supports
        # (zero or duplicated columns with |S| > n), and a start must never claim a lower F.
        f_new = q.value(w_new)
        if not f_new < f:
            break
        w, f = w_new, f_new
    return w, f
