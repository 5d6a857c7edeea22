"""ResNet50 scale on a CPU machine (issue 11): one-shot CHITA at 0.9, n=500, block mode.

The network is torchvision's ResNet50 definition (Bottleneck v1.5, layers 3-4-6-3; written out
here because torchvision's wheel does not load against this CPU torch build), 3x64x64 input,
10 classes. Weights: random init, then a short training run on digits upsampled to 64x64
(``--epochs``, cached under ``$CHITA_CACHE_DIR``); ``--epochs 0`` keeps the random init.
The Fisher is streamed group by group (``memory_limit``), never all of A in memory. Each method
runs in its own worker process so that its peak RSS is its own; every method, magnitude
included, is BN-recalibrated on 500 training images before the test accuracy. Writes
``benchmarks/results/prune_resnet50{--tag}.json``.

    python benchmarks/prune_resnet50.py [--threads 2] [--epochs 2] [--memory-limit 12GB]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
RESULTS = ROOT / "benchmarks" / "results"


def resnet50(num_classes: int = 10):
    """torchvision.models.resnet50 (v1.5: stride on the 3x3 conv), zero-init off."""
    import torch
    from torch import nn

    class Bottleneck(nn.Module):
        expansion = 4

        def __init__(self, c_in, width, stride=1, downsample=None):
            super().__init__()
            self.conv1 = nn.Conv2d(c_in, width, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(width)
            self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(width)
            self.conv3 = nn.Conv2d(width, width * 4, 1, bias=False)
            self.bn3 = nn.BatchNorm2d(width * 4)
            self.relu = nn.ReLU(inplace=True)
            self.downsample = downsample

        def forward(self, x):
            idt = x if self.downsample is None else self.downsample(x)
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.relu(self.bn2(self.conv2(out)))
            return self.relu(self.bn3(self.conv3(out)) + idt)

    class ResNet50(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
            self.bn1 = nn.BatchNorm2d(64)
            self.relu = nn.ReLU(inplace=True)
            self.maxpool = nn.MaxPool2d(3, 2, 1)
            c_in, layers = 64, []
            for width, blocks, stride in ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)):
                down = None
                if stride != 1 or c_in != width * 4:
                    down = nn.Sequential(
                        nn.Conv2d(c_in, width * 4, 1, stride, bias=False),
                        nn.BatchNorm2d(width * 4),
                    )
                mods = [Bottleneck(c_in, width, stride, down)]
                c_in = width * 4
                mods += [Bottleneck(c_in, width) for _ in range(blocks - 1)]
                layers.append(nn.Sequential(*mods))
            self.layer1, self.layer2, self.layer3, self.layer4 = layers
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(2048, num_classes)
            for m in self.modules():
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                elif isinstance(m, nn.BatchNorm2d):
                    nn.init.ones_(m.weight)
                    nn.init.zeros_(m.bias)

        def forward(self, x):
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
            return self.fc(torch.flatten(self.avgpool(x), 1))

    return ResNet50()


def _setup(args):
    import torch

    from adapters.demo.data import load_digits
    from adapters.demo.threads import set_threads
    from adapters.demo.train import REPO_CACHE, load_or_train

    set_threads(args.threads)
    data = load_digits(64, channels=3)
    torch.manual_seed(0)
    if args.epochs == 0:
        model = resnet50()
        from prune_scaling import recalibrate_bn

        recalibrate_bn(model, data.X_train[:500])
        return model.eval(), data, True
    path = REPO_CACHE / f"resnet50_digits64_seed0_e{args.epochs}.pt"
    model, cached = load_or_train(
        resnet50, path, data.X_train, data.y_train, epochs=args.epochs, lr=1e-3, batch_size=32
    )
    return model.eval(), data, cached


def worker(args) -> dict:
    t0 = time.perf_counter()
    from prune_scaling import recalibrate_bn

    from adapters.demo.models import count_weights
    from adapters.demo.train import accuracy
    from adapters.torch import prune

    model, data, _ = _setup(args)
    t1 = time.perf_counter()
    kw = {"method": "magnitude"} if args.method == "magnitude" else {"block_size": args.block_size}
    rep = prune(
        model,
        (data.X_train, data.y_train),
        sparsity=args.sparsity,
        n_samples=args.n_samples,
        memory_limit=args.memory_limit,
        progress=True,  # per-group progress on stderr
        random_state=0,
        ignore=[n for n in args.ignore.split(",") if n] or None,
        **kw,
    )
    t2 = time.perf_counter()
    recalibrate_bn(model, data.X_train[:500])
    acc = accuracy(model, data.X_test, data.y_test, batch=100)
    h = rep.history[-1]
    return {
        "method": args.method,
        "weights": count_weights(model),
        "test_accuracy": acc,
        "time_prune": t2 - t1,
        "time_end_to_end": time.perf_counter() - t0,
        "times": rep.times,
        "n_problems": h.n_problems,
        "n_passes": h.n_passes,
        "planned_peak_bytes": rep.matrix_bytes,
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "objective_magnitude": rep.objective_magnitude,
        "objective": rep.objective,
        "block_choice": h.block_choice,
        "warnings": rep.warnings,
        "notes": rep.notes,
        "load_average": os.getloadavg(),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--n-samples", type=int, default=500)
    ap.add_argument("--block-size", type=int, default=10000)
    ap.add_argument("--sparsity", type=float, default=0.9)
    ap.add_argument("--memory-limit", default="12GB")
    ap.add_argument("--methods", default="magnitude,chita")
    ap.add_argument("--tag", default="", help="suffix of the JSON file name")
    ap.add_argument(
        "--ignore",
        default="",
        help="comma-separated targets left dense for every method (e.g. fc.weight: global "
        "magnitude at 0.7 prunes the 2-epoch model's classifier to zero)",
    )
    ap.add_argument("--worker", dest="method", default=None)
    args = ap.parse_args()
    if args.method:
        print(json.dumps(worker(args)))
        return
    t0 = time.perf_counter()
    from adapters.demo.train import accuracy

    model, data, cached = _setup(args)
    dense = accuracy(model, data.X_test, data.y_test, batch=100)
    setup = time.perf_counter() - t0
    print(f"ResNet50 dense test accuracy {dense:.4f} (setup {setup:.0f}s)", flush=True)
    runs = []
    for method in args.methods.split(","):
        cmd = [sys.executable, __file__, "--worker", method, "--threads", str(args.threads),
               "--epochs", str(args.epochs), "--n-samples", str(args.n_samples),
               "--block-size", str(args.block_size), "--sparsity", str(args.sparsity),
               "--memory-limit", args.memory_limit, "--ignore", args.ignore]  # fmt: skip
        load0 = os.getloadavg()
        out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        r["load_average_before"] = load0
        runs.append(r)
        print(
            f"{method}: acc {r['test_accuracy']:.4f}, prune {r['time_prune']:.0f}s "
            f"(gradients {r['times']['gradients']:.0f}s, solve {r['times']['solve']:.0f}s), "
            f"peak RSS {r['peak_rss_bytes'] / 1e9:.2f} GB, load {r['load_average']}",
            flush=True,
        )
    res = {
        "model": "ResNet50 (torchvision definition), 3x64x64 input, 10 classes",
        "weights_init": "random init" if args.epochs == 0 else f"trained {args.epochs} epochs",
        "data": "sklearn digits upsampled to 64x64 (3 identical channels), 1200 train / 597 test",
        "weights_cached": cached,
        "dense_test_accuracy": dense,
        "n_samples": args.n_samples,
        "block_size": args.block_size,
        "sparsity": args.sparsity,
        "memory_limit": args.memory_limit,
        "ignore": args.ignore,
        "threads": args.threads,
        "cpu_count": os.cpu_count(),
        "runs": runs,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"prune_resnet50{args.tag}.json"
    out.write_text(json.dumps(res, indent=2))
    print("| method | weights | accuracy (BN recal.) | prune s | gradients s | solve s | RSS |")
    print("|---|---|---|---|---|---|---|")
    for r in runs:
        print(
            f"| {r['method']} | {r['weights']:,} | {100 * r['test_accuracy']:.2f} | "
            f"{r['time_prune']:.0f} | {r['times']['gradients']:.0f} | {r['times']['solve']:.0f} | "
            f"{r['peak_rss_bytes'] / 1e9:.2f} GB |"
        )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
