"""Exact single-swap local search.

Write the ridge problem as plain least squares with augmented columns
``a~_j = [a_j; sqrt(ridge) e_j]`` and target ``b~ = [b; sqrt(ridge) w_ref]``. Let w be the exact
minimiser on a support S (|S| = s), ``M = A_S^T A_S + ridge I`` and ``r~ = b~ - A~ w``, so the
gradient is ``g_j = -a~_j^T r~`` and ``g_S = 0``.

* Removing i from S and refitting raises F by ``beta_i^2 / 2`` with
  ``beta_i = w_i / sqrt((M^-1)_ii)``; the residual moves along the unit vector
  ``v_i = A~_S M^-1 e_i / sqrt((M^-1)_ii)``, the part of column i orthogonal to the others.
* Adding j to ``S - i`` and refitting then lowers F by
  ``(beta_i T_ij - g_j)^2 / (2 (s_j + T_ij^2))``, with ``T_ij = v_i^T a~_j`` and
  ``s_j = ||a~_j||^2 - h_j^T M^-1 h_j`` the squared norm of column j orthogonal to S
  (``h_j = A~_S^T a~_j``).

So every swap (i, j) is scored exactly from ``H = A_S^T A`` (s x p), kept up to date one row per
swap, and ``Z = M^-1 H~`` (s x p): O(s^2 p) per move instead of O(s p) refits. The best
improving swap is applied, the new support is backsolved exactly (float64), and the move is
kept only if F really decreased. When ``s < k``, the best exact addition (orthogonal least
squares step) is made first. The search stops at a swap-optimal point: no single swap, and no
addition while s < k, decreases F.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import scipy.linalg as sla
import scipy.linalg.blas as blas

from .. import _kernels as K
from .._descent_kernels import (
    OPTIMAL,
    PIVOT,
    REFRESH,
    lockstep_moves,
    refresh_factors,
    swap_moves,
)
from ..backsolve import backsolve_support
from ..constants import (
    BUDGET_RTOL,
    SWAP_COLLINEAR_RTOL,
    SWAP_PIVOT_RTOL,
    SWAP_REFRESH_EVERY,
    SWAP_RTOL,
)
from ..quadratic import Quadratic
from ..woodbury import ridge_gram_cholesky

__all__ = [
    "GramRows",
    "SwapResult",
    "independent_subset",
    "run_descents",
    "swap_search",
    "swap_search_cost",
    "swap_search_steps",
]


def independent_subset(M: np.ndarray, priority: np.ndarray, rtol: float = SWAP_COLLINEAR_RTOL):
    """Positions of a numerically independent subset of the columns of a Gram matrix M.

    Greedy pivoted Cholesky in order of decreasing ``priority``: a column is kept when its
    squared norm orthogonal to the kept ones exceeds ``rtol`` times its own squared norm.
    With ``ridge = 0`` the kept columns span the same space, so the fit is unchanged.
    """
    order = np.argsort(-priority, kind="stable")
    keep: list[int] = []
    L = np.zeros((M.shape[0], M.shape[0]))
    for i in order:
        d = float(M[i, i])
        if not d > 0:
            continue
        m = len(keep)
        if m:
            x = sla.solve_triangular(L[:m, :m], M[keep, i], lower=True, check_finite=False)
            piv = d - float(x @ x)
        else:
            x, piv = np.zeros(0), d
        if piv > rtol * d:
            L[m, :m] = x
            L[m, m] = np.sqrt(piv)
            keep.append(int(i))
    return np.sort(np.asarray(keep, dtype=np.int64))


@dataclass
class SwapResult:
    coef: np.ndarray
    objective: float
    history: list
    n_swaps: int
    n_adds: int
    swap_optimal: bool


def swap_search_cost(s: int, n: int, p: int) -> tuple[int, int]:
    """(bytes held, set-up multiply-adds) of the swap search over p columns for a support of
    size s; each move then costs O(s p)."""
    return 3 * 8 * s * p, s * n * p + s * s * p


class GramRows:
    """Rows ``A^T a_j`` (float64, length p) of the Gram matrix, computed on demand and cached.

    Missing rows are computed together by one BLAS product ``A_J^T A``, so the restarts of the
    local search (greedy start, perturbations) pay only for the columns they have not met yet.
    Rows live in one growing array (``rows[slot[j]]``) that the compiled move loop
    (:func:`~.._descent_kernels.swap_moves`) reads and fills too. The cache is emptied when it
    would exceed ``max_rows`` rows.
    """

    def __init__(self, A: np.ndarray, max_rows: int, initial_rows: int = 64):
        self.A = A
        self.max_rows = max(1, int(max_rows))
        p = A.shape[1]
        # the array grows by doubling (a copy of every row held); ``initial_rows``: room for
        # the rows a caller expects, so that it rarely has to
        self.rows = np.empty((min(self.max_rows, max(1, int(initial_rows))), p))
        self.slot = np.full(p, -1, dtype=np.int64)
        self.count = 0

    def reserve(self, m: int, keep=()) -> None:
        """Room for ``m`` more rows: grow the array (up to ``max_rows``), else empty the cache
        except the rows of ``keep``."""
        need = self.count + m
        cap = self.rows.shape[0]
        if need <= cap:
            return
        if need <= self.max_rows:
            grown = np.empty((min(self.max_rows, max(2 * cap, need)), self.rows.shape[1]))
            grown[: self.count] = self.rows[: self.count]
            self.rows = grown
            return
        kept = [int(j) for j in dict.fromkeys(keep) if self.slot[int(j)] >= 0]
        saved = self.rows[self.slot[kept]] if kept else None
        self.slot[:] = -1
        self.count = 0
        if m > self.rows.shape[0] - len(kept):  # one request larger than max_rows: it is served
            self.rows = np.empty((m + len(kept), self.rows.shape[1]))
        if kept:
            self.rows[: len(kept)] = saved
            self.slot[kept] = np.arange(len(kept))
            self.count = len(kept)

    def get(self, idx) -> np.ndarray:
        idx = [int(j) for j in idx]
        missing = [j for j in dict.fromkeys(idx) if self.slot[j] < 0]
        if missing:
            self.reserve(len(missing), keep=idx)
            cols = K.gather_columns(self.A, np.asarray(missing, dtype=np.int64))
            at = self.count
            if len(missing) == 1:
                # one row: the Numba product (float64 accumulation)
                self.rows[at] = K.rmatvec(self.A, cols[:, 0].astype(np.float64))
            else:
                # several rows: one BLAS product, one pass over A
                self.rows[at : at + len(missing)] = cols.T @ self.A
            self.slot[missing] = np.arange(at, at + len(missing))
            self.count = at + len(missing)
        if not idx:
            return np.zeros((0, self.A.shape[1]))
        return self.rows[self.slot[idx]]


class _SupportState:
    """``H = A_S^T A``, ``Minv = (A_S^T A_S + ridge I)^-1`` and ``Z = Minv H`` for a support S.

    Rows are kept in preallocated k x p buffers. Removing a member is a Schur-complement
    downdate and adding one a bordering update, each O(s p); every ``refresh_every`` moves
    the factors are recomputed from scratch to stop rounding drift.
    """

    refresh_every = SWAP_REFRESH_EVERY  # at least; large supports refresh every s/8 moves

    def __init__(self, gram: GramRows, S, k: int, p: int, scale: np.ndarray, ridge: float):
        self.gram, self.scale, self.ridge = gram, scale, ridge
        self.S = [int(j) for j in S]
        self.H = np.empty((k, p))
        self.Z = np.empty((k, p))
        self.Minv = np.empty((k, k))
        s = len(self.S)
        if s:
            self.H[:s] = gram.get(self.S)
        #: False when the support is numerically singular (then nothing may be scored from it)
        self.ok = self.refresh()

    def independent(self, w: np.ndarray) -> np.ndarray:
        """A numerically independent subset of the support (sorted column indices), keeping
        the members that carry the most of the fit ``|w_i| ||a~_i||`` first."""
        s = self.s
        S = np.asarray(self.S, dtype=np.int64)
        M = self.H[:s][:, S].copy()
        M = 0.5 * (M + M.T)
        M[np.diag_indices(s)] += self.ridge
        priority = np.abs(w[S]) * np.sqrt(np.maximum(self.scale[S], 0.0))
        return np.sort(S[independent_subset(M, priority)])

    @property
    def s(self) -> int:
        return len(self.S)

    def refresh(self) -> bool:
        """Recompute Minv and Z from H; False if the support is numerically singular.

        Singular means a Cholesky pivot of M below ``SWAP_PIVOT_RTOL`` times its diagonal entry:
        that column's part orthogonal to the others is lost in rounding (a zero column, or one
        that duplicates others, with ``ridge = 0``). The test is per column, so columns of very
        different scales (1e6 next to 1e-6) are judged each on its own scale.
        """
        self.moves = 0
        s = self.s
        if s == 0:
            return True
        A = self.gram.A
        n = A.shape[0]
        if self.ridge > 0 and s > n:
            return self._refresh_woodbury(A)
        S = np.asarray(self.S, dtype=np.int64)
        return bool(
            refresh_factors(self.H, S, s, float(self.ridge), SWAP_PIVOT_RTOL, self.Minv, self.Z)
        )

    def _refresh_woodbury(self, A) -> bool:
        """s > n: through K = ridge I + A_S A_S^T (n x n) and X = L^-1 A_S (L L^T = K),
        ``M^-1 = (I - X^T X) / ridge`` and ``Z = M^-1 A_S^T A = X^T L^-1 A``: O(n^2 (s + p))
        instead of O(s^2 (s + p))."""
        s = self.s
        AS = K.gather_columns(A, np.asarray(self.S, dtype=np.int64)).astype(np.float64)
        try:
            L = ridge_gram_cholesky(AS, self.ridge)
        except np.linalg.LinAlgError:
            return False
        if not np.all(np.diag(L) > 0):
            return False
        X = sla.solve_triangular(L, AS, lower=True, check_finite=False)
        Minv = -(X.T @ X)
        Minv[np.diag_indices(s)] += 1.0
        Minv /= self.ridge
        self.Minv[:s, :s] = Minv
        Y = sla.solve_triangular(L, A.astype(np.float64), lower=True, check_finite=False)
        np.matmul(X.T, Y, out=self.Z[:s])
        return True

    def remove(self, r: int) -> bool:
        """Drop member ``r`` (Schur-complement downdate). False, with the state left for a
        refresh, when ``(M^-1)_rr`` is not a usable pivot (it is ``1 / s_r`` with ``s_r`` the
        squared norm of column r orthogonal to the others: positive for a nonsingular M)."""
        s = self.s
        Minv, Z = self.Minv[:s, :s], self.Z[:s]
        m_r = Minv[:, r].copy()
        z_r = Z[r].copy()
        piv = float(m_r[r])
        if not (np.isfinite(piv) and piv > 0.0):
            return False
        # Downdate (in-place rank-1 BLAS updates), then move the last member into slot r.
        blas.dger(-1.0 / piv, z_r, m_r, a=Z.T, overwrite_a=1)
        K.sym_rank1_update(self.Minv, s, -1.0 / piv, m_r)
        last = s - 1
        if r != last:
            self.S[r] = self.S[last]
            self.H[r] = self.H[last]
            self.Z[r] = self.Z[last]
            self.Minv[r, :s] = self.Minv[last, :s]
            self.Minv[:s, r] = self.Minv[:s, last]
            self.Minv[r, r] = self.Minv[last, last]
        self.S.pop()
        return True

    def add(self, j: int, row: np.ndarray) -> bool:
        """Append column j (bordering update). False, with nothing changed, when column j's
        squared norm orthogonal to the support, ``c``, is at most ``SWAP_COLLINEAR_RTOL`` times its
        own squared norm: the bordered M would be singular, so c is never divided by."""
        s = self.s
        scale_j = float(self.scale[j])
        if s == 0:
            if not scale_j > 0.0:
                return False
            self.H[0] = row
            self.Z[0] = row / scale_j
            self.Minv[0, 0] = 1.0 / scale_j
            self.S.append(j)
            return True
        H, Z = self.H[:s], self.Z[:s]
        u = Z[:, j].copy()
        c = scale_j - float(H[:, j] @ u)
        if not (np.isfinite(c) and c > SWAP_COLLINEAR_RTOL * scale_j and c > 0.0):
            return False
        bottom = (row - u @ H) / c
        blas.dger(-1.0, bottom, u, a=Z.T, overwrite_a=1)
        K.sym_rank1_update(self.Minv, s, 1.0 / c, u)
        self.Minv[:s, s] = -u / c
        self.Minv[s, :s] = -u / c
        self.Minv[s, s] = 1.0 / c
        self.H[s] = row
        self.Z[s] = bottom
        self.S.append(j)
        return True

    def after_move(self) -> bool:
        self.moves += 1
        if self.moves >= max(self.refresh_every, self.s // 8):
            return self.refresh()
        return True


def swap_search_steps(
    q: Quadratic,
    k: int,
    w: np.ndarray,
    f: float,
    *,
    gram: GramRows | None = None,
    max_moves: int | None = None,
    exact_every: int = 1,
    rtol: float = SWAP_RTOL,
    costs: np.ndarray | None = None,
    budget: float | None = None,
    pool: int = 0,
) -> Generator[_MoveRequest, tuple, SwapResult]:
    """:func:`swap_search` as a generator: it yields each call of the compiled move loop it
    needs (a ``_MoveRequest``), is sent the call's result, and returns the
    :class:`SwapResult`. :func:`run_descents` drives it, alone or with other descents."""
    A, ridge, Atb = q.A, q.ridge, q.Atb
    p = A.shape[1]
    if gram is None:
        gram = GramRows(A, max_rows=4 * k + 16)
    scale = q.col_sq + ridge
    ref_term = q.ref_term
    rhs = Atb + ref_term  # A~^T b~: the right-hand side of the normal equations
    if max_moves is None:
        max_moves = max(100, 10 * k)

    def exact(S_sorted):
        return backsolve_support(q, S_sorted)

    tiny = np.finfo(float).tiny

    def factored(w_start, f_start):
        """(state, w, f) for the support of ``w_start``. A numerically singular support (zero
        or coinciding columns with ridge 0) is first reduced to an independent subset and
        refitted; state is None when even that cannot be factored."""
        st = _SupportState(gram, np.flatnonzero(w_start), k, p, scale, ridge)
        if st.ok:
            return st, w_start, f_start
        S_ind = st.independent(w_start)
        wS_ind, f_ind = exact(S_ind)
        w_ind = np.zeros(p)
        w_ind[S_ind] = wS_ind
        st = _SupportState(gram, np.flatnonzero(w_ind), k, p, scale, ridge)
        return (st if st.ok else None), w_ind, f_ind

    w0, f0 = w.copy(), f
    history = [f]
    n_swaps = n_adds = 0
    state, w, f = factored(w.copy(), f)
    if state is None or not f <= f0 + rtol * abs(f0) + tiny:
        # Reducing a singular support would raise F (ridge > 0 with columns dependent to
        # rounding): nothing can be scored reliably from here.
        return SwapResult(w0, f0, history, 0, 0, False)
    if f < f0:
        history.append(f)
    swap_optimal = False
    in_support = np.zeros(p, dtype=np.bool_)
    in_support[state.S] = True
    checkpoint = (w.copy(), f, n_swaps, n_adds)
    f_check = f
    pending = 0  # moves since the last exact checkpoint

    def exact_checkpoint(S_sorted) -> bool:
        """Backsolve S exactly; keep it (True) only if F fell below the last checkpoint."""
        nonlocal w, f
        wS_ex, f_ex = exact(S_sorted)
        if not f_ex < f_check - rtol * abs(f_check):
            return False
        w[:] = 0.0
        w[S_sorted] = wS_ex
        f = f_ex
        history.append(f)
        return True

    def reset(w_new, f_new) -> bool:
        """Refactor from scratch at the exact point ``w_new``; False if it is singular."""
        nonlocal w, f, state, pending
        st, w_st, f_st = factored(w_new.copy(), f_new)
        if st is None or not f_st <= f_new + rtol * abs(f_new) + tiny:
            return False
        state, w, f, pending = st, w_st, f_st, 0
        in_support[:] = False
        in_support[state.S] = True
        return True

    def _compiled_moves(budget: int):
        """Up to ``budget`` moves in the compiled move loop (the request is yielded to the
        driver, :func:`run_descents`); syncs the state, ``w`` and ``f`` (predicted) back.
        Returns (code, moves applied)."""
        nonlocal w, f, n_swaps, n_adds
        S_arr = np.zeros(k, dtype=np.int64)
        S_arr[: state.s] = state.S
        wS = np.zeros(k)
        wS[: state.s] = w[S_arr[: state.s]]
        request = _MoveRequest(
            q, At, gram, k, Atb, ref_term, rhs, scale, rtol, pool,
            S_arr, state.s, state.H, state.Z, state.Minv, wS, f, in_support, budget,
            state.moves, state.refresh_every,
        )  # fmt: skip
        code, s_new, f_new, moves, swaps, adds, since = yield request
        state.S = [int(i) for i in S_arr[:s_new]]
        state.moves = since
        n_swaps += swaps
        n_adds += adds
        if moves:
            f = f_new
            w[:] = 0.0
            w[S_arr[:s_new]] = wS[:s_new]
        return code, moves

    def back_to_checkpoint() -> bool:
        """Return to the last exact checkpoint, from where every move is checked exactly;
        False if its support is singular (then the search ends)."""
        nonlocal n_swaps, n_adds, exact_every
        n_swaps, n_adds = checkpoint[2], checkpoint[3]
        exact_every = 1
        return reset(checkpoint[0], checkpoint[1])

    def settle(S_sorted) -> bool:
        """After ``exact_every`` predicted moves: a new checkpoint if the exact F fell, else
        back to the last one. False when the search must end."""
        nonlocal checkpoint, f_check, pending
        if exact_checkpoint(S_sorted):
            checkpoint, f_check, pending = (w.copy(), f, n_swaps, n_adds), f, 0
            return True
        return back_to_checkpoint()

    # Compiled move loop between checkpoints (float64 A stored column-major, no cost budget);
    # everything else, and every fallback, runs the Python loop below.
    At = K.columns_as_rows(A)
    compiled = At is not None and costs is None
    moves_done = 0
    while moves_done < max_moves:
        if compiled and exact_every > 1:
            code = yield from _compiled_moves(min(max_moves - moves_done, exact_every - pending))
            moves_done += code[1]
            pending += code[1]
            S_sorted = np.sort(np.asarray(state.S, dtype=np.int64))
            if code[0] == OPTIMAL:
                if pending and not exact_checkpoint(S_sorted):
                    if not back_to_checkpoint():
                        break
                    continue
                swap_optimal = True
                break
            if code[0] == PIVOT or (code[0] == REFRESH and not state.refresh()):
                if not back_to_checkpoint():
                    break
                continue
            if code[0] == REFRESH:
                Snow = np.asarray(state.S, dtype=np.int64)
                w[:] = 0.0
                w[Snow] = state.Minv[: state.s, : state.s] @ rhs[Snow]
            if pending >= exact_every and not settle(S_sorted):
                break
            continue
        moves_done += 1
        s = state.s
        Sarr = np.asarray(state.S, dtype=np.int64)
        wS = w[Sarr]
        H, Z = state.H[:s], state.Z[:s]
        # Gradient: g = A^T (A w - b) + ridge (w - w_ref) = H^T w_S - A^T b (- ridge w_ref off S).
        # The ridge only touches columns of S (a~_i^T a~_j = a_i^T a_j + ridge [i = j]), which
        # are never scored, so the raw H serves for every column outside S.
        g, s_out = K.swap_gradient_and_residual_norms(H, Z, wS, Atb, ref_term, scale)

        tol_abs = rtol * max(abs(f), tiny)
        move = None
        if costs is not None:
            room = budget - float(costs[Sarr].sum()) + BUDGET_RTOL * max(abs(budget), 1.0)
        if s < k:
            budget_args = {} if costs is None else dict(costs=costs, room=room)
            j, delta = K.best_add(g, s_out, scale, in_support, SWAP_COLLINEAR_RTOL, **budget_args)
            if j >= 0 and delta < -tol_abs:
                move = (None, int(j))
        if move is None and s:
            inv_root = 1.0 / np.sqrt(np.maximum(np.diag(state.Minv[:s, :s]), tiny))
            beta = wS * inv_root
            budget_args = {}
            if costs is not None:
                budget_args = dict(costs=costs, row_cost=costs[Sarr], room=room)
            r, j, delta = K.best_swap(
                Z, inv_root, beta, g, s_out, scale, in_support, SWAP_COLLINEAR_RTOL, **budget_args
            )
            if r >= 0 and delta < -tol_abs:
                move = (int(r), int(j))
        if move is None:
            if pending and not exact_checkpoint(np.sort(Sarr)):
                if not back_to_checkpoint():
                    break
                continue
            swap_optimal = True
            break

        r, j = move
        if exact_every == 1:
            S_new = np.sort(
                np.append(np.delete(Sarr, r), j) if r is not None else np.append(Sarr, j)
            )
            wS_new, f_new = exact(S_new)
            if not f_new < f - tol_abs:
                # The score said "improves" but the exact refit disagrees. Other moves may still
                # improve: no label here (``swap_check.check_swaps`` decides).
                break
        row = gram.get([j])[0]
        if r is None:
            n_adds += 1
            updated = state.add(j, row)
        else:
            out = state.S[r]
            n_swaps += 1
            updated = state.remove(r) and state.add(j, row)
            in_support[out] = False
        in_support[j] = True
        if exact_every == 1:
            w[:] = 0.0
            w[S_new] = wS_new
            f = f_new
            history.append(f)
            checkpoint, f_check = (w.copy(), f, n_swaps, n_adds), f
            if not (updated and state.after_move()) and not reset(w, f):
                break  # numerically singular support: nothing reliable to score
            continue
        if not (updated and state.after_move()):
            # a pivot the incremental update could not use: redo the moves exactly
            if not back_to_checkpoint():
                break
            continue
        # Between checkpoints: coefficients from the updated factors, predicted objective.
        s = state.s
        Snow = np.asarray(state.S, dtype=np.int64)
        w[:] = 0.0
        w[Snow] = state.Minv[:s, :s] @ rhs[Snow]
        f = f + delta
        pending += 1
        if pending >= exact_every and not settle(np.sort(Snow)):
            break
    else:  # out of moves
        if pending and not exact_checkpoint(np.flatnonzero(w)):
            # out of moves between checkpoints, and the last moves did not pay: go back
            w, f = checkpoint[0], checkpoint[1]
    if f > f0:
        # only possible by rounding, when a singular start was reduced and nothing improved
        return SwapResult(w0, f0, history[:1], 0, 0, False)
    return SwapResult(w, f, history, n_swaps, n_adds, swap_optimal)


class _MoveRequest(NamedTuple):
    """One call of the compiled move loop a descent asks its driver for: the problem's arrays
    (shared by the descents of one portfolio) and the descent's own state."""

    q: Quadratic
    At: np.ndarray
    gram: GramRows
    k: int
    Atb: np.ndarray
    ref_term: np.ndarray
    rhs: np.ndarray
    scale: np.ndarray
    rtol: float
    pool: int
    S: np.ndarray
    s: int
    H: np.ndarray
    Z: np.ndarray
    Minv: np.ndarray
    wS: np.ndarray
    f: float
    in_support: np.ndarray
    budget: int
    moves_since_refresh: int
    refresh_every: int


