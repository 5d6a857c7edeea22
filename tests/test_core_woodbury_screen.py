"""The swap round scales with n: sketched screening of the Woodbury column ranking."""

import numpy as np
import pytest

import sparse_regression.constants as C
import sparse_regression.swaps.woodbury_pool as ws
from sparse_regression import SparseProblem, backsolve, solve
from sparse_regression.quadratic import Quadratic
from sparse_regression.woodbury import support_factor, woodbury_sq_norms

from ._core_helpers import objective, sparse_instance


def test_sketched_norms_estimate_exact_ones():
    rng = np.random.default_rng(1)
    n, p = 300, 2000
    A = rng.standard_normal((n, p)).astype(np.float32) * rng.uniform(0.1, 3, p)
    S = np.arange(0, p, 5)
    _, _, L, _ = support_factor(Quadratic(A, rng.standard_normal(n), ridge=0.5), S)
    exact = woodbury_sq_norms(A, L, 0.5)
    est = ws._sketched_sq_norms(A, L, 0.5)
    rel = np.abs(est - exact) / exact
    assert np.median(rel) < 0.1 and rel.max() < 0.5  # sqrt(2/256) = 0.09 relative std
    # and it ranks like the exact values
    assert np.corrcoef(np.argsort(np.argsort(est)), np.argsort(np.argsort(exact)))[0, 1] > 0.95


@pytest.mark.parametrize("seed", [0, 1])
def test_screened_swap_round_monotone_and_exact(seed, monkeypatch):
    X, y = sparse_instance(seed, 120, 900, 20, 0.5, 5.0)
    w_ref = np.random.default_rng(seed).standard_normal(900) * 0.1
    prob = SparseProblem(X.astype(np.float32), y, 300, ridge=0.3, w_ref=w_ref)
    monkeypatch.setattr(C, "SWAP_MAX_WORK", 0)  # force the Woodbury search
    full = solve(prob, active_set=False, swap_rounds=2)
    assert full.info["local_search"] == "woodbury" and "swap_ranking" not in full.info
    monkeypatch.setattr(ws, "WOODBURY_RANK_MAX_WORK", 0)  # screen: SCREEN_FACTOR n_add ranked
    monkeypatch.setattr(ws, "WOODBURY_SCREEN_FACTOR", 1)
    scr = solve(prob, active_set=False, swap_rounds=2)
    assert scr.info["swap_ranking"].startswith("screened: 512 of 900")
    assert scr.objective <= scr.info["iht_objective"] * (1 + 1e-12)
    S = np.flatnonzero(scr.coef)
    assert S.size <= 300
    assert np.allclose(scr.coef[S], backsolve(prob, S)[S], rtol=1e-6, atol=1e-9)
    assert scr.objective == pytest.approx(
        objective(X, y, scr.coef, ridge=0.3, w_ref=w_ref), rel=1e-6
    )
    assert np.all(np.diff(scr.history) <= 1e-9 * abs(scr.history[0]))
