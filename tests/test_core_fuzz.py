"""Property-based tests of the core solver and the exact solvers (hypothesis).

Random shapes, float32/float64, C/F order, degenerate designs (zero, duplicated, identical,
near-collinear and rank-one columns, columns or all of A scaled by 1e6 / 1e-6), every ridge of
``tests._fuzz.RIDGES``, with and without w_ref, k from 1 to p. The properties are those of
``tests._fuzz.check_case``. This is the fast profile (a few hundred cases, derandomized so CI
is reproducible); ``benchmarks/fuzz.py`` runs the same checks on 100,000 cases.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from solvers import EnumerationSolver, MIPSolver, verify
from sparse_regression import SparseProblem, solve
from sparse_regression.backsolve import backsolve_support

from ._fuzz import (
    DEGENERACIES,
    RIDGES,
    CaseSpec,
    check_case,
    check_solution,
    enumeration_optimum,
    objective_tolerance,
)


def fast(max_examples: int) -> settings:
    """The fast profile: derandomized (the same cases on every run), no deadline."""
    return settings(
        max_examples=max_examples,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        database=None,
    )


@st.composite
def specs(draw, max_n=40, max_p=60):
    p = draw(st.integers(1, max_p))
    return CaseSpec(
        n=draw(st.integers(1, max_n)),
        p=p,
        k=draw(st.integers(1, p)),
        dtype=draw(st.sampled_from(["float32", "float64"])),
        order=draw(st.sampled_from(["C", "F"])),
        degeneracy=draw(st.sampled_from(DEGENERACIES)),
        ridge=draw(st.sampled_from(RIDGES)),
        with_ref=draw(st.booleans()),
        seed=draw(st.integers(0, 2**31 - 1)),
    )


@fast(150)
@given(specs())
def test_solve_properties(spec):
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no overflow / division warnings either
        bad = check_case(spec)
    assert not bad, f"{spec}: {bad}"


@fast(80)
@given(specs(max_n=12, max_p=7))
def test_tiny_problems_reach_the_enumerated_optimum(spec):
    problem = spec.build()
    sol = solve(problem, random_state=0)
    f_opt = enumeration_optimum(problem)
    tol = objective_tolerance(problem, sol.coef)
    assert sol.objective <= f_opt + tol, f"{spec}: {sol.objective!r} > optimum {f_opt!r}"
    enum = EnumerationSolver().solve(problem)
    assert abs(enum.objective - f_opt) <= objective_tolerance(problem, enum.coef), spec


@fast(12)
@given(specs(max_n=10, max_p=6))
def test_verify_and_mip_agree_with_enumeration(spec):
    pytest.importorskip("pyscipopt")
    problem = spec.build()
    f_opt = enumeration_optimum(problem)
    enum = EnumerationSolver().solve(problem)
    cert = verify(problem, enum.coef, max_subsets=1, time_limit=20)  # forces the MIP
    mip = MIPSolver(time_limit=20).solve(problem)
    scale = max(abs(f_opt), objective_tolerance(problem, enum.coef) / 1e-9, 1e-300)
    # the MIP's answer is the exact backsolve on its support: it matches the optimum unless
    # the backend's tolerance (1e-6 relative) let it stop on a support just as good
    assert mip.objective <= f_opt + 1e-6 * scale, f"{spec}: MIP {mip.objective!r} vs {f_opt!r}"
    assert cert.lower_bound <= f_opt + 1e-6 * scale, spec
    assert mip.lower_bound is None or mip.lower_bound <= f_opt + 1e-6 * scale, spec
    certified = verify(problem, enum.coef)  # enumeration path
    assert certified.is_optimal and abs(certified.optimum - f_opt) <= 1e-9 * scale, spec


# ---------------------------------------------------------------------------- invalid input
_BAD_INPUTS = {
    "A with NaN": lambda A, b: dict(A=np.where(A > 1, np.nan, A), b=b, k=1),
    "A with inf": lambda A, b: dict(A=np.where(A > 1, np.inf, A), b=b, k=1),
    "b with NaN": lambda A, b: dict(A=A, b=np.full_like(b, np.nan), k=1),
    "b wrong length": lambda A, b: dict(A=A, b=b[:-1], k=1),
    "b 2-D": lambda A, b: dict(A=A, b=b[:, None], k=1),
    "A 1-D": lambda A, b: dict(A=A[:, 0], b=b, k=1),
    "A 3-D": lambda A, b: dict(A=A[None], b=b, k=1),
    "A empty": lambda A, b: dict(A=A[:, :0], b=b, k=1),
    "A complex": lambda A, b: dict(A=A.astype(complex), b=b, k=1),
    "A strings": lambda A, b: dict(A=A.astype(str), b=b, k=1),
    "k zero": lambda A, b: dict(A=A, b=b, k=0),
    "k > p": lambda A, b: dict(A=A, b=b, k=A.shape[1] + 1),
    "k float": lambda A, b: dict(A=A, b=b, k=1.5),
    "k string": lambda A, b: dict(A=A, b=b, k="2"),
    "k bool": lambda A, b: dict(A=A, b=b, k=True),
    "ridge negative": lambda A, b: dict(A=A, b=b, k=1, ridge=-1.0),
    "ridge NaN": lambda A, b: dict(A=A, b=b, k=1, ridge=float("nan")),
    "ridge inf": lambda A, b: dict(A=A, b=b, k=1, ridge=float("inf")),
    "ridge string": lambda A, b: dict(A=A, b=b, k=1, ridge="1"),
    "w_ref wrong length": lambda A, b: dict(A=A, b=b, k=1, w_ref=np.ones(A.shape[1] + 1)),
    "w_ref NaN": lambda A, b: dict(A=A, b=b, k=1, w_ref=np.full(A.shape[1], np.nan)),
}
_BAD_SOLVE_ARGS = {
    "w0 NaN": lambda p: dict(w0=np.full(p, np.nan)),
    "w0 wrong length": lambda p: dict(w0=np.ones(p + 2)),
    "max_iter 0": lambda p: dict(max_iter=0),
    "tol negative": lambda p: dict(tol=-1.0),
    "max_swaps negative": lambda p: dict(max_swaps=-1),
    "swap_rounds float": lambda p: dict(swap_rounds=1.5),
    "n_perturbations string": lambda p: dict(n_perturbations="many"),
    "random_state string": lambda p: dict(random_state="seed"),
}


@pytest.mark.parametrize("case", sorted(_BAD_INPUTS))
def test_invalid_problem_raises_value_or_type_error(case):
    rng = np.random.default_rng(0)
    A, b = rng.standard_normal((8, 5)), rng.standard_normal(8)
    with pytest.raises((ValueError, TypeError)):
        SparseProblem(**_BAD_INPUTS[case](A, b))


@pytest.mark.parametrize("case", sorted(_BAD_SOLVE_ARGS))
def test_invalid_solve_arguments_raise_value_or_type_error(case):
    rng = np.random.default_rng(0)
    problem = SparseProblem(rng.standard_normal((8, 5)), rng.standard_normal(8), 2)
    with pytest.raises((ValueError, TypeError)):
        solve(problem, n_perturbations=2, **_BAD_SOLVE_ARGS[case](5))


def test_problem_is_not_a_problem():
    with pytest.raises(TypeError):
        solve("not a problem")
    with pytest.raises(TypeError):
        EnumerationSolver().solve(np.ones((3, 3)))


# ---------------------------------------------------------------------------- regressions
def _issue_zero_column(dtype=np.float64):
    rng = np.random.default_rng(13)
    A = rng.standard_normal((35, 5)).astype(dtype)
    A[:, 3] = 0.0
    return A, rng.standard_normal(35), rng.standard_normal(5)


@pytest.mark.parametrize("random_state", range(8))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_issue13_zero_column_ridge0(random_state, dtype):
    """Issue 13's saved input: A 35x5, column 3 all zeros, b random, k=2, ridge 0, w_ref."""
    A, b, w_ref = _issue_zero_column(dtype)
    for k in range(1, 6):
        problem = SparseProblem(A, b, k, w_ref=w_ref)
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            sol = solve(problem, random_state=random_state)
        assert np.all(np.isfinite(sol.coef)) and sol.n_nonzero <= k
        assert 3 not in sol.support  # a zero column never helps
        if math.comb(5, k) <= 10:
            assert sol.objective <= enumeration_optimum(problem) + objective_tolerance(
                problem, sol.coef
            )


