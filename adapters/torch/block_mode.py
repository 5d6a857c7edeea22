"""Block mode without cliffs: the blocks' updates judged together, on the full model and on
held-out data.

Block mode solves each block b on its own slice ``A_b`` of the Fisher factor: its update
compensates the block's pruned weights *as if every other block stayed put*, and, with few
columns per block, it can be large. All blocks move at once, so the summed update can leave the
region where the quadratic model holds (issue 11: a 200x "better" block-diagonal objective at
chance accuracy). A global split and three safeguards (measured in docs/pruning.md, "Scaling up"):

0. k is split across blocks by the support of one solve of the unblocked problem on as many
   calibration samples as fit ``memory_limit`` (at least ``BLOCK_ALLOC_MIN_SAMPLES``; else by
   magnitude): a block alone cannot weigh its weights against the other blocks';
1. each block's ridge is relative to that block's own curvature, ``rho_b = ridge_rel *
   mean(diag(A_b^T A_b))``, with ``ridge_rel >= BLOCK_MIN_RIDGE``;
2. the full (cross-block) quadratic model is evaluated exactly along the damped path
   ``w(alpha) = w * 1[S] + alpha * sum_b d_b``, ``d_b = x_b - w_b * 1[S_b]``:

       Q(alpha) = 1/2 ||r_0 + alpha v + e||^2 + 1/2 (c_0 + alpha^2 c_1),
       r_0 = -sum_b A_b (w_b * 1[not S_b]),  v = sum_b A_b d_b,

   (``e = 1/sqrt(n)`` with ``first_order``, else 0; ``c_0, c_1`` the ridge terms), from
   n-vectors accumulated while each ``A_b`` is in memory, never A whole;
3. the damping ``alpha`` in ``DAMPING``, the global solve's own answer and the
   magnitude-pruned point are compared on the *actual* loss of a held-out slice of the
   calibration data; the lowest wins. Block mode is therefore never worse than magnitude
   pruning on that loss.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "BLOCK_ALLOC_MIN_SAMPLES",
    "BlockCombiner",
    "BLOCK_MIN_RIDGE",
    "DAMPING",
    "damped",
    "merge_combiners",
]

#: Smallest relative ridge of a block (block mode only): with a few columns per block the
#: unregularised block update is far outside the trusted region (docs/pruning.md).
BLOCK_MIN_RIDGE = 0.1
#: Fewest samples for the global solve that splits k across blocks (fewer: magnitude split,
#: unless that is every sample). MLPNet at 0.95, block 10000: 50 samples split worse than
#: magnitude, 100 and more better (docs/pruning.md, "Block mode").
BLOCK_ALLOC_MIN_SAMPLES = 100
#: Damping factors of the summed block update tried on the held-out loss (1 = raw update).
DAMPING = (1.0, 0.5, 0.25, 0.0)


def apply_sparse(Ab: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``Ab @ x`` in float64, reading only the columns where ``x`` is nonzero."""
    nz = np.flatnonzero(x)
    if nz.size == 0:
        return np.zeros(Ab.shape[0])
    return Ab[:, nz].astype(np.float64) @ x[nz]


class BlockCombiner:
    """Accumulates the n-vectors of the full quadratic model while each ``A_b`` is in memory
    (module docstring), for the magnitude point and the damped block-mode path."""

    def __init__(self, n: int, first_order: bool):
        self.e = 1.0 / np.sqrt(n) if first_order else 0.0
        self.r_mag = np.zeros(n)  # A (m - w_ref), m the magnitude-pruned point
        self.r_base = np.zeros(n)  # A (w_ref * 1[S] - w_ref)
        self.v = np.zeros(n)  # sum_b A_b d_b
        self.r_alt = np.zeros(n)  # A (g - w_ref), g the global allocation solve's answer
        self.c_mag = self.c_base = self.c_upd = self.c_alt = 0.0  # ridge terms rho_b ||.||^2

    def add(self, Ab, w_ref, mag, x, support, ridge_abs, alt=None) -> None:
        """One block: reference ``w_ref``, its magnitude-pruned part ``mag``, the solution
        ``x`` on ``support`` (for an unsolved block: ``x = mag``), and the global allocation
        solve's answer ``alt`` on the block (None: no global solve)."""
        self.r_mag += apply_sparse(Ab, mag - w_ref)
        self.c_mag += ridge_abs * float(np.sum((mag - w_ref) ** 2))
        if alt is not None:
            self.r_alt += apply_sparse(Ab, alt - w_ref)
            self.c_alt += ridge_abs * float(np.sum((alt - w_ref) ** 2))
        dropped = np.where(support, 0.0, w_ref)
        self.r_base -= apply_sparse(Ab, dropped)
        self.c_base += ridge_abs * float(dropped @ dropped)
        d = np.where(support, x - w_ref, 0.0)
        self.v += apply_sparse(Ab, d)
        self.c_upd += ridge_abs * float(d @ d)

    def _q(self, r: np.ndarray, c: float) -> float:
        res = r + self.e
        return 0.5 * float(res @ res) + 0.5 * c

    @property
    def objective_magnitude(self) -> float:
        """The full quadratic model at the magnitude-pruned point."""
        return self._q(self.r_mag, self.c_mag)

    @property
    def objective_global(self) -> float:
        """The full quadratic model at the global allocation solve's answer."""
        return self._q(self.r_alt, self.c_alt)

    def objective(self, alpha: float) -> float:
        """The full quadratic model at ``w(alpha)``."""
        return self._q(self.r_base + alpha * self.v, self.c_base + alpha * alpha * self.c_upd)

    @property
    def objective_dense(self) -> float:
        """The model at the reference weights (its value before pruning)."""
        return 0.5 * float(np.sum(np.broadcast_to(self.e, self.v.shape) ** 2))


def damped(w_ref: np.ndarray, x: np.ndarray, support: np.ndarray, alpha: float) -> np.ndarray:
    """``w(alpha) = w_ref * 1[S] + alpha (x - w_ref * 1[S])`` (zero off the support)."""
    return np.where(support, w_ref + alpha * (x - w_ref), 0.0)


def merge_combiners(parts: list[BlockCombiner]) -> BlockCombiner:
    """One combiner from per-group ones, summed in group order (the same order serially and
    under Ray, so the sums are bitwise equal)."""
    out = parts[0]
    for c in parts[1:]:
        out.r_mag = out.r_mag + c.r_mag
        out.r_alt = out.r_alt + c.r_alt
        out.c_alt += c.c_alt
        out.r_base = out.r_base + c.r_base
        out.v = out.v + c.v
        out.c_mag += c.c_mag
        out.c_base += c.c_base
        out.c_upd += c.c_upd
    return out
