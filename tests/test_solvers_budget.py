"""Exact solvers with a cost budget: MIP (SCIP, both interfaces) vs enumeration vs brute force."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from solvers import EnumerationSolver, MIPSolver, verify
from sparse_regression import solve
from sparse_regression.backsolve import backsolve_support

from ._solver_helpers import rel_diff, small_problem


def with_budget(problem, seed, frac=0.3):
    rng = np.random.default_rng(100 + seed)
    costs = rng.choice([1.0, 3.0, 10.0], problem.n_features)
    return problem.with_budget(frac * costs.sum(), costs=costs)


def brute_force_budget(problem):
    p, k = problem.n_features, problem.k
    best = np.inf
    for size in range(k + 1):
        for S in itertools.combinations(range(p), size):
            S = np.array(S, dtype=np.int64)
            if problem.costs[S].sum() > problem.budget:
                continue
            w = np.zeros(p)
            w[S] = backsolve_support(problem.quadratic, S)[0]
            best = min(best, problem.objective(w))  # F from the residual
    return best


@pytest.mark.parametrize(
    "seed, ridge, with_ref", [(0, 0.0, False), (1, 0.5, True), (2, 0.1, False)]
)
def test_enumeration_and_mip_with_costs(seed, ridge, with_ref):
    pb = with_budget(small_problem(seed, n=25, p=10, k=4, ridge=ridge, with_ref=with_ref), seed)
    truth = brute_force_budget(pb)
    en = EnumerationSolver().solve(pb)
    assert pb.is_feasible(en.coef) and en.cost == pytest.approx(pb.support_cost(en.coef))
    assert rel_diff(en.objective, truth) < 1e-9
    mip = MIPSolver(time_limit=60).solve(pb)
    assert pb.is_feasible(mip.coef)
    assert mip.optimality == "certified" and rel_diff(mip.objective, truth) < 1e-6
    assert mip.lower_bound <= truth * (1 + 1e-6)


def test_cvxpy_interface_with_costs():
    pb = with_budget(small_problem(3, n=25, p=9, k=4, ridge=0.2), 3)
    mip = MIPSolver(interface="cvxpy", time_limit=60).solve(pb)
    assert pb.is_feasible(mip.coef)
    assert rel_diff(mip.objective, brute_force_budget(pb)) < 1e-6


def test_budget_binds_below_k():
    # k = p: only the budget constrains; the optimum is smaller than k
    pb = with_budget(small_problem(4, n=25, p=9, k=9), 4, frac=0.15)
    en = EnumerationSolver().solve(pb)
    assert rel_diff(en.objective, brute_force_budget(pb)) < 1e-9
    assert MIPSolver(time_limit=60).solve(pb).objective <= en.objective * (1 + 1e-6)


def test_verify_with_costs():
    pb = with_budget(small_problem(5, n=25, p=10, k=4), 5)
    sol = solve(pb, random_state=0)
    cert = verify(pb, sol.coef)
    assert cert.is_optimal
    over = np.zeros(10)
    over[np.argsort(-pb.costs)[:3]] = 1.0
    if pb.support_cost(over) > pb.budget:
        with pytest.raises(ValueError, match="budget"):
            verify(pb, over)


def test_enumeration_with_costs_scores_near_collinear_supports_exactly():
    # Columns 0 and 1 differ by 1e-9 u and b is along u: together they fit b almost exactly,
    # but the Gram matrix's score of {0, 1} has lost its digits (a pivot of 1e-18 G_jj). The
    # budgeted walk must flag such supports and score them by the exact backsolve.
    rng = np.random.default_rng(3)
    A = rng.standard_normal((8, 6))
    u = rng.standard_normal(8)
    A[:, 1] = A[:, 0] + 1e-9 * u
    b = u + 1e-3 * rng.standard_normal(8)
    from sparse_regression import SparseProblem

    pb = SparseProblem(A, b, 2).with_budget(2.0, costs=np.ones(6))
    truth = brute_force_budget(pb)
    en = EnumerationSolver().solve(pb)
    assert pb.is_feasible(en.coef)
    assert en.objective <= truth * (1 + 1e-6) + 1e-12
