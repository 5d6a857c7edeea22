"""Scaling: a randomly initialized MobileNetV1 (4,209,088 weights) pruned in block mode.

The full Fisher matrix (n_samples x 4.2M float32: 8.4 GB at n=500) exceeds the 6 GB
``memory_limit``, so ``block_size`` switches to the block-diagonal Fisher and A is built group
by group (one pass over the samples for the Fisher diagonal, then one per group). Inputs are
random 3x32x32 images with random labels (1000 classes): the weight count, not the resolution,
sets the problem size. Writes ``benchmarks/results/prune_scaling.json``.

    python benchmarks/prune_scaling.py [--n-samples 500] [--block-size 10000] [--memory-limit 6GB]
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--n-samples", type=int, default=500)
    ap.add_argument("--block-size", type=int, default=10000)
    ap.add_argument("--sparsity", type=float, default=0.9)
    ap.add_argument("--memory-limit", default="6GB")
    ap.add_argument("--resolution", type=int, default=32)
    args = ap.parse_args()
    t0 = time.perf_counter()
    import torch

    from adapters.demo.models import MobileNetV1, count_weights
    from adapters.demo.threads import set_threads
    from adapters.torch import prune

    set_threads(args.threads)
    torch.manual_seed(0)
    model = MobileNetV1().eval()
    g = torch.Generator().manual_seed(0)
    X = torch.randn(args.n_samples, 3, args.resolution, args.resolution, generator=g)
    y = torch.randint(0, 1000, (args.n_samples,), generator=g)
    t1 = time.perf_counter()
    rep = prune(
        model,
        (X, y),
        sparsity=args.sparsity,
        n_samples=args.n_samples,
        block_size=args.block_size,
        memory_limit=args.memory_limit,
        progress=True,
    )
    t2 = time.perf_counter()
    h = rep.history[-1]
    res = {
        "model": "MobileNetV1 (width 1.0), random init",
        "weights": count_weights(model),
        "input": f"3x{args.resolution}x{args.resolution} random, 1000 random classes",
        "n_samples": args.n_samples,
        "block_size": args.block_size,
        "sparsity": args.sparsity,
        "achieved_sparsity": rep.achieved_sparsity,
        "memory_limit": args.memory_limit,
        "full_matrix_bytes": 4 * args.n_samples * count_weights(model),
        "planned_peak_bytes": rep.matrix_bytes,
        "n_problems": h.n_problems,
        "n_passes": h.n_passes,
        "time_prune": t2 - t1,
        "time_end_to_end": t2 - t0,
        "times": rep.times,
        "objective_magnitude": rep.objective_magnitude,
        "objective": rep.objective,
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "threads": args.threads,
        "solver": h.solver,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "prune_scaling.json").write_text(json.dumps(res, indent=2))
    t = rep.times
    print("| weights | n | block | blocks | passes | gradients s | solve s | total s | peak RSS |")
    print("|---|---|---|---|---|---|---|---|---|")
    print(
        f"| {res['weights']:,} | {args.n_samples} | {args.block_size} | {h.n_problems} | "
        f"{h.n_passes} | {t['gradients']:.1f} | {t['solve']:.1f} | {t['total']:.1f} | "
        f"{res['peak_rss_bytes'] / 1e9:.2f} GB |"
    )
    print(f"objective: magnitude {rep.objective_magnitude:.6g} -> chita {rep.objective:.6g}")
    print(f"wrote {RESULTS / 'prune_scaling.json'}")


if __name__ == "__main__":
    main()
