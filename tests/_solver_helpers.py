"""Shared helpers for the solver tests: seeded instances and an exhaustive oracle."""

from __future__ import annotations

import itertools

import numpy as np

from sparse_regression import SparseProblem
from sparse_regression.backsolve import backsolve_support

from ._core_helpers import ar1_design


def small_problem(seed, *, n=20, p=10, k=3, rho=0.5, ridge=0.0, with_ref=False):
    """A seeded AR(1) instance with a k-sparse signal plus noise."""
    rng = np.random.default_rng(seed)
    A = ar1_design(rng, n, p, rho)
    beta = np.zeros(p)
    beta[rng.choice(p, k, replace=False)] = rng.choice([-1.0, 1.0], k) * rng.uniform(0.5, 2, k)
    b = A @ beta + 0.7 * rng.standard_normal(n)
    w_ref = beta + 0.3 * rng.standard_normal(p) if with_ref else None
    return SparseProblem(A, b, k, ridge=ridge, w_ref=w_ref)


def brute_force(problem: SparseProblem):
    """Best objective and coefficients over every support of size <= k (itertools)."""
    p, k = problem.n_features, problem.k
    best_f, best_w = np.inf, None
    for size in range(k + 1):
        for S in itertools.combinations(range(p), size):
            S = np.array(S, dtype=np.int64)
            wS, f = backsolve_support(problem.quadratic, S)
            if f < best_f:
                best_f = f
                best_w = np.zeros(p)
                best_w[S] = wS
    return best_f, best_w


def rel_diff(a: float, b: float) -> float:
    return abs(a - b) / max(abs(b), 1e-300)
