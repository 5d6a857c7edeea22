"""scikit-learn's bundled digits (8x8) upsampled for the demo and the benchmarks.

No download: :func:`sklearn.datasets.load_digits` ships with scikit-learn. Images are scaled to
[0, 1], upsampled bilinearly (``torch.nn.functional.interpolate``, ``align_corners=False``) to
``size x size`` and standardized with the training split's mean and standard deviation. The
train/test split is stratified and fixed (``random_state``), 1200 training and 597 test images
by default.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._require import require_torch

torch = require_torch()

__all__ = ["Digits", "load_digits"]


@dataclass
class Digits:
    """Tensors of one split pair: ``X_*`` float32 of shape (N, channels, size, size)."""

    X_train: torch.Tensor
    y_train: torch.Tensor
    X_test: torch.Tensor
    y_test: torch.Tensor

    @property
    def n_classes(self) -> int:
        return 10


def load_digits(
    size: int = 28, channels: int = 1, n_train: int = 1200, random_state: int = 0
) -> Digits:
    """Digits upsampled to ``size x size`` with ``channels`` identical channels.

    Parameters
    ----------
    size : int
        Output side length (28 for MLPNet, 32 for ResNet20).
    channels : int
        Number of (identical) channels; ResNet20 in this project uses 1.
    n_train : int
        Size of the stratified training split; the rest (1797 - n_train) is the test split.
    random_state : int
        Seed of the split.
    """
    from sklearn.datasets import load_digits as _load
    from sklearn.model_selection import train_test_split

    ds = _load()
    X = ds.images.astype(np.float32) / 16.0
    y = ds.target.astype(np.int64)
    idx_train, idx_test = train_test_split(
        np.arange(len(y)), train_size=n_train, stratify=y, random_state=random_state
    )
    X = torch.from_numpy(X)[:, None]
    X = torch.nn.functional.interpolate(X, size=(size, size), mode="bilinear", align_corners=False)
    mean, std = X[idx_train].mean(), X[idx_train].std()
    X = ((X - mean) / std).repeat(1, channels, 1, 1).contiguous()
    y = torch.from_numpy(y)
    return Digits(X[idx_train], y[idx_train], X[idx_test], y[idx_test])
