"""What :func:`adapters.torch.prune` did: masks, per-layer sparsity, objectives, timings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

__all__ = ["PruneReport", "LayerStats", "StageRecord", "DISAGREE_FACTOR", "DISAGREE_SLACK"]

#: The reality check warns when the actual loss change exceeds this many times the predicted
#: change (plus ``DISAGREE_SLACK`` times the starting loss, for noise).
DISAGREE_FACTOR = 3.0
DISAGREE_SLACK = 0.05


@dataclass
class LayerStats:
    """One target: full parameter name, shape, weights kept and the resulting sparsity."""

    name: str
    shape: tuple[int, ...]
    numel: int
    kept: int
    #: multiply-adds per sample of one weight (0 when no FLOP budget was given)
    cost: float = 0.0

    @property
    def macs_dense(self) -> float:
        return self.numel * self.cost

    @property
    def macs_kept(self) -> float:
        return self.kept * self.cost

    @property
    def sparsity(self) -> float:
        return 1.0 - self.kept / self.numel


@dataclass
class StageRecord:
    """One stage of (multi-stage) pruning.

    ``objective_magnitude`` and ``objective`` are the quadratic model
    ``1/2||A w - b||^2 + ridge/2 ||w - w_ref||^2`` of this stage (A, b built at the stage's
    starting weights ``w_ref``) at the magnitude-pruned ``P_k(w_ref)`` and at the solution; in
    block/layer mode they are sums over the independent problems.
    """

    stage: int
    sparsity: float
    k: int
    n_problems: int
    ridge: float | None = None
    objective_magnitude: float | None = None
    objective: float | None = None
    time_gradients: float = 0.0
    time_solve: float = 0.0
    n_passes: int = 0
    solver: dict[str, Any] = field(default_factory=dict)
    flop_budget: float | None = None
    #: Skipped or degraded parts of this stage, each with its reason.
    degraded: list[str] = field(default_factory=list)
    #: Block mode: held-out loss and full-model objective of each candidate, and the choice.
    block_choice: dict[str, Any] | None = None
    #: Reality check: actual mean loss on the held-out slice before and after the stage, and
    #: the quadratic model's predicted change (objective minus its value at the start).
    loss_before: float | None = None
    loss_after: float | None = None
    predicted_change: float | None = None

    @property
    def actual_change(self) -> float | None:
        if self.loss_before is None or self.loss_after is None:
            return None
        return self.loss_after - self.loss_before

    def model_disagrees(self) -> bool:
        """True when the actual held-out loss rose by more than ``DISAGREE_FACTOR`` times
        the predicted change plus ``DISAGREE_SLACK`` times the starting loss."""
        actual, pred = self.actual_change, self.predicted_change
        if actual is None or pred is None:
            return False
        return actual > DISAGREE_FACTOR * max(pred, 0.0) + DISAGREE_SLACK * abs(self.loss_before)


@dataclass
class PruneReport:
    """Result of :func:`adapters.torch.prune`.

    Attributes
    ----------
    masks : dict[str, torch.Tensor]
        Full parameter name -> bool tensor of the parameter's shape, True = keep.
    layers : list[LayerStats]
        Per-target table (name, shape, kept, sparsity).
    objective_magnitude, objective : float or None
        Quadratic-model objective of the magnitude-pruned weights and of the returned weights
        on the same (A, b), last stage (None for ``method="magnitude"``, which builds no A).
        Lower is better; ``objective <= objective_magnitude`` for the core solver.
    history : list[StageRecord]
        One record per stage.
    times : dict[str, float]
        Seconds spent on ``gradients`` (building A), ``solve``, ``writeback``,
        ``recalibrate_bn`` (when done) and ``total``.
    bn_samples : int
        Inputs used to re-estimate the BatchNorm statistics after pruning (0: not done).
    bn_aware_targets : list[str]
        Targets whose channel-scale directions were projected out of the Fisher (``bn_aware``).
    """

    method: str
    sparsity: float
    scope: str
    mask_mode: str
    n_samples: int
    masks: dict[str, torch.Tensor]
    layers: list[LayerStats]
    history: list[StageRecord]
    times: dict[str, float]
    ridge: float | None = None
    block_size: int | None = None
    stages: int = 1
    first_order: bool = False
    matrix_bytes: int = 0
    notes: list[str] = field(default_factory=list)
    bn_samples: int = 0
    bn_aware_targets: list[str] = field(default_factory=list)

    @property
    def bn_recalibrated(self) -> bool:
        return self.bn_samples > 0
    flop_budget: float | None = None
    #: Samples requested (``n_samples``), and the size of the reality check's held-out slice.
    n_samples_requested: int | None = None
    n_holdout: int = 0

    @property
    def warnings(self) -> list[str]:
        """Every skipped or degraded stage with its reason, and the reality check's warnings."""
        out = []
        if self.n_samples_requested is not None and self.n_samples < self.n_samples_requested:
            out.append(
                f"n_samples={self.n_samples_requested} requested, {self.n_samples} used "
                "(the data has no more)"
            )
        for h in self.history:
            out.extend(f"stage {h.stage}: {d}" for d in h.degraded)
            if h.model_disagrees():
                out.append(
                    f"stage {h.stage}: the quadratic model is not to be trusted at sparsity "
                    f"{h.sparsity:.4g}: held-out loss rose by {h.actual_change:.4g}, the model "
                    f"predicted {h.predicted_change:.4g}; use more stages (method='chita++') "
                    "or a larger ridge"
                )
        return out

    # ------------------------------------------------------------------ derived values
    @property
    def total(self) -> int:
        return sum(layer.numel for layer in self.layers)

    @property
    def kept(self) -> int:
        return sum(layer.kept for layer in self.layers)

    @property
    def achieved_sparsity(self) -> float:
        return 1.0 - self.kept / self.total

    @property
    def macs_dense(self) -> float:
        """Dense multiply-adds per sample of the targets (0 without a FLOP budget)."""
        return sum(layer.macs_dense for layer in self.layers)

    @property
    def macs_kept(self) -> float:
        return sum(layer.macs_kept for layer in self.layers)

    @property
    def objective_magnitude(self) -> float | None:
        return self.history[-1].objective_magnitude if self.history else None

    @property
    def objective(self) -> float | None:
        return self.history[-1].objective if self.history else None

    # ------------------------------------------------------------------ output
    def summary(self) -> str:
        """A printable table: the run's settings, one row per target, stages and timings."""
        w = max([len("parameter")] + [len(layer.name) for layer in self.layers])
        lines = [
            f"chita prune: method={self.method}, sparsity={self.sparsity:g} "
            f"(achieved {self.achieved_sparsity:.4f}), scope={self.scope}, "
            f"mask_mode={self.mask_mode}, n_samples={self.n_samples}"
            + (f" (+{self.n_holdout} held out)" if self.n_holdout else ""),
            f"{'parameter':<{w}}  {'shape':>18}  {'kept':>9}  {'total':>9}  {'sparsity':>8}",
        ]
        flops = self.macs_dense > 0
        if flops:
            lines[0] += f", flop_budget={self.flop_budget:.6g} MACs"
            lines[1] += f"  {'MACs before':>12}  {'MACs after':>12}"
        for layer in self.layers:
            shape = "x".join(str(s) for s in layer.shape)
            line = (
                f"{layer.name:<{w}}  {shape:>18}  {layer.kept:>9}  {layer.numel:>9}  "
                f"{layer.sparsity:>8.4f}"
            )
            if flops:
                line += f"  {layer.macs_dense:>12.0f}  {layer.macs_kept:>12.0f}"
            lines.append(line)
        line = (
            f"{'total':<{w}}  {'':>18}  {self.kept:>9}  {self.total:>9}  "
            f"{self.achieved_sparsity:>8.4f}"
        )
        if flops:
            line += (
                f"  {self.macs_dense:>12.0f}  {self.macs_kept:>12.0f}"
                f"  ({self.macs_kept / self.macs_dense:.4f} of dense MACs kept)"
            )
        lines.append(line)
        if any(h.objective is not None for h in self.history):
            lines.append("stage  sparsity        k   objective(magnitude)   objective   solve s")
            for h in self.history:
                lines.append(
                    f"{h.stage:>5}  {h.sparsity:>8.4f}  {h.k:>7}  "
                    f"{_fmt(h.objective_magnitude):>20}  {_fmt(h.objective):>10}  "
                    f"{h.time_solve:>8.3f}"
                )
        checks = [h for h in self.history if h.actual_change is not None]
        if checks:
            lines.append("stage  held-out loss before -> after   actual change   predicted")
            for h in checks:
                lines.append(
                    f"{h.stage:>5}  {h.loss_before:>12.5g} -> {h.loss_after:<10.5g}  "
                    f"{h.actual_change:>13.4g}  {h.predicted_change:>10.4g}"
                )
        t = self.times
        if self.bn_samples:
            lines.append(f"BatchNorm statistics re-estimated on {self.bn_samples} inputs")
        lines.append(
            "time: "
            + ", ".join(f"{k} {t.get(k, 0.0):.3f}s" for k in ("gradients", "solve", "writeback"))
            + f", total {t.get('total', 0.0):.3f}s"
        )
        lines.extend(f"note: {n}" for n in self.notes)
        lines.extend(f"WARNING: {n}" for n in self.warnings)
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def save_masks(self, path) -> None:
        """Save :attr:`masks` with ``torch.save`` (a dict of full parameter name -> bool
        tensor); :func:`adapters.torch.load_masks` re-applies them to another model copy."""
        from .mask_io import save_masks

        save_masks(self.masks, path)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serializable summary (everything except the mask tensors)."""
        return {
            "method": self.method,
            "sparsity": self.sparsity,
            "achieved_sparsity": self.achieved_sparsity,
            "scope": self.scope,
            "mask_mode": self.mask_mode,
            "n_samples": self.n_samples,
            "n_samples_requested": self.n_samples_requested,
            "n_holdout": self.n_holdout,
            "ridge": self.ridge,
            "block_size": self.block_size,
            "stages": self.stages,
            "first_order": self.first_order,
            "total": self.total,
            "kept": self.kept,
            "objective_magnitude": self.objective_magnitude,
            "objective": self.objective,
            "matrix_bytes": self.matrix_bytes,
            "bn_samples": self.bn_samples,
            "bn_aware_targets": list(self.bn_aware_targets),
            "flop_budget": self.flop_budget,
            "macs_dense": self.macs_dense,
            "macs_kept": self.macs_kept,
            "layers": [
                {
                    "name": x.name,
                    "shape": list(x.shape),
                    "numel": x.numel,
                    "kept": x.kept,
                    "sparsity": x.sparsity,
                    "macs_dense": x.macs_dense,
                    "macs_kept": x.macs_kept,
                }
                for x in self.layers
            ],
            "history": [
                {k: (float(v) if isinstance(v, float) else v) for k, v in h.__dict__.items()}
                | {"actual_change": h.actual_change, "model_disagrees": h.model_disagrees()}
                for h in self.history
            ],
            "times": dict(self.times),
            "notes": list(self.notes),
            "warnings": self.warnings,
        }


def _fmt(x) -> str:
    return "-" if x is None else f"{x:.6g}"
