"""SparseProblem: validation, no-copy guarantees and evaluation against numpy."""

import numpy as np
import pytest

from sparse_regression import SparseProblem


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    return rng.standard_normal((30, 12)), rng.standard_normal(30)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(k=0), "k"),
        (dict(k=13), "k"),
        (dict(k=2.5), "k"),
        (dict(k=True), "k"),
        (dict(k=3, ridge=-1.0), "ridge"),
        (dict(k=3, ridge=float("nan")), "ridge"),
        (dict(k=3, w_ref=np.ones(11)), "w_ref"),
        (dict(k=3, w_ref=np.full(12, np.inf)), "w_ref"),
    ],
)
def test_bad_scalar_arguments_name_the_argument(data, kwargs, name):
    A, b = data
    with pytest.raises(ValueError, match=name):
        SparseProblem(A, b, **kwargs)


def test_bad_arrays_name_the_argument(data):
    A, b = data
    A_nan = A.copy()
    A_nan[3, 4] = np.nan
    with pytest.raises(ValueError, match="A contains NaN"):
        SparseProblem(A_nan, b, 3)
    A_inf = np.asfortranarray(A, dtype=np.float32)
    A_inf[0, 0] = np.inf
    with pytest.raises(ValueError, match="A contains NaN"):
        SparseProblem(A_inf, b, 3)
    with pytest.raises(ValueError, match="A must be a 2-D"):
        SparseProblem(A[None], b, 3)
    with pytest.raises(ValueError, match="A must be a 2-D"):
        SparseProblem(A[0], b, 3)
    with pytest.raises(ValueError, match=r"b must have shape \(30,\)"):
        SparseProblem(A, b[:-1], 3)
    b_nan = b.copy()
    b_nan[0] = np.nan
    with pytest.raises(ValueError, match="b contains NaN"):
        SparseProblem(A, b_nan, 3)
    with pytest.raises(ValueError, match="A must hold real numbers"):
        SparseProblem(A.astype(complex), b, 3)
    with pytest.raises(ValueError, match="at least one"):
        SparseProblem(np.zeros((0, 3)), np.zeros(0), 1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("order", ["C", "F"])
def test_contiguous_float_design_is_not_copied(data, dtype, order):
    A = np.asarray(data[0], dtype=dtype, order=order)
    prob = SparseProblem(A, data[1], 3)
    assert prob.A is A


def test_other_dtypes_are_converted(data):
    A, b = data
    prob = SparseProblem((A * 10).astype(np.int32), b, 3)
    assert prob.A.dtype == np.float64
    strided = SparseProblem(A[:, ::2], b, 3)
    assert strided.A.flags.f_contiguous and np.array_equal(strided.A, A[:, ::2])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("order", ["C", "F"])
def test_objective_and_gradient_match_numpy(data, dtype, order):
    A, b = data
    A = np.asarray(A, dtype=dtype, order=order)
    rng = np.random.default_rng(1)
    w = rng.standard_normal(12)
    w[::3] = 0
    w_ref = rng.standard_normal(12)
    prob = SparseProblem(A, b, 5, ridge=0.7, w_ref=w_ref)
    A64 = A.astype(np.float64)
    r = A64 @ w - b
    f_ref = 0.5 * r @ r + 0.35 * np.sum((w - w_ref) ** 2)
    g_ref = A64.T @ r + 0.7 * (w - w_ref)
    assert prob.objective(w) == pytest.approx(f_ref, rel=1e-12)
    np.testing.assert_allclose(prob.gradient(w), g_ref, rtol=1e-10, atol=1e-10)
    # the gradient is the derivative of the objective (central differences)
    e = np.zeros(12)
    e[4] = 1e-6
    fd = (prob.objective(w + e) - prob.objective(w - e)) / 2e-6
    assert fd == pytest.approx(prob.gradient(w)[4], rel=1e-5)


def test_w_ref_defaults_to_zero(data):
    A, b = data
    prob = SparseProblem(A, b, 3, ridge=2.0)
    assert not prob.has_w_ref and np.array_equal(prob.w_ref, np.zeros(12))
    w = np.ones(12)
    assert prob.objective(w) == pytest.approx(0.5 * np.sum((A @ w - b) ** 2) + 12.0)


def test_objective_rejects_wrong_w(data):
    prob = SparseProblem(*data, 3)
    with pytest.raises(ValueError, match=r"w must have shape \(12,\)"):
        prob.objective(np.ones(5))


def test_with_k_shares_data_and_validates_k(data):
    prob = SparseProblem(*data, 3, ridge=0.5, w_ref=np.ones(12))
    other = prob.with_k(7)
    assert other.k == 7 and other.A is prob.A and other.ridge == 0.5
    np.testing.assert_array_equal(other.w_ref, prob.w_ref)
    with pytest.raises(ValueError, match="k must satisfy"):
        prob.with_k(13)
