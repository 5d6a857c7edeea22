import sys

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.linear_model import OrthogonalMatchingPursuit

import solvers
from solvers import AbessSolver, MagnitudeSolver, OMPSolver
from sparse_regression import IHTSolver, Solver, SparseProblem, SparseSolution

from ._solver_helpers import rel_diff, small_problem

PARAMS = {
    "iht": {"max_iter": 200},
    "mip": {"time_limit": 20.0},
    "enumerate": {"max_subsets": 10**5},
    "omp": {},
    "magnitude": {"refit": True},
    "abess": {"max_iter": 10},
}


def _problems():
    return [
        small_problem(0, n=20, p=10, k=3),
        small_problem(1, n=12, p=10, k=4, ridge=0.5, with_ref=True),
        SparseProblem(small_problem(2).A.astype(np.float32), small_problem(2).b, 2),
    ]


@pytest.mark.parametrize("name", solvers.available())
def test_every_solver_follows_the_protocol(name):
    solver = solvers.get(name, **PARAMS[name])
    assert isinstance(solver, Solver)
    twin = clone(solver)
    assert type(twin) is type(solver) and twin is not solver
    assert twin.get_params() == solver.get_params()
    for problem in _problems():
        before = (problem.A.copy(), problem.b.copy(), problem.w_ref.copy())
        warm = np.zeros(problem.n_features)
        warm[: problem.k] = 1.0
        for ws in (None, warm):
            sol = solver.solve(problem, warm_start=ws)
            assert isinstance(sol, SparseSolution)
            assert sol.coef.shape == (problem.n_features,) and sol.coef.dtype == np.float64
            assert np.count_nonzero(sol.coef) <= problem.k
            assert rel_diff(sol.objective, problem.objective(sol.coef)) < 1e-12
            assert np.array_equal(sol.support, np.flatnonzero(sol.coef))
            assert isinstance(sol.solver, str) and sol.solver
        assert np.array_equal(before[0], problem.A) and np.array_equal(before[1], problem.b)
        assert np.array_equal(before[2], problem.w_ref)


def test_get_returns_the_core_and_sets_params():
    assert isinstance(solvers.get("iht"), IHTSolver)
    mip = solvers.get("MIP", time_limit=5.0, backend="scip")
    assert mip.get_params()["time_limit"] == 5.0 and mip.backend == "scip"
    assert clone(mip).get_params() == mip.get_params()


def test_get_rejects_unknown_names_and_params():
    with pytest.raises(ValueError, match="valid names.*enumerate"):
        solvers.get("lasso")
    with pytest.raises(ValueError, match="time_limit"):
        solvers.get("mip", timelimit=3)


def test_abess_missing_names_the_extra(monkeypatch):
    monkeypatch.setattr(solvers.registry, "abess_available", lambda: False)
    with pytest.raises(ImportError, match=r"chita\[bench\]"):
        solvers.get("abess")
    monkeypatch.setitem(sys.modules, "abess.linear", None)
    monkeypatch.setitem(sys.modules, "abess", None)
    with pytest.raises(ImportError, match=r"chita\[bench\]"):
        AbessSolver().solve(small_problem(0))
    assert "abess" not in solvers.available()


def test_solvers_package_does_not_import_heavy_optional_modules():
    code = (
        "import sys, solvers; solvers.get('mip'); "
        "bad = [m for m in ('torch', 'cvxpy', 'pyscipopt') if m in sys.modules]; "
        "assert not bad, bad"
    )
    import subprocess

    subprocess.run([sys.executable, "-c", code], check=True)


def test_estimator_uses_the_solver_it_is_given():
    # The estimator must run the given solver (not silently the core one): its solution is
    # that solver's, on the same problem the solver would see directly.
    from sparse_regression import SparseLinearRegression

    problem = small_problem(1, n=30, p=8, k=3)  # an instance where OMP is suboptimal
    direct = {name: solvers.get(name).solve(problem) for name in ("mip", "enumerate", "omp")}
    for name, ref in direct.items():
        est = SparseLinearRegression(
            n_nonzero_coefs=3, fit_intercept=False, solver=solvers.get(name)
        )
        est.fit(problem.A, problem.b)
        assert est.solution_.solver == name
        np.testing.assert_allclose(est.coef_, ref.coef, rtol=1e-9, atol=1e-12)
        assert clone(est).get_params()["solver"].get_params() == solvers.get(name).get_params()
    # the exact solvers find the optimum, which OMP misses on this instance
    assert direct["mip"].objective == pytest.approx(direct["enumerate"].objective, rel=1e-9)
    assert direct["omp"].objective > direct["enumerate"].objective * (1 + 1e-9)


