"""Baselines: magnitude pruning and orthogonal matching pursuit (OMP).

Both return feasible points (at most k nonzeros) with ``optimality="none"``: they come with
no guarantee and exist to compare against.
"""

from __future__ import annotations

import time

import numpy as np
from sklearn.base import BaseEstimator

from sparse_regression import SparseProblem, SparseSolution, backsolve

from ._common import check_bool, check_problem, check_warm_start, make_solution

__all__ = ["MagnitudeSolver", "OMPSolver"]


def _top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Sorted indices of the k largest scores (ties broken by the lower index)."""
    order = np.argsort(-scores, kind="stable")[:k]
    return np.sort(order)


class MagnitudeSolver(BaseEstimator):
    """Keep the k entries of largest magnitude.

    Which vector is pruned, in order of preference:

    1. ``warm_start`` when given,
    2. ``problem.w_ref`` when the problem has one (pruning: the pretrained weights),
    3. otherwise the marginal correlations ``|a_j^T b| / ||a_j||`` (the magnitude of each
       one-feature least-squares fit, scaled by its column norm); these are scores, not
       coefficients, so in this case the kept support is always refitted.

    Parameters
    ----------
    refit : bool, default False
        False keeps the values of the pruned vector on the kept support (plain magnitude
        pruning); True replaces them by the exact minimiser of F on that support
        (``sparse_regression.backsolve``).
    """

    def __init__(self, refit=False):
        self.refit = refit

    def solve(self, problem: SparseProblem, warm_start=None) -> SparseSolution:
        t0 = time.perf_counter()
        problem = check_problem(problem)
        refit = check_bool("refit", self.refit)
        w0 = check_warm_start(problem, warm_start)
        if w0 is not None:
            source, values = "warm_start", w0
        elif problem.has_w_ref:
            source, values = "w_ref", problem.w_ref
        else:
            source, values = "correlation", None
        if values is None:
            norms = np.sqrt(problem.column_sq_norms())
            corr = np.abs(problem.A.T @ problem.b)
            scores = np.divide(corr, norms, out=np.zeros_like(corr), where=norms > 0)
            refit = True
        else:
            scores = np.abs(values)
        support = _top_k(scores, problem.k)
        if values is not None:
            support = support[values[support] != 0]
        if refit:
            coef = backsolve(problem, support)
        else:
            coef = np.zeros(problem.n_features)
            coef[support] = values[support]
        return make_solution(
            problem,
            coef,
            time=time.perf_counter() - t0,
            optimality="none",
            solver="magnitude",
            info={"source": source, "refit": refit},
        )


class OMPSolver(BaseEstimator):
    """Orthogonal matching pursuit on F, refitted exactly on its support.

    The ridge problem is plain least squares in the augmented columns
    ``a~_j = [a_j; sqrt(ridge) e_j]`` with target ``[b; sqrt(ridge) w_ref]``; the correlation of
    ``a~_j`` with the augmented residual is ``-grad_j F(w)``. So each step adds the feature with
    the largest normalised gradient ``|grad_j F(w)| / sqrt(||a_j||^2 + ridge)`` and refits
    exactly on the new support (``backsolve``), until k features are in or the gradient
    vanishes. With ``ridge = 0`` and unit-norm columns this is scikit-learn's
    ``OrthogonalMatchingPursuit(fit_intercept=False)``. Cost: k refits and k gradients,
    O(k n p); meant for small and medium k.

    ``warm_start`` is ignored (OMP always starts from the empty support).
    """

    def solve(self, problem: SparseProblem, warm_start=None) -> SparseSolution:
        t0 = time.perf_counter()
        problem = check_problem(problem)
        check_warm_start(problem, warm_start)
        p, k = problem.n_features, problem.k
        scale = np.sqrt(problem.column_sq_norms() + problem.ridge)
        scale[scale == 0] = np.inf  # an all-zero column never helps
        coef = np.zeros(p)
        chosen = np.zeros(p, dtype=bool)
        history = [problem.objective(coef)]
        for _ in range(k):
            score = np.abs(problem.gradient(coef)) / scale
            score[chosen] = -1.0
            j = int(np.argmax(score))
            if score[j] <= 0.0:
                break
            chosen[j] = True
            coef = backsolve(problem, np.flatnonzero(chosen))
            history.append(problem.objective(coef))
        return make_solution(
            problem,
            coef,
            n_iter=int(chosen.sum()),
            history=np.asarray(history),
            time=time.perf_counter() - t0,
            optimality="none",
            solver="omp",
        )
