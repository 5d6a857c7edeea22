"""Compiled loops of the portfolio's starts (:mod:`.starts` has the math and the Python API).

Both work on ``At = A.T`` (p x n, C-contiguous: the columns of A as rows), accumulate in
float64 and return supports; :mod:`.starts` refits the final support exactly.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from ._descent_kernels import _cached_row, at_products, combine_rows, product_slot, queue_row
from ._kernels import _cholesky_solve

__all__ = ["forward_path", "lockstep_starts", "omp_path", "splicing_path"]


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
def _omp_select(c, blocked):
    """OMP's next column: the largest ``c_j^2`` among the columns not blocked; -1 when none
    is positive."""
    best = -1.0
    j = -1
    for i in range(c.shape[0]):
        if not blocked[i]:
            sc = c[i] * c[i]
            if sc > best:
                best = sc
                j = i
    if j < 0 or not best > 0.0:
        return -1
    return j


@nb.njit(cache=True, nogil=True, fastmath=True)
def _omp_step(j, row, rhs, scale, eps, L, z, wS, S, s, v, blocked, c, rows, slot):
    """OMP's step with column j and its Gram row: blocks j, and unless j is in the span of
    the chosen columns appends it (Cholesky row of ``A~_S^T A~_S``, exact refit, new
    correlations from the members' cached rows). Returns the new support size."""
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
        return s  # in the span of the chosen columns: never picked again
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
    return s


@nb.njit(cache=True, nogil=True)
def _omp_state(rhs, scale, k):
    """OMP's arrays: ``(blocked, L, z, w_S, S, c, v)``."""
    return (
        scale <= 0.0,
        np.zeros((k, k)),
        np.zeros(k),
        np.zeros(k),
        np.empty(k, dtype=np.int64),
        rhs.copy(),
        np.empty(k),
    )


@nb.njit(cache=True, nogil=True, fastmath=True)
def omp_path(At, rhs, scale, k, eps, rows, slot, count):
    """Support chosen by OMP (see :func:`.starts.omp_start`), in order of selection.

    Every product comes from Gram rows ``A^T a_j`` held in the cache ``rows[slot[j]]`` (shared
    with the swap search): the correlations are
    ``c = A^T r + ref_term = rhs - sum_i w_i A^T a_{S_i}`` (O(s p) per step) and a chosen
    column's row is computed (one pass over A) only if no earlier start or descent has it.
    Returns ``(S, count, complete)``; ``complete`` is False when the cache ran out of room."""
    k = min(k, At.shape[0])
    blocked, L, z, wS, S, c, v = _omp_state(rhs, scale, k)
    s = 0
    while s < k:
        j = _omp_select(c, blocked)
        if j < 0:
            break
        row, count = _cached_row(At, j, rows, slot, count)
        if row is None:
            return S[:s], count, False
        s = _omp_step(j, row, rhs, scale, eps, L, z, wS, S, s, v, blocked, c, rows, slot)
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


@nb.njit(cache=True, nogil=True)
def _splicing_state(p, S0, w0):
    """Splicing's arrays: ``(S, w_S, in_S, fwd, c)``."""
    s = S0.shape[0]
    S = S0.copy()
    wS = w0.copy()
    in_S = np.zeros(p, dtype=np.bool_)
    for i in range(s):
        in_S[S[i]] = True
    return S, wS, in_S, np.empty(p), np.empty(p)


@nb.njit(cache=True, nogil=True)
def _splicing_may_continue(s, p, n):
    return 0 < s < p and s <= n


@nb.njit(cache=True, nogil=True, fastmath=True)
def _splicing_exchange(
    At, c, b, rhs, w_ref, ridge, ref_sq, const, scale, S, wS, s, f, in_S, fwd, r,
    c_max, rtol, pivot_rtol,
):  # fmt: skip
    """One splicing iteration from the correlations ``c = A^T (b - A_S w_S) + ref_term``:
    the ``c`` least useful members (smallest ``scale_i w_i^2 / 2``) exchanged for the ``c``
    best outsiders (largest ``c_j^2 / (2 scale_j)``), c = 1 .. c_max, each exchange refitted
    on one Gram matrix of the support and the exchanged columns and its F computed from its
    residual; the best applied (``S``, ``w_S``, ``in_S`` in place, S kept sorted) if it lowers
    F by more than ``rtol |F|``. ``r`` is length-n scratch. Returns ``(f, improved)``."""
    p, n = At.shape
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
        return f, False
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
        return f, False
    for i in range(s):
        in_S[S[i]] = False
    srt = _stable_order(U[best_c : best_c + s].astype(np.float64))  # keep S sorted
    for a in range(s):
        S[a] = U[best_c + srt[a]]
        wS[a] = best_w[srt[a]]
        in_S[S[a]] = True
    return best_f, True


@nb.njit(cache=True, nogil=True, fastmath=True)
def splicing_path(
    At, b, rhs, ref_term, w_ref, ridge, ref_sq, const, scale, S0, w0, f0,
    c_max, max_iter, rtol, pivot_rtol,
):  # fmt: skip
    """abess-style splicing descent (see :func:`.starts.splicing_start`) from the exact point
    ``w0`` on ``S0`` with ``F = f0``: :func:`_splicing_exchange` until it finds no improving
    exchange, each iteration's correlations from one pass over A. Returns the final support
    (its coefficients are refitted by the caller)."""
    p, n = At.shape
    s = S0.shape[0]
    S, wS, in_S, fwd, c = _splicing_state(p, S0, w0)
    f = f0
    r = np.empty(n)
    for _ in range(max_iter):
        if not _splicing_may_continue(s, p, n):
            break
        _residual(At, S, s, wS, b, r)
        _correlations(At, r, ref_term, c)
        f, improved = _splicing_exchange(
            At, c, b, rhs, w_ref, ridge, ref_sq, const, scale, S, wS, s, f, in_S, fwd, r,
            c_max, rtol, pivot_rtol,
        )  # fmt: skip
        if not improved:
            break
    return S[:s]


@nb.njit(cache=True, nogil=True, fastmath=True)
def _forward_select(At, scale, eps, root, blocked, s_out, c, Q, QE, s, qn, qe, coef):
    """Forward selection's next column, ``argmax c_t^2 / s_t``, with its part orthogonal to the
    chosen ones (``qn``, ``qe``, Gram-Schmidt twice; ``coef`` its coordinates). Blocks it;
    a column in the span of the chosen ones is blocked and the next one tried. Returns
    ``(j, squared norm of the orthogonal part)``, j = -1 when no column is left."""
    p, n = At.shape
    while True:
        best = 0.0
        j = -1
        for t in range(p):
            if not blocked[t] and s_out[t] > eps * scale[t]:
                sc = c[t] * c[t] / s_out[t]
                if sc > best:
                    best = sc
                    j = t
        if j < 0:
            return -1, 0.0
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
        if nrm2 > eps * scale[j]:
            return j, nrm2


@nb.njit(cache=True, nogil=True, fastmath=True)
def _forward_step(j, nrm2, row, blocked, s_out, c, Q, QE, V, S, s, qn, qe, coef):
    """Appends column j (orthogonal part from :func:`_forward_select`, Gram row ``row``):
    the new basis vector, ``V_s = A^T q_s``, and the updates of ``s_t`` and ``c_t``. Returns
    the new support size."""
    n = qn.shape[0]
    p = c.shape[0]
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
    return s + 1


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
    k = min(k, At.shape[0])
    blocked, s_out, c, Q, QE, V, S, qn, qe, coef = _forward_state(At, rhs, scale, k)
    root = np.sqrt(ridge)
    s = 0
    while s < k:
        j, nrm2 = _forward_select(At, scale, eps, root, blocked, s_out, c, Q, QE, s, qn, qe, coef)
        if j < 0:
            break
        row, count = _cached_row(At, j, rows, slot, count)
        if row is None:
            return S[:s], count, False
        s = _forward_step(j, nrm2, row, blocked, s_out, c, Q, QE, V, S, s, qn, qe, coef)
    return S[:s], count, True


@nb.njit(cache=True, nogil=True)
def _forward_state(At, rhs, scale, k):
    """Forward selection's arrays: ``(blocked, s_out, c, Q, QE, V, S, qn, qe, coef)``."""
    p, n = At.shape
    return (
        scale <= 0.0,
        scale.copy(),
        rhs.copy(),
        np.zeros((k, n)),
        np.zeros((k, k)),
        np.empty((k, p)),
        np.empty(k, dtype=np.int64),
        np.empty(n),
        np.zeros(k),
        np.zeros(k),
    )


@nb.njit(cache=True, nogil=True, fastmath=True)
def lockstep_starts(
    At, rhs, scale, ridge, k, eps, rows, slot, count,
    b, ref_term, w_ref, ref_sq, const, S0, w0, f0, c_max, max_iter, rtol, pivot_rtol,
):  # fmt: skip
    """:func:`forward_path`, :func:`omp_path` and :func:`splicing_path` (from ``S0``, ``w0``,
    ``f0``; not run when ``S0`` is empty) in lockstep, so that the Gram rows forward
    selection and OMP need and splicing's correlations ``A^T r`` come from one pass over A
    (:func:`~._descent_kernels.at_products`, up to three products for about the price of
    one): the same supports (up to the rounding of the products) for about the passes of
    forward selection alone. Once splicing has ended, the passes' spare products compute the
    Gram rows of its final support (which its descent reads) into the cache. Returns
    ``(S_forward, S_omp, S_splicing, count, complete_forward, complete_omp)``."""
    p, n = At.shape
    k = min(k, p)
    cap = rows.shape[0]
    blocked, s_out, c, Q, QE, V, S_f, qn, qe, coef = _forward_state(At, rhs, scale, k)
    root = np.sqrt(ridge)
    blocked_o, L, z, wS, S_o, c_o, v = _omp_state(rhs, scale, k)
    s_sp = S0.shape[0]
    S_sp, wS_sp, in_sp, fwd_sp, c_sp = _splicing_state(p, S0, w0)
    f_sp = f0
    r_sp = np.empty(n)
    sp_active = max_iter > 0 and _splicing_may_continue(s_sp, p, n)
    next_row = 0 if sp_active else s_sp  # splicing's rows go in spare products once it ends
    it = 0
    s_f = s_o = 0
    done_f = done_o = False
    complete_f = complete_o = True
    jf = jo = -1  # a start's chosen column waiting for its row
    nrm2 = 0.0
    while True:
        # each greedy start steps on while the rows it needs are cached, so that a pass
        # is made only where both wait (or one has ended): the most rows per pass
        while not done_f:
            if jf < 0:
                if s_f < k:
                    jf, nrm2 = _forward_select(
                        At, scale, eps, root, blocked, s_out, c, Q, QE, s_f, qn, qe, coef
                    )
                if jf < 0:
                    done_f = True
                    break
            if slot[jf] < 0:
                if count >= cap:  # no room in the cache: the caller falls back
                    done_f, complete_f = True, False
                break
            s_f = _forward_step(
                jf, nrm2, rows[slot[jf]], blocked, s_out, c, Q, QE, V, S_f, s_f, qn, qe, coef
            )
            jf = -1
        while not done_o:
            if jo < 0:
                if s_o < k:
                    jo = _omp_select(c_o, blocked_o)
                if jo < 0:
                    done_o = True
                    break
            if slot[jo] < 0:
                if count >= cap:
                    done_o, complete_o = True, False
                break
            s_o = _omp_step(
                jo, rows[slot[jo]], rhs, scale, eps, L, z, wS, S_o, s_o, v, blocked_o, c_o,
                rows, slot,
            )  # fmt: skip
            jo = -1
        if done_f and done_o and not sp_active:
            break
        # one pass over A for every product this round needs
        m = 0
        x0 = x1 = x2 = r_sp
        o0 = o1 = o2 = c_sp
        if not done_f and count < cap:  # forward selection waits for jf's row
            count, m, x0, x1, x2, o0, o1, o2 = queue_row(
                At, jf, rows, slot, count, m, x0, x1, x2, o0, o1, o2
            )
        if not done_o and slot[jo] < 0 and count < cap:
            count, m, x0, x1, x2, o0, o1, o2 = queue_row(
                At, jo, rows, slot, count, m, x0, x1, x2, o0, o1, o2
            )
        if sp_active:
            _residual(At, S_sp, s_sp, wS_sp, b, r_sp)
            x0, x1, x2, o0, o1, o2 = product_slot(m, r_sp, c_sp, x0, x1, x2, o0, o1, o2)
            m += 1
        elif m > 0:  # spare products: rows of splicing's final support (its descent needs them)
            while m < 3 and next_row < s_sp and count < cap:
                j = S_sp[next_row]
                next_row += 1
                if slot[j] < 0:
                    count, m, x0, x1, x2, o0, o1, o2 = queue_row(
                        At, j, rows, slot, count, m, x0, x1, x2, o0, o1, o2
                    )
        if m > 0:
            at_products(At, x0, x1, x2, m, o0, o1, o2)
        if sp_active:
            c_sp += ref_term
            f_sp, improved = _splicing_exchange(
                At, c_sp, b, rhs, w_ref, ridge, ref_sq, const, scale, S_sp, wS_sp, s_sp,
                f_sp, in_sp, fwd_sp, r_sp, c_max, rtol, pivot_rtol,
            )  # fmt: skip
            it += 1
            sp_active = improved and it < max_iter and _splicing_may_continue(s_sp, p, n)
    return S_f[:s_f], S_o[:s_o], S_sp[:s_sp], count, complete_f, complete_o
