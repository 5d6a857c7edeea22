"""Exact solution of the L0-constrained problem as a mixed-integer QP (SCIP, Gurobi, MOSEK).

The pieces: an incumbent from the core solver (``sparse_regression.solve``), provably safe
big-M bounds from its objective (``solvers.big_m``), the perspective-strengthened model
(``solvers.formulation``), and a backend: SCIP through PySCIPOpt (``solvers.mip_scip``), or
any of SCIP / Gurobi / MOSEK through cvxpy (``solvers.mip_cvxpy``). The returned coefficients
are the exact minimiser of F on the best support found (``backsolve``), so ``objective`` is
exact whatever the backend's tolerances.
"""

from __future__ import annotations

import numbers
import time

import numpy as np
from sklearn.base import BaseEstimator

from sparse_regression import IHTSolver, SparseProblem, SparseSolution, backsolve
from sparse_regression.constants import HEURISTIC_M_FACTOR, MIP_CUTOFF_ATOL, MIP_CUTOFF_RTOL

from ._common import (
    check_bool,
    check_positive_real,
    check_problem,
    check_warm_start,
    import_optional,
    make_solution,
    relative_gap,
)
from .big_m import gram_data, safe_big_m
from .formulation import build_miqp
from .mip_cvxpy import BACKENDS, check_backend_installed, solve_cvxpy
from .mip_scip import progress_line, solve_scip

__all__ = ["MIPSolver", "HEURISTIC_M_FACTOR", "PROGRESS_EVERY"]

#: Seconds between progress lines for ``progress=True``.
PROGRESS_EVERY = 5.0

_INTERFACES = ("auto", "pyscipopt", "cvxpy")
_SCIP_MAX_TIME = 1e20


def _check_backend(backend) -> str:
    if backend is None:
        return "SCIP"
    if isinstance(backend, str) and backend.upper() in BACKENDS:
        return backend.upper()
    raise ValueError(f"backend must be None (SCIP) or one of {sorted(BACKENDS)}, got {backend!r}.")


def _check_interface(interface, backend: str) -> str:
    if interface not in _INTERFACES:
        raise ValueError(f"interface must be one of {_INTERFACES}, got {interface!r}.")
    if interface == "pyscipopt" and backend != "SCIP":
        raise ValueError(
            f'interface="pyscipopt" only drives SCIP; use interface="cvxpy" or "auto" for '
            f'backend="{backend}".'
        )
    if interface == "auto":
        return "pyscipopt" if backend == "SCIP" else "cvxpy"
    return interface


def _check_big_m(big_m, p: int):
    if big_m is None:
        return None
    if isinstance(big_m, numbers.Real) and not isinstance(big_m, bool):
        arr = np.full(p, float(big_m))
    else:
        arr = np.asarray(big_m, dtype=np.float64) if np.ndim(big_m) == 1 else None
        if arr is None or arr.shape != (p,):
            raise ValueError(
                f"big_m must be None, a positive number or an array of shape ({p},), got {big_m!r}."
            )
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise ValueError("big_m must be positive and finite (|w_i| <= big_m_i).")
    return arr


def check_progress(progress) -> float | None:
    """``progress`` as seconds between lines (None: off). True means :data:`PROGRESS_EVERY`."""
    if progress is None or progress is False or progress is np.False_:
        return None
    if progress is True or progress is np.True_:
        return PROGRESS_EVERY
    return check_positive_real("progress", progress)


def _incumbent(problem: SparseProblem, w0) -> SparseSolution:
    """Best of the core solver from its default start, from ``w0``, and ``w0`` refitted."""
    best = IHTSolver().solve(problem)
    best.info["incumbent_source"] = "iht"
    if w0 is not None:
        tries = [IHTSolver().solve(problem, warm_start=w0)]
        order = np.argsort(-np.abs(w0), kind="stable")[: problem.k]
        order = order[w0[order] != 0]
        if not problem.has_budget or problem.costs[order].sum() <= problem.budget:
            tries.append(make_solution(problem, backsolve(problem, order)))
        for name, cand in zip(("iht(warm_start)", "warm_start refitted"), tries, strict=False):
            if cand.objective < best.objective:
                best = cand
                best.info["incumbent_source"] = name
    return best


