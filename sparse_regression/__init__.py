"""Framework-independent core of chita: L0-constrained sparse least squares.

minimize 1/2 ||A w - b||^2 + ridge/2 ||w - w_ref||^2   subject to ||w||_0 <= k
"""

from .backsolve import backsolve
from .datasets import make_correlated_regression
from .estimators import SparseLinearRegression, SparseLinearRegressionCV
from .knapsack import CostLevels, KnapsackResult, knapsack_support, project_knapsack
from .pipeline import IHTSolver, solve
from .problem import SparseProblem
from .protocol import Solver
from .solution import OPTIMALITY_LEVELS, SparseSolution

__all__ = [
    "OPTIMALITY_LEVELS",
    "CostLevels",
    "KnapsackResult",
    "IHTSolver",
    "Solver",
    "SparseLinearRegression",
    "SparseLinearRegressionCV",
    "SparseProblem",
    "SparseSolution",
    "backsolve",
    "knapsack_support",
    "make_correlated_regression",
    "project_knapsack",
    "solve",
]
