"""Layer-wise pruning (SparseGPT / Wanda recipe) of any ``nn.Module``, Hugging Face included.

For each pruned Linear / Conv weight ``W_bar`` the calibration inputs ``X`` of its module
(convolutions: unfolded patches) give one reconstruction problem

    minimize ||W_bar X - W X||_F^2 + ridge ||W - W_bar||_F^2   over W in a sparsity pattern,

held in Gram form ``H = X X^T / N`` (``sparse_regression.gram``): the inputs are never
stored, only ``H`` (float64) accumulates. Blocks (by default the numbered submodules, e.g.
``encoder.layer.3`` of a transformer or ``layer1.0`` of a ResNet) are processed in forward
order: with ``sequential=True`` the calibration set is run again through the model for each
block, so every block sees the outputs of the blocks already pruned; a forward is stopped as
soon as the block's last module has run. Memory: one block's Gram matrices plus one batch.
"""

from __future__ import annotations

import numbers
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from solvers.layerwise import LAYER_METHODS, magnitude, prune_layer
from sparse_regression.constants import PATTERN_SPARSITY_ATOL
from sparse_regression.gram import GramAccumulator, LayerProblem
from sparse_regression.nm import NM, LayerK, RowK, parse_pattern

from .executors import EXECUTORS, ThreadCounts, require_ray, run_tasks
from .snapshot import ModelSnapshot
from .targets import resolve_targets

__all__ = ["LayerwiseReport", "LayerRecord", "prune_layerwise"]

ALLOCATIONS = ("layer", "row")


class _StopForward(Exception):
    """Raised by a hook once the current block's last module ran: the rest is not needed."""


@dataclass
class LayerRecord:
    """One pruned layer: relative reconstruction errors ``||(W - W_bar) X||^2/||W_bar X||^2``."""

    name: str
    shape: tuple
    block: str
    tokens: int
    density: float
    error: float
    magnitude_error: float | None
    time: float


@dataclass
class LayerwiseReport:
    """What :func:`prune_layerwise` did: one record per layer, the masks (True = keep)."""

    method: str
    pattern: str
    sequential: bool
    layers: list[LayerRecord] = field(default_factory=list)
    masks: dict = field(default_factory=dict)
    time: float = 0.0

    @property
    def sparsity(self) -> float:
        total = sum(int(np.prod(r.shape)) for r in self.layers)
        kept = sum(r.density * int(np.prod(r.shape)) for r in self.layers)
        return 1.0 - kept / total if total else 0.0

    def summary(self) -> str:
        lines = [
            f"prune_layerwise: method={self.method}, pattern={self.pattern}, "
            f"sequential={self.sequential}, {len(self.layers)} layers, sparsity "
            f"{self.sparsity:.3f}, {self.time:.1f} s",
            f"{'layer':48s} {'shape':>12s} {'density':>8s} {'error':>10s} {'magnitude':>10s}",
        ]
        for r in self.layers:
            mag = f"{r.magnitude_error:10.4g}" if r.magnitude_error is not None else " " * 10
            shape = "x".join(map(str, r.shape))
            lines.append(f"{r.name:48s} {shape:>12s} {r.density:8.3f} {r.error:10.4g} {mag}")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {
            "method": self.method,
            "pattern": self.pattern,
            "sequential": self.sequential,
            "sparsity": self.sparsity,
            "time": self.time,
            "layers": [r.__dict__ | {"shape": list(r.shape)} for r in self.layers],
        }


# ---------------------------------------------------------------------------- inputs
def default_batch_to_inputs(batch) -> tuple[tuple, dict]:
    """``dict`` -> ``model(**batch)``; ``(x, y, ...)`` -> ``model(x)``; a tensor -> ``model(x)``."""
    if isinstance(batch, Mapping):
        return (), dict(batch)
    if isinstance(batch, list | tuple):
        if not batch:
            raise ValueError("calibration batches must not be empty.")
        return (batch[0],), {}
    return (batch,), {}


