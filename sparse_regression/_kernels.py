"""Numba kernels of the core, kept apart from the Python API that drives them.

Products with the design matrix accumulate in float64 whatever the storage dtype. Each product
kernel is written for a C-contiguous 2-D array ``M``; the dispatchers below pass ``A`` itself
when it is C-ordered and ``A.T`` (which is then C-ordered) when it is F-ordered, so four
kernels serve both layouts:

* ``_rows_dot``:       out[i] = sum_j M[i, j] x[j]       (dot products along contiguous rows)
* ``_rows_axpy``:      out[j] = sum_i x[i] M[i, j]       (axpy of contiguous rows, zeros skipped)
* ``_rows_dot_idx``:   out[i] = sum_t M[i, idx[t]] x[t]   (sparse x, gathered along rows)
* ``_rows_axpy_idx``:  out[j] = sum_t x[t] M[idx[t], j]   (sparse x, rows picked by idx)

Every kernel exists in a serial and a parallel (``prange``) compilation; the dispatchers use
the parallel one only when the work is large enough to amortise the threading overhead.
"""

from __future__ import annotations

import types

import numba as nb
import numpy as np
from numba import prange

from .constants import BACKSOLVE_SINGULAR_RTOL, SWAP_SKIP_MARGIN
from .constants import PARALLEL_MIN_WORK as _DEFAULT_MIN_WORK
from .constants import PARALLEL_MIN_WORK_BY_KERNEL as _PARALLEL_MIN_WORK

__all__ = [
    "all_finite",
    "matvec",
    "rmatvec",
    "matvec_cols",
    "col_sq_norms",
    "gather_columns",
    "columns_as_rows",
    "support_fit",
    "topk_abs",
    "iht_start_support",
    "max_preserving_step",
    "best_swap",
    "best_add",
    "best_pool_move",
    "swap_gradient_and_residual_norms",
    "sym_rank1_update",
]


def _jit_pair(fn):
    """Compile ``fn`` twice: (serial, parallel).

    Numba's on-disk cache keys compiled code by the function's qualified name and line, not
    by flags such as ``parallel``, so the parallel twin gets a function object of its own name;
    otherwise the two compilations overwrite each other's cache entries.
    """
    serial = nb.njit(cache=True, fastmath=True, nogil=True)(fn)
    twin = types.FunctionType(fn.__code__, fn.__globals__, fn.__name__ + "_parallel")
    twin.__qualname__ = fn.__qualname__ + "_parallel"
    parallel = nb.njit(cache=True, fastmath=True, nogil=True, parallel=True)(twin)
    return serial, parallel, fn.__name__.strip("_").removesuffix("_impl")


# ---------------------------------------------------------------------------- products
def _rows_dot_impl(M, x):
    # Four rows per pass, so each x[j] is loaded once for four dot products.
    m, q = M.shape
    out = np.empty(m)
    n4 = m // 4
    for b in prange(n4):
        i = 4 * b
        s0 = 0.0
        s1 = 0.0
        s2 = 0.0
        s3 = 0.0
        for j in range(q):
            xj = x[j]
            s0 += M[i, j] * xj
            s1 += M[i + 1, j] * xj
            s2 += M[i + 2, j] * xj
            s3 += M[i + 3, j] * xj
        out[i] = s0
        out[i + 1] = s1
        out[i + 2] = s2
        out[i + 3] = s3
    for i in range(4 * n4, m):
        s = 0.0
        for j in range(q):
            s += M[i, j] * x[j]
        out[i] = s
    return out


