"""save_masks / load_masks: a pruned structure re-applied to another copy of the model."""

import copy

import pytest
import torch
from torch.nn.utils import prune as torch_prune

from adapters.torch import load_masks, make_permanent, prune

from .chita_torch_helpers import TinyMLP, mlp_data


def _pruned(tmp_path):
    torch.manual_seed(0)
    dense = TinyMLP().eval()
    model = copy.deepcopy(dense)
    rep = prune(model, mlp_data(), sparsity=0.8, n_samples=64, progress=False)
    path = tmp_path / "masks.pt"
    rep.save_masks(path)
    return dense, model, rep, path


def test_round_trip_gives_the_same_structure_and_forward(tmp_path):
    dense, model, rep, path = _pruned(tmp_path)
    x = mlp_data(16, seed=1)[0]
    # the file is plain torch: bool masks keyed by full parameter names
    raw = torch.load(path, weights_only=True)
    assert set(raw) == set(rep.masks) == {"fc1.weight", "fc2.weight", "fc3.weight"}
    assert all(raw[k].dtype == torch.bool and torch.equal(raw[k], rep.masks[k]) for k in raw)

    # a fresh copy with the pruned values, masks attached as torch.nn.utils.prune does
    fresh = TinyMLP().eval()
    fresh.load_state_dict(model.state_dict())
    load_masks(fresh, path, mask_mode="prune")
    for name, mask in rep.masks.items():
        mod = fresh.get_submodule(name.rsplit(".", 1)[0])
        assert torch_prune.is_pruned(mod) and torch.equal(mod.weight_mask.bool(), mask)
        assert torch.all(mod.weight[~mask] == 0)
    with torch.no_grad():
        assert torch.equal(fresh(x), model(x))
    # masked weights stay zero through an optimizer step
    opt = torch.optim.SGD(fresh.parameters(), lr=0.1)
    torch.nn.functional.cross_entropy(fresh(x), mlp_data(16, seed=1)[1]).backward()
    opt.step()
    make_permanent(fresh)
    for name, mask in rep.masks.items():
        assert torch.all(dict(fresh.named_parameters())[name][~mask] == 0)

    # the dense weights with the pruned structure ("bake"): same zeros, kept values unchanged
    retrain = copy.deepcopy(dense)
    load_masks(retrain, path)
    for name, mask in rep.masks.items():
        w, w0 = dict(retrain.named_parameters())[name], dict(dense.named_parameters())[name]
        assert torch.equal(w, w0 * mask)


@pytest.mark.parametrize(
    "edit,match",
    [
        (lambda m: m.update({"fc9.weight": m["fc1.weight"]}), "fc9.weight"),
        (lambda m: m.update({"fc2.weight": m["fc2.weight"][:, :3]}), "shape mismatch.*fc2.weight"),
        (lambda m: m.update({"fc3.weight": m["fc3.weight"].float()}), "bool"),
        (lambda m: m.clear(), "non-empty dict"),
    ],
)
def test_bad_masks_raise_and_leave_the_model_untouched(tmp_path, edit, match):
    dense, _, rep, _ = _pruned(tmp_path)
    masks = {k: v.clone() for k, v in rep.masks.items()}
    edit(masks)
    bad = tmp_path / "bad.pt"
    torch.save(masks, bad)
    model = copy.deepcopy(dense)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    for mode in ("bake", "prune"):
        with pytest.raises(ValueError, match=match):
            load_masks(model, bad, mask_mode=mode)
        after = model.state_dict()
        assert after.keys() == before.keys()
        assert all(torch.equal(after[k], before[k]) for k in before)
        assert not any(torch_prune.is_pruned(m) for m in model.modules() if m is not model)
