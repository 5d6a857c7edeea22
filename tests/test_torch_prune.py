"""Properties of adapters.torch.prune: exact sparsity, scopes, objectives, stages, blocks."""

import numpy as np
import pytest
import torch

from adapters.torch import prune  # noqa: E402
from adapters.torch.allocation import n_zeros, stage_sparsities  # noqa: E402

from .chita_torch_helpers import (
    TinyConvNet,
    TinyMLP,
    conv_data,
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


def test_chita_objective_not_above_magnitude():
    _, data = trained_mlp()
    for s in (0.5, 0.8, 0.9):
        m = trained_mlp()[0]
        rep = prune(m, data, sparsity=s, n_samples=128, progress=False)
        assert rep.objective <= rep.objective_magnitude * (1 + 1e-9) + 1e-15
        assert rep.objective_magnitude > 0


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


def test_schedules():
    s = stage_sparsities(0.9, 3, "cubic")
    assert s[-1] == 0.9 and s[0] == pytest.approx(0.9 * (1 - (2 / 3) ** 3))
    assert stage_sparsities(0.8, 4, "linear") == pytest.approx([0.2, 0.4, 0.6, 0.8])
    g = stage_sparsities(0.99, 2, "geometric")
    assert 1 - g[0] == pytest.approx(0.1)
    assert stage_sparsities(0.9, 2, [0.5, 0.9]) == [0.5, 0.9]
    with pytest.raises(ValueError):
        stage_sparsities(0.9, 2, [0.9, 0.5])


def test_block_mode_exact_and_streaming_equals_in_memory():
    m1, data = trained_mlp()
    m2 = trained_mlp()[0]
    r1 = prune(
        m1, data, sparsity=0.8, block_size=50, n_samples=100, progress=False, memory_limit=None
    )
    # A tiny memory limit forces A to be built in several passes (block by block).
    limit = 500_000
    r2 = prune(
        m2, data, sparsity=0.8, block_size=50, n_samples=100, progress=False, memory_limit=limit
    )
    assert r1.history[-1].n_passes == 1 and r2.history[-1].n_passes > 2
    total = r1.total
    for r in (r1, r2):
        assert sum(int((~m).sum()) for m in r.masks.values()) == n_zeros(0.8, total)
        assert r.objective <= r.objective_magnitude * (1 + 1e-9)
    # Same problems (ridge from the streamed Fisher diagonal, same b and blocks) up to float
    # rounding; the non-convex solver may then take slightly different paths.
    h1, h2 = r1.history[-1], r2.history[-1]
    assert h2.ridge == pytest.approx(h1.ridge, rel=1e-5)
    assert h2.objective_magnitude == pytest.approx(h1.objective_magnitude, rel=1e-5)
    assert r1.objective <= r1.objective_magnitude * (1 + 1e-9)


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
    m, data = trained_mlp()
    rep = prune(m, data, sparsity=0.6, first_order=True, n_samples=64, progress=False)
    assert rep.first_order and rep.objective <= rep.objective_magnitude * (1 + 1e-9)
    import json

    d = json.loads(json.dumps(rep.to_dict()))
    assert d["achieved_sparsity"] == pytest.approx(rep.achieved_sparsity)
    assert [x["name"] for x in d["layers"]] == ["fc1.weight", "fc2.weight", "fc3.weight"]
    text = rep.summary()
    assert "fc2.weight" in text and "objective" in text and "time:" in text
    assert set(rep.times) == {"gradients", "solve", "writeback", "total"}
