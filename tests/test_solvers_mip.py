import sys

import numpy as np
import pytest
from sklearn.datasets import load_diabetes

from solvers import EnumerationSolver, MIPSolver
from solvers.big_m import safe_big_m
from sparse_regression import SparseProblem, solve

from ._solver_helpers import ar1_design, rel_diff, small_problem

pytest.importorskip("pyscipopt")
pytest.importorskip("cvxpy")

# 38 seeded instances: plain least squares and ridge with a reference point, n > p, plus
# p > n with ridge (delta = 0, perspective on the ridge only) and p > n with k = 2 and no
# ridge (big-M from the Gershgorin bound).
CASES = (
    [(seed, 20, None, 0.0, False) for seed in range(16)]
    + [(seed, 20, None, 0.8, True) for seed in range(16)]
    + [(seed, 8, None, 0.8, True) for seed in range(16, 20)]
    + [(seed, 8, 2, 0.0, False) for seed in range(20, 22)]
)


@pytest.mark.parametrize("seed,n,k,ridge,with_ref", CASES)
def test_mip_matches_enumeration(seed, n, k, ridge, with_ref):
    rng = np.random.default_rng(seed)
    p = int(rng.integers(9, 13))
    k = k or int(rng.integers(2, 5))
    problem = small_problem(seed, n=n, p=p, k=k, rho=0.6, ridge=ridge, with_ref=with_ref)
    exact = EnumerationSolver().solve(problem)
    sol = MIPSolver(time_limit=30).solve(problem)
    assert rel_diff(sol.objective, exact.objective) < 1e-6
    assert sol.objective == pytest.approx(problem.objective(sol.coef), rel=1e-12)
    assert np.count_nonzero(sol.coef) <= k
    assert sol.status == "optimal" and sol.optimality == "certified"
    assert sol.info["big_m"].startswith("safe")
    assert sol.lower_bound <= exact.objective * (1 + 1e-6)
    assert 0.0 <= sol.gap < 1e-5


@pytest.mark.parametrize("seed", range(3))
def test_cvxpy_interface_and_plain_big_m_agree(seed):
    problem = small_problem(100 + seed, n=18, p=9, k=3, ridge=0.4 * seed, with_ref=seed == 2)
    exact = EnumerationSolver().solve(problem)
    for solver in (MIPSolver(interface="cvxpy"), MIPSolver(perspective=False)):
        sol = solver.solve(problem)
        assert rel_diff(sol.objective, exact.objective) < 1e-6
        assert sol.optimality == "certified"
        assert sol.lower_bound <= exact.objective * (1 + 1e-6)


def _diabetes():
    X, y = load_diabetes(return_X_y=True)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    return X, y - y.mean()


def test_diabetes_best_subsets():
    X, y = _diabetes()
    iht_hits = []
    for k in range(1, 11):
        problem = SparseProblem(X, y, k)
        exact = EnumerationSolver().solve(problem)
        sol = MIPSolver(time_limit=30).solve(problem)
        assert sol.optimality == "certified"
        assert np.array_equal(sol.support, exact.support), k
        assert rel_diff(sol.objective, exact.objective) < 1e-9
        iht_hits.append(rel_diff(solve(problem).objective, exact.objective) < 1e-9)
    # docs/solvers.md reports which k the core misses (none at the time of writing).
    assert sum(iht_hits) > 5


@pytest.mark.parametrize("interface", ["auto", "cvxpy"])
def test_time_limit_gives_valid_lower_bound(interface):
    rng = np.random.default_rng(0)
    n, p, k = 60, 60, 10
    A = ar1_design(rng, n, p, 0.8)
    beta = np.zeros(p)
    beta[rng.choice(p, k, replace=False)] = rng.choice([-1.0, 1.0], k)
    b = A @ beta + rng.standard_normal(n)
    problem = SparseProblem(A, b, k)
    sol = MIPSolver(time_limit=0.2, interface=interface).solve(problem)
    assert sol.status == "time_limit"
    assert sol.optimality != "certified"
    best_known = min(sol.objective, solve(problem).objective)
    assert np.isfinite(sol.lower_bound)
    assert 0.0 <= sol.lower_bound <= best_known
    assert sol.gap > 0


@pytest.mark.parametrize("interface", ["auto", "cvxpy"])
def test_interrupted_lower_bound_is_below_the_true_optimum(interface):
    # Small enough for enumeration (C(25, 5) = 53,130), hard enough that 0.05 s of SCIP
    # does not finish: whatever SCIP had reached, the bound must stay below the optimum.
    for seed in range(3):
        problem = small_problem(seed, n=40, p=25, k=5, rho=0.7)
        optimum = EnumerationSolver().solve(problem).objective
        sol = MIPSolver(time_limit=0.05, interface=interface).solve(problem)
        assert sol.status in ("time_limit", "optimal")
        assert sol.info["f_lower"] <= sol.lower_bound <= optimum * (1 + 1e-7)
        assert sol.objective >= optimum * (1 - 1e-12)
        if sol.status == "time_limit":
            assert sol.optimality != "certified"


