"""The move loop of the exact swap search, compiled (see :mod:`.swaps.single` for the math).

Between two exact checkpoints the swap search applies moves from its incrementally updated
factors ``H = A_S^T A``, ``Z = M^-1 H`` and ``M^-1`` only; in Python each move costs a dozen
small array calls, which on problems of a few thousand columns outweigh the O(s p) arithmetic
itself. :func:`swap_moves` runs up to ``max_moves`` such moves in one call, each as
:func:`~sparse_regression.swaps.single.swap_search`'s Python loop would (best addition while
``s < k``, else a swap: the best among a pool of candidate columns when ``pool_size > 0``,
else, or when the pool has none, the best of all pairs; a swap is the Schur-complement downdate
and the bordering update fused, :func:`_replace`, an addition the bordering update alone), and
returns to Python at a checkpoint, when a refresh of the factors is due, at a swap-optimal
point, or at a pivot it may not use. Python keeps the exact checks, refreshes and every
fallback. Sums of rows (``u^T H``, ``w^T H``) go four rows per sweep (:func:`combine_rows`).
"""

from __future__ import annotations

import numba as nb
import numpy as np

from ._kernels import _best_add, _best_swap, _swap_gradient, cholesky_in_place

__all__ = ["MOVES_DONE", "OPTIMAL", "PIVOT", "REFRESH", "lockstep_moves", "swap_moves"]

#: Return codes of :func:`swap_moves`.
MOVES_DONE, OPTIMAL, REFRESH, PIVOT = 0, 1, 2, 3

_best_swap_serial = _best_swap[0]
_swap_gradient_serial = _swap_gradient[0]


@nb.njit(cache=True, nogil=True)
def _gram_row(At, j, out):
    """``out = A^T a_j`` (float64) from ``At = A.T`` (p x n, C-contiguous): one BLAS gemv,
    memory-bound at 1.9x the speed of a compiled loop of dot products (p >= 4000, n = 200)."""
    np.dot(At, At[j], out)


@nb.njit(cache=True, nogil=True, fastmath=True)
def at_products(At, x0, x1, x2, m, o0, o1, o2):
    """``o_i = A^T x_i`` for the first ``m`` (1 to 3) of ``x0, x1, x2`` (length-n vectors) in
    one pass over A. One product is a BLAS gemv, bound by reading A; two or three are one
    loop with an accumulator each, about the price of one product while A comes from beyond
    the core's own cache (as it does between the solver's steps: p >= 4000 at n = 200). The
    callers pair the Gram rows ``A^T a_j`` two starts need, and splicing's correlations."""
    if m == 1:
        np.dot(At, x0, o0)
        return
    p, n = At.shape
    if m == 2:
        for t in range(p):
            a = At[t]
            s0 = 0.0
            s1 = 0.0
            for i in range(n):
                v = a[i]
                s0 += v * x0[i]
                s1 += v * x1[i]
            o0[t] = s0
            o1[t] = s1
        return
    for t in range(p):
        a = At[t]
        s0 = 0.0
        s1 = 0.0
        s2 = 0.0
        for i in range(n):
            v = a[i]
            s0 += v * x0[i]
            s1 += v * x1[i]
            s2 += v * x2[i]
        o0[t] = s0
        o1[t] = s1
        o2[t] = s2


@nb.njit(cache=True, nogil=True)
def product_slot(m, x, o, x0, x1, x2, o0, o1, o2):
    """``(x0, x1, x2, o0, o1, o2)`` with ``(x, o)`` put in product slot ``m`` (0 to 2) of the
    next :func:`at_products` pass."""
    if m == 0:
        return x, x1, x2, o, o1, o2
    if m == 1:
        return x0, x, x2, o0, o, o2
    return x0, x1, x, o0, o1, o


@nb.njit(cache=True, nogil=True)
def queue_row(At, j, rows, slot, count, m, x0, x1, x2, o0, o1, o2):
    """Column j's Gram row into product slot ``m`` of the next :func:`at_products` pass, at
    the cache's next free row (``slot[j] = count``). Returns ``(count + 1, m + 1, x0, x1, x2,
    o0, o1, o2)``."""
    x0, x1, x2, o0, o1, o2 = product_slot(m, At[j], rows[count], x0, x1, x2, o0, o1, o2)
    slot[j] = count
    return count + 1, m + 1, x0, x1, x2, o0, o1, o2