def _rows_axpy_impl(M, x, nt):
    # Eight rows per pass over the float64 accumulator (it stays in L1, but loading and
    # storing it once per row would dominate); zero rows are skipped.
    m, q = M.shape
    chunk = (m + nt - 1) // nt
    part = np.zeros((nt, q))
    for t in prange(nt):
        acc = part[t]
        hi = min(m, (t + 1) * chunk)
        i = t * chunk
        while i + 7 < hi:
            x0, x1, x2, x3 = x[i], x[i + 1], x[i + 2], x[i + 3]
            x4, x5, x6, x7 = x[i + 4], x[i + 5], x[i + 6], x[i + 7]
            for j in range(q):
                acc[j] += (
                    M[i, j] * x0
                    + M[i + 1, j] * x1
                    + M[i + 2, j] * x2
                    + M[i + 3, j] * x3
                    + M[i + 4, j] * x4
                    + M[i + 5, j] * x5
                    + M[i + 6, j] * x6
                    + M[i + 7, j] * x7
                )
            i += 8
        while i < hi:
            xi = x[i]
            if xi != 0.0:
                for j in range(q):
                    acc[j] += M[i, j] * xi
            i += 1
    out = part[0].copy()
    for t in range(1, nt):
        out += part[t]
    return out


def _rows_dot_idx_impl(M, idx, x):
    m = M.shape[0]
    nnz = idx.shape[0]
    out = np.empty(m)
    for i in prange(m):
        s = 0.0
        for t in range(nnz):
            s += M[i, idx[t]] * x[t]
        out[i] = s
    return out


def _rows_axpy_idx_impl(M, idx, x, nt):
    # as _rows_axpy, over the rows idx (eight per pass over the accumulator)
    q = M.shape[1]
    nnz = idx.shape[0]
    chunk = (nnz + nt - 1) // nt
    part = np.zeros((nt, q))
    for t in prange(nt):
        acc = part[t]
        hi = min(nnz, (t + 1) * chunk)
        s = t * chunk
        while s + 7 < hi:
            r0, r1, r2, r3 = idx[s], idx[s + 1], idx[s + 2], idx[s + 3]
            r4, r5, r6, r7 = idx[s + 4], idx[s + 5], idx[s + 6], idx[s + 7]
            x0, x1, x2, x3 = x[s], x[s + 1], x[s + 2], x[s + 3]
            x4, x5, x6, x7 = x[s + 4], x[s + 5], x[s + 6], x[s + 7]
            for j in range(q):
                acc[j] += (
                    M[r0, j] * x0
                    + M[r1, j] * x1
                    + M[r2, j] * x2
                    + M[r3, j] * x3
                    + M[r4, j] * x4
                    + M[r5, j] * x5
                    + M[r6, j] * x6
                    + M[r7, j] * x7
                )
            s += 8
        while s < hi:
            xs = x[s]
            r = idx[s]
            for j in range(q):
                acc[j] += M[r, j] * xs
            s += 1
    out = part[0].copy()
    for t in range(1, nt):
        out += part[t]
    return out


def _rows_sq_impl(M):
    m, q = M.shape
    out = np.empty(m)
    for i in prange(m):
        s = 0.0
        for j in range(q):
            v = np.float64(M[i, j])
            s += v * v
        out[i] = s
    return out


def _cols_sq_impl(M):
    m, q = M.shape
    out = np.zeros(q)
    for i in range(m):
        for j in range(q):
            v = np.float64(M[i, j])
            out[j] += v * v
    return out


_rows_dot = _jit_pair(_rows_dot_impl)
_rows_axpy = _jit_pair(_rows_axpy_impl)
_rows_dot_idx = _jit_pair(_rows_dot_idx_impl)
_rows_axpy_idx = _jit_pair(_rows_axpy_idx_impl)
_rows_sq = _jit_pair(_rows_sq_impl)
_cols_sq = nb.njit(cache=True, fastmath=True, nogil=True)(_cols_sq_impl)


def _pick(pair, work):
    serial, parallel, name = pair
    if work >= _PARALLEL_MIN_WORK.get(name, _DEFAULT_MIN_WORK) and nb.get_num_threads() > 1:
        return parallel
    return serial


def _pick_nt(pair, work):
    """Kernel and thread count for the kernels that keep one accumulator per thread."""
    serial, parallel, name = pair
    if work >= _PARALLEL_MIN_WORK.get(name, _DEFAULT_MIN_WORK):
        nt = nb.get_num_threads()
        if nt > 1:
            return parallel, nt
    return serial, 1


