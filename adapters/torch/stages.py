"""The stage loop of ``prune``: one least-squares solve per stage, driven by one context.

Stage t (sparsity s_t) from the flat weights w: allocate k per problem (magnitude ranking;
block mode: the support of a global solve on the samples that fit memory,
:func:`global_allocation`),
build each group's A from per-sample gradients at w, solve every problem of the group from the
magnitude start with ``w_ref = w``, and return the new weights and mask; the next stage starts
from them (CHITA++). See :mod:`.fisher` for A and b.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from sparse_regression import backsolve
from sparse_regression.constants import TINY

from .allocation import enforce_guard, n_zeros
from .block_mode import BLOCK_MIN_RIDGE, DAMPING, damped, merge_combiners
from .executors import run_groups
from .flops import knapsack_mask
from .group_solve import GroupJob
from .holdout import head_samples, holdout_loss
from .planning import ProblemRange, allocate, plan_problems
from .report import StageRecord
from .targets import Target
from .validity import check_fisher_scale

__all__ = ["StageContext", "flat_weights", "run_stage", "run_stages", "set_flat_weights"]


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
    holdout: list[tuple]  # the reality check's held-out batches
    executor: str = "serial"  # who runs the group solves (executors.py)
    #: FALCON: per-weight MACs, the MAC budget of each stage, and whether k also binds.
    costs: np.ndarray | None = None
    flop_schedule: list[float] | None = None
    cardinality: bool = True
    #: indices of targets feeding a BN layer: their channel-scale directions leave A
    bn_targets: list[int] = field(default_factory=list)
    #: called between stages (BN recalibration), so the next Fisher sees the recalibrated net
    between_stages: Callable[[], object] | None = None
    #: block mode: samples of the global solve that splits k across blocks (0: magnitude split)
    alloc_samples: int = 0
    #: ... and its solver (None: ``solver``)
    alloc_solver: object = None

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
        budget_t = None if ctx.flop_schedule is None else ctx.flop_schedule[t_idx - 1]
        rec, w, mask = run_stage(ctx, w, s_t, t_idx, budget_t)
        records.append(rec)
        if t_idx < len(schedule):
            set_flat_weights(ctx.targets, w, ctx.slices)
            if ctx.between_stages is not None:
                ctx.between_stages()
    return records, w, mask


def _budget_k(ctx, s_t: float, total: int) -> int:
    """The cardinality of a FLOP-budgeted stage: from the stage's sparsity, or no limit."""
    return total - n_zeros(s_t, total) if ctx.cardinality else total


def _allocate_budget(ctx, w, s_t, budget_t):
    """FALCON: the FLOP-aware magnitude start (knapsack on w^2 under both budgets) and, per
    problem, its k (the start's count, or the block size when only the FLOP budget binds) and
    its share of the budget (the start's cost in the block), so that blocks share the budget
    as the knapsack splits it rather than evenly (block mode replaces both by the budgeted
    global solve's split when one fits memory, :func:`global_allocation`)."""
    total = w.shape[0]
    k = _budget_k(ctx, s_t, total)
    mask = knapsack_mask(w, ctx.costs, k, budget_t)
    ks, budgets = [], []
    for pb in ctx.problems:
        ks.append(int(mask[pb.lo : pb.hi].sum()) if ctx.cardinality else pb.size)
        budgets.append(float(ctx.costs[pb.lo : pb.hi][mask[pb.lo : pb.hi]].sum()))
    if len(ctx.problems) == 1:
        ks, budgets = [k], [budget_t]
    return ks, budgets, mask


