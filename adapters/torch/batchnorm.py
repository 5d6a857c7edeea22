"""BatchNorm recalibration: re-estimate the running statistics after pruning (DESIGN.md s. 6).

Pruning changes the distribution of every channel a BN layer normalizes, while its running
mean and variance still describe the dense network. Re-estimating them on a few hundred training
inputs (no training, no labels) is the step every practitioner takes after pruning a BN network:
the statistics are reset, each BN layer is put in training mode with ``momentum=None``
(cumulative average over the batches), the inputs are passed forward without gradients, and
every module's mode and momentum are restored. Only the BN buffers ``running_mean``,
``running_var`` and ``num_batches_tracked`` change.

The same invariance makes the empirical-Fisher model BN-aware (:func:`project_channel_scale`):
a weight row w_c (output channel c) whose output goes straight into a BN layer only matters up
to scale once BN is recalibrated, f(alpha w_c) = f(w_c), so the true per-sample gradient has no
component along w_c. Projecting that component out of every per-sample gradient,

    g_{i,c} <- g_{i,c} - (g_{i,c}^T w_c / ||w_c||^2) w_c,

removes from A the directions the network does not see; the solver then stops spending weights
on restoring channel scales that the recalibration restores for free.
"""

from __future__ import annotations

import numbers

import numpy as np
import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

__all__ = [
    "recalibrate_batchnorm",
    "batchnorm_layers",
    "iter_input_batches",
    "bn_followers",
    "bn_scale_targets",
    "project_channel_scale",
]


def batchnorm_layers(model: nn.Module) -> list[_BatchNorm]:
    """The model's BN layers that keep running statistics (``track_running_stats=True``)."""
    return [
        m for m in model.modules() if isinstance(m, _BatchNorm) and m.track_running_stats
    ]


def _check_positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    return int(value)


