"""One group of a stage, self-contained: build its slice of A, solve its problems.

Groups of block mode are independent once k is allocated (DESIGN.md section 9): a group needs
the model at the stage's weights, its calibration batches, its ranges of the flat weight
vector and its ks, and returns its solutions plus the n-vectors of the full quadratic model
(:class:`.block_mode.BlockCombiner`). The serial path and the Ray tasks of :mod:`.executors`
call the same :func:`solve_group`, so their results are identical.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from sparse_regression import SparseProblem
from sparse_regression.linalg import column_sq_norms, matvec

from .batchnorm import project_channel_scale
from .block_mode import BlockCombiner
from .fisher import GradientMode, build_matrix, progress_bar, segments
from .planning import ProblemRange

__all__ = ["GroupJob", "GroupResult", "solve_group"]


@dataclass
class GroupJob:
    """Everything one group needs. ``w`` and ``w_mag`` cover only [lo, hi) of the group."""

    model: object
    targets: list  # Target objects of ``model``
    slices: list[tuple[int, int]]
    batches: list[tuple]
    loss_fn: Callable
    problems: list[ProblemRange]
    ks: list[int]
    lo: int
    hi: int
    w: np.ndarray
    w_mag: np.ndarray
    ridge_rel: float
    block_mode: bool
    first_order: bool
    solver: object
    guard: bool  # the layer guard (one global problem only)
    progress: bool
    t_idx: int
    #: FALCON: per-weight MACs over [lo, hi) and each problem's MAC budget (None: no budget).
    costs: np.ndarray | None = None
    budgets: list | None = None
    #: BN-aware Fisher: targets (indices) whose channel-scale directions are projected out
    bn_targets: list = field(default_factory=list)
    #: Block mode with a global allocation: each block's start (``w`` on the allocated
    #: support) over [lo, hi); None: the magnitude point ``w_mag``.
    start: np.ndarray | None = None
    #: ... and that global solve's answer over [lo, hi) (a candidate of the stage's choice)
    alt: np.ndarray | None = None


@dataclass
class GroupResult:
    """Solutions of one group (over [lo, hi)) and what the stage aggregates."""

    lo: int
    hi: int
    coef: np.ndarray
    support: np.ndarray
    combiner: BlockCombiner | None
    obj_mag: float = 0.0
    obj: float = 0.0
    col_sq_sum: float = 0.0
    n_cols: int = 0
    ridges: list[float] = field(default_factory=list)
    solutions: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    time_gradients: float = 0.0
    time_solve: float = 0.0


def _summary(sol) -> dict:
    info = getattr(sol, "info", None) or {}
    return {
        "n_iter": int(getattr(sol, "n_iter", 0)),
        "converged": bool(getattr(sol, "converged", True)),
        "optimality": str(getattr(sol, "optimality", "none")),
        "time": float(getattr(sol, "time", 0.0)),
        "info": {
            k: str(info[k])
            for k in ("local_search", "local_search_skipped", "swap_ranking")
            if k in info
        },
    }


def _project_bn_scales(A: np.ndarray, job: GroupJob) -> None:
    """BN-aware Fisher (:func:`.batchnorm.project_channel_scale`) on the group's columns."""
    for i in job.bn_targets:
        a, b = job.slices[i]
        s, e = max(a, job.lo), min(b, job.hi)
        if s >= e:
            continue
        w_t = np.zeros(b - a)
        w_t[s - a : e - a] = job.w[s - job.lo : e - job.lo]
        cols = A[:, s - job.lo : e - job.lo]
        project_channel_scale(cols, w_t, job.targets[i].shape, (s - a, e - a))


def solve_group(job: GroupJob) -> GroupResult:
    """Build the group's A (n x (hi - lo), float32), solve each problem from the magnitude
    start with ``w_ref = w``; block mode: ridge relative to each block's own curvature."""
    from .stages import finalize_budget_solution, finalize_solution  # the same checks

    n = sum(len(x) for x, _ in job.batches)
    lo, hi = job.lo, job.hi
    t0 = time.perf_counter()
    bar = progress_bar(n, f"chita gradients (stage {job.t_idx})", job.progress)
    with GradientMode(job.model, job.targets), bar:
        A = build_matrix(
            job.model,
            job.batches,
            segments(job.targets, job.slices, lo, hi),
            job.loss_fn,
            hi - lo,
            bar.update,
        )
    _project_bn_scales(A, job)
    col_sq = column_sq_norms(A)  # sets the ridge scale and reads every entry of A
    if not np.all(np.isfinite(col_sq)):
        raise ValueError(
            "the per-sample gradients contain NaN or inf; check the model's outputs and "
            "loss_fn on the calibration data (e.g. with torch.autograd.detect_anomaly)."
        )
    start_all = job.w_mag if job.start is None else job.start
    res = GroupResult(
        lo,
        hi,
        start_all.copy(),
        start_all != 0,
        BlockCombiner(n, job.first_order) if job.block_mode else None,
        col_sq_sum=float(col_sq.sum()),
        n_cols=int(col_sq.size),
    )
    res.time_gradients = time.perf_counter() - t0
    t0 = time.perf_counter()
    budgets = job.budgets or [None] * len(job.problems)
    for pb, k, budget in zip(job.problems, job.ks, budgets, strict=True):
        a, b = pb.lo - lo, pb.hi - lo
        costs_b = None if budget is None else job.costs[a:b]
        wb, mag, start = job.w[a:b], job.w_mag[a:b], start_all[a:b]
        alt = None if job.alt is None else job.alt[a:b]
        Ab = A[:, a:b]
        cs = col_sq[a:b] if job.block_mode else col_sq
        ridge_abs = job.ridge_rel * float(cs.mean())
        res.ridges.append(ridge_abs)
        all_fit = costs_b is None or costs_b.sum() <= budget
        if k == 0 or (k == pb.size and all_fit):
            # nothing to solve: all pruned / all kept (magnitude values stand)
            if job.block_mode:
                res.combiner.add(Ab, wb, mag, start, start != 0, ridge_abs, alt)
            continue
        bvec = matvec(Ab, wb)
        if job.first_order:
            bvec -= 1.0 / math.sqrt(n)
        # A was scanned for NaN/inf through its column norms (col_sq above).
        prob = SparseProblem(
            Ab, bvec, k, ridge=ridge_abs, w_ref=wb, check_finite=False, costs=costs_b, budget=budget
        )
        f_mag = prob.objective(mag)
        sol = job.solver.solve(prob, warm_start=start.copy())
        if prob.has_budget:
            coef, support = finalize_budget_solution(prob, sol, pb)
        else:
            coef, support = finalize_solution(
                prob, sol, k, wb, job.slices, pb, job.guard, res.notes
            )
        res.obj_mag += f_mag
        res.obj += prob.objective(coef)
        if job.block_mode:
            res.combiner.add(Ab, wb, mag, coef, support, ridge_abs, alt)
        res.coef[a:b] = coef
        res.support[a:b] = support
        res.solutions.append(_summary(sol))
    res.time_solve = time.perf_counter() - t0
    return res
