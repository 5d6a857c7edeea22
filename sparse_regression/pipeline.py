"""The solve pipeline of the core: starts -> IHT -> active set -> backsolve -> local search.

:func:`solve` (and its protocol object :class:`IHTSolver`) chains the pieces: the start
(``w0`` or ``P_k(w_ref)``), IHT with line search (:mod:`.iht`; on an active set of columns,
:mod:`.active_set`), exact backsolves (:mod:`.backsolve`), then the swap search that fits the
problem (:mod:`.swaps`): exact single swaps plus a greedy start and perturbations for small
problems, the Woodbury pool (ridge > 0) or the working set (ridge = 0) for large ones. The
work limits that choose between them are in :mod:`.constants`.
"""

from __future__ import annotations

import numbers
import time

import numpy as np
from sklearn.base import BaseEstimator

from . import _kernels as K
from . import constants as C
from .active_set import active_set_iht, run_iht
from .budgeted_iht import project_support
from .portfolio import DEFAULT_STARTS, STARTS, portfolio_search
from .problem import SparseProblem
from .solution import SparseSolution
from .swaps import (
    GramRows,
    perturbation_search,
    swap_search,
    swap_search_cost,
    woodbury_swap_search,
    working_set_swap_search,
)
from .threads import blas_limit, resolve_n_jobs, thread_limit

__all__ = ["solve", "IHTSolver"]


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
    if problem.has_budget and not problem.is_feasible(w0):
        keep = project_support(w0, k, problem.cost_levels, problem.budget)
    elif np.count_nonzero(w0) > k:
        keep = K.topk_abs(w0, k)
    else:
        keep = np.flatnonzero(w0)
    w[keep] = w0[keep]
    return w


#: The swap searches of large problems: (function, constant naming the default moves per round).
_LARGE_SEARCHES = {
    "woodbury": (woodbury_swap_search, "WOODBURY_MOVES"),
    "working-set": (working_set_swap_search, "WORKING_SET_MOVES"),
}


def _local_search_mode(problem) -> str:
    """Which swap search fits the problem ("full", "woodbury", "working-set"), or why none."""
    n, p, k = problem.n_samples, problem.n_features, problem.k
    mem, setup = swap_search_cost(k, n, p)
    if mem <= C.SWAP_MEMORY_LIMIT and setup <= C.SWAP_MAX_WORK:
        return "full"
    if problem.ridge > 0:
        work = n * n * k + n**3 // 3  # K = ridge I + A_S A_S^T and its factor
        if work <= C.WOODBURY_MAX_WORK:
            return "woodbury"
        return (
            f"a Woodbury swap round for k={k}, n={n}, p={p} needs ~{work:.2g} multiply-adds "
            f"(limit {C.WOODBURY_MAX_WORK:.2g})"
        )
    if k > n:
        return f"k={k} > n={n} without a ridge: every large support interpolates"
    screen = min(n * n, k * n + k * k) * p
    if screen <= C.WORKING_SET_MAX_WORK:
        return "working-set"
    return (
        f"a working-set round for k={k}, n={n}, p={p} needs ~{screen:.2g} multiply-adds "
        f"(limit {C.WORKING_SET_MAX_WORK:.2g})"
    )


def _as_generator(random_state) -> np.random.Generator:
    """A numpy Generator from None, an int, a Generator or a (legacy) RandomState."""
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(random_state.randint(2**32, dtype=np.uint64))
    return np.random.default_rng(random_state)


def _resolve_perturbations(n_perturbations, k, p):
    if n_perturbations == "auto":
        return C.AUTO_PERTURBATIONS if k * p <= C.AUTO_PERTURBATION_SIZE else 0
    if isinstance(n_perturbations, bool) or not isinstance(n_perturbations, numbers.Integral):
        raise ValueError(f"n_perturbations must be 'auto' or an int >= 0, got {n_perturbations!r}.")
    if n_perturbations < 0:
        raise ValueError(f"n_perturbations must be >= 0, got {n_perturbations}.")
    return int(n_perturbations)


