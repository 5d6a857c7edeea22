"""scikit-learn estimators on top of the core solver."""

from __future__ import annotations

import numbers
import warnings

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.model_selection import check_cv
from sklearn.utils._param_validation import HasMethods, Interval
from sklearn.utils.validation import check_is_fitted, validate_data

from .pipeline import IHTSolver
from .problem import SparseProblem
from .threads import resolve_n_jobs

__all__ = ["SparseLinearRegression", "SparseLinearRegressionCV", "default_k_grid"]

#: Up to this many candidate levels, the default CV grid is every k in 1..k_max.
_GRID_ALL_UP_TO = 100
#: Beyond that: every k in 1.._GRID_DENSE_HEAD, then geometric steps, _GRID_SIZE levels in all.
_GRID_DENSE_HEAD = 20
_GRID_SIZE = 50


def default_k_grid(n_features: int, n_samples: int) -> np.ndarray:
    """The sparsity levels :class:`SparseLinearRegressionCV` tries by default.

    ``k_max = min(n_features, n_samples - 1)`` (``n_samples``: the smallest training fold;
    beyond ``n - 1`` coefficients plus an intercept interpolate the fold). When
    ``k_max <= 100`` the grid is every level ``1..k_max``, so best-subset CV is exhaustive in
    k. Otherwise it is ``1..20`` followed by geometrically spaced levels up to ``k_max``
    (50 levels in all, ratio ``(k_max / 20)^(1/30)``: 23% steps at ``k_max = 10^4``): the
    held-out error changes most between small levels, while at large k a relative resolution
    is all that CV can resolve and each level costs a full path step.
    """
    k_max = max(1, min(int(n_features), int(n_samples) - 1))
    if k_max <= _GRID_ALL_UP_TO:
        return np.arange(1, k_max + 1)
    tail = np.geomspace(_GRID_DENSE_HEAD, k_max, _GRID_SIZE - _GRID_DENSE_HEAD + 1)
    grid = np.concatenate([np.arange(1, _GRID_DENSE_HEAD + 1), np.round(tail).astype(int)])
    return np.unique(grid)


def _check_n_jobs(n_jobs):
    resolve_n_jobs(n_jobs)  # raises ValueError naming n_jobs
    return n_jobs


def _check_solver(solver, random_state=None, n_jobs=None):
    if solver is None:
        return IHTSolver(random_state=random_state, n_jobs=n_jobs)
    if not callable(getattr(solver, "solve", None)):
        raise TypeError(
            "solver must be None or an object with solve(problem, warm_start=None) -> "
            f"SparseSolution (e.g. solvers.get('mip')), got {type(solver).__name__}."
        )
    return clone(solver) if hasattr(solver, "get_params") else solver


def _center(X, y, fit_intercept):
    if not fit_intercept:
        return X, y, np.zeros(X.shape[1]), 0.0
    X_mean = X.mean(axis=0, dtype=np.float64)
    y_mean = float(np.mean(y))
    Xc = np.asfortranarray(X - X_mean.astype(X.dtype))
    return Xc, y - y_mean, X_mean, y_mean


class _SparseLinearModel(RegressorMixin, BaseEstimator):
    """Prediction and tags shared by the sparse linear estimators (``coef_``, ``intercept_``)."""

    def predict(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, dtype=[np.float64, np.float32], reset=False)
        return X @ self.coef_.astype(X.dtype, copy=False) + self.intercept_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = False
        return tags


