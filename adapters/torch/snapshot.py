"""Snapshot of a model's mutable state, to leave it exactly as it was after an error."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["ModelSnapshot"]


class ModelSnapshot:
    """Values (CPU copies) of every parameter and buffer, Parameter objects, ``requires_grad``
    flags, the ``.grad`` references and each module's train/eval flag.

    :meth:`restore` puts the same Parameter objects back in the same modules with their
    original values, so optimizers holding them keep working.
    """

    def __init__(self, model: nn.Module):
        self.modules = list(model.modules())
        self.training = [m.training for m in self.modules]
        self.params = [dict(m._parameters) for m in self.modules]
        self.buffers = [dict(m._buffers) for m in self.modules]
        self.attrs = [{k: getattr(m, k, None) for k in m._parameters} for m in self.modules]
        seen: dict[int, tuple] = {}
        for m in self.modules:
            for t in list(m._parameters.values()) + list(m._buffers.values()):
                if t is not None and id(t) not in seen:
                    seen[id(t)] = (t, t.detach().to("cpu", copy=True), t.requires_grad, t.grad)
        self.values = list(seen.values())
        self.hooks = [
            (dict(m._forward_pre_hooks), dict(m._forward_hooks), dict(m._backward_hooks))
            for m in self.modules
        ]

    @torch.no_grad()
    def restore(self) -> None:
        from torch.nn.utils import parametrize

        for m, params, buffers, hooks in zip(
            self.modules, self.params, self.buffers, self.hooks, strict=True
        ):
            if parametrize.is_parametrized(m):
                for name in list(m.parametrizations.keys()):
                    parametrize.remove_parametrizations(m, name, leave_parametrized=False)
            pre, fwd, bwd = hooks
            for d, saved in (
                (m._forward_pre_hooks, pre),
                (m._forward_hooks, fwd),
                (m._backward_hooks, bwd),
            ):
                d.clear()
                d.update(saved)
            for k in list(m._parameters):
                if k not in params:
                    del m._parameters[k]
            for k in list(m._buffers):
                if k not in buffers:
                    del m._buffers[k]
            for k, p in params.items():
                if k in m.__dict__:
                    del m.__dict__[k]  # plain attribute set by torch.nn.utils.prune
                m._parameters[k] = p
            for k, b in buffers.items():
                m._buffers[k] = b
        for tensor, value, req, grad in self.values:
            tensor.data.copy_(value.to(tensor.device))
            tensor.requires_grad_(req)
            tensor.grad = grad
        for m, mode in zip(self.modules, self.training, strict=True):
            m.training = mode
