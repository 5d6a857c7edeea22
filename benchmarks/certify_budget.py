"""Certified check under a cost budget (FALCON): the core's answer vs the MIP optimum.

20 seeded instances: n = 40, p = 25, k = 6, AR(1) columns (rho = 0.5), a 6-sparse signal,
SNR 3, ridge 0 (even seeds) or 0.1 (odd seeds); costs drawn from {1, 4, 16, 64} (four "layers"),
budget = 25% of the total cost, so the budget binds. ``MIPSolver`` (SCIP, safe big-M, the
budget as one more linear constraint) certifies the optimum; exhaustive enumeration over
every support that fits is the ground truth. Target (issue 8): the core equals the MIP
optimum on >= 19 of 20.

Usage: ``python benchmarks/certify_budget.py [--instances 20]``; writes
``benchmarks/results/certify_budget.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from solvers import EnumerationSolver, MIPSolver  # noqa: E402
from sparse_regression import SparseProblem, make_correlated_regression, solve  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "certify_budget.json"
N, P, K = 40, 25, 6


def instance(seed: int) -> SparseProblem:
    X, y, _ = make_correlated_regression(N, P, K, rho=0.5, snr=3.0, random_state=seed)
    rng = np.random.default_rng(1000 + seed)
    costs = rng.choice([1.0, 4.0, 16.0, 64.0], P)
    return SparseProblem(
        X, y, K, ridge=0.1 * (seed % 2), costs=costs, budget=0.25 * float(costs.sum())
    )


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--instances", type=int, default=20)
    ap.add_argument("--time-limit", type=float, default=300.0)
    args = ap.parse_args()
    rows = []
    print(
        f"{'seed':>4} {'core F':>12} {'MIP F':>12} {'enum F':>12} {'gap':>9} {'t core':>7} "
        f"{'t MIP':>7} {'equal':>5}"
    )
    for seed in range(args.instances):
        pb = instance(seed)
        t = time.perf_counter()
        core = solve(pb, random_state=seed)
        t_core = time.perf_counter() - t
        t = time.perf_counter()
        mip = MIPSolver(time_limit=args.time_limit).solve(pb)
        t_mip = time.perf_counter() - t
        enum = EnumerationSolver(max_subsets=10**7).solve(pb)
        opt = min(mip.objective, enum.objective)
        equal = core.objective <= opt * (1 + 1e-6)
        rows.append(
            dict(
                seed=seed,
                core=core.objective,
                mip=mip.objective,
                enum=enum.objective,
                mip_status=mip.status,
                mip_certified=mip.optimality == "certified",
                mip_gap=mip.gap,
                core_cost=core.cost,
                budget=pb.budget,
                core_feasible=pb.is_feasible(core.coef),
                t_core=t_core,
                t_mip=t_mip,
                equal=bool(equal),
            )
        )
        print(
            f"{seed:>4} {core.objective:>12.6f} {mip.objective:>12.6f} {enum.objective:>12.6f} "
            f"{mip.gap:>9.1e} {t_core:>7.2f} {t_mip:>7.2f} {str(bool(equal)):>5}",
            flush=True,
        )
    n_eq = sum(r["equal"] for r in rows)
    print(
        f"core equals the certified optimum on {n_eq}/{len(rows)} (target >= 19/20); "
        f"all core answers feasible: {all(r['core_feasible'] for r in rows)}; "
        f"MIP certified {sum(r['mip_certified'] for r in rows)}/{len(rows)}"
    )
    RESULTS.write_text(json.dumps(dict(rows=rows, equal=n_eq, instances=len(rows)), indent=1))
    print(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
