"""Long property fuzz of the core and exact solvers (issue 13): the checks of the test suite's
fast profile (``tests/test_core_fuzz.py``) on many more random cases.

Each case is drawn by ``tests._fuzz.random_spec`` from its index (so any failure is
reproducible from the index alone): n <= 40, p <= 60, k in 1..p, float32/float64, C/F order,
a degeneracy (zero, duplicated, identical, near-collinear or rank-one columns; columns, A or b
scaled by 1e6 / 1e-6), ridge in {0, 1e-8, 1e-3, 1, 100}, with and without w_ref. Checked:
finite coef, nnz <= k, reported objective == recomputed (1e-9 / 1e-5 relative plus the residual's
rounding floor), objective >= 0, non-increasing history, never below the enumerated optimum,
``EnumerationSolver`` equal to a plain enumeration (counted in ``enumeration_solver_checked``),
and
"swap-optimal" labels by brute force over all single swaps; every 10th case also that the
same random_state gives the same result, and every 250th tiny case that the MIP (SCIP) agrees
with enumeration. Any exception or RuntimeWarning is a failure.

Not a test: prints a summary and writes ``benchmarks/results/fuzz.json`` (after every chunk,
so an interrupted run keeps what it did; ``--resume`` continues from it).

    python benchmarks/fuzz.py --cases 100000            # the long profile
    python benchmarks/fuzz.py --cases 2000              # a quick look
    python benchmarks/fuzz.py --cases 100000 --resume   # continue an interrupted run
    python benchmarks/fuzz.py --merge a.json b.json     # combine runs over disjoint ranges and
                                                        # re-run their failures with today's code
"""

from __future__ import annotations

import argparse
import collections
import json
import math
import platform
import subprocess
import sys
import time
import traceback
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sparse_regression import solve  # noqa: E402
from tests._fuzz import (  # noqa: E402
    MAX_ENUM_SUPPORTS,
    check_solution,
    enumeration_optimum,
    label_tolerance,
    largest_swap_gain,
    objective_tolerance,
    random_spec,
)

OUT = ROOT / "benchmarks" / "results" / "fuzz.json"
#: Supports below which the label is checked by brute force (p k backsolves).
MAX_LABEL_WORK = 400


def _enumeration_solver():
    from solvers import EnumerationSolver

    return EnumerationSolver()


def _mip_agrees(problem, f_opt, tol) -> list[str]:
    from solvers import MIPSolver

    mip = MIPSolver(time_limit=20).solve(problem)
    scale = max(abs(f_opt), tol / 1e-9)
    bad = []
    if not mip.objective <= f_opt + 1e-6 * scale:
        bad.append(f"MIP objective {mip.objective!r} above the enumerated optimum {f_opt!r}")
    if mip.lower_bound is not None and not mip.lower_bound <= f_opt + 1e-6 * scale:
        bad.append(f"MIP lower bound {mip.lower_bound!r} above the optimum {f_opt!r}")
    return bad


def run_case(index: int, stats: collections.Counter) -> list[str]:
    spec = random_spec(np.random.default_rng(index))
    problem = spec.build()
    sol = solve(problem, random_state=index % 1000)
    bad = check_solution(problem, sol)
    if bad:
        return bad
    tol = objective_tolerance(problem, sol.coef)
    if index % 10 == 0:
        again = solve(problem, random_state=index % 1000)
        if not (np.array_equal(again.coef, sol.coef) and again.objective == sol.objective):
            bad.append("different result under the same random_state")
        stats["reproducibility_checked"] += 1
    if math.comb(spec.p, spec.k) <= MAX_ENUM_SUPPORTS:
        f_opt = enumeration_optimum(problem)
        stats["enumerated"] += 1
        if sol.objective < f_opt - tol:
            bad.append(f"objective {sol.objective!r} below the enumerated optimum {f_opt!r}")
        elif sol.objective <= f_opt + tol:
            stats["core_reached_optimum"] += 1
        enum = _enumeration_solver().solve(problem)
        stats["enumeration_solver_checked"] += 1
        if not abs(enum.objective - f_opt) <= objective_tolerance(problem, enum.coef):
            bad.append(f"EnumerationSolver {enum.objective!r} != enumerated {f_opt!r}")
        if index % 250 == 0 and spec.p <= 8:
            bad += _mip_agrees(problem, f_opt, tol)
            stats["mip_checked"] += 1
    if sol.optimality == "swap-optimal":
        stats["labelled_swap_optimal"] += 1
        if spec.p * spec.k <= MAX_LABEL_WORK:
            stats["labels_checked"] += 1
            gain = largest_swap_gain(problem, sol.coef)
            tol_label = label_tolerance(problem, sol.coef)
            if gain > tol_label:
                bad.append(
                    f"labelled swap-optimal but a swap gains {gain:.3g} (tol {tol_label:.3g})"
                )
    stats[f"degeneracy:{spec.degeneracy}"] += 1
    stats[f"dtype:{spec.dtype}"] += 1
    stats[f"ridge:{spec.ridge:g}"] += 1
    return bad


