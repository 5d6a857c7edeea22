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
start; SCIP through cvxpy ignores it (then only the cutoff constraint helps). The model is
compiled with ``get_problem_data`` and solved with the solver's ``solve_via_data``, so the
backend's raw result (SCIP's model, Gurobi's model) is at hand even when cvxpy refuses to
unpack it, e.g. when the time limit hits before any feasible point: the dual bound is valid
then too.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass

import numpy as np

from sparse_regression.constants import MIP_REL_GAP

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


def _options(backend: str, time_limit: float) -> dict:
    if backend == "SCIP":
        return {"scip_params": {"limits/time": time_limit, **SCIP_SETTINGS}}
    if backend == "GUROBI":
        return {"TimeLimit": time_limit, "MIPGap": MIP_REL_GAP, "MIPGapAbs": 0.0}
    return {  # MOSEK
        "mosek_params": {
            "MSK_DPAR_OPTIMIZER_MAX_TIME": time_limit,
            "MSK_DPAR_MIO_TOL_REL_GAP": MIP_REL_GAP,
        }
    }


_SCIP_STATUS = {"timelimit": "time_limit", "gaplimit": "gap_limit", "nodelimit": "node_limit"}
_CVXPY_STATUS = {"optimal_inaccurate": "time_limit", "user_limit": "time_limit"}


def _status_and_bound(backend: str, raw: dict, problem, unpacked: bool):
    """Status string and the backend's dual bound (None where cvxpy does not expose it).

    ``raw`` is the solver's own result (``solve_via_data``), read even when cvxpy refuses to
    unpack it (e.g. a time limit before any feasible point: the bound is still valid).
    """
    model = raw.get("model") if isinstance(raw, dict) else None
    if backend == "SCIP" and model is not None:
        scip_status = raw.get("scip_status", "unknown")
        return _SCIP_STATUS.get(scip_status, scip_status), float(model.getDualbound())
    status = problem.status if unpacked else "solver_error"
    status = _CVXPY_STATUS.get(status, status)
    if backend == "GUROBI" and model is not None:
        if getattr(model, "Status", None) == 9:  # GRB.TIME_LIMIT
            status = "time_limit"
        try:
            return status, float(model.ObjBound)
        except (AttributeError, TypeError, ValueError):
            return status, None
    if status == "optimal" and problem.value is not None:
        return status, float(problem.value)  # MOSEK: optimal within the 1e-9 gap set above
    return status, None


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
    if data.costs is not None:
        constraints.append(data.costs @ z <= data.budget)
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
    stuffed, chain, inverse_data = problem.get_problem_data(backend)
    raw = chain.solver.solve_via_data(
        stuffed, incumbent is not None, verbose, _options(backend, time_limit)
    )
    try:
        with warnings.catch_warnings():
            # "Solution may be inaccurate" on a time limit: reported through ``status``.
            warnings.filterwarnings("ignore", message="Solution may be inaccurate")
            problem.unpack_results(raw, chain, inverse_data)
        unpacked = True
    except cp.error.SolverError:
        unpacked = False
    status, bound = _status_and_bound(backend, raw, problem, unpacked)
    has_point = unpacked and u.value is not None and z.value is not None
    return CvxpyResult(
        status=status,
        u=np.asarray(u.value) if has_point else None,
        z=np.asarray(z.value) if has_point else None,
        dual_bound=None if bound is None else bound + data.const,
        solve_time=time.perf_counter() - t0,
    )
