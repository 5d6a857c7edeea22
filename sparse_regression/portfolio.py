"""The local search of problems small enough for the exact swap search over all columns.

A portfolio of cheap starts, each descended by the exact swap search, the best end point kept
(forward selection and OMP leave their columns' Gram rows in the cache the descents read);
then, until nothing improves: an exact check of every single swap of the incumbent (a verified
improving move resumes the search), splicing (several coordinates exchanged at once, where single
swaps stall on correlated columns), and optional perturbation rounds. The label
"swap-optimal" is set only from the final exact check of the returned support.

Starts (``STARTS``): ``"iht"`` (the IHT point the solver computed), ``"forward"`` (exact forward
selection from the empty support: the swap search's additions), ``"omp"``
(:func:`~sparse_regression.starts.omp_start`), ``"splicing"`` (abess's splicing descent,
:func:`~sparse_regression.starts.splicing_start`), ``"screening"``
(:func:`~sparse_regression.starts.screening_start`).
"""

from __future__ import annotations

import numpy as np

from . import constants as C
from .constants import IMPROVEMENT_RTOL, PORTFOLIO_MAX_ROUNDS
from .starts import (
    forward_start,
    omp_start,
    portfolio_starts,
    screening_start,
    splicing_start,
)
from .swap_check import check_swaps, splice
from .swaps import GramRows, perturbation_search, swap_search
from .swaps.single import run_descents, swap_search_steps

__all__ = ["DEFAULT_STARTS", "STARTS", "portfolio_search"]

#: Every start available, and the default portfolio (``solve(starts="auto")`` adds "iht" when
#: the problem has a reference w_ref). Chosen by benchmarks/portfolio_variants.py: forward
#: selection, OMP and splicing each end best on instances where the other two lose to an
#: anchor (abess or OMP); "iht" from 0 and "screening" rarely add to them and cost a descent.
STARTS = ("iht", "forward", "omp", "splicing", "screening")
DEFAULT_STARTS = ("forward", "omp", "splicing")


