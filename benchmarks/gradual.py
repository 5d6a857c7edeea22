"""Gradual pruning with fine-tuning (issue 9): GMP vs gradual CHITA at the same training budget.

Both methods run :func:`adapters.torch.prune_gradually` with the same cubic schedule, the same
number of pruning events, the same epochs and optimizer (SGD, momentum 0.9, Nesterov, weight
decay 1e-4, cosine learning rate over all epochs), the same seed and batch order, and BN
recalibration after every event. The only difference is how each event chooses the mask and
weights: global magnitude (GMP) or CHITA on ``n_samples`` training samples (which costs gradient
passes, no extra training). Networks: ResNet20 (digits-32, BN) at 0.95/0.98/0.99 and MLPNet
(digits-28) at 0.98/0.99, each from its cached dense weights. Writes
``benchmarks/results/gradual.json`` and ``gradual.png``.

    python benchmarks/gradual.py [--nets resnet20 mlpnet] [--threads 1]
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
RESULTS = ROOT / "benchmarks" / "results"

#: Per network: sparsities, pruning events, epochs after each event / after the last, lr,
#: CHITA settings of every event.
NETS = {
    "resnet20": dict(sparsities=(0.95, 0.98, 0.99), steps=4, epochs_per_step=1, final_epochs=3,
                     lr=0.05, prune_kwargs={"n_samples": 256}),
    "mlpnet": dict(sparsities=(0.98, 0.99), steps=8, epochs_per_step=2, final_epochs=8,
                   lr=0.05, prune_kwargs={"n_samples": 1000}),
}  # fmt: skip
METHODS = ("magnitude", "chita")


def _load(net: str, threads: int):
    from adapters.demo.data import load_digits
    from adapters.demo.models import MLPNet, ResNet20
    from adapters.demo.threads import set_threads
    from adapters.demo.train import default_cache_dir, load_or_train

    set_threads(threads)
    if net == "resnet20":
        data = load_digits(32)
        path = default_cache_dir() / "resnet20_digits32_seed0_e8.pt"
        model, _ = load_or_train(ResNet20, path, data.X_train, data.y_train, epochs=8,
                                 lr=1e-2, batch_size=64)  # fmt: skip
    else:
        data = load_digits(28)
        path = default_cache_dir() / "mlpnet_digits28_seed0.pt"
        model, _ = load_or_train(MLPNet, path, data.X_train, data.y_train, seed=0, epochs=40,
                                 lr=1e-2)  # fmt: skip
    return model, data


def run_net(net: str, threads: int, seed: int) -> dict:
    import torch

    from adapters.demo.train import accuracy
    from adapters.torch import prune_gradually

    cfg = NETS[net]
    model0, data = _load(net, threads)
    out = {"dense_test_accuracy": accuracy(model0, data.X_test, data.y_test), "runs": []}
    lr = cfg["lr"]

    def opt(ps):
        return torch.optim.SGD(ps, lr=lr, momentum=0.9, nesterov=True, weight_decay=1e-4)

    for s in cfg["sparsities"]:
        for method in METHODS:
            model = copy.deepcopy(model0)
            t0 = time.perf_counter()
            rep = prune_gradually(
                model, (data.X_train, data.y_train), sparsity=s, method=method,
                pruning_steps=cfg["steps"], epochs_per_step=cfg["epochs_per_step"],
                final_epochs=cfg["final_epochs"], optimizer=opt,
                prune_kwargs=dict(cfg["prune_kwargs"]) if method != "magnitude" else {},
                progress=False, random_state=seed,
            )  # fmt: skip
            row = {
                "net": net, "sparsity": s, "method": method,
                "test_accuracy": accuracy(model, data.X_test, data.y_test),
                "achieved_sparsity": rep.achieved_sparsity, "epochs": rep.total_epochs,
                "seconds": time.perf_counter() - t0, "time_prune": rep.times["prune"],
                "time_train": rep.times["train"],
                "train_loss": [h["train_loss"] for h in rep.history],
            }  # fmt: skip
            print(json.dumps(row), flush=True)
            out["runs"].append(row)
    return out


def verdicts(res: dict) -> dict:
    out = {}
    for net, r in res["nets"].items():
        acc = {(x["method"], x["sparsity"]): x["test_accuracy"] for x in r["runs"]}
        sps = sorted({x["sparsity"] for x in r["runs"]})
        d = {s: acc[("chita", s)] - acc[("magnitude", s)] for s in sps}
        out[f"{net}: gradual chita >= GMP at every sparsity"] = (
            all(v >= 0 for v in d.values()),
            ", ".join(f"{s:g}: {100 * v:+.1f}" for s, v in d.items()),
        )
        out[f"{net}: gradual chita >= GMP + 3 points at {sps[-1]:g}"] = (
            d[sps[-1]] >= 0.03,
            f"{100 * d[sps[-1]]:+.1f} points",
        )
    return out


def plot(res: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(res["nets"]), figsize=(5 * len(res["nets"]), 3.6))
    axes = [axes] if len(res["nets"]) == 1 else axes
    for ax, (net, r) in zip(axes, res["nets"].items(), strict=True):
        for method, label in (("magnitude", "GMP"), ("chita", "gradual CHITA")):
            pts = sorted((x["sparsity"], x["test_accuracy"]) for x in r["runs"]
                         if x["method"] == method)  # fmt: skip
            ax.plot([p[0] for p in pts], [100 * p[1] for p in pts], "o-", label=label)
        ax.axhline(100 * r["dense_test_accuracy"], color="gray", ls=":", label="dense")
        ax.set_title(f"{net}: gradual pruning + fine-tuning")
        ax.set_xlabel("sparsity")
        ax.set_ylabel("test accuracy (%)")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--nets", nargs="+", default=list(NETS), choices=list(NETS))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    res = {"budget": {n: {k: v for k, v in c.items() if k != "prune_kwargs"} | {
        "total_epochs": (c["steps"] - 1) * c["epochs_per_step"] + c["final_epochs"],
        "chita": c["prune_kwargs"], "optimizer": "SGD momentum 0.9 nesterov wd 1e-4, cosine lr",
        "same for every method": True} for n, c in NETS.items() if n in args.nets},
        "seed": args.seed, "nets": {}}  # fmt: skip
    for net in args.nets:
        res["nets"][net] = run_net(net, args.threads, args.seed)
    res["targets"] = {k: {"met": bool(ok), "value": v} for k, (ok, v) in verdicts(res).items()}
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / "gradual.json"
    if set(args.nets) != set(NETS) and path.exists():  # merge with the other nets' results
        old = json.loads(path.read_text())
        for n in NETS:
            if n not in args.nets and n in old.get("nets", {}):
                res["nets"][n], res["budget"][n] = old["nets"][n], old["budget"][n]
        res["targets"] = {k: {"met": bool(ok), "value": v} for k, (ok, v) in verdicts(res).items()}
    path.write_text(json.dumps(res, indent=2))
    plot(res, RESULTS / "gradual.png")
    print("| net | sparsity | GMP | gradual chita | epochs |\n|---|---|---|---|---|")
    for net, r in res["nets"].items():
        acc = {(x["method"], x["sparsity"]): x for x in r["runs"]}
        for s in sorted({x["sparsity"] for x in r["runs"]}):
            m, c = acc[("magnitude", s)], acc[("chita", s)]
            print(f"| {net} | {s:g} | {100 * m['test_accuracy']:.1f}% | "
                  f"{100 * c['test_accuracy']:.1f}% | {m['epochs']} |")  # fmt: skip
    for k, v in res["targets"].items():
        print(f"{'MET    ' if v['met'] else 'NOT MET'}  {k}: {v['value']}")
    print(f"wrote {RESULTS / 'gradual.json'} and {RESULTS / 'gradual.png'}")


if __name__ == "__main__":
    main()
