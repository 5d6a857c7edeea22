"""Per-sample gradients of the targets, written straight into the rows of a float32 matrix.

For a layer ``y = W x (+ bias)`` used by sample i at positions t (tokens, pixels), the gradient
of the sample's loss l_i is ``dl_i/dW = sum_t go_{i,t} x_{i,t}^T`` with ``go = dl/dy``. Forward
hooks keep each target layer's input and put a tensor hook on its output; the tensor hook gets
``go`` during the backward pass of ``sum_i l_i`` (samples do not interact in eval mode, so the
rows of ``go`` are the per-sample output gradients) and forms the per-sample gradients in
closed form:

* ``nn.Linear``: ``go[b]^T x[b]`` over the flattened middle dimensions (one batched matmul).
* ``nn.Conv1d/2d``: ``unfold`` (im2col) of the (padded) input, split by groups, and a batched
  matmul with ``go``; stride, padding (any mode, ``"same"``), dilation, groups, bias. Conv1d
  is viewed as a Conv2d of height 1.

Any other target parameter (a norm weight, an embedding, a custom module) falls back to
``torch.func``: ``vmap(grad(loss of functional_call))`` over chunks of samples. Tied
parameters (one Parameter used by several modules, or a module called several times) sum
their contributions, as autograd would.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .targets import Target

__all__ = [
    "Segment",
    "per_sample_loss_sum",
    "linear_grad_sample",
    "conv_grad_sample",
    "fill_rows",
    "func_per_sample_grads",
]


@dataclass
class Segment:
    """Write flat entries ``[lo, hi)`` of ``target``'s per-sample gradient to columns ``col:``."""

    target: Target
    lo: int
    hi: int
    col: int


def per_sample_loss_sum(loss_fn: Callable, out: torch.Tensor, y) -> torch.Tensor:
    """``sum_i l_i`` over the batch.

    A loss module with a ``reduction`` attribute is called with ``reduction="none"``; otherwise
    a vector result is summed and a scalar result is taken as the batch *mean* (PyTorch's
    default) and multiplied by the batch size.
    """
    if isinstance(loss_fn, nn.Module) and hasattr(loss_fn, "reduction"):
        saved = loss_fn.reduction
        loss_fn.reduction = "none"
        try:
            val = loss_fn(out, y)
        finally:
            loss_fn.reduction = saved
        return val.sum()
    val = loss_fn(out, y)
    if not isinstance(val, torch.Tensor):
        raise TypeError(f"loss_fn must return a tensor, got {type(val).__name__}.")
    if val.ndim == 0:
        return val * out.shape[0]
    return val.sum()


def linear_grad_sample(x: torch.Tensor, go: torch.Tensor, bias: bool):
    """Per-sample ``(dW, db)`` of ``nn.Linear``: x (B, ..., in), go (B, ..., out)."""
    B = go.shape[0]
    go3 = go.reshape(B, -1, go.shape[-1])
    x3 = x.reshape(B, -1, x.shape[-1])
    gw = torch.bmm(go3.transpose(1, 2), x3)
    gb = go3.sum(1) if bias else None
    return gw, gb


