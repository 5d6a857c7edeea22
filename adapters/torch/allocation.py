"""Sparsity bookkeeping: schedules over stages, k per layer or block, magnitude top-k, guard.

``sparsity`` s maps to ``round(s * total)`` zeros over the targets (``scope="global"``) or
``round(s * numel)`` zeros in every target (``scope="layer"``). Multi-stage pruning (CHITA++)
follows a schedule s_1 < ... < s_T = s; ``"cubic"`` is Zhu & Gupta's
``s_t = s (1 - (1 - t/T)^3)``, ``"linear"`` is ``s t/T``, ``"geometric"`` keeps the density
ratio constant: ``1 - s_t = (1 - s)^(t/T)``. A sequence of sparsities can be given instead.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = [
    "stage_sparsities",
    "n_zeros",
    "topk_mask",
    "guarded_topk",
    "enforce_guard",
    "counts_per_slice",
]

SCHEDULES = ("cubic", "linear", "geometric")


def stage_sparsities(sparsity: float, stages: int, schedule) -> list[float]:
    """Target sparsity after each stage (the last one is ``sparsity``)."""
    if not isinstance(schedule, str):
        seq = [float(s) for s in schedule]
        if len(seq) != stages:
            raise ValueError(f"schedule has {len(seq)} sparsities but stages={stages}.")
        if any(b < a for a, b in zip(seq, seq[1:], strict=False)) or not np.isclose(
            seq[-1], sparsity
        ):
            raise ValueError(
                "a schedule sequence must be non-decreasing and end at `sparsity`, got "
                f"{seq} for sparsity={sparsity}."
            )
        seq[-1] = sparsity
        return seq
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {SCHEDULES} or a sequence, got {schedule!r}.")
    t = np.arange(1, stages + 1) / stages
    if schedule == "cubic":
        s = sparsity * (1 - (1 - t) ** 3)
    elif schedule == "linear":
        s = sparsity * t
    else:
        s = 1 - (1 - sparsity) ** t
    out = [float(v) for v in s]
    out[-1] = sparsity
    return out


def n_zeros(sparsity: float, total: int) -> int:
    """Number of zeros for a sparsity over ``total`` weights: ``round(sparsity * total)``."""
    return int(round(sparsity * total))


def topk_mask(scores: np.ndarray, k: int) -> np.ndarray:
    """Boolean mask of the ``k`` largest scores (ties broken by position, deterministic)."""
    mask = np.zeros(scores.shape[0], dtype=bool)
    if k > 0:
        order = np.argsort(-scores, kind="stable")
        mask[order[:k]] = True
    return mask


def counts_per_slice(mask: np.ndarray, slices: Sequence[tuple[int, int]]) -> np.ndarray:
    return np.array([int(mask[a:b].sum()) for a, b in slices], dtype=np.int64)


def enforce_guard(
    mask: np.ndarray, scores: np.ndarray, slices: Sequence[tuple[int, int]], min_keep: int = 1
) -> tuple[np.ndarray, int]:
    """Make every slice keep at least ``min_keep`` entries without changing ``mask.sum()``.

    An emptied slice gets its highest-scoring entries back; the same number of the
    lowest-scoring kept entries leave slices that keep more than ``min_keep``. Returns the new
    mask and the number of entries moved.
    """
    mask = mask.copy()
    moved = 0
    counts = counts_per_slice(mask, slices)
    need = [(i, min(min_keep, b - a) - counts[i]) for i, (a, b) in enumerate(slices)]
    need = [(i, d) for i, d in need if d > 0]
    if not need:
        return mask, 0
    total_need = sum(d for _, d in need)
    if mask.sum() < min_keep * len(slices):
        raise ValueError(
            f"cannot keep {min_keep} weight(s) in each of the {len(slices)} layers with only "
            f"{int(mask.sum())} weights kept; lower the sparsity."
        )
    # Candidates to drop: kept entries of slices with spare weights, lowest score first.
    owner = np.empty(mask.shape[0], dtype=np.int64)
    for i, (a, b) in enumerate(slices):
        owner[a:b] = i
    kept = np.flatnonzero(mask)
    kept = kept[np.argsort(scores[kept], kind="stable")]
    spare = counts - min_keep
    for i, d in need:
        a, b = slices[i]
        cand = a + np.argsort(-scores[a:b], kind="stable")
        cand = cand[~mask[cand]][:d]
        mask[cand] = True
        moved += cand.size
    dropped = 0
    for j in kept:
        if dropped == total_need:
            break
        o = owner[j]
        if spare[o] > 0:
            mask[j] = False
            spare[o] -= 1
            dropped += 1
    return mask, moved


def guarded_topk(
    scores: np.ndarray, k: int, slices: Sequence[tuple[int, int]]
) -> tuple[np.ndarray, int]:
    """Global top-k mask in which no slice (layer) is emptied."""
    return enforce_guard(topk_mask(scores, k), scores, slices)
