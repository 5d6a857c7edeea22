"""IHT under a cardinality and a cost budget (FALCON's first-order method).

Same scheme as :mod:`.iht`, with the projection ``P`` onto
``{||w||_0 <= k, sum_i f_i [w_i != 0] <= budget}`` computed by the knapsack of
:mod:`.knapsack` (values ``u_i^2``). One iteration from a feasible ``w`` with gradient ``g``:

* probe steps ``tau in tau_0 x {1/4, 1/2, 1, 2, 4, 8, 16, 32}`` with
  ``tau_0 = ||g||^2 / (||A g||^2 + ridge ||g||^2)`` (the Cauchy step); for each, the support
  ``S'`` of ``P(w - tau g)`` is feasible by construction;
* on every probed support, F is minimised exactly along ``u - t g_S'`` (``u`` = w kept on
  ``S'``), which stays on ``S'`` and so stays feasible;
* the best probe is accepted only if it lowers F (monotone history); a settled support is
  backsolved exactly (feasible: same support).

Every iterate satisfies both constraints; ``trace`` (when given) receives each one.
"""

from __future__ import annotations

import numpy as np

from . import _kernels as K
from . import constants as C
from .iht import IHTResult, _backsolve_step
from .knapsack import CostLevels, knapsack_support
from .quadratic import Quadratic

__all__ = ["budgeted_iht", "project_support"]


def project_support(
    u, k: int, levels: CostLevels, budget: float, max_evals: int = C.PROJECTION_MAX_EVALS
):
    """Support of the projection of ``u`` onto both budgets (sorted int64)."""
    return knapsack_support(u * u, k, None, budget, levels=levels, max_evals=max_evals).support


def budgeted_iht(
    q: Quadratic,
    k: int,
    w0: np.ndarray,
    costs: np.ndarray,
    budget: float,
    *,
    max_iter: int = 1000,
    tol: float = C.IHT_TOL,
    backsolve_patience: int = 2,
    levels: CostLevels | None = None,
    trace=None,
) -> IHTResult:
    """IHT with line search under both budgets on the quadratic ``q`` (F over its columns).
    ``w0`` should be feasible (it is projected if it is not)."""
    B, ridge = q.A, q.ridge
    if levels is None:
        levels = CostLevels(costs)
    w = np.array(w0, dtype=np.float64, copy=True)
    nz = np.flatnonzero(w)
    if nz.size > k or costs[nz].sum() > budget:
        S = project_support(w, k, levels, budget)
        keep = np.zeros_like(w)
        keep[S] = w[S]
        w = keep
        nz = np.flatnonzero(w)
    Bw = K.matvec_cols(B, nz, w[nz])
    f = q.value(w, Bw)
    history = [f]
    if trace is not None:
        trace(w)
    stable, n_backsolves, prev_support = 0, 0, None
    exact_on_support, converged = False, False
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007 - reported after the loop
        g = q.gradient(w, Bw)
        gnz = np.flatnonzero(g)
        if gnz.size == 0:
            converged = True
            break
        Bg = K.matvec_cols(B, gnz, g[gnz])
        gg = float(g @ g)
        den = float(Bg @ Bg) + ridge * gg
        tau0 = gg / den if den > 0 else 1.0
        best_f, best = f, None
        seen = set()
        worse = 0
        for c in C.BUDGETED_STEP_FACTORS:
            Sp = project_support(w - tau0 * c * g, k, levels, budget)
            key = Sp.tobytes()
            if key in seen or Sp.size == 0:
                continue
            seen.add(key)
            inside = np.zeros(w.size, dtype=np.bool_)
            inside[Sp] = True
            leaving = nz[~inside[nz]]
            u = w.copy()
            u[leaving] = 0.0
            Bu = Bw - K.matvec_cols(B, leaving, w[leaving]) if leaving.size else Bw
            d = g[Sp]
            t, fp, Bd = q.line_min(u, Bu, Sp, d)
            if fp < best_f:
                best_f, best = fp, (Sp, t, u, Bu, d, Bd)
                worse = 0
            else:
                worse += 1
                if worse >= 3:
                    break
        if best is None or not best_f < f - C.IHT_PROBE_RTOL * abs(f):
            if exact_on_support:
                converged = True
                break
            w, Bw, f, changed = _backsolve_step(q, w, Bw, f, nz)
            n_backsolves += 1
            exact_on_support = True
            if changed:
                history.append(f)
                if trace is not None:
                    trace(w)
            nz = np.flatnonzero(w)
            continue
        S_new, t, u, Bu, d, Bd = best
        w = u.copy()
        w[S_new] -= t * d
        Bw = Bu - t * Bd
        f_old, f = f, best_f
        history.append(f)
        if trace is not None:
            trace(w)
        exact_on_support = False
        nz = np.flatnonzero(w)
        key = nz.tobytes()
        stable = stable + 1 if key == prev_support else 0
        prev_support = key
        if stable >= backsolve_patience or (f_old - f) <= tol * max(abs(f_old), C.TINY):
            w, Bw, f, changed = _backsolve_step(q, w, Bw, f, nz)
            n_backsolves += 1
            exact_on_support = True
            stable = 0
            if changed:
                history.append(f)
                if trace is not None:
                    trace(w)
            nz = np.flatnonzero(w)
    if not exact_on_support:
        w, Bw, f, changed = _backsolve_step(q, w, Bw, f, nz)
        n_backsolves += 1
        if changed:
            history.append(f)
            if trace is not None:
                trace(w)
    return IHTResult(w, f, history, it, converged, n_backsolves)
