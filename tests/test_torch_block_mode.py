"""Block mode without cliffs and a truthful report (issue 11)."""

import numpy as np
import pytest
import torch
from torch import nn

import sparse_regression.constants as C
from adapters.demo.data import load_digits
from adapters.demo.train import accuracy, train
from adapters.torch import prune


@pytest.fixture(scope="module")
def digits_mlp():
    """MLP 64-32-10 trained on 8x8 digits (about 95% test accuracy)."""
    torch.manual_seed(0)
    d = load_digits(8)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    train(model, d.X_train, d.y_train, epochs=15, lr=1e-2)
    return model, d, {k: v.clone() for k, v in model.state_dict().items()}


def _loss(model, X, y):
    with torch.no_grad():
        return float(nn.functional.cross_entropy(model(X), y))


@pytest.mark.parametrize("sparsity", [0.9, 0.95])
def test_block_mode_not_worse_than_magnitude(digits_mlp, sparsity):
    model, d, state = digits_mlp
    out = {}
    for name, kw in {"magnitude": {"method": "magnitude"}, "block": {"block_size": 250}}.items():
        model.load_state_dict(state)
        rep = prune(
            model, (d.X_train, d.y_train), sparsity=sparsity, n_samples=300, progress=False, **kw
        )
        assert rep.achieved_sparsity == pytest.approx(sparsity, abs=1e-3)
        out[name] = (_loss(model, d.X_train, d.y_train), accuracy(model, d.X_test, d.y_test), rep)
    rep = out["block"][2]
    choice = rep.history[-1].block_choice
    # by construction: the chosen point has the lowest held-out loss, magnitude included
    assert choice["holdout_loss"][choice["chosen"]] <= choice["holdout_loss"]["magnitude"]
    # and on the whole training set and the test set, block mode beats magnitude
    assert out["block"][0] <= out["magnitude"][0]
    assert out["block"][1] >= out["magnitude"][1]
    # the reported objectives are the full (cross-block) model, not the block-diagonal sum
    assert rep.objective <= rep.objective_magnitude
    assert rep.n_samples == 300 and rep.n_holdout == 75


def test_block_mode_full_model_objective_is_exact(digits_mlp):
    """The full-model objective accumulated block by block equals 1/2||A(w - w_ref)||^2 + ridge
    terms computed from A whole (magnitude point: no ridge term differences)."""
    from adapters.torch.block_mode import BlockCombiner

    rng = np.random.default_rng(0)
    n, p = 20, 30
    A = rng.standard_normal((n, p)).astype(np.float32)
    w = rng.standard_normal(p)
    mag = np.where(np.abs(w) > 0.8, w, 0.0)
    x = np.where(rng.random(p) < 0.4, rng.standard_normal(p), 0.0)
    rho = [0.3, 0.7, 1.1]
    g = np.where(rng.random(p) < 0.3, rng.standard_normal(p), 0.0)  # a global solve's answer
    comb = BlockCombiner(n, first_order=True)
    for (lo, hi), r in zip([(0, 10), (10, 22), (22, 30)], rho, strict=True):
        comb.add(A[:, lo:hi], w[lo:hi], mag[lo:hi], x[lo:hi], x[lo:hi] != 0, r, g[lo:hi])
    ridge = np.repeat(rho, [10, 12, 8])
    e = 1 / np.sqrt(n)
    for alpha in (0.0, 0.5, 1.0):
        pt = np.where(x != 0, w + alpha * (x - w), 0.0)
        res = A.astype(np.float64) @ (pt - w) + e
        want = 0.5 * res @ res + 0.5 * np.sum(ridge * (pt - w) ** 2)
        assert comb.objective(alpha) == pytest.approx(want, rel=1e-6)
    for point, got in ((mag, comb.objective_magnitude), (g, comb.objective_global)):
        res = A.astype(np.float64) @ (point - w) + e
        assert got == pytest.approx(
            0.5 * res @ res + 0.5 * np.sum(ridge * (point - w) ** 2), rel=1e-6
        )


class _Recorder:
    """The default solver, recording each problem's k, width, A and answer."""

    def __init__(self):
        from adapters.torch.pruner import default_solver

        self.inner = default_solver(local_search=True, random_state=0)
        self.problems = []

    def solve(self, problem, warm_start=None):
        sol = self.inner.solve(problem, warm_start=warm_start)
        A = np.array(problem.A)
        self.problems.append({"k": problem.k, "A": A, "coef": sol.coef.copy()})
        return sol


def _recorded_block_prune(model, d):
    rec = _Recorder()
    kw = dict(sparsity=0.9, n_samples=300, block_size=250, progress=False, solver=rec)
    return rec, prune(model, (d.X_train, d.y_train), **kw)