@pytest.mark.parametrize("seed", range(6))
def test_issue13_duplicate_and_collinear_columns_ridge0(seed):
    """Dead neurons and one-hot features: columns that coincide or are nearly collinear."""
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((24, 12))
    A[:, 5] = A[:, 2]
    A[:, 7] = -2.0 * A[:, 2]
    A[:, 9] = A[:, 4] + 1e-10 * rng.standard_normal(24)
    A[:, 11] = 0.0
    b = A[:, [2, 4, 6]] @ np.array([1.0, -2.0, 0.5]) + 0.01 * rng.standard_normal(24)
    for k in (1, 3, 5, 11):
        problem = SparseProblem(np.asfortranarray(A), b, k)
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            sol = solve(problem, random_state=seed)
        assert not check_solution(problem, sol)


@pytest.mark.parametrize("scale", [1e6, 1e-6])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_issue13_reported_objective_is_the_true_one_at_any_scale(scale, dtype):
    """A scaled by 1e6 once gave a negative objective (float64) and 12.2970 for 12.2978
    (float32): the objective must come from the residual."""
    for seed in range(10):
        rng = np.random.default_rng(seed)
        A = (rng.standard_normal((30, 20)) * scale).astype(dtype)
        b = rng.standard_normal(30) * (1.0 if seed % 2 else scale)
        for ridge in (0.0, 1e-3):
            problem = SparseProblem(A, b, 5, ridge=ridge)
            sol = solve(problem, random_state=0)
            f = problem.objective(sol.coef)
            assert sol.objective >= 0.0
            assert abs(sol.objective - f) <= objective_tolerance(problem, sol.coef)
            assert abs(sol.objective - f) <= (1e-9 if dtype == np.float64 else 1e-5) * f + 1e-300


