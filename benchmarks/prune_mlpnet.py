"""Benchmark of the demo: MLPNet on digits-28, magnitude vs CHITA vs CHITA++.

Prints the accuracy/time table and the target verdicts, writes
``benchmarks/results/prune_mlpnet.json`` and ``prune_mlpnet.png``. Run from the repository root:

    python benchmarks/prune_mlpnet.py [--threads 1] [--n-samples 500]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from adapters.demo.run import DemoConfig, format_table, run_demo  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"


def verdicts(res: dict) -> dict:
    acc = {(r["method"], r["sparsity"]): r["test_accuracy"] for r in res["runs"]}
    prune_time = {
        (r["method"], r["sparsity"]): r["time_gradients"] + r["time_solve"] for r in res["runs"]
    }
    out = {}
    d90 = acc[("chita", 0.9)] - acc[("magnitude", 0.9)]
    out["chita >= magnitude + 8 points at 0.9"] = (d90 >= 0.08, f"{100 * d90:+.1f} points")
    high = [s for s in sorted({s for _, s in acc}) if s >= 0.9]
    diffs = {s: acc[("chita++", s)] - acc[("chita", s)] for s in high}
    out["chita++ >= chita at every sparsity >= 0.9"] = (
        all(v >= 0 for v in diffs.values()),
        ", ".join(f"{s:g}: {100 * v:+.1f}" for s, v in diffs.items()),
    )
    out["chita++ >= chita + 5 points at 0.98"] = (diffs[0.98] >= 0.05, f"{100 * diffs[0.98]:+.1f}")
    worst = max(t for (m, _), t in prune_time.items() if m == "chita")
    out["chita prune (gradients + solve) < 2 s per level"] = (worst < 2.0, f"max {worst:.2f} s")
    worst_pp = max(t for (m, _), t in prune_time.items() if m == "chita++")
    out["chita++ prune (gradients + solve) < 2 s per level"] = (
        worst_pp < 2.0,
        f"max {worst_pp:.2f} s",
    )
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--n-samples", type=int, default=500)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    work = RESULTS / "_mlpnet_tmp"
    cfg = DemoConfig(
        n_samples=args.n_samples,
        output=work,
        seed=args.seed,
        threads=args.threads,
    )
    res = run_demo(cfg)
    res["targets"] = {k: {"met": bool(ok), "value": v} for k, (ok, v) in verdicts(res).items()}
    (RESULTS / "prune_mlpnet.json").write_text(json.dumps(res, indent=2))
    shutil.move(str(work / "demo_accuracy.png"), RESULTS / "prune_mlpnet.png")
    shutil.rmtree(work, ignore_errors=True)
    print(format_table(res))
    print("\n| run | gradients s | solve s |\n|---|---|---|")
    for r in res["runs"]:
        if r["method"] != "magnitude":
            print(
                f"| {r['method']} @ {r['sparsity']:g} | {r['time_gradients']:.3f} | "
                f"{r['time_solve']:.3f} |"
            )
    print()
    for k, v in res["targets"].items():
        print(f"{'MET    ' if v['met'] else 'NOT MET'}  {k}: {v['value']}")
    print(f"wrote {RESULTS / 'prune_mlpnet.json'} and {RESULTS / 'prune_mlpnet.png'}")


if __name__ == "__main__":
    main()
