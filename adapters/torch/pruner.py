"""``prune``: CHITA / CHITA++ / magnitude pruning of a PyTorch model (docs/pruning.md; the
math in docs/formulation.md, "Pruning as sparse regression").

For each stage (one for CHITA, ``stages`` for CHITA++) with target sparsity s_t:

1. per-sample gradients at the current weights w fill ``A`` (n x p, float32, F-order; rows
   scaled by 1/sqrt(n)), ``b = A w`` (``- 1/sqrt(n)`` with ``first_order``), and the absolute
   ridge is ``ridge * mean(diag(A^T A))``;
2. ``min 1/2||A v - b||^2 + ridge_abs/2 ||v - w||^2  s.t. ||v||_0 <= k_t`` is solved from the
   magnitude-pruned start P_k(w) (one global problem; per layer for ``scope="layer"``; per
   contiguous block for ``block_size``, with k split across blocks by the support of one
   unblocked solve on the samples that fit ``memory_limit``, or by global/per-layer
   magnitude ranking when fewer than 100 fit);
3. the solution becomes w for the next stage (``w_ref`` = previous solution).

The masks and solved weights are written back at the end; on any error the model is restored.
Planning (problems, allocation, memory groups) lives in :mod:`.planning`, the stage loop in
:mod:`.stages`, the matrix A and the Fisher diagonal in :mod:`.fisher`.
"""

from __future__ import annotations

import math
import numbers
import time
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from sparse_regression import IHTSolver
from sparse_regression.threads import resolve_n_jobs

from .allocation import n_zeros, stage_sparsities, topk_mask
from .batchnorm import batchnorm_layers, bn_scale_targets, recalibrate_batchnorm
from .block_mode import BLOCK_ALLOC_MIN_SAMPLES
from .executors import EXECUTORS, require_ray
from .fisher import collect_samples
from .flops import flop_costs, knapsack_mask, magnitude_matched_k, resolve_flop_budget
from .holdout import calibration_split
from .masks import MASK_MODES, write_back
from .memory import format_bytes, parse_memory_limit
from .planning import (
    ProblemRange,
    allocate,
    allocation_samples,
    check_layer_k,
    global_problem_bytes,
    plan_groups,
    plan_problems,
)
from .report import LayerStats, PruneReport, StageRecord
from .snapshot import ModelSnapshot
from .stages import StageContext, flat_weights, run_stages
from .targets import resolve_targets
from .validity import check_finite_weights

__all__ = ["prune", "METHODS", "SCOPES", "CHITA_PP_STAGES", "default_solver"]

METHODS = ("magnitude", "chita", "chita++", "falcon", "falcon++")
#: Methods that take a FLOP budget (``falcon``/``falcon++`` need one).
FLOP_METHODS = ("magnitude", "falcon", "falcon++")
#: Stages of ``method="chita++"`` (and ``"falcon++"``) when ``stages`` is not given. Measured on
#: the demo's MLPNet (benchmarks/chita_pp_stages.py, docs/pruning.md): 8 cubic stages gain 4-31
#: points over one stage at 90-98% sparsity; 16 gain little more at twice the cost.
CHITA_PP_STAGES = 8
SCOPES = ("global", "layer")


def default_solver(local_search: bool = True, random_state=None, n_jobs=None) -> IHTSolver:
    """The core solver with the pruner's settings.

    IHT with line search from the magnitude start and exact backsolves (the active set is off:
    with n << k IHT converges in a few full-gradient passes). With ``local_search`` one round of
    the swap search follows (exact swap scores on a pool of candidate columns, in the
    n-dimensional Woodbury space; see docs/algorithms.md): it lowers the objective further and
    measurably raises accuracy at high sparsity (docs/pruning.md). ``prune`` asks for it when it
    solves one problem once (one stage, no blocks), in every stage of falcon++ (under a FLOP
    budget IHT's knapsack projection rarely moves the support, the swap search does: moves
    that fit the budget) and for block mode's global split; chita++'s stages and the blocks of
    block mode keep to IHT to stay fast. ``n_jobs``: threads of the core's kernels (None: 1, -1: all
    cores; see docs/threads.md). Pass ``solver=sparse_regression.IHTSolver(...)`` for other
    settings.
    """
    return IHTSolver(
        active_set=False,
        local_search=local_search,
        swap_rounds=1,
        # prune() is deterministic unless a random_state is given: seed the perturbations too
        random_state=0 if random_state is None else random_state,
        n_jobs=n_jobs,
    )