def run_stage(ctx: StageContext, w: np.ndarray, s_t: float, t_idx: int, budget_t=None):
    """One pruning stage at sparsity ``s_t`` (and MAC budget ``budget_t``, FALCON) from weights
    ``w``; returns (record, w, mask).

    The model's target weights equal ``w`` on entry and on exit. Block mode (more than one
    problem) keeps each block's update in the trusted region (:mod:`.block_mode`); every
    stage ends with the reality check on the held-out slice.
    """
    n = ctx.n_samples
    problems = ctx.problems
    if budget_t is None:
        ks, mask_mag = allocate(w, ctx.slices, problems, ctx.scope, s_t, ctx.guard)
        budgets = [None] * len(problems)
    else:
        ks, budgets, mask_mag = _allocate_budget(ctx, w, s_t, budget_t)
    k_total = int(mask_mag.sum())
    rec = StageRecord(t_idx, s_t, k_total, len(problems), ridge=None, n_passes=0)
    if budget_t is not None:
        rec.flop_budget = float(budget_t)
    w_mag = np.where(mask_mag, w, 0.0)
    if k_total == w.shape[0]:
        return rec, w.copy(), mask_mag.copy()
    start, start_mask, w_glob = None, mask_mag, None
    if len(problems) > 1 and ctx.alloc_samples:
        budgeted = None if budget_t is None else (budget_t, mask_mag)
        w_glob, support, t_grad, t_solve = global_allocation(ctx, w, s_t, t_idx, budgeted)
        if budget_t is None or ctx.cardinality:
            ks = [int(support[pb.lo : pb.hi].sum()) for pb in problems]
        if budget_t is not None:  # each block gets the global support's share of the budget
            budgets = [
                float(ctx.costs[pb.lo : pb.hi][support[pb.lo : pb.hi]].sum()) for pb in problems
            ]
        start, start_mask = np.where(support, w, 0.0), support
        rec.time_gradients += t_grad
        rec.time_solve += t_solve
    w_new = (w_mag if start is None else start).copy()
    mask_new = start_mask.copy()
    obj_mag = obj = 0.0
    solver_info = {"n_iter": 0, "converged": True, "optimality": set(), "time": 0.0}
    block_mode = len(problems) > 1
    ridge_rel = max(ctx.ridge, BLOCK_MIN_RIDGE) if block_mode else ctx.ridge
    if block_mode and ctx.ridge < BLOCK_MIN_RIDGE and t_idx == 1:
        ctx.notes.append(
            f"block mode: relative ridge raised from {ctx.ridge:g} to {BLOCK_MIN_RIDGE:g} per "
            "block (each block's update must stay in the trusted region)"
        )

    def jobs():
        for g in ctx.groups:
            lo, hi = problems[g[0]].lo, problems[g[-1]].hi
            yield GroupJob(
                model=ctx.model,
                targets=ctx.targets,
                slices=ctx.slices,
                batches=ctx.batches,
                loss_fn=ctx.loss_fn,
                problems=[problems[i] for i in g],
                ks=[ks[i] for i in g],
                lo=lo,
                hi=hi,
                w=w[lo:hi].copy(),
                w_mag=w_mag[lo:hi].copy(),
                ridge_rel=ridge_rel,
                block_mode=block_mode,
                first_order=ctx.first_order,
                solver=ctx.solver,
                guard=ctx.guard and len(problems) == 1,
                progress=ctx.progress,
                t_idx=t_idx,
                costs=None if ctx.costs is None else ctx.costs[lo:hi],
                budgets=[budgets[i] for i in g],
                bn_targets=ctx.bn_targets,
                start=None if start is None else start[lo:hi].copy(),
                alt=None if w_glob is None else w_glob[lo:hi].copy(),
            )

    results = run_groups(jobs(), ctx.executor)
    ridges, skipped = [], {}
    for res in results:
        w_new[res.lo : res.hi] = res.coef
        mask_new[res.lo : res.hi] = res.support
        obj_mag += res.obj_mag
        obj += res.obj
        ridges.extend(res.ridges)
        ctx.notes.extend(res.notes)
        rec.time_gradients += res.time_gradients
        rec.time_solve += res.time_solve
        rec.n_passes += 1
        for summary in res.solutions:
            _collect_info(solver_info, summary, skipped)
    check_fisher_scale(
        sum(r.col_sq_sum for r in results) / max(sum(r.n_cols for r in results), 1), w, n
    )
    combiner = merge_combiners([r.combiner for r in results]) if block_mode else None
    solver_info["optimality"] = sorted(solver_info["optimality"])
    for key in ("local_search", "swap_ranking"):
        if key in solver_info:
            solver_info[key] = sorted(solver_info[key])
    for why, count in skipped.items():
        rec.degraded.append(f"swap round skipped in {count} problem(s): {why}")
    rec.ridge = float(np.mean(ridges)) if ridges else None
    t0 = time.perf_counter()
    loss_start = holdout_loss(ctx.model, ctx.holdout, ctx.loss_fn)
    if block_mode:
        solver_info["objective_block_diagonal"] = obj
        w_new, obj = _choose_damping(ctx, w, w_mag, w_new, mask_new, combiner, rec, w_glob)
        rec.block_choice["allocation"] = (
            "magnitude" if start is None else f"global solve on {ctx.alloc_samples} samples"
        )
        obj_mag = combiner.objective_magnitude
        if rec.block_choice["chosen"] == "magnitude":
            mask_new = mask_mag.copy()
        elif rec.block_choice["chosen"] == "global solve":
            mask_new = start_mask.copy()
        predicted = obj - combiner.objective_dense
    else:
        dense = 0.5 / n if ctx.first_order else 0.0  # 1/2 ||e||^2: the model at w
        predicted = obj - dense
    set_flat_weights(ctx.targets, w_new, ctx.slices)
    rec.loss_before = loss_start
    rec.loss_after = holdout_loss(ctx.model, ctx.holdout, ctx.loss_fn)
    rec.predicted_change = predicted
    set_flat_weights(ctx.targets, w, ctx.slices)
    rec.time_solve += time.perf_counter() - t0
    rec.solver = solver_info
    rec.objective_magnitude, rec.objective = obj_mag, obj
    return rec, w_new, mask_new


