"""The core solver: active-set IHT with line search, exact backsolve, swap search."""

from __future__ import annotations

import numbers
import time

import numpy as np
from sklearn.base import BaseEstimator

from . import _kernels as K
from .iht import iht
from .local_search import swap_search_cost
from .portfolio import STARTS, portfolio_search
from .problem import SparseProblem
from .solution import SparseSolution
from .threads import blas_limit, resolve_n_jobs, thread_limit
from .woodbury_swaps import woodbury_swap_search
from .working_set import restrict_to_columns, working_set_swap_search

__all__ = ["solve", "IHTSolver"]

#: Largest working memory (bytes) the exact swap search may use before it is skipped.
SWAP_MEMORY_LIMIT = 512 * 2**20
#: Largest set-up cost (multiply-adds, about k n p + k^2 p) of the swap search over all columns;
#: above it (or above SWAP_MEMORY_LIMIT) the working-set swap search is used instead.
SWAP_MAX_WORK = 2 * 10**9
#: Largest cost of one working-set round's global screen (about min(n^2, k n + k^2) p).
WORKING_SET_MAX_WORK = 5 * 10**10
#: Default moves per working-set round (ridge = 0).
WORKING_SET_MOVES = 100
#: Default moves per round of the Woodbury-space pool search (ridge > 0, large problems).
WOODBURY_MOVES = 1000
#: Largest set-up cost of one Woodbury round (about n^2 (k + p) multiply-adds).
WOODBURY_MAX_WORK = 5 * 10**10
#: Perturbation rounds used by ``n_perturbations="auto"`` on problems with k p at most
#: ``AUTO_PERTURBATION_SIZE``.
AUTO_PERTURBATIONS = 20
#: An active-set round that lowers F by less than this (relative) ends the rounds.
ACTIVE_SET_RTOL = 1e-4
#: Exact backsolve every this many swap moves for float64 A (every move for float32 A).
EXACT_EVERY_FLOAT64 = 8
#: BLAS threads during the local search (its many small products are latency-bound).
LOCAL_SEARCH_BLAS_THREADS = 1
AUTO_PERTURBATION_SIZE = 2 * 10**4


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