@nb.njit(cache=True, nogil=True)
def _cached_row(At, j, rows, slot, count):
    """``(row, count)``: the Gram row ``A^T a_j`` from the cache ``rows[slot[j]]`` (``count``
    rows filled), computed into the next free slot when missing; row None when it is missing
    and the cache is full."""
    if slot[j] < 0:
        if count >= rows.shape[0]:
            return None, count
        _gram_row(At, j, rows[count])
        slot[j] = count
        count += 1
    return rows[slot[j]], count


@nb.njit(cache=True, nogil=True, fastmath=True)
def combine_rows(R, rid, a, out_a, b, out_b):
    """``out_a += sum_q a_q R[rid_q]`` and, when ``b`` is not None, ``out_b += sum_q b_q
    R[rid_q]``, in one pass over the rows: four rows per sweep, so the outputs are loaded and
    stored once per four rows (about twice as fast as a row at a time, which is bound by the
    outputs' loads and stores rather than by reading R)."""
    p = R.shape[1]
    two = b is not None
    m = rid.shape[0]
    q = 0
    while q + 4 <= m:
        R0, R1, R2, R3 = R[rid[q]], R[rid[q + 1]], R[rid[q + 2]], R[rid[q + 3]]
        a0, a1, a2, a3 = a[q], a[q + 1], a[q + 2], a[q + 3]
        if two:
            b0, b1, b2, b3 = b[q], b[q + 1], b[q + 2], b[q + 3]
            for t in range(p):
                h0, h1, h2, h3 = R0[t], R1[t], R2[t], R3[t]
                out_a[t] += a0 * h0 + a1 * h1 + a2 * h2 + a3 * h3
                out_b[t] += b0 * h0 + b1 * h1 + b2 * h2 + b3 * h3
        else:
            for t in range(p):
                out_a[t] += a0 * R0[t] + a1 * R1[t] + a2 * R2[t] + a3 * R3[t]
        q += 4
    while q < m:
        Rq = R[rid[q]]
        aq = a[q]
        if two:
            bq = b[q]
            for t in range(p):
                out_a[t] += aq * Rq[t]
                out_b[t] += bq * Rq[t]
        else:
            for t in range(p):
                out_a[t] += aq * Rq[t]
        q += 1


@nb.njit(cache=True, nogil=True, fastmath=True)
def _support_coefficients(Minv, S, s, rhs, wS):
    """``w_S = M^-1 rhs_S``: the exact coefficients on the factored support ``S[:s]``."""
    for i in range(s):
        acc = 0.0
        for t in range(s):
            acc += Minv[i, t] * rhs[S[t]]
        wS[i] = acc


@nb.njit(cache=True, nogil=True, fastmath=True)
def _replace(S, s, H, Z, Minv, r, j, row, scale_j, eps, rhs, wS, Atb, ref_term, g, s_out):
    """Swap member r for column j in place (j takes slot r): the Schur-complement downdate and
    the bordering update fused, with ``w_S = M^-1 rhs_S``, ``g`` and ``s_out`` brought up to
    date, in one pass over H and one over Z (the separate downdate, update and gradient make
    two of each). False, with nothing changed, when ``(M^-1)_rr`` is not a usable pivot or
    column j's squared norm orthogonal to the other members is at most ``eps`` times its own.

    With ``m = M^-1 e_r``, ``c_i = m_i / m_r`` and, for the members i != r,
    ``u_i = Z_ij - c_i Z_rj`` (``Z = M^-1 H`` without member r) and
    ``c = scale_j - sum_i H_ij u_i``: the new row is ``z = (a~_j^T A~ - u^T H) / c``,
    ``Z_i <- Z_i - c_i Z_r - u_i z``, ``M^-1 <- M^-1 - m m^T / m_r + u u^T / c`` (row and column
    r: ``-u / c``, ``1 / c``), and ``s_t <- s_t + Z_rt^2 / m_r - c z_t^2``.
    """
    piv = Minv[r, r]
    if not (np.isfinite(piv) and piv > 0.0):
        return False
    p = Z.shape[1]
    inv_piv = 1.0 / piv
    m_r = Minv[:s, r].copy()
    cr = m_r * inv_piv
    zrj = Z[r, j]
    u = np.empty(s)
    c = scale_j
    for i in range(s):
        if i == r:
            u[i] = 0.0
        else:
            u[i] = Z[i, j] - cr[i] * zrj
            c -= H[i, j] * u[i]
    if not (np.isfinite(c) and c > eps * scale_j and c > 0.0):
        return False
    inv_c = 1.0 / c
    for i in range(s):
        if i == r:
            continue
        for t in range(s):
            if t != r:
                Minv[i, t] += inv_c * u[i] * u[t] - cr[i] * m_r[t]
        Minv[i, r] = -u[i] * inv_c
        Minv[r, i] = -u[i] * inv_c
    Minv[r, r] = inv_c
    S[r] = j
    _support_coefficients(Minv, S, s, rhs, wS)
    # one pass over H: the new row z and the gradient of the new support
    wr = wS[r]
    z = row.copy()
    gn = wr * row - Atb - ref_term
    others = np.empty(s - 1, dtype=np.int64)
    m = 0
    for i in range(s):
        if i != r:
            others[m] = i
            m += 1
    combine_rows(H, others, -u[others], z, wS[others], gn)
    g[:] = gn
    zr = Z[r].copy()
    for t in range(p):
        zt = z[t] * inv_c
        z[t] = zt
        s_out[t] += zr[t] * zr[t] * inv_piv - c * zt * zt
    # one pass over Z
    for i in range(s):
        if i == r:
            continue
        ci = cr[i]
        ui = u[i]
        Zi = Z[i]
        for t in range(p):
            Zi[t] -= ci * zr[t] + ui * z[t]
    Z[r] = z
    H[r] = row
    return True


