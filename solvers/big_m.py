"""Provably safe big-M bounds for the MIP, from an incumbent objective U >= F*.

Every bound below is valid for an optimal solution w* (F(w*) = F* <= U), so the constraint
``|w_i| <= M_i`` never cuts the optimum off. Write ``Q = A^T A + ridge I``,
``q = A^T b + ridge w_ref`` and ``F(0) = 1/2||b||^2 + ridge/2 ||w_ref||^2``, so that
``F(w) = 1/2 w^T Q w - q^T w + F(0)``. Three bounds, combined by taking the smallest per
coordinate:

* **ellipsoid** (Q positive definite: ridge > 0, or A of full column rank). With
  ``w_u = Q^{-1} q`` the unconstrained minimiser, ``F(w) = F(w_u) + 1/2 (w - w_u)^T Q (w - w_u)``,
  so ``F(w*) <= U`` puts w* in an ellipsoid, and maximising ``|w_i|`` over it gives

      |w*_i| <= |w_u_i| + sqrt(2 (U - F(w_u)) (Q^{-1})_ii).

* **ridge** (ridge > 0). Every term of F is non-negative, so ``ridge/2 ||w* - w_ref||^2 <= U``:

      |w*_i| <= |w_ref_i| + sqrt(2 U / ridge).

  (Always looser than the ellipsoid bound, which maximises over a subset of this ball; it is
  kept as a cross-check that needs no matrix inverse.)

* **restricted eigenvalue** (ridge = 0). If ``lam <= lambda_min(A_S^T A_S)`` for every
  support |S| <= k and lam > 0, then A_S has full column rank, w*_S is the least-squares
  fit on its support, ``A_S w*_S`` is the projection of b, and

      lam ||w*||^2 <= ||A_S w*_S||^2 = ||b||^2 - 2 F(w*) <= ||b||^2 - 2 F_ls,

  with ``F_ls = min_w 1/2||A w - b||^2``. Two cheap choices of lam: lambda_min(A^T A) (Cauchy
  interlacing: a principal submatrix has a larger smallest eigenvalue), and Gershgorin on the
  k x k Gram blocks, ``min_i (G_ii - sum of the k-1 largest |G_ij|, j != i)``, or the same
  on the correlation matrix scaled by ``min_i G_ii`` (positive for k = 2 as soon as no two
  columns are parallel).

When none applies (ridge = 0, A^T A singular and the Gershgorin bound <= 0, typically
p > n), no cheap bound is provable; the caller then uses a heuristic M and must not claim a
certificate.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.linalg as sla

from sparse_regression import SparseProblem
from sparse_regression.constants import BIG_M_MARGIN, BIG_M_PD_RTOL

__all__ = ["GramData", "SafeBounds", "gram_data", "safe_big_m"]


@dataclass
class GramData:
    """``G = A^T A``, ``q = A^T b + ridge w_ref``, ``F(0)`` and the spectrum of G."""

    G: np.ndarray
    q: np.ndarray
    f_zero: float
    eig_min: float
    eig_max: float


def gram_data(problem: SparseProblem) -> GramData:
    """The p x p Gram matrix (exact solvers only: p is small) and the problem's cached data."""
    A = np.asarray(problem.A, dtype=np.float64)
    G = A.T @ A
    quad = problem.quadratic
    eig = sla.eigvalsh(G, check_finite=False)
    return GramData(
        G=G, q=quad.rhs, f_zero=quad.f_zero, eig_min=float(eig[0]), eig_max=float(eig[-1])
    )


@dataclass
class SafeBounds:
    """Per-coordinate bounds (``None`` when nothing is provable) and a lower bound on F*."""

    M: np.ndarray | None
    sources: list[str] = field(default_factory=list)
    f_lower: float = 0.0  # min over all w of F (no sparsity): a valid lower bound on F*


def _least_squares_value(problem: SparseProblem) -> float:
    """``min_w 1/2||A w - b||^2`` (ridge = 0)."""
    A = np.asarray(problem.A, dtype=np.float64)
    w = sla.lstsq(A, problem.b, lapack_driver="gelsd", check_finite=False)[0]
    r = A @ w - problem.b
    return 0.5 * float(r @ r)