def test_block_mode_splits_k_by_a_global_solve(digits_mlp):
    """With memory for it, one unblocked solve on the same samples comes first; each block
    then keeps exactly as many weights as that solve kept in it, starting from its support."""
    model, d, state = digits_mlp
    model.load_state_dict(state)
    rec, rep = _recorded_block_prune(model, d)
    glob, blocks = rec.problems[0], rec.problems[1:]
    total = rep.total
    assert glob["A"].shape == (300, total) and glob["k"] == total - int(0.9 * total + 0.5)
    support = glob["coef"] != 0
    lo = 0
    for pb in blocks:
        hi = lo + pb["A"].shape[1]
        np.testing.assert_array_equal(pb["A"], glob["A"][:, lo:hi])  # same Fisher, sliced
        assert pb["k"] == support[lo:hi].sum()
        lo = hi
    assert lo == total
    choice = rep.history[-1].block_choice
    assert choice["allocation"] == "global solve on 300 samples"
    assert "global solve" in choice["holdout_loss"]
    assert any("global solve on 300 of the 300 samples" in x for x in rep.notes)
    best = min(choice["holdout_loss"].values())
    assert choice["holdout_loss"][choice["chosen"]] == best


def test_block_mode_falls_back_to_magnitude_split(digits_mlp, monkeypatch):
    """When fewer than BLOCK_ALLOC_MIN_SAMPLES samples of the global problem fit the memory
    limit, k is split by magnitude, and the report says why."""
    from adapters.torch.allocation import topk_mask
    from adapters.torch.planning import plan_problems

    monkeypatch.setattr("adapters.torch.pruner.allocation_samples", lambda *a: 50)
    model, d, state = digits_mlp
    model.load_state_dict(state)
    w = torch.cat([p.detach().reshape(-1) for p in model.parameters() if p.dim() > 1])
    rec, rep = _recorded_block_prune(model, d)
    mag = topk_mask(np.abs(w.double().numpy()), rep.total - int(0.9 * rep.total + 0.5))
    ranges = plan_problems([(0, 2048), (2048, rep.total)], rep.total, "global", 250)
    want = [int(mag[r.lo : r.hi].sum()) for r in ranges]
    assert [pb["k"] for pb in rec.problems] == [
        k for k, r in zip(want, ranges, strict=True) if 0 < k < r.size
    ]
    assert rep.history[-1].block_choice["allocation"] == "magnitude"
    assert "global solve" not in rep.history[-1].block_choice["holdout_loss"]
    assert any("split across blocks by magnitude" in x for x in rep.notes)


def test_allocation_samples_is_the_largest_that_fits():
    from adapters.torch.planning import allocation_samples, global_problem_bytes

    total, k = 5000, 400
    for m in (1, 37, 250):
        limit = global_problem_bytes(m, total, k)
        assert allocation_samples(1000, total, k, limit) == m
        assert allocation_samples(1000, total, k, limit - 1) == m - 1
    assert allocation_samples(1000, total, k, 10**12) == 1000


def test_report_states_skipped_swap_round(digits_mlp, monkeypatch):
    model, d, state = digits_mlp
    model.load_state_dict(state)
    monkeypatch.setattr(C, "WOODBURY_MAX_WORK", 0)
    monkeypatch.setattr(C, "SWAP_MAX_WORK", 0)
    rep = prune(model, (d.X_train, d.y_train), sparsity=0.9, n_samples=200, progress=False)
    skipped = [x for x in rep.warnings if "swap round skipped" in x]
    assert len(skipped) == 1 and "multiply-adds" in skipped[0]
    assert "WARNING: stage 1: swap round skipped" in rep.summary()
    assert rep.to_dict()["warnings"] == rep.warnings


def test_report_samples_used_and_reality_check(digits_mlp):
    model, d, state = digits_mlp
    model.load_state_dict(state)
    X, y = d.X_train[:150], d.y_train[:150]
    with pytest.warns(UserWarning, match="fewer than n_samples"):
        rep = prune(model, (X, y), sparsity=0.5, n_samples=1000, progress=False)
    assert rep.n_samples == 150 and rep.n_samples_requested == 1000
    assert any("1000 requested, 150 used" in x for x in rep.warnings)
    assert any("reuses" in x for x in rep.notes)  # no independent held-out slice
    h = rep.history[-1]
    model.load_state_dict(state)
    before = _loss(model, X[-h_size(rep) :], y[-h_size(rep) :])
    assert h.loss_before == pytest.approx(before, rel=1e-5)
    assert h.predicted_change == pytest.approx(rep.objective, rel=1e-9)  # b = A w_bar


def h_size(rep):
    return rep.n_holdout


def test_reality_check_warns_when_model_fails(digits_mlp):
    """At 98% sparsity in one shot the local model is far off: the report says so."""
    model, d, state = digits_mlp
    model.load_state_dict(state)
    rep = prune(model, (d.X_train, d.y_train), sparsity=0.98, n_samples=200, progress=False)
    h = rep.history[-1]
    assert h.actual_change > h.predicted_change
    assert h.model_disagrees()
    assert any("not to be trusted" in x and "chita++" in x for x in rep.warnings)
