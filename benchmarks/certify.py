"""Certification benchmark: MIPSolver vs a naive cvxpy big-M model on SCIP.

Instances (seeded, 20 by default): n = 40, p = 25, k = 5; columns AR(1) with rho = 0.7
(``X[:, 0] = z_0``, ``X[:, j] = rho X[:, j-1] + sqrt(1 - rho^2) z_j``); a k-sparse signal
beta with entries +-1 on a random support; noise e scaled so that
``||X beta||^2 / ||e||^2 = SNR = 2`` (signal-to-noise as a ratio of energies, i.e.
``||X beta|| / ||e|| = sqrt(2)``); ridge = 0.

For each instance:

* the core solver ``sparse_regression.solve`` (objective, time);
* ``MIPSolver()`` (its full wall time, incumbent included);
* the naive model, built in cvxpy as it is usually written: binary z, ``|w| <= M z``,
  ``sum z <= k``, objective ``1/2 ||A w - b||^2``, ``M = 4 max|w_omp| + 1`` (scikit-learn's
  OrthogonalMatchingPursuit with k nonzeros), no warm start, no perspective, SCIP defaults;
  timed around ``problem.solve`` (cvxpy compilation included);
* exhaustive enumeration (C(25, 5) = 53,130 supports) as the ground truth.

Targets (issue 3): same optima; median certification time of MIPSolver at least 3x lower than
the naive model's; the core reaches the certified optimum on >= 19 of 20 instances.

Usage: ``python benchmarks/certify.py [--instances 20] [--time-limit 600] [--ablation]``.
Prints a table and writes ``benchmarks/results/certify.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import cvxpy as cp  # noqa: E402
import pyscipopt  # noqa: E402
from sklearn.linear_model import OrthogonalMatchingPursuit  # noqa: E402

import solvers.mip_scip as mip_scip  # noqa: E402
from solvers import EnumerationSolver, MIPSolver  # noqa: E402
from sparse_regression import SparseProblem, solve  # noqa: E402

N, P, K, RHO, SNR = 40, 25, 5, 0.7, 2.0
RESULTS = ROOT / "benchmarks" / "results" / "certify.json"


def make_instance(seed: int) -> SparseProblem:
    rng = np.random.default_rng(seed)
    Z = rng.standard_normal((N, P))
    X = np.empty((N, P))
    X[:, 0] = Z[:, 0]
    for j in range(1, P):
        X[:, j] = RHO * X[:, j - 1] + np.sqrt(1 - RHO**2) * Z[:, j]
    beta = np.zeros(P)
    beta[rng.choice(P, K, replace=False)] = rng.choice([-1.0, 1.0], K)
    signal = X @ beta
    noise = rng.standard_normal(N)
    noise *= np.linalg.norm(signal) / (np.sqrt(SNR) * np.linalg.norm(noise))
    return SparseProblem(X, signal + noise, K)


def naive_big_m(problem: SparseProblem, time_limit: float) -> dict:
    A, b, k = problem.A, problem.b, problem.k
    omp = OrthogonalMatchingPursuit(n_nonzero_coefs=k, fit_intercept=False).fit(A, b)
    M = 4.0 * float(np.max(np.abs(omp.coef_))) + 1.0
    w = cp.Variable(problem.n_features)
    z = cp.Variable(problem.n_features, boolean=True)
    model = cp.Problem(
        cp.Minimize(0.5 * cp.sum_squares(A @ w - b)),
        [cp.abs(w) <= M * z, cp.sum(z) <= k],
    )
    t0 = time.perf_counter()
    model.solve(solver=cp.SCIP, scip_params={"limits/time": time_limit})
    elapsed = time.perf_counter() - t0
    stats = model.solver_stats.extra_stats
    coef = np.where(np.asarray(z.value) > 0.5, np.asarray(w.value), 0.0)
    return {
        "time": elapsed,
        "status": stats["scip_status"],
        "objective": problem.objective(coef),
        "lower_bound": float(stats["model"].getDualbound()),
        "nodes": int(stats["model"].getNNodes()),
        "big_m": M,
    }


def run_mip(problem: SparseProblem, time_limit: float, **params) -> dict:
    t0 = time.perf_counter()
    sol = MIPSolver(time_limit=time_limit, **params).solve(problem)
    return {
        "time": time.perf_counter() - t0,
        "status": sol.status,
        "objective": sol.objective,
        "lower_bound": sol.lower_bound,
        "gap": sol.gap,
        "nodes": sol.info.get("n_nodes"),
        "certified": sol.optimality == "certified",
        "big_m_max": sol.info.get("big_m_max"),
    }


def run_mip_scip_defaults(problem: SparseProblem, time_limit: float) -> dict:
    """Ablation: MIPSolver's model and incumbent with SCIP's default settings."""
    saved = dict(mip_scip.SCIP_SETTINGS)
    saved_default = mip_scip.solve_scip.__kwdefaults__["heuristics"]
    mip_scip.SCIP_SETTINGS.clear()
    mip_scip.solve_scip.__kwdefaults__["heuristics"] = True
    try:
        return run_mip(problem, time_limit)
    finally:
        mip_scip.SCIP_SETTINGS.update(saved)
        mip_scip.solve_scip.__kwdefaults__["heuristics"] = saved_default


ABLATIONS = {
    "mip_no_perspective": lambda pb, tl: run_mip(pb, tl, perspective=False),
    "mip_via_cvxpy": lambda pb, tl: run_mip(pb, tl, interface="cvxpy"),
    "mip_scip_defaults": run_mip_scip_defaults,
}


def rel(a: float, b: float) -> float:
    return abs(a - b) / max(abs(b), 1e-300)


def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        )
        return out.stdout.strip()
    except OSError:
        return "unknown"


def core_fingerprint() -> str:
    """Short hash of the core's sources, to tell which core a result was measured with."""
    import hashlib

    import sparse_regression

    digest = hashlib.sha256()
    root = Path(sparse_regression.__file__).parent
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--instances", type=int, default=20)
    parser.add_argument("--time-limit", type=float, default=600.0)
    parser.add_argument("--ablation", action="store_true", help="also time model variants")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    MIPSolver().solve(make_instance(10_000))  # compile / load the Numba kernels first
    rows = []
    header = (
        f"{'seed':>4} {'optimum':>11} {'iht':>4} {'mip s':>7} {'nodes':>6} {'naive s':>8} "
        f"{'nodes':>6} {'speedup':>7} {'agree':>5}"
    )
    print(header)
    print("-" * len(header))
    for seed in range(args.instances):
        problem = make_instance(seed)
        t0 = time.perf_counter()
        core = solve(problem)
        core_time = time.perf_counter() - t0
        exact = EnumerationSolver().solve(problem)
        mip = run_mip(problem, args.time_limit)
        naive = naive_big_m(problem, args.time_limit)
        row = {
            "seed": seed,
            "optimum": exact.objective,
            "core": {"objective": core.objective, "time": core_time},
            "core_hits_optimum": rel(core.objective, exact.objective) < 1e-9,
            "mip": mip,
            "naive": naive,
            "mip_agrees": rel(mip["objective"], exact.objective) < 1e-6,
            "naive_agrees": rel(naive["objective"], exact.objective) < 1e-6,
            "speedup": naive["time"] / mip["time"],
        }
        if args.ablation:
            row["ablation"] = {name: fn(problem, args.time_limit) for name, fn in ABLATIONS.items()}
        rows.append(row)
        agree = row["mip_agrees"] and row["naive_agrees"]
        print(
            f"{seed:>4} {exact.objective:>11.5f} {'yes' if row['core_hits_optimum'] else 'NO':>4} "
            f"{mip['time']:>7.2f} {mip['nodes']:>6} {naive['time']:>8.2f} {naive['nodes']:>6} "
            f"{row['speedup']:>6.1f}x {'yes' if agree else 'NO':>5}",
            flush=True,
        )

    mip_times = np.array([r["mip"]["time"] for r in rows])
    naive_times = np.array([r["naive"]["time"] for r in rows])
    hits = sum(r["core_hits_optimum"] for r in rows)
    agree = sum(r["mip_agrees"] and r["naive_agrees"] for r in rows)
    certified = sum(r["mip"]["certified"] and r["naive"]["status"] == "optimal" for r in rows)
    ratio = float(np.median(naive_times) / np.median(mip_times))
    summary = {
        "median_time_mip": float(np.median(mip_times)),
        "median_time_naive": float(np.median(naive_times)),
        "median_time_ratio": ratio,
        "median_per_instance_speedup": float(np.median(naive_times / mip_times)),
        "both_certified": int(certified),
        "optima_agree": int(agree),
        "core_hits": int(hits),
        "targets": {
            "same_optima": agree == len(rows),
            "median_time_3x_lower": ratio >= 3.0,
            "core_hits_19_of_20": hits >= 19 * len(rows) / 20,
        },
    }
    if args.ablation:
        summary["ablation_median_time"] = {
            name: float(np.median([r["ablation"][name]["time"] for r in rows]))
            for name in ABLATIONS
        }
    print("-" * len(header))
    print(
        f"median time: MIPSolver {summary['median_time_mip']:.2f}s, naive "
        f"{summary['median_time_naive']:.2f}s -> {ratio:.1f}x (target >= 3x: "
        f"{'met' if summary['targets']['median_time_3x_lower'] else 'NOT met'})"
    )
    print(
        f"optima agree (MIP, naive, enumeration): {agree}/{len(rows)} "
        f"({'met' if summary['targets']['same_optima'] else 'NOT met'}); both certified: "
        f"{certified}/{len(rows)}"
    )
    print(
        f"core reaches the optimum: {hits}/{len(rows)} (target >= 19/20: "
        f"{'met' if summary['targets']['core_hits_19_of_20'] else 'NOT met'})"
    )
    if args.ablation:
        for name, value in summary["ablation_median_time"].items():
            print(f"ablation {name}: median {value:.2f}s")

    result = {
        "benchmark": "certify",
        "setup": {
            "instances": args.instances,
            "n": N,
            "p": P,
            "k": K,
            "rho": RHO,
            "snr": SNR,
            "snr_definition": "||X beta||^2 / ||noise||^2",
            "time_limit": args.time_limit,
            "naive_model": "cvxpy big-M, M = 4 max|OMP coef| + 1, no warm start, no "
            "perspective, SCIP defaults",
        },
        "environment": {
            "python": platform.python_version(),
            "machine": platform.machine(),
            "cpus": __import__("os").cpu_count(),
            "cvxpy": cp.__version__,
            "pyscipopt": pyscipopt.__version__,
            "scip": str(pyscipopt.Model().version()),
            "numpy": np.__version__,
            "git_commit": git_commit(),
            "core_sha256": core_fingerprint(),
        },
        "summary": summary,
        "instances": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, default=float) + "\n")
    print(f"wrote {args.out}")
    return result


if __name__ == "__main__":
    main()
