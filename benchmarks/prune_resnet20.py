"""ResNet20 (or ``--model mobilenetv1``) on digits upsampled to 32x32 (1 channel): one-shot
pruning at 0.9 / 0.95 / 0.98.

Trains ResNet20 once (cached in the repository's
git-ignored ``.cache/``), then prunes it
with magnitude, CHITA and CHITA++, each run in a fresh worker process so that its peak memory
(max RSS) and end-to-end time (process start, imports, data, weights, gradients, solve,
write-back, BN recalibration, evaluation) are measured on their own. Every method, magnitude
included, gets the BatchNorm recalibration a practitioner applies after pruning
(``prune(recalibrate_bn=True)``: 512 training inputs, no training); CHITA/CHITA++ use the
BN-aware Fisher (``bn_aware``, the default; docs/batchnorm.md). Writes
``benchmarks/results/prune_resnet20.json`` and ``prune_resnet20.png`` (MobileNetV1:
``prune_mobilenetv1.*``; 3.2M weights, so CHITA runs in block mode, ``--block-size``).

    python benchmarks/prune_resnet20.py [--threads 1] [--n-samples 500] [--stages 5]
        [--sparsities 0.9 0.95 0.98] [--model mobilenetv1 --block-size 500000]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results"
EPOCHS = 8
METHODS = ("magnitude", "chita", "chita++")


def _setup(threads, model_name="resnet20"):
    from adapters.demo.data import load_digits
    from adapters.demo.models import MobileNetV1, ResNet20
    from adapters.demo.threads import set_threads
    from adapters.demo.train import REPO_CACHE, load_or_train

    set_threads(threads)
    data = load_digits(32)
    make = ResNet20
    if model_name == "mobilenetv1":

        def make():
            return MobileNetV1(in_channels=data.X_train.shape[1], num_classes=10)

    path = REPO_CACHE / f"{model_name}_digits32_seed0_e{EPOCHS}.pt"
    model, cached = load_or_train(
        make, path, data.X_train, data.y_train, epochs=EPOCHS, lr=1e-2, batch_size=64
    )
    return model, data, cached


def worker(args) -> dict:
    t0 = time.perf_counter()
    from adapters.demo.train import accuracy
    from adapters.torch import prune

    model, data, _ = _setup(args.threads, args.model)
    kw = {} if args.method == "magnitude" else {"ridge": args.ridge}
    if args.block_size and args.method != "magnitude":
        kw.update(block_size=args.block_size, memory_limit=args.memory_limit)
    if args.method == "chita++":
        kw["stages"] = args.stages
    t1 = time.perf_counter()
    rep = prune(
        model,
        (data.X_train, data.y_train),
        sparsity=args.sparsity,
        method=args.method,
        n_samples=args.n_samples,
        progress=False,
        random_state=0,
        recalibrate_bn=True,
        **kw,
    )
    t2 = time.perf_counter()
    acc = accuracy(model, data.X_test, data.y_test)
    end = time.perf_counter()
    return {
        "method": args.method,
        "sparsity": args.sparsity,
        "test_accuracy": acc,
        "time_end_to_end": end - t0,
        "time_prune": t2 - t1,
        "times": rep.times,
        "bn_samples": rep.bn_samples,
        "bn_aware_targets": len(rep.bn_aware_targets),
        "objective_magnitude": rep.objective_magnitude,
        "objective": rep.objective,
        "achieved_sparsity": rep.achieved_sparsity,
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "matrix_bytes_estimate": rep.matrix_bytes,
        "solver": rep.history[-1].solver,
        "settings": kw,
    }


def verdicts(runs) -> dict:
    acc = {(r["method"], r["sparsity"]): r["test_accuracy"] for r in runs}
    sps = sorted({r["sparsity"] for r in runs})
    out = {}
    d = {s: acc[("chita", s)] - acc[("magnitude", s)] for s in sps if ("chita", s) in acc}
    if d:
        out["chita >= magnitude at every sparsity (both recalibrated)"] = (
            all(v >= 0 for v in d.values()),
            ", ".join(f"{s:g}: {100 * v:+.1f}" for s, v in d.items()),
        )
    for s, floor in ((0.9, 0.97), (0.95, 0.85)):
        if ("chita++", s) in acc:
            out[f"chita++ >= {100 * floor:.0f}% at {s:g}"] = (
                acc[("chita++", s)] >= floor,
                f"{100 * acc[('chita++', s)]:.1f}%",
            )
    if ("chita++", 0.98) in acc:
        gap = acc[("chita++", 0.98)] - acc[("magnitude", 0.98)]
        out["chita++ >= magnitude + 20 points at 0.98"] = (gap >= 0.20, f"{100 * gap:+.1f}")
    return out


def plot(res, path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    for m in METHODS:
        pts = sorted((r["sparsity"], r["test_accuracy"]) for r in res["runs"] if r["method"] == m)
        ax.plot([p[0] for p in pts], [100 * p[1] for p in pts], "o-", label=m)
    ax.axhline(100 * res["dense_test_accuracy"], color="gray", ls=":", label="dense")
    ax.set_xlabel("sparsity")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(f"{res['model'].split(' ')[0]} digits-32, one-shot + BN recalibration")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--n-samples", type=int, default=500)
    ap.add_argument("--sparsities", type=float, nargs="+", default=[0.9, 0.95, 0.98])
    ap.add_argument("--sparsity", type=float, default=0.9)  # worker only
    ap.add_argument("--stages", type=int, default=5)
    ap.add_argument("--ridge", type=float, default=1e-3)
    ap.add_argument("--worker", dest="method", default=None)
    ap.add_argument("--model", choices=("resnet20", "mobilenetv1"), default="resnet20")
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    ap.add_argument(
        "--append", action="store_true", help="keep the saved runs of the other methods"
    )
    ap.add_argument("--block-size", type=int, default=0, help="block mode (0: unblocked)")
    ap.add_argument("--memory-limit", default="10GB", help="with --block-size")
    args = ap.parse_args()
    if args.method:
        print(json.dumps(worker(args)))
        return
    t0 = time.perf_counter()
    model, data, cached = _setup(args.threads, args.model)
    from adapters.demo.models import count_weights
    from adapters.demo.train import accuracy

    dense = accuracy(model, data.X_test, data.y_test)
    t_train = time.perf_counter() - t0
    runs = []
    if args.append and (RESULTS / f"prune_{args.model}.json").exists():
        old = json.loads((RESULTS / f"prune_{args.model}.json").read_text())["runs"]
        runs = [r for r in old if r["method"] not in args.methods]
    for s in args.sparsities:
        for method in args.methods:
            cmd = [sys.executable, __file__, "--worker", method, "--threads", str(args.threads),
                   "--n-samples", str(args.n_samples), "--sparsity", str(s),
                   "--ridge", str(args.ridge), "--stages", str(args.stages),
                   "--model", args.model, "--block-size", str(args.block_size),
                   "--memory-limit", args.memory_limit]  # fmt: skip
            out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT)
            runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
            keys = ("method", "sparsity", "test_accuracy", "time_end_to_end")
            print(json.dumps({k: runs[-1][k] for k in keys}), flush=True)
    res = {
        "model": (
            "ResNet20 (CIFAR-style, option-A shortcuts, 1 input channel, 268,048 weights)"
            if args.model == "resnet20"
            else f"MobileNetV1 (width 1.0, 1 input channel, {count_weights(model):,} weights)"
        ),
        "block_size": args.block_size or None,
        "memory_limit": args.memory_limit if args.block_size else None,
        "data": "sklearn digits upsampled to 32x32, 1200 train / 597 test",
        "train_epochs": EPOCHS,
        "weights_cached": cached,
        "setup_seconds": t_train,
        "dense_test_accuracy": dense,
        "n_samples": args.n_samples,
        "stages": args.stages,
        "bn_recalibration": "every method: 512 training inputs (8 batches of 64), no training",
        "threads": args.threads,
        "runs": runs,
    }
    res["targets"] = {k: {"met": bool(ok), "value": v} for k, (ok, v) in verdicts(runs).items()}
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = f"prune_{args.model}"
    (RESULTS / f"{name}.json").write_text(json.dumps(res, indent=2))
    plot(res, RESULTS / f"{name}.png")
    print(
        f"{res['model'].split(' ')[0]} digits-32: dense test accuracy {100 * dense:.1f}%, "
        f"n_samples {args.n_samples}, chita++ {args.stages} stages, "
        "BN recalibrated for every method"
    )
    print("| sparsity | method | test acc | end-to-end s | gradients s | solve s | peak RSS |")
    print("|---|---|---|---|---|---|---|")
    for r in runs:
        t = r["times"]
        print(
            f"| {r['sparsity']:g} | {r['method']} | {100 * r['test_accuracy']:.1f}% | "
            f"{r['time_end_to_end']:.1f} | {t['gradients']:.1f} | {t['solve']:.1f} | "
            f"{r['peak_rss_bytes'] / 1e9:.2f} GB |"
        )
    for k, v in res["targets"].items():
        print(f"{'MET    ' if v['met'] else 'NOT MET'}  {k}: {v['value']}")
    print(f"wrote {RESULTS / name}.json and .png")


if __name__ == "__main__":
    main()