def iter_input_batches(data, n_batches: int, batch_size: int, random_state=None):
    """Yield at most ``n_batches`` input tensors from ``data``.

    ``data`` is an inputs tensor, an ``(inputs, targets)`` pair of tensors (split into batches
    of ``batch_size`` rows, in a random order when ``random_state`` is given) or an iterable of
    batches (a DataLoader; each batch an inputs tensor or a tuple whose first entry is one).
    """
    if isinstance(data, torch.Tensor) or (
        isinstance(data, (tuple, list))
        and len(data) == 2
        and all(isinstance(t, torch.Tensor) for t in data)
    ):
        X = data if isinstance(data, torch.Tensor) else data[0]
        if X.ndim == 0:
            raise ValueError("data: the inputs tensor must have a batch dimension.")
        n = len(X)
        if random_state is not None:
            order = torch.from_numpy(np.random.default_rng(random_state).permutation(n))
        else:
            order = torch.arange(n)
        for i in range(min(n_batches, (n + batch_size - 1) // batch_size)):
            yield X[order[i * batch_size : (i + 1) * batch_size]]
        return
    try:
        it = iter(data)
    except TypeError:
        raise TypeError(
            "data must be an inputs tensor, an (inputs, targets) pair of tensors or an iterable "
            f"of batches (DataLoader), got {type(data).__name__}."
        ) from None
    for i, batch in enumerate(it):
        if i >= n_batches:
            return
        x = batch[0] if isinstance(batch, (tuple, list)) and batch else batch
        if not isinstance(x, torch.Tensor):
            raise TypeError(
                f"data: batch {i} holds {type(x).__name__}; each batch must be an inputs tensor "
                "or an (inputs, targets) pair."
            )
        yield x


@torch.no_grad()
def recalibrate_batchnorm(
    model: nn.Module,
    data,
    n_batches: int = 8,
    *,
    batch_size: int = 64,
    random_state=0,
) -> int:
    """Re-estimate the running mean/variance of every BatchNorm layer of ``model`` on ``data``.

    For each BN layer the statistics are reset and replaced by the cumulative average over the
    batches (``momentum=None``) of the batch mean and unbiased batch variance of its input,
    with the rest of the model in eval mode (dropout off). Parameters, other buffers, every
    module's train/eval flag and the BN momenta are left exactly as they were.

    Parameters
    ----------
    model : nn.Module
        The (pruned) network; a model without BN layers is left untouched.
    data : Tensor, (inputs, targets) pair of tensors, or iterable of batches
        Training inputs (labels are not used).
    n_batches : int
        At most this many batches are passed forward (``n_batches * batch_size`` inputs for
        tensor data; a few hundred inputs suffice).
    batch_size : int
        Rows per batch when ``data`` is given as tensors (ignored for a DataLoader).
    random_state : int, numpy Generator or None
        Seed of the (deterministic) random order in which tensor data is batched; None takes
        the first rows in order (ignored for a DataLoader).

    Returns
    -------
    int
        Number of inputs used (0 when the model has no BN layer with running statistics).
    """
    n_batches = _check_positive_int("n_batches", n_batches)
    batch_size = _check_positive_int("batch_size", batch_size)
    layers = batchnorm_layers(model)
    if not layers:
        return 0
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    modes = [(m, m.training) for m in model.modules()]
    saved = [
        (m, m.momentum, m.running_mean.clone(), m.running_var.clone(),
         m.num_batches_tracked.clone())
        for m in layers
    ]  # fmt: skip
    n_used = 0
    try:
        model.eval()
        for m in layers:
            m.reset_running_stats()
            m.momentum = None
            m.train()
        for x in iter_input_batches(data, n_batches, batch_size, random_state):
            if len(x) < 2:
                continue  # a batch of one has no variance
            model(x.to(device))
            n_used += len(x)
        if n_used == 0:
            raise ValueError(
                "data gave no batch of at least 2 inputs for BatchNorm recalibration; pass "
                "training inputs (a tensor, an (inputs, targets) pair or a DataLoader)."
            )
    except BaseException:
        for m, _, mean, var, nbt in saved:
            m.running_mean.copy_(mean)
            m.running_var.copy_(var)
            m.num_batches_tracked.copy_(nbt)
        raise
    finally:
        for m, momentum, *_ in saved:
            m.momentum = momentum
        for m, mode in modes:
            m.training = mode
    return n_used


@torch.no_grad()
def bn_followers(
    model: nn.Module, modules: list[nn.Module], example: torch.Tensor
) -> dict[int, _BatchNorm]:
    """Indices into ``modules`` of those whose output goes straight into a BatchNorm layer,
    each with that BN layer.

    Found with hooks on one forward pass of ``example`` (eval mode, restored): a module is a
    BN follower when the tensor it returns is the input of a BN layer with running statistics.
    """
    out_ids: dict[int, list[int]] = {}
    hits: dict[int, _BatchNorm] = {}
    alive: list = []  # outputs kept referenced so that no id is reused during the pass

    def record(i, out):
        alive.append(out)
        out_ids.setdefault(id(out), []).append(i)

    handles = []
    for i, m in enumerate(modules):
        handles.append(m.register_forward_hook(lambda mod, inp, out, i=i: record(i, out)))
    for bn in batchnorm_layers(model):
        handles.append(
            bn.register_forward_pre_hook(
                lambda mod, inp: hits.update(dict.fromkeys(out_ids.get(id(inp[0]), []), mod))
            )
        )
    modes = [(m, m.training) for m in model.modules()]
    try:
        model.eval()
        model(example)
    finally:
        for h in handles:
            h.remove()
        for m, mode in modes:
            m.training = mode
    return hits


def bn_scale_targets(model: nn.Module, targets, example: torch.Tensor) -> dict[int, _BatchNorm]:
    """Indices of the targets (weights of one module each) whose output feeds a BN layer,
    each with that layer (in target order)."""
    idx = [
        i
        for i, t in enumerate(targets)
        if len(t.users) == 1 and t.users[0][1] == "weight" and len(t.shape) >= 2
    ]
    hit = bn_followers(model, [targets[i].users[0][0] for i in idx], example)
    return {idx[j]: hit[j] for j in sorted(hit)}


def project_channel_scale(A, w, shape, cols: tuple[int, int] | None = None) -> None:
    """In place: per output channel c (row of a weight of ``shape``, flat values ``w``), remove
    from every row of ``A`` its component along w_c.

    ``A``'s columns hold the weight's flat entries ``cols = [lo, hi)`` (default: all of them);
    channels not wholly inside that range, and channels with w_c = 0, are left as they are.
    """
    rows = shape[0]
    per = int(np.prod(shape[1:]))
    lo, hi = cols if cols is not None else (0, rows * per)
    for c in range(max(0, -(-lo // per)), min(rows, hi // per)):
        wc = np.asarray(w[c * per : (c + 1) * per], dtype=np.float64)
        nn2 = float(wc @ wc)
        if nn2 == 0.0:
            continue
        Ac = A[:, c * per - lo : (c + 1) * per - lo]
        v = Ac.astype(np.float64) @ wc
        Ac -= np.outer(v, wc / nn2).astype(A.dtype)