def _commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def merge(paths, out: Path) -> int:
    """One result from runs over disjoint index ranges (e.g. one per CPU core)."""
    parts = [json.loads(Path(p).read_text()) for p in paths]
    for part in parts:
        if "ranges" not in part:
            part["ranges"] = [[part["start"], part["start"] + part["cases_run"]]]
    ranges = sorted(r for p in parts for r in p["ranges"])
    for (_, end), (start, _) in zip(ranges, ranges[1:], strict=False):
        if start < end:
            raise SystemExit(f"--merge: the runs overlap (cases {start}..{end - 1} twice)")
    stats = collections.Counter()
    for part in parts:
        stats.update(part["stats"])
    merged = {
        "cases_requested": sum(p["cases_requested"] for p in parts),
        "ranges": ranges,
        "cases_run": sum(p["cases_run"] for p in parts),
        "failures": [f for p in parts for f in p["failures"]],
        "n_failures": sum(len(p["failures"]) for p in parts),
        "stats": dict(sorted(stats.items())),
        "seconds": sum(p["seconds"] for p in parts),
        "commits": sorted({c for p in parts for c in p["commits"]}),
        "machine": parts[0].get("machine", ""),
    }
    # re-run every failing case with the code as it is now (fixes made during a long run)
    merged["recheck_commit"] = _commit()
    merged["recheck"] = {}
    for failure in merged["failures"]:
        index = failure["index"]
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            try:
                again = run_case(index, collections.Counter())
            except Exception as exc:
                again = [f"{type(exc).__name__}: {exc}"]
        merged["recheck"][str(index)] = again
        print(f"case {index}: {failure['violations'][0]}\n  now: {again or 'passes'}")
    merged["n_failures_now"] = sum(1 for v in merged["recheck"].values() if v)
    out.write_text(json.dumps(merged, indent=1) + "\n")
    print(
        f"{merged['cases_run']} cases, {merged['n_failures']} failures "
        f"({merged['n_failures_now']} still failing with the current code); wrote {out}"
    )
    return 1 if merged["n_failures_now"] else 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=100_000, help="number of cases (indices)")
    ap.add_argument("--start", type=int, default=0, help="first case index")
    ap.add_argument("--chunk", type=int, default=1000, help="cases between JSON writes")
    ap.add_argument("--resume", action="store_true", help="continue the run in --out")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument(
        "--merge", type=Path, nargs="+", help="combine the JSON of runs over disjoint ranges"
    )
    args = ap.parse_args(argv)
    if args.merge:
        return merge(args.merge, args.out)
    if args.cases < 1 or args.chunk < 1:
        ap.error("--cases and --chunk must be positive")

    state = {
        "cases_requested": args.cases,
        "start": args.start,
        "cases_run": 0,
        "failures": [],
        "stats": {},
        "seconds": 0.0,
        "commits": [],
    }
    if args.resume and args.out.exists():
        state = json.loads(args.out.read_text())
    stats = collections.Counter(state["stats"])
    commit = _commit()
    if commit not in state["commits"]:
        state["commits"].append(commit)
    state["machine"] = f"{platform.machine()}, {platform.python_version()}"
    first = state["start"] + state["cases_run"]
    last = state["start"] + args.cases
    t0 = time.perf_counter() - state["seconds"]
    for index in range(first, last):
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            try:
                bad = run_case(index, stats)
            except Exception as exc:  # every exception is a finding
                bad = [f"{type(exc).__name__}: {exc}", traceback.format_exc(limit=4)]
        if bad:
            state["failures"].append({"index": index, "violations": bad})
            print(f"case {index}: {bad[0]}", flush=True)
        state["cases_run"] = index - state["start"] + 1
        if state["cases_run"] % args.chunk == 0 or index == last - 1:
            state["seconds"] = time.perf_counter() - t0
            state["stats"] = dict(sorted(stats.items()))
            state["n_failures"] = len(state["failures"])
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(state, indent=1) + "\n")
            print(
                f"{state['cases_run']:7d} cases, {len(state['failures'])} failures, "
                f"{state['seconds']:.0f} s",
                flush=True,
            )
    print()
    print(f"{'cases run':32s} {state['cases_run']}")
    print(f"{'failures':32s} {len(state['failures'])}")
    for key in (
        "enumerated",
        "core_reached_optimum",
        "enumeration_solver_checked",
        "labelled_swap_optimal",
        "labels_checked",
        "reproducibility_checked",
        "mip_checked",
    ):
        print(f"{key:32s} {stats.get(key, 0)}")
    print(f"{'seconds':32s} {state['seconds']:.0f}")
    print(f"wrote {args.out}")
    return 1 if state["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
