"""chita: neural-network pruning as L0-constrained least squares (CHITA, CHITA++).

One import for users; it re-exports the public names of the three packages, which stay
importable as they are:

* from :mod:`sparse_regression` (the framework-free core): :func:`solve`, :class:`IHTSolver`,
  :class:`SparseProblem`, :class:`SparseSolution`, :func:`backsolve`,
  :class:`SparseLinearRegression`, :class:`SparseLinearRegressionCV`;
* from :mod:`solvers` (exact and baseline backends): :func:`verify`, :class:`Certificate`,
  :func:`get_solver` (``solvers.get``), :class:`MIPSolver`, :class:`EnumerationSolver`;
* from :mod:`adapters.torch` (PyTorch; needs ``pip install "chita[torch]"``): :func:`prune`,
  :class:`PruneReport`, :func:`make_permanent`, :func:`default_solver`, :func:`load_masks`,
  :func:`prune_gradually`, :func:`recalibrate_batchnorm`, and the layer-wise
  :func:`prune_layerwise` / :class:`LayerwiseReport`. These are imported on first use, so
  ``import chita`` works without torch.

>>> import chita
>>> report = chita.prune(model, (X, y), sparsity=0.9)          # doctest: +SKIP
>>> chita.SparseLinearRegression(n_nonzero_coefs=5).fit(X, y)  # doctest: +SKIP
"""

from __future__ import annotations

import importlib

from adapters._version import package_version
from solvers import Certificate, EnumerationSolver, MIPSolver, verify
from solvers import get as get_solver
from sparse_regression import (
    IHTSolver,
    SparseLinearRegression,
    SparseLinearRegressionCV,
    SparseProblem,
    SparseSolution,
    backsolve,
    solve,
)

__version__ = package_version()

#: Names served from :mod:`adapters.torch`, imported on first access (torch is optional).
_TORCH_NAMES = (
    "prune",
    "PruneReport",
    "make_permanent",
    "default_solver",
    "load_masks",
    "prune_gradually",
    "recalibrate_batchnorm",
    "prune_layerwise",
    "LayerwiseReport",
)

__all__ = [
    "Certificate",
    "EnumerationSolver",
    "IHTSolver",
    "LayerwiseReport",
    "MIPSolver",
    "PruneReport",
    "SparseLinearRegression",
    "SparseLinearRegressionCV",
    "SparseProblem",
    "SparseSolution",
    "__version__",
    "backsolve",
    "default_solver",
    "get_solver",
    "load_masks",
    "make_permanent",
    "prune",
    "prune_gradually",
    "recalibrate_batchnorm",
    "prune_layerwise",
    "solve",
    "verify",
]


def __getattr__(name: str):
    if name in _TORCH_NAMES:
        # ImportError naming the extra ("chita[torch]") when torch is missing.
        value = getattr(importlib.import_module("adapters.torch"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'chita' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_TORCH_NAMES))
