"""Projection onto a cardinality AND a cost budget: the two-constraint 0/1 knapsack of FALCON.

For a point ``u`` the closest point (in the Euclidean norm) of

    {w : ||w||_0 <= k,  sum_i f_i [w_i != 0] <= budget}        (f_i >= 0)

keeps ``u`` on the set z that solves

    maximise sum_i v_i z_i   s.t.  sum_i z_i <= k,  sum_i f_i z_i <= budget,  z in {0,1}^p,

with ``v_i = u_i^2``. Algorithm (FALCON, AISTATS 2024, with a stronger rounding):

1. **Levels.** Items with equal cost form a level (one per layer in pruning); within a level
   the items are sorted once by value, so a selection is a vector of counts ``n_l`` (the top
   ``n_l`` of each level) and prefix sums give its value in O(1).
2. **LP dual.** ``D(lam, om) = om k + lam budget + sum_i max(0, v_i - lam f_i - om)``. For a
   fixed ``lam`` the best ``om`` is the (k+1)-th largest ``c_i = v_i - lam f_i`` (or 0), found
   by bisection on a threshold over the merged per-level lists (each level's ``c`` keeps its
   order). ``g(lam) = min_om D`` is convex and piecewise linear; its subgradient is
   ``budget - cost(S(lam))`` with ``S(lam)`` the top-k positive ``c``, so a bisection on
   ``lam in [0, max v_i / f_i]`` finds the minimiser ``lam*``. ``S(lam* + 0)`` satisfies both
   constraints, ``S(lam* - 0)`` violates the budget; the LP optimum mixes the two.
3. **Rounding and repair.** Both neighbours are made integer-feasible (the infeasible one by
   dropping its least cost-effective items), filled greedily with the most valuable items that
   still fit both constraints (FALCON's prefix rounding stops at the first item that does not
   fit), then improved by exchange moves between levels (drop one or two items of a level, add
   one or two of another, refill) until none helps. The best of the two is returned; it
   satisfies both constraints exactly.

``g(lam*)`` is an upper bound on the optimum, reported as ``KnapsackResult.upper_bound``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba as nb
import numpy as np

from .constants import (
    BUDGET_RTOL,
    KNAPSACK_BISECTION_STEPS,
    KNAPSACK_IMPROVE_RTOL,
    KNAPSACK_MAX_EVALS,
    KNAPSACK_MOVE_LEVELS,
    TINY,
)

__all__ = ["CostLevels", "KnapsackResult", "knapsack_support", "project_knapsack"]


class CostLevels:
    """Per-feature costs grouped into levels of equal cost (computed once, reused per call).

    Parameters
    ----------
    costs : array of shape (p,)
        Finite, non-negative costs.

    Attributes
    ----------
    values : ndarray of shape (L,)
        The distinct costs, decreasing.
    level_of : ndarray of shape (p,)
        Level index of every feature.
    order : ndarray of shape (p,)
        Features grouped by level (stable), so ``order[offsets[l]:offsets[l+1]]`` is level l.
    offsets : ndarray of shape (L + 1,)
    """

    def __init__(self, costs):
        costs = np.asarray(costs, dtype=np.float64)
        if costs.ndim != 1:
            raise ValueError(f"costs must be a 1-D array, got shape {costs.shape}.")
        if not np.all(np.isfinite(costs)) or np.any(costs < 0):
            raise ValueError("costs must be finite and >= 0.")
        self.costs = costs
        values, inverse = np.unique(costs, return_inverse=True)
        # decreasing cost: the branch and bound fixes the expensive levels first
        self.values = np.ascontiguousarray(values[::-1])
        self.level_of = (values.size - 1 - inverse).astype(np.int64)
        counts = np.bincount(self.level_of, minlength=self.values.size)
        self.offsets = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
        self.order = _bucket_order(self.level_of, self.offsets)

    @property
    def n_levels(self) -> int:
        return int(self.values.size)

    @property
    def total(self) -> float:
        """Cost of keeping every feature."""
        return float(self.costs.sum())

    def cost(self, support) -> float:
        """``sum_{i in support} f_i``."""
        return float(self.costs[np.asarray(support, dtype=np.int64)].sum())


@dataclass
class KnapsackResult:
    """Answer of :func:`knapsack_support`.

    Attributes
    ----------
    support : sorted int64 indices of the kept items.
    value : ``sum v_i`` over the support.
    cost : ``sum f_i`` over the support.
    upper_bound : ``g(lam*)``, the LP bound (>= the integer optimum).
    multiplier : ``lam*``, the budget's multiplier.
    proven : whether the set is proven optimal (bound met, or the branch and bound finished).
    """

    support: np.ndarray
    value: float
    cost: float
    upper_bound: float
    multiplier: float
    proven: bool = False


# ---------------------------------------------------------------------------- numba kernels
@nb.njit(cache=True)
def _bucket_order(level_of, offsets):
    """Stable counting sort of the features by level."""
    nxt = offsets[:-1].copy()
    order = np.empty(level_of.size, np.int64)
    for i in range(level_of.size):
        order[nxt[level_of[i]]] = i
        nxt[level_of[i]] += 1
    return order


@nb.njit(cache=True)
def _sort_segments(vg, offsets):
    """Permutation sorting each segment ``vg[offsets[l]:offsets[l+1]]`` by decreasing value."""
    perm = np.empty(vg.size, np.int64)
    for l in range(offsets.size - 1):
        a, b = offsets[l], offsets[l + 1]
        if b > a:
            perm[a:b] = a + np.argsort(-vg[a:b])
    return perm


@nb.njit(cache=True)
def _count_above(vs, lo, hi, t):
    """Number of entries > t in the decreasing run vs[lo:hi]."""
    a, b = lo, hi
    while a < b:
        m = (a + b) >> 1
        if vs[m] > t:
            a = m + 1
        else:
            b = m
    return a - lo


@nb.njit(cache=True)
def _select(vs, offsets, fl, lam, k, counts, l0=0):
    """Top-k positive ``c = v - lam f`` over levels ``l0..L-1`` as per-level counts; returns the
    threshold ``om``."""
    L = fl.size
    total = 0
    cmax = 0.0
    for l in range(l0, L):
        n = _count_above(vs, offsets[l], offsets[l + 1], lam * fl[l])
        counts[l] = n
        total += n
        if offsets[l + 1] > offsets[l]:
            c0 = vs[offsets[l]] - lam * fl[l]
            if c0 > cmax:
                cmax = c0
    if total <= k:
        return 0.0
    lo, hi = 0.0, cmax  # count(lo) > k, count(hi) = 0 <= k
    for _ in range(KNAPSACK_BISECTION_STEPS):
        mid = 0.5 * (lo + hi)
        if mid <= lo or mid >= hi:
            break
        total = 0
        for l in range(l0, L):
            total += _count_above(vs, offsets[l], offsets[l + 1], mid + lam * fl[l])
        if total > k:
            lo = mid
        else:
            hi = mid
            if total == k:
                break
    for l in range(l0, L):
        counts[l] = _count_above(vs, offsets[l], offsets[l + 1], hi + lam * fl[l])
    return hi


@nb.njit(cache=True)
def _cost(counts, fl):
    s = 0.0
    for l in range(fl.size):
        s += counts[l] * fl[l]
    return s


@nb.njit(cache=True)
def _value(counts, prefix, offsets):
    s = 0.0
    for l in range(counts.size):
        s += prefix[offsets[l] + counts[l]] - prefix[offsets[l]]
    return s


@nb.njit(cache=True)
def _dual(vs, prefix, offsets, fl, lam, k, budget, counts, l0=0):
    """``g(lam) = lam budget + om k + sum max(0, c_i - om)`` over levels ``l0..L-1``."""
    om = _select(vs, offsets, fl, lam, k, counts, l0)
    s = lam * budget + om * k
    for l in range(l0, fl.size):
        n = counts[l]
        s += prefix[offsets[l] + n] - prefix[offsets[l]] - n * (lam * fl[l] + om)
    return s


@nb.njit(cache=True)
def _fill(counts, vs, offsets, fl, k, budget, size, cost):
    """Greedily add the most valuable next item of any level that fits both constraints."""
    L = fl.size
    tol = BUDGET_RTOL * max(abs(budget), 1.0)
    while size < k:
        best, best_v = -1, -1.0
        for l in range(L):
            j = offsets[l] + counts[l]
            if j < offsets[l + 1] and cost + fl[l] <= budget + tol and vs[j] > best_v:
                best, best_v = l, vs[j]
        if best < 0 or best_v <= 0.0:
            break
        counts[best] += 1
        size += 1
        cost += fl[best]
    return size, cost


@nb.njit(cache=True)
def _repair(counts, vs, offsets, fl, budget, cost):
    """Drop the least cost-effective last items (smallest v / f) until the budget holds."""
    L = fl.size
    tol = BUDGET_RTOL * max(abs(budget), 1.0)
    while cost > budget + tol:
        worst, worst_r = -1, np.inf
        for l in range(L):
            if counts[l] > 0 and fl[l] > 0:
                r = vs[offsets[l] + counts[l] - 1] / fl[l]
                if r < worst_r:
                    worst, worst_r = l, r
        if worst < 0:
            break
        counts[worst] -= 1
        cost -= fl[worst]
    return cost


@nb.njit(cache=True)
def _improve(counts, vs, prefix, offsets, fl, k, budget, cand, max_rounds):
    """Exchange moves among the candidate levels: drop r in {0,1,2} of level a, add m in
    {1,2} of level b (and optionally one of level c), then refill; first improvement wins."""
    tol = BUDGET_RTOL * max(abs(budget), 1.0)
    size = 0
    for l in range(counts.size):
        size += counts[l]
    cost = _cost(counts, fl)
    value = _value(counts, prefix, offsets)
    trial = counts.copy()
    C = cand.size
    for _ in range(max_rounds):
        improved = False
        for ia in range(C):
            a = cand[ia]
            for r in range(0, 3):
                if counts[a] < r:
                    break
                out_v = prefix[offsets[a] + counts[a]] - prefix[offsets[a] + counts[a] - r]
                for ib in range(C):
                    b = cand[ib]
                    if b == a:
                        continue
                    for m in range(1, 3):
                        if counts[b] + m > offsets[b + 1] - offsets[b]:
                            break
                        for ic in range(-1, C):
                            c = -1 if ic < 0 else cand[ic]
                            if c == a:
                                continue
                            # add m of b, and one of c (c == b means one more of b)
                            mb = m + (1 if c == b else 0)
                            if counts[b] + mb > offsets[b + 1] - offsets[b]:
                                continue
                            add_n = mb + (1 if (c >= 0 and c != b) else 0)
                            if c >= 0 and c != b and counts[c] + 1 > offsets[c + 1] - offsets[c]:
                                continue
                            new_size = size - r + add_n
                            if new_size > k:
                                continue
                            new_cost = cost - r * fl[a] + mb * fl[b]
                            if c >= 0 and c != b:
                                new_cost += fl[c]
                            if new_cost > budget + tol:
                                continue
                            in_v = (
                                prefix[offsets[b] + counts[b] + mb] - prefix[offsets[b] + counts[b]]
                            )
                            if c >= 0 and c != b:
                                in_v += vs[offsets[c] + counts[c]]
                            for l in range(counts.size):
                                trial[l] = counts[l]
                            trial[a] -= r
                            trial[b] += mb
                            if c >= 0 and c != b:
                                trial[c] += 1
                            ns, nc = _fill(trial, vs, offsets, fl, k, budget, new_size, new_cost)
                            nv = value - out_v + in_v
                            nv = _value(trial, prefix, offsets) if ns != new_size else nv
                            if nv > value * (1 + KNAPSACK_IMPROVE_RTOL) + TINY:
                                for l in range(counts.size):
                                    counts[l] = trial[l]
                                size, cost, value = ns, nc, nv
                                improved = True
                                break
                        if improved:
                            break
                    if improved:
                        break
                if improved:
                    break
            if improved:
                break
        if not improved:
            break
    return value


@nb.njit(cache=True)
def _rest_bound(vs, prefix, offsets, fl, lam, l0, kr, br, tmp):
    """Upper bound on the best value of levels ``l0..L-1`` with ``kr`` items and budget ``br``:
    ``min(g(lam), g(0))`` (weak duality)."""
    if l0 >= fl.size:
        return 0.0
    b1 = _dual(vs, prefix, offsets, fl, lam, kr, br, tmp, l0)
    if lam > 0.0:
        b0 = _dual(vs, prefix, offsets, fl, 0.0, kr, br, tmp, l0)
        if b0 < b1:
            return b0
    return b1


@nb.njit(cache=True)
def _child_bound(vs, prefix, offsets, fl, lam, d, n, acc, kr, br, tmp):
    return (
        acc
        + prefix[offsets[d] + n]
        - prefix[offsets[d]]
        + _rest_bound(vs, prefix, offsets, fl, lam, d + 1, kr - n, br - n * fl[d], tmp)
    )


@nb.njit(cache=True)
def _max_count(offsets, fl, d, kr, br, tol):
    n = min(offsets[d + 1] - offsets[d], kr)
    if fl[d] > 0:
        n = min(n, int(np.floor((br + tol) / fl[d])))
    return max(n, 0)


@nb.njit(cache=True)
def _branch_and_bound(vs, prefix, offsets, fl, k, budget, lam, best, max_evals):
    """Depth-first search over per-level counts (levels in order, the last one filled to its
    limit), pruned by the dual bound, which is concave in each count so the counts worth
    exploring form an interval around the bound's maximiser. ``best`` holds the incumbent and
    is updated in place. Returns (value, proven optimal)."""
    L = fl.size
    tol = BUDGET_RTOL * max(abs(budget), 1.0)
    inc = _value(best, prefix, offsets)
    rtol = KNAPSACK_IMPROVE_RTOL
    tmp = np.zeros(L, np.int64)
    cur = np.zeros(L, np.int64)
    kres = np.zeros(L + 1, np.int64)
    bres = np.zeros(L + 1)
    vacc = np.zeros(L + 1)
    lo = np.zeros(L, np.int64)
    hi = np.zeros(L, np.int64)
    ctr = np.zeros(L, np.int64)
    step = np.zeros(L, np.int64)
    kres[0], bres[0] = k, budget
    evals = 0
    d = 0
    entering = True
    while d >= 0:
        if evals > max_evals:
            return inc, False
        if entering:
            kr, br, acc = kres[d], bres[d], vacc[d]
            nmax = _max_count(offsets, fl, d, kr, br, tol)
            if d == L - 1:
                val = acc + prefix[offsets[d] + nmax] - prefix[offsets[d]]
                if val > inc * (1 + rtol):
                    inc = val
                    for l in range(L - 1):
                        best[l] = cur[l]
                    best[d] = nmax
                d -= 1
                entering = False
                continue
            # climb to the maximiser of the (concave) bound from the incumbent's count
            c = min(max(best[d], 0), nmax)
            hc = _child_bound(vs, prefix, offsets, fl, lam, d, c, acc, kr, br, tmp)
            evals += 1
            while c < nmax:
                h = _child_bound(vs, prefix, offsets, fl, lam, d, c + 1, acc, kr, br, tmp)
                evals += 1
                if h <= hc:
                    break
                c, hc = c + 1, h
            while c > 0:
                h = _child_bound(vs, prefix, offsets, fl, lam, d, c - 1, acc, kr, br, tmp)
                evals += 1
                if h <= hc:
                    break
                c, hc = c - 1, h
            if hc <= inc * (1 + rtol):
                d -= 1
                entering = False
                continue
            a = c
            while a > 0:
                h = _child_bound(vs, prefix, offsets, fl, lam, d, a - 1, acc, kr, br, tmp)
                evals += 1
                if h <= inc * (1 + rtol):
                    break
                a -= 1
            b = c
            while b < nmax:
                h = _child_bound(vs, prefix, offsets, fl, lam, d, b + 1, acc, kr, br, tmp)
                evals += 1
                if h <= inc * (1 + rtol):
                    break
                b += 1
            lo[d], hi[d], ctr[d], step[d] = a, b, c, 0
        # next count of level d, from the centre outward: c, c+1, c-1, c+2, ...
        found = False
        while step[d] <= 2 * (hi[d] - lo[d]) + 1:
            s = step[d]
            step[d] += 1
            n = ctr[d] + (s + 1) // 2 if s % 2 == 1 else ctr[d] - s // 2
            if n < lo[d] or n > hi[d]:
                continue
            h = _child_bound(vs, prefix, offsets, fl, lam, d, n, vacc[d], kres[d], bres[d], tmp)
            evals += 1
            if h > inc * (1 + rtol):
                cur[d] = n
                kres[d + 1] = kres[d] - n
                bres[d + 1] = bres[d] - n * fl[d]
                vacc[d + 1] = vacc[d] + prefix[offsets[d] + n] - prefix[offsets[d]]
                found = True
                break
        if found:
            d += 1
            entering = True
        else:
            d -= 1
            entering = False
    return inc, True


@nb.njit(cache=True)
def _solve_levels(vs, offsets, fl, k, budget, cand_cap, max_rounds, max_evals):
    """Dual search, two roundings, greedy fill, exchange moves, then a bounded branch and
    bound. Returns (counts, upper bound, lam, proven optimal)."""
    L = fl.size
    prefix = np.zeros(vs.size + 1)
    for j in range(vs.size):
        prefix[j + 1] = prefix[j] + vs[j]
    tol = BUDGET_RTOL * max(abs(budget), 1.0)
    c_hi = np.zeros(L, np.int64)
    c_lo = np.zeros(L, np.int64)
    ub = _dual(vs, prefix, offsets, fl, 0.0, k, budget, c_lo)
    lam_lo, lam_hi = 0.0, 0.0
    if _cost(c_lo, fl) <= budget + tol:
        for l in range(L):
            c_hi[l] = c_lo[l]
    else:
        for l in range(L):
            if fl[l] > 0 and offsets[l + 1] > offsets[l]:
                r = vs[offsets[l]] / fl[l]
                if r > lam_hi:
                    lam_hi = r
        lam_hi = lam_hi * (1 + BUDGET_RTOL) + TINY  # strictly above every v / f
        ub = _dual(vs, prefix, offsets, fl, lam_hi, k, budget, c_hi)
        for _ in range(KNAPSACK_BISECTION_STEPS):
            mid = 0.5 * (lam_lo + lam_hi)
            if mid <= lam_lo or mid >= lam_hi:
                break
            tmp = np.zeros(L, np.int64)
            d = _dual(vs, prefix, offsets, fl, mid, k, budget, tmp)
            if _cost(tmp, fl) <= budget + tol:
                lam_hi = mid
                ub = min(ub, d)
                for l in range(L):
                    c_hi[l] = tmp[l]
            else:
                lam_lo = mid
                ub = min(ub, d)
                for l in range(L):
                    c_lo[l] = tmp[l]
        # g is convex: its minimum over [lam_lo, lam_hi] is at one end up to the bisection
        # tolerance; evaluate both ends for the bound.
        ub = min(ub, _dual(vs, prefix, offsets, fl, lam_hi, k, budget, np.zeros(L, np.int64)))
    lam = lam_hi
    # Candidate levels for the exchange moves: all when few, else those nearest the margin.
    if L <= cand_cap:
        cand = np.arange(L)
    else:
        score = np.empty(L)
        for l in range(L):
            n = offsets[l + 1] - offsets[l]
            best = np.inf
            if c_hi[l] > 0:
                best = abs(vs[offsets[l] + c_hi[l] - 1] - lam * fl[l])
            if c_hi[l] < n:
                best = min(best, abs(vs[offsets[l] + c_hi[l]] - lam * fl[l]))
            score[l] = best
        cand = np.argsort(score)[:cand_cap]
    best_counts = c_hi.copy()
    best_v = -1.0
    for start in range(2):
        counts = c_hi.copy() if start == 0 else c_lo.copy()
        size = 0
        for l in range(L):
            size += counts[l]
        cost = _cost(counts, fl)
        if cost > budget + tol:
            cost = _repair(counts, vs, offsets, fl, budget, cost)
            size = 0
            for l in range(L):
                size += counts[l]
        _fill(counts, vs, offsets, fl, k, budget, size, cost)
        v = _improve(counts, vs, prefix, offsets, fl, k, budget, cand, max_rounds)
        if v > best_v:
            best_v = v
            for l in range(L):
                best_counts[l] = counts[l]
    proven = best_v >= ub * (1 - BUDGET_RTOL)
    if not proven and max_evals > 0:
        best_v, proven = _branch_and_bound(
            vs, prefix, offsets, fl, k, budget, lam, best_counts, max_evals
        )
    if proven:
        ub = best_v
    return best_counts, max(ub, best_v), lam, proven


# ---------------------------------------------------------------------------- public API
def knapsack_support(
    values,
    k: int,
    costs,
    budget: float,
    *,
    levels: CostLevels | None = None,
    max_rounds: int = 1000,
    max_evals: int = KNAPSACK_MAX_EVALS,
) -> KnapsackResult:
    """Best set for ``max sum v_i z_i  s.t.  sum z_i <= k, sum f_i z_i <= budget``.

    Parameters
    ----------
    values : array of shape (p,)
        Non-negative item values (``u_i^2`` for a projection).
    k : int
        Cardinality limit (``k >= p`` means none).
    costs : array of shape (p,)
        Finite, non-negative costs ``f_i``; ignored when ``levels`` is given.
    budget : float
        Cost limit (``>= 0``).
    levels : CostLevels, optional
        Precomputed grouping of ``costs`` (reuse it across calls with the same costs).
    max_rounds : int
        Cap on exchange-move rounds.
    max_evals : int
        Cap on bound evaluations of the final branch and bound (0 skips it). Within the cap
        the answer is optimal and ``proven`` is True.

    Returns
    -------
    KnapsackResult
        A set satisfying both constraints exactly, with the LP upper bound.
    """
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 1:
        raise ValueError(f"values must be a 1-D array, got shape {v.shape}.")
    if not np.all(np.isfinite(v)) or np.any(v < 0):
        raise ValueError("values must be finite and >= 0 (e.g. u**2).")
    if levels is None:
        levels = CostLevels(costs)
    if levels.costs.shape != v.shape:
        raise ValueError(f"costs must have shape {v.shape}, got {levels.costs.shape}.")
    budget = float(budget)
    if not np.isfinite(budget) or budget < 0:
        raise ValueError(f"budget must be finite and >= 0, got {budget}.")
    k = int(k)
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}.")
    # Sort each level by decreasing value (one argsort keyed by (level, -v)).
    grouped = levels.order
    vg = v[grouped]
    perm = _sort_segments(vg, levels.offsets)
    items = grouped[perm]
    vs = np.ascontiguousarray(v[items])
    counts, ub, lam, proven = _solve_levels(
        vs,
        levels.offsets,
        levels.values,
        min(k, v.size),
        budget,
        KNAPSACK_MOVE_LEVELS,
        max_rounds,
        max_evals,
    )
    keep = np.zeros(v.size, dtype=np.bool_)
    for l in range(counts.size):
        keep[items[levels.offsets[l] : levels.offsets[l] + counts[l]]] = True
    support = np.flatnonzero(keep).astype(np.int64)
    return KnapsackResult(
        support=support,
        value=float(v[support].sum()),
        cost=float(levels.costs[support].sum()),
        upper_bound=float(ub),
        multiplier=float(lam),
        proven=bool(proven),
    )


def project_knapsack(u, k: int, costs, budget: float, *, levels: CostLevels | None = None):
    """Euclidean projection of ``u`` onto ``{||w||_0 <= k, sum f_i [w_i != 0] <= budget}``.

    Returns ``(w, support)``: ``w`` equals ``u`` on the support chosen by
    :func:`knapsack_support` with values ``u**2`` and is zero elsewhere.
    """
    u = np.asarray(u, dtype=np.float64)
    res = knapsack_support(u * u, k, costs, budget, levels=levels)
    w = np.zeros_like(u)
    w[res.support] = u[res.support]
    return w, res.support
