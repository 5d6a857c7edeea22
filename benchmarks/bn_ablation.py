"""Ablation for BN networks (issue 9): which CHITA formulation beats magnitude + recalibration.

Every variant is followed by BatchNorm recalibration (``prune(recalibrate_bn=True)``). Variants
toggle ``prune(bn_aware=...)`` (``_si``: the channel-scale directions projected out of the
Fisher) and the ablation knobs of ``adapters.torch.pruner._EXP``: recalibration between CHITA++
stages (``_rb``), the Fisher-diagonal column scaling (``precondition``: per layer ``_pl``,
output channel ``_pc`` or weight ``_pw``) and keeping the pretrained values on the solver's
mask (``_keep``). Without a suffix a variant is the plain CHITA of before issue 9. Prints one
JSON line per run and appends them to ``benchmarks/results/bn_ablation.jsonl``.

    python benchmarks/bn_ablation.py --sparsity 0.9 --variants mag chita chita_pl ...
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
    "chita": dict(method="chita"),
    "chita_r1e-1": dict(method="chita", ridge=1e-1),
    "chita_pl": dict(method="chita", precondition="layer"),
    "chita_pc": dict(method="chita", precondition="channel"),
    "chita_pw": dict(method="chita", precondition="weight"),
    "chita_pw_r1e-1": dict(method="chita", precondition="weight", ridge=1e-1),
    "chita_keep": dict(method="chita", keep_weights=True),
    "chita_pw_keep": dict(method="chita", precondition="weight", keep_weights=True),
    "chita_si": dict(method="chita", bn_aware=True),
    "chita_si_pl": dict(method="chita", bn_aware=True, precondition="layer"),
    "chita_si_keep": dict(method="chita", bn_aware=True, keep_weights=True),
    "pp5_rb_si": dict(method="chita++", stages=5, recal_between=True, bn_aware=True),
    "pp5_rb_si_pl": dict(method="chita++", stages=5, recal_between=True, bn_aware=True,
                         precondition="layer"),
    "pp5": dict(method="chita++", stages=5),
    "pp5_rb": dict(method="chita++", stages=5, recal_between=True),
    "pp5_rb_pw": dict(method="chita++", stages=5, recal_between=True, precondition="weight"),
    "pp5_rb_pc": dict(method="chita++", stages=5, recal_between=True, precondition="channel"),
    "pp5_rb_pl": dict(method="chita++", stages=5, recal_between=True, precondition="layer"),
    "pp10_rb": dict(method="chita++", stages=10, recal_between=True),
    "pp10_rb_pw": dict(method="chita++", stages=10, recal_between=True, precondition="weight"),
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sparsity", type=float, nargs="+", default=[0.9])
    ap.add_argument("--variants", nargs="+", default=["mag", "chita"])
    ap.add_argument("--n-samples", type=int, default=500)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    import benchmarks.prune_resnet20 as bench
    from adapters.torch import prune, pruner
    from adapters.train import accuracy

    model0, data, _ = bench._setup(args.threads)
    out = ROOT / "benchmarks" / "results" / "bn_ablation.jsonl"
    for s in args.sparsity:
        for name in args.variants:
            cfg = dict(VARIANTS[name])
            cfg.setdefault("bn_aware", False)
            knobs = ("recal_between", "precondition", "keep_weights")
            exp = {k: cfg.pop(k) for k in knobs
                   if k in cfg}  # fmt: skip
            pruner._EXP.update({"recal_between": False, "precondition": None,
                                "keep_weights": False, **exp})  # fmt: skip
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
