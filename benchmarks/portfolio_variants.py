"""Leaner local-search portfolios against the default, abess and OMP (issue 10, time target).

For every cell of ``regression_families.cells()`` (54 cells, n = 200) and each seed, times
``solve()`` with its defaults and with smaller portfolios (one BLAS/Numba thread), next to abess
and scikit-learn's OMP, all on the same instance in the same process:

* ``default``: ``solve()``'s defaults (starts forward, omp, splicing; perturbations "auto");
* ``all4``: the earlier default portfolio, starts iht, forward, omp, splicing;
* ``fo`` / ``so``: two starts (forward + omp / omp + splicing);
* ``omp``: OMP alone.

Each time is the best of ``--repeat`` runs (3), for every method alike (the shared VM's
timings jitter by 20-30% from run to run).

Objectives are F of each support refitted exactly. Not a test: prints one line per instance
and a summary, writes ``benchmarks/results/portfolio_variants.json``.

    python benchmarks/portfolio_variants.py [--seeds 0,1] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from regression_families import cells, make_instance, run_abess, run_omp, timed  # noqa: E402

from sparse_regression import SparseProblem, backsolve, solve  # noqa: E402

VARIANTS = {
    "default": {},
    "all4": dict(starts=("iht", "forward", "omp", "splicing")),
    "fo": dict(starts=("forward", "omp")),
    "so": dict(starts=("omp", "splicing")),
    "omp": dict(starts=("omp",)),
}


REPEAT = 3  # timings: best of this many runs (--repeat)


def summarize(rows) -> dict:
    ab = np.array([r["abess"][1] for r in rows])
    best = np.array([min(r["abess"][0], r["skomp"][0]) for r in rows])
    fdef = np.array([r["default"][0] for r in rows])
    out = {"abess_median_ms": 1000 * float(np.median(ab))}
    for v in VARIANTS:
        t = np.array([r[v][1] for r in rows])
        f = np.array([r[v][0] for r in rows])
        out[v] = dict(
            median_ms=1000 * float(np.median(t)),
            median_ratio_to_abess=float(np.median(t / ab)),
            worse_than_best_anchor=int(np.sum(f > best * (1 + 1e-6))),
            worse_than_default=int(np.sum(f > fdef * (1 + 1e-6))),
            instances=len(rows),
        )
    return out


def run_instance(cell, seed, warm_up=False) -> dict:
    X, y = make_instance(cell["family"], cell["n"], cell["p"], cell["k"], cell["snr"], seed)
    k = cell["k"]
    prob = SparseProblem(X, y, k)
    if warm_up:
        solve(prob, random_state=seed)  # compile the kernels outside the timings
    r = dict(cell, seed=seed)
    for name, kw in VARIANTS.items():
        t, sol = timed(lambda kw=kw: solve(prob, random_state=seed, **kw), REPEAT)
        r[name] = (sol.objective, t)
        r.setdefault("iht_time", {})[name] = sol.info.get("iht_time")
    t, S = timed(lambda: run_abess(X, y, k), REPEAT)
    r["abess"] = (prob.objective(backsolve(prob, S)), t)
    t, S = timed(lambda: run_omp(X, y, k), REPEAT)
    r["skomp"] = (prob.objective(backsolve(prob, S)), t)
    return r


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", default="0,1")
    ap.add_argument("--repeat", type=int, default=3, help="timings: best of this many runs")
    args = ap.parse_args()
    global REPEAT
    REPEAT = args.repeat
    from adapters.demo.threads import set_threads

    set_threads(1)
    seeds = [int(s) for s in args.seeds.split(",")]
    rows = []
    for cell in cells():
        for seed in seeds:
            rows.append(run_instance(cell, seed, warm_up=not rows))
            r = rows[-1]
            print(
                cell["family"],
                cell["p"],
                cell["k"],
                seed,
                " ".join(f"{n}:{r[n][0]:.4g}/{1000 * r[n][1]:.0f}ms" for n in [*VARIANTS, "abess"]),
                flush=True,
            )
    summary = summarize(rows)
    for k, v in summary.items():
        print(k, v)
    out = ROOT / "benchmarks" / "results" / "portfolio_variants.json"
    out.write_text(json.dumps(dict(summary=summary, rows=rows), indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
