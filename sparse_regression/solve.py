"""The core solver: active-set IHT with line search, exact backsolve, swap search."""

from __future__ import annotations

import numbers
import time

import numpy as np
from sklearn.base import BaseEstimator

from . import _kernels as K
from .iht import iht
from .local_search import swap_search, swap_search_memory
from .problem import SparseProblem
from .solution import SparseSolution

__all__ = ["solve", "IHTSolver"]

#: Largest working memory (bytes) the exact swap search may use before it is skipped.
SWAP_MEMORY_LIMIT = 512 * 2**20
#: Largest support for the exact swap search (its Cholesky factor is s x s).
SWAP_MAX_SUPPORT = 4000


def _log(verbose, msg):
    if verbose:
        print(f"[chita] {msg}", flush=True)


def _initial_point(problem: SparseProblem, w0) -> np.ndarray:
    p, k = problem.n_features, problem.k
    if w0 is None:
        if problem.has_w_ref:
            w0 = problem.w_ref
        else:
            return np.zeros(p)
    w0 = np.asarray(w0, dtype=np.float64)
    if w0.shape != (p,):
        raise ValueError(f"w0 must have shape ({p},), got {w0.shape}.")
    if not np.all(np.isfinite(w0)):
        raise ValueError("w0 contains NaN or inf.")
    w = np.zeros(p)
    if np.count_nonzero(w0) > k:
        keep = K.topk_abs(w0, k)
    else:
        keep = np.flatnonzero(w0)
    w[keep] = w0[keep]
    return w


def _screen_scores(g, col_sq, ridge):
    """How much adding each coordinate alone would lower F (times 2): g_j^2 / ||a~_j||^2."""
    den = col_sq + ridge
    out = np.zeros_like(g)
    ok = den > 0
    out[ok] = g[ok] ** 2 / den[ok]
    return out


