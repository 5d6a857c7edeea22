import numpy as np
import pytest

from solvers import EnumerationSolver, MagnitudeSolver, verify
from sparse_regression import SparseProblem, solve

from ._solver_helpers import ar1_design, rel_diff, small_problem


@pytest.mark.parametrize("max_subsets", [10**6, 1])  # enumeration, then MIP
@pytest.mark.parametrize("ridge,with_ref", [(0.0, False), (0.5, True)])
def test_verify_optimal_and_suboptimal(max_subsets, ridge, with_ref):
    problem = small_problem(11, n=20, p=10, k=3, ridge=ridge, with_ref=with_ref)
    exact = EnumerationSolver().solve(problem)
    cert = verify(problem, exact.coef, time_limit=20, max_subsets=max_subsets)
    assert cert.solver == ("enumerate" if max_subsets > 1 else "mip")
    assert cert.is_optimal and cert.status == "optimal"
    assert cert.gap < 1e-6
    assert rel_diff(cert.objective, exact.objective) < 1e-12

    worse = MagnitudeSolver().solve(problem).coef
    worse[np.argmax(np.abs(worse))] = 0.0
    cert = verify(problem, worse, time_limit=20, max_subsets=max_subsets)
    true_gap = (problem.objective(worse) - exact.objective) / problem.objective(worse)
    assert true_gap > 0.01
    assert not cert.is_optimal
    assert cert.gap == pytest.approx(true_gap, rel=1e-5)
    assert rel_diff(cert.optimum, exact.objective) < 1e-6
    assert rel_diff(problem.objective(cert.best_coef), cert.optimum) < 1e-12


def test_verify_time_limit_lower_bound():
    rng = np.random.default_rng(0)
    n, p, k = 60, 60, 10
    A = ar1_design(rng, n, p, 0.8)
    beta = np.zeros(p)
    beta[rng.choice(p, k, replace=False)] = rng.choice([-1.0, 1.0], k)
    problem = SparseProblem(A, A @ beta + rng.standard_normal(n), k)
    coef = solve(problem).coef
    cert = verify(problem, coef, time_limit=0.2, max_subsets=1)
    assert cert.status == "time_limit" and not cert.is_optimal
    assert cert.lower_bound <= cert.optimum <= cert.objective
    assert cert.gap > 0


@pytest.mark.parametrize(
    "coef,match",
    [
        (np.zeros(5), "shape"),
        (np.zeros((10, 1)), "shape"),
        (np.full(10, np.nan), "NaN"),
        (np.ones(10), "nonzeros"),
        (np.array(["a"] * 10), "real"),
    ],
)
def test_verify_rejects_bad_coef(coef, match):
    problem = small_problem(0, n=20, p=10, k=3)
    with pytest.raises(ValueError, match=match) as info:
        verify(problem, coef)
    assert "coef" in str(info.value)


def test_verify_rejects_bad_options():
    problem = small_problem(0, n=20, p=10, k=3)
    with pytest.raises(ValueError, match="rtol"):
        verify(problem, np.zeros(10), rtol=-1)
    with pytest.raises(ValueError, match="time_limit"):
        verify(problem, np.zeros(10), time_limit=-1, max_subsets=1)
    with pytest.raises(ValueError, match="progress"):
        verify(problem, np.zeros(10), progress="yes")


def test_verify_progress_lines(capsys):
    problem = small_problem(11, n=20, p=10, k=3, ridge=0.5, with_ref=True)
    coef = EnumerationSolver().solve(problem).coef
    # a tiny interval: a line after every LP/node SCIP solves, so at least one appears
    cert = verify(problem, coef, time_limit=20, max_subsets=1, progress=1e-9)
    lines = capsys.readouterr().out.splitlines()
    assert cert.is_optimal
    assert lines[0].startswith("verify: p=10, k=3") and "MIP, time limit 20 s" in lines[0]
    assert lines[1].startswith("MIP (SCIP via pyscipopt)") and "incumbent F=" in lines[1]
    periodic = [ln for ln in lines[2:-2] if ln.startswith("MIP ")]
    assert periodic and all("nodes" in ln and "lower bound" in ln for ln in periodic)
    assert lines[-2].startswith("MIP ") and lines[-2].endswith("status optimal")
    assert lines[-1].startswith("verify: optimal") and "optimal at rtol" in lines[-1]
    # enumeration says so; nothing is printed without progress
    verify(problem, coef, progress=True)
    assert "enumerating them" in capsys.readouterr().out
    verify(problem, coef, max_subsets=1)
    assert capsys.readouterr().out == ""
