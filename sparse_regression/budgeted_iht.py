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
from .iht import STATIONARY, IHTResult, line_probe, run_iht_loop
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
    if levels is None:
        levels = CostLevels(costs)
    w = np.array(w0, dtype=np.float64, copy=True)
    nz = np.flatnonzero(w)
    if nz.size > k or costs[nz].sum() > budget:
        S = project_support(w, k, levels, budget)
        keep = np.zeros_like(w)
        keep[S] = w[S]
        w = keep
    B, ridge = q.A, q.ridge

    def propose(w, Bw, nz, f, g):
        gnz = np.flatnonzero(g)
        if gnz.size == 0:
            return STATIONARY
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
            fp, cand = line_probe(q, w, Bw, nz, g, Sp)
            if fp < best_f:
                best_f, best = fp, cand
                worse = 0
            else:
                worse += 1
                if worse >= 3:
                    break
        return best_f, best

    return run_iht_loop(
        q,
        w,
        propose,
        max_iter=max_iter,
        tol=tol,
        backsolve_patience=backsolve_patience,
        trace=trace,
    )
