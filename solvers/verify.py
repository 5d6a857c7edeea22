"""Certificates: is a given coefficient vector optimal, and by how much could it improve?"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from sparse_regression import SparseProblem
from sparse_regression.constants import VERIFY_RTOL

from ._common import check_positive_int, check_positive_real, check_problem, relative_gap
from .enumeration import EnumerationSolver, n_supports
from .mip import MIPSolver, check_progress

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
        A proven lower bound on the optimum (up to the MIP backend's tolerances, about
        ``sparse_regression.constants.SCIP_FEASTOL`` = 1e-7 relative for SCIP; exact for
        enumeration).
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
    if problem.has_budget and not problem.is_feasible(arr):
        raise ValueError(
            f"coef costs {problem.support_cost(arr):.6g} but the problem's budget is "
            f"{problem.budget:.6g}; it is not feasible, so there is nothing to certify."
        )
    return arr


def verify(
    problem: SparseProblem,
    coef,
    time_limit: float = 60.0,
    *,
    rtol: float = VERIFY_RTOL,
    max_subsets: int = 10**6,
    progress=False,
    verbose: bool = False,
) -> Certificate:
    """Certify ``coef`` for ``problem``: its objective, a proven lower bound, and the gap.

    Uses exhaustive enumeration when C(p, k) <= ``max_subsets`` (exact), otherwise
    ``MIPSolver(time_limit=time_limit)`` warm-started at ``coef``. ``is_optimal`` is True when
    the gap of ``coef`` is at most ``rtol`` and the lower bound is proven.

    The MIP can take the whole ``time_limit`` (60 s by default) and then returns
    ``status="time_limit"`` with the bound reached so far: e.g. a 60 x 60 problem with k = 8
    (C(60, 8) = 2.6e9 supports, too many to enumerate) is typically not closed in 60 s.
    ``progress=True`` prints which method runs, then a line every 5 s (a number: every that
    many seconds) with the elapsed time, nodes, lower bound, best objective and gap;
    ``verbose=True`` shows the MIP backend's full log.

    Raises ValueError when ``coef`` has the wrong shape, is not finite or has more than k
    nonzeros.
    """
    t0 = time.perf_counter()
    problem = check_problem(problem)
    coef = _check_coef(problem, coef)
    rtol = check_positive_real("rtol", rtol)
    max_subsets = check_positive_int("max_subsets", max_subsets)
    every = check_progress(progress)
    objective = problem.objective(coef)
    n_sub = n_supports(problem.n_features, problem.k, problem.has_budget)
    if every is not None:
        how = (
            "enumerating them"
            if n_sub <= max_subsets
            else f"more than max_subsets={max_subsets:.3g}: MIP, time limit {time_limit:g} s"
        )
        print(
            f"verify: p={problem.n_features}, k={problem.k}, F(coef)={objective:.6g}; "
            f"C(p, k) = {float(n_sub):.3g} supports, {how}",
            flush=True,
        )
    sol = None
    if n_sub <= max_subsets:
        sol = EnumerationSolver(max_subsets=max_subsets).solve(problem)
        if sol.lower_bound is None:  # too ill-conditioned to certify by enumeration
            sol = None
    if sol is None:
        mip = MIPSolver(time_limit=time_limit, verbose=verbose, progress=progress)
        sol = mip.solve(problem, warm_start=coef)
    if sol.objective <= objective:
        optimum, best = sol.objective, sol.coef
    else:
        optimum, best = objective, coef.copy()
    lower = min(float(sol.lower_bound), optimum)
    gap = relative_gap(objective, lower)
    if every is not None:
        print(
            f"verify: {sol.status}, lower bound {lower:.6g}, gap of coef {gap:.2e} "
            f"({'optimal' if gap <= rtol else 'not proven optimal'} at rtol={rtol:g}), "
            f"{time.perf_counter() - t0:.1f} s",
            flush=True,
        )
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