def _block_allocation(n: int, total: int, k: int, limit: int, notes: list[str]):
    """Samples of block mode's global allocation solve (0: magnitude split) and its peak
    bytes; says which in ``notes``."""
    m = allocation_samples(n, total, k, limit)
    if m >= min(n, BLOCK_ALLOC_MIN_SAMPLES):
        notes.append(
            f"block mode: k split across blocks by a global solve on {m} of the {n} samples "
            "(the most whose A fits memory_limit)"
        )
        return m, global_problem_bytes(m, total, k)
    need = global_problem_bytes(min(n, BLOCK_ALLOC_MIN_SAMPLES), total, k)
    notes.append(
        f"block mode: k split across blocks by magnitude: a global solve on "
        f"{min(n, BLOCK_ALLOC_MIN_SAMPLES)} samples needs about {format_bytes(need)}, over "
        f"memory_limit={format_bytes(limit)} (raise it for a better split)"
    )
    return 0, 0


# ---------------------------------------------------------------------------- validation
def _is_int(val) -> bool:
    return not isinstance(val, bool) and isinstance(val, numbers.Integral)


def _is_real(val) -> bool:
    return not isinstance(val, bool) and isinstance(val, numbers.Real)


def _check_args(
    *,
    sparsity,
    method,
    scope,
    n_samples,
    ridge,
    block_size,
    stages,
    mask_mode,
    solver,
    progress,
    flop_budget=None,
) -> None:
    """ValueError naming the argument and the fix for the first bad argument of ``prune``."""
    if flop_budget is not None:
        if method not in FLOP_METHODS:
            raise ValueError(
                f"flop_budget works with method in {FLOP_METHODS}, got method={method!r}; use "
                "method='falcon' for the FLOP-aware CHITA solve."
            )
        if scope != "global":
            raise ValueError(
                "flop_budget needs scope='global' (the budget is shared by all layers), got "
                f"scope={scope!r}."
            )
    elif method in ("falcon", "falcon++"):
        raise ValueError(
            f"method={method!r} needs flop_budget= (a fraction in (0, 1] of the dense MACs or an "
            "int number of MACs)."
        )
    if sparsity is None and flop_budget is None:
        raise ValueError("sparsity is required unless a flop_budget is given.")
    if sparsity is None:
        sparsity = 0.0
    checks = [
        (_is_real(sparsity), f"sparsity must be a number in [0, 1), got {sparsity!r}."),
        (
            _is_real(sparsity) and 0.0 <= float(sparsity) < 1.0,
            f"sparsity must be in [0, 1) (the fraction of target weights set to zero), got "
            f"{sparsity!r}.",
        ),
        (method in METHODS, f"method must be one of {METHODS}, got {method!r}."),
        (scope in SCOPES, f"scope must be one of {SCOPES}, got {scope!r}."),
        (
            _is_int(n_samples) and n_samples >= 1,
            f"n_samples must be a positive integer, got {n_samples!r}.",
        ),
        (
            stages is None or (_is_int(stages) and stages >= 1),
            f"stages must be None or a positive integer, got {stages!r}.",
        ),
        (
            block_size is None or (_is_int(block_size) and block_size >= 1),
            f"block_size must be None or a positive integer, got {block_size!r}.",
        ),
        (
            _is_real(ridge) and math.isfinite(ridge) and ridge >= 0,
            f"ridge must be a finite number >= 0 (relative to mean diag(A^T A)), got {ridge!r}.",
        ),
        (
            stages in (None, 1) or method in ("chita++", "falcon++"),
            f"stages={stages} needs method='chita++' or 'falcon++' (got method={method!r}).",
        ),
        (mask_mode in MASK_MODES, f"mask_mode must be one of {MASK_MODES}, got {mask_mode!r}."),
        (
            solver is None or callable(getattr(solver, "solve", None)),
            f"solver must be None or an object with .solve(problem, warm_start=None), got "
            f"{type(solver).__name__}.",
        ),
        (isinstance(progress, bool), f"progress must be True or False, got {progress!r}."),
    ]
    for ok, message in checks:
        if not ok:
            raise ValueError(message)


