"""Synthetic sparse-regression instances with correlated columns."""

from __future__ import annotations

import numpy as np

__all__ = ["make_block_regression", "make_correlated_regression", "make_factor_regression"]


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
    _check(n_nonzero, n_features, snr)
    rng = np.random.default_rng(random_state)
    Z = rng.standard_normal((n_samples, n_features))
    X = np.empty((n_samples, n_features), order="F")
    X[:, 0] = Z[:, 0]
    c = np.sqrt(1.0 - rho**2)
    for j in range(1, n_features):
        X[:, j] = rho * X[:, j - 1] + c * Z[:, j]
    return _signal_and_noise(X, n_nonzero, snr, dtype, order, rng)


def _check(n_nonzero, n_features, snr):
    if not 1 <= n_nonzero <= n_features:
        raise ValueError(f"n_nonzero must lie in [1, n_features], got {n_nonzero}.")
    if snr <= 0:
        raise ValueError(f"snr must be > 0, got {snr}.")


def _signal_and_noise(X, n_nonzero, snr, dtype, order, rng):
    n_samples, n_features = X.shape
    w = np.zeros(n_features)
    support = rng.choice(n_features, n_nonzero, replace=False)
    w[support] = rng.choice([-1.0, 1.0], n_nonzero) * rng.uniform(0.5, 2.0, n_nonzero)
    signal = X @ w
    noise = rng.standard_normal(n_samples)
    noise *= np.linalg.norm(signal) / (np.linalg.norm(noise) * np.sqrt(snr))
    X = np.asarray(X, dtype=dtype, order=order)
    return X, signal + noise, w


def make_block_regression(
    n_samples: int,
    n_features: int,
    n_nonzero: int,
    *,
    block_size: int = 10,
    rho: float = 0.9,
    snr: float = 3.0,
    dtype=np.float64,
    order: str = "F",
    random_state=None,
):
    """Block-equicorrelated columns: ``corr(x_i, x_j) = rho`` within each block of
    ``block_size`` consecutive columns, 0 across blocks (``x_j = sqrt(rho) u_B +
    sqrt(1 - rho) z_j``). Signal and noise as in :func:`make_correlated_regression`."""
    if not 0 <= rho < 1:
        raise ValueError(f"rho must lie in [0, 1), got {rho}.")
    if block_size < 1:
        raise ValueError(f"block_size must be >= 1, got {block_size}.")
    _check(n_nonzero, n_features, snr)
    rng = np.random.default_rng(random_state)
    n_blocks = -(-n_features // block_size)
    U = rng.standard_normal((n_samples, n_blocks))
    X = np.sqrt(1.0 - rho) * rng.standard_normal((n_samples, n_features))
    X += np.sqrt(rho) * np.repeat(U, block_size, axis=1)[:, :n_features]
    return _signal_and_noise(np.asfortranarray(X), n_nonzero, snr, dtype, order, rng)


def make_factor_regression(
    n_samples: int,
    n_features: int,
    n_nonzero: int,
    *,
    n_factors: int = 5,
    noise_level: float = 0.5,
    snr: float = 3.0,
    dtype=np.float64,
    order: str = "F",
    random_state=None,
):
    """A factor model, the shape of gene-expression designs: ``X = F L + noise_level E`` with
    ``n_factors`` latent factors ``F`` (n x r), loadings ``L`` (r x p) and ``E`` all standard
    normal, columns rescaled to unit variance. Signal and noise as in
    :func:`make_correlated_regression`."""
    if n_factors < 1:
        raise ValueError(f"n_factors must be >= 1, got {n_factors}.")
    if noise_level <= 0:
        raise ValueError(f"noise_level must be > 0, got {noise_level}.")
    _check(n_nonzero, n_features, snr)
    rng = np.random.default_rng(random_state)
    F = rng.standard_normal((n_samples, n_factors))
    L = rng.standard_normal((n_factors, n_features))
    X = F @ L + noise_level * rng.standard_normal((n_samples, n_features))
    X /= np.sqrt(np.sum(L * L, axis=0) + noise_level**2)
    return _signal_and_noise(np.asfortranarray(X), n_nonzero, snr, dtype, order, rng)
