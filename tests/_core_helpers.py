"""Shared helpers for the core tests: instance generators and an exhaustive oracle."""

from __future__ import annotations

import itertools

import numpy as np

from sparse_regression import make_correlated_regression


def ar1_design(rng, n, p, rho):
    """n x p design whose columns follow an AR(1) process with correlation rho."""
    Z = rng.standard_normal((n, p))
    X = np.empty((n, p))
    X[:, 0] = Z[:, 0]
    for j in range(1, p):
        X[:, j] = rho * X[:, j - 1] + np.sqrt(1 - rho**2) * Z[:, j]
    return X


def sparse_instance(seed, n, p, k, rho, snr):
    """Correlated design, a k-sparse signal, noise at the given signal-to-noise ratio."""
    X, y, _ = make_correlated_regression(n, p, k, rho=rho, snr=snr, order="C", random_state=seed)
    return X, y


def enumerate_optimum(A, b, k, ridge=0.0, w_ref=None):
    """Exhaustive oracle: best objective and support over all supports of size k.

    Every support's ridge least-squares problem is solved in one batched call.
    """
    A = np.asarray(A, dtype=np.float64)
    p = A.shape[1]
    w_ref = np.zeros(p) if w_ref is None else np.asarray(w_ref, dtype=np.float64)
    G = A.T @ A
    c = A.T @ b
    supports = np.array(list(itertools.combinations(range(p), k)))
    M = G[supports[:, :, None], supports[:, None, :]] + ridge * np.eye(k)
    rhs = c[supports] + ridge * w_ref[supports]
    try:
        x = np.linalg.solve(M, rhs[..., None])[..., 0]
    except np.linalg.LinAlgError:
        x = np.stack(
            [np.linalg.lstsq(Mi, ri, rcond=None)[0] for Mi, ri in zip(M, rhs, strict=True)]
        )
    # F = 1/2 b'b - x'rhs_S + 1/2 x'Mx + ridge/2 ||w_ref||^2, evaluated exactly via residuals
    W = np.zeros((len(supports), p))
    np.put_along_axis(W, supports, x, axis=1)
    R = W @ A.T - b
    F = 0.5 * np.einsum("ij,ij->i", R, R) + 0.5 * ridge * np.sum((W - w_ref) ** 2, axis=1)
    i = int(np.argmin(F))
    return float(F[i]), supports[i]


def objective(A, b, w, ridge=0.0, w_ref=None):
    r = A @ w - b
    d = w if w_ref is None else w - w_ref
    return 0.5 * float(r @ r) + 0.5 * ridge * float(d @ d)
