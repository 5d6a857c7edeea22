"""Prune a small PyTorch MLP with CHITA and compare with magnitude pruning.

    python examples/prune_mlp.py                      # about 10 s on one CPU core
    CHITA_EXAMPLES_FAST=1 python examples/prune_mlp.py  # fewer epochs and samples

A 64-64-32-10 MLP is trained on scikit-learn's bundled 8x8 digits, then pruned to 80%
sparsity from a DataLoader of training batches: once by global magnitude, once by CHITA
(sparse regression on the empirical Fisher), once by CHITA++ (8 stages by default), and the
masks are saved and re-applied to a fresh copy of the model.
"""

import copy
import os
import tempfile
from pathlib import Path

import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import chita


def make_data():
    X, y = load_digits(return_X_y=True)
    X_tr, X_te, y_tr, y_te = train_test_split(X / 16.0, y, test_size=0.3, random_state=0)
    as_t = lambda a, dt: torch.tensor(a, dtype=dt)  # noqa: E731
    return (
        TensorDataset(as_t(X_tr, torch.float32), as_t(y_tr, torch.long)),
        (as_t(X_te, torch.float32), as_t(y_te, torch.long)),
    )


@torch.no_grad()
def accuracy(model, X, y) -> float:
    return float((model(X).argmax(1) == y).float().mean())


def main() -> None:
    fast = os.environ.get("CHITA_EXAMPLES_FAST") == "1"
    torch.manual_seed(0)
    train_set, (X_test, y_test) = make_data()
    train_loader = DataLoader(train_set, batch_size=64, shuffle=True)
    model = nn.Sequential(
        nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10)
    )
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(5 if fast else 40):
        for xb, yb in train_loader:
            opt.zero_grad()
            nn.functional.cross_entropy(model(xb), yb).backward()
            opt.step()
    model.eval()
    print(f"dense test accuracy {100 * accuracy(model, X_test, y_test):.1f}%")

    pruned_models = {}
    for method in ("magnitude", "chita", "chita++"):
        pruned = copy.deepcopy(model)
        report = chita.prune(
            pruned,
            train_loader,
            sparsity=0.8,
            method=method,
            n_samples=128 if fast else 500,
            progress=False,
            random_state=0,
        )
        acc = accuracy(pruned, X_test, y_test)
        print(f"{method:>9} at 80% sparsity: test accuracy {100 * acc:.1f}%")
        pruned_models[method] = pruned
    print(report.summary())  # the last one: per-layer table, objectives per stage, times

    # Save the structure, re-apply it to a fresh copy carrying the pruned weights; with
    # mask_mode="prune" the zeros stay zero if the copy is fine-tuned.
    with tempfile.TemporaryDirectory() as tmp:
        report.save_masks(Path(tmp) / "masks.pt")
        fresh = copy.deepcopy(model)
        fresh.load_state_dict(pruned_models["chita++"].state_dict())
        chita.load_masks(fresh, Path(tmp) / "masks.pt", mask_mode="prune")
    same = torch.equal(fresh(X_test), pruned_models["chita++"](X_test))
    print(f"masks re-applied to a fresh copy: identical outputs {same}")


if __name__ == "__main__":
    main()
