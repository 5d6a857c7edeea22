"""The stage loop of ``prune``: one least-squares solve per stage, driven by one context.

Stage t (sparsity s_t) from the flat weights w: allocate k per problem (magnitude ranking),
build each group's A from per-sample gradients at w, solve every problem of the group from the
magnitude start with ``w_ref = w``, and return the new weights and mask; the next stage starts
from them (CHITA++). See :mod:`.fisher` for A and b.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from sparse_regression import SparseProblem, backsolve
from sparse_regression.constants import TINY
from sparse_regression.linalg import column_sq_norms, matvec

from .allocation import enforce_guard
from .batchnorm import project_channel_scale
from .fisher import GradientMode, build_matrix, mean_fisher_diag, progress_bar, segments
from .planning import ProblemRange, allocate
from .report import StageRecord
from .targets import Target
from .validity import check_fisher_scale

__all__ = [
    "StageContext",
    "flat_weights",
    "keep_channel_norms",
    "run_stage",
    "run_stages",
    "set_flat_weights",
]


@dataclass
class StageContext:
    """Everything that stays fixed across the stages of one prune.

    ``problems`` and ``groups`` come from :mod:`.planning`; ``notes`` collects the guard's
    messages for the report.
    """

    model: nn.Module
    targets: list[Target]
    slices: list[tuple[int, int]]
    batches: list[tuple]
    loss_fn: Callable
    problems: list[ProblemRange]
    groups: list[list[int]]
    scope: str
    guard: bool
    ridge: float
    first_order: bool
    solver: object
    progress: bool
    notes: list[str]
    #: indices of targets feeding a BN layer: their channel-scale directions leave A
    bn_targets: list[int] = field(default_factory=list)
    #: called between stages (BN recalibration), so the next Fisher sees the recalibrated net
    between_stages: Callable[[], object] | None = None
    #: per-weight factors c (> 0): the stage is solved in the variables c * w (BN folded in)
    column_scale: Callable[[], np.ndarray] | None = None
    #: rescale each BN-fed channel's solved weights to their norm at the stage start
    keep_channel_norms: bool = False

    @property
    def n_samples(self) -> int:
        return sum(len(x) for x, _ in self.batches)


def flat_weights(targets: list[Target]) -> np.ndarray:
    """The targets' weights as one float64 vector (targets in order, each flattened)."""
    return np.concatenate(
        [t.param.detach().to("cpu", torch.float64).reshape(-1).numpy() for t in targets]
    )


@torch.no_grad()
def set_flat_weights(targets: list[Target], w: np.ndarray, slices) -> None:
    """Copy the flat vector ``w`` back into the targets (inverse of :func:`flat_weights`)."""
    for t, (a, b) in zip(targets, slices, strict=True):
        t.param.copy_(torch.from_numpy(w[a:b]).reshape(t.shape).to(t.param.device, t.param.dtype))


def run_stages(ctx: StageContext, w: np.ndarray, schedule) -> tuple[list, np.ndarray, np.ndarray]:
    """Every stage of ``schedule`` in turn; returns ``(records, w, mask)``.

    Between stages the model holds the previous stage's weights (its gradients define the next
    stage's A); after the last, the caller writes the weights and masks back.
    """
    mask = np.ones(w.shape[0], dtype=bool)
    records = []
    for t_idx, s_t in enumerate(schedule, start=1):
        rec, w, mask = run_stage(ctx, w, s_t, t_idx)
        records.append(rec)
        if t_idx < len(schedule):
            set_flat_weights(ctx.targets, w, ctx.slices)
            if ctx.between_stages is not None:
                ctx.between_stages()
    return records, w, mask