def global_allocation(ctx: StageContext, w: np.ndarray, s_t: float, t_idx: int, budgeted=None):
    """Block mode's split of k: the support of one solve of the *unblocked* problem (one global
    problem, or one per layer with ``scope="layer"``) on the first ``ctx.alloc_samples``
    calibration samples, whose A fits ``memory_limit``. With ``budgeted = (MAC budget, its
    FLOP-aware magnitude mask over all weights)`` (FALCON, global scope) that solve is the
    budgeted one from that mask, so it also splits the budget.

    Blocks solved on their own cannot weigh a weight against the other blocks' weights; the
    magnitude split that they would otherwise get is what loses most of block mode's accuracy
    (docs/pruning.md, "Block mode"). Returns
    ``(answer, support, seconds gradients, seconds solve)``.
    """
    total = w.shape[0]
    probs = plan_problems(ctx.slices, total, ctx.scope, None)
    if budgeted is None:
        ks, mask = allocate(w, ctx.slices, probs, ctx.scope, s_t, ctx.guard)
        extra = {}
    else:
        budget_t, mask = budgeted
        ks = [_budget_k(ctx, s_t, total)]
        extra = dict(costs=ctx.costs, budgets=[float(budget_t)])
    job = GroupJob(
        model=ctx.model,
        targets=ctx.targets,
        slices=ctx.slices,
        batches=head_samples(ctx.batches, ctx.alloc_samples),
        loss_fn=ctx.loss_fn,
        problems=probs,
        ks=ks,
        lo=0,
        hi=total,
        w=w.copy(),
        w_mag=np.where(mask, w, 0.0),
        ridge_rel=ctx.ridge,
        block_mode=False,
        first_order=ctx.first_order,
        solver=ctx.solver if ctx.alloc_solver is None else ctx.alloc_solver,
        guard=ctx.guard and len(probs) == 1,
        progress=ctx.progress,
        t_idx=t_idx,
        bn_targets=ctx.bn_targets,
        **extra,
    )
    res = run_groups(iter([job]), ctx.executor)[0]
    return res.coef, res.support, res.time_gradients, res.time_solve


def finalize_budget_solution(prob, sol, pb):
    """Check a solver's answer to a FLOP-budgeted problem: finite, within both budgets (no
    fill: a filled support could exceed the FLOP budget). Returns ``(coef, support)``."""
    coef = np.asarray(getattr(sol, "coef", None), dtype=np.float64)
    if coef.shape != (pb.size,) or not np.all(np.isfinite(coef)):
        raise ValueError(
            f"the solver returned coef of shape {coef.shape}; expected a finite vector of "
            f"length {pb.size}."
        )
    if not prob.is_feasible(coef):
        raise ValueError(
            f"the solver's answer breaks the budgets: {np.count_nonzero(coef)} nonzeros for "
            f"k={prob.k}, cost {prob.support_cost(coef):.6g} for budget {prob.budget:.6g}."
        )
    return coef, coef != 0


def _collect_info(solver_info: dict, summary: dict, skipped: dict) -> None:
    """Fold one problem's solution summary into the stage's (skipped swap rounds too)."""
    solver_info["n_iter"] += summary["n_iter"]
    solver_info["converged"] &= summary["converged"]
    solver_info["optimality"].add(summary["optimality"])
    solver_info["time"] += summary["time"]
    info = summary["info"]
    if "local_search_skipped" in info:
        why = info["local_search_skipped"]
        skipped[why] = skipped.get(why, 0) + 1
    for key in ("local_search", "swap_ranking"):
        if key in info:
            solver_info.setdefault(key, set()).add(info[key])


def _choose_damping(ctx, w, w_mag, w_new, mask, combiner, rec, w_glob=None):
    """Block mode: the damped block update, the global allocation solve's answer ``w_glob``
    (when there is one) or the magnitude point, whichever has the lowest held-out loss
    (:mod:`.block_mode`). Returns (weights, full-model objective)."""
    cands = [(f"damping {a:g}", damped(w, w_new, mask, a), combiner.objective(a)) for a in DAMPING]
    if w_glob is not None:
        cands.append(("global solve", w_glob, combiner.objective_global))
    cands.append(("magnitude", w_mag, combiner.objective_magnitude))
    losses = []
    for _, cand, _ in cands:
        set_flat_weights(ctx.targets, cand, ctx.slices)
        losses.append(holdout_loss(ctx.model, ctx.holdout, ctx.loss_fn))
    set_flat_weights(ctx.targets, w, ctx.slices)
    best = int(np.argmin(losses))
    name, w_best, q_best = cands[best]
    rec.block_choice = {
        "chosen": name,
        "holdout_loss": {c[0]: float(v) for c, v in zip(cands, losses, strict=True)},
        "full_model": {c[0]: float(c[2]) for c in cands},
    }
    if name != "damping 1":
        rec.degraded.append(
            f"block mode: the raw block update was damped ({name}): held-out loss "
            f"{losses[0]:.4g} raw vs {losses[best]:.4g}"
        )
    return w_best, q_best


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
