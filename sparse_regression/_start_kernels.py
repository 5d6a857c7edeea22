"""Compiled loops of the portfolio's starts (:mod:`.starts` has the math and the Python API).

Both work on ``At = A.T`` (p x n, C-contiguous: the columns of A as rows), accumulate in
float64 and return supports; :mod:`.starts` refits the final support exactly.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from ._descent_kernels import _cached_row, combine_rows
from ._kernels import _cholesky_solve

__all__ = ["forward_path", "omp_path", "splicing_path"]


@nb.njit(cache=True, nogil=True)
def _correlations(At, r, ref_term, c):
    """``c = A^T r + ref_term`` (one pass over A: a BLAS gemv)."""
    np.dot(At, r, c)
    c += ref_term


@nb.njit(cache=True, nogil=True, fastmath=True)
def _residual(At, S, s, wS, b, r):
    """``r = b - A_S w_S``."""
    n = b.shape[0]
    for t in range(n):
        r[t] = b[t]
    for i in range(s):
        wi = wS[i]
        row = S[i]
        for t in range(n):
            r[t] -= wi * At[row, t]


@nb.njit(cache=True, nogil=True, fastmath=True)
def omp_path(At, rhs, scale, k, eps, rows, slot, count):
    """Support chosen by OMP (see :func:`.starts.omp_start`), in order of selection.

    Every product comes from Gram rows ``A^T a_j`` held in the cache ``rows[slot[j]]`` (shared
    with the swap search): the correlations are
    ``c = A^T r + ref_term = rhs - sum_i w_i A^T a_{S_i}`` (O(s p) per step) and a chosen
    column's row is computed (one pass over A) only if no earlier start or descent has it.
    Returns ``(S, count, complete)``; ``complete`` is False when the cache ran out of room."""
    p, n = At.shape
    k = min(k, p)
    blocked = scale <= 0.0
    L = np.zeros((k, k))
    z = np.zeros(k)
    wS = np.zeros(k)
    S = np.empty(k, dtype=np.int64)
    c = rhs.copy()
    v = np.empty(k)
    s = 0
    while s < k:
        best = -1.0
        j = -1
        for i in range(p):
            if not blocked[i]:
                sc = c[i] * c[i]
                if sc > best:
                    best = sc
                    j = i
        if j < 0 or not best > 0.0:
            break
        row, count = _cached_row(At, j, rows, slot, count)
        if row is None:
            return S[:s], count, False
        ll = 0.0
        for i in range(s):  # l = L^-1 A_S^T a_j
            acc = row[S[i]]
            for t in range(i):
                acc -= L[i, t] * v[t]
            v[i] = acc / L[i, i]
            ll += v[i] * v[i]
        d2 = scale[j] - ll
        blocked[j] = True
        if d2 <= eps * scale[j]:
            continue  # in the span of the chosen columns: never picked again
        d = np.sqrt(d2)
        lz = 0.0
        for i in range(s):
            L[s, i] = v[i]
            lz += v[i] * z[i]
        L[s, s] = d
        z[s] = (rhs[j] - lz) / d
        S[s] = j
        s += 1
        for i in range(s - 1, -1, -1):  # L^T w = z (back substitution)
            acc = z[i]
            for t in range(i + 1, s):
                acc -= L[t, i] * wS[t]
            wS[i] = acc / L[i, i]
        c[:] = rhs
        combine_rows(rows, slot[S[:s]], -wS[:s], c, None, None)
    return S[:s], count, True


@nb.njit(cache=True, nogil=True)
def _stable_order(x):
    """Stable argsort by insertion (O(s^2) on the support's s entries; compiles in a fraction
    of the time numba's mergesort takes)."""
    m = x.shape[0]
    order = np.arange(m)
    for i in range(1, m):
        oi = order[i]
        v = x[oi]
        t = i - 1
        while t >= 0 and x[order[t]] > v:
            order[t + 1] = order[t]
            t -= 1
        order[t + 1] = oi
    return order


@nb.njit(cache=True, nogil=True, fastmath=True)
def splicing_path(
    At, b, rhs, ref_term, w_ref, ridge, ref_sq, const, scale, S0, w0, f0,
    c_max, max_iter, rtol, pivot_rtol,
):  # fmt: skip
    """abess-style splicing descent (see :func:`.starts.splicing_start`) from the exact point
    ``w0`` on ``S0`` with ``F = f0``. Each candidate exchange is refitted on one Gram matrix of
    the support and the exchanged columns, and its F computed from its residual. Returns the
    final support (its coefficients are refitted by the caller)."""
    p, n = At.shape
    s = S0.shape[0]
    S = S0.copy()
    wS = w0.copy()
    f = f0
    in_S = np.zeros(p, dtype=np.bool_)
    for i in range(s):
        in_S[S[i]] = True
    r = np.empty(n)
    c = np.empty(p)
    fwd = np.empty(p)
    for _ in range(max_iter):
        if s == 0 or s >= p or s > n:
            break
        _residual(At, S, s, wS, b, r)
        _correlations(At, r, ref_term, c)
        back = np.empty(s)
        for i in range(s):
            back[i] = 0.5 * scale[S[i]] * wS[i] * wS[i]
        order = _stable_order(back)
        n_out = 0
        for j in range(p):
            if in_S[j] or not scale[j] > 0.0:
                fwd[j] = -1.0
            else:
                fwd[j] = 0.5 * c[j] * c[j] / scale[j]
                n_out += 1
        c_top = min(c_max, s, n_out)
        if c_top < 1:
            break
        m = s + c_top
        U = np.empty(m, dtype=np.int64)
        for i in range(s):
            U[i] = S[order[i]]
        for q in range(c_top):  # the c_top best outsiders, best first
            bj = -1
            bv = -1.0
            for j in range(p):
                if fwd[j] > bv:
                    bv = fwd[j]
                    bj = j
            U[s + q] = bj
            fwd[bj] = -1.0
        G = np.empty((m, m))
        for a in range(m):
            for e in range(a + 1):
                acc = 0.0
                for t in range(n):
                    acc += At[U[a], t] * At[U[e], t]
                G[a, e] = acc
                G[e, a] = acc
            G[a, a] += ridge
        best_f = f - rtol * abs(f)
        best_c = -1
        best_w = np.empty(s)
        w_try = np.empty(s)
        rhs_c = np.empty(s)
        for cc in range(1, c_top + 1):
            M = np.empty((s, s))
            for a in range(s):
                rhs_c[a] = rhs[U[cc + a]]
                for e in range(s):
                    M[a, e] = G[cc + a, cc + e]
            if not _cholesky_solve(M, rhs_c, pivot_rtol, w_try):
                continue
            # F from the residual (an expansion of the quadratic cancels when F << F(0))
            for t in range(n):
                r[t] = b[t]
            pen = 0.0
            ref_in = 0.0
            for a in range(s):
                col = U[cc + a]
                wa = w_try[a]
                for t in range(n):
                    r[t] -= wa * At[col, t]
                dv = wa - w_ref[col]
                pen += dv * dv
                ref_in += w_ref[col] * w_ref[col]
            f_new = const + 0.5 * ridge * (pen + max(ref_sq - ref_in, 0.0))
            for t in range(n):
                f_new += 0.5 * r[t] * r[t]
            if np.isfinite(f_new) and f_new < best_f:
                best_f = f_new
                best_c = cc
                best_w[:] = w_try
        if best_c < 0:
            break
        for i in range(s):
            in_S[S[i]] = False
        srt = _stable_order(U[best_c : best_c + s].astype(np.float64))  # keep S sorted
        for a in range(s):
            S[a] = U[best_c + srt[a]]
            wS[a] = best_w[srt[a]]
            in_S[S[a]] = True
        f = best_f
    return S[:s]


@nb.njit(cache=True, nogil=True, fastmath=True)
def forward_path(At, rhs, scale, ridge, k, eps, rows, slot, count):
    """Support chosen by exact forward selection (orthogonal least squares; see
    :func:`.starts.forward_start`), in order of selection.

    ``q_1 .. q_s`` is an orthonormal basis of the chosen augmented columns
    ``a~_j = [a_j; sqrt(ridge) e_j]``, kept as n entries (``Q``) plus entries on the chosen
    coordinates (``QE``). For ``t`` outside S, ``a~_t^T q = a_t^T q_n``, and ``A^T q_n`` for
    the new basis vector ``q_n = (a_j - sum_i C_i q_i) / d`` is
    ``(A^T a_j - sum_i C_i A^T q_i) / d``: the new column's Gram row (from the cache
    ``rows[slot[j]]`` shared with the swap search, computed by one pass over A if missing)
    and the earlier products ``V_i = A^T q_i``. A step then updates ``s_t -= v_t^2``
    (squared norms orthogonal to S) and ``c_t -= v_t c_j / d`` (correlations with the
    residual) in O(s p). Gram-Schmidt is applied twice (orthogonal to rounding). Returns
    ``(S, count, complete)`` as :func:`omp_path`."""
    p, n = At.shape
    k = min(k, p)
    blocked = scale <= 0.0
    s_out = scale.copy()
    c = rhs.copy()
    Q = np.zeros((k, n))
    QE = np.zeros((k, k))
    V = np.empty((k, p))
    S = np.empty(k, dtype=np.int64)
    qn = np.empty(n)
    qe = np.zeros(k)
    coef = np.zeros(k)
    root = np.sqrt(ridge)
    s = 0
    while s < k:
        best = 0.0
        j = -1
        for t in range(p):
            if not blocked[t] and s_out[t] > eps * scale[t]:
                sc = c[t] * c[t] / s_out[t]
                if sc > best:
                    best = sc
                    j = t
        if j < 0:
            break
        blocked[j] = True
        for t in range(n):
            qn[t] = At[j, t]
        qe[: s + 1] = 0.0
        qe[s] = root
        coef[:s] = 0.0
        for _ in range(2):  # Gram-Schmidt, twice
            for i in range(s):
                ci = 0.0
                for t in range(n):
                    ci += Q[i, t] * qn[t]
                for m in range(s + 1):
                    ci += QE[i, m] * qe[m]
                coef[i] += ci
                for t in range(n):
                    qn[t] -= ci * Q[i, t]
                for m in range(s + 1):
                    qe[m] -= ci * QE[i, m]
        nrm2 = 0.0
        for t in range(n):
            nrm2 += qn[t] * qn[t]
        for m in range(s + 1):
            nrm2 += qe[m] * qe[m]
        if not nrm2 > eps * scale[j]:
            continue  # in the span of the chosen columns
        row, count = _cached_row(At, j, rows, slot, count)
        if row is None:
            return S[:s], count, False
        d = np.sqrt(nrm2)
        for t in range(n):
            qn[t] /= d
            Q[s, t] = qn[t]
        for m in range(s + 1):
            QE[s, m] = qe[m] / d
        vs = V[s]
        vs[:] = row
        combine_rows(V, np.arange(s), -coef[:s], vs, None, None)
        inv_d = 1.0 / d
        gain = c[j] * inv_d  # q^T r~ (r~ is orthogonal to the earlier q)
        for t in range(p):
            vt = vs[t] * inv_d
            vs[t] = vt
            if not blocked[t]:
                s_out[t] -= vt * vt
                c[t] -= vt * gain
        S[s] = j
        s += 1
    return S[:s], count, True
