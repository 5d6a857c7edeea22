"""Validation and small helpers shared by the solver backends."""

from __future__ import annotations

import importlib
import numbers
from types import ModuleType

import numpy as np

from sparse_regression import SparseProblem, SparseSolution

__all__ = [
    "BENCH_EXTRA",
    "EXACT_EXTRA",
    "check_problem",
    "check_warm_start",
    "check_positive_int",
    "check_positive_real",
    "check_bool",
    "import_optional",
    "make_solution",
    "relative_gap",
]

#: How to install the optional exact solvers (cvxpy + PySCIPOpt).
EXACT_EXTRA = 'pip install "chita[exact]"'
#: How to install the optional benchmark baselines (abess).
BENCH_EXTRA = 'pip install "chita[bench]"'


def check_problem(problem) -> SparseProblem:
    """Return ``problem`` if it is a :class:`~sparse_regression.SparseProblem`."""
    if not isinstance(problem, SparseProblem):
        raise TypeError(
            f"problem must be a sparse_regression.SparseProblem, got {type(problem).__name__}; "
            "build one with SparseProblem(A, b, k, ridge=..., w_ref=...)."
        )
    return problem


def check_warm_start(problem: SparseProblem, warm_start, name: str = "warm_start"):
    """A float64 copy of ``warm_start`` (shape (p,), finite), or None."""
    if warm_start is None:
        return None
    arr = np.asarray(warm_start)
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{name} must hold real numbers, got dtype {arr.dtype}.")
    arr = np.array(arr, dtype=np.float64, copy=True)
    p = problem.n_features
    if arr.shape != (p,):
        raise ValueError(f"{name} must have shape ({p},) (one entry per feature), got {arr.shape}.")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or inf.")
    return arr


def check_positive_int(name: str, value, *, allow_none: bool = False):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    return int(value)


def check_positive_real(name: str, value, *, allow_none: bool = False, allow_inf: bool = False):
    if value is None and allow_none:
        return None
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if ok:
        value = float(value)
        ok = value > 0 and (allow_inf or np.isfinite(value))
    if not ok:
        raise ValueError(f"{name} must be a positive number, got {value!r}.")
    return value


def check_bool(name: str, value) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False, got {value!r}.")
    return bool(value)


def import_optional(module: str, what: str, extra: str = EXACT_EXTRA) -> ModuleType:
    """Import an optional dependency, or raise an ImportError naming the extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(
            f"{what} needs the optional package '{module.split('.')[0]}', which is not "
            f"installed; install it with {extra}."
        ) from exc


def relative_gap(objective: float, lower_bound: float | None) -> float | None:
    """``(objective - lower_bound) / max(|objective|, tiny)``, clipped at 0."""
    if lower_bound is None:
        return None
    if not np.isfinite(lower_bound):
        return float("inf")
    den = max(abs(objective), np.finfo(float).tiny)
    return max(0.0, (objective - lower_bound) / den)


def make_solution(problem: SparseProblem, coef: np.ndarray, **fields) -> SparseSolution:
    """A :class:`SparseSolution` whose objective is recomputed as ``problem.objective(coef)``."""
    coef = np.asarray(coef, dtype=np.float64)
    if problem.has_budget:
        fields.setdefault("cost", problem.support_cost(coef))
    return SparseSolution(coef=coef, objective=problem.objective(coef), **fields)
