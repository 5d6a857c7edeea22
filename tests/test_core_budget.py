"""The core under a cost budget (FALCON): every iterate feasible, optimal on small instances."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from sparse_regression import SparseProblem, solve
from sparse_regression.active_set import active_set_iht
from sparse_regression.budgeted_iht import budgeted_iht
from sparse_regression.swaps.single import swap_search

from ._core_helpers import sparse_instance


def budget_instance(seed, n=40, p=14, k=5, ridge=0.0, frac=0.35):
    X, y = sparse_instance(seed, n, p, k, rho=0.5, snr=3.0)
    rng = np.random.default_rng(seed)
    costs = rng.choice([1.0, 4.0, 9.0, 16.0], p)
    budget = frac * costs.sum()
    return SparseProblem(X, y, k, ridge=ridge, costs=costs, budget=budget)


def brute_force(problem):
    """Best objective over every support that fits both budgets (exhaustive refits)."""
    A, b, p = problem.A, problem.b, problem.n_features
    best = problem.objective(np.zeros(p))
    for s in range(1, problem.k + 1):
        for S in itertools.combinations(range(p), s):
            S = list(S)
            if problem.costs[S].sum() > problem.budget:
                continue
            M = A[:, S].T @ A[:, S] + problem.ridge * np.eye(s)
            w = np.zeros(p)
            w[S] = np.linalg.lstsq(M, A[:, S].T @ b + problem.ridge * problem.w_ref[S], rcond=None)[
                0
            ]
            best = min(best, problem.objective(w))
    return best


def test_problem_validates_costs_and_budget():
    X, y = sparse_instance(0, 20, 8, 3, rho=0.3, snr=3.0)
    with pytest.raises(ValueError, match="costs and budget"):
        SparseProblem(X, y, 3, costs=np.ones(8))
    with pytest.raises(ValueError, match="costs"):
        SparseProblem(X, y, 3, costs=-np.ones(8), budget=1.0)
    with pytest.raises(ValueError, match="budget"):
        SparseProblem(X, y, 3, costs=np.ones(8), budget=float("nan"))
    with pytest.raises(ValueError, match="costs"):
        SparseProblem(X, y, 3, costs=np.ones(7), budget=1.0)
    pb = SparseProblem(X, y, 3, costs=np.arange(8.0), budget=5.0)
    assert pb.has_budget and pb.with_k(2).has_budget and not pb.with_budget(None).has_budget
    assert pb.support_cost(np.r_[1.0, 0, 1.0, 0, 0, 0, 0, 1.0]) == 9.0


@pytest.mark.parametrize("seed", range(4))
def test_every_iht_iterate_is_feasible_and_history_monotone(seed):
    pb = budget_instance(seed, n=60, p=40, k=12, ridge=0.1 * seed)
    seen = []
    res = budgeted_iht(pb.quadratic, pb.k, np.zeros(40), pb.costs, pb.budget, trace=seen.append)
    assert len(seen) >= 2
    for w in seen:
        assert pb.is_feasible(w)
    assert pb.is_feasible(res.coef)
    assert np.all(np.diff(res.history) <= 1e-12 * np.abs(res.history[:-1]))
    assert np.isclose(res.objective, pb.objective(res.coef))


def test_active_set_iterates_feasible():
    X, y = sparse_instance(5, 80, 300, 10, rho=0.4, snr=5.0)
    costs = np.repeat([1.0, 5.0, 25.0], 100)
    pb = SparseProblem(X, y, 10, costs=costs, budget=60.0)
    seen = []
    w, f, *_ = active_set_iht(
        pb, np.zeros(300), max_iter=200, tol=1e-7, log=lambda m: None, trace=seen.append
    )
    assert seen and all(pb.is_feasible(v) for v in seen)
    assert pb.is_feasible(w) and np.isclose(f, pb.objective(w))


def test_swap_search_only_takes_moves_that_fit():
    pb = budget_instance(2, n=50, p=30, k=8)
    res = budgeted_iht(pb.quadratic, pb.k, np.zeros(30), pb.costs, pb.budget)
    sw = swap_search(pb.quadratic, pb.k, res.coef, res.objective, costs=pb.costs, budget=pb.budget)
    assert pb.is_feasible(sw.coef) and sw.objective <= res.objective + 1e-12
    # without the budget the same search leaves the feasible set on this instance
    free = swap_search(pb.quadratic, pb.k, res.coef, res.objective)
    assert free.objective <= sw.objective + 1e-12


@pytest.mark.parametrize("seed", range(6))
def test_solve_matches_brute_force_and_reports_cost(seed):
    pb = budget_instance(seed, ridge=0.05 * (seed % 2))
    sol = solve(pb, random_state=0)
    assert pb.is_feasible(sol.coef)
    assert sol.cost == pytest.approx(pb.support_cost(sol.coef))
    assert "cost=" in repr(sol)
    assert sol.objective <= brute_force(pb) * (1 + 1e-8) + 1e-10


def test_budget_only_k_equals_p_and_w_ref_start():
    X, y = sparse_instance(3, 60, 50, 8, rho=0.5, snr=4.0)
    rng = np.random.default_rng(0)
    costs = rng.choice([1.0, 10.0], 50)
    w_ref = rng.standard_normal(50)
    pb = SparseProblem(X, y, 50, ridge=1.0, w_ref=w_ref, costs=costs, budget=0.3 * costs.sum())
    sol = solve(pb)
    assert pb.is_feasible(sol.coef)
    assert sol.objective <= pb.objective(np.zeros(50))


def _woodbury_budget_instance(seed):
    X, y = sparse_instance(seed, 80, 600, 15, 0.5, 5.0)
    rng = np.random.default_rng(seed)
    w_ref = rng.standard_normal(600)
    costs = np.repeat([16.0, 4.0, 1.0], 200)  # three "layers", the first the most expensive
    budget = 0.25 * costs.sum()
    return X.astype(np.float32), y, w_ref, costs, budget


@pytest.mark.parametrize("seed,k", [(0, 600), (1, 600), (2, 150)])
def test_woodbury_search_keeps_the_budget(seed, k, monkeypatch):
    """Large budgeted problems: the Woodbury pool search runs and takes only moves that fit;
    its answer is feasible, the exact minimiser on its support, and no worse than IHT's."""
    import sparse_regression.constants as C
    from sparse_regression import backsolve

    X, y, w_ref, costs, budget = _woodbury_budget_instance(seed)
    monkeypatch.setattr(C, "SWAP_MAX_WORK", 0)  # too large for the full search: Woodbury
    pb = SparseProblem(X, y, k, ridge=0.3, w_ref=w_ref, costs=costs, budget=budget)
    sol = solve(pb, active_set=False, swap_rounds=3, random_state=0)
    assert sol.info["local_search"] == "woodbury"
    assert sol.info["n_swaps"] + sol.info["n_adds"] > 0
    assert pb.is_feasible(sol.coef)
    assert sol.objective < sol.info["iht_objective"]
    S = np.flatnonzero(sol.coef)
    assert np.allclose(sol.coef[S], backsolve(pb, S)[S], rtol=1e-6, atol=1e-9)
    assert np.all(np.diff(sol.history) <= 1e-9 * abs(sol.history[0]))


def test_woodbury_search_with_a_slack_budget_equals_the_unbudgeted_one():
    """Equal costs and a budget that never binds: the same moves as without costs."""
    from sparse_regression.quadratic import Quadratic
    from sparse_regression.swaps.woodbury_pool import woodbury_swap_search

    X, y, w_ref, _, _ = _woodbury_budget_instance(3)
    q = Quadratic(X, y, ridge=0.3, w_ref=w_ref)
    pb = SparseProblem(X, y, 100, ridge=0.3, w_ref=w_ref)
    start = solve(pb, local_search=False, active_set=False)
    plain = woodbury_swap_search(q, 100, start.coef, start.objective, max_rounds=3)
    budgeted = woodbury_swap_search(
        q, 100, start.coef, start.objective, max_rounds=3, costs=np.ones(600), budget=1e9
    )
    assert plain.n_swaps > 0 and budgeted.n_swaps == plain.n_swaps
    np.testing.assert_allclose(budgeted.coef, plain.coef, rtol=1e-9, atol=1e-12)
