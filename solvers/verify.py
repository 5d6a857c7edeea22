"""Certificates: is a given coefficient vector optimal, and by how much could it improve?"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from sparse_regression import SparseProblem
from sparse_regression.constants import VERIFY_RTOL

from ._common import check_positive_int, check_positive_real, check_problem, relative_gap
from .enumeration import EnumerationSolver, n_supports
from .mip import MIPSolver

__all__ = ["Certificate", "verify"]


@dataclass
class Certificate:
    """What ``verify`` proved about a coefficient vector.

    Attributes
    ----------
    objective : float
        F of the given coefficients.
    optimum : float
        Best objective known: the optimum when ``status == "optimal"`` (and the lower bound
        is proven), otherwise the best feasible value found.
    lower_bound : float
        A proven lower bound on the optimum (up to the MIP backend's tolerances, about 1e-7
        relative for SCIP; exact for enumeration).
    gap : float
        ``(objective - lower_bound) / objective``: how far the *given* vector can be from
        optimal, at most.
    is_optimal : bool
        ``gap <= rtol`` with a proven lower bound.
    status : str
        "optimal", "time_limit", "optimal_within_big_m", ...
    solver : str
        "enumerate" or "mip".
    best_coef : ndarray
        Coefficients attaining ``optimum``.
    time : float
        Seconds spent.
    """

    objective: float
    optimum: float
    lower_bound: float
    gap: float
    is_optimal: bool
    status: str
    solver: str
    best_coef: np.ndarray
    time: float


def _check_coef(problem: SparseProblem, coef) -> np.ndarray:
    arr = np.asarray(coef)
    p, k = problem.n_features, problem.k
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"coef must hold real numbers, got dtype {arr.dtype}.")
    if arr.shape != (p,):
        raise ValueError(f"coef must have shape ({p},) (one entry per feature), got {arr.shape}.")
    arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError("coef contains NaN or inf.")
    nnz = int(np.count_nonzero(arr))
    if nnz > k:
        raise ValueError(
            f"coef has {nnz} nonzeros but the problem allows at most k={k}; it is not "
            "feasible, so there is nothing to certify."
        )
    return arr


def verify(
    problem: SparseProblem,
    coef,
    time_limit: float = 60.0,
    *,
    rtol: float = VERIFY_RTOL,
    max_subsets: int = 10**6,
) -> Certificate:
    """Certify ``coef`` for ``problem``: its objective, a proven lower bound, and the gap.

    Uses exhaustive enumeration when C(p, k) <= ``max_subsets`` (exact), otherwise
    ``MIPSolver(time_limit=time_limit)`` warm-started at ``coef``. ``is_optimal`` is True when
    the gap of ``coef`` is at most ``rtol`` and the lower bound is proven.

    Raises ValueError when ``coef`` has the wrong shape, is not finite or has more than k
    nonzeros.
    """
    t0 = time.perf_counter()
    problem = check_problem(problem)
    coef = _check_coef(problem, coef)
    rtol = check_positive_real("rtol", rtol)
    max_subsets = check_positive_int("max_subsets", max_subsets)
    objective = problem.objective(coef)
    if n_supports(problem.n_features, problem.k) <= max_subsets:
        sol = EnumerationSolver(max_subsets=max_subsets).solve(problem)
    else:
        sol = MIPSolver(time_limit=time_limit).solve(problem, warm_start=coef)
    if sol.objective <= objective:
        optimum, best = sol.objective, sol.coef
    else:
        optimum, best = objective, coef.copy()
    lower = min(float(sol.lower_bound), optimum)
    gap = relative_gap(objective, lower)
    return Certificate(
        objective=objective,
        optimum=optimum,
        lower_bound=lower,
        gap=gap,
        is_optimal=bool(gap <= rtol),
        status=sol.status,
        solver=sol.solver,
        best_coef=best,
        time=time.perf_counter() - t0,
    )
