"""Solvers by name: ``solvers.get("mip", time_limit=10)``."""

from __future__ import annotations

from sparse_regression import IHTSolver

from .baselines import MagnitudeSolver, OMPSolver
from .enumeration import EnumerationSolver
from .mip import MIPSolver
from .third_party import AbessSolver, abess_available

__all__ = ["SOLVERS", "available", "get"]

#: Every solver name and its class ("abess" needs the optional abess package).
SOLVERS = {
    "iht": IHTSolver,
    "mip": MIPSolver,
    "enumerate": EnumerationSolver,
    "omp": OMPSolver,
    "magnitude": MagnitudeSolver,
    "abess": AbessSolver,
}


def available() -> list[str]:
    """Names usable in this environment."""
    return [name for name in SOLVERS if name != "abess" or abess_available()]


def get(name: str, **params):
    """A new solver instance by name, with constructor parameters ``params``.

    Names: "iht" (the core solver), "mip", "enumerate", "omp", "magnitude", and "abess" when
    the abess package is installed. Raises ValueError for an unknown name or parameter and
    ImportError (naming the extra to install) for "abess" without abess.
    """
    if not isinstance(name, str) or name.lower() not in SOLVERS:
        raise ValueError(f"Unknown solver {name!r}; valid names are {sorted(SOLVERS)}.")
    key = name.lower()
    if key == "abess" and not abess_available():
        raise ImportError(
            'solver "abess" needs the optional package abess; install it with '
            'pip install "chita[bench]".'
        )
    cls = SOLVERS[key]
    valid = cls._get_param_names()
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise ValueError(
            f"Unknown parameter(s) {unknown} for solver {key!r}; valid parameters are {valid}."
        )
    return cls(**params)
