"""Interchangeable solver backends for :class:`sparse_regression.SparseProblem`.

Every solver has ``solve(problem, warm_start=None) -> SparseSolution`` with its parameters set
in the constructor (scikit-learn style, so ``sklearn.base.clone`` works):

* ``get(name, **params)``: a solver by name ("iht", "mip", "enumerate", "omp", "magnitude",
  "abess").
* ``MIPSolver``: certified optimum by mixed-integer programming (SCIP; Gurobi/MOSEK).
* ``EnumerationSolver``: exhaustive search over supports, for tiny problems.
* ``OMPSolver``, ``MagnitudeSolver``: baselines; ``AbessSolver``: ABESS (optional).
* ``verify(problem, coef)``: a ``Certificate`` (lower bound, gap, ``is_optimal``).

cvxpy and PySCIPOpt are imported only when an exact solver runs (``pip install
"chita[exact]"``).
"""

from sparse_regression import IHTSolver

from .baselines import MagnitudeSolver, OMPSolver
from .enumeration import EnumerationSolver, n_supports
from .mip import MIPSolver
from .registry import SOLVERS, available, get
from .third_party import AbessSolver
from .verify import Certificate, verify

__all__ = [
    "SOLVERS",
    "AbessSolver",
    "Certificate",
    "EnumerationSolver",
    "IHTSolver",
    "MIPSolver",
    "MagnitudeSolver",
    "OMPSolver",
    "available",
    "get",
    "n_supports",
    "verify",
]