def _run_one(req: _MoveRequest) -> tuple:
    gram = req.gram
    gram.reserve(req.budget)  # a move adds at most one row to the shared cache
    code, s_new, f_new, moves, swaps, adds, since, gram.count = swap_moves(
        req.At, req.S, req.s, req.k, req.H, req.Z, req.Minv, req.wS, req.f, req.in_support,
        req.Atb, req.ref_term, req.rhs, req.scale, SWAP_COLLINEAR_RTOL, req.rtol, req.budget,
        req.moves_since_refresh, req.refresh_every, gram.rows, gram.slot, gram.count, req.pool,
    )  # fmt: skip
    return code, s_new, f_new, moves, swaps, adds, since


def _shares_problem(a: _MoveRequest, b: _MoveRequest) -> bool:
    """Whether two requests may run in one compiled call: same problem, cache and rules."""
    return (
        a.q is b.q
        and a.gram is b.gram
        and (a.k, a.rtol, a.pool, a.refresh_every) == (b.k, b.rtol, b.pool, b.refresh_every)
    )


def _run_lockstep(reqs: list[_MoveRequest]) -> list[tuple]:
    """Two or three requests on one problem in one compiled call
    (:func:`~.._descent_kernels.lockstep_moves`): the rows their moves need come from
    shared passes over A."""
    first = reqs[0]
    gram = first.gram
    gram.reserve(sum(r.budget for r in reqs))
    pad = reqs + [first] * (3 - len(reqs))
    ss = np.array([r.s for r in pad], dtype=np.int64)
    fs = np.array([r.f for r in pad])
    budgets = np.array([r.budget for r in pad], dtype=np.int64)
    since = np.array([r.moves_since_refresh for r in pad], dtype=np.int64)
    codes, moves, swaps, adds, gram.count = lockstep_moves(
        first.At, tuple(r.S for r in pad), ss, first.k, tuple(r.H for r in pad),
        tuple(r.Z for r in pad), tuple(r.Minv for r in pad), tuple(r.wS for r in pad), fs,
        tuple(r.in_support for r in pad), first.Atb, first.ref_term, first.rhs, first.scale,
        SWAP_COLLINEAR_RTOL, first.rtol, budgets, since, first.refresh_every, gram.rows,
        gram.slot, gram.count, first.pool, len(reqs),
    )  # fmt: skip
    return [
        (int(codes[d]), int(ss[d]), float(fs[d]), int(moves[d]), int(swaps[d]), int(adds[d]),
         int(since[d]))
        for d in range(len(reqs))
    ]  # fmt: skip