@nb.njit(cache=True, nogil=True, fastmath=True)
def _add(S, s, H, Z, Minv, j, row, scale_j, eps):
    """Bordering update appending column j; False (nothing changed) when its squared norm
    orthogonal to the support is at most ``eps`` times its own."""
    p = Z.shape[1]
    if s == 0:
        if not scale_j > 0.0:
            return False
        for t in range(p):
            H[0, t] = row[t]
            Z[0, t] = row[t] / scale_j
        Minv[0, 0] = 1.0 / scale_j
        S[0] = j
        return True
    u = Z[:s, j].copy()
    c = scale_j
    for i in range(s):
        c -= H[i, j] * u[i]
    if not (np.isfinite(c) and c > eps * scale_j and c > 0.0):
        return False
    bottom = row.copy()
    combine_rows(H, np.arange(s), -u, bottom, None, None)
    inv_c = 1.0 / c
    for t in range(p):
        bottom[t] *= inv_c
    for i in range(s):
        ui = u[i]
        if ui != 0.0:
            for t in range(p):
                Z[i, t] -= ui * bottom[t]
        for t in range(s):
            Minv[i, t] += inv_c * ui * u[t]
    for i in range(s):
        Minv[i, s] = -u[i] * inv_c
        Minv[s, i] = -u[i] * inv_c
    Minv[s, s] = inv_c
    H[s] = row
    Z[s] = bottom
    S[s] = j
    return True


@nb.njit(cache=True, nogil=True, fastmath=True)
def _gradient_from_rows(H, s, wS, Atb, ref_term, g):
    """``g = H^T w_S - A^T b - ref_term`` (one pass over the s x p rows H)."""
    for t in range(H.shape[1]):
        g[t] = -Atb[t] - ref_term[t]
    combine_rows(H, np.arange(s), wS, g, None, None)


@nb.njit(cache=True, nogil=True)
def refresh_factors(H, S, s, ridge, pivot_rtol, Minv, Z):
    """``M^-1 = (H[:, S] + ridge I)^-1`` (symmetrised) and ``Z = M^-1 H`` for the support
    ``S[:s]``, in place: Cholesky with a pivot test per column
    (:func:`~._kernels.cholesky_in_place`), ``M^-1 = L^-T L^-1``, Z by one BLAS product.
    False (Minv and Z unspecified) when M is numerically singular or M^-1 not finite. One
    compiled call for the swap search's refresh (a few per descent) instead of three SciPy
    calls."""
    L = np.zeros((s, s))
    for i in range(s):
        for t in range(i + 1):
            L[i, t] = 0.5 * (H[i, S[t]] + H[t, S[i]])
        L[i, i] += ridge
    if not cholesky_in_place(L, pivot_rtol):
        return False
    Li = np.zeros((s, s))  # L^-1, lower triangular
    for c in range(s):
        Li[c, c] = 1.0 / L[c, c]
        for i in range(c + 1, s):
            acc = 0.0
            for t in range(c, i):
                acc -= L[i, t] * Li[t, c]
            Li[i, c] = acc / L[i, i]
    Mc = np.empty((s, s))  # contiguous, for the BLAS product
    for i in range(s):
        for t in range(i + 1):
            acc = 0.0
            for m in range(i, s):
                acc += Li[m, i] * Li[m, t]
            if not np.isfinite(acc):
                return False
            Mc[i, t] = acc
            Mc[t, i] = acc
    Minv[:s, :s] = Mc
    np.dot(Mc, H[:s], Z[:s])
    return True


