"""The n x n system behind every large-support computation with a ridge.

For a support S and ``ridge > 0``, ``K = ridge I + A_S A_S^T`` (n x n, ``L L^T = K``) gives

* the minimiser on S: ``w_S = w_ref_S + A_S^T K^-1 c`` with ``c = b - A_S w_ref_S``;
* the squared norm of every augmented column orthogonal to S:
  ``s_j = ridge (1 + ||L^-1 a_j||^2)``;

so the swap searches of large problems work in n dimensions, whatever k and p.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg as sla

from . import _kernels as K
from .constants import WOODBURY_CHUNK_BYTES
from .quadratic import Quadratic

__all__ = ["column_chunks", "ridge_gram_cholesky", "support_factor", "woodbury_sq_norms"]


def column_chunks(p: int, n: int):
    """Slices of columns whose float64 copies take at most 64 MiB (n rows each)."""
    step = max(1, WOODBURY_CHUNK_BYTES // (8 * max(n, 1)))
    for c in range(0, p, step):
        yield slice(c, min(p, c + step))


def ridge_gram_cholesky(AS: np.ndarray, ridge: float) -> np.ndarray:
    """Lower Cholesky factor of ``ridge I + A_S A_S^T`` (``AS`` float64, n x s)."""
    Kmat = AS @ AS.T
    Kmat[np.diag_indices_from(Kmat)] += ridge
    return sla.cholesky(Kmat, lower=True, check_finite=False)


def support_factor(q: Quadratic, S):
    """``(A_S, c, L, u)`` for support S of the quadratic ``q``: A_S in float64,
    ``c = b - A_S w_ref_S``, the factor L of K and ``u = K^-1 c``."""
    S = np.asarray(S, dtype=np.int64)
    AS = K.gather_columns(q.A, S).astype(np.float64)
    c = q.b - AS @ q.w_ref[S] if q.w_ref is not None else q.b.copy()
    L = ridge_gram_cholesky(AS, q.ridge)
    u = sla.cho_solve((L, True), c, check_finite=False)
    return AS, c, L, u


def woodbury_sq_norms(A: np.ndarray, L: np.ndarray, ridge: float, dtype=np.float64):
    """``ridge (1 + ||L^-1 a_j||^2)`` for every column of A, by column chunks of 64 MiB.

    ``dtype`` is the precision of the triangular solves: float32 halves their cost when the
    values only rank columns; the sums accumulate in float64 either way.
    """
    n, p = A.shape
    L_d = L.astype(dtype, copy=False)
    out = np.empty(p)
    for c in column_chunks(p, n):
        X = sla.solve_triangular(
            L_d, A[:, c].astype(dtype, copy=False), lower=True, check_finite=False
        )
        out[c] = ridge * (1.0 + np.einsum("ij,ij->j", X, X, dtype=np.float64))
    return out