def _as_batches(calibration, batch_size: int) -> list:
    if isinstance(calibration, torch.Tensor):
        if calibration.ndim == 0 or len(calibration) == 0:
            raise ValueError("calibration must hold at least one sample.")
        return list(torch.split(calibration, batch_size))
    if isinstance(calibration, Mapping):
        return [calibration]
    if isinstance(calibration, Iterable) and not isinstance(calibration, str | bytes):
        batches = list(calibration)
        if not batches:
            raise ValueError("calibration must hold at least one batch.")
        return batches
    raise TypeError(
        "calibration must be a tensor of inputs, a dict batch (input_ids, attention_mask, ...) "
        f"or an iterable of batches (a DataLoader, a list), got {type(calibration).__name__}."
    )


def _token_mask(batch):
    """``attention_mask`` of a dict batch (B, T) as bool, to drop padding tokens; else None."""
    if isinstance(batch, Mapping):
        m = batch.get("attention_mask")
        if isinstance(m, torch.Tensor) and m.ndim == 2:
            return m.bool()
    return None


def _layer_inputs(module: nn.Module, x: torch.Tensor, tokens) -> torch.Tensor:
    """The module's input as rows = tokens (float64): Linear flattened, Conv unfolded."""
    if isinstance(module, nn.Linear):
        if tokens is not None and x.ndim == 3 and tuple(x.shape[:2]) == tuple(tokens.shape):
            x = x[tokens]
        return x.reshape(-1, x.shape[-1]).double()
    if isinstance(module, nn.Conv1d):
        x = x.unsqueeze(2)
        kernel, dil, pad, stride = (
            (1, module.kernel_size[0]),
            (1, module.dilation[0]),
            (0, module.padding[0]),
            (1, module.stride[0]),
        )
    else:
        kernel, dil = module.kernel_size, module.dilation
        pad, stride = module.padding, module.stride
    cols = F.unfold(x, kernel, dilation=dil, padding=pad, stride=stride)  # (B, C*kh*kw, L)
    return cols.transpose(1, 2).reshape(-1, cols.shape[1]).double()


def _check_module(name: str, module: nn.Module) -> None:
    if isinstance(module, nn.Conv1d | nn.Conv2d):
        if module.groups != 1:
            raise ValueError(
                f"{name}: grouped / depthwise convolutions (groups={module.groups}) are not "
                "supported by prune_layerwise; leave them out with ignore=[...]."
            )
        if isinstance(module.padding, str) or module.padding_mode != "zeros":
            raise ValueError(
                f"{name}: only numeric zero padding is supported by prune_layerwise (got "
                f"padding={module.padding!r}, padding_mode={module.padding_mode!r}); leave it out "
                "with ignore=[...]."
            )
    elif not isinstance(module, nn.Linear):
        raise ValueError(f"{name}: prune_layerwise prunes nn.Linear / nn.Conv1d / nn.Conv2d only.")


# ---------------------------------------------------------------------------- blocks
_INDEX = re.compile(r"^(.*?\.\d+)(\.|$)")


def _default_block(module_name: str) -> str:
    """``encoder.layer.3.attention.self.query`` -> ``encoder.layer.3``; no index: itself."""
    m = _INDEX.match(module_name)
    return m.group(1) if m else module_name


def _group_blocks(names: list[str], order: list[str], blocks) -> list[list[str]]:
    """Targets grouped into blocks, blocks in forward order (first call of a member)."""
    if blocks is None:
        key = _default_block
    elif blocks == "layer":

        def key(n):
            return n
    elif callable(blocks):
        key = blocks
    else:
        raise ValueError(
            f'blocks must be None (numbered submodules), "layer" or a function name -> block, '
            f"got {blocks!r}."
        )
    rank = {n: i for i, n in enumerate(order)}
    groups: dict[str, list[str]] = {}
    for n in sorted(names, key=lambda n: rank.get(n, len(rank))):
        groups.setdefault(str(key(n)), []).append(n)
    return list(groups.values())


