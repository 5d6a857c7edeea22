"""The core solver on a correlated sparse regression problem, against OMP.

    python examples/core_solver.py          # n=500, p=5000, k=50
    CHITA_EXAMPLES_FAST=1 python examples/core_solver.py   # a smaller instance

``chita.SparseProblem(A, b, k, ridge)`` holds ``min 1/2||A w - b||^2 + ridge/2||w||^2 s.t.
||w||_0 <= k``; ``chita.solve`` runs IHT with CHITA's line search, an active set, exact
backsolves and a swap search; ``chita.get_solver("omp")`` is a baseline behind the same
protocol.
"""

import os

import numpy as np

import chita
from sparse_regression import make_correlated_regression


def main() -> None:
    fast = os.environ.get("CHITA_EXAMPLES_FAST") == "1"
    n, p, k = (200, 1000, 20) if fast else (500, 5000, 50)
    A, b, w_true = make_correlated_regression(
        n, p, k, rho=0.7, snr=3.0, dtype=np.float32, random_state=0
    )
    problem = chita.SparseProblem(A, b, k=k, ridge=0.0)  # A (float32, F-order) is not copied

    sol = chita.solve(problem, random_state=0)
    omp = chita.get_solver("omp").solve(problem)
    true = set(np.flatnonzero(w_true))
    print(f"n={n}, p={p}, k={k}, AR(1) rho=0.7")
    for name, s in (("chita", sol), ("OMP", omp)):
        print(
            f"{name:>5}: objective {s.objective:.6g} ({s.optimality}), {s.time:.2f} s, "
            f"true features found {len(true & set(s.support))}/{k}"
        )
    assert all(np.diff(sol.history) <= 0), "the objective history never increases"


if __name__ == "__main__":
    main()
