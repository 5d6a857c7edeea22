import numpy as np
import pytest

from solvers import EnumerationSolver, n_supports
from sparse_regression import SparseProblem

from ._solver_helpers import brute_force, rel_diff, small_problem


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("ridge,with_ref", [(0.0, False), (0.5, True), (2.0, False)])
def test_enumeration_matches_brute_force(seed, ridge, with_ref):
    k = 1 + seed % 4
    problem = small_problem(seed, n=14, p=8, k=k, ridge=ridge, with_ref=with_ref)
    best_f, _ = brute_force(problem)
    sol = EnumerationSolver().solve(problem)
    assert rel_diff(sol.objective, best_f) < 1e-12
    assert sol.objective == pytest.approx(problem.objective(sol.coef), rel=1e-14)
    assert np.count_nonzero(sol.coef) <= k
    assert sol.n_iter == n_supports(8, k)
    assert sol.optimality == "certified" and sol.status == "optimal"
    assert sol.gap == 0.0 and sol.lower_bound == sol.objective


def test_enumeration_collinear_columns_and_p_less_than_n():
    rng = np.random.default_rng(7)
    A = rng.standard_normal((6, 9))
    A[:, 4] = A[:, 1] - 2 * A[:, 2]  # exactly dependent columns
    A[:, 7] = A[:, 0]
    b = rng.standard_normal(6)
    for k in (2, 3, 5):
        problem = SparseProblem(A, b, k)
        best_f, _ = brute_force(problem)
        sol = EnumerationSolver().solve(problem)
        assert np.isfinite(sol.objective)
        assert rel_diff(sol.objective, best_f) < 1e-9


def test_enumeration_k_equals_p_is_least_squares():
    problem = small_problem(3, n=15, p=6, k=6)
    sol = EnumerationSolver().solve(problem)
    w = np.linalg.lstsq(problem.A, problem.b, rcond=None)[0]
    assert rel_diff(sol.objective, problem.objective(w)) < 1e-12


def test_enumeration_refuses_too_many_subsets():
    problem = small_problem(0, n=30, p=25, k=6)
    with pytest.raises(ValueError, match="max_subsets"):
        EnumerationSolver(max_subsets=1000).solve(problem)
    with pytest.raises(ValueError, match="max_subsets"):
        EnumerationSolver(max_subsets=0).solve(problem)
    with pytest.raises(ValueError, match="max_subsets"):
        EnumerationSolver(max_subsets=1.5).solve(problem)


def test_enumeration_does_not_mutate_problem():
    problem = small_problem(4, ridge=0.3, with_ref=True)
    A, b, w_ref = problem.A.copy(), problem.b.copy(), problem.w_ref.copy()
    EnumerationSolver().solve(problem, warm_start=np.ones(problem.n_features))
    assert np.array_equal(A, problem.A) and np.array_equal(b, problem.b)
    assert np.array_equal(w_ref, problem.w_ref)
