"""Saving pruning masks and re-applying them to another copy of the model.

The file is ``torch.save`` of a plain dict ``{full parameter name: bool tensor}`` (True = keep,
the parameter's shape), the convention of ``torch.nn.utils.prune`` and of
:attr:`PruneReport.masks`, so it can be read without chita
(``torch.load(path, weights_only=True)``).
"""

from __future__ import annotations

import os

import torch
from torch import nn

from .masks import MASK_MODES, write_back
from .targets import resolve_targets

__all__ = ["save_masks", "load_masks"]


def save_masks(masks: dict[str, torch.Tensor], path: str | os.PathLike) -> None:
    """Write ``masks`` (full parameter name -> bool tensor) to ``path`` with ``torch.save``."""
    checked = _check_masks(masks, f"masks for {os.fspath(path)!r}")
    torch.save({name: m.detach().to("cpu", torch.bool) for name, m in checked.items()}, path)


def load_masks(
    model: nn.Module, path: str | os.PathLike | dict, *, mask_mode: str = "bake"
) -> dict[str, torch.Tensor]:
    """Apply the masks saved at ``path`` (or a dict of masks) to ``model``'s parameters.

    Every masked-out weight becomes zero; ``mask_mode`` is that of :func:`prune`: ``"bake"``
    multiplies in place, ``"prune"`` attaches ``torch.nn.utils.prune`` masks and
    ``"parametrize"`` a parametrization (both keep the zeros through training). Kept weights
    keep their values: load the pruned ``state_dict`` first to reproduce a pruned model, or
    apply the masks to the dense weights to retrain the pruned structure.

    Raises ``ValueError`` (and leaves the model untouched) when a name is not a parameter of
    ``model``, a shape differs, a mask is not boolean, or a parameter is already wrapped by
    ``torch.nn.utils.prune``/``parametrize``. Returns the masks as loaded.
    """
    if mask_mode not in MASK_MODES:
        raise ValueError(f"mask_mode must be one of {MASK_MODES}, got {mask_mode!r}.")
    if isinstance(path, dict):
        raw, where = path, "masks"
    else:
        where = f"masks in {os.fspath(path)!r}"
        raw = torch.load(path, map_location="cpu", weights_only=True)
    masks = _check_masks(raw, where)
    targets = resolve_targets(model, targets=list(masks))  # unknown names -> ValueError
    bad = [
        f"{t.name}: mask {tuple(masks[t.name].shape)} vs parameter {t.shape}"
        for t in targets
        if tuple(masks[t.name].shape) != t.shape
    ]
    if bad:
        raise ValueError(f"{where} do not fit the model (shape mismatch): {'; '.join(bad)}.")
    values = {t.name: t.param.detach() for t in targets}
    write_back(targets, values, masks, mask_mode)
    return masks


def _check_masks(masks, where: str) -> dict[str, torch.Tensor]:
    if not isinstance(masks, dict) or not masks:
        raise ValueError(
            f"{where}: expected a non-empty dict of full parameter name -> bool tensor, got "
            f"{type(masks).__name__}."
        )
    for name, m in masks.items():
        if not isinstance(name, str) or not isinstance(m, torch.Tensor):
            raise ValueError(f"{where}: entry {name!r} is not a parameter name -> tensor pair.")
        if m.dtype != torch.bool:
            raise ValueError(f"{where}: mask of {name!r} has dtype {m.dtype}; masks are bool.")
    return masks
