"""The mixed-integer formulation shared by the SCIP and cvxpy backends.

Split the Hessian ``Q = A^T A + ridge I`` as ``Q = P + diag(d)`` with P positive semidefinite
and d >= 0. Then

    F(w) = 1/2 w^T P w - q^T w + F(0) + 1/2 sum_i d_i w_i^2,

and the MIQP is, with binary z_i (z_i = 0 forces w_i = 0):

    minimise    1/2 w^T P w - q^T w + F(0) + 1/2 sum_i d_i s_i
    subject to  w_i^2 <= s_i z_i,  s_i >= 0     (rotated second-order cone: perspective)
                |w_i| <= M_i z_i                 (big-M)
                sum_i z_i <= k,  z binary.

For binary z the cone gives s_i = w_i^2 at the optimum, so the objective is F(w) exactly; for
fractional z it gives ``s_i >= w_i^2 / z_i``, which is far tighter than ``w_i^2`` (the
perspective of the separable part). The cone needs no M at all (z_i = 0 forces w_i = 0
through ``w_i^2 <= 0``), and ``s_i <= M_i^2 z_i`` is a valid cut.

Choice of d (``perspective=True``): ``d = ridge + delta`` with ``delta = lambda_min(A^T A)``
(shrunk by a tiny margin so P stays positive definite; 0 when A^T A is singular, e.g.
p > n). The ridge term is ``ridge/2 ||w - w_ref||^2 = ridge/2 (w^T w - 2 w_ref^T w +
w_ref^T w_ref)``: only its quadratic part ``ridge/2 w_i^2`` goes into the perspective; its
linear part is in q and its constant in F(0). (The perspective of ``(w_i - w_ref_i)^2`` itself,
``(w_i - w_ref_i z_i)^2 / z_i``, would be wrong: for z_i = 0 the true cost is ``w_ref_i^2``,
not 0.) ``perspective=False``
gives d = 0, the plain big-M model.

The smooth part is written as a sum of squares, ``1/2 w^T P w - q^T w + F(0) =
1/2 ||R w - r||^2 - l^T w + c`` with ``R^T R = P`` and ``R^T r + l = q``: R = A (thin-QR
compressed to p rows when n > p) when delta = 0, an eigen-factor of P otherwise.

For the solver, variables are scaled to ``u = w / M`` (so ``|u_i| <= z_i`` and
``s'_i = s_i / M_i^2 <= z_i``) and the objective is divided by ``scale = F(0) / OBJECTIVE_SPAN``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg as sla

from sparse_regression import SparseProblem
from sparse_regression.constants import MIQP_DELTA_SHRINK, MIQP_PD_ABS, OBJECTIVE_SPAN

from .big_m import GramData

__all__ = ["MIQPData", "OBJECTIVE_SPAN", "build_miqp"]


@dataclass
class MIQPData:
    """Scaled data of the MIQP (see the module docstring). ``w = M * u``.

    minimise   1/2 ||R u - r||^2 - lin^T u + 1/2 sum_{i in J} d_i s_i + const
    subject to |u_i| <= z_i, sum z <= k, u_i^2 <= s_i z_i and s_i <= z_i for i in J, z binary,
               and sum costs_i z_i <= budget when the problem has a cost budget (FALCON),

    where ``J = flatnonzero(d > 0)``; the model objective equals ``F(M u) / scale``.
    """

    R: np.ndarray
    r: np.ndarray
    lin: np.ndarray
    d: np.ndarray
    const: float
    M: np.ndarray
    scale: float
    k: int
    delta: float
    costs: np.ndarray | None = None
    budget: float | None = None

    @property
    def n_features(self) -> int:
        return self.R.shape[1]

    @property
    def perspective_index(self) -> np.ndarray:
        return np.flatnonzero(self.d > 0)

    def point(self, w: np.ndarray) -> dict[str, np.ndarray]:
        """Model variables (u, z, s, e, t) for a k-sparse vector w with ``|w| <= M``."""
        u = w / self.M
        z = (w != 0).astype(np.float64)
        J = self.perspective_index
        s = u[J] ** 2
        e = self.R @ u - self.r
        return {"u": u, "z": z, "s": s, "e": e, "t": float(e @ e)}

    def objective(self, u: np.ndarray, s: np.ndarray) -> float:
        """Scaled model objective."""
        e = self.R @ u - self.r
        J = self.perspective_index
        return 0.5 * float(e @ e) - float(self.lin @ u) + 0.5 * float(self.d[J] @ s) + self.const


def _sum_of_squares(B: np.ndarray, t: np.ndarray):
    """``(R, r, c)`` with ``||B w - t||^2 = ||R w - r||^2 + c``, R having <= p rows (thin QR)."""
    m, p = B.shape
    if m <= p:
        return B, t, 0.0
    Qf, R = sla.qr(B, mode="economic", check_finite=False)
    r = Qf.T @ t
    rest = t - Qf @ r
    return R, r, float(rest @ rest)


def build_miqp(
    problem: SparseProblem, gram: GramData, M: np.ndarray, *, perspective: bool = True
) -> MIQPData:
    """The scaled MIQP data for ``problem`` with big-M bounds ``M`` (all > 0)."""
    A = np.asarray(problem.A, dtype=np.float64)
    b = problem.b
    p, ridge = problem.n_features, problem.ridge
    w_ref = problem.w_ref
    delta = 0.0
    if perspective:
        delta = (1.0 - MIQP_DELTA_SHRINK) * gram.eig_min - MIQP_PD_ABS * gram.eig_max
        delta = max(delta, 0.0)
    d = np.full(p, ridge + delta) if perspective else np.zeros(p)

    if delta > 0:
        # P = A^T A - delta I, positive definite by construction: eigen-factor it.
        lam, V = sla.eigh(gram.G - delta * np.eye(p), check_finite=False)
        keep = lam > 0
        R = np.sqrt(lam[keep])[:, None] * V[:, keep].T
        r = (V[:, keep].T @ problem.quadratic.Atb) / np.sqrt(lam[keep])
        lin = gram.q - R.T @ r
        const = gram.f_zero - 0.5 * float(r @ r)
    else:
        if perspective or ridge == 0:
            B, t = A, b  # the ridge's quadratic part is in d (or absent)
        else:
            root = np.sqrt(ridge)
            B = np.vstack([A, root * np.eye(p)])
            t = np.concatenate([b, root * w_ref])
        R, r, rest = _sum_of_squares(B, t)
        lin = gram.q - B.T @ t
        const = gram.f_zero - 0.5 * float(t @ t) + 0.5 * rest

    scale = gram.f_zero / OBJECTIVE_SPAN
    root_scale = np.sqrt(scale)
    return MIQPData(
        R=R * M[None, :] / root_scale,
        r=r / root_scale,
        lin=lin * M / scale,
        d=d * M**2 / scale,
        const=const / scale,
        M=M,
        scale=scale,
        k=problem.k,
        delta=delta,
        costs=problem.costs,
        budget=problem.budget,
    )
