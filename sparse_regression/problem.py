"""The L0-constrained least-squares problem.

minimize   F(w) = 1/2 ||A w - b||^2 + (ridge/2) ||w - w_ref||^2
subject to ||w||_0 <= k   (and, optionally, sum_i cost_i [w_i != 0] <= budget)
"""

from __future__ import annotations

import numbers

import numpy as np

from . import _kernels as K
from .constants import BUDGET_RTOL, TINY
from .quadratic import Quadratic

__all__ = ["SparseProblem"]


def _as_design(A) -> np.ndarray:
    """Return ``A`` as a contiguous float32/float64 2-D array, copying only when needed."""
    if isinstance(A, np.ndarray):
        arr = A
    else:
        try:
            arr = np.asarray(A)
        except Exception as exc:  # pragma: no cover - exotic array-likes
            raise TypeError(f"A must be array-like, got {type(A).__name__}: {exc}") from exc
    if arr.ndim != 2:
        raise ValueError(
            f"A must be a 2-D array (n_samples x n_features), got {arr.ndim}-D with shape "
            f"{arr.shape}; reshape it, e.g. A.reshape(len(A), -1)."
        )
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"A must hold real numbers, got dtype {arr.dtype}.")
    if arr.dtype not in (np.float32, np.float64):
        arr = arr.astype(np.float64)
    if not (arr.flags.c_contiguous or arr.flags.f_contiguous):
        arr = np.asfortranarray(arr)
    return arr


def _as_vector(x, name: str, length: int) -> np.ndarray:
    arr = np.asarray(x)
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{name} must hold real numbers, got dtype {arr.dtype}.")
    arr = np.ascontiguousarray(arr, dtype=np.float64)
    if arr.ndim != 1 or arr.shape[0] != length:
        raise ValueError(f"{name} must have shape ({length},), got {arr.shape}.")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or inf; clean or impute it first.")
    return arr