def _conv_geometry(mod: nn.Module):
    """(kernel, stride, dilation, pad) as 2-D tuples, pad = (left, right, top, bottom) or None."""
    k, s, d = mod.kernel_size, mod.stride, mod.dilation
    if isinstance(mod, nn.Conv1d):
        k, s, d = (1, k[0]), (1, s[0]), (1, d[0])
    if isinstance(mod.padding, str):
        if mod.padding == "valid":
            pads = [(0, 0)] * len(mod.kernel_size)
        else:  # "same": total dilation*(k-1), the extra one on the right (as PyTorch does)
            pads = []
            for dd, kk in zip(mod.dilation, mod.kernel_size, strict=True):
                tot = dd * (kk - 1)
                pads.append((tot // 2, tot - tot // 2))
    else:
        pads = [(p, p) for p in mod.padding]
    return k, s, d, pads


def conv_grad_sample(mod: nn.Module, x: torch.Tensor, go: torch.Tensor):
    """Per-sample ``(dW, db)`` of ``nn.Conv1d``/``nn.Conv2d`` from its input and output grads."""
    if x.dim() != mod.weight.dim():
        raise ValueError(
            f"{type(mod).__name__} got an unbatched input of shape {tuple(x.shape)}; per-sample "
            "gradients need a batch dimension."
        )
    k, s, d, pads = _conv_geometry(mod)
    # F.pad takes the last dimension first.
    flat_pad = [v for pair in reversed(pads) for v in pair]
    if mod.padding_mode != "zeros" or any(a != b for a, b in pads):
        mode = "constant" if mod.padding_mode == "zeros" else mod.padding_mode
        x = F.pad(x, flat_pad, mode=mode)
        unf_pad = (0, 0)
    else:
        unf_pad = tuple(a for a, _ in pads)
    if isinstance(mod, nn.Conv1d):
        x = x.unsqueeze(2)
        unf_pad = (0, unf_pad[0])
    B = x.shape[0]
    cols = F.unfold(x, k, dilation=d, padding=unf_pad, stride=s)  # (B, C_in*kh*kw, L)
    G = mod.groups
    c_out = mod.out_channels
    L = cols.shape[-1]
    go = go.reshape(B, c_out, -1)
    if go.shape[-1] != L:
        raise RuntimeError(f"conv geometry mismatch: {go.shape[-1]} outputs vs {L} patches")
    cols = cols.reshape(B * G, -1, L)
    go_g = go.reshape(B * G, c_out // G, L)
    gw = torch.bmm(go_g, cols.transpose(1, 2)).reshape(B, *mod.weight.shape)
    gb = go.sum(2) if mod.bias is not None else None
    return gw, gb


class _HookGradients:
    """Hooks that accumulate per-sample gradients of hookable targets for one batch."""

    def __init__(self, targets: Sequence[Target]):
        self.wanted: dict[int, Target] = {id(t.param): t for t in targets}
        self.grads: dict[int, torch.Tensor] = {}
        self.handles = []
        seen = set()
        for t in targets:
            for mod, _ in t.users:
                if id(mod) not in seen:
                    seen.add(id(mod))
                    self.handles.append(mod.register_forward_hook(self._forward))

    def remove(self):
        for h in self.handles:
            h.remove()
        self.handles.clear()

    def _add(self, param, g):
        key = id(param)
        if key in self.wanted:
            g = g.detach()
            if key in self.grads:
                self.grads[key] = self.grads[key] + g
            else:
                self.grads[key] = g

    def _forward(self, mod, inputs, output):
        if not (isinstance(output, torch.Tensor) and output.requires_grad):
            return
        x = inputs[0].detach()

        def on_grad(go, mod=mod, x=x):
            go = go.detach()
            if isinstance(mod, nn.Linear):
                gw, gb = linear_grad_sample(x, go, mod.bias is not None)
            else:
                gw, gb = conv_grad_sample(mod, x, go)
            self._add(mod.weight, gw)
            if gb is not None:
                self._add(mod.bias, gb)

        output.register_hook(on_grad)


def func_per_sample_grads(
    model: nn.Module, targets: Sequence[Target], loss_fn: Callable, x, y
) -> dict[int, torch.Tensor]:
    """Per-sample gradients of ``targets`` by ``torch.func.vmap(grad(...))`` on one chunk."""
    from torch.func import functional_call, grad, vmap

    names = {id(p): n for n, p in model.named_parameters()}
    fixed = {n: p.detach() for n, p in model.named_parameters()}
    fixed.update({n: b for n, b in model.named_buffers()})
    tnames = [names[id(t.param)] for t in targets]

    def loss_one(tparams, xi, yi):
        state = dict(fixed)
        state.update(tparams)
        out = functional_call(model, state, (xi.unsqueeze(0),))
        return per_sample_loss_sum(loss_fn, out, yi.unsqueeze(0))

    tparams = {n: fixed[n] for n in tnames}
    g = vmap(grad(loss_one), in_dims=(None, 0, 0))(tparams, x, y)
    return {id(t.param): g[n] for t, n in zip(targets, tnames, strict=True)}


def fill_rows(
    model: nn.Module,
    x,
    y,
    segments: Sequence[Segment],
    loss_fn: Callable,
    A_rows: torch.Tensor,
    scale: float,
) -> None:
    """Per-sample gradients of one chunk ``(x, y)`` scaled by ``scale`` into ``A_rows``.

    ``A_rows`` is a (chunk, p) float32 CPU view of rows of A (any strides); each segment's
    entries land in its columns. The model must already be in eval mode with the targets
    requiring gradients.
    """
    targets = list({id(s.target): s.target for s in segments}.values())
    hook_t = [t for t in targets if t.hookable]
    func_t = [t for t in targets if not t.hookable]
    grads: dict[int, torch.Tensor] = {}
    if hook_t:
        hooks = _HookGradients(hook_t)
        try:
            with torch.enable_grad():
                out = model(x)
                loss = per_sample_loss_sum(loss_fn, out, y)
                torch.autograd.grad(loss, [t.param for t in hook_t], allow_unused=True)
        finally:
            hooks.remove()
        grads.update(hooks.grads)
    if func_t:
        grads.update(func_per_sample_grads(model, func_t, loss_fn, x, y))
    B = A_rows.shape[0]
    for seg in segments:
        g = grads.get(id(seg.target.param))
        dst = A_rows[:, seg.col : seg.col + seg.hi - seg.lo]
        if g is None:  # the parameter does not influence the loss
            dst.zero_()
            continue
        dst.copy_(g.reshape(B, -1)[:, seg.lo : seg.hi])
        dst.mul_(scale)


def numpy_rows(A: np.ndarray, r0: int, r1: int) -> torch.Tensor:
    """A torch view (shared memory) of rows ``r0:r1`` of the float32 array ``A``."""
    return torch.from_numpy(A)[r0:r1]
