"""What :func:`adapters.torch.prune` did: masks, per-layer sparsity, objectives, timings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

__all__ = ["PruneReport", "LayerStats", "StageRecord"]


@dataclass
class LayerStats:
    """One target: full parameter name, shape, weights kept and the resulting sparsity."""

    name: str
    shape: tuple[int, ...]
    numel: int
    kept: int

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
            f"mask_mode={self.mask_mode}, n_samples={self.n_samples}",
            f"{'parameter':<{w}}  {'shape':>18}  {'kept':>9}  {'total':>9}  {'sparsity':>8}",
        ]
        for layer in self.layers:
            shape = "x".join(str(s) for s in layer.shape)
            lines.append(
                f"{layer.name:<{w}}  {shape:>18}  {layer.kept:>9}  {layer.numel:>9}  "
                f"{layer.sparsity:>8.4f}"
            )
        lines.append(
            f"{'total':<{w}}  {'':>18}  {self.kept:>9}  {self.total:>9}  "
            f"{self.achieved_sparsity:>8.4f}"
        )
        if any(h.objective is not None for h in self.history):
            lines.append("stage  sparsity        k   objective(magnitude)   objective   solve s")
            for h in self.history:
                lines.append(
                    f"{h.stage:>5}  {h.sparsity:>8.4f}  {h.k:>7}  "
                    f"{_fmt(h.objective_magnitude):>20}  {_fmt(h.objective):>10}  "
                    f"{h.time_solve:>8.3f}"
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
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def to_dict(self) -> dict[str, Any]:
        """JSON-serializable summary (everything except the mask tensors)."""
        return {
            "method": self.method,
            "sparsity": self.sparsity,
            "achieved_sparsity": self.achieved_sparsity,
            "scope": self.scope,
            "mask_mode": self.mask_mode,
            "n_samples": self.n_samples,
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
            "layers": [
                {
                    "name": x.name,
                    "shape": list(x.shape),
                    "numel": x.numel,
                    "kept": x.kept,
                    "sparsity": x.sparsity,
                }
                for x in self.layers
            ],
            "history": [
                {k: (float(v) if isinstance(v, float) else v) for k, v in h.__dict__.items()}
                for h in self.history
            ],
            "times": dict(self.times),
            "notes": list(self.notes),
        }


def _fmt(x) -> str:
    return "-" if x is None else f"{x:.6g}"
