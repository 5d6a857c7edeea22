"""Reference methods the benchmarks compare against (numpy only, written for clarity)."""

from __future__ import annotations

import numpy as np


def plain_iht(A, b, k, max_iter=1000, tol=1e-8):
    """Textbook IHT: w <- P_k(w - grad/L) with the fixed step 1/L, L = ||A||_2^2."""
    L = float(np.linalg.norm(A, 2) ** 2)
    w = np.zeros(A.shape[1])
    f_old = np.inf
    support_old = None
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007 - reported after the loop
        v = w - (A.T @ (A @ w - b)) / L
        keep = np.argpartition(-np.abs(v), k - 1)[:k]
        w = np.zeros_like(v)
        w[keep] = v[keep]
        r = A @ w - b
        f = 0.5 * float(r @ r)
        support = np.sort(keep)
        stable = support_old is not None and np.array_equal(support, support_old)
        if stable and f_old - f <= tol * f_old:
            break
        f_old, support_old = f, support
    return w, it
