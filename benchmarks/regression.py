"""Sparse regression benchmark (issue 2): chita against abess, OMP and plain IHT.

Correlated Toeplitz designs (AR(1) columns with correlation rho, a k-sparse signal, SNR 3).
Every method's support is refitted exactly by least squares, so the table compares the
objective 1/2 ||y - X w||^2 each method's *support* achieves, and wall-clock time (best of
``--repeats`` runs, after a warm-up; chita's one-time Numba compilation is measured separately
in fresh interpreters). It also measures one full-gradient pass against a bare numpy
``A.T @ (A @ w)`` on the same arrays, and the machine's memory bandwidth for the roofline.

Not a test: prints a table and writes ``benchmarks/results/regression.json``.

    python benchmarks/regression.py            # full run (about 2 minutes)
    python benchmarks/regression.py --seeds 1  # quick look
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _baselines import plain_iht, run_abess, run_omp  # noqa: E402

from sparse_regression import SparseProblem, backsolve, make_correlated_regression, solve  # noqa: E402

CONFIGS = [
    dict(n=500, p=2000, k=20, rho=0.5),
    dict(n=500, p=5000, k=50, rho=0.7),
    dict(n=200, p=10000, k=30, rho=0.9),
]
TIE_RTOL = 1e-6


def best_time(fn, repeats):
    out, best = None, np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def run_instance(cfg, seed, repeats):
    n, p, k, rho = cfg["n"], cfg["p"], cfg["k"], cfg["rho"]
    X, y, _ = make_correlated_regression(n, p, k, rho=rho, snr=3.0, random_state=seed)
    prob = SparseProblem(X, y, k)
    row = dict(n=n, p=p, k=k, rho=rho, seed=seed)

    def refit_objective(support):
        return prob.objective(backsolve(prob, support))

    t, sol = best_time(lambda: solve(SparseProblem(X, y, k), random_state=seed), repeats)
    row["chita"] = dict(objective=sol.objective, time=t, optimality=sol.optimality)
    t, S = best_time(lambda: run_abess(X, y, k), repeats)
    row["abess"] = dict(objective=refit_objective(S), time=t)
    t, S = best_time(lambda: run_omp(X, y, k), repeats)
    row["omp"] = dict(objective=refit_objective(S), time=t)
    t, (w, iters) = best_time(lambda: plain_iht(X, y, k), 1)
    row["iht_1/L"] = dict(objective=refit_objective(np.flatnonzero(w)), time=t, n_iter=iters)
    return row


_COMPILE_SNIPPET = """
import time
t0 = time.perf_counter()
import numpy as np
from sparse_regression import SparseProblem, solve, make_correlated_regression
X, y, _ = make_correlated_regression(60, 300, 5, rho=0.5, random_state=0)
solve(SparseProblem(X, y, 5))
X32 = np.asfortranarray(X, dtype=np.float32)
solve(SparseProblem(np.ascontiguousarray(X32), y, 5))
solve(SparseProblem(X32, y, 5))
print(time.perf_counter() - t0)
"""


def compile_times():
    """Seconds to import and first-solve in a fresh interpreter: cold (empty Numba cache, so
    everything compiles) and warm (the on-disk cache that ``cache=True`` keeps)."""
    out = {}
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        for label in ("cold", "warm"):
            run = subprocess.run(
                [sys.executable, "-c", _COMPILE_SNIPPET],
                env=env,
                cwd=ROOT,
                capture_output=True,
                text=True,
                check=True,
            )
            out[label] = float(run.stdout.strip().splitlines()[-1])
    return out


def memory_bandwidth(nbytes=512 * 2**20, repeats=5):
    """Read+write bandwidth (bytes/s) of a large array copy."""
    src = np.ones(nbytes // 8)
    dst = np.empty_like(src)
    t, _ = best_time(lambda: np.copyto(dst, src), repeats)
    return 2 * nbytes / t


def gradient_pass(n, p, order, k, repeats=30):
    """One full gradient A^T (A w - b) with chita vs a bare float32 numpy A.T @ (A @ w)."""
    rng = np.random.default_rng(0)
    A = np.asarray(rng.standard_normal((n, p), dtype=np.float32), order=order)
    b = rng.standard_normal(n)
    prob = SparseProblem(A, b, k)
    w_dense = rng.standard_normal(p)
    w_sparse = np.zeros(p)
    w_sparse[rng.choice(p, k, replace=False)] = 1.0
    w32 = w_dense.astype(np.float32)
    prob.gradient(w_dense)
    t_bare, _ = best_time(lambda: A.T @ (A @ w32), repeats)
    t_dense, _ = best_time(lambda: prob.gradient(w_dense), repeats)
    t_sparse, _ = best_time(lambda: prob.gradient(w_sparse), repeats)
    return dict(
        n=n,
        p=p,
        order=order,
        bytes_A=A.nbytes,
        numpy_bare=t_bare,
        chita_dense_w=t_dense,
        chita_k_sparse_w=t_sparse,
        ratio_dense=t_dense / t_bare,
        ratio_sparse=t_sparse / t_bare,
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=5, help="instances per configuration")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per method")
    parser.add_argument(
        "--output", type=Path, default=ROOT / "benchmarks" / "results" / "regression.json"
    )
    args = parser.parse_args(argv)

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"load average {load:.2f}"
    )
    comp = compile_times()
    print(
        f"chita import + first solve in a fresh interpreter: {comp['cold']:.1f} s with an empty "
        f"Numba cache (compilation), {comp['warm']:.1f} s with the on-disk cache\n"
    )
    # warm-up in this process
    X, y, _ = make_correlated_regression(60, 300, 5, random_state=0)
    solve(SparseProblem(X, y, 5))

    rows = []
    methods = ["chita", "abess", "omp", "iht_1/L"]
    header = f"{'instance':<28}" + "".join(f"{m:>22}" for m in methods)
    print("objective of the refitted support (time in s)")
    print(header)
    print("-" * len(header))
    for cfg in CONFIGS:
        for seed in range(args.seeds):
            row = run_instance(cfg, seed, args.repeats)
            rows.append(row)
            name = f"n={cfg['n']} p={cfg['p']} k={cfg['k']} rho={cfg['rho']} #{seed}"
            cells = "".join(
                f"{row[m]['objective']:>13.6g} ({row[m]['time']:5.3f})" for m in methods
            )
            print(f"{name:<28}{cells}", flush=True)

    def ok(row):
        best = min(row["abess"]["objective"], row["omp"]["objective"])
        return row["chita"]["objective"] <= best * (1 + TIE_RTOL)

    wins = sum(ok(r) for r in rows)
    strict = sum(
        r["chita"]["objective"]
        < min(r["abess"]["objective"], r["omp"]["objective"]) * (1 - TIE_RTOL)
        for r in rows
    )
    med = {m: float(np.median([r[m]["time"] for r in rows])) for m in methods}
    print("\nmedian time (s): " + ", ".join(f"{m} {med[m]:.3f}" for m in methods))
    rel = {
        m: float(np.median([r[m]["objective"] / r["chita"]["objective"] - 1 for r in rows]))
        for m in methods[1:]
    }
    print(
        "median objective excess over chita: " + ", ".join(f"{m} {100 * rel[m]:+.2f}%" for m in rel)
    )

    bw = memory_bandwidth()
    grads = [
        gradient_pass(500, 5000, "F", 50),
        gradient_pass(500, 5000, "C", 50),
        gradient_pass(1000, 100_000, "F", 1000, repeats=5),
    ]
    print(f"\nfull-gradient pass, float32 A (memory bandwidth measured {bw / 1e9:.1f} GB/s)")
    print(
        f"{'A':<22}{'numpy A.T@(A@w)':>17}{'chita dense w':>15}{'ratio':>7}"
        f"{'chita k-sparse w':>18}{'ratio':>7}{'roofline':>10}"
    )
    for g in grads:
        roof = 2 * g["bytes_A"] / bw
        g["roofline_time"] = roof
        g["fraction_of_roofline_sparse"] = roof / g["chita_k_sparse_w"]
        print(
            f"{g['n']}x{g['p']} {g['order']}-order{'':<6}{1e3 * g['numpy_bare']:>14.3f} ms"
            f"{1e3 * g['chita_dense_w']:>12.3f} ms{g['ratio_dense']:>7.2f}"
            f"{1e3 * g['chita_k_sparse_w']:>15.3f} ms{g['ratio_sparse']:>7.2f}"
            f"{1e3 * roof:>7.3f} ms"
        )

    target_grad = grads[0]["ratio_dense"]
    verdicts = {
        "objective <= best of abess and OMP on every instance": wins == len(rows),
        "median time <= abess median time": med["chita"] <= med["abess"],
        "gradient pass (500x5000 float32) within 2x of bare numpy": target_grad <= 2.0,
    }
    print(
        f"\nchita <= best(abess, OMP) on {wins}/{len(rows)} instances (strictly better on {strict})"
    )
    for name, passed in verdicts.items():
        print(f"  [{'MET' if passed else 'NOT MET'}] {name}")

    args.output.parent.mkdir(parents=True, exist_ok=True)
    result = dict(
        machine=dict(
            processor=platform.processor() or platform.machine(),
            cpu_count=os.cpu_count(),
            load_average_at_start=load,
            python=platform.python_version(),
            numpy=np.__version__,
        ),
        compile_time=comp,
        instances=rows,
        median_time=med,
        median_objective_excess_over_chita=rel,
        wins=wins,
        strictly_better=strict,
        memory_bandwidth_bytes_per_s=bw,
        gradient_pass=grads,
        targets={k: bool(v) for k, v in verdicts.items()},
    )
    args.output.write_text(json.dumps(result, indent=2))
    print(f"\nwrote {args.output}")
    return result


if __name__ == "__main__":
    main()