def run_descents(descents: list) -> list[SwapResult]:
    """Drives swap searches (generators from :func:`swap_search_steps`) to their ends and
    returns their results in order. The compiled move loops of up to three descents on one
    problem and cache run together (:func:`_run_lockstep`): each makes the moves it makes
    alone (up to the rounding of its Gram rows), and a row that several of their moves
    need comes from one pass over A."""
    if len(descents) == 1:  # the common case, without the bookkeeping
        descent, reply = descents[0], None
        while True:
            try:
                reply = _run_one(descent.send(reply))
            except StopIteration as stop:
                return [stop.value]
    results: list[SwapResult | None] = [None] * len(descents)
    waiting: dict[int, _MoveRequest] = {}

    def advance(i: int, reply) -> None:
        try:
            waiting[i] = descents[i].send(reply)
        except StopIteration as stop:
            results[i] = stop.value

    for i in range(len(descents)):
        advance(i, None)
    while waiting:
        ids = list(waiting)
        group = [ids[0]] + [i for i in ids[1:] if _shares_problem(waiting[ids[0]], waiting[i])]
        group = group[:3]
        reqs = [waiting.pop(i) for i in group]
        replies = [_run_one(reqs[0])] if len(reqs) == 1 else _run_lockstep(reqs)
        for i, reply in zip(group, replies, strict=True):
            advance(i, reply)
    return results


