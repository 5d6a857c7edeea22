"""Planning a prune before any gradient is computed.

* :func:`plan_problems` -- which contiguous ranges of the flat weight vector are solved as one
  problem (one global problem; one per layer for ``scope="layer"``; one per block for
  ``block_size``);
* :func:`allocate` -- how many weights each problem keeps at a stage (magnitude ranking splits k
  across blocks; with ``scope="global"`` the layer guard keeps every layer non-empty); block
  mode refines the split with a global solve on :func:`allocation_samples` samples
  (:mod:`.block_mode`);
* :func:`plan_groups` -- consecutive problems packed into groups whose matrix A (plus the
  solver's workspace) fits ``memory_limit``; one group's A is built at a time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sparse_regression.constants import GRAD_RESERVE

from .allocation import guarded_topk, n_zeros, topk_mask
from .memory import format_bytes, problem_bytes

__all__ = [
    "ProblemRange",
    "allocate",
    "allocation_samples",
    "check_layer_k",
    "global_problem_bytes",
    "guard_mask",
    "plan_groups",
    "plan_problems",
]


@dataclass
class ProblemRange:
    """A contiguous range [lo, hi) of the flat weight vector solved as one problem."""

    lo: int
    hi: int

    @property
    def size(self) -> int:
        return self.hi - self.lo


def plan_problems(slices, total, scope, block_size) -> list[ProblemRange]:
    """The problems of one stage: the whole vector, or per layer / per block of each layer."""
    if block_size is None and scope == "global":
        return [ProblemRange(0, total)]
    out = []
    for a, b in slices:
        step = block_size or (b - a)
        out.extend(ProblemRange(s, min(b, s + step)) for s in range(a, b, step))
    return out


def allocate(w, slices, problems, scope, sparsity, guard):
    """k of each problem at this stage (magnitude ranking splits k across blocks)."""
    total = w.shape[0]
    scores = np.abs(w)
    if scope == "global":
        k = total - n_zeros(sparsity, total)
        if len(problems) == 1:
            return [k], guard_mask(scores, k, slices, guard)
        mask, _ = guarded_topk(scores, k, slices) if guard else (topk_mask(scores, k), 0)
    else:
        mask = np.zeros(total, dtype=bool)
        for a, b in slices:
            kl = (b - a) - n_zeros(sparsity, b - a)
            mask[a:b] = topk_mask(scores[a:b], kl)
    return [int(mask[p.lo : p.hi].sum()) for p in problems], mask


def global_problem_bytes(m: int, total: int, k: int) -> int:
    """Peak bytes of one global problem with ``m`` samples: A, the solver's workspace and the
    per-sample gradient buffers."""
    return problem_bytes(m, total, max(k, 1)) + min(GRAD_RESERVE, 8 * m * total)


def allocation_samples(n: int, total: int, k: int, limit: int) -> int:
    """The largest ``n' <= n`` whose one global problem (:func:`global_problem_bytes`) fits
    ``limit``; 0 when none does."""
    if global_problem_bytes(n, total, k) <= limit:
        return n
    lo, hi = 0, n  # lo fits (or is 0), hi does not
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if global_problem_bytes(mid, total, k) <= limit else (lo, mid)
    return lo


def guard_mask(scores, k, slices, guard):
    """The top-``k`` mask of ``scores``, with the layer guard when ``guard``."""
    if guard:
        return guarded_topk(scores, k, slices)[0]
    return topk_mask(scores, k)


def check_layer_k(targets, slices, sparsity, scope):
    """ValueError when ``sparsity`` would leave a target (or every target) without weights."""
    total = slices[-1][1]
    if scope == "global":
        k = total - n_zeros(sparsity, total)
        if k < len(targets):
            raise ValueError(
                f"sparsity={sparsity} keeps {k} of {total} weights, fewer than one per target "
                f"({len(targets)} targets); lower the sparsity."
            )
    else:
        for t, (a, b) in zip(targets, slices, strict=True):
            if (b - a) - n_zeros(sparsity, b - a) < 1:
                raise ValueError(
                    f"scope='layer', sparsity={sparsity} would remove all {b - a} weights of "
                    f"{t.name!r}; lower the sparsity or add it to ignore."
                )


def plan_groups(problems, ks, n, limit, block_mode, n_target):
    """Pack consecutive problems into groups whose A (plus workspace) fits ``limit``.

    Returns ``(groups, peak_bytes)``; raises ValueError (naming the fix) when one problem alone
    does not fit.
    """
    total = sum(p.size for p in problems)
    reserve = min(GRAD_RESERVE, 8 * n * total)  # per-sample gradient buffers while filling A

    def ws(i):
        pb = problems[i]
        return problem_bytes(n, pb.size, max(ks[i], 1)) - 4 * n * pb.size

    need_all = 4 * n * sum(p.size for p in problems) + max(ws(i) for i in range(len(problems)))
    need_all += reserve
    if need_all <= limit:
        return [list(range(len(problems)))], need_all
    if not block_mode:
        # peak for n' samples: n' * per_row + min(GRAD_RESERVE, 8 n' p) (the reserve shrinks
        # with n' too); the largest n' that fits
        per_row = (need_all - reserve) / n
        n_fit = int(limit // (per_row + 8 * total))
        if n_fit * 8 * total > GRAD_RESERVE:
            n_fit = int((limit - GRAD_RESERVE) // per_row) if limit > GRAD_RESERVE else 0
        bs_fit = int(max(1, (limit - reserve) // (3 * 4 * n))) if limit > reserve else 1
        bs_hint = min(max(n_target, 1), 2 ** int(math.log2(max(bs_fit, 1))))
        if n_fit >= 1:
            fix = (
                f"Use n_samples <= {n_fit}, or block_size={bs_hint} (block-diagonal Fisher, "
                "A built block by block), or raise memory_limit."
            )
        else:
            one = per_row + min(GRAD_RESERVE, 8 * total)
            fix = (
                f"Not even one sample fits (one needs about {format_bytes(one)}): raise "
                f"memory_limit to at least {format_bytes(one)} (or use 'auto'), or prune in "
                f"blocks with block_size={bs_hint} and a larger memory_limit."
            )
        raise ValueError(
            f"the Fisher matrix A (n_samples={n} x p={problems[0].size}, float32) and the "
            f"solver's workspace need about {format_bytes(need_all)} ({int(need_all)} bytes), "
            f"over memory_limit={format_bytes(limit)}. " + fix
        )
    groups, cur, cur_cols, cur_ws = [], [], 0, 0
    for i, pb in enumerate(problems):
        one = 4 * n * pb.size + ws(i) + reserve
        if one > limit:
            raise ValueError(
                f"one block of {pb.size} columns needs about {format_bytes(one)} with "
                f"n_samples={n}, over memory_limit={format_bytes(limit)}; use a smaller "
                f"block_size or n_samples, or raise memory_limit."
            )
        new_ws = max(cur_ws, ws(i))
        if cur and 4 * n * (cur_cols + pb.size) + new_ws + reserve > limit:
            groups.append(cur)
            cur, cur_cols, new_ws = [], 0, ws(i)
        cur.append(i)
        cur_cols += pb.size
        cur_ws = new_ws
    groups.append(cur)
    peak = max(
        4 * n * sum(problems[i].size for i in g) + max(ws(i) for i in g) + reserve for g in groups
    )
    return groups, peak