def _top_off_diagonal_sums(M: np.ndarray, m: int) -> np.ndarray:
    """Row sums of the m largest off-diagonal |M_ij|."""
    off = np.abs(M)
    np.fill_diagonal(off, 0.0)
    return -np.sort(-off, axis=1)[:, :m].sum(axis=1)


def _gershgorin_k(G: np.ndarray, k: int) -> float:
    """A lower bound on lambda_min(G_SS) over all supports |S| <= k (Gershgorin discs).

    The larger of ``min_i (G_ii - sum of the k-1 largest |G_ij|, j != i)`` and the same bound
    on the correlation matrix ``C = D^-1/2 G D^-1/2`` times ``min_i G_ii`` (valid because
    ``x^T G_SS x = y^T C_SS y >= lambda_min(C_SS) ||y||^2 >= lambda_min(C_SS) min(D) ||x||^2``
    with ``y = D^1/2 x``, when lambda_min(C_SS) >= 0).
    """
    diag = np.diag(G)
    m = min(k - 1, G.shape[0] - 1)
    if m <= 0:
        return float(np.min(diag))
    raw = float(np.min(diag - _top_off_diagonal_sums(G, m)))
    if np.min(diag) <= 0:
        return raw
    root = np.sqrt(diag)
    corr = 1.0 - float(np.max(_top_off_diagonal_sums(G / np.outer(root, root), m)))
    return max(raw, float(np.min(diag)) * corr)


def safe_big_m(problem: SparseProblem, upper: float, gram: GramData | None = None) -> SafeBounds:
    """Bounds M_i with ``|w*_i| <= M_i`` for an optimal w*, given ``upper >= F*``.

    See the module docstring for the three bounds. ``upper`` is any feasible objective (the
    incumbent's).
    """
    if gram is None:
        gram = gram_data(problem)
    p, ridge = problem.n_features, problem.ridge
    upper = float(upper)
    candidates, sources = [], []
    f_lower = 0.0

    eig_min_q = gram.eig_min + ridge
    if eig_min_q > BIG_M_PD_RTOL * (gram.eig_max + ridge):
        Q = gram.G.copy()
        Q[np.diag_indices_from(Q)] += ridge
        L = sla.cholesky(Q, lower=True, check_finite=False)
        w_u = sla.cho_solve((L, True), gram.q, check_finite=False)
        f_u = max(0.0, gram.f_zero - 0.5 * float(gram.q @ w_u))
        Linv = sla.solve_triangular(L, np.eye(p), lower=True, check_finite=False)
        q_inv_diag = np.einsum("ij,ij->j", Linv, Linv)
        slack = max(upper - f_u, 0.0)
        candidates.append(np.abs(w_u) + np.sqrt(2.0 * slack * q_inv_diag))
        sources.append("ellipsoid")
        f_lower = f_u
    if ridge > 0:
        candidates.append(np.abs(problem.w_ref) + np.sqrt(2.0 * upper / ridge))
        sources.append("ridge")
    else:
        lam = max(gram.eig_min, _gershgorin_k(gram.G, problem.k))
        if lam > BIG_M_PD_RTOL * gram.eig_max:
            f_ls = f_lower if sources else _least_squares_value(problem)
            f_lower = max(f_lower, f_ls)
            radius2 = max(float(problem.b @ problem.b) - 2.0 * f_ls, 0.0)
            candidates.append(np.full(p, np.sqrt(radius2 / lam)))
            sources.append("restricted-eigenvalue")
        elif not sources:
            f_lower = _least_squares_value(problem)
    if not candidates:
        return SafeBounds(M=None, sources=[], f_lower=f_lower)
    M = np.min(np.vstack(candidates), axis=0)
    M = M * (1.0 + BIG_M_MARGIN) + BIG_M_MARGIN * max(float(M.max()), np.finfo(float).tiny)
    return SafeBounds(M=M, sources=sources, f_lower=f_lower)
