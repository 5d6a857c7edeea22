"""The MIQP in cvxpy: the path for Gurobi and MOSEK, and a reference for SCIP.

The model is the one in ``solvers.formulation``, written as it reads::

    minimise    t/2 - lin^T u + 1/2 sum_{i in J} d_i s_i + const
    subject to  ||R u - r||^2 <= t
                |u| <= z,  sum(z) <= k,  z boolean
                ||(2 u_i, s_i - z_i)|| <= s_i + z_i   (i.e. u_i^2 <= s_i z_i),  s_i <= z_i
                t/2 - lin^T u + 1/2 sum d_i s_i + const <= U     (incumbent cutoff)

The objective has no constant inside cvxpy (``const`` is added afterwards), so the backend's
own dual bound is a bound on the model objective minus ``const`` with no hidden offset.
The incumbent is passed as variable values with ``warm_start=True``: Gurobi uses it as a MIP
start; SCIP through cvxpy ignores it (then only the cutoff constraint helps).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ._common import EXACT_EXTRA, import_optional
from .formulation import MIQPData
from .mip_scip import SCIP_SETTINGS

__all__ = ["BACKENDS", "CvxpyResult", "check_backend_installed", "solve_cvxpy"]

#: Backends MIPSolver accepts, with what to install for each.
BACKENDS = {
    "SCIP": EXACT_EXTRA,
    "GUROBI": 'pip install gurobipy (and a Gurobi license), plus pip install "chita[exact]"',
    "MOSEK": 'pip install mosek (and a MOSEK license), plus pip install "chita[exact]"',
}


@dataclass
class CvxpyResult:
    status: str
    u: np.ndarray | None
    z: np.ndarray | None
    dual_bound: float | None  # scaled model objective incl. const, None if unavailable
    solve_time: float


def check_backend_installed(backend: str) -> None:
    """Raise ImportError naming what to install when cvxpy cannot reach ``backend``."""
    cp = import_optional("cvxpy", f'MIPSolver(backend="{backend}")')
    if backend not in cp.installed_solvers():
        raise ImportError(
            f'MIPSolver(backend="{backend}") needs the {backend} solver, which cvxpy cannot '
            f"find; install it with {BACKENDS[backend]}."
        )


def _options(backend: str, time_limit: float, verbose: bool) -> dict:
    if backend == "SCIP":
        return {"scip_params": {"limits/time": time_limit, **SCIP_SETTINGS}}
    if backend == "GUROBI":
        return {"TimeLimit": time_limit, "MIPGap": 1e-9, "MIPGapAbs": 0.0}
    return {  # MOSEK
        "mosek_params": {
            "MSK_DPAR_OPTIMIZER_MAX_TIME": time_limit,
            "MSK_DPAR_MIO_TOL_REL_GAP": 1e-9,
        }
    }


def _backend_bound(backend: str, problem, status: str) -> float | None:
    """The backend's dual bound on the cvxpy objective, where cvxpy exposes it."""
    stats = problem.solver_stats
    extra = getattr(stats, "extra_stats", None) if stats is not None else None
    if backend == "SCIP" and isinstance(extra, dict) and "model" in extra:
        return float(extra["model"].getDualbound())
    if backend == "GUROBI" and extra is not None and hasattr(extra, "ObjBound"):
        return float(extra.ObjBound)
    if status == "optimal" and problem.value is not None:
        return float(problem.value)  # MOSEK: optimal within the 1e-9 gap set above
    return None


def solve_cvxpy(
    data: MIQPData,
    *,
    backend: str,
    incumbent: np.ndarray | None,
    cutoff: float | None,
    time_limit: float,
    verbose: bool = False,
) -> CvxpyResult:
    """Build the MIQP in cvxpy and solve it with ``backend`` ("SCIP", "GUROBI", "MOSEK")."""
    cp = import_optional("cvxpy", f'MIPSolver(backend="{backend}")')
    t0 = time.perf_counter()
    p = data.n_features
    J = data.perspective_index
    u = cp.Variable(p, name="u")
    z = cp.Variable(p, boolean=True, name="z")
    t = cp.Variable(nonneg=True, name="t")
    constraints = [
        cp.sum_squares(data.R @ u - data.r) <= t,
        cp.abs(u) <= z,
        cp.sum(z) <= data.k,
    ]
    objective = 0.5 * t - data.lin @ u
    s = None
    if J.size:
        s = cp.Variable(J.size, nonneg=True, name="s")
        zJ = z[J]
        constraints += [cp.SOC(s + zJ, cp.vstack([2 * u[J], s - zJ]), axis=0), s <= zJ]
        objective = objective + 0.5 * data.d[J] @ s
    if cutoff is not None:
        constraints.append(objective <= cutoff - data.const)
    problem = cp.Problem(cp.Minimize(objective), constraints)

    if incumbent is not None:
        pt = data.point(incumbent)
        u.value, z.value, t.value = pt["u"], pt["z"], pt["t"]
        if s is not None:
            s.value = pt["s"]
    try:
        problem.solve(
            solver=backend,
            warm_start=incumbent is not None,
            verbose=verbose,
            **_options(backend, time_limit, verbose),
        )
    except cp.error.SolverError as exc:
        return CvxpyResult(f"solver_error: {exc}", None, None, None, time.perf_counter() - t0)
    raw = problem.status
    status = {
        "optimal": "optimal",
        "optimal_inaccurate": "time_limit",
        "user_limit": "time_limit",
    }.get(raw, raw)
    if backend == "SCIP" and isinstance(problem.solver_stats.extra_stats, dict):
        scip_status = problem.solver_stats.extra_stats.get("scip_status")
        status = {"timelimit": "time_limit"}.get(scip_status, scip_status or status)
    bound = _backend_bound(backend, problem, status)
    has_point = u.value is not None and z.value is not None and raw in cp.settings.SOLUTION_PRESENT
    return CvxpyResult(
        status=status,
        u=np.asarray(u.value) if has_point else None,
        z=np.asarray(z.value) if has_point else None,
        dual_bound=None if bound is None else bound + data.const,
        solve_time=time.perf_counter() - t0,
    )
