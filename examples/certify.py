"""Is the heuristic's answer optimal? Certify it with exhaustive enumeration or a MIP (SCIP).

    python examples/certify.py             # needs pip install "chita[exact]" for the MIP
    CHITA_EXAMPLES_FAST=1 python examples/certify.py      # p=20, k=4

A small correlated problem (p=25 features, k=5): the core solver's answer is certified by
``chita.verify``, by enumeration of all C(25, 5) = 53130 supports and by the MIP (forced with
``max_subsets=1``), with a progress line while SCIP works. A deliberately worse vector is then
shown with its proven gap.
"""

import os

import numpy as np

import chita
from sparse_regression import make_correlated_regression


def main() -> None:
    fast = os.environ.get("CHITA_EXAMPLES_FAST") == "1"
    p, k = (20, 4) if fast else (25, 5)
    A, b, _ = make_correlated_regression(40, p, k, rho=0.7, snr=2.0, random_state=1)
    problem = chita.SparseProblem(A, b, k=k, ridge=0.1)
    sol = chita.solve(problem, random_state=0)
    print(f"core solver: objective {sol.objective:.6g}, support {sol.support.tolist()}")

    cert = chita.verify(problem, sol.coef)  # C(p, k) <= max_subsets: enumeration
    print(f"enumeration: optimal={cert.is_optimal}, gap {cert.gap:.1e}, {cert.time:.2f} s")

    cert = chita.verify(problem, sol.coef, time_limit=60, max_subsets=1, progress=True)
    print(f"MIP: optimal={cert.is_optimal}, lower bound {cert.lower_bound:.6g}, gap {cert.gap:.1e}")

    worse = sol.coef.copy()
    worse[np.argmin(np.abs(np.where(worse != 0, worse, np.inf)))] = 0.0  # drop one feature
    cert = chita.verify(problem, worse)
    print(
        f"one feature dropped: objective {cert.objective:.6g}, optimal={cert.is_optimal}, "
        f"can improve by up to {100 * cert.gap:.1f}% (best known {cert.optimum:.6g})"
    )


if __name__ == "__main__":
    main()