@pytest.mark.parametrize("ridge", [0.0, 1e-3])
def test_issue13_backsolve_on_a_wide_support_never_forms_k_by_k(ridge):
    """k > n: the backsolve works in the n-dimensional space (a 20000 x 20000 float64 system
    would need 3.2 GB); ridge = 0 gives the minimum-norm interpolant."""
    import tracemalloc

    from sparse_regression.backsolve import backsolve_support
    from sparse_regression.quadratic import Quadratic

    rng = np.random.default_rng(0)
    n, s = 6, 20_000
    A = np.asfortranarray(rng.standard_normal((n, s)).astype(np.float32))
    A[:, 7] = 0.0
    b = rng.standard_normal(n)
    w_ref = rng.standard_normal(s)
    tracemalloc.start()
    try:
        wS, f = backsolve_support(Quadratic(A, b, ridge, w_ref if ridge else None), np.arange(s))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 50 * 2**20, f"peak {peak / 2**20:.0f} MiB"
    assert np.all(np.isfinite(wS)) and f >= 0
    problem = SparseProblem(A, b, s, ridge=ridge, w_ref=w_ref if ridge else None)
    assert abs(problem.objective(wS) - f) <= objective_tolerance(problem, wS)
    if ridge == 0.0:
        assert f <= 1e-20 * float(b @ b)  # n < s generic columns interpolate


def test_estimators_are_deterministic_by_default():
    from sparse_regression import SparseLinearRegression, SparseLinearRegressionCV

    assert SparseLinearRegression().random_state == 0
    assert SparseLinearRegressionCV().random_state == 0
    rng = np.random.default_rng(3)
    X = rng.standard_normal((40, 25))
    X[:, 1:] += 0.9 * X[:, :-1]  # correlated: perturbation rounds matter
    y = X[:, :6] @ rng.standard_normal(6) + rng.standard_normal(40)
    fits = [SparseLinearRegression(n_nonzero_coefs=5).fit(X, y).coef_ for _ in range(2)]
    np.testing.assert_array_equal(fits[0], fits[1])


