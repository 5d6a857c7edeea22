"""Active-set IHT: IHT on a working set of about 2k columns, grown by full-gradient checks.

With p much larger than k, most columns never matter: IHT runs on a working set W (the
support and the strongest other columns by the entry screen ``g_j^2 / (||a_j||^2 + ridge)``);
after each round the full gradient is checked, and outside columns whose entry would beat the
weakest support member join W. Reported objectives are those of the full problem.
"""

from __future__ import annotations

import numpy as np

from . import _kernels as K
from . import constants as C
from .budgeted_iht import budgeted_iht
from .iht import iht

__all__ = ["active_set_iht", "run_iht", "screen_scores"]


def run_iht(problem, q, w0, *, cols=None, trace=None, **kwargs):
    """IHT on the quadratic ``q`` over the columns ``cols`` of the problem (all when None): the
    plain one, or the budgeted one (:mod:`.budgeted_iht`) when the problem has a cost budget."""
    if not problem.has_budget:
        return iht(q, problem.k, w0, **kwargs)
    if cols is None:
        costs, levels = problem.costs, problem.cost_levels
    else:
        costs, levels = problem.costs[cols], None
    return budgeted_iht(
        q, problem.k, w0, costs, problem.budget, levels=levels, trace=trace, **kwargs
    )


def screen_scores(g, col_sq, ridge):
    """How much adding each coordinate alone would lower F (times 2): g_j^2 / ||a~_j||^2."""
    den = col_sq + ridge
    out = np.zeros_like(g)
    ok = den > 0
    out[ok] = g[ok] ** 2 / den[ok]
    return out


def active_set_iht(problem, w, *, max_iter, tol, log, max_rounds=10, trace=None):
    """IHT on a working set of columns, grown by full-gradient checks.

    Rounds stop when no outside column passes the entry screen, when a round lowers F by less
    than ``constants.ACTIVE_SET_RTOL`` (relative), or after ``max_rounds``. With a cost budget
    the IHT inside is the budgeted one and ``trace`` receives every (full-length) iterate.
    """
    q, k, ridge = problem.quadratic, problem.k, problem.ridge
    p = problem.n_features
    col_sq = q.col_sq
    k_eff = k
    if problem.has_budget:  # the budget, not k, may bound the support: size W by the start
        k_eff = min(k, np.count_nonzero(w) or k)
    size = min(p, max(2 * k_eff, k_eff + 10))
    history, n_iter, n_back, rounds = [], 0, 0, 0
    converged = False
    if size >= 0.6 * p:
        res = run_iht(problem, q, w, max_iter=max_iter, tol=tol, trace=trace)
        return res.coef, res.objective, res.history, res.n_iter, res.converged, res.n_backsolves, 0

    g = q.gradient(w)
    nz = np.flatnonzero(w)
    score = screen_scores(g, col_sq, ridge)
    score[nz] = np.inf
    W = np.sort(K.topk_abs(score, size))
    f_prev = np.inf
    for rounds in range(1, max_rounds + 1):  # noqa: B007
        sub_trace = None
        if trace is not None:

            def sub_trace(wW, W=W):
                full = np.zeros(p)
                full[W] = wW
                trace(full)

        res = run_iht(
            problem,
            q.restrict(W),
            w[W],
            cols=W,
            trace=sub_trace,
            max_iter=max(1, max_iter - n_iter),
            tol=tol,
        )
        history.extend(res.history if not history else res.history[1:])
        n_iter += res.n_iter
        n_back += res.n_backsolves
        w = np.zeros(p)
        w[W] = res.coef
        f = res.objective
        # Full-gradient check: columns outside W whose entry would beat the weakest member of
        # the support (gain of adding j alone vs. loss of removing i alone).
        g = q.gradient(w)
        nz = np.flatnonzero(w)
        raw = screen_scores(g, col_sq, ridge)
        outside = raw.copy()
        outside[W] = 0.0
        weakest = float(np.min(w[nz] ** 2 * (col_sq[nz] + ridge))) if nz.size else 0.0
        viol = np.flatnonzero(outside > weakest * (1 + C.ACTIVE_SET_ENTRY_MARGIN))
        log(
            f"active set round {rounds}: |W|={W.size}, F={f:.6g}, {viol.size} outside candidates",
        )
        settled = np.isfinite(f_prev) and f_prev - f <= C.ACTIVE_SET_RTOL * abs(f_prev)
        if viol.size == 0 or settled:
            converged = res.converged
            break
        if n_iter >= max_iter:
            break
        f_prev = f
        add = viol[np.argsort(-outside[viol])[: max(k_eff // 2, 10)]]
        # New working set: the support, the strongest other members of W, the entrants.
        extra = np.setdiff1d(W, nz)
        extra = extra[np.argsort(-raw[extra])][: max(0, size - nz.size)]
        W = np.union1d(np.union1d(nz, extra), add)
    return w, f, history, n_iter, converged, n_back, rounds
