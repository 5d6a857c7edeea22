"""Synthetic sparse-regression instances with correlated columns."""

from __future__ import annotations

import numpy as np

__all__ = ["make_correlated_regression"]


def make_correlated_regression(
    n_samples: int,
    n_features: int,
    n_nonzero: int,
    *,
    rho: float = 0.5,
    snr: float = 3.0,
    dtype=np.float64,
    order: str = "F",
    random_state=None,
):
    """A design with AR(1)-correlated columns, a sparse signal and Gaussian noise.

    Columns: ``x_0 = z_0``, ``x_j = rho x_{j-1} + sqrt(1 - rho^2) z_j`` (so
    ``corr(x_i, x_j) = rho^|i-j|``). The true coefficients have ``n_nonzero`` entries at random
    positions with random signs and magnitudes in [0.5, 2]. The noise is scaled so that
    ``||X w||^2 / ||noise||^2 = snr``.

    Returns ``(X, y, w_true)``; ``X`` has the requested dtype and memory order.
    """
    if not 0 <= rho < 1:
        raise ValueError(f"rho must lie in [0, 1), got {rho}.")
    if not 1 <= n_nonzero <= n_features:
        raise ValueError(f"n_nonzero must lie in [1, n_features], got {n_nonzero}.")
    if snr <= 0:
        raise ValueError(f"snr must be > 0, got {snr}.")
    rng = np.random.default_rng(random_state)
    Z = rng.standard_normal((n_samples, n_features))
    X = np.empty((n_samples, n_features), order="F")
    X[:, 0] = Z[:, 0]
    c = np.sqrt(1.0 - rho**2)
    for j in range(1, n_features):
        X[:, j] = rho * X[:, j - 1] + c * Z[:, j]
    w = np.zeros(n_features)
    support = rng.choice(n_features, n_nonzero, replace=False)
    w[support] = rng.choice([-1.0, 1.0], n_nonzero) * rng.uniform(0.5, 2.0, n_nonzero)
    signal = X @ w
    noise = rng.standard_normal(n_samples)
    noise *= np.linalg.norm(signal) / (np.linalg.norm(noise) * np.sqrt(snr))
    X = np.asarray(X, dtype=dtype, order=order)
    return X, signal + noise, w
