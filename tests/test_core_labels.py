"""Optimality labels are true: "swap-optimal" is checked by brute force over every single swap
(and addition) of the returned support on thousands of tiny random problems; the exact swap
check agrees with brute force; results do not depend on the thread count beyond rounding."""

from __future__ import annotations

import numpy as np
import pytest

from sparse_regression import SparseProblem, solve
from sparse_regression.backsolve import backsolve_support
from sparse_regression.quadratic import Quadratic
from sparse_regression.starts import omp_start
from sparse_regression.swap_check import check_swaps
from sparse_regression.threads import resolve_n_jobs


def brute_force_max_gain(A, b, k, S, f, ridge=0.0, w_ref=None):
    """Largest decrease of F over every single swap of S (and addition while |S| < k)."""
    p = A.shape[1]
    S = [int(i) for i in S]
    outside = [j for j in range(p) if j not in S]
    best = -np.inf
    moves = [(i, j) for i in S for j in outside]
    if len(S) < k:
        moves += [(None, j) for j in outside]
    for i, j in moves:
        T = sorted([s for s in S if s != i] + [j])
        _, f2 = backsolve_support(Quadratic(A, b, ridge, w_ref), np.asarray(T))
        best = max(best, f - f2)
    return best


def random_problem(rng):
    n = int(rng.integers(4, 14))
    p = int(rng.integers(3, 10))
    k = int(rng.integers(1, min(p, 5) + 1))
    A = rng.standard_normal((n, p))
    if rng.random() < 0.5:  # correlated columns
        A[:, 1:] = 0.8 * A[:, :-1] + 0.6 * A[:, 1:]
    b = rng.standard_normal(n)
    ridge, w_ref = 0.0, None
    if rng.random() < 0.3:
        ridge = float(rng.uniform(0.01, 1.0))
        if rng.random() < 0.5:
            w_ref = rng.standard_normal(p)
    return A, b, k, ridge, w_ref


def test_swap_optimal_label_is_true_by_brute_force():
    rng = np.random.default_rng(0)
    labelled = 0
    for trial in range(2000):
        A, b, k, ridge, w_ref = random_problem(rng)
        prob = SparseProblem(A, b, k, ridge=ridge, w_ref=w_ref)
        # max_swaps=1 stresses the label (searches stop early); perturbations are covered by
        # test_issue_case_perturbations_with_one_swap
        kw = dict(max_swaps=1) if trial % 3 == 0 else {}
        sol = solve(prob, n_perturbations=0, **kw)
        gain = brute_force_max_gain(A, b, k, sol.support, sol.objective, ridge, w_ref)
        tol = 1e-9 * abs(sol.objective) + 1e-12 * float(b @ b)
        if sol.optimality == "swap-optimal":
            labelled += 1
            assert gain <= tol, (trial, gain, sol.objective)
            reported = sol.info["max_swap_gain"]
            if gain == -np.inf:  # no move exists (k = p)
                continue
            assert abs(reported - gain) <= 1e-7 * max(abs(sol.objective), 1.0), (reported, gain)
    assert labelled >= 1900  # the search nearly always ends certified


def test_issue_case_perturbations_with_one_swap():
    # issue 10: n=40, p=25, k=5, max_swaps=1; labels had been kept from before perturbations
    rng = np.random.default_rng(1)
    for seed in range(40):
        A = rng.standard_normal((40, 25))
        b = A[:, :5] @ rng.standard_normal(5) + rng.standard_normal(40)
        sol = solve(SparseProblem(A, b, 5), max_swaps=1, random_state=seed)
        if sol.optimality == "swap-optimal":
            assert brute_force_max_gain(A, b, 5, sol.support, sol.objective) <= 1e-9 * abs(
                sol.objective
            )


def test_check_swaps_matches_brute_force_on_random_supports():
    rng = np.random.default_rng(2)
    for _ in range(200):
        A, b, k, ridge, w_ref = random_problem(rng)
        p = A.shape[1]
        s = int(rng.integers(1, k + 1))
        S = np.sort(rng.choice(p, s, replace=False))
        q = Quadratic(A, b, ridge, w_ref)
        wS, f = backsolve_support(q, S)
        w = np.zeros(p)
        w[S] = wS
        if np.any(wS == 0):
            continue
        chk = check_swaps(q, k, w, f)
        gain = brute_force_max_gain(A, b, k, S, f, ridge, w_ref)
        scale = max(abs(f), 1.0)
        if gain > 1e-8 * scale:
            assert not chk.optimal and chk.improved is not None
            # the move handed back is the best single move, verified exactly
            assert chk.improved[1] == pytest.approx(f - gain, rel=1e-8, abs=1e-9)
        elif -np.inf < gain < -1e-8 * scale:
            assert chk.optimal and chk.improved is None
            assert chk.max_gain == pytest.approx(gain, rel=1e-6, abs=1e-8 * scale)


def test_omp_start_matches_greedy_reference():
    rng = np.random.default_rng(3)
    A = rng.standard_normal((30, 40))
    b = rng.standard_normal(30)
    for ridge in (0.0, 0.5):
        w, f = omp_start(Quadratic(A, b, ridge), 6)
        # reference OMP (scikit-learn's rule): pick argmax |a_j^T r|, refit exactly
        S: list[int] = []
        r = b.copy()
        for _ in range(6):
            c = A.T @ r
            score = c**2
            score[S] = -1
            S.append(int(np.argmax(score)))
            wS, _ = backsolve_support(Quadratic(A, b, ridge), np.sort(S))
            r = b - A[:, np.sort(S)] @ wS
        assert set(np.flatnonzero(w)) == set(S)
        assert f == pytest.approx(0.5 * r @ r + 0.5 * ridge * wS @ wS, rel=1e-10)


def test_thread_count_does_not_change_the_result():
    from sparse_regression import make_correlated_regression

    X, y, _ = make_correlated_regression(120, 3000, 10, rho=0.8, random_state=4)
    prob = SparseProblem(X, y, 10)
    one = solve(prob, n_jobs=1, random_state=0)
    two = solve(prob, n_jobs=2, random_state=0)
    assert np.array_equal(one.support, two.support)
    assert two.objective == pytest.approx(one.objective, rel=1e-9)
    np.testing.assert_allclose(two.coef, one.coef, rtol=1e-7, atol=1e-10)


def test_n_jobs_convention():
    assert resolve_n_jobs(None) == 1
    assert resolve_n_jobs(1) == 1
    assert resolve_n_jobs(-1) >= 1
    for bad in (0, 1.5, "2", True):
        with pytest.raises(ValueError, match="n_jobs"):
            resolve_n_jobs(bad)
    X = np.random.default_rng(0).standard_normal((10, 5))
    with pytest.raises(ValueError, match="n_jobs"):
        solve(SparseProblem(X, X[:, 0], 2), n_jobs=0)


def test_estimators_take_n_jobs():
    from sparse_regression import SparseLinearRegression, make_correlated_regression

    X, y, _ = make_correlated_regression(60, 40, 4, random_state=5)
    a = SparseLinearRegression(n_nonzero_coefs=4).fit(X, y)
    b = SparseLinearRegression(n_nonzero_coefs=4, n_jobs=2).fit(X, y)
    assert np.array_equal(a.support_, b.support_)
    np.testing.assert_allclose(a.coef_, b.coef_, rtol=1e-9)
    with pytest.raises(ValueError, match="n_jobs"):
        SparseLinearRegression(n_jobs=0).fit(X, y)
