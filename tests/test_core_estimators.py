"""scikit-learn estimators: the estimator checks and behaviour on data with a known answer."""

import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_diabetes
from sklearn.model_selection import GridSearchCV
from sklearn.utils.estimator_checks import parametrize_with_checks

from sparse_regression import (
    IHTSolver,
    SparseLinearRegression,
    SparseLinearRegressionCV,
    SparseProblem,
    SparseSolution,
    backsolve,
)
from sparse_regression.estimators import default_k_grid

from ._core_helpers import enumerate_optimum, sparse_instance

_ARRAY_API_CHECK = """
from sklearn.utils.estimator_checks import check_array_api_input
from sparse_regression import SparseLinearRegression, SparseLinearRegressionCV
est = {estimator!r}
check_array_api_input(type(est).__name__, est, array_namespace="numpy",
                      expect_only_array_outputs=False)
"""


@parametrize_with_checks([SparseLinearRegression(), SparseLinearRegressionCV(cv=3)])
def test_sklearn_estimator_checks(estimator, check):
    # No expected failures: every check applies and passes.
    if getattr(check, "func", check).__name__ == "check_array_api_input":
        # scikit-learn runs this check only when SCIPY_ARRAY_API=1 is set before scipy is
        # imported, so it runs in a fresh interpreter with that variable.
        env = dict(os.environ, SCIPY_ARRAY_API="1")
        code = _ARRAY_API_CHECK.format(estimator=estimator)
        run = subprocess.run(
            [sys.executable, "-c", code],
            env=env,
            capture_output=True,
            text=True,
            cwd=Path(__file__).parents[1],
        )
        assert run.returncode == 0, run.stderr[-3000:]
        return
    check(estimator)


def test_fit_is_best_subset_with_intercept():
    X, y = load_diabetes(return_X_y=True)
    Xs = (X - X.mean(0)) / X.std(0)
    for k in (2, 4, 6):
        est = SparseLinearRegression(n_nonzero_coefs=k).fit(Xs, y)
        assert est.support_.size == k
        f_opt, S_opt = enumerate_optimum(Xs - Xs.mean(0), y - y.mean(), k)
        np.testing.assert_array_equal(np.sort(est.support_), np.sort(S_opt))
        pred = est.predict(Xs)
        assert 0.5 * np.sum((y - pred) ** 2) == pytest.approx(f_opt, rel=1e-9)
        # intercept makes the residuals mean-zero
        assert np.mean(y - pred) == pytest.approx(0.0, abs=1e-8)


def test_n_nonzero_coefs_larger_than_features_uses_all():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((30, 3))
    y = X @ np.array([1.0, 2.0, 3.0])
    est = SparseLinearRegression(n_nonzero_coefs=10).fit(X, y)
    np.testing.assert_allclose(est.coef_, [1, 2, 3], atol=1e-10)


class _RecordingSolver:
    """A minimal third-party solver: backsolve on the k columns most correlated with b."""

    def __init__(self):
        self.calls = []

    def solve(self, problem, warm_start=None):
        self.calls.append(warm_start)
        top = np.argsort(-np.abs(problem.A.T @ problem.b))[: problem.k]
        coef = backsolve(problem, top)
        return SparseSolution(coef=coef, objective=problem.objective(coef), solver="corr")


def test_any_object_with_solve_is_a_solver():
    X, y = sparse_instance(0, 60, 20, 3, 0.3, 10.0)
    solver = _RecordingSolver()
    est = SparseLinearRegression(n_nonzero_coefs=3, solver=solver).fit(X, y)
    assert est.solution_.solver == "corr" and len(solver.calls) == 1
    with pytest.raises(Exception, match="solver"):
        SparseLinearRegression(solver="fast").fit(X, y)


def test_solver_parameter_survives_clone_and_grid_search():
    X, y = sparse_instance(1, 80, 15, 3, 0.3, 10.0)
    est = SparseLinearRegression(solver=IHTSolver(n_perturbations=0))
    assert clone(est).get_params()["solver"].n_perturbations == 0
    gs = GridSearchCV(est, {"n_nonzero_coefs": [1, 3, 5]}, cv=3).fit(X, y)
    assert gs.best_params_["n_nonzero_coefs"] in (3, 5)


