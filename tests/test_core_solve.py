"""The core solver against exhaustive enumeration, OMP, and slow references."""

import numpy as np
import pytest
from sklearn.linear_model import OrthogonalMatchingPursuit

from sparse_regression import SparseProblem, backsolve, solve
from sparse_regression.backsolve import backsolve_support
from sparse_regression.quadratic import Quadratic

from ._core_helpers import ar1_design, enumerate_optimum, objective, sparse_instance


def _random_small_config(seed):
    rng = np.random.default_rng(10_000 + seed)
    p = int(rng.integers(8, 21))
    k = int(rng.integers(1, min(p, 6) + 1))
    n = int(rng.integers(max(12, k + 4), 60))
    rho = float(rng.uniform(0.3, 0.9))
    snr = float(rng.uniform(0.5, 5.0))
    return n, p, k, rho, snr


def _assert_solution_invariants(prob, sol):
    assert np.count_nonzero(sol.coef) <= prob.k
    np.testing.assert_array_equal(sol.support, np.flatnonzero(sol.coef))
    assert sol.objective == pytest.approx(prob.objective(sol.coef), rel=1e-10, abs=1e-12)
    h = sol.history
    assert h.size >= 1 and h[-1] == pytest.approx(sol.objective, rel=1e-12, abs=1e-12)
    assert np.all(np.diff(h) <= 1e-12 * abs(h[0])), "objective history must be non-increasing"


def test_matches_enumeration_on_small_correlated_instances():
    n_inst, hits, misses = 120, 0, []
    for seed in range(n_inst):
        n, p, k, rho, snr = _random_small_config(seed)
        A, b = sparse_instance(seed, n, p, k, rho, snr)
        prob = SparseProblem(A, b, k)
        sol = solve(prob, random_state=seed)
        _assert_solution_invariants(prob, sol)
        f_opt, _ = enumerate_optimum(A, b, k)
        assert sol.objective >= f_opt * (1 - 1e-9) - 1e-12  # the oracle is a lower bound
        if sol.objective <= f_opt * (1 + 1e-9) + 1e-12:
            hits += 1
        else:
            misses.append(seed)
        # never worse than scikit-learn's OMP refitted on its support
        omp = OrthogonalMatchingPursuit(n_nonzero_coefs=k, fit_intercept=False).fit(A, b)
        f_omp = prob.objective(backsolve(prob, np.flatnonzero(omp.coef_)))
        assert sol.objective <= f_omp * (1 + 1e-9) + 1e-12
        assert sol.optimality == "swap-optimal"
    assert hits >= 0.95 * n_inst, f"matched the optimum on {hits}/{n_inst}; missed {misses}"


def test_ridge_with_reference_matches_enumeration():
    for seed in range(30):
        n, p, k, rho, snr = _random_small_config(500 + seed)
        A, b = sparse_instance(seed, n, p, k, rho, snr)
        rng = np.random.default_rng(seed)
        ridge = float(rng.uniform(0.05, 5.0))
        w_ref = rng.standard_normal(p)
        prob = SparseProblem(A, b, k, ridge=ridge, w_ref=w_ref)
        sol = solve(prob, random_state=seed)
        _assert_solution_invariants(prob, sol)
        f_opt, _ = enumerate_optimum(A, b, k, ridge, w_ref)
        assert sol.objective == pytest.approx(f_opt, rel=1e-9), f"seed {seed}"


def _brute_force_best_swap(prob, coef):
    """Slow reference: best objective over all single swaps, each refitted exactly."""
    S = list(np.flatnonzero(coef))
    best = np.inf
    for i in S:
        for j in range(prob.n_features):
            if j in S:
                continue
            T = sorted([s for s in S if s != i] + [j])
            best = min(best, prob.objective(backsolve(prob, T)))
    return best


@pytest.mark.parametrize("ridge", [0.0, 0.5])
def test_swap_optimal_means_no_single_swap_improves(ridge):
    rng = np.random.default_rng(7)
    for seed in range(5):
        A, b = sparse_instance(seed, 50, 30, 6, 0.8, 2.0)
        w_ref = rng.standard_normal(30) if ridge else None
        prob = SparseProblem(A, b, 6, ridge=ridge, w_ref=w_ref)
        sol = solve(prob, n_perturbations=0)
        assert sol.optimality == "swap-optimal"
        assert sol.objective <= _brute_force_best_swap(prob, sol.coef) * (1 + 1e-10)
        # and the point is the exact minimiser on its support
        g = prob.gradient(sol.coef)
        assert np.abs(g[sol.support]).max() <= 1e-7 * max(1.0, np.abs(prob.A.T @ prob.b).max())


