"""Scaling without cliffs (issue 11): accuracy and time vs n_samples, and block mode.

Part ``samples``: MLPNet (digits 28x28) and ResNet20 (digits 32x32) at sparsity 0.9, pruned by
one-shot CHITA with n_samples in 250 ... 4000. Digits has 1200 training images, so calibration
sets beyond that are *augmented* training images (random shifts of up to 2 pixels plus Gaussian
noise of 0.1 std, generated, no download); n <= 1200 uses the plain training images.
Model ``mlpnet-aug`` is MLPNet trained on that augmented distribution (per-image shifts), and
its calibration sets are fresh i.i.d. draws of it at every n: the samples' distribution does not
change with n (``augmented_draw``).

Part ``blocks``: block mode vs unblocked CHITA vs magnitude at 0.9 and 0.95 (n = 500). Block
mode splits k across blocks by a global solve on the samples whose A fits memory (all 500
here); two more rows cap that solve at 100 samples (as if memory were short) and at 0 (the
magnitude split, block mode before the global split). Part ``split`` sweeps that cap
(``SPLIT_CAPS``) at 0.9 and 0.95.

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
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results"


#: Part ``split``: block mode's global split on at most this many samples (0: magnitude split).
SPLIT_CAPS = (0, 100, 150, 250, 350, None)


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


def augmented_draw(X, y, n: int, seed: int):
    """``n`` i.i.d. draws from the augmented training distribution: a training image chosen
    uniformly, shifted by its own random (dx, dy) in [-2, 2]^2, plus Gaussian noise of 0.1 std.

    The ``mlpnet-aug`` model is trained on this distribution, so for it every calibration set,
    whatever its size, is a sample of the distribution the model was fitted to."""
    import torch

    g = torch.Generator().manual_seed(seed)
    idx = torch.randint(0, len(X), (n,), generator=g)
    shift = torch.randint(0, 25, (n,), generator=g)
    out = X[idx].clone()
    for s in range(25):
        sel = (shift == s).nonzero().flatten()
        if len(sel):
            out[sel] = torch.roll(out[sel], shifts=(s // 5 - 2, s % 5 - 2), dims=(-2, -1))
    out += 0.1 * torch.randn(out.shape, generator=g)
    return out, y[idx]


#: Seed of the ``mlpnet-aug`` training set (calibration draws use seeds 0, 1, ...).
AUG_TRAIN_SEED = 987654
#: Size of the ``mlpnet-aug`` training set: 20 augmented copies' worth of the 1200 images.
AUG_TRAIN_SIZE = 24000


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

    if name == "mlpnet-aug":
        d = load_digits(28)
        Xa, ya = augmented_draw(d.X_train, d.y_train, AUG_TRAIN_SIZE, AUG_TRAIN_SEED)
        path = REPO_CACHE / "mlpnet_digits28_aug_seed0.pt"
        model, _ = load_or_train(MLPNet, path, Xa, ya, seed=0, epochs=4, lr=1e-2)
    elif name == "mlpnet":
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


def calibration_draw(d, n: int, draw: int, name: str = "mlpnet"):
    """Calibration set ``draw``: draw 0 is the first ``n`` training images (as before); draw
    j > 0 a random permutation of them (seed 1000 + j); beyond the 1200 images, augmented.
    For ``mlpnet-aug``: ``n`` i.i.d. draws of its training distribution (seed ``draw``)."""
    import torch

    if name == "mlpnet-aug":
        return augmented_draw(d.X_train, d.y_train, n, seed=draw)
    X, y = d.X_train, d.y_train
    if draw:
        perm = torch.randperm(len(X), generator=torch.Generator().manual_seed(1000 + draw))
        X, y = X[perm], y[perm]
    return augmented(X, y, n, seed=draw)


@contextmanager
def split_samples_cap(cap):
    """Block mode's global split on at most ``cap`` samples, as if only that many fit the
    memory limit (0: the magnitude split; None: what fits)."""
    import adapters.torch.pruner as P

    if cap is None:
        yield
        return
    orig = P.allocation_samples
    P.allocation_samples = lambda n, total, k, limit: min(orig(n, total, k, limit), cap)
    try:
        yield
    finally:
        P.allocation_samples = orig


def run_one(name, model, state, d, n, sparsity, draw: int = 0, split_cap=None, **kw) -> dict:
    from adapters.demo.train import accuracy
    from adapters.torch import prune

    model.load_state_dict(state)
    X, y = calibration_draw(d, n, draw, name)
    t0 = time.perf_counter()
    with split_samples_cap(split_cap):
        rep = prune(
            model,
            (X, y),
            sparsity=sparsity,
            n_samples=n,
            progress=False,
            random_state=draw or None,
            **kw,
        )
    t_prune = time.perf_counter() - t0
    if name == "resnet20":
        recalibrate_bn(model, d.X_train[:500])
    acc = accuracy(model, d.X_test, d.y_test)
    h = rep.history[-1]
    return {
        "model": name,
        "n_requested": n,
        "draw": draw,
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


def summarize(rows: list[dict]) -> list[dict]:
    """Mean, min and max test accuracy over the draws of each (model, part, setting, n, s)."""
    import numpy as np

    groups: dict[tuple, list[dict]] = {}  # insertion order = first appearance
    for r in rows:
        key = (r["model"], r["part"], r.get("method", "chita"), r["n_requested"], r["sparsity"])
        groups.setdefault(key, []).append(r)
    out = []
    for key, sel in groups.items():
        acc = np.array([100 * r["test_accuracy"] for r in sel])
        out.append(
            dict(
                zip(("model", "part", "setting", "n", "sparsity"), key, strict=True),
                draws=len(sel),
                mean=float(acc.mean()),
                min=float(acc.min()),
                max=float(acc.max()),
                time=float(np.mean([r["time_prune"] for r in sel])),
            )
        )
    return out


def print_tables(rows: list[dict]) -> None:
    """Markdown table of the means over draws, and the samples target (+-0.5 point)."""
    summary = summarize(rows)
    print("\n| model | part | setting | n | sparsity | accuracy, mean (min-max) | draws | s |")
    print("|---|---|---|---|---|---|---|---|")
    for r in summary:
        print(
            f"| {r['model']} | {r['part']} | {r['setting']} | {r['n']} | {r['sparsity']} | "
            f"{r['mean']:.2f} ({r['min']:.1f}-{r['max']:.1f}) | {r['draws']} | {r['time']:.1f} |"
        )
    for model in dict.fromkeys(r["model"] for r in summary):
        curve = [r for r in summary if r["model"] == model and r["part"] == "samples"]
        if len(curve) > 1:
            drops = [b["mean"] - a["mean"] for a, b in zip(curve, curve[1:], strict=False)]
            print(
                f"{model}: largest drop of the mean from one n to the next "
                f"{-min(min(drops), 0.0):.2f} points (target <= 0.5)"
            )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--part", default="samples,blocks")
    ap.add_argument("--models", default="mlpnet,resnet20")
    ap.add_argument("--n-list", default="250,500,1000,2000,4000")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--block-size", type=int, default=10000)
    ap.add_argument("--out", default="prune_scaling.json")
    ap.add_argument(
        "--draws", type=int, default=1, help="calibration sets per point (random subsets)"
    )
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
                for draw in range(args.draws):
                    r = run_one(name, model, state, d, n, 0.9, draw=draw)
                    r["part"], r["dense_accuracy"] = "samples", dense
                    rows.append(r)
                    _save(rows, args.out)
                    print(
                        f"  n={n:5d} draw {draw} used {r['n_used']:5d}  "
                        f"acc {r['test_accuracy']:.4f}  {r['time_prune']:.1f}s  "
                        f"swap {r['local_search']} {r['swap_ranking']}",
                        flush=True,
                    )
        if "blocks" in parts:
            for s in (0.9, 0.95):
                for label, kw in (
                    ("magnitude", {"method": "magnitude"}),
                    ("chita", {}),
                    ("chita block", {"block_size": args.block_size}),
                    ("block, split n=100", {"block_size": args.block_size, "split_cap": 100}),
                    ("block, magnitude split", {"block_size": args.block_size, "split_cap": 0}),
                ):
                    for draw in range(args.draws):
                        r = run_one(name, model, state, d, 500, s, draw=draw, **kw)
                        r["part"], r["method"], r["dense_accuracy"] = "blocks", label, dense
                        rows.append(r)
                        _save(rows, args.out)
                        print(
                            f"  s={s} {label:12s} draw {draw} acc {r['test_accuracy']:.4f}  "
                            f"{r['time_prune']:.1f}s  {r['block_choice'] or ''}",
                            flush=True,
                        )
        if "split" in parts:
            for s in (0.9, 0.95):
                for cap in SPLIT_CAPS:
                    label = f"block, split n={'all' if cap is None else cap}"
                    for draw in range(args.draws):
                        r = run_one(
                            name,
                            model,
                            state,
                            d,
                            500,
                            s,
                            draw=draw,
                            split_cap=cap,
                            block_size=args.block_size,
                        )
                        r["part"], r["method"], r["dense_accuracy"] = "split", label, dense
                        rows.append(r)
                        _save(rows, args.out)
                        print(f"  s={s} {label} draw {draw} acc {r['test_accuracy']:.4f}")
    _save(rows, args.out)
    print_tables(rows)
    print(f"wrote {RESULTS / args.out}")


if __name__ == "__main__":
    main()
