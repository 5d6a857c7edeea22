"""Small deterministic training loop (CPU, seconds) and accuracy, with a weight cache."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from .._require import require_torch

torch = require_torch()

__all__ = ["train", "accuracy", "load_or_train", "REPO_CACHE"]

#: Weights cache of the benchmarks: ``.cache/`` in the repository (git-ignored), created by the
#: scripts that fill it. No cache outside the clone: a fresh clone computes everything itself.
REPO_CACHE = Path(__file__).resolve().parents[2] / ".cache"


def train(
    model: torch.nn.Module,
    X: torch.Tensor,
    y: torch.Tensor,
    *,
    epochs: int = 30,
    batch_size: int = 64,
    lr: float = 1e-2,
    weight_decay: float = 1e-4,
    seed: int = 0,
) -> torch.nn.Module:
    """Train with AdamW and a cosine learning-rate schedule; deterministic given ``seed``."""
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    steps = epochs * ((len(X) + batch_size - 1) // batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(len(X), generator=gen)
        for i in range(0, len(X), batch_size):
            idx = perm[i : i + batch_size]
            loss = torch.nn.functional.cross_entropy(model(X[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    model.eval()
    return model


@torch.no_grad()
def accuracy(model: torch.nn.Module, X: torch.Tensor, y: torch.Tensor, batch: int = 512) -> float:
    """Top-1 accuracy in [0, 1], computed in eval mode (the mode is restored)."""
    was = model.training
    model.eval()
    correct = 0
    for i in range(0, len(X), batch):
        correct += int((model(X[i : i + batch]).argmax(1) == y[i : i + batch]).sum())
    model.train(was)
    return correct / len(X)


def load_or_train(
    make: Callable[[], torch.nn.Module],
    path: str | os.PathLike,
    X: torch.Tensor,
    y: torch.Tensor,
    seed: int = 0,
    **train_kw,
) -> tuple[torch.nn.Module, bool]:
    """Load the weights cached at ``path`` or train (seeded) and cache them.

    Returns ``(model, cached)`` where ``cached`` says whether the weights came from the cache.
    """
    path = Path(path)
    torch.manual_seed(seed)
    model = make()
    if path.exists():
        try:
            model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
            model.eval()
            return model, True
        except (RuntimeError, OSError, ValueError):
            pass  # stale or corrupt cache: retrain
    train(model, X, y, seed=seed, **train_kw)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(model.state_dict(), tmp)
    os.replace(tmp, path)
    return model, False
