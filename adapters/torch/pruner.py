"""``prune``: CHITA / CHITA++ / magnitude pruning of a PyTorch model (DESIGN.md section 1).

For each stage (one for CHITA, ``stages`` for CHITA++) with target sparsity s_t:

1. per-sample gradients at the current weights w fill ``A`` (n x p, float32, F-order; rows
   scaled by 1/sqrt(n)), ``b = A w`` (``- 1/sqrt(n)`` with ``first_order``), and the absolute
   ridge is ``ridge * mean(diag(A^T A))``;
2. ``min 1/2||A v - b||^2 + ridge_abs/2 ||v - w||^2  s.t. ||v||_0 <= k_t`` is solved from the
   magnitude-pruned start P_k(w) (one global problem; per layer for ``scope="layer"``; per
   contiguous block for ``block_size``, with k split across blocks by global/per-layer
   magnitude ranking);
3. the solution becomes w for the next stage (``w_ref`` = previous solution).

The masks and solved weights are written back at the end; on any error the model is restored.
"""

from __future__ import annotations

import math
import numbers
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from sparse_regression import IHTSolver, SparseProblem, backsolve
from sparse_regression.linalg import column_sq_norms, matvec

from .allocation import enforce_guard, guarded_topk, n_zeros, stage_sparsities
from .allocation import topk_mask as _topk_mask
from .batchnorm import (
    batchnorm_layers,
    bn_scale_targets,
    project_channel_scale,
    recalibrate_batchnorm,
)
from .fisher import build_matrix, collect_samples
from .masks import MASK_MODES, write_back
from .memory import format_bytes, parse_memory_limit, problem_bytes
from .per_sample_grads import Segment
from .report import LayerStats, PruneReport, StageRecord
from .snapshot import ModelSnapshot
from .targets import Target, resolve_targets

__all__ = ["prune", "METHODS", "SCOPES", "default_solver"]

METHODS = ("magnitude", "chita", "chita++")
SCOPES = ("global", "layer")
#: Ablation knobs (benchmarks/bn_ablation.py, docs/batchnorm.md); the defaults are prune()'s.
_EXP = {"recal_between": True, "precondition": None, "keep_weights": False}
#: Extra bytes reserved for per-sample gradient buffers while A is filled.
_GRAD_RESERVE = 256 * 2**20


def default_solver(local_search: bool = True, random_state=None) -> IHTSolver:
    """The core solver with the pruner's settings.

    IHT with line search from the magnitude start and exact backsolves (the active set is off:
    with n << k IHT converges in a few full-gradient passes). With ``local_search`` one round of
    the swap search follows (exact swap scores on a pool of candidate columns, in the
    n-dimensional Woodbury space; see docs/algorithms.md): it lowers the objective further and
    measurably raises accuracy at high sparsity (docs/pruning.md). ``prune`` asks for it when it
    solves one problem once (one stage, no blocks); multi-stage (chita++) and block-mode prunes
    keep to IHT to stay fast. Pass ``solver=sparse_regression.IHTSolver(...)`` for other
    settings.
    """
    return IHTSolver(
        active_set=False,
        local_search=local_search,
        swap_rounds=1,
        # prune() is deterministic unless a random_state is given: seed the perturbations too
        random_state=0 if random_state is None else random_state,
    )


@dataclass
class _Problem:
    """A contiguous range [lo, hi) of the flat weight vector solved as one problem."""

    lo: int
    hi: int

    @property
    def size(self) -> int:
        return self.hi - self.lo


# ---------------------------------------------------------------------------- validation
def _check_args(
    sparsity, method, scope, n_samples, ridge, block_size, stages, mask_mode, solver, progress
):
    if isinstance(sparsity, bool) or not isinstance(sparsity, numbers.Real):
        raise ValueError(f"sparsity must be a number in [0, 1), got {sparsity!r}.")
    if not (0.0 <= float(sparsity) < 1.0):
        raise ValueError(
            f"sparsity must be in [0, 1) (the fraction of target weights set to zero), got "
            f"{sparsity!r}."
        )
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}.")
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {SCOPES}, got {scope!r}.")
    for name, val in (("n_samples", n_samples), ("stages", stages)):
        if isinstance(val, bool) or not isinstance(val, numbers.Integral) or val < 1:
            raise ValueError(f"{name} must be a positive integer, got {val!r}.")
    if block_size is not None and (
        isinstance(block_size, bool)
        or not isinstance(block_size, numbers.Integral)
        or block_size < 1
    ):
        raise ValueError(f"block_size must be None or a positive integer, got {block_size!r}.")
    if (
        isinstance(ridge, bool)
        or not isinstance(ridge, numbers.Real)
        or not math.isfinite(ridge)
        or ridge < 0
    ):
        raise ValueError(
            f"ridge must be a finite number >= 0 (relative to mean diag(A^T A)), got {ridge!r}."
        )
    if stages != 1 and method != "chita++":
        raise ValueError(f"stages={stages} needs method='chita++' (got method={method!r}).")
    if mask_mode not in MASK_MODES:
        raise ValueError(f"mask_mode must be one of {MASK_MODES}, got {mask_mode!r}.")
    if solver is not None and not callable(getattr(solver, "solve", None)):
        raise ValueError(
            f"solver must be None or an object with .solve(problem, warm_start=None), got "
            f"{type(solver).__name__}."
        )
    if not isinstance(progress, bool):
        raise ValueError(f"progress must be True or False, got {progress!r}.")