def test_cv_recovers_the_true_sparsity():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 40))
    w = np.zeros(40)
    w[[3, 11, 25, 31]] = [2.0, -1.5, 1.0, 2.5]
    y = X @ w + 0.5 * rng.standard_normal(200) + 3.0
    est = SparseLinearRegressionCV(n_nonzero_coefs=range(1, 11), cv=5).fit(X, y)
    assert est.n_nonzero_coefs_ in (4, 5, 6)
    assert {3, 11, 25, 31} <= set(est.support_)
    assert est.mse_path_.shape == (10, 5)
    assert est.intercept_ == pytest.approx(3.0, abs=0.2)
    # the path's error drops sharply until the true sparsity
    mean = est.mse_path_.mean(axis=1)
    assert mean[3] < 0.2 * mean[2]


def test_cv_path_is_warm_started():
    X, y = sparse_instance(2, 60, 12, 3, 0.5, 5.0)
    solver = _RecordingSolver()
    SparseLinearRegressionCV(n_nonzero_coefs=[1, 2, 3], cv=2, solver=solver).fit(X, y)
    # per fold: first level cold, the next two warm; then the final refit (cold)
    starts = [c is None for c in solver.calls]
    assert starts == [True, False, False, True, False, False, True]


def test_cv_grid_validation():
    X, y = sparse_instance(2, 30, 8, 2, 0.5, 5.0)
    with pytest.raises(ValueError, match="n_nonzero_coefs"):
        SparseLinearRegressionCV(n_nonzero_coefs=[0, 2]).fit(X, y)
    with pytest.raises(ValueError, match="n_nonzero_coefs"):
        SparseLinearRegressionCV(n_nonzero_coefs=[1.5]).fit(X, y)


class _CapturingSolver:
    """Records the problem it is given, then solves it with the core solver."""

    def __init__(self):
        self.problems = []

    def solve(self, problem, warm_start=None):
        self.problems.append(problem)
        return IHTSolver(random_state=0).solve(problem, warm_start=warm_start)


def test_float32_input_stays_float32_without_copy():
    X, y = sparse_instance(3, 50, 10, 3, 0.5, 5.0)
    X32 = np.asfortranarray(X, dtype=np.float32)
    solver = _CapturingSolver()
    est = SparseLinearRegression(n_nonzero_coefs=3, fit_intercept=False, solver=solver)
    est.fit(X32, y)
    (problem,) = solver.problems
    # the solver sees the caller's float32 buffer itself: no float64 upcast, no copy
    assert problem.A.dtype == np.float32
    assert np.shares_memory(problem.A, X32)
    assert isinstance(est.solution_.objective, float)
    ref = SparseProblem(X, y, 3)
    assert est.solution_.objective == pytest.approx(ref.objective(est.coef_), rel=1e-5)
    # with an intercept the centred design is a new array, but still float32
    solver = _CapturingSolver()
    SparseLinearRegression(n_nonzero_coefs=3, solver=solver).fit(X32, y)
    assert solver.problems[0].A.dtype == np.float32


def test_default_k_grid():
    # small problems: every level up to min(p, n - 1)
    np.testing.assert_array_equal(default_k_grid(10, 80), np.arange(1, 11))
    np.testing.assert_array_equal(default_k_grid(40, 8), np.arange(1, 8))
    # large problems: 1..20 then geometric up to k_max, 50 levels
    g = default_k_grid(10_000, 800)
    assert g[0] == 1 and g[-1] == 799 and g.size == 50
    np.testing.assert_array_equal(g[:20], np.arange(1, 21))
    ratios = g[21:] / g[20:-1]
    assert np.all(np.diff(g) > 0) and ratios.max() / ratios.min() < 1.2


def test_cv_default_grid_can_pick_six_of_ten():
    # diabetes: 10 features; 5-fold CV error is lowest at 6 (a grid of 1..5 would pick 5)
    X, y = load_diabetes(return_X_y=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an interior choice of a full grid: no warning
        est = SparseLinearRegressionCV(cv=5, random_state=0).fit(X, y)
    np.testing.assert_array_equal(est.grid_, np.arange(1, 11))
    assert est.n_nonzero_coefs_ == 6
    assert est.support_.size == 6


def test_cv_warns_when_the_choice_is_at_an_edge_of_the_grid():
    X, y = load_diabetes(return_X_y=True)
    with pytest.warns(UserWarning, match="largest level of the grid"):
        est = SparseLinearRegressionCV(n_nonzero_coefs=[1, 2, 3, 4, 5], cv=5).fit(X, y)
    assert est.n_nonzero_coefs_ == 5
    with pytest.warns(UserWarning, match="smallest level of the grid"):
        SparseLinearRegressionCV(n_nonzero_coefs=[7, 8, 9], cv=5).fit(X, y)
