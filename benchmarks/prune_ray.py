"""Serial vs ``executor="ray"`` on MobileNetV1 in block mode (issue 11).

A randomly initialised MobileNetV1 (4,209,088 weights, 3x32x32 random inputs, 1000 random
classes: the weight count, not the data, sets the problem size), its BatchNorm statistics
estimated on 256 of the inputs (with the default running statistics the activations of a
random MobileNetV1 vanish through its 27 layers and the Fisher is rounding noise, which no
two runs rank alike), is pruned to 0.9 with
n_samples=500 and ``block_size=10000``. ``memory_limit`` (per group, so per Ray task) splits A
into several groups; the serial run builds and solves them one after another, the Ray run as
tasks on a local Ray cluster with ``--workers`` CPUs. Masks and weights must be identical.
Writes ``benchmarks/results/prune_ray.json``.

    python benchmarks/prune_ray.py [--workers 2] [--memory-limit 3GB] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--n-samples", type=int, default=500)
    ap.add_argument("--block-size", type=int, default=10000)
    ap.add_argument("--sparsity", type=float, default=0.9)
    ap.add_argument("--memory-limit", default="3GB")
    args = ap.parse_args()
    import ray
    import torch

    from adapters.demo.models import MobileNetV1, count_weights
    from adapters.demo.threads import set_threads
    from adapters.torch import prune, recalibrate_batchnorm

    set_threads(args.threads)
    g = torch.Generator().manual_seed(0)
    X = torch.randn(args.n_samples + 128, 3, 32, 32, generator=g)
    y = torch.randint(0, 1000, (args.n_samples + 128,), generator=g)
    out = {}
    for executor in ("serial", "ray"):
        torch.manual_seed(0)
        model = MobileNetV1().eval()
        recalibrate_batchnorm(model, X[:256], n_batches=4, batch_size=64)
        if executor == "ray":
            t0 = time.perf_counter()
            ray.init(num_cpus=args.workers, include_dashboard=False, log_to_driver=False)
            t_init = time.perf_counter() - t0
        t0 = time.perf_counter()
        rep = prune(
            model,
            (X, y),
            sparsity=args.sparsity,
            n_samples=args.n_samples,
            block_size=args.block_size,
            memory_limit=args.memory_limit,
            progress=False,
            executor=executor,
        )
        wall = time.perf_counter() - t0
        out[executor] = (model, rep, wall)
        print(f"{executor}: {wall:.1f}s, {rep.history[-1].n_passes} groups", flush=True)
    ray.shutdown()
    (ms, rs, ts), (mr, rr, tr) = out["serial"], out["ray"]
    same_masks = all(torch.equal(rs.masks[k], rr.masks[k]) for k in rs.masks)
    pr = dict(mr.named_parameters())
    same_weights = all(torch.equal(p, pr[k]) for k, p in ms.named_parameters())
    res = {
        "model": "MobileNetV1 (width 1.0), random init, BN statistics on 256 of the random "
        "3x32x32 inputs",
        "weights": count_weights(ms),
        "n_samples": rs.n_samples,
        "block_size": args.block_size,
        "sparsity": args.sparsity,
        "memory_limit_per_group": args.memory_limit,
        "groups": rs.history[-1].n_passes,
        "n_problems": rs.history[-1].n_problems,
        "ray_workers": args.workers,
        "torch_threads": args.threads,
        "time_serial": ts,
        "time_ray": tr,
        "time_ray_init": t_init,
        "times_serial": rs.times,
        "identical_masks": same_masks,
        "identical_weights": same_weights,
        "objective": rs.objective,
        "objective_magnitude": rs.objective_magnitude,
        "block_choice": rs.history[-1].block_choice["chosen"],
        "load_average": os.getloadavg(),
        "cpu_count": os.cpu_count(),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "prune_ray.json").write_text(json.dumps(res, indent=2))
    print("| weights | groups | serial s | ray s (2 workers) | ray.init s | masks equal |")
    print("|---|---|---|---|---|---|")
    print(
        f"| {res['weights']:,} | {res['groups']} | {ts:.1f} | {tr:.1f} | {t_init:.1f} | "
        f"{same_masks and same_weights} |"
    )
    print(f"wrote {RESULTS / 'prune_ray.json'}")


if __name__ == "__main__":
    main()
