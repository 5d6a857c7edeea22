"""Iterated local search: random kicks of a swap-optimal point, each followed by a swap search.

A kick replaces a few random members of the support by random outside coordinates; the kicked
support is backsolved exactly and :func:`~.single.swap_search` descends from it. The best point
over all rounds is kept, so the objective never increases.
"""

from __future__ import annotations

import numpy as np

from ..backsolve import backsolve_support
from ..constants import IMPROVEMENT_RTOL, PERTURBATION_KICK
from ..quadratic import Quadratic
from .single import GramRows, swap_search

__all__ = ["perturbation_search"]


def perturbation_search(
    q: Quadratic,
    k: int,
    w: np.ndarray,
    f: float,
    *,
    rounds: int,
    rng: np.random.Generator,
    kick: int = PERTURBATION_KICK,
    gram: GramRows | None = None,
    max_moves: int | None = None,
    exact_every: int = 1,
    costs: np.ndarray | None = None,
    budget: float | None = None,
    pool: int = 0,
) -> tuple[np.ndarray, float, list]:
    """Iterated local search: kick the best swap-optimal point, descend again, keep the best.

    Each round replaces between 1 and ``kick`` (drawn uniformly) random members of the
    incumbent's support by random outside coordinates, backsolves, and runs
    :func:`swap_search` from there. Returns the best point,
    its objective and the incumbent objective after every improving round. With ``costs``
    and ``budget`` the entering coordinates are drawn among those that still fit, so every
    kicked support satisfies the budget.
    """
    p = q.n_features
    improvements = []
    for _ in range(rounds):
        S = np.flatnonzero(w)
        m = min(int(rng.integers(1, kick + 1)) if kick > 1 else 1, S.size, p - S.size)
        if m == 0:
            break
        out = rng.choice(S, size=m, replace=False)
        outside = np.flatnonzero(~np.isin(np.arange(p), S))
        if costs is None:
            inn = rng.choice(outside, size=m, replace=False)
        else:
            room = budget - float(costs[np.setdiff1d(S, out)].sum())
            inn = []
            for j in rng.permutation(outside):
                if len(inn) == m:
                    break
                if costs[j] <= room:
                    inn.append(j)
                    room -= costs[j]
            inn = np.asarray(inn, dtype=np.int64)
        S2 = np.sort(np.concatenate([np.setdiff1d(S, out), inn]))
        wS, f2 = backsolve_support(q, S2)
        w2 = np.zeros(p)
        w2[S2] = wS
        res = swap_search(
            q,
            k,
            w2,
            f2,
            gram=gram,
            max_moves=max_moves,
            exact_every=exact_every,
            costs=costs,
            budget=budget,
            pool=pool,
        )
        if res.objective < f - IMPROVEMENT_RTOL * abs(f):
            w, f = res.coef, res.objective
            improvements.append(f)
    return w, f, improvements