# ---------------------------------------------------------------------------- main
def _resolve_pattern(sparsity, pattern, allocation):
    nm = parse_pattern(pattern)
    if nm is not None:
        if sparsity is not None and abs(float(sparsity) - (1 - nm.density)) > PATTERN_SPARSITY_ATOL:
            raise ValueError(
                f"sparsity={sparsity} contradicts pattern {nm.n}:{nm.m} (sparsity "
                f"{1 - nm.density:g}); pass one of them."
            )
        return nm, f"{nm.n}:{nm.m}"
    if sparsity is None:
        raise ValueError('give sparsity= (a fraction in [0, 1)) or pattern="2:4" / "4:8".')
    if isinstance(sparsity, bool) or not isinstance(sparsity, numbers.Real):
        raise ValueError(f"sparsity must be a number in [0, 1), got {sparsity!r}.")
    if not 0 <= float(sparsity) < 1:
        raise ValueError(f"sparsity must lie in [0, 1), got {sparsity}.")
    if allocation not in ALLOCATIONS:
        raise ValueError(f"allocation must be one of {ALLOCATIONS}, got {allocation!r}.")
    return float(sparsity), f"{float(sparsity):g} ({allocation})"


def _layer_pattern(spec, allocation: str, shape: tuple[int, int]):
    if isinstance(spec, NM):
        return spec
    rows, d = shape
    if allocation == "row":
        return RowK(int(round((1 - spec) * d)))
    return LayerK(int(round((1 - spec) * rows * d)))


