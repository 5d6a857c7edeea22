"""Keep pruned weights at exactly zero while a model trains (DESIGN.md section 7).

:class:`MaskEnforcer` is a context manager. While it is active

* the gradient of every masked parameter is multiplied by its mask as autograd writes it (a
  tensor hook), so momentum and Adam moments never see the pruned coordinates, and
* after every ``optimizer.step()`` of *any* optimizer (a global step post-hook: the user's own
  training loop and optimizer are covered too) the masked parameters and every optimizer
  state tensor of the same shape (momentum buffers, Adam moments) are multiplied by the mask.

With SGD (momentum, weight decay, Nesterov), Adam and AdamW a pruned weight then stays exactly
0.0: its gradient, decay term and moments are all 0 and the post-step product is exact.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["MaskEnforcer"]


class MaskEnforcer:
    """Hold ``param -> bool mask`` (True = keep) fixed through training steps."""

    def __init__(self, masks: dict[nn.Parameter, torch.Tensor]):
        self.masks = {}
        for p, m in masks.items():
            if tuple(m.shape) != tuple(p.shape):
                raise ValueError(
                    f"mask of shape {tuple(m.shape)} for a parameter of shape {tuple(p.shape)}."
                )
            self.masks[p] = m.to(device=p.device, dtype=torch.bool)
        self._handles: list = []

    @torch.no_grad()
    def apply(self, optimizer: torch.optim.Optimizer | None = None) -> None:
        """Zero the pruned entries of the parameters (and of ``optimizer``'s state)."""
        for p, m in self.masks.items():
            p.mul_(m)
        if optimizer is not None:
            self._zero_state(optimizer)

    @torch.no_grad()
    def _zero_state(self, optimizer) -> None:
        for group in optimizer.param_groups:
            for p in group["params"]:
                m = self.masks.get(p)
                if m is None:
                    continue
                p.mul_(m)
                for v in optimizer.state.get(p, {}).values():
                    if isinstance(v, torch.Tensor) and v.shape == p.shape:
                        v.mul_(m)

    def _after_step(self, optimizer, args, kwargs) -> None:
        self._zero_state(optimizer)

    def __enter__(self) -> MaskEnforcer:
        from torch.optim.optimizer import register_optimizer_step_post_hook

        self.apply()
        for p, m in self.masks.items():
            if p.requires_grad:
                self._handles.append(p.register_hook(lambda g, m=m: g * m))
        self._handles.append(register_optimizer_step_post_hook(self._after_step))
        return self

    def __exit__(self, *exc) -> bool:
        for h in self._handles:
            h.remove()
        self._handles.clear()
        return False
