"""The MIQP in SCIP, built directly with PySCIPOpt.

Why not through cvxpy: cvxpy's SCIP interface takes no MIP start and no objective cutoff, and
rewrites the quadratic objective as a second-order cone ``||x|| <= t`` in the nonconvex form
``x^T x <= t^2``. Built directly, the incumbent goes in as a primal solution (so its objective
is the cutoff from the first node on), SCIP's settings can be chosen, and SCIP's dual bound
and status are read back as they are. The model is the one in ``solvers.formulation``::

    minimise    t/2 - lin^T u + 1/2 sum_{i in J} d_i s_i + const
    subject to  e = R u - r,  sum_j e_j^2 <= t
                -z_i <= u_i <= z_i,  sum_i z_i <= k,  z binary
                u_i^2 <= s_i z_i,  0 <= s_i <= z_i          (i in J)
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from sparse_regression.constants import SCIP_FEASTOL

from ._common import import_optional
from .formulation import MIQPData

__all__ = ["ScipResult", "SCIP_FEASTOL", "SCIP_SETTINGS", "solve_scip"]

#: SCIP settings used on top of its defaults (measured on the certification benchmark,
#: see docs/solvers.md): the incumbent comes from the core solver, so branching on pseudo
#: costs (no strong branching), skipping the generic MIP separators and (in ``solve_scip``)
#: the primal heuristics is what pays off.
SCIP_SETTINGS = {
    "numerics/feastol": SCIP_FEASTOL,
    "branching/pscost/priority": 100000,
    "separating/aggregation/freq": -1,
    "separating/gomory/freq": -1,
    "separating/zerohalf/freq": -1,
}

_STATUS = {"timelimit": "time_limit", "gaplimit": "gap_limit", "nodelimit": "node_limit"}


@dataclass
class ScipResult:
    status: str
    u: np.ndarray | None  # best solution found (scaled), None if none
    z: np.ndarray | None
    dual_bound: float  # scaled model objective, includes the constant
    primal_bound: float
    n_nodes: int
    solve_time: float
    incumbent_accepted: bool


def solve_scip(
    data: MIQPData,
    *,
    incumbent: np.ndarray | None,
    time_limit: float,
    verbose: bool = False,
    heuristics: bool = False,
    progress: float | None = None,
) -> ScipResult:
    """Build and solve the MIQP; ``incumbent`` (a k-sparse w with |w| <= M) seeds the search.

    ``progress``: print one line (time, nodes, bounds on F, gap) at most every ``progress``
    seconds while SCIP works, checked after every LP and node SCIP solves.
    """
    ps = import_optional("pyscipopt", "MIPSolver with the SCIP backend")
    t0 = time.perf_counter()
    p = data.n_features
    J = data.perspective_index
    model = ps.Model("chita_l0_miqp")
    model.hideOutput(not verbose)
    u = [model.addVar(f"u_{i}", lb=-1.0, ub=1.0) for i in range(p)]
    z = [model.addVar(f"z_{i}", vtype="B") for i in range(p)]
    e = [model.addVar(f"e_{j}", lb=None, ub=None) for j in range(data.R.shape[0])]
    t = model.addVar("t", lb=0.0)
    s = {i: model.addVar(f"s_{i}", lb=0.0, ub=1.0) for i in J}

    for j in range(data.R.shape[0]):
        row = data.R[j]
        nz = np.flatnonzero(row)
        model.addCons(ps.quicksum(row[i] * u[i] for i in nz) - e[j] == data.r[j], name=f"res_{j}")
    model.addCons(ps.quicksum(ej * ej for ej in e) <= t, name="epigraph")
    for i in range(p):
        model.addCons(u[i] <= z[i], name=f"bigm_up_{i}")
        model.addCons(-u[i] <= z[i], name=f"bigm_lo_{i}")
    model.addCons(ps.quicksum(z) <= data.k, name="cardinality")
    if data.costs is not None:
        model.addCons(
            ps.quicksum(float(data.costs[i]) * z[i] for i in range(p) if data.costs[i])
            <= data.budget,
            name="cost_budget",
        )
    for i in J:
        model.addCons(u[i] * u[i] <= s[i] * z[i], name=f"perspective_{i}")
        model.addCons(s[i] <= z[i], name=f"perspective_cut_{i}")
    objective = 0.5 * t - ps.quicksum(float(data.lin[i]) * u[i] for i in range(p) if data.lin[i])
    objective = objective + ps.quicksum(0.5 * float(data.d[i]) * s[i] for i in J)
    model.setObjective(objective, "minimize")
    model.addObjoffset(data.const)

    model.setParam("limits/time", max(float(time_limit), 0.0))
    for key, value in SCIP_SETTINGS.items():
        model.setParam(key, value)
    if not heuristics:
        model.setHeuristics(ps.SCIP_PARAMSETTING.OFF)

    if progress is not None:
        model.includeEventhdlr(
            _progress_handler(ps, data.scale, time_limit, progress),
            "chita_progress",
            "periodic progress line",
        )

    accepted = False
    if incumbent is not None:
        pt = data.point(incumbent)
        sol = model.createSol()
        for i in range(p):
            model.setSolVal(sol, u[i], float(pt["u"][i]))
            model.setSolVal(sol, z[i], float(pt["z"][i]))
        for pos, i in enumerate(J):
            model.setSolVal(sol, s[i], float(pt["s"][pos]))
        for j in range(len(e)):
            model.setSolVal(sol, e[j], float(pt["e"][j]))
        model.setSolVal(sol, t, pt["t"])
        accepted = bool(model.addSol(sol, free=True))

    model.optimize()
    raw = model.getStatus()
    status = _STATUS.get(raw, raw)
    u_val = z_val = None
    if model.getNSols() > 0:
        best = model.getBestSol()
        u_val = np.array([model.getSolVal(best, v) for v in u])
        z_val = np.array([model.getSolVal(best, v) for v in z])
    result = ScipResult(
        status=status,
        u=u_val,
        z=z_val,
        dual_bound=float(model.getDualbound()),
        primal_bound=float(model.getPrimalbound()),
        n_nodes=int(model.getNNodes()),
        solve_time=time.perf_counter() - t0,
        incumbent_accepted=accepted,
    )
    model.freeProb()
    return result


def progress_line(elapsed: float, time_limit: float, nodes: int, lower: float, best: float) -> str:
    """One progress line of the MIP search, in units of F."""
    gap = (best - lower) / abs(best) if np.isfinite(best) and best != 0 else float("inf")
    gap_text = f"{gap:.3%}" if np.isfinite(gap) else "inf"
    limit = "" if time_limit >= 1e19 else f" / {time_limit:g} s"
    return (
        f"MIP {elapsed:7.1f} s{limit}  nodes {nodes:>7}  lower bound {lower:.6g}  "
        f"best {best:.6g}  gap {gap_text}"
    )


def _progress_handler(ps, scale: float, time_limit: float, every: float):
    """A PySCIPOpt event handler printing :func:`progress_line` at most every ``every`` s."""
    events = (
        ps.SCIP_EVENTTYPE.LPSOLVED | ps.SCIP_EVENTTYPE.NODESOLVED | ps.SCIP_EVENTTYPE.BESTSOLFOUND
    )

    class Progress(ps.Eventhdlr):
        def eventinit(self):
            self.t0 = time.perf_counter()
            self.last = self.t0
            self.model.catchEvent(events, self)

        def eventexit(self):
            self.model.dropEvent(events, self)

        def eventexec(self, event):
            now = time.perf_counter()
            if now - self.last < every:
                return {}
            self.last = now
            m = self.model
            print(
                progress_line(
                    now - self.t0,
                    time_limit,
                    int(m.getNNodes()),
                    float(m.getDualbound()) * scale,
                    float(m.getPrimalbound()) * scale,
                ),
                flush=True,
            )
            return {}

    return Progress()