def _want_recalibration(model, data, recalibrate_bn, bn_aware) -> bool:
    if bn_aware is not None and not isinstance(bn_aware, bool):
        raise ValueError(f"bn_aware must be None, True or False, got {bn_aware!r}.")
    if recalibrate_bn is None:
        return data is not None and bool(batchnorm_layers(model))
    if not isinstance(recalibrate_bn, bool):
        raise ValueError(f"recalibrate_bn must be None, True or False, got {recalibrate_bn!r}.")
    if recalibrate_bn and data is None:
        raise ValueError(
            "recalibrate_bn=True needs data (training inputs to re-estimate the BatchNorm "
            "statistics); pass data or recalibrate_bn=False."
        )
    return recalibrate_bn


def _device(model):
    for p in model.parameters():
        return p.device
    return torch.device("cpu")


# ---------------------------------------------------------------------------- main entry
def prune(
    model: nn.Module,
    data=None,
    *,
    sparsity: float | None = None,
    method: str = "chita",
    flop_budget=None,
    example_input=None,
    loss_fn: Callable | None = None,
    n_samples: int = 500,
    targets=None,
    ignore=None,
    scope: str = "global",
    ridge: float = 1e-3,
    first_order: bool = False,
    block_size: int | None = None,
    stages: int | None = None,
    schedule="cubic",
    mask_mode: str = "bake",
    solver=None,
    memory_limit="auto",
    progress: bool = True,
    random_state=None,
    executor: str = "serial",
    recalibrate_bn: bool | None = None,
    bn_aware: bool | None = None,
    n_jobs: int | None = None,
) -> PruneReport:
    """Prune ``model`` to ``sparsity`` by CHITA (L0-constrained least squares on the empirical
    Fisher), CHITA++ (multi-stage) or global magnitude pruning.

    See ``docs/pruning.md`` for the full guide. In short: ``round(sparsity * total)`` target
    weights become zero (per target for ``scope="layer"``); the model's weights and masks are
    written back per ``mask_mode``; the returned :class:`PruneReport` has the masks, the
    per-layer table, objectives and timings. On any error the model is left as it was.
    ``n_jobs`` sets the threads of the default solver's kernels (scikit-learn's convention:
    None means 1, -1 all cores; the masks do not depend on it beyond float rounding).

    FLOP budgets (FALCON): ``flop_budget`` is a float in (0, 1] (fraction of the targets' dense
    multiply-adds per sample kept) or an int (absolute MACs). Per-weight costs come from
    :func:`~adapters.torch.flops.flop_costs` on ``example_input`` (default: two samples of
    ``data``). ``sparsity`` is then optional: without it, the cardinality is that of global
    magnitude pruning meeting the budget (:func:`~adapters.torch.flops.magnitude_matched_k`;
    with the MAC budget alone the solve strips the expensive early layers and loses to plain
    magnitude pruning, docs/falcon.md); ``sparsity=0.0`` asks for the MAC budget alone. Methods:
    ``"falcon"`` (the CHITA solve under both budgets), ``"falcon++"`` (``stages`` stages, both
    budgets on the schedule, the Fisher recomputed each stage) and ``"magnitude"`` (the
    knapsack on w^2: FLOP-aware magnitude pruning). Needs ``scope="global"``; in block mode the
    budget is split across blocks by the budgeted global solve (as k is), or as the FLOP-aware
    magnitude knapsack splits it when that solve does not fit ``memory_limit``.

    ``stages`` defaults to 1 for chita and, for chita++, to ``CHITA_PP_STAGES`` (8) or the
    length of an explicit ``schedule``.

    ``executor="ray"`` runs the independent group solves of block mode (each group's slice of
    the Fisher and its solves) as Ray tasks, with results identical to ``"serial"``
    (``adapters/torch/executors.py``; needs ``chita[ray]``).

    ``recalibrate_bn`` (default: on when the model has BatchNorm layers and ``data`` is given)
    re-estimates the BN running statistics on ``data`` after pruning
    (:func:`recalibrate_batchnorm`); ``report.bn_samples`` says how many inputs it used. With
    it, CHITA++ also recalibrates between stages, so each stage's Fisher is taken at the
    recalibrated network. ``bn_aware`` (default: on for chita/chita++ when a target feeds a BN
    layer) projects each such output channel's scale direction out of the per-sample gradients
    (the network is scale-invariant per channel once BN is recalibrated; docs/batchnorm.md).
    """
    t_start = time.perf_counter()
    if executor not in EXECUTORS:
        raise ValueError(f"executor must be one of {EXECUTORS}, got {executor!r}.")
    if executor == "ray":
        require_ray()
    _check_args(
        sparsity=sparsity,
        method=method,
        scope=scope,
        n_samples=n_samples,
        ridge=ridge,
        block_size=block_size,
        stages=stages,
        mask_mode=mask_mode,
        solver=solver,
        progress=progress,
        flop_budget=flop_budget,
    )
    recal = _want_recalibration(model, data, recalibrate_bn, bn_aware)
    bn_seed = 0 if random_state is None else random_state
    resolve_n_jobs(n_jobs)  # ValueError naming n_jobs before anything is touched
    sparsity_given = sparsity is not None
    sparsity = float(sparsity) if sparsity_given else 0.0
    if stages is None and method in ("chita++", "falcon++"):
        stages = CHITA_PP_STAGES if isinstance(schedule, str) else len(list(schedule))
    elif stages is None:
        stages = 1
    sched = stage_sparsities(sparsity, stages, schedule)
    limit = parse_memory_limit(memory_limit)
    tlist = resolve_targets(model, targets, ignore)
    check_finite_weights(tlist)
    offs = np.cumsum([0] + [t.numel for t in tlist])
    slices = [(int(a), int(b)) for a, b in zip(offs[:-1], offs[1:], strict=True)]
    total = int(offs[-1])
    check_layer_k(tlist, slices, sparsity, scope)
    guard = scope == "global" and flop_budget is None
    costs = flop_sched = None
    macs_per_weight = {}
    notes: list[str] = []
    w_flat = flat_weights(tlist)
    if flop_budget is not None:
        if example_input is None:
            example_input = collect_samples(data, 2, _device(model), None)[0][0]
        macs_per_weight = flop_costs(model, example_input, targets, ignore)
        costs = np.concatenate([np.full(t.numel, macs_per_weight[t.name]) for t in tlist])
        dense_macs = float(costs.sum())
        budget_abs = resolve_flop_budget(flop_budget, dense_macs)
        # both budgets follow the schedule: the removed fraction of MACs like the sparsity
        removed = stage_sparsities(
            1.0 - budget_abs / dense_macs,
            stages,
            schedule if isinstance(schedule, str) else "cubic",
        )
        flop_sched = [(1.0 - r) * dense_macs for r in removed]
        flop_sched[-1] = budget_abs
        if not sparsity_given:
            # the cardinality of magnitude pruning meeting the budget (sparsity=0.0: none)
            k_match = magnitude_matched_k(w_flat, costs, budget_abs)
            if k_match == 0:
                raise ValueError(
                    f"flop_budget={flop_budget!r} is below the cost of the largest weight, so "
                    "magnitude pruning meeting it keeps no weight and sets the default "
                    "cardinality to 0; raise flop_budget, or pass sparsity=0.0 for the MAC "
                    "budget alone."
                )
            sparsity, sparsity_given = 1.0 - k_match / total, True
            sched = stage_sparsities(sparsity, stages, schedule)
            notes.append(
                f"flop_budget without sparsity: at most {k_match} weights (sparsity "
                f"{sparsity:.4f}), what global magnitude pruning keeps when it meets the "
                "budget; pass sparsity=0.0 for the MAC budget alone"
            )
    loss_fn = loss_fn if loss_fn is not None else nn.CrossEntropyLoss()
    alloc_solver = None
    if solver is None:
        swaps = block_size is None and (stages == 1 or flop_budget is not None)
        solver = default_solver(swaps, random_state, n_jobs)
        # block mode's global allocation solve gets the swap round of an unblocked prune
        alloc_solver = default_solver(True, random_state, n_jobs)

    snapshot = ModelSnapshot(model)
    times = {"gradients": 0.0, "solve": 0.0, "writeback": 0.0}
    history: list[StageRecord] = []
    n_used, peak_bytes, n_holdout, bn_samples, bn_names = 0, 0, 0, 0, []
    try:
        w = w_flat
        if method == "magnitude" and costs is not None:
            k = total - n_zeros(sparsity, total)
            mask = knapsack_mask(w, costs, k, flop_sched[-1])
            w = np.where(mask, w, 0.0)
            history.append(StageRecord(1, sparsity, int(mask.sum()), 1))
        elif method == "magnitude":
            mask = allocate(w, slices, [ProblemRange(0, total)], scope, sparsity, guard)[1]
            if scope == "global" and not np.array_equal(mask, topk_mask(np.abs(w), mask.sum())):
                notes.append("guard: weights moved so that no layer is emptied")
            w = np.where(mask, w, 0.0)
            history.append(StageRecord(1, sparsity, int(mask.sum()), 1))
        else:
            batches, holdout, independent = calibration_split(
                data, n_samples, _device(model), random_state
            )
            n_used = sum(len(x) for x, _ in batches)
            n_holdout = sum(len(x) for x, _ in holdout)
            if not independent:
                notes.append(
                    f"reality check: data has no samples beyond the {n_used} Fisher samples; "
                    f"the {n_holdout}-sample check slice reuses some of them"
                )
            problems = plan_problems(slices, total, scope, block_size)
            block_mode = len(problems) > 1
            # Plan memory for the least sparse stage (largest k).
            if costs is None:
                ks0, _ = allocate(w, slices, problems, scope, sched[0], guard)
            else:
                ks0 = [p.size for p in problems]
            groups, peak_bytes = plan_groups(
                problems, ks0, n_used, limit, block_mode, max(p.size for p in problems)
            )
            alloc_samples = 0
            if block_mode:
                # the global split's k: the blocks' k, or under a MAC budget the cardinality
                k_alloc = sum(ks0) if costs is None else total - n_zeros(sched[0], total)
                alloc_samples, alloc_bytes = _block_allocation(n_used, total, k_alloc, limit, notes)
                peak_bytes = max(peak_bytes, alloc_bytes)
            bn_idx = [] if bn_aware is False else bn_scale_targets(model, tlist, batches[0][0][:2])
            if bn_aware and not bn_idx:
                notes.append("bn_aware: no target feeds a BatchNorm layer; nothing projected")
            bn_names = [tlist[i].name for i in bn_idx]
            ctx = StageContext(
                model=model,
                targets=tlist,
                slices=slices,
                batches=batches,
                loss_fn=loss_fn,
                problems=problems,
                groups=groups,
                scope=scope,
                guard=guard,
                ridge=ridge,
                first_order=first_order,
                solver=solver,
                progress=progress,
                notes=notes,
                costs=costs,
                flop_schedule=flop_sched,
                cardinality=sparsity_given,
                holdout=holdout,
                executor=executor,
                bn_targets=list(bn_idx),
                alloc_samples=alloc_samples,
                alloc_solver=alloc_solver,
                between_stages=(
                    (lambda: recalibrate_batchnorm(model, data, random_state=bn_seed))
                    if recal
                    else None
                ),
            )
            history, w, mask = run_stages(ctx, w, sched)
            for rec in history:
                times["gradients"] += rec.time_gradients
                times["solve"] += rec.time_solve
        t0 = time.perf_counter()
        values, masks = {}, {}
        for t, (a, b) in zip(tlist, slices, strict=True):
            masks[t.name] = torch.from_numpy(mask[a:b].copy()).reshape(t.shape)
            values[t.name] = torch.from_numpy(w[a:b]).reshape(t.shape)
        write_back(tlist, values, masks, mask_mode)
        times["writeback"] = time.perf_counter() - t0
        if recal:
            t0 = time.perf_counter()
            try:
                bn_samples = recalibrate_batchnorm(model, data, random_state=bn_seed)
            except ValueError as exc:  # e.g. a one-shot iterator already read for the Fisher
                if recalibrate_bn:
                    raise
                notes.append(f"recalibrate_bn skipped: {exc}")
            times["recalibrate_bn"] = time.perf_counter() - t0
            if bn_samples == 0 and not any(n.startswith("recalibrate_bn") for n in notes):
                notes.append("recalibrate_bn: the model has no BatchNorm layer; nothing done")
    except BaseException:
        snapshot.restore()
        raise
    times["total"] = time.perf_counter() - t_start
    layers = [
        LayerStats(
            t.name, t.shape, t.numel, int(masks[t.name].sum()), macs_per_weight.get(t.name, 0.0)
        )
        for t in tlist
    ]
    return PruneReport(
        method=method,
        sparsity=sparsity,
        scope=scope,
        mask_mode=mask_mode,
        n_samples=n_used,
        masks={k: v.to(torch.bool) for k, v in masks.items()},
        layers=layers,
        history=history,
        times=times,
        ridge=None if method == "magnitude" else ridge,
        block_size=block_size,
        stages=stages,
        first_order=first_order,
        matrix_bytes=int(peak_bytes),
        notes=notes,
        flop_budget=None if costs is None else float(flop_sched[-1]),
        n_samples_requested=None if method == "magnitude" else n_samples,
        n_holdout=n_holdout,
        bn_samples=bn_samples,
        bn_aware_targets=bn_names,
    )
