"""ResNet20 on digits upsampled to 32x32 (1 channel), sparsity 0.9, n_samples=1000.

Trains ResNet20 once (cached under ``$CHITA_CACHE_DIR`` or ``~/.cache/chita``), then prunes it
with magnitude and CHITA, each in a fresh worker process so that its peak memory (max RSS) and
end-to-end time (process start, imports, data, weights, gradients, solve, write-back,
evaluation) are measured on their own. Writes ``benchmarks/results/prune_resnet20.json``.

    python benchmarks/prune_resnet20.py [--threads 1] [--n-samples 1000] [--sparsity 0.9]
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


def _setup(threads):
    from adapters.demo.data import load_digits
    from adapters.demo.models import ResNet20
    from adapters.demo.threads import set_threads
    from adapters.demo.train import default_cache_dir, load_or_train

    set_threads(threads)
    data = load_digits(32)
    path = default_cache_dir() / f"resnet20_digits32_seed0_e{EPOCHS}.pt"
    model, cached = load_or_train(
        ResNet20, path, data.X_train, data.y_train, epochs=EPOCHS, lr=1e-2, batch_size=64
    )
    return model, data, cached


def worker(args) -> dict:
    t0 = time.perf_counter()
    from adapters.demo.train import accuracy
    from adapters.torch import prune

    model, data, _ = _setup(args.threads)
    kw = {} if args.method == "magnitude" else {"ridge": args.ridge}
    t1 = time.perf_counter()
    rep = prune(
        model,
        (data.X_train, data.y_train),
        sparsity=args.sparsity,
        method=args.method,
        n_samples=args.n_samples,
        progress=False,
        random_state=0,
        **kw,
    )
    t2 = time.perf_counter()
    acc = accuracy(model, data.X_test, data.y_test)
    end = time.perf_counter()
    return {
        "method": args.method,
        "test_accuracy": acc,
        "time_end_to_end": end - t0,
        "time_prune": t2 - t1,
        "times": rep.times,
        "objective_magnitude": rep.objective_magnitude,
        "objective": rep.objective,
        "achieved_sparsity": rep.achieved_sparsity,
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "matrix_bytes_estimate": rep.matrix_bytes,
        "solver": rep.history[-1].solver,
        "settings": kw,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--n-samples", type=int, default=1000)
    ap.add_argument("--sparsity", type=float, default=0.9)
    ap.add_argument("--ridge", type=float, default=1e-3)
    ap.add_argument("--worker", dest="method", default=None)
    args = ap.parse_args()
    if args.method:
        print(json.dumps(worker(args)))
        return
    t0 = time.perf_counter()
    model, data, cached = _setup(args.threads)
    from adapters.demo.train import accuracy

    dense = accuracy(model, data.X_test, data.y_test)
    t_train = time.perf_counter() - t0
    runs = []
    for method in ("magnitude", "chita"):
        cmd = [sys.executable, __file__, "--worker", method, "--threads", str(args.threads),
               "--n-samples", str(args.n_samples), "--sparsity", str(args.sparsity),
               "--ridge", str(args.ridge)]  # fmt: skip
        out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT)
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    res = {
        "model": "ResNet20 (CIFAR-style, option-A shortcuts, 1 input channel, 268,048 weights)",
        "data": "sklearn digits upsampled to 32x32, 1200 train / 597 test",
        "train_epochs": EPOCHS,
        "weights_cached": cached,
        "setup_seconds": t_train,
        "dense_test_accuracy": dense,
        "n_samples": args.n_samples,
        "sparsity": args.sparsity,
        "threads": args.threads,
        "runs": runs,
    }
    by = {r["method"]: r for r in runs}
    c = by["chita"]
    res["targets"] = {
        "chita beats magnitude": {
            "met": c["test_accuracy"] > by["magnitude"]["test_accuracy"],
            "value": f"{100 * c['test_accuracy']:.1f}% vs "
            f"{100 * by['magnitude']['test_accuracy']:.1f}%",
        },
        "end to end < 60 s": {
            "met": c["time_end_to_end"] < 60,
            "value": f"{c['time_end_to_end']:.1f} s",
        },
        "peak memory < 4 GB": {
            "met": c["peak_rss_bytes"] < 4e9,
            "value": f"{c['peak_rss_bytes'] / 1e9:.2f} GB",
        },
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "prune_resnet20.json").write_text(json.dumps(res, indent=2))
    print(
        f"ResNet20 digits-32: dense test accuracy {100 * dense:.1f}%, sparsity {args.sparsity}, "
        f"n_samples {args.n_samples}"
    )
    print("| method | test acc | end-to-end s | prune s | gradients s | solve s | peak RSS |")
    print("|---|---|---|---|---|---|---|")
    for r in runs:
        t = r["times"]
        print(
            f"| {r['method']} | {100 * r['test_accuracy']:.1f}% | {r['time_end_to_end']:.1f} | "
            f"{r['time_prune']:.1f} | {t['gradients']:.1f} | {t['solve']:.1f} | "
            f"{r['peak_rss_bytes'] / 1e9:.2f} GB |"
        )
    for k, v in res["targets"].items():
        print(f"{'MET    ' if v['met'] else 'NOT MET'}  {k}: {v['value']}")
    print(f"wrote {RESULTS / 'prune_resnet20.json'}")


if __name__ == "__main__":
    main()