def portfolio_search(
    problem,
    w: np.ndarray,
    f: float,
    *,
    starts=DEFAULT_STARTS,
    splicing: bool = True,
    max_swaps: int | None,
    perturbation_rounds: int,
    rng,
    exact_every: int,
    memory_limit: int,
    info: dict,
    log=None,
):
    """Returns ``(w, f, incumbent objectives, swap_optimal)``; fills ``info``."""
    q, k = problem.quadratic, problem.k
    p = problem.n_features
    # a solve at k = 30 holds 75-140 rows (starts, descents, checks): room for 4 k + 16
    gram = GramRows(q.A, max_rows=max(4 * k, memory_limit // (24 * p)), initial_rows=4 * k + 16)
    search = dict(gram=gram, max_moves=max_swaps, exact_every=exact_every, pool=C.SWAP_POOL)
    incumbents: list[float] = []
    start_objectives = {}
    counts = {"n_swaps": 0, "n_adds": 0}

    def descend(w0, f0):
        sw = swap_search(q, k, w0, f0, **search)
        counts["n_swaps"] += sw.n_swaps
        counts["n_adds"] += sw.n_adds
        return sw

    def true_value(w_new, f_claimed):
        """F from the residual: a backsolve's own value can be off on scaled or degenerate
        supports (fuzz cases 67202, 149433), and the incumbent must never get worse."""
        return q.value(w_new) if w_new is not None else f_claimed

    best_w, best_f = None, np.inf
    # forward selection, OMP (and splicing) computed together: shared passes over A
    paired = {}
    if "forward" in starts and "omp" in starts:
        paired = portfolio_starts(q, k, gram=gram, splicing="splicing" in starts)
    points = []
    for name in starts:
        if name == "iht":
            w0, f0 = w, f
        elif name == "forward":
            fw = paired["forward"] if paired else forward_start(q, k, gram=gram)
            w0, f0 = fw if fw is not None else (np.zeros(p), q.f_zero)
        elif name == "omp":
            w0, f0 = paired["omp"] if paired else omp_start(q, k, gram=gram)
        elif name == "splicing":
            w0, f0 = paired["splicing"] if "splicing" in paired else splicing_start(q, k)
        elif name == "screening":
            w0, f0 = screening_start(q, k)
        else:
            raise ValueError(f"starts: unknown start {name!r}; choose from {STARTS}.")
        if name != "iht":
            f0 = q.value(w0)  # every start is compared on F recomputed from its residual
        points.append((name, w0, f0))
    # The descents run together (the Gram rows their moves need from shared passes over A)
    # where A is large and their states (H and Z, k x p each) small: C.LOCKSTEP_*.
    descents = [swap_search_steps(q, k, w0, f0, **search) for _, w0, f0 in points]
    state_bytes = len(points) * 16 * k * p
    if 8 * q.n_samples * p >= C.LOCKSTEP_MIN_A_BYTES and state_bytes <= min(
        C.LOCKSTEP_MAX_STATE_BYTES, memory_limit
    ):
        results = run_descents(descents)
    else:
        results = [run_descents([d])[0] for d in descents]
    for (name, _, f0), sw in zip(points, results, strict=True):
        counts["n_swaps"] += sw.n_swaps
        counts["n_adds"] += sw.n_adds
        if name != "iht":  # the IHT point's value is the one the history already holds
            sw.objective = true_value(sw.coef, sw.objective)
        start_objectives[name] = sw.objective
        if log is not None:
            log(f"start {name}: F={f0:.8g} -> {sw.objective:.8g} after {sw.n_swaps} swaps")
        if best_w is None or sw.objective < best_f - IMPROVEMENT_RTOL * abs(best_f):
            best_w, best_f = sw.coef, sw.objective
            incumbents.append(best_f)
            info["best_start"] = name
    info["start_objectives"] = start_objectives
    if best_w is None:  # no start given
        best_w, best_f = w, f

    n_spliced = n_checked_moves = 0
    perturbed = False
    check = None
    for _ in range(PORTFOLIO_MAX_ROUNDS):
        check = check_swaps(q, k, best_w, best_f, gram=gram)
        nxt = check.improved
        if nxt is not None:
            nxt = (nxt[0], true_value(*nxt))
            if not nxt[1] < best_f:
                nxt = None
        if nxt is not None:
            n_checked_moves += 1
        elif splicing and check.g is not None:
            nxt = splice(q, k, check, best_f)
            if nxt is not None:
                nxt = (nxt[0], true_value(*nxt))
                if not nxt[1] < best_f:
                    nxt = None
            if nxt is not None:
                n_spliced += 1
        if nxt is None and perturbation_rounds and not perturbed:
            perturbed = True
            w2, f2, imp = perturbation_search(
                q, k, best_w, best_f, rounds=perturbation_rounds, rng=rng, **search
            )
            info["perturbation_rounds"] = perturbation_rounds
            info["perturbation_improvements"] = len(imp)
            f2 = true_value(w2, f2)
            if imp and f2 < best_f:
                best_w, best_f = w2, f2
                incumbents.extend(imp)
                continue
        if nxt is None:
            break
        sw = descend(nxt[0], nxt[1])
        f_sw = true_value(sw.coef, sw.objective)
        best_w, best_f = (sw.coef, f_sw) if f_sw < nxt[1] else nxt
        incumbents.append(best_f)
        if log is not None:
            log(f"polish: F={best_f:.8g}")
    else:
        check = check_swaps(q, k, best_w, best_f, gram=gram)
        f_improved = true_value(*check.improved) if check.improved is not None else np.inf
        if f_improved < best_f:
            best_w, best_f = check.improved[0], f_improved
            incumbents.append(best_f)
            check = check_swaps(q, k, best_w, best_f, gram=gram)
    info.update(counts)
    info["splices"] = n_spliced
    info["checked_moves"] = n_checked_moves
    info["max_swap_gain"] = float(check.max_gain)
    return best_w, best_f, incumbents, bool(check.optimal and check.improved is None)
