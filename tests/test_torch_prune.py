"""Properties of adapters.torch.prune: exact sparsity, scopes, objectives, stages, blocks."""

import numpy as np
import pytest
import torch

from adapters.torch import default_solver, prune  # noqa: E402
from adapters.torch.allocation import n_zeros, stage_sparsities  # noqa: E402
from adapters.torch.pruner import CHITA_PP_STAGES

from .chita_torch_helpers import (
    TinyConvNet,
    TinyMLP,
    conv_data,
    reference_per_sample_grads,
    trained_mlp,
)


def _zeros(model, names):
    params = dict(model.named_parameters())
    return {n: int((params[n] == 0).sum()) for n in names}


@pytest.mark.parametrize("method", ["magnitude", "chita", "chita++"])
@pytest.mark.parametrize("sparsity", [0.0, 0.37, 0.8, 0.95])
def test_exact_global_sparsity(method, sparsity):
    torch.manual_seed(0)
    model = TinyConvNet().eval()
    data = conv_data(40)
    stages = 3 if method == "chita++" else 1
    rep = prune(
        model, data, sparsity=sparsity, method=method, n_samples=40, stages=stages, progress=False
    )
    names = ["conv1.weight", "conv2.weight", "fc.weight"]
    assert sorted(rep.masks) == sorted(names)
    total = sum(dict(model.named_parameters())[n].numel() for n in names)
    assert sum(_zeros(model, names).values()) == n_zeros(sparsity, total)
    assert sum(int((~m).sum()) for m in rep.masks.values()) == n_zeros(sparsity, total)
    for n, m in rep.masks.items():
        w = dict(model.named_parameters())[n]
        assert m.dtype == torch.bool and m.shape == w.shape
        assert torch.all(w[~m] == 0) and torch.all(w[m] != 0)
        assert m.any(), f"guard: layer {n} emptied"
    assert rep.kept == total - n_zeros(sparsity, total)


@pytest.mark.parametrize("method", ["magnitude", "chita"])
def test_exact_layer_sparsity_and_ignored_untouched(method):
    torch.manual_seed(1)
    model = TinyConvNet().eval()
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    ids = {k: id(v) for k, v in model.named_parameters()}
    rep = prune(
        model,
        conv_data(32),
        sparsity=0.6,
        method=method,
        scope="layer",
        ignore="conv1.weight",
        targets=["re:.*weight"],
        n_samples=32,
        progress=False,
    )
    assert sorted(rep.masks) == ["bn.weight", "conv2.weight", "fc.weight"]
    zeros = _zeros(model, rep.masks)
    for n, z in zeros.items():
        assert z == n_zeros(0.6, dict(model.named_parameters())[n].numel()), n
    after = dict(model.named_parameters())
    for n in ["conv1.weight", "conv1.bias", "bn.bias", "fc.bias"]:
        assert torch.equal(after[n], before[n]), n
    assert {k: id(v) for k, v in model.named_parameters()} == ids
    assert [r.name for r in rep.layers] == ["bn.weight", "conv2.weight", "fc.weight"]


class _Recorder:
    """The default solver, recording every problem it is given (copies of A, b, w_ref)."""

    def __init__(self):
        self.inner = default_solver(local_search=True, random_state=0)
        self.problems = []

    def solve(self, problem, warm_start=None):
        self.problems.append(
            {
                "A": np.array(problem.A),
                "b": problem.b.copy(),
                "k": problem.k,
                "ridge": problem.ridge,
                "w_ref": problem.w_ref.copy(),
                "warm_start": warm_start.copy(),
            }
        )
        return self.inner.solve(problem, warm_start=warm_start)


def _flat_weights(model, names):
    params = dict(model.named_parameters())
    return torch.cat([params[n].detach().reshape(-1) for n in names]).double().numpy()


def test_chita_objectives_are_the_quadratic_model_and_improve_on_magnitude():
    # The report's two objectives must be F of the quadratic model (built here from
    # independent per-sample gradients) at the magnitude-pruned and at the returned weights,
    # and the solver must actually improve on magnitude pruning, not just not worsen it.
    names = ["fc1.weight", "fc2.weight", "fc3.weight"]
    for s in (0.5, 0.8, 0.9):
        m, (X, y) = trained_mlp()
        w_bar = _flat_weights(m, names)
        G = reference_per_sample_grads(m, names, X[:128], y[:128])
        A = torch.cat([G[n].reshape(128, -1) for n in names], 1).double().numpy() / np.sqrt(128)
        rec = _Recorder()
        rep = prune(m, (X, y), sparsity=s, n_samples=128, progress=False, solver=rec)
        np.testing.assert_allclose(rec.problems[0]["A"], A, rtol=1e-4, atol=1e-7)
        ridge = 1e-3 * float((A**2).sum(0).mean())
        k = len(w_bar) - n_zeros(s, len(w_bar))
        magnitude = np.where(np.abs(w_bar) >= np.sort(np.abs(w_bar))[-k], w_bar, 0.0)

        def F(w, A=A, w_bar=w_bar, ridge=ridge):
            return 0.5 * np.sum((A @ (w - w_bar)) ** 2) + 0.5 * ridge * np.sum((w - w_bar) ** 2)

        assert rep.objective_magnitude == pytest.approx(F(magnitude), rel=1e-4)
        assert rep.objective == pytest.approx(F(_flat_weights(m, names)), rel=1e-4, abs=1e-9)
        assert rep.objective < 0.9 * rep.objective_magnitude