def _active_set_iht(problem, w, *, max_iter, tol, verbose, max_rounds=10):
    """IHT on a working set of columns, grown by full-gradient checks.

    Rounds stop when no outside column passes the entry screen, when a round lowers F by less
    than ``ACTIVE_SET_RTOL`` (relative), or after ``max_rounds``.
    """
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
    f_prev = np.inf
    for rounds in range(1, max_rounds + 1):  # noqa: B007
        B, ref_W, const = restrict_to_columns(A, W, ridge, w_ref, ref_sq)
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
        if viol.size == 0 or (np.isfinite(f_prev) and f_prev - f <= ACTIVE_SET_RTOL * abs(f_prev)):
            converged = res.converged
            break
        if n_iter >= max_iter:
            break
        f_prev = f
        add = viol[np.argsort(-outside[viol])[: max(k // 2, 10)]]
        # New working set: the support, the strongest other members of W, the entrants.
        extra = np.setdiff1d(W, nz)
        extra = extra[np.argsort(-raw[extra])][: max(0, size - nz.size)]
        W = np.union1d(np.union1d(nz, extra), add)
    return w, f, history, n_iter, converged, n_back, rounds


#: The swap searches of large problems: (function, default moves per round).
_LARGE_SEARCHES = {
    "woodbury": (woodbury_swap_search, WOODBURY_MOVES),
    "working-set": (working_set_swap_search, WORKING_SET_MOVES),
}


def _local_search_mode(problem) -> str:
    """Which swap search fits the problem ("full", "woodbury", "working-set"), or why none."""
    n, p, k = problem.n_samples, problem.n_features, problem.k
    mem, setup = swap_search_cost(k, n, p)
    if mem <= SWAP_MEMORY_LIMIT and setup <= SWAP_MAX_WORK:
        return "full"
    if problem.ridge > 0:
        work = n * n * (k + p)  # K = ridge I + A_S A_S^T, and ranking every column through it
        if work <= WOODBURY_MAX_WORK:
            return "woodbury"
        return (
            f"a Woodbury swap round for k={k}, n={n}, p={p} needs ~{work:.2g} multiply-adds "
            f"(limit {WOODBURY_MAX_WORK:.2g})"
        )
    if k > n:
        return f"k={k} > n={n} without a ridge: every large support interpolates"
    screen = min(n * n, k * n + k * k) * p
    if screen <= WORKING_SET_MAX_WORK:
        return "working-set"
    return (
        f"a working-set round for k={k}, n={n}, p={p} needs ~{screen:.2g} multiply-adds "
        f"(limit {WORKING_SET_MAX_WORK:.2g})"
    )


def _as_generator(random_state) -> np.random.Generator:
    """A numpy Generator from None, an int, a Generator or a (legacy) RandomState."""
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(random_state.randint(2**32, dtype=np.uint64))
    return np.random.default_rng(random_state)


def _resolve_perturbations(n_perturbations, k, p):
    if n_perturbations == "auto":
        return AUTO_PERTURBATIONS if k * p <= AUTO_PERTURBATION_SIZE else 0
    if isinstance(n_perturbations, bool) or not isinstance(n_perturbations, numbers.Integral):
        raise ValueError(f"n_perturbations must be 'auto' or an int >= 0, got {n_perturbations!r}.")
    if n_perturbations < 0:
        raise ValueError(f"n_perturbations must be >= 0, got {n_perturbations}.")
    return int(n_perturbations)


def solve(
    problem: SparseProblem,
    *,
    w0=None,
    max_iter: int = 1000,
    tol: float = 1e-7,
    local_search: bool = True,
    active_set: bool = True,
    max_swaps: int | None = None,
    swap_rounds: int = 3,
    n_perturbations="auto",
    random_state=None,
    starts=STARTS,
    splicing: bool = True,
    n_jobs: int | None = None,
    verbose: bool = False,
) -> SparseSolution:
    """Solve ``min 1/2||Aw - b||^2 + ridge/2||w - w_ref||^2  s.t.  ||w||_0 <= k``.

    Stages: IHT with CHITA's line search (on an active set of about 2k columns, grown by
    full-gradient checks), exact backsolve on the support, then an exact swap local search
    from that point and from a greedy forward-selection start, then ``n_perturbations`` rounds
    of iterated local search (random kicks of the incumbent followed by swap search).

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
        Run the exact swap search. It is skipped (reason in ``info["local_search_skipped"]``)
        when its memory ``24 k p`` bytes exceeds ``SWAP_MEMORY_LIMIT`` or one move costs more
        than ``SWAP_MAX_WORK`` multiply-adds.
    active_set : bool
        Iterate on about 2k columns and grow the set by full-gradient checks.
    max_swaps : int, optional
        Cap on moves per swap search (default ``max(100, 10 k)``; per round for large
        problems).
    swap_rounds : int
        Rounds of the large-problem swap searches (candidate columns re-selected from all
        ``p`` each round); unused by the exact swap search of small problems.
    n_perturbations : int or "auto"
        Rounds of iterated local search after the swap search. "auto" uses
        ``AUTO_PERTURBATIONS`` rounds when ``k p <= AUTO_PERTURBATION_SIZE``, else none.
    random_state : None, int, numpy Generator or RandomState
        Seeds the perturbations (None: fresh randomness); everything else is deterministic.
    starts : tuple of str
        Starting points of the exact swap search (problems where it runs over all columns):
        any of ``"iht"``, ``"forward"``, ``"omp"``, ``"screening"`` (see
        :mod:`~sparse_regression.portfolio`); the best end point is kept.
    splicing : bool
        Exchange several coordinates at once where single swaps stall (exact search only).
    n_jobs : int or None
        Threads for the Numba kernels and BLAS (scikit-learn's convention: None -> 1,
        -1 -> all cores). The result does not depend on it beyond float rounding.
    verbose : bool
        Print progress.

    Returns
    -------
    SparseSolution
        ``optimality`` is ``"swap-optimal"`` only when an exact check of every single swap
        (and addition, while fewer than k nonzeros) of the returned support found none that
        lowers F by more than 1e-10 |F| (``info["max_swap_gain"]``: the largest decrease
        found), or, for large problems, when the working-set search's bound certified it over
        all columns; otherwise ``"stationary"`` (an exact minimiser on its support that the
        line search cannot improve).
    """
    if not isinstance(problem, SparseProblem):
        raise TypeError(f"problem must be a SparseProblem, got {type(problem).__name__}.")
    if isinstance(max_iter, bool) or not isinstance(max_iter, numbers.Integral) or max_iter < 1:
        raise ValueError(f"max_iter must be a positive integer, got {max_iter!r}.")
    if isinstance(tol, bool) or not isinstance(tol, numbers.Real) or not tol >= 0:
        raise ValueError(f"tol must be a non-negative number, got {tol!r}.")
    if max_swaps is not None and (
        isinstance(max_swaps, bool) or not isinstance(max_swaps, numbers.Integral) or max_swaps < 0
    ):
        raise ValueError(f"max_swaps must be None or an int >= 0, got {max_swaps!r}.")
    if (
        isinstance(swap_rounds, bool)
        or not isinstance(swap_rounds, numbers.Integral)
        or swap_rounds < 0
    ):
        raise ValueError(f"swap_rounds must be an int >= 0, got {swap_rounds!r}.")
    _resolve_perturbations(n_perturbations, problem.k, problem.n_features)
    resolve_n_jobs(n_jobs)
    if isinstance(starts, str) or not all(s in STARTS for s in starts):
        raise ValueError(f"starts must be a sequence of names from {STARTS}, got {starts!r}.")
    t0 = time.perf_counter()
    with thread_limit(n_jobs):
        return _solve(
            problem,
            w0=w0,
            max_iter=max_iter,
            tol=tol,
            local_search=local_search,
            active_set=active_set,
            max_swaps=max_swaps,
            swap_rounds=swap_rounds,
            n_perturbations=n_perturbations,
            random_state=random_state,
            starts=tuple(starts),
            splicing=splicing,
            verbose=verbose,
            t0=t0,
        )


def _solve(
    problem,
    *,
    w0,
    max_iter,
    tol,
    local_search,
    active_set,
    max_swaps,
    swap_rounds,
    n_perturbations,
    random_state,
    starts,
    splicing,
    verbose,
    t0,
) -> SparseSolution:
    w = _initial_point(problem, w0)
    k = problem.k
    if verbose:
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
        w, f, history, n_iter, converged = (
            res.coef,
            res.objective,
            res.history,
            res.n_iter,
            res.converged,
        )
        n_back = res.n_backsolves
    info["n_backsolves"] = n_back
    info["iht_objective"] = f
    info["iht_time"] = time.perf_counter() - t0
    _log(verbose, f"IHT: F={f:.8g} after {n_iter} iterations ({info['iht_time']:.3f}s)")

    optimality = "stationary"
    if local_search:
        mode = _local_search_mode(problem)
        info["local_search"] = mode
        # The local search is a loop of small BLAS calls (s x s factorisations, s x p
        # products): latency-bound, so extra BLAS threads only add synchronisation cost.
        with blas_limit(LOCAL_SEARCH_BLAS_THREADS):
            if mode == "full":
                rounds = _resolve_perturbations(n_perturbations, k, problem.n_features)
                w, f, incumbents, swap_optimal = portfolio_search(
                    problem,
                    w,
                    f,
                    starts=starts,
                    splicing=splicing,
                    max_swaps=max_swaps,
                    perturbation_rounds=rounds,
                    rng=_as_generator(random_state) if rounds else None,
                    # float64 A: the incrementally updated factors are float64-exact, so moves
                    # are checked by an exact backsolve every few moves; float32 A: its Gram
                    # rows come from float32 BLAS products, so every move is.
                    exact_every=EXACT_EVERY_FLOAT64 if problem.A.dtype == np.float64 else 1,
                    memory_limit=SWAP_MEMORY_LIMIT,
                    info=info,
                    log=(lambda msg: _log(verbose, msg)),
                )
            elif mode in _LARGE_SEARCHES:
                search, default_moves = _LARGE_SEARCHES[mode]
                res = search(
                    problem.A,
                    problem.b,
                    k,
                    w,
                    f,
                    ridge=problem.ridge,
                    w_ref=problem.w_ref if problem.has_w_ref else None,
                    col_sq=problem.column_sq_norms(),
                    max_moves=max_swaps if max_swaps is not None else default_moves,
                    max_rounds=swap_rounds,
                    log=(lambda msg: _log(verbose, msg)),
                )
                w, f, incumbents = res.coef, res.objective, res.history[1:]
                # the working-set search certifies over all p columns; the pool search does not
                swap_optimal = res.swap_optimal
                info["n_swaps"], info["n_adds"] = res.n_swaps, res.n_adds
            else:
                incumbents, swap_optimal = [], False
                info["local_search_skipped"] = mode
                _log(verbose, "swap search skipped: " + mode)
        history.extend(incumbents)
        if swap_optimal:
            optimality = "swap-optimal"
        elif mode == "full":
            converged = False

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
        swap_rounds=3,
        n_perturbations="auto",
        random_state=None,
        starts=STARTS,
        splicing=True,
        n_jobs=None,
        verbose=False,
    ):
        self.starts = starts
        self.splicing = splicing
        self.n_jobs = n_jobs
        self.swap_rounds = swap_rounds
        self.n_perturbations = n_perturbations
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
            swap_rounds=self.swap_rounds,
            n_perturbations=self.n_perturbations,
            random_state=self.random_state,
            starts=self.starts,
            splicing=self.splicing,
            n_jobs=self.n_jobs,
            verbose=self.verbose,
        )