def prune_layerwise(
    model: nn.Module,
    calibration,
    *,
    sparsity: float | None = None,
    pattern: str | None = None,
    method: str = "chita",
    sequential: bool = True,
    dampening: float = 0.01,
    targets=None,
    ignore=None,
    batch_to_inputs: Callable | None = None,
    blocks=None,
    allocation: str = "layer",
    batch_size: int = 32,
    compare_magnitude: bool = True,
    method_options: dict | None = None,
    executor: str = "serial",
    progress: bool = True,
) -> LayerwiseReport:
    """Prune ``model`` in place, layer by layer, to ``sparsity`` or an N:M ``pattern``.

    Parameters
    ----------
    model : nn.Module
        Any module; its ``nn.Linear`` / ``nn.Conv1d`` / ``nn.Conv2d`` weights are pruned
        (``targets`` / ``ignore``: parameter names or ``"re:<regex>"``, as in ``prune``).
    calibration : tensor, dict batch or iterable of batches
        Inputs only (labels are not used). A tensor is split into ``batch_size`` rows; a dict
        batch (``input_ids``, ``attention_mask``, ...) is passed as ``model(**batch)``, and its
        ``attention_mask`` drops padding tokens from the Linear layers' statistics.
    sparsity : float, optional
        Fraction of each layer's weights set to zero: a layer total (``allocation="layer"``,
        the solver allocates it across rows) or the same count per output row (``"row"``).
    pattern : "2:4", "4:8", "N:M", optional
        Semi-structured sparsity: at most N nonzeros in every M consecutive inputs of a row.
    method : "chita", "sparsegpt", "wanda" or "magnitude"
    sequential : bool, default True
        Prune block by block, each block calibrated on the outputs of the pruned blocks before
        it; False calibrates every layer on the dense model in one pass.
    dampening : float, default 0.01
        Ridge ``dampening * mean(diag H)`` toward the dense weights (SparseGPT's damping).
    batch_to_inputs : callable, optional
        ``batch -> (args, kwargs)`` for ``model(*args, **kwargs)``; the default handles dicts,
        ``(x, y)`` tuples and tensors.
    blocks : None, "layer" or callable
        How targets are grouped into blocks (module name -> block key); default: the
        numbered submodule (``encoder.layer.3``, ``layer1.0``).
    compare_magnitude : bool, default True
        Also report each layer's error under magnitude pruning (same pattern).
    method_options : dict, optional
        Extra keyword arguments of the layer method (e.g. ``{"admm_iter": 30}`` for chita).
    executor : "serial" or "ray", default "serial"
        Who runs the layer solves of a block (independent given the block's Gram matrices):
        this process, or one Ray task per layer (``pip install "chita[ray]"``; the running
        Ray session, else a local one). Results equal the serial path's.

    Returns a :class:`LayerwiseReport`; the model's pruned weights are exactly zero. On an
    error the model is restored to its state before the call.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}.")
    if not isinstance(method, str) or method not in LAYER_METHODS:
        raise ValueError(f"method must be one of {sorted(LAYER_METHODS)}, got {method!r}.")
    spec, pattern_name = _resolve_pattern(sparsity, pattern, allocation)
    if not isinstance(sequential, bool):
        raise TypeError(f"sequential must be True or False, got {sequential!r}.")
    if isinstance(dampening, bool) or not isinstance(dampening, numbers.Real) or dampening < 0:
        raise ValueError(f"dampening must be a number >= 0, got {dampening!r}.")
    if batch_to_inputs is not None and not callable(batch_to_inputs):
        raise TypeError("batch_to_inputs must be a function batch -> (args, kwargs).")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}.")
    options = dict(method_options or {})
    if executor not in EXECUTORS:
        raise ValueError(f"executor must be one of {EXECUTORS}, got {executor!r}.")
    if executor == "ray":
        require_ray()  # before the model is touched
    to_inputs = batch_to_inputs or default_batch_to_inputs
    batches = _as_batches(calibration, batch_size)

    owners: dict[str, nn.Module] = {}
    param_module = {
        id(mod.weight): (mname, mod)
        for mname, mod in model.named_modules()
        if isinstance(mod, nn.Linear | nn.Conv1d | nn.Conv2d)
    }
    for t in resolve_targets(model, targets, ignore):
        if id(t.param) not in param_module:
            raise ValueError(
                f"targets: {t.name!r} is not the weight of an nn.Linear / nn.Conv1d / nn.Conv2d;"
                " prune_layerwise prunes those only."
            )
        mname, mod = param_module[id(t.param)]
        _check_module(mname, mod)
        if isinstance(spec, NM):
            spec.check_width(mod.weight[0].numel())
        owners[mname] = mod

    t_start = time.perf_counter()
    snapshot = ModelSnapshot(model)
    was_training = model.training
    report = LayerwiseReport(method=method, pattern=pattern_name, sequential=sequential)
    try:
        model.eval()
        order = _forward_order(model, owners, batches[0], to_inputs)
        groups = _group_blocks(list(owners), order, blocks)
        if not sequential:
            groups_to_calibrate = [[n for g in groups for n in g]]
        else:
            groups_to_calibrate = groups
        n_layers, done = len(owners), 0
        threads = ThreadCounts.current()
        for group in groups_to_calibrate:
            grams = _calibrate(model, {n: owners[n] for n in group}, batches, to_inputs, order)

            # The layers of one block are independent given its Gram matrices: their solves
            # go through the executor (Ray: one task each), results applied in forward order.
            def tasks(group=group, grams=grams):
                for name in group:
                    W_bar = owners[name].weight.detach()
                    W_bar = W_bar.reshape(W_bar.shape[0], -1).double().cpu().numpy()
                    pat = _layer_pattern(spec, allocation, W_bar.shape)
                    yield (grams[name].H, W_bar, dampening, pat, method, options,
                           compare_magnitude, threads)  # fmt: skip

            results = run_tasks(_solve_layer, tasks(), executor)
            for name, result in zip(group, results, strict=True):
                done += 1
                rec = _apply_layer(
                    name,
                    owners[name],
                    grams.pop(name).count,
                    *result,
                    _default_block(name) if blocks is None else "",
                    report,
                )
                if progress:
                    mag = (
                        f", magnitude {rec.magnitude_error:.4g}"
                        if rec.magnitude_error is not None
                        else ""
                    )
                    print(
                        f"[chita] layer {done}/{n_layers} {name}: error {rec.error:.4g}{mag} "
                        f"({rec.time:.2f} s)",
                        flush=True,
                    )
    except BaseException:
        snapshot.restore()
        raise
    finally:
        model.train(was_training)
    report.time = time.perf_counter() - t_start
    return report


def _call(model, batch, to_inputs):
    args, kwargs = to_inputs(batch)
    return model(*args, **kwargs)


@torch.no_grad()
def _forward_order(model, owners: dict, batch, to_inputs) -> list[str]:
    """Module names in the order of their first call on one batch."""
    order: list[str] = []
    handles = []
    for name, mod in owners.items():

        def hook(_m, _inp, _out, name=name):
            if name not in order:
                order.append(name)

        handles.append(mod.register_forward_hook(hook))
    try:
        _call(model, batch, to_inputs)
    finally:
        for h in handles:
            h.remove()
    missing = [n for n in owners if n not in order]
    if missing:
        raise ValueError(
            f"targets {missing[:4]} are never called on a calibration batch; leave them out "
            "with ignore=[...] (or fix batch_to_inputs)."
        )
    return order


@torch.no_grad()
def _calibrate(model, group: dict, batches, to_inputs, order) -> dict[str, GramAccumulator]:
    """Gram matrices of the inputs of the group's modules over the calibration batches."""
    grams = {n: GramAccumulator(m.weight[0].numel()) for n, m in group.items()}
    last = max(group, key=order.index)
    state: dict = {"tokens": None, "seen": set()}
    handles = []
    for name, mod in group.items():

        def hook(m, inp, _out, name=name):
            grams[name].add(_layer_inputs(m, inp[0], state["tokens"]).cpu().numpy())
            state["seen"].add(name)
            if name == last and state["seen"] >= set(group):
                raise _StopForward

        handles.append(mod.register_forward_hook(hook))
    try:
        for batch in batches:
            state["tokens"] = _token_mask(batch)
            state["seen"] = set()
            try:
                _call(model, batch, to_inputs)
            except _StopForward:
                pass
    finally:
        for h in handles:
            h.remove()
    return grams