@nb.njit(cache=True, nogil=True, fastmath=True)
def _pool_swap(Z, s, inv_root, beta, g, s_out, scale, in_support, eps, pool, pool_val):
    """Best swap whose entering column is among the ``m = pool.size`` columns of largest
    addition gain ``g_j^2 / s_j`` (``pool``, ``pool_val``: scratch of size m). Returns
    ``(r, j, delta)``, ``(-1, -1, 0.0)`` when no pool column lowers F. (A swap's gain never
    exceeds its entering column's addition gain ``g_j^2 / (2 s_j)``, so the pool holds the
    columns with the most to offer.)"""
    p = g.shape[0]
    m = pool.shape[0]
    filled = 0
    for j in range(p):
        if in_support[j] or not scale[j] > 0.0 or not s_out[j] > eps * scale[j]:
            continue
        a = g[j] * g[j] / s_out[j]
        if filled < m:
            i = filled
            filled += 1
        elif a > pool_val[m - 1]:
            i = m - 1
        else:
            continue
        while i > 0 and pool_val[i - 1] < a:  # insertion into the sorted pool
            pool_val[i] = pool_val[i - 1]
            pool[i] = pool[i - 1]
            i -= 1
        pool_val[i] = a
        pool[i] = j
    best = 0.0
    br_best = -1
    bj = -1
    for c in range(filled):
        j = pool[c]
        for r in range(s):
            t = Z[r, j] * inv_root[r]
            den = s_out[j] + t * t
            if not den > eps * scale[j]:
                continue
            num = beta[r] * t - g[j]
            d = 0.5 * beta[r] * beta[r] - 0.5 * num * num / den
            if d < best:
                best = d
                br_best = r
                bj = j
    return br_best, bj, best


@nb.njit(cache=True, nogil=True, fastmath=True)
def _select_move(s, k, Z, Minv, wS, g, s_out, scale, in_support, eps, tol_abs, pool, pool_val):
    """The next move of the descent: ``(r, j, delta)`` with ``r = -1`` for an addition (the
    best one while ``s < k``), else the best swap among the pool (``pool.size`` > 0 columns
    of largest addition gain) when one lowers F by more than ``tol_abs``, else the best of
    all pairs; ``j = -1`` when no move does."""
    tiny = np.finfo(np.float64).tiny
    no_costs = np.zeros(0)
    if s < k:
        ja, da = _best_add(g, s_out, scale, in_support, eps, no_costs, 0.0)
        if ja >= 0 and da < -tol_abs:
            return -1, ja, da
    if s == 0:
        return -1, -1, 0.0
    inv_root = np.empty(s)
    beta = np.empty(s)
    for i in range(s):
        inv_root[i] = 1.0 / np.sqrt(max(Minv[i, i], tiny))
        beta[i] = wS[i] * inv_root[i]
    rs, js, ds = -1, -1, 0.0
    if pool.shape[0] > 0:
        rs, js, ds = _pool_swap(
            Z, s, inv_root, beta, g, s_out, scale, in_support, eps, pool, pool_val
        )
    if not (rs >= 0 and ds < -tol_abs):
        rs, js, ds = _best_swap_serial(
            Z[:s], inv_root, beta, g, s_out, scale, in_support, eps, no_costs, no_costs, 0.0
        )
    if rs >= 0 and ds < -tol_abs:
        return rs, js, ds
    return -1, -1, 0.0


