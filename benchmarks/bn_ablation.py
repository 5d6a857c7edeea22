"""Ablation for BN networks (issue 9): which CHITA formulation beats magnitude + recalibration.

Every variant ends with BatchNorm recalibration (``prune(recalibrate_bn=True)``; chita++ also
recalibrates between stages). ``_si``: ``bn_aware=True`` (each BN-fed channel's scale direction
projected out of the Fisher); ``ppN_rb``: chita++ with N stages; ``_ls``: the swap search after
every stage (the default
solver of one-stage CHITA); ``_rX``: ridge X. The rejected variants of
docs/batchnorm.md (Fisher-diagonal column scaling, keeping the pretrained values on the
solver's mask, chita++ without recalibration between stages) were measured with this script at
commit 46a39e9 (``adapters.torch.pruner._EXP``), and the BN-folded variables and channel-norm
rescaling at commit b8f77c4 (``pruner._BN_FOLD`` / ``_KEEP_NORMS``). Prints one JSON
line per run and appends them to ``benchmarks/results/bn_ablation.jsonl``.

    python benchmarks/bn_ablation.py --sparsity 0.9 0.95 --variants mag chita chita_si
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

VARIANTS = {
    "mag": dict(method="magnitude"),
    "chita": dict(method="chita", bn_aware=False),
    "chita_si": dict(method="chita", bn_aware=True),
    "pp5_rb": dict(method="chita++", stages=5, bn_aware=False),
    "pp5_rb_si": dict(method="chita++", stages=5, bn_aware=True),
    "pp10_rb_si": dict(method="chita++", stages=10, bn_aware=True),
    "chita_si_r1e-2": dict(method="chita", bn_aware=True, ridge=1e-2),
    "pp5_rb_si_r1e-1": dict(method="chita++", stages=5, bn_aware=True, ridge=1e-1),
    "pp5_rb_si_r1": dict(method="chita++", stages=5, bn_aware=True, ridge=1.0),
    "chita_si_r1e-1": dict(method="chita", bn_aware=True, ridge=1e-1),
    "pp3_rb_si_ls": dict(method="chita++", stages=3, bn_aware=True, local_search=True),
    "pp5_rb_si_ls": dict(method="chita++", stages=5, bn_aware=True, local_search=True),
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sparsity", type=float, nargs="+", default=[0.9])
    ap.add_argument("--variants", nargs="+", default=["mag", "chita"])
    ap.add_argument("--n-samples", type=int, default=500)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    import benchmarks.prune_resnet20 as bench
    from adapters.demo.train import accuracy
    from adapters.torch import default_solver, prune

    model0, data, _ = bench._setup(args.threads)
    out = ROOT / "benchmarks" / "results" / "bn_ablation.jsonl"
    for s in args.sparsity:
        for name in args.variants:
            cfg = dict(VARIANTS[name])
            if cfg.pop("local_search", False):  # the swap round after every stage's IHT
                cfg["solver"] = default_solver(True, 0)
            model = copy.deepcopy(model0)
            t0 = time.perf_counter()
            rep = prune(model, (data.X_train, data.y_train), sparsity=s,
                        n_samples=args.n_samples, progress=False, random_state=0,
                        recalibrate_bn=True, **cfg)  # fmt: skip
            dt = time.perf_counter() - t0
            row = {"variant": name, "sparsity": s, "n_samples": args.n_samples,
                   "test_accuracy": accuracy(model, data.X_test, data.y_test),
                   "train_accuracy": accuracy(model, data.X_train, data.y_train),
                   "seconds": dt, "objective": rep.objective,
                   "objective_magnitude": rep.objective_magnitude}  # fmt: skip
            print(json.dumps(row), flush=True)
            with out.open("a") as f:
                f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
