"""The protocol every solver follows."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from .problem import SparseProblem
from .solution import SparseSolution

__all__ = ["Solver"]


@runtime_checkable
class Solver(Protocol):
    """Anything with ``solve(problem, warm_start=None) -> SparseSolution``.

    Parameters are set in the constructor (scikit-learn style, so ``sklearn.base.clone``
    works); ``warm_start`` is an optional starting coefficient vector of length p that a
    solver may use or ignore.
    """

    def solve(
        self, problem: SparseProblem, warm_start: np.ndarray | None = None
    ) -> SparseSolution: ...