def _c_view(A):
    """(M, transposed): a C-contiguous view of A or of A.T."""
    if A.flags.c_contiguous:
        return A, False
    if A.flags.f_contiguous:
        return A.T, True
    raise ValueError("A must be C- or F-contiguous")


def support_fit(At: np.ndarray, b: np.ndarray, S: np.ndarray, ridge: float, ref_S):
    """Compiled normal-equations fit on the support S (see :func:`_support_fit`)."""
    ref = np.zeros(0) if ref_S is None else np.ascontiguousarray(ref_S, dtype=np.float64)
    return _support_fit(At, b, S, float(ridge), ref, BACKSOLVE_SINGULAR_RTOL)


def support_fit_values(At, b, flat, offsets, ridge: float, w_ref):
    """:func:`_support_fit_values` (the compiled fit of many supports, see there)."""
    w_ref = np.ascontiguousarray(w_ref, dtype=np.float64)
    return _support_fit_values(At, b, flat, offsets, float(ridge), w_ref, BACKSOLVE_SINGULAR_RTOL)


def columns_as_rows(A: np.ndarray) -> np.ndarray | None:
    """``A.T`` (C-contiguous: A's columns as rows) when A is float64 stored column-major, the
    layout of the compiled start and swap loops; None otherwise (their NumPy versions run)."""
    return A.T if (A.dtype == np.float64 and A.flags.f_contiguous) else None


