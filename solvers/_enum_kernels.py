"""Numba kernel of the exhaustive search: depth-first over supports, Cholesky row by row.

With ``G = A^T A + ridge I``, ``c = A^T b + ridge w_ref`` and ``F(0) = 1/2||b||^2 +
ridge/2 ||w_ref||^2``, the minimum of F over the vectors supported on S is

    F_S = F(0) - 1/2 c_S^T G_SS^{-1} c_S = F(0) - 1/2 ||y_S||^2,   L_S y_S = c_S,

where ``L_S L_S^T = G_SS`` is the Cholesky factor. The supports are visited in lexicographic
order by a depth-first walk; the walk shares the prefix of the current support with its
parent, so the Cholesky factor and ``y`` of the prefix are reused and each visited node adds
one row: O(s^2) work per node, about C(p, s) nodes.

A pivot below ``tol * G_jj`` means column j is (numerically) a combination of the columns
before it (possible only with ridge = 0); it is skipped with a zero row, which gives the
least-squares value on the rank-deficient support, exactly as a minimum-norm solve would.

The Gram matrix squares the condition number: a pivot below ``flag_tol * G_jj`` (1e-8) leaves
the score fewer than 8 correct digits, and an exactly dependent column cannot be told from a
nearly dependent one (columns differing by 1e-9, whose combination may fit b far better).
Supports that meet such a pivot are returned separately (up to ``max_flagged`` of them, and
their total count) so that the caller scores them exactly.
"""

from __future__ import annotations

import numba as nb
import numpy as np

__all__ = ["enumerate_supports"]


@nb.njit(cache=True, nogil=True)
def _insert_candidate(vals, supports, val, idx):
    """Keep the ``len(vals)`` largest values (descending) with their supports."""
    m = vals.shape[0]
    if val <= vals[m - 1]:
        return
    pos = m - 1
    while pos > 0 and vals[pos - 1] < val:
        vals[pos] = vals[pos - 1]
        supports[pos, :] = supports[pos - 1, :]
        pos -= 1
    vals[pos] = val
    supports[pos, :] = idx


@nb.njit(cache=True, nogil=True)
def _walk(G, c, s, n_keep, tol, flag_tol, max_flagged, costs, budget):
    p = G.shape[0]
    budgeted = costs.shape[0] > 0
    L = np.zeros((s, s))
    y = np.zeros(s)
    acc = np.zeros(s)  # acc[d] = sum_{r <= d} y[r]^2
    cost = np.zeros(s)  # cost[d] = sum of the costs of idx[:d + 1]
    idx = np.empty(s, dtype=np.int64)
    row = np.full(s, -1, dtype=np.int64)
    vals = np.full(n_keep, -1.0)
    supports = np.full((n_keep, s), -1, dtype=np.int64)
    bad = np.zeros(s, dtype=np.bool_)  # bad[d]: a pivot up to depth d was below flag_tol
    flagged = np.full((max_flagged, s), -1, dtype=np.int64)
    n_flagged = 0
    count = 0
    d = 0
    idx[0] = -1
    while d >= 0:
        idx[d] += 1
        # without a budget only size-s supports are scored: leave room for the deeper levels
        if idx[d] > (p - 1 if budgeted else p - s + d):
            d -= 1
            continue
        j = idx[d]
        if budgeted:
            cost[d] = costs[j] + (cost[d - 1] if d > 0 else 0.0)
            if cost[d] > budget:
                continue  # costs are >= 0: no extension of this prefix fits either
        sq = 0.0
        for t in range(d):
            v = G[idx[t], j]
            for r in range(t):
                v -= L[t, r] * L[d, r]
            if L[t, t] > 0.0:
                v /= L[t, t]
            else:
                v = 0.0
            L[d, t] = v
            sq += v * v
        piv = G[j, j] - sq
        bad[d] = (d > 0 and bad[d - 1]) or not (piv > flag_tol * G[j, j])
        if piv > tol * G[j, j] and piv > 0.0:
            L[d, d] = np.sqrt(piv)
            yy = c[j]
            for r in range(d):
                yy -= L[d, r] * y[r]
            y[d] = yy / L[d, d]
        else:
            L[d, d] = 0.0
            y[d] = 0.0
        acc[d] = y[d] * y[d] + (acc[d - 1] if d > 0 else 0.0)
        if budgeted or d == s - 1:  # a scored support (padded with -1 below size s)
            count += 1
            for t in range(s):
                row[t] = idx[t] if t <= d else -1
            _insert_candidate(vals, supports, acc[d], row)
            if bad[d]:
                if n_flagged < max_flagged:
                    flagged[n_flagged, :] = row
                n_flagged += 1
        if d < s - 1:
            d += 1
            idx[d] = idx[d - 1]
    return vals, supports, count, flagged, n_flagged


_NO_COSTS = np.zeros(0)


def enumerate_supports(G, c, s, n_keep, tol, flag_tol, max_flagged, costs=None, budget=np.inf):
    """Scan every support of size ``s`` (with ``costs``: every support of size 1..s whose
    cost ``sum costs[S]`` fits ``budget``, since with a cost budget a smaller support can be
    optimal; a prefix over budget is not extended, costs being >= 0); return the ``n_keep``
    best and the count scored.

    Returns ``(vals, supports, count, flagged, n_flagged)``: ``vals[i] = ||y_S||^2`` for the
    i-th best support (largest first, so the smallest F), ``supports[i]`` its sorted indices
    (padded with -1 below size s); ``flagged[:min(n_flagged, max_flagged)]`` the supports with
    a pivot below ``flag_tol * G_jj`` (their scores are not reliable), ``n_flagged`` how many
    there were.
    """
    costs = _NO_COSTS if costs is None else np.asarray(costs, dtype=np.float64)
    return _walk(G, c, s, n_keep, tol, flag_tol, max_flagged, costs, float(budget))