class SparseLinearRegression(_SparseLinearModel):
    """Linear regression with at most ``n_nonzero_coefs`` nonzero coefficients.

    Solves ``min_w 1/2 ||y - X w - c||^2 + ridge/2 ||w||^2  s.t.  ||w||_0 <= k`` with
    ``k = min(n_nonzero_coefs, n_features)`` and an unpenalised intercept ``c`` (centering).

    Parameters
    ----------
    n_nonzero_coefs : int, default=10
        Maximum number of nonzero coefficients; clipped to ``n_features``.
    ridge : float, default=0.0
        Weight of the ridge term ``ridge/2 ||w||^2``.
    fit_intercept : bool, default=True
        Whether to fit an (unpenalised) intercept.
    solver : object or None, default=None
        Anything with ``solve(problem, warm_start=None) -> SparseSolution``; None is the core
        :class:`~sparse_regression.IHTSolver`. It is cloned before use.
    random_state : int, RandomState, Generator or None, default=0
        Seeds the core solver's perturbation rounds when ``solver`` is None. The default is
        fixed, so repeated fits on the same data give the same model; ``None`` draws fresh
        randomness on every fit (then hard problems may end at different, equally
        swap-optimal, supports from fit to fit).
    n_jobs : int or None, default=None
        Threads of the core solver when ``solver`` is None (scikit-learn's convention: None
        means 1, -1 all cores). The fitted model does not depend on it beyond float rounding.

    Attributes
    ----------
    coef_ : ndarray of shape (n_features,)
    intercept_ : float
    support_ : ndarray of int
        Indices of the nonzero coefficients.
    solution_ : SparseSolution
        The solver's full result (objective, optimality, history, ...).
    n_iter_ : int
    n_features_in_ : int
    feature_names_in_ : ndarray of str, when X has feature names.
    """

    _parameter_constraints = {
        "n_nonzero_coefs": [Interval(numbers.Integral, 1, None, closed="left")],
        "ridge": [Interval(numbers.Real, 0, None, closed="left")],
        "fit_intercept": ["boolean"],
        "solver": [None, HasMethods(["solve"])],
        "random_state": ["random_state"],
        "n_jobs": [None, numbers.Integral],
    }

    def __init__(
        self,
        n_nonzero_coefs=10,
        ridge=0.0,
        fit_intercept=True,
        solver=None,
        random_state=0,
        n_jobs=None,
    ):
        self.n_jobs = n_jobs
        self.n_nonzero_coefs = n_nonzero_coefs
        self.ridge = ridge
        self.fit_intercept = fit_intercept
        self.solver = solver
        self.random_state = random_state

    def fit(self, X, y, warm_start=None):
        """Fit the model. ``warm_start``: optional initial coefficients (n_features,)."""
        self._validate_params()
        X, y = validate_data(
            self, X, y, dtype=[np.float64, np.float32], y_numeric=True, order="F", copy=False
        )
        solver = _check_solver(self.solver, self.random_state, _check_n_jobs(self.n_jobs))
        Xc, yc, X_mean, y_mean = _center(X, y.astype(np.float64), self.fit_intercept)
        k = min(int(self.n_nonzero_coefs), X.shape[1])
        problem = SparseProblem(Xc, yc, k, ridge=self.ridge)
        sol = solver.solve(problem, warm_start=warm_start)
        self.solution_ = sol
        self.coef_ = np.asarray(sol.coef, dtype=np.float64)
        self.support_ = np.flatnonzero(self.coef_)
        self.intercept_ = float(y_mean - X_mean @ self.coef_) if self.fit_intercept else 0.0
        self.n_iter_ = sol.n_iter
        return self