def test_omp_matches_scikit_learn_on_unit_norm_columns():
    for seed in range(5):
        problem = small_problem(seed, n=30, p=15, k=4, rho=0.4)
        A = problem.A / np.linalg.norm(problem.A, axis=0)
        unit = SparseProblem(A, problem.b, 4)
        ours = OMPSolver().solve(unit)
        ref = OrthogonalMatchingPursuit(n_nonzero_coefs=4, fit_intercept=False).fit(A, unit.b)
        assert np.array_equal(ours.support, np.flatnonzero(ref.coef_))
        assert np.allclose(ours.coef, ref.coef_, atol=1e-10)


def test_omp_respects_ridge_and_reference():
    # OMP on F equals plain OMP on the augmented least-squares problem.
    problem = small_problem(4, n=12, p=10, k=3, ridge=0.7, with_ref=True)
    root = np.sqrt(problem.ridge)
    A_aug = np.vstack([problem.A, root * np.eye(10)])
    b_aug = np.concatenate([problem.b, root * problem.w_ref])
    norms = np.linalg.norm(A_aug, axis=0)
    ref = OrthogonalMatchingPursuit(n_nonzero_coefs=3, fit_intercept=False)
    ref.fit(A_aug / norms, b_aug)
    ours = OMPSolver().solve(problem)
    assert np.array_equal(ours.support, np.flatnonzero(ref.coef_))
    assert ours.optimality == "none"


def test_magnitude_sources_and_refit():
    problem = small_problem(5, n=20, p=10, k=3, ridge=0.5, with_ref=True)
    keep = np.sort(np.argsort(-np.abs(problem.w_ref))[:3])
    sol = MagnitudeSolver().solve(problem)
    assert sol.info["source"] == "w_ref" and np.array_equal(sol.support, keep)
    assert np.array_equal(sol.coef[keep], problem.w_ref[keep])
    refit = MagnitudeSolver(refit=True).solve(problem)
    assert np.array_equal(refit.support, keep) and refit.objective <= sol.objective
    warm = np.arange(10, dtype=float)
    sol = MagnitudeSolver().solve(problem, warm_start=warm)
    assert sol.info["source"] == "warm_start" and np.array_equal(sol.support, [7, 8, 9])
    plain = small_problem(5, n=20, p=10, k=3)
    sol = MagnitudeSolver().solve(plain)
    corr = np.abs(plain.A.T @ plain.b) / np.linalg.norm(plain.A, axis=0)
    assert sol.info["source"] == "correlation" and sol.info["refit"]
    assert np.array_equal(sol.support, np.sort(np.argsort(-corr)[:3]))
    with pytest.raises(ValueError, match="refit"):
        MagnitudeSolver(refit="yes").solve(plain)


def test_abess_finds_a_planted_support():
    pytest.importorskip("abess")
    rng = np.random.default_rng(0)
    A = rng.standard_normal((80, 30))
    beta = np.zeros(30)
    beta[[2, 11, 19, 25]] = [3.0, -2.0, 2.5, -3.0]
    problem = SparseProblem(A, A @ beta + 0.1 * rng.standard_normal(80), 4)
    sol = AbessSolver().solve(problem)
    assert np.array_equal(sol.support, [2, 11, 19, 25])
    with pytest.raises(ValueError, match="max_iter"):
        AbessSolver(max_iter=0).solve(problem)


def test_bad_warm_start_is_rejected_by_every_solver():
    problem = small_problem(0)
    for name in solvers.available():
        with pytest.raises(ValueError, match="shape|w0|warm_start"):
            solvers.get(name, **PARAMS[name]).solve(problem, warm_start=np.ones(3))