def _active_set_iht(problem, w, *, max_iter, tol, verbose, max_rounds=30):
    """IHT on a working set of columns, grown by full-gradient checks."""
    A, b, k, ridge = problem.A, problem.b, problem.k, problem.ridge
    p = problem.n_features
    w_ref = problem.w_ref if problem.has_w_ref else None
    col_sq = problem.column_sq_norms()
    size = min(p, max(2 * k, k + 10))
    history, n_iter, n_back, rounds = [], 0, 0, 0
    converged = False
    if size >= 0.6 * p:
        res = iht(A, b, k, w, ridge=ridge, w_ref=w_ref, max_iter=max_iter, tol=tol)
        return res.coef, res.objective, res.history, res.n_iter, res.converged, res.n_backsolves, 0

    g = problem.gradient(w)
    nz = np.flatnonzero(w)
    score = _screen_scores(g, col_sq, ridge)
    score[nz] = np.inf
    W = np.sort(K.topk_abs(score, size))
    ref_sq = float(w_ref @ w_ref) if w_ref is not None else 0.0
    for rounds in range(1, max_rounds + 1):  # noqa: B007
        B = K.gather_columns(A, W)
        ref_W = w_ref[W] if w_ref is not None else None
        const = 0.5 * ridge * (ref_sq - float(ref_W @ ref_W)) if w_ref is not None else 0.0
        res = iht(
            B,
            b,
            k,
            w[W],
            ridge=ridge,
            w_ref=ref_W,
            const=const,
            max_iter=max(1, max_iter - n_iter),
            tol=tol,
        )
        history.extend(res.history if not history else res.history[1:])
        n_iter += res.n_iter
        n_back += res.n_backsolves
        w = np.zeros(p)
        w[W] = res.coef
        f = res.objective
        # Full-gradient check: columns outside W whose entry would beat the weakest member of
        # the support (gain of adding j alone vs. loss of removing i alone).
        g = problem.gradient(w)
        nz = np.flatnonzero(w)
        raw = _screen_scores(g, col_sq, ridge)
        outside = raw.copy()
        outside[W] = 0.0
        weakest = float(np.min(w[nz] ** 2 * (col_sq[nz] + ridge))) if nz.size else 0.0
        viol = np.flatnonzero(outside > weakest * (1 + 1e-12))
        _log(
            verbose,
            f"active set round {rounds}: |W|={W.size}, F={f:.6g}, {viol.size} outside candidates",
        )
        if viol.size == 0:
            converged = res.converged
            break
        if n_iter >= max_iter:
            break
        add = viol[np.argsort(-outside[viol])[: max(k // 2, 10)]]
        # New working set: the support, the strongest other members of W, the entrants.
        extra = np.setdiff1d(W, nz)
        extra = extra[np.argsort(-raw[extra])][: max(0, size - nz.size)]
        W = np.union1d(np.union1d(nz, extra), add)
    return w, f, history, n_iter, converged, n_back, rounds


def solve(
    problem: SparseProblem,
    *,
    w0=None,
    max_iter: int = 1000,
    tol: float = 1e-7,
    local_search: bool = True,
    active_set: bool = True,
    max_swaps: int | None = None,
    random_state=None,
    verbose: bool = False,
) -> SparseSolution:
    """Solve ``min 1/2||Aw - b||^2 + ridge/2||w - w_ref||^2  s.t.  ||w||_0 <= k``.

    Parameters
    ----------
    problem : SparseProblem
    w0 : array of shape (p,), optional
        Starting point, projected onto the k-sparse set. Defaults to ``P_k(w_ref)`` (magnitude
        pruning of the reference) when ``w_ref`` is set, else 0.
    max_iter : int
        Maximum IHT iterations (over all active-set rounds).
    tol : float
        Relative decrease below which the support is treated as settled (then backsolved).
    local_search : bool
        Run the exact swap search after IHT (skipped, with a note in ``info``, when its
        memory ``~24 k p`` bytes exceeds ``SWAP_MEMORY_LIMIT``).
    active_set : bool
        Iterate on about 2k columns and grow the set by full-gradient checks.
    max_swaps : int, optional
        Cap on swap/add moves (default ``max(100, 10 k)``).
    random_state : None, int or Generator
        Accepted for API symmetry; the solver is deterministic.
    verbose : bool
        Print progress.

    Returns
    -------
    SparseSolution
        ``optimality`` is ``"swap-optimal"`` when the swap search finished, otherwise
        ``"stationary"``.
    """
    if not isinstance(problem, SparseProblem):
        raise TypeError(f"problem must be a SparseProblem, got {type(problem).__name__}.")
    for name, val in (("max_iter", max_iter),):
        if isinstance(val, bool) or not isinstance(val, numbers.Integral) or val < 1:
            raise ValueError(f"{name} must be a positive integer, got {val!r}.")
    if not (isinstance(tol, numbers.Real) and tol >= 0):
        raise ValueError(f"tol must be a non-negative number, got {tol!r}.")
    t0 = time.perf_counter()
    w = _initial_point(problem, w0)
    k, p = problem.k, problem.n_features
    _log(verbose, f"solve {problem!r}")

    info = {}
    if active_set:
        w, f, history, n_iter, converged, n_back, rounds = _active_set_iht(
            problem, w, max_iter=max_iter, tol=tol, verbose=verbose
        )
        info["active_set_rounds"] = rounds
    else:
        res = iht(
            problem.A,
            problem.b,
            k,
            w,
            ridge=problem.ridge,
            w_ref=problem.w_ref if problem.has_w_ref else None,
            max_iter=max_iter,
            tol=tol,
        )
        w, f, history, n_iter, converged, n_back = (
            res.coef,
            res.objective,
            res.history,
            res.n_iter,
            res.converged,
            res.n_backsolves,
        )
    info["n_backsolves"] = n_back
    info["iht_objective"] = f
    _log(verbose, f"IHT: F={f:.8g} after {n_iter} iterations ({time.perf_counter() - t0:.3f}s)")

    optimality = "stationary"
    if local_search:
        s = max(int(np.count_nonzero(w)), 1)
        need = swap_search_memory(k, p)
        if need > SWAP_MEMORY_LIMIT or k > SWAP_MAX_SUPPORT:
            info["local_search_skipped"] = (
                f"swap search needs ~{need / 2**20:.0f} MiB for k={k}, p={p} "
                f"(limit {SWAP_MEMORY_LIMIT / 2**20:.0f} MiB, k <= {SWAP_MAX_SUPPORT})"
            )
            _log(verbose, info["local_search_skipped"])
        else:
            del s
            sw = swap_search(
                problem.A,
                problem.b,
                k,
                w,
                f,
                ridge=problem.ridge,
                w_ref=problem.w_ref if problem.has_w_ref else None,
                col_sq=problem.column_sq_norms(),
                max_moves=max_swaps,
            )
            history.extend(sw.history[1:])
            w, f = sw.coef, sw.objective
            info["n_swaps"], info["n_adds"] = sw.n_swaps, sw.n_adds
            if sw.swap_optimal:
                optimality = "swap-optimal"
            else:
                converged = False
            _log(verbose, f"swap search: F={f:.8g}, {sw.n_swaps} swaps, {sw.n_adds} additions")

    return SparseSolution(
        coef=w,
        objective=f,
        n_iter=n_iter,
        converged=bool(converged),
        history=np.asarray(history),
        time=time.perf_counter() - t0,
        optimality=optimality,
        solver="iht",
        info=info,
    )


class IHTSolver(BaseEstimator):
    """The core solver as a protocol object: ``IHTSolver(...).solve(problem, warm_start)``.

    Parameters are those of :func:`solve`; ``clone``-able like any scikit-learn estimator.
    """

    def __init__(
        self,
        max_iter=1000,
        tol=1e-7,
        local_search=True,
        active_set=True,
        max_swaps=None,
        random_state=None,
        verbose=False,
    ):
        self.max_iter = max_iter
        self.tol = tol
        self.local_search = local_search
        self.active_set = active_set
        self.max_swaps = max_swaps
        self.random_state = random_state
        self.verbose = verbose

    def solve(self, problem: SparseProblem, warm_start=None) -> SparseSolution:
        return solve(
            problem,
            w0=warm_start,
            max_iter=self.max_iter,
            tol=self.tol,
            local_search=self.local_search,
            active_set=self.active_set,
            max_swaps=self.max_swaps,
            random_state=self.random_state,
            verbose=self.verbose,
        )
