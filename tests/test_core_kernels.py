"""Numba kernels against numpy references."""

import numpy as np
import pytest

from sparse_regression import _kernels as K


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("shape", [(7, 5), (300, 900)])  # serial and parallel kernels
def test_products_accumulate_in_float64(dtype, order, shape):
    rng = np.random.default_rng(0)
    A = np.asarray(rng.standard_normal(shape), dtype=dtype, order=order)
    A64 = A.astype(np.float64)  # exact copy of the stored values
    x = rng.standard_normal(shape[1])
    x[::2] = 0.0
    r = rng.standard_normal(shape[0])
    idx = np.array([0, shape[1] - 1, 2])
    vals = np.array([1.5, -2.0, 0.25])
    np.testing.assert_allclose(K.matvec(A, x), A64 @ x, rtol=1e-12, atol=1e-11)
    np.testing.assert_allclose(K.rmatvec(A, r), A64.T @ r, rtol=1e-12, atol=1e-11)
    np.testing.assert_allclose(K.matvec_cols(A, idx, vals), A64[:, idx] @ vals, atol=1e-12)
    np.testing.assert_allclose(K.col_sq_norms(A), (A64**2).sum(0), rtol=1e-12)
    G = K.gather_columns(A, idx)
    assert G.flags.f_contiguous and G.dtype == dtype
    np.testing.assert_array_equal(G, A[:, idx])


def test_all_finite():
    A = np.zeros((4, 3), order="F")
    assert K.all_finite(A)
    A[2, 1] = -np.inf
    assert not K.all_finite(A)


def test_topk_abs_ties_go_to_lower_indices():
    v = np.array([1.0, -3.0, 2.0, 3.0, -2.0, 0.5])
    np.testing.assert_array_equal(K.topk_abs(v, 2), [1, 3])
    np.testing.assert_array_equal(K.topk_abs(v, 3), [1, 2, 3])
    np.testing.assert_array_equal(K.topk_abs(v, 6), np.arange(6))
    rng = np.random.default_rng(0)
    for _ in range(50):
        v = rng.standard_normal(40)
        k = int(rng.integers(1, 40))
        assert set(K.topk_abs(v, k)) == set(np.argsort(-np.abs(v))[:k])


def test_start_support_keeps_nonzeros_then_largest_gradients():
    w = np.array([0.0, 2.0, 0.0, -1.0, 0.0])
    g = np.array([5.0, 9.0, -1.0, 9.0, 4.0])
    np.testing.assert_array_equal(K.iht_start_support(w, g, 3), [0, 1, 3])
    np.testing.assert_array_equal(K.iht_start_support(w, g, 1), [1])


def test_max_preserving_step_is_the_first_breakpoint():
    rng = np.random.default_rng(3)
    for _ in range(100):
        p, k = 30, 6
        w = np.zeros(p)
        S = rng.choice(p, k, replace=False)
        w[S] = rng.standard_normal(k)
        g = rng.standard_normal(p)
        support = K.iht_start_support(w, g, k)
        mask = np.zeros(p, dtype=bool)
        mask[support] = True
        tmax = K.max_preserving_step(w, g, mask)
        assert np.isfinite(tmax) and tmax > 0
        before = K.threshold_path_support(w, g, tmax * (1 - 1e-9), k)
        after = K.threshold_path_support(w, g, tmax * (1 + 1e-6), k)
        np.testing.assert_array_equal(before, support)
        assert not np.array_equal(after, support)
