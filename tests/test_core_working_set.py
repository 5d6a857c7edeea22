"""The working-set swap search used for large problems (pruning scale)."""

import numpy as np
import pytest

import sparse_regression.solver as solve_module
from sparse_regression import SparseProblem, make_correlated_regression, solve
from sparse_regression.local_search import swap_search
from sparse_regression.working_set import orthogonal_sq_norms


@pytest.mark.parametrize("s, ridge", [(0, 0.0), (10, 0.0), (10, 0.5), (45, 0.5)])
def test_orthogonal_norms_match_least_squares_residuals(s, ridge):
    rng = np.random.default_rng(s)
    n, p = 30, 80
    A = np.asfortranarray(rng.standard_normal((n, p)), dtype=np.float32)
    S = np.sort(rng.choice(p, s, replace=False))
    got = orthogonal_sq_norms(A, S, ridge)
    A64 = A.astype(np.float64)
    Aaug = np.vstack([A64, np.sqrt(ridge) * np.eye(p)])
    Q = Aaug[:, S]
    ref = np.empty(p)
    for j in range(p):
        x = np.linalg.lstsq(Q, Aaug[:, j], rcond=None)[0] if s else np.zeros(0)
        ref[j] = np.sum((Aaug[:, j] - Q @ x) ** 2)
    ref[S] = 0.0
    np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-9)


def _pruning_like(n=60, p=1500, k=150, seed=0):
    rng = np.random.default_rng(seed)
    U = rng.standard_normal((n, 8))
    G = U @ rng.standard_normal((8, p)) + 0.5 * rng.standard_normal((n, p))
    A = np.asfortranarray(G * rng.lognormal(0, 1, p) / np.sqrt(n), dtype=np.float32)
    w_bar = 0.1 * rng.standard_normal(p)
    b = A.astype(np.float64) @ w_bar
    ridge = 1e-2 * float(np.mean(np.sum(A.astype(np.float64) ** 2, axis=0)))
    return SparseProblem(A, b, k, ridge=ridge, w_ref=w_bar)


def test_large_problems_use_the_working_set_and_improve_on_iht(monkeypatch):
    prob = _pruning_like()
    monkeypatch.setattr(solve_module, "SWAP_MAX_WORK", 10**6)  # force the large-problem path
    iht = solve(prob, local_search=False)
    sol = solve(prob, max_swaps=60)
    assert sol.info["local_search"] == "working-set"
    assert np.count_nonzero(sol.coef) <= prob.k
    assert sol.objective == pytest.approx(prob.objective(sol.coef), rel=1e-10)
    assert np.all(np.diff(sol.history) <= 1e-12 * sol.history[0])
    assert sol.objective < 0.9 * iht.objective
    assert sol.optimality == "stationary"


def test_checkpointed_moves_keep_exact_monotone_objectives():
    prob = _pruning_like(k=90)  # k > n: Woodbury factors, exact checks every few moves
    iht = solve(prob, local_search=False)
    res = swap_search(
        prob.A,
        prob.b,
        prob.k,
        iht.coef,
        iht.objective,
        ridge=prob.ridge,
        w_ref=prob.w_ref,
        max_moves=40,
        exact_every=8,
    )
    assert res.n_swaps > 0
    assert res.objective == pytest.approx(prob.objective(res.coef), rel=1e-10)
    assert np.all(np.diff(res.history) < 0)
    exact = swap_search(
        prob.A,
        prob.b,
        prob.k,
        iht.coef,
        iht.objective,
        ridge=prob.ridge,
        w_ref=prob.w_ref,
        max_moves=40,
        exact_every=1,
    )
    # same moves, checked less often: the same point up to the last checkpoint's rounding
    assert res.objective == pytest.approx(exact.objective, rel=1e-6)


def test_without_a_ridge_large_supports_skip_the_swap_search(monkeypatch):
    A, y, _ = make_correlated_regression(40, 300, 5, random_state=0)
    monkeypatch.setattr(solve_module, "SWAP_MAX_WORK", 10)
    sol = solve(SparseProblem(A, y, 50))
    assert "without a ridge" in sol.info["local_search_skipped"]
    assert sol.optimality == "stationary"