def _local_search(problem, w, f, *, max_swaps, n_perturbations, random_state, info, verbose):
    """Problems with a cost budget: swap search (moves that fit the budget) from the IHT point
    and from the greedy (forward) start, then perturbations. (Without a budget the portfolio
    of :mod:`.portfolio` runs instead.)

    Returns (w, f, objective values of successive incumbents, swap_optimal).
    """
    q, A, k = problem.quadratic, problem.A, problem.k
    # One cache of Gram rows serves every restart; it holds at most SWAP_MEMORY_LIMIT / 3.
    gram = GramRows(A, max_rows=max(4 * k, C.SWAP_MEMORY_LIMIT // (24 * problem.n_features)))
    common = dict(gram=gram, max_moves=max_swaps)
    # float64 A: the incrementally updated factors are float64-exact, so moves are checked by
    # an exact backsolve every few moves; float32 A: its Gram rows come from float32 BLAS
    # products, so every move is.
    common["exact_every"] = C.EXACT_EVERY_FLOAT64 if A.dtype == np.float64 else 1
    if problem.has_budget:  # moves only if they fit the cost budget
        common["costs"], common["budget"] = problem.costs, problem.budget
    incumbents = []

    sw = swap_search(q, k, w, f, **common)
    w, f, swap_optimal = sw.coef, sw.objective, sw.swap_optimal
    incumbents.extend(sw.history[1:])
    info["n_swaps"], info["n_adds"] = sw.n_swaps, sw.n_adds
    _log(verbose, f"swap search: F={f:.8g} ({sw.n_swaps} swaps, {sw.n_adds} additions)")

    # Second start: exact forward selection from the empty support, then swaps.
    f0 = problem.objective(np.zeros(problem.n_features))
    gr = swap_search(q, k, np.zeros(problem.n_features), f0, **common)
    info["greedy_start_objective"] = gr.objective
    if gr.objective < f - C.IMPROVEMENT_RTOL * abs(f):
        w, f, swap_optimal = gr.coef, gr.objective, gr.swap_optimal
        incumbents.append(f)
        _log(verbose, f"greedy start improves: F={f:.8g}")

    rounds = _resolve_perturbations(n_perturbations, k, problem.n_features)
    if rounds and swap_optimal:
        rng = _as_generator(random_state)
        w, f, imp = perturbation_search(q, k, w, f, rounds=rounds, rng=rng, **common)
        incumbents.extend(imp)
        info["perturbation_rounds"] = rounds
        info["perturbation_improvements"] = len(imp)
        _log(verbose, f"{rounds} perturbation rounds: F={f:.8g} ({len(imp)} improvements)")
    return w, f, incumbents, swap_optimal


def solve(
    problem: SparseProblem,
    *,
    w0=None,
    max_iter: int = 1000,
    tol: float = C.IHT_TOL,
    local_search: bool = True,
    active_set: bool = True,
    max_swaps: int | None = None,
    swap_rounds: int = 3,
    n_perturbations="auto",
    random_state=None,
    starts="auto",
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
        Run a swap search. The exact one over all columns runs when its memory ``24 k p``
        bytes is at most ``SWAP_MEMORY_LIMIT`` and its set-up at most ``SWAP_MAX_WORK``
        multiply-adds; otherwise it falls back to the Woodbury-space pool search (ridge > 0)
        or the working-set search (ridge = 0), named in ``info["local_search"]``. Only when
        those are too expensive as well is it skipped (reason in
        ``info["local_search_skipped"]``).
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
        ``AUTO_PERTURBATIONS`` rounds when ``k p <= AUTO_PERTURBATION_SIZE``, else none
        (both in :mod:`.constants`).
    random_state : None, int, numpy Generator or RandomState
        Seeds the perturbations (None: fresh randomness); everything else is deterministic.
    starts : "auto" or tuple of str
        Starting points of the exact swap search (problems where it runs over all columns):
        any of ``"iht"``, ``"forward"``, ``"omp"``, ``"splicing"``, ``"screening"`` (see
        :mod:`~sparse_regression.portfolio`); the best end point is kept. "auto":
        ``DEFAULT_STARTS`` = ``("forward", "omp", "splicing")``, with ``"iht"`` (IHT from
        ``P_k(w_ref)``) first when the problem has a reference ``w_ref``. Without ``"iht"``
        the IHT stage is skipped; a given ``w0`` is always a start (IHT from ``w0``).
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
    if isinstance(starts, str) and starts == "auto":
        starts = DEFAULT_STARTS
        if problem.has_w_ref:  # the reference is informative: IHT from P_k(w_ref) is a start
            starts = ("iht", *starts)
    elif isinstance(starts, str) or not all(s in STARTS for s in starts):
        raise ValueError(
            f"starts must be 'auto' or a sequence of names from {STARTS}, got {starts!r}."
        )
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
    if w0 is not None and "iht" not in starts:
        starts = ("iht", *starts)  # a user's start is always descended
    if verbose:
        _log(verbose, f"solve {problem!r}")

    info = {}
    mode = _local_search_mode(problem) if local_search else None
    if mode == "full" and not problem.has_budget and starts and "iht" not in starts:
        # The portfolio's starts do not use the IHT point: do not compute it.
        w, f, history, n_iter, converged = w, problem.objective(w), [], 0, True
        info["iht_skipped"] = "'iht' is not among the starts"
    elif active_set:
        w, f, history, n_iter, converged, n_back, rounds = active_set_iht(
            problem, w, max_iter=max_iter, tol=tol, log=lambda msg: _log(verbose, msg)
        )
        info["active_set_rounds"] = rounds
    else:
        res = run_iht(problem, problem.quadratic, w, max_iter=max_iter, tol=tol)
        w, f, history, n_iter, converged = (
            res.coef,
            res.objective,
            res.history,
            res.n_iter,
            res.converged,
        )
        n_back = res.n_backsolves
    if "iht_skipped" not in info:
        info["n_backsolves"] = n_back
        info["iht_objective"] = f
        info["iht_time"] = time.perf_counter() - t0
        _log(verbose, f"IHT: F={f:.8g} after {n_iter} iterations ({info['iht_time']:.3f}s)")

    optimality = "stationary"
    if local_search:
        if problem.has_budget and mode == "working-set":
            mode = f"the {mode} swap search has no cost budget"
        info["local_search"] = mode
        # The local search is a loop of small BLAS calls (s x s factorisations, s x p
        # products): latency-bound, so extra BLAS threads only add synchronisation cost.
        with blas_limit(C.LOCAL_SEARCH_BLAS_THREADS):
            if mode == "full" and problem.has_budget:
                w, f, incumbents, swap_optimal = _local_search(
                    problem,
                    w,
                    f,
                    max_swaps=max_swaps,
                    n_perturbations=n_perturbations,
                    random_state=random_state,
                    info=info,
                    verbose=verbose,
                )
            elif mode == "full":
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
                    exact_every=C.EXACT_EVERY_FLOAT64 if problem.A.dtype == np.float64 else 1,
                    memory_limit=C.SWAP_MEMORY_LIMIT,
                    info=info,
                    log=(lambda msg: _log(verbose, msg)),
                )
            elif mode in _LARGE_SEARCHES:
                search, default_moves = _LARGE_SEARCHES[mode]
                default_moves = getattr(C, default_moves)
                stats, p_all = {}, problem.n_features
                res = search(
                    problem.quadratic,
                    k,
                    w,
                    f,
                    max_moves=max_swaps if max_swaps is not None else default_moves,
                    max_rounds=swap_rounds,
                    log=(lambda msg: _log(verbose, msg)),
                    **({"stats": stats} if mode == "woodbury" else {}),
                    # the Woodbury pool search takes only moves that fit the cost budget
                    **(
                        {"costs": problem.costs, "budget": problem.budget}
                        if problem.has_budget
                        else {}
                    ),
                )
                if stats.get("ranked", p_all) < p_all - k:
                    info["swap_ranking"] = f"screened: {stats['ranked']} of {p_all} ranked exactly"
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

    # Report F recomputed from the residual of the returned coefficients (float64): the stages
    # above compute it in several ways whose rounding differs.
    # The last history entry is the same point's value: it differs from f by rounding only.
    f = problem.objective(w)
    history = list(history)
    if history:
        history[-1] = f
    else:
        history.append(f)
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
        cost=problem.support_cost(w) if problem.has_budget else None,
    )


class IHTSolver(BaseEstimator):
    """The core solver as a protocol object: ``IHTSolver(...).solve(problem, warm_start)``.

    Parameters are those of :func:`solve`; ``clone``-able like any scikit-learn estimator.
    Unlike :func:`solve`, ``random_state`` defaults to 0: solver objects (used by the
    estimators, the MIP's incumbent and ``prune``) give the same result on every run.
    """

    def __init__(
        self,
        max_iter=1000,
        tol=C.IHT_TOL,
        local_search=True,
        active_set=True,
        max_swaps=None,
        swap_rounds=3,
        n_perturbations="auto",
        random_state=0,
        starts="auto",
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
