"""Products with a design matrix, accumulated in float64 for float32 or float64 storage.

They read ``A`` in place (C- or F-contiguous, no float64 copy) with Numba kernels; F-order is
the fastest layout. Useful to build problems (``b = A @ w_bar``) without casting a large
float32 matrix.
"""

from __future__ import annotations

import numpy as np

from . import _kernels as K

__all__ = ["matvec", "rmatvec", "column_sq_norms"]


def _check(A) -> np.ndarray:
    if not isinstance(A, np.ndarray) or A.ndim != 2 or A.dtype not in (np.float32, np.float64):
        raise TypeError("A must be a 2-D float32 or float64 numpy array.")
    if not (A.flags.c_contiguous or A.flags.f_contiguous):
        raise ValueError("A must be C- or F-contiguous; use np.asfortranarray(A).")
    return A


def matvec(A: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``A @ x`` (float64)."""
    A = _check(A)
    x = np.asarray(x, dtype=np.float64)
    if x.shape != (A.shape[1],):
        raise ValueError(f"x must have shape ({A.shape[1]},), got {x.shape}.")
    return K.matvec(A, x)


def rmatvec(A: np.ndarray, r: np.ndarray) -> np.ndarray:
    """``A.T @ r`` (float64)."""
    A = _check(A)
    r = np.asarray(r, dtype=np.float64)
    if r.shape != (A.shape[0],):
        raise ValueError(f"r must have shape ({A.shape[0]},), got {r.shape}.")
    return K.rmatvec(A, r)


def column_sq_norms(A: np.ndarray) -> np.ndarray:
    """``diag(A^T A)`` (float64)."""
    return K.col_sq_norms(_check(A))
