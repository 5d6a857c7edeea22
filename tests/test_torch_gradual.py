"""Gradual pruning: masks hold through optimizer steps, the schedule, resume == uninterrupted."""

from __future__ import annotations

import pytest
import torch

from adapters.torch import MaskEnforcer, gradual_schedule, prune_gradually
from tests.chita_torch_helpers import TinyConvNet, TinyMLP, conv_data, mlp_data, trained_mlp


def _random_masks(model, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {
        p: torch.rand(p.shape, generator=g) > 0.6
        for n, p in model.named_parameters()
        if n.endswith("weight") and p.ndim > 1
    }


@pytest.mark.parametrize(
    "make_opt",
    [
        lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=1e-2, nesterov=True),
        lambda ps: torch.optim.AdamW(ps, lr=1e-2, weight_decay=1e-1),
        lambda ps: torch.optim.Adam(ps, lr=1e-2, weight_decay=1e-2),
    ],
)
def test_pruned_weights_stay_exactly_zero_through_optimizer_steps(make_opt):
    torch.manual_seed(0)
    model = TinyConvNet().train()
    X, y = conv_data(32)
    masks = _random_masks(model)
    opt = make_opt(model.parameters())
    with MaskEnforcer(masks):
        for _ in range(5):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(X), y).backward()
            for p, m in masks.items():
                assert torch.all(p.grad[~m] == 0)
            opt.step()
            for p, m in masks.items():
                assert torch.all(p[~m] == 0) and torch.any(p[m] != 0)
                for v in opt.state[p].values():
                    if isinstance(v, torch.Tensor) and v.shape == p.shape:
                        assert torch.all(v[~m] == 0)
    # outside the context nothing is enforced any more
    opt.zero_grad()
    torch.nn.functional.cross_entropy(model(X), y).backward()
    p, m = next(iter(masks.items()))
    assert torch.any(p.grad[~m] != 0)


def test_gradual_schedule_cubic_and_errors():
    s = gradual_schedule(0.9, 4, "cubic")
    assert s == pytest.approx([0.9 - 0.9 * (1 - t / 4) ** 3 for t in range(1, 5)])
    assert s[-1] == 0.9 and all(a < b for a, b in zip(s, s[1:], strict=False))
    assert gradual_schedule(0.9, 3, "linear", initial_sparsity=0.3) == pytest.approx(
        [0.5, 0.7, 0.9]
    )
    with pytest.raises(ValueError, match="schedule"):
        gradual_schedule(0.9, 2, [0.5, 0.8])
    model, data = TinyMLP(), mlp_data(16)  # validation only: no training needed
    with pytest.raises(ValueError, match="flop_budget"):
        prune_gradually(model, data, sparsity=0.5, method="chita", flop_budget=0.5,
                        progress=False)  # fmt: skip
    with pytest.raises(ValueError, match="pruning_steps"):
        prune_gradually(model, data, sparsity=0.5, pruning_steps=0, progress=False)


def test_user_training_loop_keeps_masks_and_reaches_sparsity():
    model, (X, y) = trained_mlp()
    seen = []

    def my_loop(model, step):
        opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-3)
        for _ in range(3 * step.epochs):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(X), y).backward()
            opt.step()
        seen.append((step.index, step.sparsity, step.epochs))

    rep = prune_gradually(model, (X, y), sparsity=0.8, method="chita", pruning_steps=3,
                          epochs_per_step=1, final_epochs=2, train_fn=my_loop,
                          prune_kwargs={"n_samples": 64}, progress=False)  # fmt: skip
    assert [s[0] for s in seen] == [1, 2, 3] and [s[2] for s in seen] == [1, 1, 2]
    assert rep.achieved_sparsity == pytest.approx(0.8, abs=1e-3)
    params = dict(model.named_parameters())
    for name, m in rep.masks.items():
        assert torch.all(params[name][~m] == 0)
    assert [h["sparsity"] for h in rep.history] == rep.schedule


def test_resume_from_checkpoint_equals_uninterrupted_run(tmp_path):
    X, y = conv_data(48)
    kw = dict(sparsity=0.7, method="magnitude", pruning_steps=3, epochs_per_step=1,
              final_epochs=1, batch_size=16, progress=False, random_state=3)  # fmt: skip

    def fresh():
        torch.manual_seed(0)
        return TinyConvNet()

    ref = fresh()
    rep_ref = prune_gradually(ref, (X, y), **kw)

    model = fresh()
    ckpt = tmp_path / "gradual.pt"

    def stop_after_two(rec):
        if rec["step"] == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        prune_gradually(model, (X, y), checkpoint=ckpt, callback=stop_after_two, **kw)
    fresh_state = fresh().state_dict()
    for k, v in model.state_dict().items():  # restored to the state at the call
        assert torch.equal(v, fresh_state[k]), k
    rep = prune_gradually(model, (X, y), checkpoint=ckpt, **kw)
    assert rep.resumed_from == 2 and len(rep.history) == 3
    for k, v in ref.state_dict().items():
        assert torch.equal(v, model.state_dict()[k]), k
    assert all(torch.equal(rep.masks[k], rep_ref.masks[k]) for k in rep.masks)


def test_gradual_falcon_meets_the_flop_budget_at_the_end():
    model, (X, y) = trained_mlp()
    seen = []
    rep = prune_gradually(model, (X, y), sparsity=0.6, method="falcon", flop_budget=0.4,
                          pruning_steps=2, final_epochs=0, train_fn=lambda m, s: None,
                          prune_kwargs={"n_samples": 32}, callback=seen.append,
                          progress=False)  # fmt: skip
    budgets = [r["prune"]["flop_budget"] for r in seen]
    assert budgets[0] > budgets[1]  # the budget follows the schedule
    last = seen[-1]["prune"]
    assert last["macs_kept"] <= 0.4 * last["macs_dense"] + 1e-9
    assert rep.achieved_sparsity >= 0.6 - 1e-3
