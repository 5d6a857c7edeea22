"""The three mask modes: identical outputs, prune/parametrize conventions, state_dict loading."""

import pytest
import torch
from torch.nn.utils import parametrize  # noqa: E402
from torch.nn.utils import prune as torch_prune  # noqa: E402

from adapters.torch import make_permanent, prune  # noqa: E402

from .chita_torch_helpers import TinyConvNet, conv_data


def _pruned(mode, method="chita"):
    torch.manual_seed(0)
    model = TinyConvNet().eval()
    params_before = {k: p for k, p in model.named_parameters()}
    rep = prune(
        model,
        conv_data(32),
        sparsity=0.7,
        method=method,
        mask_mode=mode,
        n_samples=32,
        progress=False,
    )
    return model, rep, params_before


@pytest.mark.parametrize("method", ["magnitude", "chita"])
def test_three_modes_identical_outputs(method):
    x = conv_data(16, seed=7)[0]
    outs, masks = {}, {}
    for mode in ("bake", "prune", "parametrize"):
        model, rep, _ = _pruned(mode, method)
        with torch.no_grad():
            outs[mode] = model(x)
        masks[mode] = rep.masks
    assert torch.equal(outs["bake"], outs["prune"])
    assert torch.equal(outs["bake"], outs["parametrize"])
    for k in masks["bake"]:
        assert torch.equal(masks["bake"][k], masks["prune"][k])


def test_bake_keeps_parameter_identity_and_loads_into_fresh_model():
    model, rep, before = _pruned("bake")
    after = dict(model.named_parameters())
    assert all(after[k] is p for k, p in before.items())
    fresh = TinyConvNet()
    fresh.load_state_dict(model.state_dict())
    for k, m in rep.masks.items():
        assert torch.all(dict(fresh.named_parameters())[k][~m] == 0)


def test_prune_mode_follows_torch_prune():
    model, rep, before = _pruned("prune")
    for name in rep.masks:
        mod = model.get_submodule(name.rsplit(".", 1)[0])
        assert torch_prune.is_pruned(mod)
        assert torch.equal(mod.weight_mask.bool(), rep.masks[name])
        assert mod.weight_orig is before[name]  # solved values live in the same Parameter
        assert torch.equal(mod.weight, mod.weight_orig * mod.weight_mask)
    sd = model.state_dict()
    assert "conv1.weight_orig" in sd and "conv1.weight_mask" in sd
    x = conv_data(8, seed=3)[0]
    with torch.no_grad():
        y = model(x)
    make_permanent(model)
    assert not any(torch_prune.is_pruned(m) for m in model.modules() if m is not model)
    fresh = TinyConvNet().eval()
    fresh.load_state_dict(model.state_dict())
    with torch.no_grad():
        assert torch.equal(fresh(x), y)


def test_parametrize_mode_and_make_permanent():
    model, rep, _ = _pruned("parametrize")
    assert parametrize.is_parametrized(model.conv1, "weight")
    x = conv_data(8, seed=4)[0]
    with torch.no_grad():
        y = model(x)
    make_permanent(model)
    assert not parametrize.is_parametrized(model.conv1)
    fresh = TinyConvNet().eval()
    fresh.load_state_dict(model.state_dict())
    with torch.no_grad():
        assert torch.equal(fresh(x), y)


def test_already_pruned_model_is_refused_until_made_permanent():
    model, _, _ = _pruned("prune")
    with pytest.raises(ValueError, match="already pruned"):
        prune(model, conv_data(8), sparsity=0.8, progress=False)
    make_permanent(model)
    rep = prune(model, conv_data(16), sparsity=0.8, n_samples=16, progress=False)
    assert rep.achieved_sparsity == pytest.approx(0.8, abs=1e-3)
