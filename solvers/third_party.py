"""Wrappers around third-party best-subset solvers (optional dependencies)."""

from __future__ import annotations

import importlib.util
import time

import numpy as np
from sklearn.base import BaseEstimator

from sparse_regression import SparseProblem, SparseSolution, backsolve

from ._common import (
    BENCH_EXTRA,
    check_positive_int,
    check_problem,
    check_warm_start,
    import_optional,
    make_solution,
)

__all__ = ["AbessSolver", "abess_available"]


def abess_available() -> bool:
    """Whether the optional ``abess`` package is installed (without importing it)."""
    return importlib.util.find_spec("abess") is not None


class AbessSolver(BaseEstimator):
    """ABESS splicing (``abess.linear.LinearRegression``) at support size k, refitted exactly.

    ABESS solves plain least squares, so the problem is handed to it as

        [A; sqrt(ridge) I] w ~ [b; sqrt(ridge) w_ref]      (just A w ~ b when ridge = 0),

    whose squared residual is exactly 2 F(w). Columns are scaled to unit norm first (a
    best-subset objective does not depend on column scales) and ABESS's own normalisation,
    which would also centre the data, is turned off. Only ABESS's support is used: the
    coefficients are the exact minimiser of F on it (``backsolve``). ``warm_start``, when
    given, seeds ABESS's initial active set (``A_init``). The augmented matrix has n + p rows,
    so with ridge > 0 memory is O((n + p) p). Requires ``pip install "chita[bench]"``.

    Parameters
    ----------
    max_iter : int, default 20
        Maximum splicing iterations.
    exchange_num : int, default 5
        Maximum number of features exchanged per splicing step.
    thread : int, default 1
        Threads used by ABESS.
    """

    def __init__(self, max_iter=20, exchange_num=5, thread=1):
        self.max_iter = max_iter
        self.exchange_num = exchange_num
        self.thread = thread

    def solve(self, problem: SparseProblem, warm_start=None) -> SparseSolution:
        t0 = time.perf_counter()
        problem = check_problem(problem)
        max_iter = check_positive_int("max_iter", self.max_iter)
        exchange_num = check_positive_int("exchange_num", self.exchange_num)
        thread = check_positive_int("thread", self.thread)
        w0 = check_warm_start(problem, warm_start)
        linear = import_optional("abess.linear", "AbessSolver", BENCH_EXTRA)

        p, k = problem.n_features, problem.k
        X = np.asarray(problem.A, dtype=np.float64)
        y = problem.b
        if problem.ridge > 0:
            root = np.sqrt(problem.ridge)
            X = np.vstack([X, root * np.eye(p)])
            y = np.concatenate([y, root * problem.w_ref])
        norms = np.linalg.norm(X, axis=0)
        norms[norms == 0] = 1.0
        X = np.asfortranarray(X / norms)
        a_init = None
        if w0 is not None and np.any(w0):
            order = np.argsort(-np.abs(w0), kind="stable")[:k]
            a_init = np.sort(order[w0[order] != 0]).astype(np.int32)
        model = linear.LinearRegression(
            support_size=[k],
            fit_intercept=False,
            max_iter=max_iter,
            exchange_num=exchange_num,
            thread=thread,
            A_init=a_init,
        )
        model.fit(X, y, is_normal=False)
        support = np.flatnonzero(np.asarray(model.coef_).ravel())
        if support.size > k:  # never observed; keep the contract regardless
            support = np.sort(support[np.argsort(-np.abs(model.coef_[support]))[:k]])
        coef = backsolve(problem, support)
        return make_solution(
            problem,
            coef,
            time=time.perf_counter() - t0,
            optimality="none",
            solver="abess",
            info={"abess_support": support},
        )