def test_chita_plus_plus_with_one_stage_equals_chita():
    reps, states = [], []
    for method in ("chita", "chita++"):
        m, data = trained_mlp()
        reps.append(
            prune(m, data, sparsity=0.85, method=method, stages=1, n_samples=100, progress=False)
        )
        states.append(m.state_dict())
    for k in states[0]:
        assert torch.equal(states[0][k], states[1][k])
    assert reps[0].objective == reps[1].objective


def test_chita_plus_plus_stages_follow_schedule():
    m, data = trained_mlp()
    rep = prune(m, data, sparsity=0.9, method="chita++", stages=4, n_samples=100, progress=False)
    assert [h.stage for h in rep.history] == [1, 2, 3, 4]
    np.testing.assert_allclose([h.sparsity for h in rep.history], stage_sparsities(0.9, 4, "cubic"))
    assert [h.sparsity for h in rep.history] == sorted(h.sparsity for h in rep.history)
    assert all(h.objective <= h.objective_magnitude * (1 + 1e-9) + 1e-15 for h in rep.history)
    with pytest.raises(ValueError, match="chita\\+\\+"):
        prune(trained_mlp()[0], data, sparsity=0.9, method="chita", stages=3, progress=False)


def test_chita_plus_plus_is_multi_stage_by_default():
    m, data = trained_mlp()
    rep = prune(m, data, sparsity=0.9, method="chita++", n_samples=32, progress=False)
    assert rep.stages == CHITA_PP_STAGES == 8 and len(rep.history) == 8
    np.testing.assert_allclose([h.sparsity for h in rep.history], stage_sparsities(0.9, 8, "cubic"))
    # an explicit schedule sets the number of stages; chita stays one stage
    rep = prune(
        trained_mlp()[0],
        data,
        sparsity=0.9,
        method="chita++",
        schedule=[0.5, 0.9],
        n_samples=32,
        progress=False,
    )
    assert [h.sparsity for h in rep.history] == [0.5, 0.9]
    rep = prune(trained_mlp()[0], data, sparsity=0.9, n_samples=32, progress=False)
    assert len(rep.history) == 1


def test_schedules():
    s = stage_sparsities(0.9, 3, "cubic")
    assert s[-1] == 0.9 and s[0] == pytest.approx(0.9 * (1 - (2 / 3) ** 3))
    assert stage_sparsities(0.8, 4, "linear") == pytest.approx([0.2, 0.4, 0.6, 0.8])
    g = stage_sparsities(0.99, 2, "geometric")
    assert 1 - g[0] == pytest.approx(0.1)
    assert stage_sparsities(0.9, 2, [0.5, 0.9]) == [0.5, 0.9]
    with pytest.raises(ValueError):
        stage_sparsities(0.9, 2, [0.9, 0.5])


def test_block_mode_exact_and_streaming_equals_in_memory(monkeypatch):
    # A tiny memory limit forces A to be built in several passes (group by group). The streamed
    # problems must be the in-memory ones: same columns of A, same b, k and w_ref per block
    # (the ridge scale comes from a separately accumulated Fisher diagonal: equal up to
    # summation order), so the results agree. (The split of k across blocks is by magnitude in
    # both: the global allocation solve, whose size depends on the limit, is tested below.)
    monkeypatch.setattr("adapters.torch.pruner.allocation_samples", lambda *a: 0)
    recs, reps = [], []
    for limit in (None, 500_000):
        m, data = trained_mlp()
        rec = _Recorder()
        reps.append(
            prune(
                m,
                data,
                sparsity=0.8,
                block_size=50,
                n_samples=100,
                progress=False,
                memory_limit=limit,
                solver=rec,
            )
        )
        recs.append(rec.problems)
    r1, r2 = reps
    assert r1.history[-1].n_passes == 1 and r2.history[-1].n_passes > 2
    assert len(recs[0]) == len(recs[1]) > 4
    for p1, p2 in zip(*recs, strict=True):
        assert p1["k"] == p2["k"] and p1["A"].shape == p2["A"].shape
        np.testing.assert_array_equal(p1["A"], p2["A"])
        np.testing.assert_array_equal(p1["b"], p2["b"])
        np.testing.assert_array_equal(p1["w_ref"], p2["w_ref"])
        np.testing.assert_array_equal(p1["warm_start"], p2["warm_start"])
        assert p2["ridge"] == pytest.approx(p1["ridge"], rel=1e-5)
    total = r1.total
    for r in (r1, r2):
        assert sum(int((~m).sum()) for m in r.masks.values()) == n_zeros(0.8, total)
    assert r2.objective == pytest.approx(r1.objective, rel=1e-3)
    agree = np.mean([torch.eq(r1.masks[n], r2.masks[n]).float().mean() for n in r1.masks])
    assert agree > 0.99


