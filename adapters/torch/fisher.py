"""The empirical-Fisher least-squares problem: samples, the matrix A, the target b.

With G the n x p matrix of per-sample gradients at the current weights w_bar and
``A = G / sqrt(n)``, ``A^T A`` is the empirical Fisher and ``A^T 1 / sqrt(n)`` the mean gradient,
so the local quadratic model of the loss is, up to a constant (docs/formulation.md,
"Pruning as sparse regression"),

    1/2 ||b - A w||^2,   b = A w_bar            (default: first-order term dropped)
                         b = A w_bar - 1/sqrt(n) (first_order=True)

A is float32 and column-major (F-order): each target owns a contiguous range of columns, a
layer's block ``A[:, c0:c1]`` is itself contiguous, and column dot products (the solver's inner
loop) read contiguous memory.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence

import numpy as np
import torch

from sparse_regression.constants import GRAD_BUFFER_BYTES

from .per_sample_grads import Segment, fill_rows

__all__ = [
    "GradientMode",
    "build_matrix",
    "chunk_rows",
    "collect_samples",
    "mean_fisher_diag",
    "progress_bar",
    "segments",
]


def _first_two(batch, i):
    if isinstance(batch, (tuple, list)) and len(batch) >= 2:
        return batch[0], batch[1]
    raise TypeError(
        f"data: batch {i} is a {type(batch).__name__}; each batch must be an (inputs, targets) "
        "pair (a DataLoader over a TensorDataset yields these)."
    )


def collect_samples(data, n_samples: int, device, random_state=None) -> list[tuple]:
    """At most ``n_samples`` samples from ``data`` as a list of ``(inputs, targets)`` batches.

    ``data`` is an ``(inputs, targets)`` pair of tensors (a random subset of rows is drawn when
    ``random_state`` is given, else the first rows) or an iterable of ``(inputs, targets)``
    batches (DataLoader), read until ``n_samples`` samples; the last batch is truncated.
    """
    if data is None:
        raise ValueError(
            "data is required for method='chita'/'chita++': pass a DataLoader or "
            "an (inputs, targets) pair of tensors."
        )
    out, total = [], 0
    if (
        isinstance(data, (tuple, list))
        and len(data) == 2
        and all(isinstance(t, torch.Tensor) for t in data)
    ):
        X, Y = data
        if X.ndim == 0 or Y.ndim == 0 or len(X) != len(Y):
            raise ValueError(
                f"data: inputs and targets must have the same first dimension, got "
                f"{tuple(X.shape)} and {tuple(Y.shape)}."
            )
        m = min(n_samples, len(X))
        if random_state is not None and m < len(X):
            rng = np.random.default_rng(random_state)
            idx = torch.from_numpy(np.sort(rng.choice(len(X), m, replace=False)))
            X, Y = X[idx], Y[idx]
        else:
            X, Y = X[:m], Y[:m]
        if m:
            out.append((X, Y))
        total = m
    else:
        try:
            it = iter(data)
        except TypeError:
            raise TypeError(
                f"data must be a DataLoader, an iterable of (inputs, targets) batches or an "
                f"(inputs, targets) pair of tensors, got {type(data).__name__}."
            ) from None
        for i, batch in enumerate(it):
            x, y = _first_two(batch, i)
            if not isinstance(x, torch.Tensor) or not isinstance(y, torch.Tensor):
                raise TypeError(f"data: batch {i} must hold tensors, got {type(x).__name__}.")
            take = min(len(x), n_samples - total)
            if take > 0:
                out.append((x[:take], y[:take]))
                total += take
            if total >= n_samples:
                break
    if total == 0:
        raise ValueError(
            "data yielded no samples: the Fisher needs at least one (inputs, targets) sample; "
            "check that the DataLoader/dataset is not empty."
        )
    if total < n_samples:
        warnings.warn(
            f"data yielded {total} samples, fewer than n_samples={n_samples}; using {total}.",
            stacklevel=3,
        )
    return [(x.to(device), y.to(device)) for x, y in out]


def chunk_rows(batches: Sequence[tuple], chunk: int) -> list[tuple]:
    """Re-split batches into chunks of at most ``chunk`` samples."""
    out = []
    for x, y in batches:
        for i in range(0, len(x), chunk):
            out.append((x[i : i + chunk], y[i : i + chunk]))
    return out


def build_matrix(
    model: torch.nn.Module,
    batches: Sequence[tuple],
    segments: Sequence[Segment],
    loss_fn: Callable,
    n_cols: int,
    progress: Callable | None = None,
) -> np.ndarray:
    """The n x n_cols float32 F-order matrix of per-sample gradients / sqrt(n).

    ``segments`` place (parts of) targets' gradients in its columns. ``progress(k)`` is called
    with the number of samples done after each chunk.
    """
    n = sum(len(x) for x, _ in batches)
    A = np.empty((n, n_cols), dtype=np.float32, order="F")
    grad_cols = sum(s.target.numel for s in {id(s.target): s for s in segments}.values())
    chunk = max(1, GRAD_BUFFER_BYTES // (8 * max(grad_cols, 1)))
    At = torch.from_numpy(A)
    scale = 1.0 / math.sqrt(n)
    r = 0
    for x, y in chunk_rows(batches, chunk):
        fill_rows(model, x, y, segments, loss_fn, At[r : r + len(x)], scale)
        r += len(x)
        if progress is not None:
            progress(len(x))
    return A


def segments(targets, slices, lo, hi) -> list[Segment]:
    """Segments placing the flat range [lo, hi) of the targets into columns 0..hi-lo."""
    out = []
    for t, (a, b) in zip(targets, slices, strict=True):
        s, e = max(a, lo), min(b, hi)
        if s < e:
            out.append(Segment(t, s - a, e - a, s - lo))
    return out


def progress_bar(total, desc, enabled):
    """A tqdm bar over ``total`` samples (disabled unless ``enabled``)."""
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, disable=not enabled, leave=False, unit="sample")


class GradientMode:
    """eval() for every module and requires_grad on the targets; both restored on exit."""

    def __init__(self, model, targets):
        self.model, self.targets = model, targets

    def __enter__(self):
        self.modes = [(m, m.training) for m in self.model.modules()]
        self.flags = [(t.param, t.param.requires_grad) for t in self.targets]
        self.model.eval()
        for t in self.targets:
            t.param.requires_grad_(True)
        return self

    def __exit__(self, *exc):
        for m, mode in self.modes:
            m.training = mode
        for p, flag in self.flags:
            p.requires_grad_(flag)
        return False


def mean_fisher_diag(model, targets, slices, batches, loss_fn, progress) -> float:
    """mean(diag(A^T A)) over all targets in one pass over the samples, A never held whole."""
    total = slices[-1][1]
    n = sum(len(x) for x, _ in batches)
    chunk = max(1, GRAD_BUFFER_BYTES // (8 * total))
    segs = segments(targets, slices, 0, total)
    acc = 0.0
    bar = progress_bar(n, "chita Fisher diagonal", progress)
    with GradientMode(model, targets), bar:
        for x, y in chunk_rows(batches, chunk):
            buf = torch.empty((len(x), total), dtype=torch.float32)
            fill_rows(model, x, y, segs, loss_fn, buf, 1.0)
            acc += float(buf.double().pow_(2).sum())
            bar.update(len(x))
    return acc / n / total