def _want_recalibration(model, data, recalibrate_bn) -> bool:
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


# ---------------------------------------------------------------------------- helpers
def _flat(targets: list[Target]) -> np.ndarray:
    return np.concatenate(
        [t.param.detach().to("cpu", torch.float64).reshape(-1).numpy() for t in targets]
    )


@torch.no_grad()
def _set_flat(targets: list[Target], w: np.ndarray, slices) -> None:
    for t, (a, b) in zip(targets, slices, strict=True):
        t.param.copy_(torch.from_numpy(w[a:b]).reshape(t.shape).to(t.param.device, t.param.dtype))


def _segments(targets, slices, lo, hi) -> list[Segment]:
    """Segments placing flat range [lo, hi) into columns 0..hi-lo."""
    out = []
    for t, (a, b) in zip(targets, slices, strict=True):
        s, e = max(a, lo), min(b, hi)
        if s < e:
            out.append(Segment(t, s - a, e - a, s - lo))
    return out


def _tqdm(total, desc, enabled):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, disable=not enabled, leave=False, unit="sample")


def _device(model):
    for p in model.parameters():
        return p.device
    return torch.device("cpu")


class _GradientMode:
    """eval() for every module and requires_grad on the targets; both restored on exit."""

    def __init__(self, model, targets):
        self.model, self.targets = model, targets

    def __enter__(self):
        self.modes = [(m, m.training) for m in self.model.modules()]
        self.flags = [(t.param, t.param.requires_grad) for t in self.targets]
        self.model.eval()
        for t in self.targets:
            t.param.requires_grad_(True)
        return self

    def __exit__(self, *exc):
        for m, mode in self.modes:
            m.training = mode
        for p, flag in self.flags:
            p.requires_grad_(flag)
        return False


def _plan_problems(slices, total, scope, block_size) -> list[_Problem]:
    if block_size is None and scope == "global":
        return [_Problem(0, total)]
    out = []
    for a, b in slices:
        step = block_size or (b - a)
        out.extend(_Problem(s, min(b, s + step)) for s in range(a, b, step))
    return out


def _allocate(w, slices, problems, scope, sparsity, guard):
    """k of each problem at this stage (magnitude ranking splits k across blocks)."""
    total = w.shape[0]
    scores = np.abs(w)
    if scope == "global":
        k = total - n_zeros(sparsity, total)
        if len(problems) == 1:
            return [k], guard_mask(scores, k, slices, guard)
        mask, _ = guarded_topk(scores, k, slices) if guard else (_topk_mask(scores, k), 0)
    else:
        mask = np.zeros(total, dtype=bool)
        for a, b in slices:
            kl = (b - a) - n_zeros(sparsity, b - a)
            mask[a:b] = _topk_mask(scores[a:b], kl)
    return [int(mask[p.lo : p.hi].sum()) for p in problems], mask


def guard_mask(scores, k, slices, guard):
    if guard:
        return guarded_topk(scores, k, slices)[0]
    return _topk_mask(scores, k)


def _check_layer_k(targets, slices, sparsity, scope):
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


