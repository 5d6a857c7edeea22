"""The result every solver returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["SparseSolution", "OPTIMALITY_LEVELS"]

#: Guarantees a solution can carry, weakest first.
#:
#: * ``"none"``: a feasible point, nothing more (e.g. magnitude pruning, OMP).
#: * ``"stationary"``: exact minimiser on its support, and no step of the projected-gradient
#:   line search decreases the objective (an IHT fixed point).
#: * ``"swap-optimal"``: additionally, no single swap (one index out, one in, all kept
#:   coefficients refitted) decreases the objective.
#: * ``"certified"``: proven globally optimal (gap closed) by an exact solver.
OPTIMALITY_LEVELS = ("none", "stationary", "swap-optimal", "certified")


@dataclass
class SparseSolution:
    """Solution of a :class:`~sparse_regression.SparseProblem`.

    Attributes
    ----------
    coef : ndarray of shape (p,)
        The coefficients, float64, at most ``k`` nonzeros.
    support : ndarray of int64
        Sorted indices of the nonzeros of ``coef``.
    objective : float
        ``F(coef)``.
    n_iter : int
        Iterations of the solver's main loop.
    converged : bool
        Whether the solver stopped by its own criterion rather than an iteration/time limit.
    history : ndarray
        Objective after each accepted step; non-increasing for the core solver.
    time : float
        Wall-clock seconds.
    optimality : str
        One of :data:`OPTIMALITY_LEVELS`.
    lower_bound, gap, status :
        Filled by exact solvers: a proven lower bound on the optimum, the relative gap
        ``(objective - lower_bound) / max(|objective|, tiny)`` and the backend's status.
    solver : str
        Name of the solver that produced it.
    info : dict
        Solver-specific details (counts of swaps, active-set rounds, ...).
    cost : float or None
        ``sum_i f_i [coef_i != 0]`` when the problem has a cost budget (FALCON), else None.
    """

    coef: np.ndarray
    objective: float
    support: np.ndarray = None
    n_iter: int = 0
    converged: bool = True
    history: np.ndarray = field(default_factory=lambda: np.empty(0))
    time: float = 0.0
    optimality: str = "none"
    lower_bound: float | None = None
    gap: float | None = None
    status: str | None = None
    solver: str = ""
    info: dict[str, Any] = field(default_factory=dict)
    cost: float | None = None

    def __post_init__(self):
        self.coef = np.asarray(self.coef, dtype=np.float64)
        if self.support is None:
            self.support = np.flatnonzero(self.coef).astype(np.int64)
        else:
            self.support = np.sort(np.asarray(self.support, dtype=np.int64))
        self.history = np.asarray(self.history, dtype=np.float64)
        self.objective = float(self.objective)
        if self.optimality not in OPTIMALITY_LEVELS:
            raise ValueError(
                f"optimality must be one of {OPTIMALITY_LEVELS}, got {self.optimality!r}."
            )

    @property
    def n_nonzero(self) -> int:
        return int(np.count_nonzero(self.coef))

    def __repr__(self) -> str:
        extra = ""
        if self.lower_bound is not None:
            extra = f", lower_bound={self.lower_bound:.6g}, gap={self.gap:.2e}"
        if self.cost is not None:
            extra += f", cost={self.cost:.6g}"
        return (
            f"SparseSolution(objective={self.objective:.6g}, nnz={self.n_nonzero}, "
            f"optimality={self.optimality!r}, n_iter={self.n_iter}, "
            f"converged={self.converged}, time={self.time:.3g}s{extra}, solver={self.solver!r})"
        )