@nb.njit(cache=True, nogil=True, fastmath=True)
def _apply_move(
    S, s, H, Z, Minv, wS, r, j, row, in_support, Atb, ref_term, rhs, scale, eps, g, s_out
):
    """Applies the move ``(r, j)`` (``r = -1``: add j) with column j's Gram row: factors,
    ``w_S``, ``g``, ``s_out`` and ``in_support`` brought up to date. Returns ``(ok, s)``;
    ok False (a pivot the update may not use) leaves the state unusable."""
    p = Z.shape[1]
    out = -1
    if r >= 0:
        out = S[r]
        if not _replace(
            S, s, H, Z, Minv, r, j, row, scale[j], eps, rhs, wS, Atb, ref_term, g, s_out
        ):
            return False, s
        in_support[out] = False
    else:
        if not _add(S, s, H, Z, Minv, j, row, scale[j], eps):
            return False, s
        c_piv = 1.0 / Minv[s, s]
        for t in range(p):
            s_out[t] -= c_piv * Z[s, t] * Z[s, t]
        s += 1
        _support_coefficients(Minv, S, s, rhs, wS)
        _gradient_from_rows(H, s, wS, Atb, ref_term, g)
    in_support[j] = True
    if out >= 0:  # the removed column's own s_j, exactly
        acc = scale[out]
        for i in range(s):
            acc -= H[i, out] * Z[i, out]
        s_out[out] = acc
    return True, s