def _plan_groups(problems, ks, n, limit, block_mode, n_target):
    """Pack consecutive problems into groups whose A (plus workspace) fits ``limit``."""
    total = sum(p.size for p in problems)
    reserve = min(_GRAD_RESERVE, 8 * n * total)  # per-sample gradient buffers while filling A

    def ws(i):
        pb = problems[i]
        return problem_bytes(n, pb.size, max(ks[i], 1)) - 4 * n * pb.size

    need_all = 4 * n * sum(p.size for p in problems) + max(ws(i) for i in range(len(problems)))
    need_all += reserve
    if need_all <= limit:
        return [list(range(len(problems)))], need_all
    if not block_mode:
        per_row = need_all / n
        n_fit = int((limit - reserve) // per_row) if limit > reserve else 0
        bs_fit = int(max(1, (limit - reserve) // (3 * 4 * n))) if limit > reserve else 1
        bs_hint = min(max(n_target, 1), 2 ** int(math.log2(max(bs_fit, 1))))
        raise ValueError(
            f"the Fisher matrix A (n_samples={n} x p={problems[0].size}, float32) and the "
            f"solver's workspace need about {format_bytes(need_all)} ({int(need_all)} bytes), "
            f"over memory_limit={format_bytes(limit)}. Use n_samples <= {max(n_fit, 0)}, or "
            f"block_size={bs_hint} (block-diagonal Fisher, A built block by block), or raise "
            "memory_limit."
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


# ---------------------------------------------------------------------------- main entry
def prune(
    model: nn.Module,
    data=None,
    *,
    sparsity: float,
    method: str = "chita",
    loss_fn: Callable | None = None,
    n_samples: int = 500,
    targets=None,
    ignore=None,
    scope: str = "global",
    ridge: float = 1e-3,
    first_order: bool = False,
    block_size: int | None = None,
    stages: int = 1,
    schedule="cubic",
    mask_mode: str = "bake",
    solver=None,
    memory_limit="auto",
    progress: bool = True,
    random_state=None,
    recalibrate_bn: bool | None = None,
    bn_aware: bool | None = None,
) -> PruneReport:
    """Prune ``model`` to ``sparsity`` by CHITA (L0-constrained least squares on the empirical
    Fisher), CHITA++ (multi-stage) or global magnitude pruning.

    See ``docs/pruning.md`` for the full guide. In short: ``round(sparsity * total)`` target
    weights become zero (per target for ``scope="layer"``); the model's weights and masks are
    written back per ``mask_mode``; the returned :class:`PruneReport` has the masks, the
    per-layer table, objectives and timings. On any error the model is left as it was.

    ``recalibrate_bn`` (default: on when the model has BatchNorm layers and ``data`` is given)
    re-estimates the BN running statistics on ``data`` after pruning
    (:func:`recalibrate_batchnorm`); ``report.bn_samples`` says how many inputs it used. With
    it, CHITA++ also recalibrates between stages, so each stage's Fisher is taken at the
    recalibrated network. ``bn_aware`` (default: on for chita/chita++ when a target feeds a BN
    layer) projects each such output channel's scale direction out of the per-sample gradients
    (the network is scale-invariant per channel once BN is recalibrated; docs/batchnorm.md).
    """
    t_start = time.perf_counter()
    _check_args(
        sparsity, method, scope, n_samples, ridge, block_size, stages, mask_mode, solver, progress
    )
    recal = _want_recalibration(model, data, recalibrate_bn)
    if bn_aware is not None and not isinstance(bn_aware, bool):
        raise ValueError(f"bn_aware must be None, True or False, got {bn_aware!r}.")
    sparsity = float(sparsity)
    sched = stage_sparsities(sparsity, stages, schedule)
    limit = parse_memory_limit(memory_limit)
    tlist = resolve_targets(model, targets, ignore)
    offs = np.cumsum([0] + [t.numel for t in tlist])
    slices = [(int(a), int(b)) for a, b in zip(offs[:-1], offs[1:], strict=True)]
    total = int(offs[-1])
    _check_layer_k(tlist, slices, sparsity, scope)
    guard = scope == "global"
    loss_fn = loss_fn if loss_fn is not None else nn.CrossEntropyLoss()
    if solver is None:
        solver = default_solver(stages == 1 and block_size is None, random_state)

    snapshot = ModelSnapshot(model)
    times = {"gradients": 0.0, "solve": 0.0, "writeback": 0.0}
    notes: list[str] = []
    history: list[StageRecord] = []
    n_used, peak_bytes, bn_samples, bn_names = 0, 0, 0, []
    try:
        w = _flat(tlist)
        if method == "magnitude":
            mask = _allocate(w, slices, [_Problem(0, total)], scope, sparsity, guard)[1]
            if scope == "global" and not np.array_equal(mask, _topk_mask(np.abs(w), mask.sum())):
                notes.append("guard: weights moved so that no layer is emptied")
            w = np.where(mask, w, 0.0)
            history.append(StageRecord(1, sparsity, int(mask.sum()), 1))
        else:
            batches = collect_samples(data, n_samples, _device(model), random_state)
            n_used = sum(len(x) for x, _ in batches)
            problems = _plan_problems(slices, total, scope, block_size)
            block_mode = len(problems) > 1
            # Plan memory for the least sparse stage (largest k).
            ks0, _ = _allocate(w, slices, problems, scope, sched[0], guard)
            groups, peak_bytes = _plan_groups(
                problems, ks0, n_used, limit, block_mode, max(p.size for p in problems)
            )
            mask = np.ones(total, dtype=bool)
            bn_idx = [] if bn_aware is False else bn_scale_targets(model, tlist, batches[0][0][:2])
            if bn_aware and not bn_idx:
                notes.append("bn_aware: no target feeds a BatchNorm layer; nothing projected")
            bn_names = [tlist[i].name for i in bn_idx]
            for t_idx, s_t in enumerate(sched, start=1):
                rec, w, mask = _stage(
                    model,
                    tlist,
                    slices,
                    batches,
                    loss_fn,
                    w,
                    s_t,
                    t_idx,
                    problems,
                    groups,
                    scope,
                    guard,
                    ridge,
                    first_order,
                    solver,
                    progress,
                    notes,
                    bn_idx,
                )
                history.append(rec)
                times["gradients"] += rec.time_gradients
                times["solve"] += rec.time_solve
                if t_idx < len(sched):
                    _set_flat(tlist, w, slices)
                    if recal and _EXP["recal_between"]:  # next Fisher at the recalibrated net
                        recalibrate_batchnorm(
                            model, data, random_state=0 if random_state is None else random_state
                        )
        t0 = time.perf_counter()
        values, masks = {}, {}
        for t, (a, b) in zip(tlist, slices, strict=True):
            masks[t.name] = torch.from_numpy(mask[a:b].copy()).reshape(t.shape)
            values[t.name] = torch.from_numpy(w[a:b]).reshape(t.shape)
        write_back(tlist, values, masks, mask_mode)
        times["writeback"] = time.perf_counter() - t0
        if recal:
            t0 = time.perf_counter()
            seed = 0 if random_state is None else random_state
            try:
                bn_samples = recalibrate_batchnorm(model, data, random_state=seed)
            except ValueError as exc:  # e.g. a one-shot iterator already read for the Fisher
                if recalibrate_bn:
                    raise
                notes.append(f"recalibrate_bn skipped: {exc}")
            times["recalibrate_bn"] = time.perf_counter() - t0
            if bn_samples == 0:
                notes.append("recalibrate_bn: the model has no BatchNorm layer; nothing done")
    except BaseException:
        snapshot.restore()
        raise
    times["total"] = time.perf_counter() - t_start
    layers = [LayerStats(t.name, t.shape, t.numel, int(masks[t.name].sum())) for t in tlist]
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
        bn_samples=bn_samples,
        bn_aware_targets=bn_names,
    )


def _stage(
    model,
    tlist,
    slices,
    batches,
    loss_fn,
    w,
    s_t,
    t_idx,
    problems,
    groups,
    scope,
    guard,
    ridge,
    first_order,
    solver,
    progress,
    notes,
    bn_idx=(),
):
    """One pruning stage at sparsity ``s_t`` from weights ``w``; returns (record, w, mask)."""
    n = sum(len(x) for x, _ in batches)
    ks, mask_mag = _allocate(w, slices, problems, scope, s_t, guard)
    k_total = int(mask_mag.sum())
    rec = StageRecord(t_idx, s_t, k_total, len(problems), ridge=None, n_passes=0)
    w_new = np.where(mask_mag, w, 0.0)
    mask_new = mask_mag.copy()
    if k_total == w.shape[0]:
        return rec, w.copy(), mask_new
    obj_mag = obj = 0.0
    solver_info = {"n_iter": 0, "converged": True, "optimality": set(), "time": 0.0}
    mean_diag = None
    if len(groups) > 1:
        t0 = time.perf_counter()
        mean_diag = _mean_fisher_diag(model, tlist, slices, batches, loss_fn, progress)
        rec.time_gradients += time.perf_counter() - t0
        rec.n_passes += 1
    for g in groups:
        lo, hi = problems[g[0]].lo, problems[g[-1]].hi
        t0 = time.perf_counter()
        bar = _tqdm(n, f"chita gradients (stage {t_idx})", progress)
        with _GradientMode(model, tlist), bar:
            A = build_matrix(
                model, batches, _segments(tlist, slices, lo, hi), loss_fn, hi - lo, bar.update
            )
        for i in bn_idx:  # BN-aware Fisher (batchnorm.project_channel_scale)
            a, b = slices[i]
            s, e = max(a, lo), min(b, hi)
            if s < e:
                project_channel_scale(A[:, s - lo : e - lo], w[a:b], tlist[i].shape, (s - a, e - a))
        scanned = mean_diag is None  # the ridge scale reads every entry of this A
        scale = None
        if scanned:
            colsq = column_sq_norms(A)
            mean_diag = float(colsq.mean())
            if _EXP["precondition"] is not None and math.isfinite(mean_diag):
                scale = _column_scale(colsq, tlist, slices, lo, hi, _EXP["precondition"])
                A *= (1.0 / scale).astype(np.float32)[None, :]
                mean_diag = float((colsq / scale**2).mean())
        if not math.isfinite(mean_diag):
            raise ValueError(
                "the per-sample gradients contain NaN or inf; check the model's outputs and "
                "loss_fn on the calibration data (e.g. with torch.autograd.detect_anomaly)."
            )
        rec.time_gradients += time.perf_counter() - t0
        rec.n_passes += 1
        ridge_abs = ridge * mean_diag
        rec.ridge = ridge_abs
        t0 = time.perf_counter()
        for i in g:
            pb = problems[i]
            k = ks[i]
            wb = w[pb.lo : pb.hi]
            if k == 0 or k == pb.size:
                continue  # nothing to solve: all pruned / all kept (magnitude values stand)
            Ab = A[:, pb.lo - lo : pb.hi - lo]
            sc = None if scale is None else scale[pb.lo - lo : pb.hi - lo]
            if sc is not None:
                wb = wb * sc
            bvec = matvec(Ab, wb)
            if first_order:
                bvec -= 1.0 / math.sqrt(n)
            # A was scanned for NaN/inf through its column norms when they set the ridge scale.
            prob = SparseProblem(Ab, bvec, k, ridge=ridge_abs, w_ref=wb, check_finite=not scanned)
            start = w_new[pb.lo : pb.hi].copy()
            if sc is not None:
                start *= sc
            f_mag = prob.objective(start)
            sol = solver.solve(prob, warm_start=start)
            coef, support = _finalize(
                prob, sol, k, wb, slices, pb, guard and len(problems) == 1, notes
            )
            obj_mag += f_mag
            obj += prob.objective(coef)
            if sc is not None:
                coef = coef / sc
            if _EXP["keep_weights"]:
                coef = np.where(support, w[pb.lo : pb.hi], 0.0)
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
    return rec, w_new, mask_new


def _column_scale(colsq, tlist, slices, lo, hi, mode):
    """sqrt of the Fisher diagonal averaged per layer / output channel / weight (experiment)."""
    eps = 1e-12 * max(float(colsq.mean()), 1e-300)
    d = np.empty_like(colsq)
    for t, (a, b) in zip(tlist, slices, strict=True):
        s, e = max(a, lo), min(b, hi)
        if s >= e:
            continue
        seg = colsq[s - lo : e - lo]
        if mode == "layer":
            d[s - lo : e - lo] = seg.mean()
        elif mode == "channel":
            rows = t.shape[0]
            per = t.numel // rows
            full = np.full(t.numel, np.nan)
            full[s - a : e - a] = seg
            ch = np.nanmean(full.reshape(rows, per), axis=1)
            d[s - lo : e - lo] = np.repeat(ch, per)[s - a : e - a]
        else:
            d[s - lo : e - lo] = seg
    return np.sqrt(np.maximum(d, 0.0) + eps)


def _finalize(prob, sol, k, w_ref, slices, pb, guard, notes):
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
        scores = np.where(support, np.abs(coef) + 1e-300, np.abs(w_ref))
        support, moved = enforce_guard(support, scores, local)
        if moved:
            notes.append(f"guard: {moved} weight(s) moved so that no layer is emptied")
            changed = True
    if changed:
        coef = np.where(support, backsolve(prob, np.flatnonzero(support)), 0.0)
    return coef, support


def _mean_fisher_diag(model, tlist, slices, batches, loss_fn, progress) -> float:
    """mean(diag(A^T A)) over all targets in one pass over the samples, A never held whole."""
    from .fisher import GRAD_BUFFER_BYTES, chunk_rows
    from .per_sample_grads import fill_rows

    total = slices[-1][1]
    n = sum(len(x) for x, _ in batches)
    chunk = max(1, GRAD_BUFFER_BYTES // (8 * total))
    segs = _segments(tlist, slices, 0, total)
    acc = 0.0
    bar = _tqdm(n, "chita Fisher diagonal", progress)
    with _GradientMode(model, tlist), bar:
        for x, y in chunk_rows(batches, chunk):
            buf = torch.empty((len(x), total), dtype=torch.float32)
            fill_rows(model, x, y, segs, loss_fn, buf, 1.0)
            acc += float(buf.double().pow_(2).sum())
            bar.update(len(x))
    return acc / n / total