def _support_from(z: np.ndarray, u: np.ndarray, k: int) -> np.ndarray:
    support = np.flatnonzero(z > 0.5)
    if support.size > k:
        key = np.lexsort((-np.abs(u[support]), -z[support]))
        support = support[key[:k]]
    return np.sort(support)


class MIPSolver(BaseEstimator):
    """Certified solution of ``min F(w) s.t. ||w||_0 <= k`` by mixed-integer programming.

    The model (see ``solvers.formulation``) has binary z_i, ``|w_i| <= M_i z_i``,
    ``sum z <= k``, and the perspective cone ``w_i^2 <= s_i z_i`` on the diagonal part of the
    Hessian (the ridge term plus lambda_min(A^T A)). The core solver's solution is the
    incumbent (given to the backend as a start and as the objective cutoff).

    M: with ridge > 0, or A of full column rank, or small column coherence, a bound provable
    from the incumbent objective is used (``solvers.big_m``) and the result can be certified.
    Otherwise (ridge = 0 and A^T A singular, typically p > n) M = 4 x max |incumbent|; the
    backend's answer then only holds within ``|w_i| <= M_i``: ``status`` becomes
    ``"optimal_within_big_m"``, the box bound goes to ``info["box_lower_bound"]``, and
    ``lower_bound`` stays a provable one (the unconstrained minimum). A user ``big_m`` is
    treated the same way unless it contains the provable box.

    Result: ``lower_bound`` (valid, up to the backend's tolerances: about
    ``sparse_regression.constants.SCIP_FEASTOL`` = 1e-7 relative for SCIP),
    ``gap = (objective - lower_bound) / objective``, ``status`` (``"optimal"``,
    ``"time_limit"``, ...), ``optimality="certified"`` when the backend closed the gap with a
    safe M; otherwise the incumbent's level when the incumbent was not improved, else
    ``"none"``.

    Parameters
    ----------
    time_limit : float, default 60.0
        Seconds for the backend (the incumbent's computation comes on top). The solve blocks
        until the backend proves optimality or reaches this limit; ``progress`` shows how it
        goes.
    backend : {None, "SCIP", "GUROBI", "MOSEK"}, default None
        None means SCIP (open source, ``pip install "chita[exact]"``).
    big_m : None, float or array of shape (p,), default None
        None derives M as described above.
    verbose : bool, default False
        Show the backend's full log (SCIP prints a line per node batch, and can stay silent
        for long stretches inside one node).
    progress : bool or float, default False
        Print a line when the search starts (incumbent, big-M, time limit), then at most every
        ``progress`` seconds (True: every 5 s) the elapsed time, nodes, lower bound, best
        objective and gap in units of F, and a last line with the result. With the cvxpy
        interface, which gives no callbacks, the periodic lines are the backend's log.
    perspective : bool, default True
        Use the perspective cone; False gives the plain big-M model (for comparison).
    interface : {"auto", "pyscipopt", "cvxpy"}, default "auto"
        How the model reaches the backend: "auto" builds it directly in PySCIPOpt for SCIP
        (incumbent as a MIP start, SCIP's dual bound read back) and in cvxpy for Gurobi and
        MOSEK; "cvxpy" forces the cvxpy model for SCIP too (no MIP start through cvxpy's
        SCIP interface: the incumbent then acts as a cutoff constraint only).
    """

    def __init__(
        self,
        time_limit=60.0,
        backend=None,
        big_m=None,
        verbose=False,
        perspective=True,
        interface="auto",
        progress=False,
    ):
        self.time_limit = time_limit
        self.backend = backend
        self.big_m = big_m
        self.verbose = verbose
        self.perspective = perspective
        self.interface = interface
        self.progress = progress

    def solve(self, problem: SparseProblem, warm_start=None) -> SparseSolution:
        t0 = time.perf_counter()
        problem = check_problem(problem)
        time_limit = check_positive_real("time_limit", self.time_limit, allow_inf=True)
        time_limit = min(time_limit, _SCIP_MAX_TIME)
        backend = _check_backend(self.backend)
        interface = _check_interface(self.interface, backend)
        verbose = check_bool("verbose", self.verbose)
        perspective = check_bool("perspective", self.perspective)
        every = check_progress(self.progress)
        p = problem.n_features
        user_M = _check_big_m(self.big_m, p)
        w0 = check_warm_start(problem, warm_start)
        if interface == "pyscipopt":
            import_optional("pyscipopt", "MIPSolver with the SCIP backend")
        else:
            check_backend_installed(backend)

        inc = _incumbent(problem, w0)
        info = {
            "backend": backend,
            "interface": interface,
            "incumbent_objective": inc.objective,
            "incumbent_source": inc.info.get("incumbent_source", "iht"),
        }
        gram = gram_data(problem)
        if gram.f_zero == 0.0 or (problem.k == p and not problem.has_budget):
            # F(0) = 0 <= F, or no sparsity constraint: the convex minimiser is optimal.
            coef = np.zeros(p) if gram.f_zero == 0.0 else backsolve(problem, np.arange(p))
            sol = make_solution(problem, coef, optimality="certified", status="optimal")
            sol.lower_bound, sol.gap = sol.objective, 0.0
            return self._finish(sol, t0, info | {"trivial": True})

        bounds = safe_big_m(problem, inc.objective, gram)
        info["f_lower"] = bounds.f_lower
        if user_M is not None:
            M = user_M
            safe = bounds.M is not None and bool(np.all(user_M >= bounds.M))
            info["big_m"] = "user (contains the provable box)" if safe else "user (unproven)"
        elif bounds.M is not None:
            M, safe = bounds.M, True
            info["big_m"] = "safe: " + ", ".join(bounds.sources)
        else:
            scale = float(np.max(np.abs(inc.coef))) if np.any(inc.coef) else 1.0
            M, safe = np.full(p, HEURISTIC_M_FACTOR * scale), False
            info["big_m"] = f"heuristic: {HEURISTIC_M_FACTOR:g} x max|incumbent| (unproven)"
        info["big_m_max"] = float(M.max())
        start = inc.coef if np.all(np.abs(inc.coef) <= M) else None
        info["incumbent_in_box"] = start is not None

        data = build_miqp(problem, gram, M, perspective=perspective)
        info["perspective_delta"] = data.delta
        if every is not None:
            print(
                f"MIP ({backend} via {interface}): p={p}, k={problem.k}, incumbent "
                f"F={inc.objective:.6g}, big-M {info['big_m']}, time limit {time_limit:g} s",
                flush=True,
            )
        if interface == "pyscipopt":
            res = solve_scip(
                data, incumbent=start, time_limit=time_limit, verbose=verbose, progress=every
            )
            info["n_nodes"] = res.n_nodes
            info["incumbent_accepted"] = res.incumbent_accepted
        else:
            res = solve_cvxpy(
                data,
                backend=backend,
                incumbent=start,
                cutoff=inc.objective / data.scale * (1 + MIP_CUTOFF_RTOL) + MIP_CUTOFF_ATOL,
                time_limit=time_limit,
                verbose=verbose or every is not None,
            )
        info["backend_time"] = res.solve_time
        status = res.status

        best = inc
        if res.u is not None:
            support = _support_from(res.z, res.u, problem.k)
            cand = make_solution(problem, backsolve(problem, support))
            if cand.objective < best.objective and problem.is_feasible(cand.coef):
                best = cand
        box_lower = None
        if res.dual_bound is not None and np.isfinite(res.dual_bound):
            box_lower = res.dual_bound * data.scale
        if safe:
            lower = bounds.f_lower if box_lower is None else max(box_lower, bounds.f_lower)
        else:
            lower = bounds.f_lower
            info["box_lower_bound"] = box_lower
            info["box_gap"] = relative_gap(best.objective, box_lower)
            if status == "optimal":
                status = "optimal_within_big_m"
        lower = min(lower, best.objective)
        certified = safe and status == "optimal"
        if certified:
            optimality = "certified"
        elif best is inc:
            optimality = inc.optimality
        else:
            optimality = "none"
        sol = make_solution(
            problem,
            best.coef,
            optimality=optimality,
            status=status,
            converged=status == "optimal",
            n_iter=int(info.get("n_nodes", 0)),
        )
        sol.lower_bound = float(lower)
        sol.gap = relative_gap(sol.objective, lower)
        if every is not None:
            line = progress_line(
                res.solve_time, time_limit, int(info.get("n_nodes", 0)), lower, sol.objective
            )
            print(f"{line}  status {status}", flush=True)
        return self._finish(sol, t0, info)

    @staticmethod
    def _finish(sol: SparseSolution, t0: float, info: dict) -> SparseSolution:
        sol.solver = "mip"
        sol.time = time.perf_counter() - t0
        sol.info.update(info)
        return sol