@nb.njit(cache=True, nogil=True, fastmath=True)
def swap_moves(
    At, S, s, k, H, Z, Minv, wS, f, in_support, Atb, ref_term, rhs, scale,
    eps, rtol, max_moves, moves_since_refresh, refresh_every, rows, slot, count, pool_size,
):  # fmt: skip
    """Up to ``max_moves`` moves of the swap search from the factored support ``S[:s]``.

    Updates ``S, H, Z, Minv, wS`` (``w_S = M^-1 rhs_S``) and ``in_support`` in place. Returns
    ``(code, s, f, moves, swaps, adds, moves_since_refresh, count)`` with ``f`` the predicted
    objective; ``code`` is ``OPTIMAL`` (no scored move lowers F by more than ``rtol |F|``;
    nothing applied in that round), ``MOVES_DONE``, ``REFRESH`` (a move was applied and the
    factors are due for a refresh) or ``PIVOT`` (a move's update met a pivot it may not use:
    the state is unusable and must be rebuilt from the last checkpoint). Gram rows come from
    the cache ``rows[slot[j]]`` (``count`` rows filled) and the rows computed here are added
    to it while it has room. With ``pool_size > 0`` a swap is first sought among the
    ``pool_size`` columns of largest addition gain (:func:`_pool_swap`, O(p + pool_size s)
    instead of the O(s p) scan of every pair) and taken if it lowers F by more than the
    tolerance; the full scan runs only when the pool has none, so an ``OPTIMAL`` return is
    always certified by the full scan.
    """
    p = At.shape[0]
    tiny = np.finfo(np.float64).tiny
    row = np.empty(p)
    moves = swaps = adds = 0
    # g and s_out from scratch once; then s_out is updated in O(p) per move (removing member r
    # raises s_j by Z[r, j]^2 / (M^-1)_rr, adding a column with pivot c and new Z row z lowers
    # it by c z_j^2) and g recomputed from H alone.
    g, s_out = _swap_gradient_serial(H[:s], Z[:s], wS[:s], Atb, ref_term, scale, 1)
    pool = np.empty(pool_size, dtype=np.int64)
    pool_val = np.empty(pool_size)
    while moves < max_moves:
        tol_abs = rtol * max(abs(f), tiny)
        r, j, delta = _select_move(
            s, k, Z, Minv, wS, g, s_out, scale, in_support, eps, tol_abs, pool, pool_val
        )
        if j < 0:
            return OPTIMAL, s, f, moves, swaps, adds, moves_since_refresh, count
        cached, count = _cached_row(At, j, rows, slot, count)
        if cached is None:  # the cache is full: this move's row only
            _gram_row(At, j, row)
        else:
            row[:] = cached
        ok, s = _apply_move(
            S, s, H, Z, Minv, wS, r, j, row, in_support, Atb, ref_term, rhs, scale, eps, g, s_out
        )
        if not ok:
            return PIVOT, s, f, moves, swaps, adds, moves_since_refresh, count
        if r >= 0:
            swaps += 1
        else:
            adds += 1
        moves += 1
        f = f + delta
        moves_since_refresh += 1
        if moves_since_refresh >= max(refresh_every, s // 8):
            return REFRESH, s, f, moves, swaps, adds, moves_since_refresh, count
    return MOVES_DONE, s, f, moves, swaps, adds, moves_since_refresh, count


@nb.njit(cache=True, nogil=True, fastmath=True)
def lockstep_moves(
    At, Ss, ss, k, Hs, Zs, Minvs, wSs, fs, in_supports, Atb, ref_term, rhs, scale,
    eps, rtol, max_moves, moves_since_refresh, refresh_every, rows, slot, count, pool_size,
    n_desc,
):  # fmt: skip
    """:func:`swap_moves` for ``n_desc`` (2 or 3) descents at once, each on its own state
    (``Ss[d], Hs[d], Zs[d], Minvs[d], wSs[d], in_supports[d]``: tuples of three arrays, the
    unused ones ignored; ``ss, fs, max_moves, moves_since_refresh``: arrays of three), move
    by move in turn, so that the Gram rows the descents' moves need come from one pass over A
    (:func:`at_products`). Every descent makes the moves it makes alone (up to the rounding of
    its rows) and stops where it would stop alone. Returns ``(codes, moves, swaps, adds,
    count)`` (arrays of three but count), with ``ss``, ``fs`` and ``moves_since_refresh``
    updated in place."""
    p = At.shape[0]
    tiny = np.finfo(np.float64).tiny
    cap = rows.shape[0]
    codes = np.full(3, MOVES_DONE, dtype=np.int64)
    moves = np.zeros(3, dtype=np.int64)
    swaps = np.zeros(3, dtype=np.int64)
    adds = np.zeros(3, dtype=np.int64)
    active = np.zeros(3, dtype=np.bool_)
    G = np.empty((3, p))
    SO = np.empty((3, p))
    for d in range(n_desc):
        s = ss[d]
        g, s_out = _swap_gradient_serial(Hs[d][:s], Zs[d][:s], wSs[d][:s], Atb, ref_term, scale, 1)
        G[d] = g
        SO[d] = s_out
        active[d] = max_moves[d] > 0
    pool = np.empty(pool_size, dtype=np.int64)
    pool_val = np.empty(pool_size)
    rs = np.full(3, -1, dtype=np.int64)
    js = np.full(3, -1, dtype=np.int64)
    deltas = np.zeros(3)
    private = np.empty((3, p))
    while True:
        any_move = False
        for d in range(n_desc):
            js[d] = -1
            if not active[d]:
                continue
            tol_abs = rtol * max(abs(fs[d]), tiny)
            r, j, delta = _select_move(
                ss[d], k, Zs[d], Minvs[d], wSs[d], G[d], SO[d], scale, in_supports[d], eps,
                tol_abs, pool, pool_val,
            )  # fmt: skip
            rs[d], js[d], deltas[d] = r, j, delta
            if js[d] < 0:
                codes[d] = OPTIMAL
                active[d] = False
            else:
                any_move = True
        if not any_move:
            break
        # the rows the moves need that no one has computed: one pass over A
        m = 0
        x0 = x1 = x2 = At[0]
        o0 = o1 = o2 = private[0]
        for d in range(n_desc):
            j = js[d]
            if j < 0 or slot[j] >= 0 or count >= cap:
                continue
            count, m, x0, x1, x2, o0, o1, o2 = queue_row(
                At, j, rows, slot, count, m, x0, x1, x2, o0, o1, o2
            )
        if m > 0:
            at_products(At, x0, x1, x2, m, o0, o1, o2)
        for d in range(n_desc):
            j = js[d]
            if j < 0:
                continue
            row = private[d]  # a copy, as in swap_moves: the update never reads the cache
            if slot[j] >= 0:
                row[:] = rows[slot[j]]
            else:  # the cache is full: this move's row only
                _gram_row(At, j, row)
            ok, s_new = _apply_move(
                Ss[d], ss[d], Hs[d], Zs[d], Minvs[d], wSs[d], rs[d], j, row,
                in_supports[d], Atb, ref_term, rhs, scale, eps, G[d], SO[d],
            )  # fmt: skip
            ss[d] = s_new
            if not ok:
                codes[d] = PIVOT
                active[d] = False
                continue
            if rs[d] >= 0:
                swaps[d] += 1
            else:
                adds[d] += 1
            moves[d] += 1
            fs[d] = fs[d] + deltas[d]
            moves_since_refresh[d] += 1
            if moves_since_refresh[d] >= max(refresh_every, ss[d] // 8):
                codes[d] = REFRESH
                active[d] = False
            elif moves[d] >= max_moves[d]:
                codes[d] = MOVES_DONE
                active[d] = False
    return codes, moves, swaps, adds, count
