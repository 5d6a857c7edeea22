"""Best subsets of scikit-learn's diabetes data for k = 1..10, certified two ways.

X standardised (zero mean, unit variance per column), y centred, ridge = 0. For each k:
the optimum by exhaustive enumeration and by MIPSolver (which must agree), and whether the
core solver (``sparse_regression.solve``) reaches it. Prints a markdown table (used in
docs/solvers.md) and writes ``benchmarks/results/diabetes_subsets.json``.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.datasets import load_diabetes

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from solvers import EnumerationSolver, MIPSolver  # noqa: E402
from sparse_regression import SparseProblem, solve  # noqa: E402


def main() -> list[dict]:
    data = load_diabetes()
    X = (data.data - data.data.mean(axis=0)) / data.data.std(axis=0)
    y = data.target - data.target.mean()
    names = list(data.feature_names)
    MIPSolver().solve(SparseProblem(X, y, 3))  # load the Numba kernels before timing
    rows = []
    print(
        "| k | F* = RSS/2 | best subset | MIP = enumeration | MIP gap | MIP time (s) | core hits |"
    )
    print("|---|---|---|---|---|---|---|")
    for k in range(1, X.shape[1] + 1):
        problem = SparseProblem(X, y, k)
        exact = EnumerationSolver().solve(problem)
        t0 = time.perf_counter()
        mip = MIPSolver(time_limit=60).solve(problem)
        mip_time = time.perf_counter() - t0
        core = solve(problem)
        row = {
            "k": k,
            "optimum": exact.objective,
            "support": [names[i] for i in exact.support],
            "mip_objective": mip.objective,
            "mip_equals_enumeration": bool(np.array_equal(mip.support, exact.support)),
            "mip_certified": mip.optimality == "certified",
            "mip_gap": mip.gap,
            "mip_time": mip_time,
            "core_objective": core.objective,
            "core_hits": abs(core.objective - exact.objective) <= 1e-9 * exact.objective,
        }
        rows.append(row)
        print(
            f"| {k} | {exact.objective:.1f} | {', '.join(row['support'])} | "
            f"{'yes' if row['mip_equals_enumeration'] and row['mip_certified'] else 'NO'} | "
            f"{mip.gap:.0e} | {mip_time:.2f} | {'yes' if row['core_hits'] else 'NO'} |"
        )
    out = ROOT / "benchmarks" / "results" / "diabetes_subsets.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(rows, indent=2) + "\n")
    return rows


if __name__ == "__main__":
    main()
