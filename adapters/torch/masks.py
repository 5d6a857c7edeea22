"""Writing the solution back into the model, in one of three ``mask_mode`` s.

* ``"bake"``: ``param.data = values * mask`` in place: the same Parameter objects (optimizers
  keep working); nothing keeps pruned weights at zero during later training.
* ``"prune"``: ``torch.nn.utils.prune.custom_from_mask``: ``<name>_orig`` (the same Parameter
  object, holding the solved values) and the buffer ``<name>_mask``; the forward pre-hook
  computes ``<name> = <name>_orig * <name>_mask``, so masked weights stay zero while training.
* ``"parametrize"``: ``torch.nn.utils.parametrize.register_parametrization`` with a module that
  multiplies by the mask (``parametrizations.<name>.original`` holds the solved values).

All three give bit-identical forward outputs (``values * mask``). :func:`make_permanent`
turns the last two into plain parameters.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils import prune as torch_prune

from .targets import Target

__all__ = ["MASK_MODES", "Mask", "write_back", "make_permanent"]

MASK_MODES = ("bake", "prune", "parametrize")


class Mask(nn.Module):
    """Parametrization ``W -> W * mask`` (bool mask stored as a buffer)."""

    def __init__(self, mask: torch.Tensor):
        super().__init__()
        self.register_buffer("mask", mask.to(torch.bool))

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return X * self.mask


@torch.no_grad()
def write_back(
    targets: Sequence[Target],
    values: dict[str, torch.Tensor],
    masks: dict[str, torch.Tensor],
    mode: str,
) -> None:
    """Put ``values`` (dense, zeros off the mask) and ``masks`` into the targets' modules."""
    if mode not in MASK_MODES:
        raise ValueError(f"mask_mode must be one of {MASK_MODES}, got {mode!r}.")
    for t in targets:
        p = t.param
        mask = masks[t.name].to(p.device)
        p.copy_(values[t.name].to(device=p.device, dtype=p.dtype) * mask)
        if mode == "prune":
            for mod, attr in t.users:
                torch_prune.custom_from_mask(mod, attr, mask)
        elif mode == "parametrize":
            for mod, attr in t.users:
                parametrize.register_parametrization(mod, attr, Mask(mask))


def make_permanent(model: nn.Module) -> nn.Module:
    """Remove ``torch.nn.utils.prune`` reparametrizations and parametrizations, keeping the
    masked weights as plain parameters (the state_dict then loads into a fresh model)."""
    for mod in model.modules():
        for hook in list(mod._forward_pre_hooks.values()):
            if isinstance(hook, torch_prune.BasePruningMethod):
                torch_prune.remove(mod, hook._tensor_name)
        if parametrize.is_parametrized(mod):
            for name in list(mod.parametrizations.keys()):
                parametrize.remove_parametrizations(mod, name, leave_parametrized=True)
    return model