def test_guard_keeps_every_layer():
    torch.manual_seed(2)
    model = TinyMLP(bias=False).eval()
    with torch.no_grad():
        model.fc3.weight.mul_(1e-4)  # global magnitude would empty fc3
    data = (torch.randn(50, 12), torch.randint(0, 4, (50,)))
    for method in ("magnitude", "chita"):
        m = TinyMLP(bias=False).eval()
        m.load_state_dict(model.state_dict())
        rep = prune(m, data, sparsity=0.9, method=method, n_samples=50, progress=False)
        assert all(layer.kept >= 1 for layer in rep.layers)
        if method == "magnitude":
            assert any("guard" in note for note in rep.notes)
        assert sum(int((~x).sum()) for x in rep.masks.values()) == n_zeros(0.9, rep.total)


class MagnitudeSolver:
    """A solver object: keep the k largest |w_ref| (tests the solver= protocol)."""

    def __init__(self):
        self.calls = 0

    def solve(self, problem, warm_start=None):
        from sparse_regression import SparseSolution

        self.calls += 1
        w = problem.w_ref
        keep = np.argsort(-np.abs(w), kind="stable")[: problem.k]
        coef = np.zeros_like(w)
        coef[keep] = w[keep]
        return SparseSolution(coef=coef, objective=problem.objective(coef), solver="mag")


def test_custom_solver_object_and_data_forms():
    m1, (X, y) = trained_mlp()
    m2 = trained_mlp()[0]
    solver = MagnitudeSolver()
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X, y), batch_size=17)
    rep = prune(m1, loader, sparsity=0.7, solver=solver, n_samples=60, progress=False)
    assert solver.calls == 1 and rep.n_samples == 60
    prune(m2, None, sparsity=0.7, method="magnitude", progress=False)
    for a, b in zip(m1.state_dict().values(), m2.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    # an iterable of batches (generator) and fewer samples than asked
    m3 = trained_mlp()[0]
    with pytest.warns(UserWarning, match="fewer than n_samples"):
        rep = prune(
            m3,
            ((X[i : i + 10], y[i : i + 10]) for i in range(0, 30, 10)),
            sparsity=0.5,
            n_samples=100,
            progress=False,
        )
    assert rep.n_samples == 30


def test_eval_mode_for_gradients_state_restored():
    torch.manual_seed(3)
    model = TinyConvNet().train()
    model.conv2.weight.requires_grad_(False)
    model.fc.weight.grad = torch.ones_like(model.fc.weight)
    bn_state = {k: v.clone() for k, v in model.bn.state_dict().items()}
    seen = []
    model.bn.register_forward_pre_hook(lambda mod, inp: seen.append(mod.training))
    # recalibrate_bn=False: the BN statistics must survive the gradient passes
    prune(model, conv_data(20), sparsity=0.5, n_samples=20, progress=False, recalibrate_bn=False)
    assert seen and not any(seen)  # gradients computed in eval mode
    assert all(m.training for m in model.modules())
    assert model.conv2.weight.requires_grad is False
    assert torch.equal(model.fc.weight.grad, torch.ones_like(model.fc.weight))
    for k, v in model.bn.state_dict().items():
        assert torch.equal(v, bn_state[k]), k


def test_first_order_and_report_outputs():
    # b = A w_bar - 1/sqrt(n) with first_order, b = A w_bar without: check the problem itself
    for first_order in (False, True):
        m, data = trained_mlp()
        rec = _Recorder()
        rep = prune(
            m,
            data,
            sparsity=0.6,
            first_order=first_order,
            n_samples=64,
            progress=False,
            solver=rec,
        )
        (pb,) = rec.problems
        shift = pb["b"] - pb["A"].astype(np.float64) @ pb["w_ref"]
        expected = -1.0 / np.sqrt(64) if first_order else 0.0
        np.testing.assert_allclose(shift, expected, atol=1e-6)
        assert rep.first_order is first_order
    import json

    d = json.loads(json.dumps(rep.to_dict()))
    assert d["achieved_sparsity"] == pytest.approx(rep.achieved_sparsity)
    assert [x["name"] for x in d["layers"]] == ["fc1.weight", "fc2.weight", "fc3.weight"]
    text = rep.summary()
    assert "fc2.weight" in text and "objective" in text and "time:" in text
    assert set(rep.times) == {"gradients", "solve", "writeback", "total"}