class SparseLinearRegressionCV(_SparseLinearModel):
    """:class:`SparseLinearRegression` with ``n_nonzero_coefs`` chosen by cross-validation.

    For each fold the path of sparsity levels is solved in increasing order, each solution
    warm-starting the next; the level with the lowest mean held-out squared error wins and is
    refitted on all the data.

    Parameters
    ----------
    n_nonzero_coefs : array-like of int or None, default=None
        The grid. None means :func:`default_k_grid`: every level ``1..k_max`` with
        ``k_max = min(n_features, n_train - 1)`` (``n_train``: the smallest training fold)
        when ``k_max <= 100``, else ``1..20`` and geometric steps up to ``k_max`` (50 levels).
        When the chosen level is at an edge of the grid that could be extended (its largest
        value below ``k_max``, or its smallest above 1), a ``UserWarning`` says so: a better
        level may lie outside the grid.
    ridge, fit_intercept, solver : as in :class:`SparseLinearRegression`.
    cv : int, cross-validation generator or iterable, default=5
        As in scikit-learn (``KFold`` for an int).
    random_state : int, RandomState, Generator or None, default=0
        Seeds the core solver's perturbation rounds when ``solver`` is None. The default is
        fixed, so repeated fits on the same data give the same model; ``None`` draws fresh
        randomness on every fit (then hard problems may end at different, equally
        swap-optimal, supports from fit to fit).
    n_jobs : int or None, default=None
        Threads of the core solver when ``solver`` is None (scikit-learn's convention: None
        means 1, -1 all cores). The fitted model does not depend on it beyond float rounding.

    Attributes
    ----------
    n_nonzero_coefs_ : int
        The chosen sparsity level.
    grid_ : ndarray of int
        The levels tried (clipped to n_features, unique, sorted).
    mse_path_ : ndarray of shape (n_levels, n_folds)
        Held-out mean squared error per level and fold.
    coef_, intercept_, support_, solution_, n_features_in_ : as in SparseLinearRegression.
    """

    _parameter_constraints = {
        "n_nonzero_coefs": [None, "array-like"],
        "ridge": [Interval(numbers.Real, 0, None, closed="left")],
        "fit_intercept": ["boolean"],
        "solver": [None, HasMethods(["solve"])],
        "cv": ["cv_object"],
        "random_state": ["random_state"],
        "n_jobs": [None, numbers.Integral],
    }

    def __init__(
        self,
        n_nonzero_coefs=None,
        ridge=0.0,
        fit_intercept=True,
        solver=None,
        cv=5,
        random_state=0,
        n_jobs=None,
    ):
        self.n_jobs = n_jobs
        self.n_nonzero_coefs = n_nonzero_coefs
        self.ridge = ridge
        self.fit_intercept = fit_intercept
        self.solver = solver
        self.cv = cv
        self.random_state = random_state

    def _grid(self, p, n_train):
        if self.n_nonzero_coefs is None:
            grid = default_k_grid(p, n_train)
        else:
            grid = np.asarray(self.n_nonzero_coefs)
            if grid.ndim != 1 or grid.size == 0 or grid.dtype.kind not in "iu":
                raise ValueError(
                    "n_nonzero_coefs must be a non-empty 1-D sequence of integers, got "
                    f"{self.n_nonzero_coefs!r}."
                )
            if np.any(grid < 1):
                raise ValueError(f"n_nonzero_coefs must all be >= 1, got {grid.tolist()}.")
            grid = np.unique(np.minimum(grid, p))
        return grid

    def _path(self, solver, X, y, grid):
        """Coefficients and intercepts along the grid, warm-started level to level."""
        Xc, yc, X_mean, y_mean = _center(X, y, self.fit_intercept)
        coefs, intercepts, w = [], [], None
        for k in grid:
            sol = solver.solve(SparseProblem(Xc, yc, int(k), ridge=self.ridge), warm_start=w)
            w = sol.coef
            coefs.append(w)
            intercepts.append(y_mean - X_mean @ w if self.fit_intercept else 0.0)
        return coefs, intercepts

    def fit(self, X, y):
        self._validate_params()
        X, y = validate_data(
            self, X, y, dtype=[np.float64, np.float32], y_numeric=True, order="F", copy=False
        )
        y = y.astype(np.float64)
        solver = _check_solver(self.solver, self.random_state, _check_n_jobs(self.n_jobs))
        cv = check_cv(self.cv)
        folds = list(cv.split(X, y))
        n_train = min(len(tr) for tr, _ in folds)
        grid = self._grid(X.shape[1], n_train)
        mse = np.empty((grid.size, len(folds)))
        for f_idx, (tr, te) in enumerate(folds):
            coefs, ints = self._path(solver, np.asfortranarray(X[tr]), y[tr], grid)
            for g_idx, (c, b0) in enumerate(zip(coefs, ints, strict=True)):
                resid = y[te] - (X[te] @ c + b0)
                mse[g_idx, f_idx] = float(np.mean(resid**2))
        best = int(grid[np.argmin(mse.mean(axis=1))])
        k_max = max(1, min(X.shape[1], n_train - 1))
        if grid.size > 1 and (
            (best == grid[-1] and best < k_max) or (best == grid[0] and best > 1)
        ):
            side = "largest" if best == grid[-1] else "smallest"
            warnings.warn(
                f"SparseLinearRegressionCV chose n_nonzero_coefs={best}, the {side} level of "
                f"the grid {grid.tolist() if grid.size <= 12 else '(see grid_)'}; a better "
                f"level may lie outside it. Extend n_nonzero_coefs (levels up to {k_max} are "
                "possible here), or pass None for the default grid.",
                UserWarning,
                stacklevel=2,
            )
        self.grid_ = grid
        self.mse_path_ = mse
        self.n_nonzero_coefs_ = best
        final = SparseLinearRegression(
            n_nonzero_coefs=best,
            ridge=self.ridge,
            fit_intercept=self.fit_intercept,
            solver=self.solver,
            random_state=self.random_state,
            n_jobs=self.n_jobs,
        ).fit(X, y)
        self.coef_ = final.coef_
        self.intercept_ = final.intercept_
        self.support_ = final.support_
        self.solution_ = final.solution_
        return self