def test_without_local_search_the_point_is_stationary():
    A, b = sparse_instance(1, 80, 200, 8, 0.6, 3.0)
    prob = SparseProblem(A, b, 8)
    sol = solve(prob, local_search=False)
    _assert_solution_invariants(prob, sol)
    assert sol.optimality == "stationary" and sol.converged
    g = prob.gradient(sol.coef)
    assert np.abs(g[sol.support]).max() <= 1e-8 * np.abs(A.T @ b).max()
    # an IHT fixed point for the step 1/L: no outside gradient beats the smallest coefficient
    L = np.linalg.norm(A, 2) ** 2
    outside = np.setdiff1d(np.arange(200), sol.support)
    assert np.abs(g[outside]).max() / L <= np.abs(sol.coef[sol.support]).min() * (1 + 1e-9)


def test_uses_exactly_k_when_more_columns_help():
    A, b = sparse_instance(3, 40, 15, 2, 0.5, 1.0)  # noisy: every extra column helps a bit
    prob = SparseProblem(A, b, 6)
    sol = solve(prob)
    assert np.count_nonzero(sol.coef) == 6


def test_active_set_result_is_swap_optimal_on_the_full_problem():
    A, b = sparse_instance(11, 60, 400, 5, 0.7, 3.0)
    prob = SparseProblem(A, b, 5)
    sol = solve(prob, n_perturbations=0, starts=("iht",))  # the active-set IHT start
    assert sol.info["active_set_rounds"] >= 1
    assert sol.optimality == "swap-optimal"
    assert sol.objective <= _brute_force_best_swap(prob, sol.coef) * (1 + 1e-10)


def test_float32_and_float64_find_the_same_support():
    for seed in range(10):
        rng = np.random.default_rng(seed)
        A = rng.standard_normal((200, 300))  # well conditioned
        w = np.zeros(300)
        w[rng.choice(300, 10, replace=False)] = rng.choice([-1, 1], 10) * rng.uniform(1, 2, 10)
        b = A @ w + 0.3 * rng.standard_normal(200)
        s64 = solve(SparseProblem(A, b, 10))
        s32 = solve(SparseProblem(np.asfortranarray(A, dtype=np.float32), b, 10))
        np.testing.assert_array_equal(s64.support, s32.support)
        assert s32.objective == pytest.approx(s64.objective, rel=1e-5)


def test_pruning_shaped_problem_beats_magnitude_start():
    """k > n with a ridge and a reference point, as in pruning (Woodbury backsolves)."""
    rng = np.random.default_rng(0)
    n, p, k = 60, 600, 150
    A = np.asfortranarray(rng.standard_normal((n, p)).astype(np.float32) / np.sqrt(n))
    w_bar = rng.standard_normal(p)
    b = A.astype(np.float64) @ w_bar
    prob = SparseProblem(A, b, k, ridge=1e-2, w_ref=w_bar)
    sol = solve(prob)
    _assert_solution_invariants(prob, sol)
    assert np.count_nonzero(sol.coef) == k
    magnitude = np.zeros(p)
    top = np.argsort(-np.abs(w_bar))[:k]
    magnitude[top] = w_bar[top]
    assert sol.objective < prob.objective(magnitude)
    assert sol.objective <= prob.objective(backsolve(prob, top)) * (1 + 1e-12)


def test_seeded_runs_are_reproducible():
    A, b = sparse_instance(5, 40, 25, 5, 0.7, 2.0)
    prob = SparseProblem(A, b, 5)
    a, c = solve(prob, random_state=3), solve(prob, random_state=3)
    np.testing.assert_array_equal(a.coef, c.coef)
    np.testing.assert_array_equal(a.history, c.history)


def test_warm_start_is_projected_and_validated():
    A, b = sparse_instance(2, 40, 20, 4, 0.5, 3.0)
    prob = SparseProblem(A, b, 4)
    sol = solve(prob, w0=np.linspace(1, 2, 20), local_search=False)
    assert np.count_nonzero(sol.coef) <= 4
    with pytest.raises(ValueError, match="w0"):
        solve(prob, w0=np.ones(3))
    with pytest.raises(ValueError, match="w0"):
        solve(prob, w0=np.full(20, np.nan))


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(max_iter=0), "max_iter"),
        (dict(tol=-1.0), "tol"),
        (dict(n_perturbations=-2), "n_perturbations"),
        (dict(n_perturbations="many"), "n_perturbations"),
        (dict(max_swaps=-1), "max_swaps"),
    ],
)
def test_bad_solver_arguments(kwargs, name):
    A, b = sparse_instance(2, 20, 10, 2, 0.5, 3.0)
    with pytest.raises(ValueError, match=name):
        solve(SparseProblem(A, b, 2), **kwargs)
    with pytest.raises(TypeError, match="SparseProblem"):
        solve((A, b, 2))


