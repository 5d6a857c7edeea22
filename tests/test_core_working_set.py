"""Swap searches for large problems: working set (ridge = 0) and Woodbury pools (ridge > 0)."""

import numpy as np
import pytest

import sparse_regression.constants as constants_module
from sparse_regression import SparseProblem, make_correlated_regression, solve
from sparse_regression.backsolve import backsolve_support
from sparse_regression.quadratic import Quadratic
from sparse_regression.swaps.single import swap_search
from sparse_regression.swaps.woodbury_pool import _Pool, woodbury_swap_search
from sparse_regression.swaps.working_set import orthogonal_sq_norms


@pytest.mark.parametrize("s, ridge", [(0, 0.0), (10, 0.0), (10, 0.5), (45, 0.5)])
def test_orthogonal_norms_match_least_squares_residuals(s, ridge):
    rng = np.random.default_rng(s)
    n, p = 30, 80
    A = np.asfortranarray(rng.standard_normal((n, p)), dtype=np.float32)
    S = np.sort(rng.choice(p, s, replace=False))
    got = orthogonal_sq_norms(Quadratic(A, np.zeros(len(A)), ridge), S)
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


def _assert_valid(prob, sol):
    assert np.count_nonzero(sol.coef) <= prob.k
    assert sol.objective == pytest.approx(prob.objective(sol.coef), rel=1e-10)
    assert np.all(np.diff(sol.history) <= 1e-12 * sol.history[0])


def test_large_ridge_problems_use_the_woodbury_pool_search(monkeypatch):
    prob = _pruning_like()
    monkeypatch.setattr(constants_module, "SWAP_MAX_WORK", 10**6)  # force the large-problem path
    iht = solve(prob, local_search=False)
    sol = solve(prob)
    assert sol.info["local_search"] == "woodbury"
    _assert_valid(prob, sol)
    assert sol.objective < 0.9 * iht.objective
    assert sol.optimality == "stationary"


def test_large_problems_without_ridge_use_the_working_set(monkeypatch):
    A, y, _ = make_correlated_regression(200, 3000, 30, rho=0.8, snr=2.0, random_state=3)
    prob = SparseProblem(A, y, 30)
    monkeypatch.setattr(constants_module, "SWAP_MAX_WORK", 10**6)
    iht = solve(prob, local_search=False)
    sol = solve(prob, max_swaps=60)
    assert sol.info["local_search"] == "working-set"
    _assert_valid(prob, sol)
    assert sol.objective < iht.objective


def test_pool_updates_match_recomputation():
    rng = np.random.default_rng(0)
    n, p, ridge = 20, 60, 0.7
    A = rng.standard_normal((n, p))
    b = rng.standard_normal(n)
    w_ref = rng.standard_normal(p)
    S = np.arange(0, 30, 2)
    C = np.array([0, 2, 4, 1, 3, 5, 7])  # pool: members 0, 2, 4; outsiders 1, 3, 5, 7
    q = Quadratic(A, b, ridge, w_ref)
    pool = _Pool(q, S, C)
    pool.remove(1)  # column 2 out
    pool.add(4)  # column 3 in
    pool.remove(0)  # column 0 out
    pool.add(6)  # column 7 in
    S_new = np.array(sorted((set(S) - {0, 2}) | {3, 7}))
    ref = _Pool(q, S_new, C)
    for name in ("u", "v", "Y", "Z", "c"):
        np.testing.assert_allclose(getattr(pool, name), getattr(ref, name), atol=1e-11)
    np.testing.assert_array_equal(pool.member, ref.member)
    f_exact = backsolve_support(q, S_new)[1]
    assert pool.objective() == pytest.approx(f_exact, rel=1e-12)


def test_woodbury_search_matches_exact_swaps_on_a_small_problem():
    """With a pool covering every column, the pool search is the exact swap search."""
    prob = _pruning_like(n=30, p=120, k=40)
    iht = solve(prob, local_search=False)
    pool = woodbury_swap_search(
        prob.quadratic, prob.k, iht.coef, iht.objective, n_remove=200, n_add=200
    )
    exact = swap_search(prob.quadratic, prob.k, iht.coef, iht.objective)
    assert exact.swap_optimal
    assert pool.objective == pytest.approx(prob.objective(pool.coef), rel=1e-10)
    # both are swap-optimal points reached by best-improvement from the same start
    assert pool.objective == pytest.approx(exact.objective, rel=1e-8)


def test_checkpointed_moves_keep_exact_monotone_objectives():
    prob = _pruning_like(k=90)  # k > n: Woodbury factors, exact checks every few moves
    iht = solve(prob, local_search=False)
    res = swap_search(prob.quadratic, prob.k, iht.coef, iht.objective, max_moves=40, exact_every=8)
    assert res.n_swaps > 0
    assert res.objective == pytest.approx(prob.objective(res.coef), rel=1e-10)
    assert np.all(np.diff(res.history) < 0)
    exact = swap_search(
        prob.quadratic, prob.k, iht.coef, iht.objective, max_moves=40, exact_every=1
    )
    # same moves, checked less often: the same point up to the last checkpoint's rounding
    assert res.objective == pytest.approx(exact.objective, rel=1e-6)


def test_without_a_ridge_large_supports_skip_the_swap_search(monkeypatch):
    A, y, _ = make_correlated_regression(40, 300, 5, random_state=0)
    monkeypatch.setattr(constants_module, "SWAP_MAX_WORK", 10)
    sol = solve(SparseProblem(A, y, 50))
    assert "without a ridge" in sol.info["local_search_skipped"]
    assert sol.optimality == "stationary"
