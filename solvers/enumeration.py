"""Exhaustive search over supports: the exact oracle for small problems.

Only supports of size exactly ``s = k`` are scanned (``k <= p`` always holds), and that covers
every support of size ``<= k``: if ``S' ⊆ S`` then every vector supported on S' is also
supported on S, so ``min_{supp(w) ⊆ S} F(w) <= min_{supp(w) ⊆ S'} F(w)``. This holds for any
ridge and w_ref (a coordinate of S that the minimiser sets to 0 costs ``ridge/2 w_ref_i^2``,
exactly as it does when it is off the support). So the best size-k support attains the
optimum, and the optimum may still have fewer than k nonzeros when the minimiser on that
support happens to have zeros.
"""

from __future__ import annotations

import math
import time

import numpy as np
from sklearn.base import BaseEstimator

from sparse_regression import SparseProblem, SparseSolution
from sparse_regression.backsolve import backsolve_support
from sparse_regression.constants import (
    BUDGET_RTOL,
    ENUM_FLAG_RTOL,
    ENUM_MAX_EXACT_RESCORE,
    ENUM_N_RESCORE,
    ENUM_PIVOT_RTOL,
)

from ._common import check_positive_int, check_problem, check_warm_start, make_solution
from ._enum_kernels import enumerate_supports

__all__ = ["EnumerationSolver", "n_supports"]


def n_supports(p: int, k: int, budget: bool = False) -> int:
    """Number of supports the exhaustive search scans: C(p, k), or sum_{s <= k} C(p, s) with a
    cost budget (then a smaller support can be optimal; supports over budget are pruned)."""
    if budget:
        return sum(math.comb(int(p), s) for s in range(1, int(k) + 1))
    return math.comb(int(p), int(k))


class EnumerationSolver(BaseEstimator):
    """Exact solution by scanning all C(p, k) supports of size k (Numba, O(k^2) per support).

    Each support is scored through the Gram matrix ``G = A^T A + ridge I`` (formed once, p x p
    float64) with a Cholesky factor shared along the depth-first walk (see
    ``solvers._enum_kernels``). The best few supports are then re-scored by the exact
    backsolve and the best is returned, with ``optimality="certified"``, ``gap=0`` and
    ``lower_bound = objective``. Supports on which the Gram factor meets a pivot below 1e-8 of
    its diagonal (near-collinear or duplicated columns: the score has lost its digits) are all
    scored by the exact backsolve too; if there are more than ``ENUM_MAX_EXACT_RESCORE`` of
    them the best point found is returned without a certificate (``optimality="none"``,
    ``status="ill_conditioned"``, ``lower_bound=None``). ``warm_start`` is ignored.

    Parameters
    ----------
    max_subsets : int, default 10**6
        Refuse (ValueError) when C(p, k) exceeds this; use ``MIPSolver`` for larger problems.
    """

    def __init__(self, max_subsets=10**6):
        self.max_subsets = max_subsets

    def solve(self, problem: SparseProblem, warm_start=None) -> SparseSolution:
        t0 = time.perf_counter()
        problem = check_problem(problem)
        max_subsets = check_positive_int("max_subsets", self.max_subsets)
        check_warm_start(problem, warm_start)
        p, k = problem.n_features, problem.k
        count = n_supports(p, k, problem.has_budget)
        if count > max_subsets:
            raise ValueError(
                f"EnumerationSolver would scan C(p={p}, k={k}) = {count:.3e} supports, more "
                f"than max_subsets={max_subsets}; raise max_subsets or use "
                "solvers.MIPSolver for this size."
            )
        A = np.asarray(problem.A, dtype=np.float64)
        ridge = problem.ridge
        c = problem.quadratic.rhs  # A^T b + ridge w_ref
        n_flagged = 0  # supports whose Gram score is unreliable (k >= 2 only)
        if k == 1 and not problem.has_budget:
            diag = problem.column_sq_norms() + ridge
            score = np.divide(c * c, diag, out=np.zeros(p), where=diag > 0)
            order = np.argsort(-score, kind="stable")[:ENUM_N_RESCORE]
            candidates = list(order[:, None])
            visited = p
        else:
            G = A.T @ A
            G[np.diag_indices_from(G)] += ridge
            tol = 0.0 if ridge > 0 else ENUM_PIVOT_RTOL
            budget = {}
            if problem.has_budget:
                budget = dict(costs=problem.costs, budget=problem.budget * (1 + BUDGET_RTOL))
            vals, found, visited, flagged, n_flagged = enumerate_supports(
                G, c, k, ENUM_N_RESCORE, tol, ENUM_FLAG_RTOL, ENUM_MAX_EXACT_RESCORE, **budget
            )
            # supports whose Gram scores lost their digits are all scored exactly
            rows = np.concatenate(
                [found[vals >= 0], flagged[: min(n_flagged, ENUM_MAX_EXACT_RESCORE)]]
            )
            candidates = [S[S >= 0] for S in rows]
        best_f, best_S, best_w = problem.objective(np.zeros(p)), np.empty(0, np.int64), np.empty(0)
        for S in candidates:
            wS, f = backsolve_support(problem.quadratic, S)
            if f < best_f:
                best_f, best_S, best_w = f, S, wS
        coef = np.zeros(p)
        coef[best_S] = best_w
        sol = make_solution(
            problem,
            coef,
            n_iter=int(visited),
            time=time.perf_counter() - t0,
            optimality="certified",
            status="optimal",
            solver="enumerate",
            info={"n_subsets": int(visited)},
        )
        if n_flagged > ENUM_MAX_EXACT_RESCORE:
            # too many ill-conditioned supports to score exactly: the best found, no certificate
            sol.optimality, sol.status = "none", "ill_conditioned"
            sol.info["unverified_supports"] = int(n_flagged - ENUM_MAX_EXACT_RESCORE)
            return sol
        sol.lower_bound = sol.objective
        sol.gap = 0.0
        return sol