class SparseProblem:
    """An instance of ``min 1/2||Aw - b||^2 + ridge/2 ||w - w_ref||^2  s.t. ||w||_0 <= k``.

    Parameters
    ----------
    A : array of shape (n, p)
        Design matrix. float32 and float64 are kept as they are (float32 halves memory; all
        reductions still accumulate in float64); other dtypes are converted to float64. An
        ndarray that is already C- or F-contiguous is never copied. F-order (column-major) is
        the fastest layout for the solvers.
    b : array of shape (n,)
        Target, stored as float64.
    k : int
        Maximum number of nonzeros, ``1 <= k <= p``.
    ridge : float, default 0.0
        Non-negative weight of the proximity term ``ridge/2 ||w - w_ref||^2``.
    w_ref : array of shape (p,), optional
        Reference point of the ridge term (the pretrained weights when pruning). Defaults to 0.
    check_finite : bool, default True
        Scan ``A`` for NaN/inf (one pass over it). Callers that build ``A`` themselves and check
        the result may skip it; a non-finite ``A`` then gives non-finite results, not an error.
    costs : array of shape (p,), optional
        Per-feature costs ``f_i >= 0`` (e.g. multiply-adds of a weight, FALCON). Given together
        with ``budget``, they add the constraint ``sum_i f_i [w_i != 0] <= budget``; then
        ``k = p`` means "no cardinality limit".
    budget : float, optional
        The cost limit, ``0 <= budget``; required with ``costs``.
    """

    def __init__(
        self,
        A,
        b,
        k,
        ridge: float = 0.0,
        w_ref=None,
        *,
        check_finite: bool = True,
        costs=None,
        budget=None,
    ):
        A = _as_design(A)
        n, p = A.shape
        if n == 0 or p == 0:
            raise ValueError(f"A must have at least one row and one column, got shape {A.shape}.")
        if check_finite and not K.all_finite(A):
            raise ValueError("A contains NaN or inf; clean or impute it first.")
        b = _as_vector(b, "b", n)
        if isinstance(k, bool) or not isinstance(k, numbers.Integral):
            raise ValueError(f"k must be an integer, got {k!r} of type {type(k).__name__}.")
        k = int(k)
        if not 1 <= k <= p:
            raise ValueError(f"k must satisfy 1 <= k <= p = {p}, got k = {k}.")
        if isinstance(ridge, bool) or not isinstance(ridge, numbers.Real):
            raise ValueError(f"ridge must be a real number, got {ridge!r}.")
        ridge = float(ridge)
        if not np.isfinite(ridge) or ridge < 0:
            raise ValueError(f"ridge must be finite and >= 0, got {ridge}.")
        if w_ref is not None:
            w_ref = _as_vector(w_ref, "w_ref", p)
            if not np.any(w_ref):
                w_ref = None
        if (costs is None) != (budget is None):
            raise ValueError(
                "costs and budget go together: pass both (a cost budget) or neither, got "
                f"costs={'None' if costs is None else '...'}, budget={budget!r}."
            )
        if costs is not None:
            costs = _as_vector(costs, "costs", p)
            if np.any(costs < 0):
                raise ValueError("costs must be >= 0.")
            if isinstance(budget, bool) or not isinstance(budget, numbers.Real):
                raise ValueError(f"budget must be a real number, got {budget!r}.")
            budget = float(budget)
            if not np.isfinite(budget) or budget < 0:
                raise ValueError(f"budget must be finite and >= 0, got {budget}.")
        self.k = k
        self._w_ref = w_ref
        #: The objective and its cached data (shared by :meth:`with_k` copies).
        self.quadratic = Quadratic(A, b, ridge, w_ref)
        self.costs = costs
        self.budget = budget
        self._levels = None

    # ------------------------------------------------------------------ basic properties
    @property
    def A(self) -> np.ndarray:
        return self.quadratic.A

    @property
    def b(self) -> np.ndarray:
        return self.quadratic.b

    @property
    def ridge(self) -> float:
        return self.quadratic.ridge

    @property
    def n_samples(self) -> int:
        return self.A.shape[0]

    @property
    def n_features(self) -> int:
        return self.A.shape[1]

    @property
    def shape(self) -> tuple[int, int]:
        return self.A.shape

    @property
    def w_ref(self) -> np.ndarray:
        """The reference point (a zero vector when none was given)."""
        if self._w_ref is None:
            return np.zeros(self.n_features)
        return self._w_ref

    @property
    def has_w_ref(self) -> bool:
        return self._w_ref is not None

    @property
    def has_budget(self) -> bool:
        """Whether the cost constraint ``sum f_i [w_i != 0] <= budget`` is present."""
        return self.costs is not None

    @property
    def cost_levels(self):
        """The costs grouped by value (:class:`~sparse_regression.CostLevels`, cached)."""
        if self._levels is None and self.costs is not None:
            from .knapsack import CostLevels

            self._levels = CostLevels(self.costs)
        return self._levels

    def support_cost(self, w) -> float:
        """``sum_i f_i [w_i != 0]`` (0 without costs)."""
        if self.costs is None:
            return 0.0
        return float(self.costs[np.flatnonzero(self._check_w(w))].sum())

    def is_feasible(self, w, rtol: float = BUDGET_RTOL) -> bool:
        """Whether ``w`` satisfies ``||w||_0 <= k`` and the cost budget (if any)."""
        w = self._check_w(w)
        if np.count_nonzero(w) > self.k:
            return False
        if self.costs is None:
            return True
        return self.support_cost(w) <= self.budget * (1 + rtol) + TINY

    def __repr__(self) -> str:
        n, p = self.shape
        ref = ", w_ref=..." if self.has_w_ref else ""
        if self.has_budget:
            ref += f", costs=..., budget={self.budget:.6g}"
        return (
            f"SparseProblem(n={n}, p={p}, k={self.k}, ridge={self.ridge:g}{ref}, "
            f"dtype={self.A.dtype}, order={'F' if self.A.flags.f_contiguous else 'C'})"
        )

    # ------------------------------------------------------------------ evaluation
    def _check_w(self, w) -> np.ndarray:
        return _as_vector(w, "w", self.n_features)

    def residual(self, w) -> np.ndarray:
        """``A w - b`` in float64 (only the nonzeros of ``w`` are touched)."""
        return self.quadratic.residual(self._check_w(w))

    def objective(self, w) -> float:
        """``F(w) = 1/2 ||A w - b||^2 + ridge/2 ||w - w_ref||^2`` (float64)."""
        return self.quadratic.value(self._check_w(w))

    def gradient(self, w) -> np.ndarray:
        """``grad F(w) = A^T (A w - b) + ridge (w - w_ref)`` (float64)."""
        return self.quadratic.gradient(self._check_w(w))

    def column_sq_norms(self) -> np.ndarray:
        """``||A_j||^2`` for every column, float64 (cached)."""
        return self.quadratic.col_sq

    def with_k(self, k: int) -> SparseProblem:
        """A copy of this problem with another ``k``, sharing ``A`` (not scanned again), the
        cached data of :attr:`quadratic` and the cost budget."""
        out = SparseProblem(
            self.A,
            self.b,
            k,
            ridge=self.ridge,
            w_ref=self._w_ref,
            check_finite=False,
            costs=self.costs,
            budget=self.budget,
        )
        out.quadratic = self.quadratic
        out._levels = self._levels
        return out

    def with_budget(self, budget: float | None, costs=None) -> SparseProblem:
        """A copy (sharing ``A``) with another cost budget (``None`` drops the constraint);
        ``costs`` default to this problem's."""
        costs = self.costs if costs is None else costs
        out = SparseProblem(
            self.A,
            self.b,
            self.k,
            ridge=self.ridge,
            w_ref=self._w_ref,
            check_finite=False,
            costs=None if budget is None else costs,
            budget=budget,
        )
        out.quadratic = self.quadratic
        if budget is not None and costs is self.costs:
            out._levels = self._levels
        return out
