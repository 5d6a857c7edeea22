"""PyTorch adapter: prune networks with CHITA / CHITA++ (L0-constrained least squares).

Importing this package needs the optional extra: ``pip install "chita[torch]"``.

>>> from adapters.torch import prune
>>> report = prune(model, (X, y), sparsity=0.9, method="chita")   # doctest: +SKIP
>>> print(report.summary())                                       # doctest: +SKIP
"""

from .._require import require_torch

require_torch()

from .batchnorm import recalibrate_batchnorm  # noqa: E402
from .flops import flop_costs  # noqa: E402
from .gradual import GradualReport, GradualStep, gradual_schedule, prune_gradually  # noqa: E402
from .layerwise import LayerRecord, LayerwiseReport, prune_layerwise  # noqa: E402
from .mask_enforcer import MaskEnforcer  # noqa: E402
from .mask_io import load_masks, save_masks  # noqa: E402
from .masks import MASK_MODES, make_permanent  # noqa: E402
from .per_sample_grads import conv_grad_sample, linear_grad_sample  # noqa: E402
from .pruner import METHODS, SCOPES, default_solver, prune  # noqa: E402
from .report import LayerStats, PruneReport, StageRecord  # noqa: E402
from .targets import resolve_targets  # noqa: E402

__all__ = [
    "MASK_MODES",
    "METHODS",
    "SCOPES",
    "default_solver",
    "GradualReport",
    "GradualStep",
    "flop_costs",
    "LayerRecord",
    "LayerStats",
    "LayerwiseReport",
    "MaskEnforcer",
    "PruneReport",
    "StageRecord",
    "conv_grad_sample",
    "linear_grad_sample",
    "load_masks",
    "make_permanent",
    "gradual_schedule",
    "prune",
    "prune_gradually",
    "prune_layerwise",
    "recalibrate_batchnorm",
    "resolve_targets",
    "save_masks",
]
