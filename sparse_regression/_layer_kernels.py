"""Numba kernels of the layer-wise solves (:mod:`sparse_regression.gram`).

Each fuses the element-wise work that follows one matrix product of an iteration into a single
pass over the rows (a row of ``d`` floats stays in cache while it is read and written), so an
iteration costs one GEMM plus one streaming pass instead of a dozen temporaries.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np


@nb.njit(cache=True, nogil=True)
def cg_step(W, R, P, P32, Q, mask, dinv, rz, goal):  # pragma: no cover - compiled
    """One step of batched Jacobi-preconditioned CG on fixed masks, after ``Q = P32 @ Hd``.

    Per row r (masked entries only): ``q = Q_r * mask_r``, ``alpha = rz_r / <p, q>``,
    ``w += alpha p``, ``res -= alpha q``, ``z = dinv * res``, ``beta = <res, z> / rz_r``,
    ``p = z + beta p`` (also written to ``P32``, the next product's operand). ``W``, ``R``,
    ``P``, ``rz`` are float64 and updated in place; ``Q`` may be float32. Returns the number
    of rows whose residual norm is still above ``goal``.
    """
    rows, d = W.shape
    active = 0
    for r in range(rows):
        pq = 0.0
        for j in range(d):
            if mask[r, j]:
                pq += P[r, j] * Q[r, j]
        alpha = rz[r] / pq if pq > 0 else 0.0
        rr = 0.0
        rz_new = 0.0
        for j in range(d):
            if mask[r, j]:
                W[r, j] += alpha * P[r, j]
                res = R[r, j] - alpha * Q[r, j]
                R[r, j] = res
                rr += res * res
                rz_new += res * res * dinv[j]
        beta = rz_new / rz[r] if rz[r] > 0 else 0.0
        rz[r] = rz_new
        for j in range(d):
            if mask[r, j]:
                p = R[r, j] * dinv[j] + beta * P[r, j]
                P[r, j] = p
                P32[r, j] = p
        if math.sqrt(rr) > goal[r]:
            active += 1
    return active


@nb.njit(cache=True, nogil=True)
def admm_dual(W, V, Z, A):  # pragma: no cover - compiled
    """ADMM after the W-step: ``Z = W + V`` and the scores ``A = |Z|`` (one pass)."""
    w, v, z, a = W.ravel(), V.ravel(), Z.ravel(), A.ravel()
    for i in range(w.shape[0]):
        t = w[i] + v[i]
        z[i] = t
        a[i] = abs(t)


@nb.njit(cache=True, nogil=True)
def admm_split(Z, mask, HW, rho, vscale, D, V, rhs):  # pragma: no cover - compiled
    """ADMM's projection and (scaled) dual step, and the next W-step's right-hand side, in one
    pass: ``D = Z * mask``, ``V = vscale (Z - D)``, ``rhs = HW + rho (D - V)``."""
    z, m, hw, d, v, out = Z.ravel(), mask.ravel(), HW.ravel(), D.ravel(), V.ravel(), rhs.ravel()
    for i in range(z.shape[0]):
        if m[i]:
            d[i] = z[i]
            v[i] = 0.0
            out[i] = hw[i] + rho * z[i]
        else:
            t = vscale * z[i]
            d[i] = 0.0
            v[i] = t
            out[i] = hw[i] - rho * t


@nb.njit(cache=True, nogil=True)
def top_k_mask_abs_f32(scores, k, keep):  # pragma: no cover - compiled
    """``keep`` = the ``k`` largest of the float32 ``scores >= 0`` (ties: lower flat index).

    Radix selection on the floats' bits (for non-negative floats the int32 bit patterns are in
    the order of the values): two histogram passes of 32768 / 65536 bins find the k-th
    largest value, one pass writes the mask: O(size), no sort and no index array. NaN counts
    as 0 (negative scores are not allowed).
    """
    s = scores.ravel()
    out = keep.ravel()
    size = s.shape[0]
    bits = s.view(np.int32)
    inf_bits = 0x7F800000
    hist = np.zeros(65536, np.int64)
    for i in range(size):
        b = bits[i]
        hist[(b if b <= inf_bits else 0) >> 16] += 1
    need = k
    hi = 32767
    while hist[hi] < need:
        need -= hist[hi]
        hi -= 1
    hist[:] = 0
    for i in range(size):
        b = bits[i]
        b = b if b <= inf_bits else 0
        if (b >> 16) == hi:
            hist[b & 65535] += 1
    lo = 65535
    while hist[lo] < need:
        need -= hist[lo]
        lo -= 1
    thr = (hi << 16) | lo
    # Keep every value above the k-th largest and the first `need` equal to it.
    for i in range(size):
        b = bits[i]
        b = b if b <= inf_bits else 0
        if b > thr:
            out[i] = True
        elif b == thr and need > 0:
            out[i] = True
            need -= 1
        else:
            out[i] = False