def _solve_layer(H, W_bar, dampening, pat, method, options, compare, threads):
    """One layer's solve, numpy only (runs in this process or in a Ray task):
    ``(W, error, magnitude error or None, seconds)``."""
    with threads.applied():  # the driver's thread counts wherever it runs: the same result
        t0 = time.perf_counter()
        problem = LayerProblem(H, W_bar, dampening)
        W = prune_layer(problem, pat, method, **options)
        error = problem.relative_error(W)
        elapsed = time.perf_counter() - t0
        mag_error = problem.relative_error(magnitude(problem, pat)) if compare else None
    return W, error, mag_error, elapsed


@torch.no_grad()
def _apply_layer(name, module, tokens, W, error, mag_error, elapsed, block, report):
    weight = module.weight
    if not W.flags.writeable:  # zero-copy from Ray's object store
        W = W.copy()
    mask = W != 0
    weight.copy_(torch.from_numpy(W).reshape(weight.shape).to(weight.dtype))
    report.masks[f"{name}.weight"] = torch.from_numpy(mask).reshape(weight.shape)
    rec = LayerRecord(
        name=f"{name}.weight",
        shape=tuple(weight.shape),
        block=block,
        tokens=tokens,
        density=float(mask.mean()),
        error=error,
        magnitude_error=mag_error,
        time=elapsed,
    )
    report.layers.append(rec)
    return rec
