"""The cardinality + cost knapsack projection against an exact MILP (HiGHS via scipy)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import Bounds, LinearConstraint, milp

from sparse_regression.knapsack import CostLevels, knapsack_support, project_knapsack


def milp_optimum(v, k, f, budget):
    p = v.size
    cons = LinearConstraint(np.vstack([np.ones(p), f]), -np.inf, [k, budget])
    res = milp(
        -v,
        constraints=cons,
        integrality=np.ones(p),
        bounds=Bounds(0, 1),
        options={"mip_rel_gap": 0.0},
    )
    assert res.status == 0
    return -res.fun


def random_instance(rng, p, n_levels, integer_costs):
    if integer_costs:
        levels = rng.choice([1, 2, 3, 5, 8, 16, 32, 64, 128, 256], n_levels, replace=False)
    else:
        levels = rng.uniform(0.1, 100.0, n_levels)
    f = levels[rng.integers(0, n_levels, p)].astype(np.float64)
    v = rng.standard_normal(p) ** 2
    k = int(rng.integers(1, p + 1))
    budget = float(rng.uniform(0.05, 1.0) * f.sum())
    return v, k, f, budget


@pytest.mark.parametrize("seed", range(40))
def test_matches_milp_optimum(seed):
    rng = np.random.default_rng(seed)
    p = int(rng.integers(5, 80))
    v, k, f, budget = random_instance(rng, p, int(rng.integers(2, 8)), seed % 2 == 0)
    res = knapsack_support(v, k, f, budget)
    assert res.support.size <= k
    assert f[res.support].sum() <= budget * (1 + 1e-12)
    assert np.isclose(res.value, v[res.support].sum())
    opt = milp_optimum(v, k, f, budget)
    assert res.value >= opt * (1 - 1e-9)
    assert res.upper_bound >= opt * (1 - 1e-9)


def test_distinct_costs_every_item_its_own_level():
    rng = np.random.default_rng(3)
    for _ in range(5):
        p = 40
        f = rng.uniform(0.5, 10.0, p)
        v = rng.standard_normal(p) ** 2
        res = knapsack_support(v, 15, f, 0.3 * f.sum())
        assert res.support.size <= 15 and f[res.support].sum() <= 0.3 * f.sum() * (1 + 1e-12)
        assert res.value >= milp_optimum(v, 15, f, 0.3 * f.sum()) * (1 - 1e-9)


def test_equal_costs_reduce_to_top_k():
    rng = np.random.default_rng(0)
    v = rng.standard_normal(50) ** 2
    res = knapsack_support(v, 7, np.full(50, 3.0), 1e9)
    np.testing.assert_array_equal(res.support, np.sort(np.argsort(-v)[:7]))
    # the budget binds instead: 4 items of cost 3 fit in 12.5
    res = knapsack_support(v, 7, np.full(50, 3.0), 12.5)
    np.testing.assert_array_equal(res.support, np.sort(np.argsort(-v)[:4]))


def test_zero_cost_items_and_zero_budget():
    v = np.array([5.0, 4.0, 3.0, 2.0, 1.0])
    f = np.array([0.0, 1.0, 0.0, 1.0, 0.0])
    res = knapsack_support(v, 2, f, 0.0)
    np.testing.assert_array_equal(res.support, [0, 2])
    res = knapsack_support(v, 5, f, 1.0)
    np.testing.assert_array_equal(res.support, [0, 1, 2, 4])


def test_greedy_fill_beats_prefix_rounding():
    # Ranked by value, the expensive item 0 comes first and does not fit; the prefix rounding
    # of the LP order would stop there, the fill keeps going.
    v = np.array([10.0, 3.0, 2.9, 2.8])
    f = np.array([100.0, 1.0, 1.0, 1.0])
    res = knapsack_support(v, 4, f, 3.0)
    np.testing.assert_array_equal(res.support, [1, 2, 3])


def test_projection_keeps_u_on_support_and_reuses_levels():
    rng = np.random.default_rng(1)
    u = rng.standard_normal(30)
    f = rng.choice([1.0, 4.0, 9.0], 30)
    levels = CostLevels(f)
    w, S = project_knapsack(u, 10, f, 20.0, levels=levels)
    assert np.count_nonzero(w) <= 10 and f[S].sum() <= 20.0
    np.testing.assert_array_equal(w[S], u[S])
    assert np.all(w[np.setdiff1d(np.arange(30), S)] == 0)
    assert levels.n_levels == 3 and np.isclose(levels.total, f.sum())


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"values": -np.ones(3)}, "values"),
        ({"costs": np.array([1.0, -1.0, 1.0])}, "costs"),
        ({"costs": np.ones(4)}, "costs"),
        ({"budget": float("nan")}, "budget"),
        ({"budget": -1.0}, "budget"),
    ],
)
def test_bad_input(kwargs, match):
    args = {"values": np.ones(3), "k": 2, "costs": np.ones(3), "budget": 2.0} | kwargs
    with pytest.raises(ValueError, match=match):
        knapsack_support(**args)
