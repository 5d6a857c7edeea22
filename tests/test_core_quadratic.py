"""The one objective object of the core: values, gradients, cached data, restriction."""

import numpy as np
import pytest

from sparse_regression import SparseProblem
from sparse_regression.backsolve import backsolve_support
from sparse_regression.quadratic import Quadratic


def _dense_objective(A, b, w, ridge, w_ref, const=0.0):
    A = A.astype(np.float64)
    r = A @ w - b
    ref = np.zeros_like(w) if w_ref is None else w_ref
    return 0.5 * r @ r + 0.5 * ridge * (w - ref) @ (w - ref) + const


def _instance(dtype, with_ref, seed=0, n=25, p=40):
    rng = np.random.default_rng(seed)
    A = np.asfortranarray(rng.standard_normal((n, p)), dtype=dtype)
    b = rng.standard_normal(n)
    w_ref = rng.standard_normal(p) if with_ref else None
    return A, b, w_ref


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("with_ref", [False, True])
@pytest.mark.parametrize("density", [0.1, 0.9])  # sparse and dense products
def test_value_and_gradient_match_the_dense_formulas(dtype, with_ref, density):
    A, b, w_ref = _instance(dtype, with_ref)
    rng = np.random.default_rng(1)
    w = rng.standard_normal(A.shape[1]) * (rng.random(A.shape[1]) < density)
    q = Quadratic(A, b, 0.3, w_ref, const=1.5)
    assert q.value(w) == pytest.approx(_dense_objective(A, b, w, 0.3, w_ref, 1.5), rel=1e-12)
    g_ref = A.astype(np.float64).T @ (A.astype(np.float64) @ w - b)
    g_ref += 0.3 * (w - (0 if w_ref is None else w_ref))
    np.testing.assert_allclose(q.gradient(w), g_ref, rtol=1e-10, atol=1e-10)
    Aw = A.astype(np.float64) @ w
    assert q.value(w, Aw) == pytest.approx(q.value(w), rel=1e-12)


def test_cached_data_is_computed_once_and_correct():
    A, b, w_ref = _instance(np.float64, True)
    q = Quadratic(A, b, 0.5, w_ref)
    assert q.col_sq is q.col_sq and q.Atb is q.Atb
    np.testing.assert_allclose(q.col_sq, (A * A).sum(axis=0), rtol=1e-12)
    np.testing.assert_allclose(q.rhs, A.T @ b + 0.5 * w_ref, rtol=1e-12)
    assert q.f_zero == pytest.approx(q.value(np.zeros(A.shape[1])), rel=1e-14)


def test_problem_delegates_to_one_quadratic_shared_by_with_k():
    A, b, w_ref = _instance(np.float32, True)
    prob = SparseProblem(A, b, 5, ridge=0.2, w_ref=w_ref)
    w = np.random.default_rng(2).standard_normal(A.shape[1])
    assert prob.objective(w) == prob.quadratic.value(w)
    assert prob.column_sq_norms() is prob.quadratic.col_sq
    assert prob.with_k(7).quadratic is prob.quadratic
    with pytest.raises(AttributeError):
        prob.ridge = 1.0  # the cached data would go stale


@pytest.mark.parametrize("with_ref", [False, True])
def test_restriction_keeps_the_full_objective(with_ref):
    A, b, w_ref = _instance(np.float64, with_ref)
    q = Quadratic(A, b, 0.4, w_ref)
    q.col_sq, q.Atb  # noqa: B018 - cached before restricting: carried over
    W = np.array([1, 4, 9, 16, 25, 36])
    w = np.zeros(A.shape[1])
    w[W[:4]] = np.arange(1.0, 5.0)
    sub = q.restrict(W)
    assert sub.value(w[W]) == pytest.approx(q.value(w), rel=1e-12)
    np.testing.assert_allclose(sub.col_sq, q.col_sq[W])
    np.testing.assert_allclose(sub.Atb, q.Atb[W])
    # the exact minimiser on a support of W: same point and objective in both
    wS_sub, f_sub = backsolve_support(sub, np.arange(4))
    wS, f = backsolve_support(q, W[:4])
    np.testing.assert_allclose(wS_sub, wS, rtol=1e-12)
    assert f_sub == pytest.approx(f, rel=1e-12)


def test_line_min_is_the_exact_minimiser_along_the_direction():
    A, b, w_ref = _instance(np.float64, True)
    q = Quadratic(A, b, 0.7, w_ref)
    rng = np.random.default_rng(3)
    u = np.zeros(A.shape[1])
    S = np.array([2, 5, 11])
    u[S] = rng.standard_normal(3)
    d = rng.standard_normal(3)
    t, f_t, _ = q.line_min(u, A @ u, S, d)

    def along(t):
        v = u.copy()
        v[S] -= t * d
        return q.value(v)

    assert f_t == pytest.approx(along(t), rel=1e-12)
    assert along(t) <= min(along(t - 1e-3), along(t + 1e-3))
