"""Scaling without cliffs (issue 11): accuracy and time vs n_samples, and block mode.

Part ``samples``: MLPNet (digits 28x28) and ResNet20 (digits 32x32) at sparsity 0.9, pruned by
one-shot CHITA with n_samples in 250 ... 4000. Digits has 1200 training images, so calibration
sets beyond that are *augmented* training images (random shifts of up to 2 pixels plus Gaussian
noise of 0.1 std, generated, no download); n <= 1200 uses the plain training images.

Part ``blocks``: block mode vs unblocked CHITA vs magnitude at 0.9 and 0.95 (n = 500).

Every ResNet20 result (magnitude included) is BN-recalibrated on 500 training images after
pruning (DESIGN.md section 6, a small private helper: ``adapters/torch`` has no shared one on
this branch). Writes ``benchmarks/results/prune_scaling.json``.

    python benchmarks/prune_scaling.py [--part samples,blocks] [--models mlpnet,resnet20]
        [--n-list 250,500,1000,2000,4000]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results"


def augmented(X, y, n: int, seed: int = 0):
    """``n`` calibration samples: the training set, then shifted and noised copies of it."""
    import torch

    if n <= len(X):
        return X[:n], y[:n]
    g = torch.Generator().manual_seed(seed)
    xs, ys, have = [X], [y], len(X)
    while have < n:
        m = min(len(X), n - have)
        idx = torch.randperm(len(X), generator=g)[:m]
        dx, dy = (int(v) for v in torch.randint(-2, 3, (2,), generator=g))
        xa = torch.roll(X[idx], shifts=(dx, dy), dims=(-2, -1))
        xs.append(xa + 0.1 * torch.randn(xa.shape, generator=g))
        ys.append(y[idx])
        have += m
    return torch.cat(xs), torch.cat(ys)


def recalibrate_bn(model, X, batch: int = 100) -> None:
    """Re-estimate BatchNorm running statistics on X (cumulative average), then eval."""
    import torch

    bns = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return
    saved = [(m, m.momentum) for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
    model.train()
    with torch.no_grad():
        for i in range(0, len(X), batch):
            model(X[i : i + batch])
    for m, mom in saved:
        m.momentum = mom
    model.eval()


def load_model(name: str):
    from adapters.demo.data import load_digits
    from adapters.demo.models import MLPNet, ResNet20
    from adapters.demo.train import REPO_CACHE, load_or_train

    if name == "mlpnet":
        d = load_digits(28)
        path = REPO_CACHE / "mlpnet_digits28_seed0.pt"
        model, _ = load_or_train(MLPNet, path, d.X_train, d.y_train, seed=0, epochs=40, lr=1e-2)
    else:
        d = load_digits(32)
        path = REPO_CACHE / "resnet20_digits32_seed0_e8.pt"
        model, _ = load_or_train(
            ResNet20, path, d.X_train, d.y_train, epochs=8, lr=1e-2, batch_size=64
        )
    return model, d


def run_one(name, model, state, d, n, sparsity, **kw) -> dict:
    from adapters.demo.train import accuracy
    from adapters.torch import prune

    model.load_state_dict(state)
    X, y = augmented(d.X_train, d.y_train, n)
    t0 = time.perf_counter()
    rep = prune(model, (X, y), sparsity=sparsity, n_samples=n, progress=False, **kw)
    t_prune = time.perf_counter() - t0
    if name == "resnet20":
        recalibrate_bn(model, d.X_train[:500])
    acc = accuracy(model, d.X_test, d.y_test)
    h = rep.history[-1]
    return {
        "model": name,
        "n_requested": n,
        "n_used": rep.n_samples,
        "n_holdout": rep.n_holdout,
        "sparsity": sparsity,
        "settings": {k: v for k, v in kw.items()},
        "test_accuracy": acc,
        "time_prune": t_prune,
        "times": rep.times,
        "objective_magnitude": rep.objective_magnitude,
        "objective": rep.objective,
        "local_search": h.solver.get("local_search"),
        "swap_ranking": h.solver.get("swap_ranking"),
        "block_choice": h.block_choice and h.block_choice["chosen"],
        "warnings": rep.warnings,
    }


def _save(rows, name) -> None:
    """Write the rows so far (a long run keeps what it measured if it is stopped)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / name).write_text(json.dumps(rows, indent=2))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--part", default="samples,blocks")
    ap.add_argument("--models", default="mlpnet,resnet20")
    ap.add_argument("--n-list", default="250,500,1000,2000,4000")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--block-size", type=int, default=10000)
    ap.add_argument("--out", default="prune_scaling.json")
    args = ap.parse_args()
    from adapters.demo.threads import set_threads
    from adapters.demo.train import accuracy

    set_threads(args.threads)
    parts = args.part.split(",")
    rows = []
    for name in args.models.split(","):
        model, d = load_model(name)
        state = {k: v.clone() for k, v in model.state_dict().items()}
        dense = accuracy(model, d.X_test, d.y_test)
        print(f"{name}: dense test accuracy {dense:.4f}", flush=True)
        if "samples" in parts:
            for n in [int(v) for v in args.n_list.split(",")]:
                r = run_one(name, model, state, d, n, 0.9)
                r["part"], r["dense_accuracy"] = "samples", dense
                rows.append(r)
                _save(rows, args.out)
                print(
                    f"  n={n:5d} used {r['n_used']:5d}  acc {r['test_accuracy']:.4f}  "
                    f"{r['time_prune']:.1f}s  swap {r['local_search']} {r['swap_ranking']}",
                    flush=True,
                )
        if "blocks" in parts:
            for s in (0.9, 0.95):
                for label, kw in (
                    ("magnitude", {"method": "magnitude"}),
                    ("chita", {}),
                    ("chita block", {"block_size": args.block_size}),
                ):
                    r = run_one(name, model, state, d, 500, s, **kw)
                    r["part"], r["method"], r["dense_accuracy"] = "blocks", label, dense
                    rows.append(r)
                    _save(rows, args.out)
                    print(
                        f"  s={s} {label:12s} acc {r['test_accuracy']:.4f}  "
                        f"{r['time_prune']:.1f}s  {r['block_choice'] or ''}",
                        flush=True,
                    )
    _save(rows, args.out)
    print("\n| model | part | setting | n used | sparsity | accuracy | prune s |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        setting = r.get("method", "chita")
        print(
            f"| {r['model']} | {r['part']} | {setting} | {r['n_used']} | {r['sparsity']} | "
            f"{100 * r['test_accuracy']:.2f} | {r['time_prune']:.1f} |"
        )
    print(f"wrote {RESULTS / args.out}")


if __name__ == "__main__":
    main()
