"""``chita demo --flops``: accuracy vs multiply-adds kept for a small conv net (FALCON).

A small conv net (three 3x3 conv+BN+ReLU layers, 16x16 digits) is trained (cached), then
pruned to several fractions of its dense multiply-adds (MACs) per image by

* ``magnitude``: global magnitude pruning at a sweep of sparsities (its MACs measured);
* ``fa-magnitude``: FLOP-aware magnitude pruning (the knapsack on w^2 under the MAC budget,
  with prune's default cardinality: at most the weights magnitude pruning keeps at the budget);
* ``falcon``: the CHITA solve under the MAC budget (same default cardinality);
* ``fa-magnitude+k`` / ``falcon+k``: the same with the sparsity paired to the budget
  (``sparsity = 1 - budget``, as FALCON's paper pairs them).

Each pruned net's BatchNorm statistics are re-estimated on 300 training images before testing
(every method alike). Prints a table, saves ``demo_flops.json`` and ``demo_flops.png``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from .._require import require_torch

torch = require_torch()
nn = torch.nn

__all__ = ["SmallConvNet", "run_flops_demo", "format_flops_table"]

BUDGETS = (0.5, 0.3, 0.2)
MAGNITUDE_SPARSITIES = (0.5, 0.7, 0.8, 0.9)


class SmallConvNet(nn.Module):
    """conv3x3(1->16) - conv3x3(16->32, stride 2) - conv3x3(32->64, stride 2), each with BN
    and ReLU, global average pooling, linear classifier."""

    def __init__(self, in_channels: int = 1, num_classes: int = 10):
        super().__init__()

        def block(a, b, stride):
            return [nn.Conv2d(a, b, 3, stride, 1, bias=False), nn.BatchNorm2d(b), nn.ReLU()]

        self.features = nn.Sequential(
            *block(in_channels, 16, 1), *block(16, 32, 2), *block(32, 64, 2)
        )
        self.fc = nn.Linear(64, num_classes)

    def forward(self, x):
        return self.fc(self.features(x).mean((2, 3)))


@torch.no_grad()
def _recalibrate_bn(model, X, batch: int = 100) -> None:
    """Re-estimate BatchNorm running statistics on ``X`` (cumulative average, no training)."""
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [m.momentum for m in bns]
    model.eval()
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
        m.train()
    for i in range(0, len(X), batch):
        model(X[i : i + batch])
    for m, mom in zip(bns, saved, strict=True):
        m.momentum = mom
    model.eval()


def run_flops_demo(output: Path, seed: int = 0, n_samples: int = 300, progress: bool = True):
    """Train (or load) the small conv net and prune it under each MAC budget; returns the
    result dict (also written to ``output/demo_flops.json``, plot ``demo_flops.png``)."""
    from ..torch import flop_costs, prune
    from .data import load_digits
    from .train import accuracy, load_or_train

    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    data = load_digits(16, random_state=seed)
    model, cached = load_or_train(
        SmallConvNet, out / f"smallconv_digits16_seed{seed}.pt", data.X_train, data.y_train,
        seed=seed, epochs=15, lr=1e-2, batch_size=64,
    )  # fmt: skip
    dense_state = {k: v.clone() for k, v in model.state_dict().items()}
    dense_acc = accuracy(model, data.X_test, data.y_test)
    costs = flop_costs(model, data.X_train[:1])
    Xbn = data.X_train[:300]
    calib = (data.X_train, data.y_train)
    jobs = [("magnitude", {"sparsity": s}) for s in MAGNITUDE_SPARSITIES]
    jobs += [("fa-magnitude", {"flop_budget": b, "method": "magnitude"}) for b in BUDGETS]
    jobs += [("falcon", {"flop_budget": b, "method": "falcon"}) for b in BUDGETS]
    jobs += [
        ("fa-magnitude+k", {"flop_budget": b, "method": "magnitude", "sparsity": 1 - b})
        for b in BUDGETS
    ]
    jobs += [
        ("falcon+k", {"flop_budget": b, "method": "falcon", "sparsity": 1 - b}) for b in BUDGETS
    ]
    runs = []
    for name, kw in jobs:
        model.load_state_dict(dense_state)
        kw = dict(kw)
        kw.setdefault("method", name)
        t0 = time.perf_counter()
        rep = prune(model, calib, n_samples=n_samples, progress=False, random_state=seed, **kw)
        elapsed = time.perf_counter() - t0
        _recalibrate_bn(model, Xbn)
        macs = sum(float(m.sum()) * costs[n] for n, m in rep.masks.items())
        dense = sum(m.numel() * costs[n] for n, m in rep.masks.items())
        runs.append(
            {
                "method": name,
                "flop_budget": kw.get("flop_budget"),
                "sparsity": rep.achieved_sparsity,
                "macs_fraction": macs / dense,
                "test_accuracy": accuracy(model, data.X_test, data.y_test),
                "time_prune": elapsed,
            }
        )
        if progress:
            r = runs[-1]
            print(
                f"  {name:<13} MACs kept {r['macs_fraction']:.3f}  sparsity {r['sparsity']:.3f}"
                f"  acc {100 * r['test_accuracy']:.1f}%  ({elapsed:.1f} s)",
                flush=True,
            )
    model.load_state_dict(dense_state)
    result = {
        "model": "SmallConvNet (3 conv+BN+ReLU, 16x16 digits)",
        "dense_test_accuracy": dense_acc,
        "weights_cached": cached,
        "n_samples": n_samples,
        "bn_recalibration": "300 training images, every method",
        "runs": runs,
    }
    (out / "demo_flops.json").write_text(json.dumps(result, indent=2))
    _plot(result, out / "demo_flops.png")
    return result


def format_flops_table(result: dict) -> str:
    lines = [
        f"FLOP-aware demo: dense test accuracy {100 * result['dense_test_accuracy']:.1f}%",
        f"{'method':<14}{'MACs kept':>10}{'sparsity':>10}{'test acc':>10}{'time s':>8}",
    ]
    for r in result["runs"]:
        lines.append(
            f"{r['method']:<14}{r['macs_fraction']:>10.3f}{r['sparsity']:>10.3f}"
            f"{100 * r['test_accuracy']:>9.1f}%{r['time_prune']:>8.2f}"
        )
    return "\n".join(lines)


def _plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.6), dpi=100)
    for m in ("magnitude", "fa-magnitude", "falcon", "fa-magnitude+k", "falcon+k"):
        pts = sorted((r["macs_fraction"], r["test_accuracy"]) for r in result["runs"]
                     if r["method"] == m)  # fmt: skip
        ax.plot([x for x, _ in pts], [100 * y for _, y in pts], "o-", label=m)
    ax.axhline(100 * result["dense_test_accuracy"], color="gray", ls=":", label="dense")
    ax.set_xlabel("fraction of dense multiply-adds kept")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title("small conv net, digits 16x16 (BN recalibrated)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
