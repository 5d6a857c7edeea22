"""Iterative hard thresholding with CHITA's structure-exploiting line search.

One iteration from a k-sparse ``w`` with gradient ``g`` follows the projected path
``w(tau) = P_k(w - tau g)``. While the support S of ``w(tau)`` does not change, the path is the
line ``w - tau g_S`` and F along it is the quadratic

    F(tau) = F(w) - tau ||g_S||^2 + tau^2/2 (||A g_S||^2 + ridge ||g_S||^2),

minimised at ``tau* = ||g_S||^2 / (||A g_S||^2 + ridge ||g_S||^2)``. The largest step that keeps
S has a closed form too (``_kernels.max_preserving_step``). If ``tau*`` lies inside that first
segment it is taken; otherwise further segments are probed at growing steps: for each probe
the support ``S'`` of ``P_k(w - tau g)`` is computed and F is minimised exactly along the line
``u - t g_S'`` (``u`` = w restricted to S'), which costs one product with ``A_S'``. The best
point found is accepted only if it decreases F, so the objective history is monotone.

When the support has not changed for two iterations, the exact backsolve on it replaces the
slow steepest-descent phase. The loop ends when no probed step decreases F: the point is then
an exact minimiser on its support that the line search cannot improve ("stationary").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import _kernels as K
from .backsolve import backsolve_support
from .constants import IHT_PROBE_FACTORS, IHT_PROBE_RTOL, IHT_TOL, TINY
from .quadratic import Quadratic

__all__ = ["IHTResult", "iht"]


@dataclass
class IHTResult:
    coef: np.ndarray
    objective: float
    history: list
    n_iter: int
    converged: bool
    n_backsolves: int


#: Returned by a step proposal when the gradient vanishes: the point is stationary.
STATIONARY = object()


def iht(
    q: Quadratic,
    k: int,
    w0: np.ndarray,
    *,
    max_iter: int = 1000,
    tol: float = IHT_TOL,
    backsolve_patience: int = 2,
) -> IHTResult:
    """Run IHT with line search on the quadratic ``q`` (F over ``q``'s columns).

    ``w0`` must have at most ``k`` nonzeros. Returns a k-sparse point that is an exact
    minimiser on its support.
    """
    w = np.array(w0, dtype=np.float64, copy=True)
    if np.count_nonzero(w) > k:
        raise ValueError("w0 has more than k nonzeros")
    return run_iht_loop(
        q,
        w,
        _topk_path_step(q, k),
        max_iter=max_iter,
        tol=tol,
        backsolve_patience=backsolve_patience,
    )


def _topk_path_step(q: Quadratic, k: int):
    """The step proposal of plain IHT: CHITA's line search along ``P_k(w - tau g)``."""
    B, ridge = q.A, q.ridge
    m = B.shape[1]

    def propose(w, Bw, nz, f, g):
        S = K.iht_start_support(w, g, k)
        mask = np.zeros(m, dtype=np.bool_)
        mask[S] = True
        tmax = K.max_preserving_step(w, g, mask)

        # Segment 1: the support S keeps every nonzero of w, so u = w and the quadratic is
        # F(w) - t||g_S||^2 + t^2/2 den, minimised at t* = ||g_S||^2 / den.
        dS = g[S]
        gg = float(dS @ dS)
        best_f, best = f, None
        if gg > 0.0:
            BdS = K.matvec_cols(B, S, dS)
            den = float(BdS @ BdS) + ridge * gg
            tstar = gg / den if den > 0 else np.inf
            t1 = min(tstar, tmax)
            if np.isfinite(t1):
                f1 = f - t1 * gg + 0.5 * t1 * t1 * den
                if f1 < best_f:
                    best_f, best = f1, (S, t1, w, dS)
        else:
            tstar = np.inf

        # Further segments: probe growing steps beyond the first breakpoint.
        if tstar > tmax and np.isfinite(tmax) and tmax > 0:
            seen = {S.tobytes()}
            worse = 0
            for c in IHT_PROBE_FACTORS:
                Sp = K.threshold_path_support(w, g, tmax * c, k)
                key = Sp.tobytes()
                if key in seen:
                    continue
                seen.add(key)
                fp, cand = line_probe(q, w, Bw, nz, g, Sp)
                if fp < best_f:
                    best_f, best = fp, cand
                    worse = 0
                else:
                    worse += 1
                    if worse >= 2:
                        break
        return best_f, best

    return propose


def line_probe(q: Quadratic, w, Bw, nz, g, Sp):
    """Exact minimum of F along ``u - t g_Sp`` (``u``: w kept on Sp): ``(F, (Sp, t, u, d))``."""
    inside = np.zeros(w.size, dtype=np.bool_)
    inside[Sp] = True
    leaving = nz[~inside[nz]]
    u = w.copy()
    u[leaving] = 0.0
    Bu = Bw - K.matvec_cols(q.A, leaving, w[leaving]) if leaving.size else Bw
    d = g[Sp]
    t, fp, _ = q.line_min(u, Bu, Sp, d)
    return fp, (Sp, t, u, d)


def run_iht_loop(
    q: Quadratic, w, propose, *, max_iter: int, tol: float, backsolve_patience: int, trace=None
) -> IHTResult:
    """The IHT skeleton shared by the plain and the budgeted variant.

    ``propose(w, Bw, nz, f, g)`` returns ``(F predicted, (S', t, u, d))`` for the step
    ``u - t d`` on ``S'`` (``(f, None)`` when no probe lowers F, ``STATIONARY`` when g = 0).
    A step is accepted only if F recomputed from the exact residual decreased (the line
    search's expansion cancels catastrophically on badly scaled data); a rejected step, or a
    support unchanged for ``backsolve_patience`` iterations, or a relative decrease below
    ``tol``, triggers the exact backsolve; a rejected step right after a backsolve ends the
    loop at a stationary point. ``trace`` (optional) receives every iterate.
    """
    B = q.A
    nz = np.flatnonzero(w)
    Bw = K.matvec_cols(B, nz, w[nz])
    f = q.value(w, Bw)
    history = [f]
    if trace is not None:
        trace(w)
    stable = 0
    exact_on_support = False
    n_backsolves = 0
    prev_support = None
    converged = False

    def backsolve(w, Bw, f, nz):
        w, Bw, f, changed = _backsolve_step(q, w, Bw, f, nz)
        if changed:
            history.append(f)
            if trace is not None:
                trace(w)
        return w, Bw, f, np.flatnonzero(w)

    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007 - it is reported after the loop
        g = q.gradient(w, Bw)
        proposal = propose(w, Bw, nz, f, g)
        if proposal is STATIONARY:
            converged = True
            break
        best_f, best = proposal
        accepted = False
        if best is not None and best_f < f - IHT_PROBE_RTOL * abs(f):
            S_new, t, u, d = best
            w_new = u.copy()
            w_new[S_new] -= t * d
            nz_new = np.flatnonzero(w_new)
            Bw_new = K.matvec_cols(B, nz_new, w_new[nz_new])
            f_new = q.value(w_new, Bw_new)
            accepted = f_new < f
        if not accepted:
            # No probed step decreases F. Make sure we sit at the exact minimiser on the
            # support; if we already do, this is a stationary point.
            if exact_on_support:
                converged = True
                break
            w, Bw, f, nz = backsolve(w, Bw, f, nz)
            n_backsolves += 1
            exact_on_support = True
            continue

        w, Bw, nz = w_new, Bw_new, nz_new
        f_old, f = f, f_new
        history.append(f)
        if trace is not None:
            trace(w)
        exact_on_support = False
        key = nz.tobytes()
        stable = stable + 1 if key == prev_support else 0
        prev_support = key
        if stable >= backsolve_patience or (f_old - f) <= tol * max(abs(f_old), TINY):
            w, Bw, f, nz = backsolve(w, Bw, f, nz)
            n_backsolves += 1
            exact_on_support = True
            stable = 0

    if not exact_on_support:
        w, Bw, f, nz = backsolve(w, Bw, f, nz)
        n_backsolves += 1
    return IHTResult(w, f, history, it, converged, n_backsolves)


def _backsolve_step(q: Quadratic, w, Bw, f, nz):
    """Replace w by the exact minimiser on its support when that decreases F."""
    if nz.size == 0:
        return w, Bw, f, False
    wS, _ = backsolve_support(q, nz)
    w_new = np.zeros_like(w)
    w_new[nz] = wS
    Bw_new = K.matvec_cols(q.A, nz, wS)
    f_new = q.value(w_new, Bw_new)
    if f_new < f:
        return w_new, Bw_new, f_new, True
    return w, Bw, f, False
