"""Reference methods the benchmarks compare against: a textbook IHT (numpy only, written for
clarity) and the anchors run through their own packages (abess, scikit-learn's OMP, skscope,
l0bnb). Each anchor returns the support it chose; the benchmarks refit every support exactly."""

from __future__ import annotations

import contextlib
import os
import warnings

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


def run_abess(X, y, k):
    from abess.linear import LinearRegression

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = LinearRegression(support_size=[k], fit_intercept=False).fit(X, y)
    return np.flatnonzero(model.coef_)


def run_omp(X, y, k):
    from sklearn.linear_model import OrthogonalMatchingPursuit

    model = OrthogonalMatchingPursuit(n_nonzero_coefs=k, fit_intercept=False).fit(X, y)
    return np.flatnonzero(model.coef_)


def run_skscope(X, y, k):
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    from skscope import ScopeSolver

    Xj, yj = jnp.asarray(X), jnp.asarray(y)

    def f(params):
        r = yj - Xj @ params
        return 0.5 * jnp.dot(r, r)

    sol = ScopeSolver(X.shape[1], k, sample_size=X.shape[0]).solve(f, jit=True)
    return np.flatnonzero(np.asarray(sol))


def run_l0bnb(X, y, k):
    # l0bnb 1.0.0 predates NumPy 2, which removed the alias np.Inf (setattr: ruff's NPY201
    # autofix once rewrote a plain assignment into the no-op ``np.inf = np.inf``)
    if not hasattr(np, "Inf"):
        setattr(np, "Inf", np.inf)  # noqa: B010
    import l0bnb

    with open(os.devnull, "w") as null, contextlib.redirect_stdout(null):
        sols = l0bnb.fit_path(
            X, y, lambda_2=1e-3, max_nonzeros=k, intercept=False, time_limit=2, gap_tol=0.05
        )
    fits = [s for s in sols if 0 < np.count_nonzero(s["B"]) <= k]
    if not fits:
        return np.zeros(0, dtype=np.int64)
    return np.flatnonzero(max(fits, key=lambda s: np.count_nonzero(s["B"]))["B"])
