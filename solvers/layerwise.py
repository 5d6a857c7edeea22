"""Layer-wise pruning baselines, written from their papers, on a :class:`LayerProblem`.

Every method takes the layer's problem (``H``, dense ``W_bar``, dampening) and a sparsity
pattern (``RowK``, ``NM`` or ``LayerK`` from ``sparse_regression.nm``) and returns the pruned
weight matrix (rows x d, float64), so that all of them run in one process on one calibration
set:

* ``magnitude``: keep the largest ``|W_ij|`` allowed by the pattern (over the whole layer for
  ``LayerK``), no weight update.
* ``wanda`` (Sun et al. 2023): score ``|W_ij| * ||X_j||`` compared within each output row
  (a ``LayerK`` total is split evenly over the rows), no weight update.
* ``sparsegpt`` (Frantar & Alistarh 2023): one OBS pass over the columns in order, with the
  upper Cholesky factor ``U`` of ``Hd^{-1}`` (``Hd^{-1} = U^T U``): pruning column i of row r
  costs ``w_ri^2 / U_ii^2`` and the error ``(w_ri - q_ri) / U_ii`` is spread over the later
  columns along ``U[i, i:]``; updates inside a block of ``blocksize`` columns are applied at
  once, those to later columns lazily at the block's end (one matrix product). The mask is
  chosen per block of ``blocksize`` columns from the updated weights (unstructured: the
  smallest costs of the block, over all rows for ``LayerK``, per row for ``RowK``; N:M: the
  n largest of each group of m when the pass reaches the group).
* ``chita``: :func:`sparse_regression.gram.solve_layer`.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg as sla

from sparse_regression.gram import LayerProblem, solve_layer
from sparse_regression.nm import NM, LayerK, RowK, pattern_mask

__all__ = ["LAYER_METHODS", "chita", "magnitude", "prune_layer", "sparsegpt", "wanda"]


def magnitude(problem: LayerProblem, pattern) -> np.ndarray:
    """Keep the largest ``|W_ij|`` the pattern allows."""
    W = problem.W_bar
    return np.where(pattern_mask(np.abs(W), pattern), W, 0.0)


def _per_row(pattern, rows: int) -> object:
    """A ``LayerK`` total split as evenly as possible over the rows (earlier rows get +1)."""
    if isinstance(pattern, LayerK):
        base, extra = divmod(pattern.k, rows)
        return RowK(np.full(rows, base) + (np.arange(rows) < extra))
    return pattern


def wanda(problem: LayerProblem, pattern) -> np.ndarray:
    """Wanda: keep the largest ``|W_ij| ||X_j||`` per output row (or per N:M group)."""
    W = problem.W_bar
    norms = np.sqrt(np.maximum(np.diag(problem.H), 0.0))
    score = np.abs(W) * norms[None, :]
    return np.where(pattern_mask(score, _per_row(pattern, W.shape[0])), W, 0.0)


def _inverse_cholesky_upper(Hd: np.ndarray) -> np.ndarray:
    """Upper ``U`` with ``Hd^{-1} = U^T U`` (SparseGPT's ``Hinv``)."""
    c = sla.cho_factor(Hd, lower=True, check_finite=False)
    Hinv = sla.cho_solve(c, np.eye(Hd.shape[0]), check_finite=False)
    return sla.cholesky(0.5 * (Hinv + Hinv.T), lower=False, check_finite=False)


def _split_counts(total, sizes: np.ndarray) -> np.ndarray:
    """Split an integer ``total`` over parts of ``sizes`` proportionally (cumulative rounding)."""
    share = np.cumsum(sizes) / sizes.sum()
    cum = np.rint(share * total).astype(np.int64)
    return np.diff(np.concatenate([[0], cum]))


def _block_prune_mask(cost: np.ndarray, n_prune, per_row: bool) -> np.ndarray:
    """True where pruned: the ``n_prune`` smallest costs of the block (per row if ``per_row``)."""
    rows, width = cost.shape
    if per_row:
        order = np.argsort(cost, axis=1, kind="stable")
        rank = np.empty_like(order)
        np.put_along_axis(rank, order, np.arange(width)[None, :].repeat(rows, 0), axis=1)
        return rank < np.asarray(n_prune)[:, None]
    flat = np.zeros(cost.size, dtype=bool)
    flat[np.argsort(cost.ravel(), kind="stable")[: int(n_prune)]] = True
    return flat.reshape(rows, width)


def sparsegpt(problem: LayerProblem, pattern, *, blocksize: int = 128) -> np.ndarray:
    """SparseGPT's OBS pass with lazy batched updates (see the module docstring)."""
    if isinstance(blocksize, bool) or not isinstance(blocksize, int) or blocksize < 1:
        raise ValueError(f"blocksize must be a positive int, got {blocksize!r}.")
    W = problem.W_bar.copy()
    rows, d = W.shape
    U = _inverse_cholesky_upper(problem.Hd)
    diag = np.diag(U)
    starts = np.arange(0, d, blocksize)
    widths = np.minimum(blocksize, d - starts)
    nm = pattern if isinstance(pattern, NM) else None
    if nm is not None:
        nm.check_width(d)
        if blocksize % nm.m:
            raise ValueError(f"blocksize must be a multiple of m = {nm.m}, got {blocksize}.")
    elif isinstance(pattern, RowK):
        # Prune each row's share block by block: row r keeps counts[r] over all blocks.
        pruned_row = d - pattern.counts(rows, d)
        per_block = np.stack([_split_counts(p, widths) for p in pruned_row], axis=1)
    elif isinstance(pattern, LayerK):
        per_block = _split_counts(rows * d - pattern.k, widths * rows)
    else:
        raise TypeError(f"pattern must be RowK, NM or LayerK, got {type(pattern).__name__}.")
    for b, (i1, width) in enumerate(zip(starts, widths, strict=True)):
        i2 = i1 + width
        W1 = W[:, i1:i2].copy()
        Err = np.zeros((rows, width))
        U1 = U[i1:i2, i1:i2]
        d1 = diag[i1:i2]
        if nm is None:
            cost = W1**2 / d1[None, :] ** 2
            pruned = _block_prune_mask(cost, per_block[b], isinstance(pattern, RowK))
        else:
            pruned = np.zeros((rows, width), dtype=bool)
        for i in range(width):
            if nm is not None and i % nm.m == 0:
                cost = W1[:, i : i + nm.m] ** 2 / d1[None, i : i + nm.m] ** 2
                order = np.argsort(cost, axis=1, kind="stable")[:, : nm.m - nm.n]
                np.put_along_axis(pruned[:, i : i + nm.m], order, True, axis=1)
            w = W1[:, i]
            q = np.where(pruned[:, i], 0.0, w)
            err = (w - q) / d1[i]
            W1[:, i:] -= np.outer(err, U1[i, i:])
            W1[:, i] = q
            Err[:, i] = err
        W[:, i1:i2] = W1
        W[:, i2:] -= Err @ U[i1:i2, i2:]
    return W


def chita(problem: LayerProblem, pattern, *, warm_start="sparsegpt", **options) -> np.ndarray:
    """CHITA's layer solve (:func:`sparse_regression.gram.solve_layer`).

    ``warm_start="sparsegpt"`` (default) also runs SparseGPT and hands its result to the
    solve as a candidate: each row (the whole layer for a layer total) starts from the better
    of it (backsolved on its mask) and the ADMM point, so the result is never worse than
    SparseGPT's, for one more SparseGPT pass (about half of chita's time). ``None`` skips it:
    on MiniLM's and ResNet20's layers the ADMM point alone was always far below SparseGPT,
    but on random layers (uncorrelated inputs, where SparseGPT's single pass is already close
    to optimal) the default 6 ADMM iterations lose to it on about half of the cases.
    """
    if warm_start not in (None, "sparsegpt"):
        raise ValueError(f'warm_start must be "sparsegpt" or None, got {warm_start!r}.')
    W_init = sparsegpt(problem, pattern) if warm_start == "sparsegpt" else None
    return solve_layer(problem, pattern, W_init=W_init, **options).W


#: Method name -> function(problem, pattern, **options) -> W.
LAYER_METHODS = {
    "chita": chita,
    "sparsegpt": sparsegpt,
    "wanda": wanda,
    "magnitude": magnitude,
}


def prune_layer(problem: LayerProblem, pattern, method: str = "chita", **options) -> np.ndarray:
    """Prune one layer with ``method`` (one of ``LAYER_METHODS``)."""
    if not isinstance(method, str) or method not in LAYER_METHODS:
        raise ValueError(f"method must be one of {sorted(LAYER_METHODS)}, got {method!r}.")
    if isinstance(pattern, LayerK | RowK | NM):
        return LAYER_METHODS[method](problem, pattern, **options)
    raise TypeError(f"pattern must be RowK, NM or LayerK, got {type(pattern).__name__}.")