def run_stage(ctx: StageContext, w: np.ndarray, s_t: float, t_idx: int):
    """One pruning stage at sparsity ``s_t`` from weights ``w``; returns (record, w, mask)."""
    n = ctx.n_samples
    problems = ctx.problems
    scale = None if ctx.column_scale is None else ctx.column_scale()
    if scale is not None:  # A v with v = scale * w: A's columns are divided by scale below
        w = w * scale
    ks, mask_mag = allocate(w, ctx.slices, problems, ctx.scope, s_t, ctx.guard)
    k_total = int(mask_mag.sum())
    rec = StageRecord(t_idx, s_t, k_total, len(problems), ridge=None, n_passes=0)
    w_new = np.where(mask_mag, w, 0.0)
    mask_new = mask_mag.copy()
    if k_total == w.shape[0]:
        return rec, (w.copy() if scale is None else w / scale), mask_new
    obj_mag = obj = 0.0
    solver_info = {"n_iter": 0, "converged": True, "optimality": set(), "time": 0.0}
    mean_diag = None
    if len(ctx.groups) > 1:
        t0 = time.perf_counter()
        mean_diag = mean_fisher_diag(
            ctx.model, ctx.targets, ctx.slices, ctx.batches, ctx.loss_fn, ctx.progress
        )
        rec.time_gradients += time.perf_counter() - t0
        rec.n_passes += 1
    for g in ctx.groups:
        lo, hi = problems[g[0]].lo, problems[g[-1]].hi
        t0 = time.perf_counter()
        bar = progress_bar(n, f"chita gradients (stage {t_idx})", ctx.progress)
        with GradientMode(ctx.model, ctx.targets), bar:
            A = build_matrix(
                ctx.model,
                ctx.batches,
                segments(ctx.targets, ctx.slices, lo, hi),
                ctx.loss_fn,
                hi - lo,
                bar.update,
            )
        for i in ctx.bn_targets:  # BN-aware Fisher (batchnorm.project_channel_scale)
            a, b = ctx.slices[i]
            s, e = max(a, lo), min(b, hi)
            if s < e:
                shape = ctx.targets[i].shape
                project_channel_scale(A[:, s - lo : e - lo], w[a:b], shape, (s - a, e - a))
        if scale is not None:
            A *= (1.0 / scale[lo:hi]).astype(np.float32)[None, :]
        scanned = mean_diag is None  # the ridge scale reads every entry of this A
        if scanned:
            mean_diag = float(column_sq_norms(A).mean())
        if not math.isfinite(mean_diag):
            raise ValueError(
                "the per-sample gradients contain NaN or inf; check the model's outputs and "
                "loss_fn on the calibration data (e.g. with torch.autograd.detect_anomaly)."
            )
        check_fisher_scale(mean_diag, w, n)
        rec.time_gradients += time.perf_counter() - t0
        rec.n_passes += 1
        ridge_abs = ctx.ridge * mean_diag
        rec.ridge = ridge_abs
        t0 = time.perf_counter()
        for i in g:
            pb = problems[i]
            k = ks[i]
            wb = w[pb.lo : pb.hi]
            if k == 0 or k == pb.size:
                continue  # nothing to solve: all pruned / all kept (magnitude values stand)
            Ab = A[:, pb.lo - lo : pb.hi - lo]
            bvec = matvec(Ab, wb)
            if ctx.first_order:
                bvec -= 1.0 / math.sqrt(n)
            # A was scanned for NaN/inf through its column norms when they set the ridge scale.
            prob = SparseProblem(Ab, bvec, k, ridge=ridge_abs, w_ref=wb, check_finite=not scanned)
            start = w_new[pb.lo : pb.hi].copy()
            f_mag = prob.objective(start)
            sol = ctx.solver.solve(prob, warm_start=start)
            coef, support = finalize_solution(
                prob, sol, k, wb, ctx.slices, pb, ctx.guard and len(problems) == 1, ctx.notes
            )
            obj_mag += f_mag
            obj += prob.objective(coef)
            w_new[pb.lo : pb.hi] = coef
            mask_new[pb.lo : pb.hi] = support
            solver_info["n_iter"] += int(getattr(sol, "n_iter", 0))
            solver_info["converged"] &= bool(getattr(sol, "converged", True))
            solver_info["optimality"].add(str(getattr(sol, "optimality", "none")))
            solver_info["time"] += float(getattr(sol, "time", 0.0))
        rec.time_solve += time.perf_counter() - t0
        # Drop every reference to this group's A (problem, views) before the next is built.
        A = Ab = prob = sol = None  # noqa: F841
    solver_info["optimality"] = sorted(solver_info["optimality"])
    rec.solver = solver_info
    rec.objective_magnitude, rec.objective = obj_mag, obj
    if scale is not None:
        w_new, w = w_new / scale, w / scale
    if ctx.keep_channel_norms:
        for i in ctx.bn_targets:
            a, b = ctx.slices[i]
            keep_channel_norms(w_new[a:b], w[a:b], ctx.targets[i].shape[0])
    return rec, w_new, mask_new


def keep_channel_norms(w_new: np.ndarray, w_old: np.ndarray, rows: int) -> None:
    """In place: rescale each row (output channel) of ``w_new`` to the norm it had in ``w_old``.

    For a BN-fed channel this changes nothing once BN is recalibrated (scale invariance), but
    it keeps the channel's weights comparable to the rest at the next stage or pruning event:
    the BN-aware model sees shrinking a channel as free, and a shrunk channel would otherwise
    be the first to go at the next magnitude ranking.
    """
    new, old = w_new.reshape(rows, -1), w_old.reshape(rows, -1)
    n_new = np.linalg.norm(new, axis=1)
    n_old = np.linalg.norm(old, axis=1)
    ok = n_new > 0
    new[ok] *= (n_old[ok] / n_new[ok])[:, None]


def finalize_solution(prob, sol, k, w_ref, slices, pb, guard, notes):
    """Check a solver's answer; fill the support to exactly k and apply the layer guard.

    Returns ``(coef, support)`` with ``support.sum() == k`` (a kept weight may be exactly 0 in
    degenerate cases; the mask still keeps it).
    """
    coef = np.asarray(getattr(sol, "coef", None), dtype=np.float64)
    if coef.shape != (pb.size,) or not np.all(np.isfinite(coef)):
        raise ValueError(
            f"the solver returned coef of shape {coef.shape} (finite: "
            f"{bool(np.all(np.isfinite(coef)))}); expected a finite vector of length {pb.size}."
        )
    support = coef != 0
    nnz = int(support.sum())
    if nnz > k:
        raise ValueError(f"the solver returned {nnz} nonzeros for k={k}; it must keep at most k.")
    changed = False
    if nnz < k:  # fill with the largest reference weights so the mask keeps exactly k
        extra = np.where(support, -np.inf, np.abs(w_ref))
        support[np.argsort(-extra, kind="stable")[: k - nnz]] = True
        changed = True
    if guard:
        local = [(max(a, pb.lo) - pb.lo, min(b, pb.hi) - pb.lo) for a, b in slices]
        scores = np.where(support, np.abs(coef) + TINY, np.abs(w_ref))
        support, moved = enforce_guard(support, scores, local)
        if moved:
            notes.append(f"guard: {moved} weight(s) moved so that no layer is emptied")
            changed = True
    if changed:
        coef = np.where(support, backsolve(prob, np.flatnonzero(support)), 0.0)
    return coef, support
