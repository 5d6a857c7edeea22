"""Knapsack projection benchmark: ``sparse_regression.knapsack_support`` vs HiGHS (scipy.milp).

Quality: 500 seeded random instances, p uniform in [5, 200], 2-10 cost levels (even seeds:
levels drawn from {1, 2, 3, 5, 8, 10, 16, 32, 64, 100, 128, 256}, as layer costs are; odd
seeds: uniform in [0.1, 100]), values ``u_i^2`` with u standard normal scaled by U(1, 2), k
uniform in [1, p], budget uniform in [0.05, 1] x total cost. HiGHS solves the MILP to a zero
gap. Targets (issue 8): never infeasible; equal to the optimum (1e-9 relative) on >= 97%;
within 1e-3 relative on all.

Speed: p = 1e6 items, 20 cost levels (integers in [1, 1024]), k = p / 3, budget = 0.2 x total.
Our time includes grouping the costs into levels; best of 3 runs. HiGHS is given
``--highs-limit`` seconds (then its time is a lower bound). Targets: >= 20x faster than
HiGHS and < 0.5 s.

Usage: ``python benchmarks/knapsack.py [--instances 500] [--highs-limit 300]``.
Writes ``benchmarks/results/knapsack.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sparse_regression.knapsack import knapsack_support  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "knapsack.json"
INT_LEVELS = np.array([1, 2, 3, 5, 8, 10, 16, 32, 64, 100, 128, 256], dtype=np.float64)


def instance(seed: int):
    rng = np.random.default_rng(seed)
    p = int(rng.integers(5, 201))
    L = int(rng.integers(2, 11))
    if seed % 2 == 0:
        levels = rng.choice(INT_LEVELS, L, replace=False)
    else:
        levels = rng.uniform(0.1, 100.0, L)
    f = levels[rng.integers(0, L, p)]
    v = (rng.standard_normal(p) * rng.uniform(1.0, 2.0, p)) ** 2
    k = int(rng.integers(1, p + 1))
    budget = float(rng.uniform(0.05, 1.0) * f.sum())
    return v, k, f, budget


def highs(v, k, f, budget, time_limit=None):
    p = v.size
    opts = {"mip_rel_gap": 0.0}
    if time_limit:
        opts["time_limit"] = time_limit
    t = time.perf_counter()
    res = milp(
        -v,
        constraints=LinearConstraint(np.vstack([np.ones(p), f]), -np.inf, [k, budget]),
        integrality=np.ones(p),
        bounds=Bounds(0, 1),
        options=opts,
    )
    return (-res.fun if res.x is not None else np.nan), time.perf_counter() - t, res.status


def quality(n_instances: int) -> dict:
    rows = []
    for seed in range(n_instances):
        v, k, f, budget = instance(seed)
        t = time.perf_counter()
        res = knapsack_support(v, k, f, budget)
        t_ours = time.perf_counter() - t
        opt, t_highs, status = highs(v, k, f, budget)
        feasible = res.support.size <= k and f[res.support].sum() <= budget * (1 + 1e-12)
        rel = (opt - res.value) / max(opt, 1e-300)
        rows.append(
            dict(
                seed=seed,
                p=int(v.size),
                levels=int(np.unique(f).size),
                feasible=bool(feasible),
                rel_gap=float(rel),
                proven=res.proven,
                t_ours=t_ours,
                t_highs=t_highs,
            )
        )
    gaps = np.array([r["rel_gap"] for r in rows])
    return dict(
        instances=n_instances,
        infeasible=int(sum(not r["feasible"] for r in rows)),
        optimal=int(np.sum(gaps <= 1e-9)),
        optimal_fraction=float(np.mean(gaps <= 1e-9)),
        worst_rel_gap=float(gaps.max()),
        proven=int(sum(r["proven"] for r in rows)),
        median_t_ours=float(np.median([r["t_ours"] for r in rows])),
        median_t_highs=float(np.median([r["t_highs"] for r in rows])),
        rows=rows,
    )


def speed(p: int, n_levels: int, highs_limit: float) -> dict:
    rng = np.random.default_rng(12345)
    levels = np.round(rng.uniform(1, 1024, n_levels))
    f = levels[rng.integers(0, n_levels, p)]
    v = rng.standard_normal(p) ** 2
    k, budget = p // 3, 0.2 * float(f.sum())
    knapsack_support(v[:1000], 300, f[:1000], 0.2 * f[:1000].sum())  # compile
    times = []
    for _ in range(3):
        t = time.perf_counter()
        res = knapsack_support(v, k, f, budget)
        times.append(time.perf_counter() - t)
    opt, t_highs, status = highs(v, k, f, budget, time_limit=highs_limit)
    return dict(
        p=p,
        levels=n_levels,
        t_ours=min(times),
        t_ours_runs=times,
        value=res.value,
        upper_bound=res.upper_bound,
        proven=res.proven,
        feasible=bool(res.support.size <= k and res.cost <= budget * (1 + 1e-12)),
        highs_value=float(opt),
        highs_status=int(status),
        highs_hit_limit=bool(status == 1),
        t_highs=t_highs,
        rel_gap_vs_highs=float((opt - res.value) / opt) if np.isfinite(opt) else None,
        speedup=t_highs / min(times),
    )


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--instances", type=int, default=500)
    ap.add_argument("--p", type=int, default=10**6)
    ap.add_argument("--levels", type=int, default=20)
    ap.add_argument("--highs-limit", type=float, default=300.0)
    args = ap.parse_args()
    q = quality(args.instances)
    print(f"quality on {q['instances']} instances (p <= 200, 2-10 cost levels) vs HiGHS:")
    print(f"  infeasible        {q['infeasible']}")
    print(f"  optimal (1e-9)    {q['optimal']} ({100 * q['optimal_fraction']:.1f}%)")
    print(f"  worst rel gap     {q['worst_rel_gap']:.2e}")
    print(f"  proven by own B&B {q['proven']}")
    print(
        f"  median time       ours {q['median_t_ours'] * 1e3:.2f} ms, "
        f"HiGHS {q['median_t_highs'] * 1e3:.2f} ms"
    )
    s = speed(args.p, args.levels, args.highs_limit)
    limit = " (hit its time limit: lower bound)" if s["highs_hit_limit"] else ""
    print(f"speed at p={s['p']}, {s['levels']} levels:")
    print(f"  ours  {s['t_ours']:.3f} s (runs {', '.join(f'{t:.3f}' for t in s['t_ours_runs'])})")
    print(f"  HiGHS {s['t_highs']:.1f} s{limit}; speed-up {s['speedup']:.0f}x")
    print(
        f"  value ours {s['value']:.6f}, HiGHS {s['highs_value']:.6f}, bound {s['upper_bound']:.6f}"
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(dict(quality=q, speed=s, machine=platform.platform()), indent=1))
    print(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