def test_heuristic_big_m_is_not_certified():
    # ridge = 0 and p > n with coherent columns: no provable bound exists.
    rng = np.random.default_rng(1)
    A = rng.standard_normal((8, 14))
    b = rng.standard_normal(8)
    problem = SparseProblem(A, b, 3)
    assert safe_big_m(problem, problem.objective(np.zeros(14))).M is None
    exact = EnumerationSolver().solve(problem)
    sol = MIPSolver().solve(problem)
    assert sol.info["big_m"].startswith("heuristic")
    assert sol.status == "optimal_within_big_m"
    assert sol.optimality != "certified"
    assert sol.objective >= exact.objective * (1 - 1e-12)
    assert sol.lower_bound <= exact.objective
    assert sol.info["box_lower_bound"] is not None


def test_user_big_m():
    problem = small_problem(5, n=20, p=10, k=3)
    exact = EnumerationSolver().solve(problem)
    safe = safe_big_m(problem, exact.objective).M
    sol = MIPSolver(big_m=10 * float(safe.max())).solve(problem)
    assert sol.optimality == "certified"
    assert rel_diff(sol.objective, exact.objective) < 1e-6
    tiny = 0.05 * float(np.abs(exact.coef).max())
    sol = MIPSolver(big_m=tiny).solve(problem)
    assert sol.optimality != "certified"
    assert sol.status in ("optimal_within_big_m", "time_limit")
    assert sol.objective >= exact.objective * (1 - 1e-12)


@pytest.mark.parametrize(
    "ridge,with_ref,n,p,k",
    [(0.0, False, 30, 10, 3), (0.5, True, 8, 12, 3), (0.0, False, 9, 12, 2), (3.0, True, 25, 9, 4)],
)
def test_safe_big_m_contains_the_optimum(ridge, with_ref, n, p, k):
    for seed in range(5):
        problem = small_problem(seed, n=n, p=p, k=k, rho=0.3, ridge=ridge, with_ref=with_ref)
        exact = EnumerationSolver().solve(problem)
        upper = solve(problem).objective
        bounds = safe_big_m(problem, upper)
        assert bounds.M is not None, bounds.sources
        assert np.all(np.abs(exact.coef) <= bounds.M)
        assert bounds.f_lower <= exact.objective * (1 + 1e-12)
        if n < p and ridge == 0:
            assert bounds.sources == ["restricted-eigenvalue"]


def test_trivial_problems_are_certified():
    rng = np.random.default_rng(2)
    A = rng.standard_normal((10, 5))
    sol = MIPSolver().solve(SparseProblem(A, np.zeros(10), 2))
    assert sol.objective == 0.0 and sol.optimality == "certified" and not np.any(sol.coef)
    problem = SparseProblem(A, rng.standard_normal(10), 5)
    sol = MIPSolver().solve(problem)
    w = np.linalg.lstsq(A, problem.b, rcond=None)[0]
    assert rel_diff(sol.objective, problem.objective(w)) < 1e-12
    assert sol.optimality == "certified" and sol.gap == 0.0


def test_warm_start_better_than_core_is_used():
    problem = small_problem(6, n=20, p=10, k=3)
    exact = EnumerationSolver().solve(problem)
    sol = MIPSolver().solve(problem, warm_start=exact.coef)
    assert sol.info["incumbent_objective"] <= exact.objective * (1 + 1e-12)
    assert rel_diff(sol.objective, exact.objective) < 1e-9


@pytest.mark.parametrize(
    "params,match",
    [
        ({"backend": "CPLEX"}, "backend"),
        ({"backend": 3}, "backend"),
        ({"interface": "jump"}, "interface"),
        ({"backend": "GUROBI", "interface": "pyscipopt"}, "interface"),
        ({"time_limit": 0}, "time_limit"),
        ({"time_limit": "60"}, "time_limit"),
        ({"big_m": -1.0}, "big_m"),
        ({"big_m": np.ones(3)}, "big_m"),
        ({"verbose": "yes"}, "verbose"),
        ({"perspective": None}, "perspective"),
        ({"progress": "yes"}, "progress"),
        ({"progress": -1.0}, "progress"),
    ],
)
def test_mip_rejects_bad_parameters(params, match):
    problem = small_problem(0)
    with pytest.raises(ValueError, match=match):
        MIPSolver(**params).solve(problem)


@pytest.mark.parametrize("backend", ["GUROBI", "MOSEK"])
def test_commercial_backend_missing_names_what_to_install(backend):
    import cvxpy

    if backend in cvxpy.installed_solvers():
        pytest.skip(f"{backend} is installed here")
    with pytest.raises(ImportError, match="pip install"):
        MIPSolver(backend=backend.lower()).solve(small_problem(0))


def test_missing_pyscipopt_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "pyscipopt", None)
    with pytest.raises(ImportError, match=r"chita\[exact\]"):
        MIPSolver().solve(small_problem(0))


def test_mip_warm_start_validation():
    problem = small_problem(0)
    with pytest.raises(ValueError, match="warm_start"):
        MIPSolver().solve(problem, warm_start=np.ones(3))
    with pytest.raises(TypeError, match="SparseProblem"):
        MIPSolver().solve((problem.A, problem.b))
