"""Exact check of every single swap of a support, and splicing (several swaps at once).

For a support S with exact minimiser w (see :mod:`local_search` for the notation), removing
``i`` (row r) and adding ``j`` and refitting changes F by

    delta[r, j] = beta_r^2/2 - (beta_r T[r, j] - g_j)^2 / (2 (s_j + T[r, j]^2)),

and adding ``j`` alone (when |S| < k) by ``-g_j^2 / (2 s_j)``. :func:`check_swaps` evaluates
all of them from freshly computed factors (float64), and re-checks every candidate it finds
improving by an exact backsolve: the point is labelled swap-optimal only when no move lowers F
by more than ``rtol |F|``, and a verified improving move is handed back instead.

:func:`splice` is abess's splicing step with exact sacrifices: exchange the m support members
cheapest to remove (``beta_r^2 / 2``, the exact loss of removing one alone) with the m outside
columns whose exact single-addition gain ``g_j^2 / (2 s_j)`` (or plain correlation
``g_j^2 / ||a~_j||^2``) is largest, for m = 2, 3, 4, 6, 8, ... up to k / 2, refitting each
exactly. It moves several coordinates at once where every single swap stalls (strongly
correlated columns).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import _kernels as K
from .backsolve import backsolve_support, support_values
from .constants import SWAP_CHECK_MAX_VERIFY, SWAP_COLLINEAR_RTOL, SWAP_RTOL
from .quadratic import Quadratic
from .swaps.single import GramRows, _SupportState

__all__ = ["SwapCheck", "check_swaps", "splice"]

_EPS_COLLINEAR = SWAP_COLLINEAR_RTOL
MAX_VERIFY = SWAP_CHECK_MAX_VERIFY
#: Entries of the s x p score block evaluated at once.
_BLOCK = 2_000_000


@dataclass
class SwapCheck:
    """Outcome of :func:`check_swaps`.

    ``max_gain`` is the largest decrease of F found by one swap (or addition while |S| < k),
    exact where it was re-checked (<= 0: every move increases F; 0.0 when no move exists).
    ``optimal`` is True when no move lowers F by more than ``rtol |F|``. ``improved`` is
    ``(w, F)`` of a verified improving move, else None. ``g``, ``s_out`` and ``beta`` are the
    gradient, orthogonal squared norms and scaled coefficients used (for :func:`splice`).
    """

    max_gain: float
    optimal: bool
    improved: tuple | None
    support: np.ndarray
    g: np.ndarray | None = None
    s_out: np.ndarray | None = None
    beta: np.ndarray | None = None


def _exact(q, S):
    S = np.sort(np.asarray(S, dtype=np.int64))
    wS, f = backsolve_support(q, S)
    w = np.zeros(q.n_features)
    w[S] = wS
    return w, f


def check_swaps(
    q: Quadratic,
    k: int,
    w: np.ndarray,
    f: float,
    *,
    gram: GramRows | None = None,
    rtol: float = SWAP_RTOL,
) -> SwapCheck:
    """Evaluate every single swap (and addition while |S| < k) of ``w``'s support.

    ``w`` must be the exact minimiser on its support and ``f = F(w)``.
    """
    p = q.n_features
    if gram is None:
        gram = GramRows(q.A, max_rows=4 * k + 16)
    ridge = q.ridge
    col_sq, Atb, ref_term = q.col_sq, q.Atb, q.ref_term
    scale = col_sq + ridge
    S = np.flatnonzero(w)
    s = S.size
    state = _SupportState(gram, [], max(k, 1), p, scale, ridge)
    state.S = [int(j) for j in S]
    if s:
        state.H[:s] = gram.get(state.S)
    if not state.refresh():
        return SwapCheck(np.nan, False, None, S)
    H, Z = state.H[:s], state.Z[:s]
    wS = w[S]
    g, s_out = K.swap_gradient_and_residual_norms(H, Z, wS, Atb, ref_term, scale)
    outside = np.ones(p, dtype=np.bool_)
    outside[S] = False
    ok = outside & (s_out > _EPS_COLLINEAR * scale)
    tol = rtol * max(abs(f), np.finfo(float).tiny)
    tiny = np.finfo(float).tiny
    inv_root = 1.0 / np.sqrt(np.maximum(np.diag(state.Minv[:s, :s]), tiny)) if s else np.zeros(0)
    beta = wS * inv_root

    # candidates: (delta, r or -1 for an addition, j)
    cand_d, cand_r, cand_j = [], [], []
    best = -np.inf
    if s < k and np.any(ok):
        d_add = np.full(p, np.inf)
        d_add[ok] = -0.5 * g[ok] ** 2 / s_out[ok]
        best = max(best, -float(d_add.min()))
        hit = np.flatnonzero(d_add < -tol)
        cand_d.append(d_add[hit])
        cand_r.append(np.full(hit.size, -1))
        cand_j.append(hit)
    if s and Z.dtype == np.float64 and Z.flags.c_contiguous:
        # Compiled first: at a swap-optimal point (the usual case) no pair scores below -tol
        # and the minimum is all that is reported; else NumPy below lists the candidates.
        floor = np.where(ok, _EPS_COLLINEAR * scale, np.inf)
        d_min = K.swap_scores_min(Z, inv_root, beta, g, s_out, floor)
        if not d_min < -tol:
            if np.isfinite(d_min):
                best = max(best, -d_min)
            if not cand_d or sum(c.size for c in cand_d) == 0:
                return SwapCheck(best if np.isfinite(best) else 0.0, True, None, S, g, s_out, beta)
    rows = max(1, _BLOCK // max(p, 1))
    for lo in range(0, s, rows):
        hi = min(s, lo + rows)
        # float64 scores whatever A's dtype: float32 Gram rows of columns scaled by 1e6
        # overflow in T * T (fuzz case 98715)
        T = np.asarray(Z[lo:hi], dtype=np.float64) * inv_root[lo:hi, None]
        with np.errstate(over="ignore"):
            den = s_out[None, :] + T * T
        valid = ok[None, :] & np.isfinite(den) & (den > _EPS_COLLINEAR * scale[None, :])
        # entries may overflow (scaled columns, tiny ridge): non-finite scores are discarded
        # below, and every kept candidate is re-checked by an exact backsolve
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            num = beta[lo:hi, None] * T - g[None, :]
            delta = 0.5 * beta[lo:hi, None] ** 2 - 0.5 * num * num / den
        valid &= ~np.isnan(delta)
        delta[~valid] = np.inf
        if delta.size:
            best = max(best, -float(delta.min()))
        rr, jj = np.nonzero(delta < -tol)
        cand_d.append(delta[rr, jj])
        cand_r.append(rr + lo)
        cand_j.append(jj)
    if not np.isfinite(best):
        best = 0.0
    out = SwapCheck(best, True, None, S, g, s_out, beta)
    if not cand_d or sum(c.size for c in cand_d) == 0:
        return out
    d = np.concatenate(cand_d)
    r_all = np.concatenate(cand_r)
    j_all = np.concatenate(cand_j)
    order = np.argsort(d)
    exact_best = -np.inf
    for t in order[:MAX_VERIFY]:
        r, j = int(r_all[t]), int(j_all[t])
        S_new = np.append(S, j) if r < 0 else np.append(np.delete(S, r), j)
        w_new, f_new = _exact(q, S_new)
        exact_best = max(exact_best, f - f_new)
        if f_new < f - tol:
            out.max_gain = f - f_new
            out.optimal = False
            out.improved = (w_new, f_new)
            return out
    # Every scored improvement was a rounding artefact of the scores.
    out.max_gain = exact_best
    if order.size > MAX_VERIFY:
        out.optimal = False  # too many candidates left unverified: no certificate
    return out


def _splice_sizes(k: int) -> list[int]:
    sizes, m = [], 2
    while m <= max(2, k // 2) and m <= k:
        sizes.append(m)
        m = max(m + 1, int(round(m * 1.4)))
    return sizes


def splice(
    q: Quadratic, k: int, check: SwapCheck, f: float, *, rtol: float = SWAP_RTOL
) -> tuple[np.ndarray, float] | None:
    """Best exchange of m cheapest members for m best outsiders (m = 2, 3, 4, 6, ...), refitted
    exactly; ``(w, F)`` when it lowers F below ``f``, else None. ``check`` comes from
    :func:`check_swaps` on the current point."""
    S, g, s_out, beta = check.support, check.g, check.s_out, check.beta
    if g is None or S.size < 2:
        return None
    p = q.n_features
    scale = q.col_sq + q.ridge
    outside = np.ones(p, dtype=np.bool_)
    outside[S] = False
    ok = outside & (s_out > _EPS_COLLINEAR * scale)
    if not np.any(ok):
        return None
    sizes = [m for m in _splice_sizes(S.size) if m <= int(ok.sum())]
    if not sizes:
        return None
    cheap = S[np.argsort(beta**2)]
    m_top = sizes[-1]
    trials, tried = [], set()  # the two rankings often pick the same outsiders: one refit each
    for denom in (s_out, scale):
        gain = np.where(ok, g**2 / np.where(ok, denom, 1.0), -1.0)
        top = np.argpartition(-gain, m_top - 1)[:m_top]
        top = top[np.argsort(-gain[top])]
        for m in sizes:
            key = (m, frozenset(top[:m].tolist()))
            if key not in tried:
                tried.add(key)
                trials.append(np.concatenate([cheap[m:], top[:m]]))
    # every trial's F from one compiled call; the rest (and the winner, for its w) backsolved
    values = support_values(q, trials)
    threshold = f - rtol * max(abs(f), np.finfo(float).tiny)
    best_f, best = threshold, None
    for i, S_new in enumerate(trials):
        f_new = values[i] if np.isfinite(values[i]) else _exact(q, S_new)[1]
        if f_new < best_f:
            best_f, best = f_new, i
    if best is None:
        return None
    w_new, f_new = _exact(q, trials[best])
    return (w_new, f_new) if f_new < threshold else None