def swap_search(q: Quadratic, k: int, w: np.ndarray, f: float, **options) -> SwapResult:
    """Swap (and fill) local search from ``w``, an exact minimiser on its support.

    Options (keywords): ``gram``, ``max_moves``, ``exact_every``, ``rtol``, ``costs``,
    ``budget``, ``pool``, described below.

    ``F`` is the quadratic ``q`` (a :meth:`~..quadratic.Quadratic.restrict` of a larger one
    searches a subset of columns while reporting the full objective). With
    ``exact_every = m > 1`` moves are applied from the incrementally updated factors and the
    support is backsolved exactly (float64) only every m moves: a checkpoint is kept only if
    ``F`` really decreased, otherwise the search returns to the last checkpoint and continues
    with exact checks after every move. ``history`` holds exact values only.

    With ``costs`` and ``budget`` (FALCON) a swap or an addition is scored only if the support
    still fits ``sum_{i in S} costs_i <= budget`` afterwards; ``w`` must fit on entry.

    ``pool > 0`` (compiled moves only): a swap is first sought among the ``pool`` columns of
    largest addition gain and taken if it improves; all pairs are scored only when none does,
    so the search still ends only where no single swap improves. ``pool = 0``: always the
    best of all pairs (the Python loop's rule).
    """
    return run_descents([swap_search_steps(q, k, w, f, **options)])[0]