def matvec(A: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``A @ x`` in float64 for a dense ``x``."""
    M, tr = _c_view(A)
    x = np.ascontiguousarray(x, dtype=np.float64)
    if tr:
        fn, nt = _pick_nt(_rows_axpy, M.size)
        return fn(M, x, nt)
    return _pick(_rows_dot, M.size)(M, x)


def rmatvec(A: np.ndarray, r: np.ndarray) -> np.ndarray:
    """``A.T @ r`` in float64."""
    M, tr = _c_view(A)
    r = np.ascontiguousarray(r, dtype=np.float64)
    if tr:
        return _pick(_rows_dot, M.size)(M, r)
    fn, nt = _pick_nt(_rows_axpy, M.size)
    return fn(M, r, nt)


def matvec_cols(A: np.ndarray, idx: np.ndarray, vals: np.ndarray) -> np.ndarray:
    """``A[:, idx] @ vals`` in float64 without forming ``A[:, idx]``."""
    M, tr = _c_view(A)
    idx = np.ascontiguousarray(idx, dtype=np.int64)
    vals = np.ascontiguousarray(vals, dtype=np.float64)
    work = A.shape[0] * idx.shape[0]
    if tr:
        fn, nt = _pick_nt(_rows_axpy_idx, work)
        return fn(M, idx, vals, nt)
    return _pick(_rows_dot_idx, work)(M, idx, vals)


def col_sq_norms(A: np.ndarray) -> np.ndarray:
    """``||A[:, j]||^2`` for all j, float64."""
    M, tr = _c_view(A)
    if tr:
        return _pick(_rows_sq, M.size)(M)
    return _cols_sq(M)


def gather_columns(A: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """``A[:, idx]`` as a new F-ordered array of A's dtype."""
    M, tr = _c_view(A)
    if tr:
        return np.take(M, idx, axis=0).T
    return np.asfortranarray(np.take(M, idx, axis=1))


@nb.njit(cache=True, nogil=True)
def _all_finite_flat(x):
    for i in range(x.shape[0]):
        if not np.isfinite(x[i]):
            return False
    return True


def all_finite(A: np.ndarray) -> bool:
    """True when no entry of the contiguous array ``A`` is NaN or inf (no temporary copy)."""
    return bool(_all_finite_flat(A.ravel(order="K")))


# ---------------------------------------------------------------------------- thresholding
def topk_abs(v: np.ndarray, k: int) -> np.ndarray:
    """Indices (sorted, int64) of the ``k`` entries of largest ``|v|``; ties go to lower indices.

    O(p) whatever the data: numpy's introselect finds the threshold (no quadratic worst case),
    and the indices are read off a mask in order, so nothing is sorted. (Numba's ``np.sort``
    on the nearly sorted index arrays of trained weights took seconds per call.)
    """
    v = np.asarray(v)
    p = v.shape[0]
    if k >= p:
        return np.arange(p, dtype=np.int64)
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    a = np.abs(v)
    thr = np.partition(a, p - k)[p - k]
    mask = a > thr
    need = k - int(np.count_nonzero(mask))
    if need > 0:
        mask[np.flatnonzero(a == thr)[:need]] = True
    return np.flatnonzero(mask).astype(np.int64, copy=False)


def threshold_path_support(w: np.ndarray, g: np.ndarray, tau: float, k: int) -> np.ndarray:
    """Support of the projection ``P_k(w - tau g)``: top-k of ``|w - tau g|``."""
    return topk_abs(w - tau * g, k)


def iht_start_support(w: np.ndarray, g: np.ndarray, k: int) -> np.ndarray:
    """Support of ``P_k(w - tau g)`` for small ``tau > 0``.

    For tau -> 0+, ``|w_i - tau g_i| -> |w_i|``, so the nonzeros of ``w`` stay (the largest
    first, if there are more than k) and the remaining places go to the zero coordinates with
    the largest ``|g_j|``.
    """
    nz = w != 0.0
    if int(np.count_nonzero(nz)) >= k:
        return topk_abs(w, k)
    ag = np.abs(g)
    big = 2.0 * (float(ag.max()) if ag.size else 0.0) + 1.0
    return topk_abs(np.where(nz, big + np.abs(w), ag), k)


@nb.njit(cache=True, nogil=True)
def max_preserving_step(w, g, in_support):
    """Largest tau for which ``P_k(w - tau g)`` keeps the support of ``iht_start_support``.

    Coordinates outside the support are zero, so they grow as ``tau |g_j|``; the first of them
    overtakes an inside coordinate ``i`` with ``w_i != 0`` at
    ``tau_i = |w_i| / (G + sign(w_i) g_i)``, with ``G = max_{j outside} |g_j|``. Inside
    coordinates with ``w_i = 0`` were chosen for their larger ``|g_i| >= G`` and are never
    overtaken. Returns inf when no crossing exists.
    """
    p = w.shape[0]
    G = 0.0
    for j in range(p):
        if not in_support[j]:
            a = abs(g[j])
            if a > G:
                G = a
    tmax = np.inf
    for i in range(p):
        if in_support[i] and w[i] != 0.0:
            s = 1.0 if w[i] > 0 else -1.0
            den = G + s * g[i]
            if den > 0.0:
                t = abs(w[i]) / den
                if t < tmax:
                    tmax = t
    return tmax


# ---------------------------------------------------------------------------- swap scores
@nb.njit(cache=True, nogil=True, fastmath=True, error_model="numpy")
def _swap_row_deltas(Zr, ir, br, s_out, gout, floor, d):
    """``d_j = delta[r, j]`` for one row of the swap scores (0 where ``s_j + T^2 <= floor_j``),
    branch-free so that it vectorises (NumPy's error model: no zero-division test), and
    ``min(0, min_j d_j)`` taken four lanes at a time."""
    base = 0.5 * br * br
    p = Zr.shape[0]
    for j in range(p):
        t = Zr[j] * ir
        den = s_out[j] + t * t
        ok = den > floor[j]
        num = br * t - gout[j]
        v = base - 0.5 * (num * num) / (den if ok else 1.0)
        d[j] = v if ok else 0.0
    m0 = m1 = m2 = m3 = 0.0
    j = 0
    while j + 4 <= p:
        a0, a1, a2, a3 = d[j], d[j + 1], d[j + 2], d[j + 3]
        m0 = a0 if a0 < m0 else m0
        m1 = a1 if a1 < m1 else m1
        m2 = a2 if a2 < m2 else m2
        m3 = a3 if a3 < m3 else m3
        j += 4
    while j < p:
        m0 = d[j] if d[j] < m0 else m0
        j += 1
    return min(min(m0, m1), min(m2, m3))


@nb.njit(cache=True, nogil=True, fastmath={"nsz", "arcp", "contract", "afn"}, error_model="numpy")
def swap_scores_min(Z, inv_root, beta, gout, s_out, floor):
    """``min delta[r, j]`` over the pairs with a finite ``s_j + T^2 > floor_j`` (``+inf`` when
    there is none; NaN scores are skipped): the check of a returned support
    (:func:`~.swap_check.check_swaps`) in one vectorised pass per row instead of NumPy's
    s x p temporaries. No fast-math assumption of finite values: the checks for infinity and
    NaN must hold."""
    nrow, p = Z.shape
    big = np.finfo(np.float64).max
    d = np.empty(p)
    m0 = m1 = m2 = m3 = np.inf
    for r in range(nrow):
        ir = inv_root[r]
        br = beta[r]
        base = 0.5 * br * br
        Zr = Z[r]
        for j in range(p):
            t = Zr[j] * ir
            den = s_out[j] + t * t
            ok = den > floor[j] and den <= big
            num = br * t - gout[j]
            v = base - 0.5 * (num * num) / (den if ok else 1.0)
            d[j] = v if ok else np.inf
        j = 0
        while j + 4 <= p:
            a0, a1, a2, a3 = d[j], d[j + 1], d[j + 2], d[j + 3]
            m0 = a0 if a0 < m0 else m0
            m1 = a1 if a1 < m1 else m1
            m2 = a2 if a2 < m2 else m2
            m3 = a3 if a3 < m3 else m3
            j += 4
        while j < p:
            m0 = d[j] if d[j] < m0 else m0
            j += 1
    return min(min(m0, m1), min(m2, m3))


def _best_swap_impl(Z, inv_root, beta, gout, s_out, scale, in_support, eps, costs, row_cost, room):
    nrow, p = Z.shape
    budgeted = costs.shape[0] > 0  # else no cost filter (row_cost and room unused)
    # delta < 0  <=>  g^2 - 2 beta T g > beta^2 s, with |T| <= t_j = ||P_S a~_j||
    # (t_j^2 = scale_j - s_j). So no column can improve row r once
    # |beta_r| >= max_j |g_j| (t_j + sqrt(scale_j)) / s_j: such rows are skipped (exact).
    beta_crit = 0.0
    for j in range(p):
        if not in_support[j] and scale[j] > 0.0 and s_out[j] > eps * scale[j]:
            t = np.sqrt(max(scale[j] - s_out[j], 0.0))
            v = abs(gout[j]) * (t + np.sqrt(scale[j])) / s_out[j]
            if v > beta_crit:
                beta_crit = v
    beta_crit *= 1.0 + SWAP_SKIP_MARGIN  # margin for rounding in s_out and t
    row_best = np.zeros(nrow)
    row_j = np.full(nrow, -1)
    if not budgeted:
        # Without a budget every row scores the same columns: their pivot floor once (the
        # largest float for a column that may not enter), then each row is a branch-free pass
        # over Z[r] (vectorised: 1.5x faster than the branchy scan at s = 30, p = 4000)
        # followed by a min-reduction and, only when it improves, the first column attaining
        # it. NaN scores never win (every comparison with NaN is false).
        floor = np.empty(p)
        big = np.finfo(np.float64).max
        for j in range(p):
            floor[j] = eps * scale[j] if (not in_support[j] and scale[j] > 0.0) else big
        for r in prange(nrow):
            br = beta[r]
            if abs(br) >= beta_crit:
                continue
            ir = inv_root[r]
            base = 0.5 * br * br
            d = np.empty(p)
            m = _swap_row_deltas(Z[r], ir, br, s_out, gout, floor, d)
            if m < 0.0:
                for j in range(p):
                    if d[j] == m:
                        row_best[r] = m
                        row_j[r] = j
                        break
    else:
        for r in prange(nrow):
            br = beta[r]
            if abs(br) >= beta_crit:
                continue
            limit = room + row_cost[r]
            ir = inv_root[r]
            base = 0.5 * br * br
            best = 0.0
            bj = -1
            # d < best  <=>  num^2 / den > 2 (base - best) =: thr: compared as num^2 > thr den
            # (den > 0), so only candidates that beat the row's best so far are divided
            thr = 2.0 * base
            for j in range(p):
                if in_support[j] or not scale[j] > 0.0:
                    continue  # a zero column never enters
                if costs[j] > limit:
                    continue  # j does not fit the budget in place of row r
                t = Z[r, j] * ir
                den = s_out[j] + t * t
                if not den > eps * scale[j]:
                    continue  # j is (numerically) in the span of S - i: never divide by den
                num = br * t - gout[j]
                nn = num * num
                if nn >= thr * den:
                    d = base - 0.5 * nn / den
                    if d < best:
                        best = d
                        bj = j
                        thr = 2.0 * (base - best)
            row_best[r] = best
            row_j[r] = bj
    best = 0.0
    bi = -1
    bj = -1
    for r in range(nrow):
        if row_best[r] < best:
            best = row_best[r]
            bi = r
            bj = row_j[r]
    return bi, bj, best


_best_swap = _jit_pair(_best_swap_impl)
_NO_COSTS = np.zeros(0)


def best_swap(
    Z, inv_root, beta, gout, s_out, scale, in_support, eps, costs=None, row_cost=None, room=0.0
):
    """Best single swap from precomputed quantities (see ``local_search``).

    For ``i`` in the support (row ``r`` of ``Z = M^-1 H``) and ``j`` outside it, with
    ``T[r, j] = Z[r, j] * inv_root[r]``, the objective after removing ``i``, adding ``j`` and
    refitting exactly is ``F + delta[r, j]`` with

        delta = beta_r^2/2 - (beta_r T[r, j] - g_j)^2 / (2 (s_j + T[r, j]^2)).

    Returns (row, j, delta) of the most negative delta, (-1, -1, 0.0) if none is negative.
    Columns with ``s_j + T^2 <= eps * scale_j`` (numerically in the span of the rest, the
    tolerance relative to the column's own squared norm ``scale_j``) and zero columns are
    skipped: no pivot below the tolerance is ever divided by.

    With ``costs`` (FALCON), column ``j`` may replace row ``r`` only if
    ``costs[j] <= room + row_cost[r]`` (``room``: the budget minus the support's cost).
    """
    if costs is None:
        costs, row_cost = _NO_COSTS, _NO_COSTS
    return _pick(_best_swap, Z.size)(
        Z, inv_root, beta, gout, s_out, scale, in_support, eps, costs, row_cost, float(room)
    )


def _swap_gradient_impl(H, Z, wS, Atb, ref_term, scale, nt):
    s, p = H.shape
    g = np.empty(p)
    s_out = np.empty(p)
    chunk = (p + nt - 1) // nt
    for t in prange(nt):
        lo = t * chunk
        hi = min(p, lo + chunk)
        for j in range(lo, hi):
            g[j] = -Atb[j] - ref_term[j]
            s_out[j] = scale[j]
        # four rows per sweep: g and s_out are loaded and stored once per four rows
        r = 0
        while r + 4 <= s:
            w0, w1, w2, w3 = wS[r], wS[r + 1], wS[r + 2], wS[r + 3]
            H0, H1, H2, H3 = H[r], H[r + 1], H[r + 2], H[r + 3]
            Z0, Z1, Z2, Z3 = Z[r], Z[r + 1], Z[r + 2], Z[r + 3]
            for j in range(lo, hi):
                h0, h1, h2, h3 = H0[j], H1[j], H2[j], H3[j]
                g[j] += h0 * w0 + h1 * w1 + h2 * w2 + h3 * w3
                s_out[j] -= h0 * Z0[j] + h1 * Z1[j] + h2 * Z2[j] + h3 * Z3[j]
            r += 4
        while r < s:
            wr = wS[r]
            for j in range(lo, hi):
                h = H[r, j]
                g[j] += h * wr
                s_out[j] -= h * Z[r, j]
            r += 1
    return g, s_out


_swap_gradient = _jit_pair(_swap_gradient_impl)


def swap_gradient_and_residual_norms(H, Z, wS, Atb, ref_term, scale):
    """One pass over the s x p arrays ``H = A_S^T A`` and ``Z = M^-1 H``:

    * ``g = H^T w_S - A^T b - ref_term`` (the gradient off the support), and
    * ``s_j = scale_j - sum_r H[r, j] Z[r, j]`` (squared norm of column j orthogonal to S).
    """
    fn, nt = _pick_nt(_swap_gradient, H.size)
    return fn(H, Z, wS, Atb, ref_term, scale, nt)


@nb.njit(cache=True, nogil=True, fastmath=True)
def sym_rank1_update(M, s, alpha, x):
    """In place: ``M[:s, :s] += alpha x x^T``."""
    for i in range(s):
        ax = alpha * x[i]
        for j in range(s):
            M[i, j] += ax * x[j]


@nb.njit(cache=True, nogil=True, fastmath=True)
def _best_add(gout, s_out, scale, in_support, eps, costs, room):
    p = gout.shape[0]
    budgeted = costs.shape[0] > 0
    best = 0.0
    bj = -1
    for j in range(p):
        if in_support[j] or not scale[j] > 0.0:
            continue
        if budgeted and costs[j] > room:
            continue
        den = s_out[j]
        if not den > eps * scale[j]:
            continue
        d = -0.5 * gout[j] * gout[j] / den
        if d < best:
            best = d
            bj = j
    return bj, best


def best_add(gout, s_out, scale, in_support, eps, costs=None, room=0.0):
    """Best single addition: the decrease ``g_j^2 / (2 s_j)`` with ``s_j`` the squared norm of
    column j's part orthogonal to the support. Returns (j, delta) with delta <= 0. With
    ``costs``, only columns with ``costs[j] <= room`` are considered."""
    return _best_add(
        gout, s_out, scale, in_support, eps, _NO_COSTS if costs is None else costs, float(room)
    )


@nb.njit(cache=True, nogil=True, fastmath=True)
def best_pool_move(Z, member, w_ref_c, v, colsq_c, ridge, can_add, eps, cost_c, slack):
    """Best swap (or addition, when ``can_add``) within a Woodbury-space candidate pool
    (:mod:`.swaps.woodbury_pool`) among the moves that fit the cost budget: adding j needs
    ``cost_c[j] <= slack``, swapping i for j ``cost_c[j] - cost_c[i] <= slack`` (no budget:
    zero costs and ``slack = inf``). Returns (i, j, delta) with i = -1 for an addition;
    (-1, -1, 0.0) when nothing lowers F."""
    m = Z.shape[0]
    best, bi, bj = 0.0, -1, -1
    for j in range(m):
        if member[j]:
            continue
        scale = colsq_c[j] + ridge
        s_j = ridge * (1.0 + Z[j, j])
        if s_j <= eps * scale:
            continue
        g_j = -ridge * (v[j] + w_ref_c[j])
        if can_add and cost_c[j] <= slack:
            d = -0.5 * g_j * g_j / s_j
            if d < best:
                best, bi, bj = d, -1, j
        for i in range(m):
            if not member[i] or cost_c[j] - cost_c[i] > slack:
                continue
            minv = (1.0 - Z[i, i]) / ridge
            if minv <= 0.0:
                continue
            ir = 1.0 / np.sqrt(minv)
            beta = (w_ref_c[i] + v[i]) * ir
            t = Z[i, j] * ir
            den = s_j + t * t
            num = beta * t - g_j
            d = 0.5 * beta * beta - 0.5 * num * num / den
            if d < best:
                best, bi, bj = d, i, j
    return bi, bj, best


@nb.njit(cache=True, nogil=True, fastmath=True)
def cholesky_in_place(M, pivot_rtol):
    """Lower Cholesky factor of the symmetric M (its lower triangle read), in place; False
    when a pivot fails: ``M_ii <= 0`` or ``L_ii^2 <= pivot_rtol * M_ii`` (numerically
    singular: that column's part orthogonal to the earlier ones is lost in rounding)."""
    m = M.shape[0]
    for i in range(m):
        d = M[i, i]
        if not d > 0.0:
            return False
        for t in range(i):
            M[i, i] -= M[i, t] * M[i, t]
        if not M[i, i] > pivot_rtol * d:
            return False
        M[i, i] = np.sqrt(M[i, i])
        for jj in range(i + 1, m):
            acc = M[jj, i]
            for t in range(i):
                acc -= M[jj, t] * M[i, t]
            M[jj, i] = acc / M[i, i]
    return True


@nb.njit(cache=True, nogil=True, fastmath=True)
def _cholesky_solve(M, rhs, pivot_rtol, w):
    """Solve ``M w = rhs`` (M symmetric positive definite, overwritten by its factor); False
    when a pivot fails (:func:`cholesky_in_place`)."""
    m = M.shape[0]
    if not cholesky_in_place(M, pivot_rtol):
        return False
    for i in range(m):
        acc = rhs[i]
        for t in range(i):
            acc -= M[i, t] * w[t]
        w[i] = acc / M[i, i]
    for i in range(m - 1, -1, -1):
        acc = w[i]
        for t in range(i + 1, m):
            acc -= M[t, i] * w[t]
        w[i] = acc / M[i, i]
    return True


@nb.njit(cache=True, nogil=True, fastmath=True)
def _support_fit(At, b, S, ridge, ref_S, pivot_rtol):
    """Exact minimiser on the support S (s <= n) by the normal equations: gathers
    ``A_S^T`` (s x n) from ``At = A.T``, forms ``M = A_S^T A_S + ridge I`` and
    ``rhs = A_S^T b + ridge ref_S`` with BLAS, Cholesky with the pivot test of
    ``backsolve._cholesky_or_none``. Returns ``(ok, w_S, A_S w_S)``; ``ok`` False when a pivot
    fails (the caller then takes the least-squares path)."""
    s = S.shape[0]
    n = At.shape[1]
    ASt = np.empty((s, n))
    for i in range(s):
        ASt[i] = At[S[i]]
    M = np.dot(ASt, ASt.T)
    rhs = np.dot(ASt, b)
    if ridge != 0.0:
        for i in range(s):
            M[i, i] += ridge
            if ref_S.shape[0]:
                rhs[i] += ridge * ref_S[i]
    w = np.zeros(s)
    if not _cholesky_solve(M, rhs, pivot_rtol, w):
        return False, w, np.zeros(n)
    return True, w, np.dot(w, ASt)


@nb.njit(cache=True, nogil=True, fastmath=True)
def _support_fit_values(At, b, flat, offsets, ridge, w_ref, pivot_rtol):
    """:func:`_support_fit` on each support ``flat[offsets[i]:offsets[i + 1]]`` in one call.
    Returns ``(ok, rss, pen, ref_sq)``: whether the fit succeeded, ``||A_S w_S - b||^2``,
    ``||w_S - ref_S||^2`` and ``||ref_S||^2`` (``ref_S = w_ref[S]``, zero when ``w_ref`` is
    empty), each per support."""
    m = offsets.shape[0] - 1
    ok = np.zeros(m, dtype=np.bool_)
    rss = np.full(m, np.inf)
    pen = np.zeros(m)
    ref_sq = np.zeros(m)
    has_ref = w_ref.shape[0] > 0
    for i in range(m):
        S = flat[offsets[i] : offsets[i + 1]]
        ref_S = w_ref[S] if has_ref else np.zeros(0)
        good, wS, ASwS = _support_fit(At, b, S, ridge, ref_S, pivot_rtol)
        if not good:
            continue
        acc = 0.0
        for t in range(b.shape[0]):
            d = ASwS[t] - b[t]
            acc += d * d
        d2 = 0.0
        r2 = 0.0
        for t in range(S.shape[0]):
            d = wS[t] - (ref_S[t] if has_ref else 0.0)
            d2 += d * d
            if has_ref:
                r2 += ref_S[t] * ref_S[t]
        if np.isfinite(acc) and np.isfinite(d2):
            ok[i] = True
            rss[i] = acc
            pen[i] = d2
            ref_sq[i] = r2
    return ok, rss, pen, ref_sq