# ---------------------------------------------------------------------------- backsolve
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_backsolve_matches_lstsq_on_the_support(dtype):
    rng = np.random.default_rng(0)
    A = np.asarray(rng.standard_normal((50, 30)), dtype=dtype)
    b = rng.standard_normal(50)
    S = np.array([1, 4, 9, 17, 29])
    w = backsolve(SparseProblem(A, b, 5), S)
    ref = np.linalg.lstsq(A[:, S].astype(np.float64), b, rcond=None)[0]
    np.testing.assert_allclose(w[S], ref, rtol=1e-9, atol=1e-10)
    assert np.count_nonzero(np.delete(w, S)) == 0


@pytest.mark.parametrize("s", [20, 80])  # Cholesky (s <= n) and Woodbury (s > n)
def test_backsolve_with_ridge_matches_augmented_lstsq(s):
    rng = np.random.default_rng(1)
    n, p = 40, 100
    A = rng.standard_normal((n, p))
    b = rng.standard_normal(n)
    w_ref = rng.standard_normal(p)
    ridge = 0.3
    S = np.sort(rng.choice(p, s, replace=False))
    wS, f = backsolve_support(Quadratic(A, b, ridge, w_ref), S)
    Aaug = np.vstack([A[:, S], np.sqrt(ridge) * np.eye(s)])
    baug = np.concatenate([b, np.sqrt(ridge) * w_ref[S]])
    ref = np.linalg.lstsq(Aaug, baug, rcond=None)[0]
    np.testing.assert_allclose(wS, ref, rtol=1e-8, atol=1e-9)
    w = np.zeros(p)
    w[S] = wS
    assert f == pytest.approx(objective(A, b, w, ridge, w_ref), rel=1e-12)


def test_backsolve_on_a_rank_deficient_support_is_finite_least_squares():
    rng = np.random.default_rng(2)
    A = rng.standard_normal((30, 6))
    A[:, 5] = A[:, 1]  # duplicate column
    b = rng.standard_normal(30)
    S = np.array([0, 1, 5])
    w = backsolve(SparseProblem(A, b, 3), S)
    assert np.all(np.isfinite(w))
    ref = np.linalg.lstsq(A[:, S], b, rcond=None)[0]
    assert np.sum((A @ w - b) ** 2) == pytest.approx(np.sum((A[:, S] @ ref - b) ** 2))
    # underdetermined support without ridge: more columns than rows
    A2 = rng.standard_normal((5, 12))
    w2 = backsolve(SparseProblem(A2, rng.standard_normal(5), 8), np.arange(8))
    assert np.all(np.isfinite(w2))


def test_solver_handles_duplicate_and_zero_columns():
    rng = np.random.default_rng(4)
    X = ar1_design(rng, 40, 12, 0.5)
    X[:, 3] = X[:, 7]
    X[:, 10] = 0.0
    b = X[:, :4] @ np.array([1.0, -2.0, 1.5, 0.5]) + 0.1 * rng.standard_normal(40)
    prob = SparseProblem(X, b, 4)
    sol = solve(prob)
    assert np.all(np.isfinite(sol.coef)) and sol.coef[10] == 0.0
    assert sol.objective == pytest.approx(enumerate_optimum(X, b, 4)[0], rel=1e-9)


def test_iht_is_skipped_when_no_start_uses_it():
    """starts without "iht": the IHT point is not computed, and the result is the portfolio's
    from the other starts alone (equal to what it was with IHT computed but unused)."""
    from sparse_regression.portfolio import portfolio_search

    rng = np.random.default_rng(3)
    A = rng.standard_normal((40, 60))
    A[:, 1:] = 0.9 * A[:, :-1] + 0.3 * A[:, 1:]
    b = A[:, :5] @ rng.standard_normal(5) + 0.3 * rng.standard_normal(40)
    prob = SparseProblem(A, b, 6)
    sol = solve(prob, starts=("omp", "splicing"), n_perturbations=0)
    assert sol.info["iht_skipped"] and "iht_time" not in sol.info
    assert sol.info["best_start"] in ("omp", "splicing")
    info = {}
    w, f, _, _ = portfolio_search(
        prob,
        np.zeros(60),
        prob.objective(np.zeros(60)),
        starts=("omp", "splicing"),
        max_swaps=None,
        perturbation_rounds=0,
        rng=None,
        exact_every=8,
        memory_limit=10**9,
        info=info,
    )
    assert sol.objective == pytest.approx(f, rel=1e-12)
    np.testing.assert_array_equal(np.flatnonzero(sol.coef), np.flatnonzero(w))
    # a user's w0 is always a start: IHT runs from it and is descended whatever the starts
    sol_w0 = solve(prob, w0=sol.coef, starts=("omp",), n_perturbations=0)
    assert "iht_skipped" not in sol_w0.info and "iht_time" in sol_w0.info
    assert sol_w0.objective <= sol.objective * (1 + 1e-12)