#: Cases the fuzz found failing before the issue-13 fixes (ZeroDivisionError in best_swap,
#: division by zero in the rank-1 updates, invalid values in matmul, negative objectives, a
#: wrong swap-optimal label), saved verbatim.
_SAVED_FAILURES = [
    CaseSpec(35, 50, 4, "float64", "F", "duplicate_columns", 0.0, False, 165784573),
    CaseSpec(1, 7, 2, "float32", "F", "identical_columns", 0.0, True, 4351248),
    CaseSpec(19, 7, 7, "float64", "C", "rank_one", 0.0, True, 207844878),
    CaseSpec(24, 5, 2, "float64", "C", "duplicate_columns", 0.0, True, 1470810523),
    CaseSpec(5, 5, 3, "float64", "F", "rank_one", 0.0, False, 1654204977),
    CaseSpec(30, 60, 56, "float64", "F", "scaled_A_1e6", 0.0, False, 733814799),
    CaseSpec(35, 3, 1, "float64", "F", "scaled_A_1e6", 0.001, False, 1816588663),
    CaseSpec(1, 24, 14, "float32", "C", "scaled_columns_1e6", 1e-08, True, 1117269913),
    CaseSpec(40, 60, 59, "float64", "F", "none", 0.0, False, 1854099054),
    CaseSpec(16, 22, 3, "float64", "C", "rank_one", 1e-08, True, 421255895),
    CaseSpec(17, 24, 18, "float32", "C", "scaled_columns_1e6", 1e-08, False, 1404641322),
    # fuzz case 67202: zero columns, k > n; the splicing start claimed F = 3e-29 for a point
    # with F = 1.89 (its backsolve value), and the portfolio kept it over an exact IHT point
    CaseSpec(20, 27, 23, "float64", "F", "zero_columns", 0.0, True, 95320019),
    # fuzz case 98715: float32 Gram rows of 1e6-scaled columns overflowed in the swap check
    CaseSpec(16, 52, 17, "float32", "F", "scaled_columns_1e6", 1e-08, False, 523259187),
    # fuzz case 149433: A scaled 1e-6, k > n; an exact-check move's backsolve value (7e-37) hid
    # a point with F = 1.2e-8 and the portfolio took it over its incumbent
    CaseSpec(10, 24, 11, "float64", "F", "scaled_A_1e-6", 0.0, True, 1184587484),
    # fuzz cases 202456, 204399: near-collinear columns; the IHT start's recomputed value sat
    # above the value its history held
    CaseSpec(38, 35, 14, "float64", "C", "near_collinear", 0.0, True, 1456161202),
    CaseSpec(29, 8, 3, "float32", "C", "near_collinear", 0.0, True, 1395287875),
    # fuzz case 481527: 55 identical columns, n = 2, k = p (checked further below)
    CaseSpec(2, 55, 55, "float32", "F", "identical_columns", 0.0, True, 290564286),
]


def test_fuzz_481527_rank_one_support_wider_than_n():
    # All 55 columns identical, n = 2, k = p, ridge 0: the minimum-norm least squares on the
    # full support kept a rounding singular value (7e-16 of the largest) and returned w ~ 5e13
    # with F above F(0), so EnumerationSolver (which scans only that support) returned 0.
    spec = _SAVED_FAILURES[-1]
    problem = spec.build()
    f_opt = enumeration_optimum(problem)
    en = EnumerationSolver().solve(problem)
    assert abs(en.objective - f_opt) <= objective_tolerance(problem, en.coef)
    assert en.objective < problem.objective(np.zeros(problem.n_features))
    wS, f = backsolve_support(problem.quadratic, np.arange(problem.n_features))
    assert np.abs(wS).max() < 1e3 and f == pytest.approx(f_opt, rel=1e-9)


@pytest.mark.parametrize("spec", _SAVED_FAILURES, ids=lambda s: f"{s.degeneracy}-{s.seed}")
def test_issue13_saved_fuzz_failures(spec):
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        bad = check_case(spec)
    assert not bad, bad


@pytest.mark.parametrize(
    "spec",
    [
        CaseSpec(8, 13, 4, "float64", "C", "near_collinear", 0.0, True, 1930100816),
        CaseSpec(14, 3, 2, "float32", "C", "duplicate_columns", 0.0, False, 211376500),
    ],
    ids=["near-collinear", "duplicates"],
)
def test_enumeration_scores_near_collinear_supports_exactly(spec):
    """Fuzz case 52903: columns differing by 1e-9 (ridge 0). The Gram scores cannot tell them
    from exact copies, so the enumeration once returned F = 0.490 for an optimum of 0.0687.
    Fuzz case 100684: exact duplicates; the least-squares fallback kept a 1e-16 singular value
    (w ~ 1e14, F above F(0))."""
    problem = spec.build()
    sol = EnumerationSolver().solve(problem)
    f_opt = enumeration_optimum(problem)
    assert abs(sol.objective - f_opt) <= objective_tolerance(problem, sol.coef)
    assert sol.optimality == "certified"
