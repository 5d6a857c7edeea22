"""The objective of the core, written once: the quadratic F and the data it caches.

    F(w) = 1/2 ||A w - b||^2 + ridge/2 ||w - w_ref||^2 + const

A :class:`Quadratic` owns ``A`` (float32 or float64, never copied), ``b``, ``ridge``, ``w_ref``
and ``const`` and computes, on first use and once, what the solvers reuse: the column norms
``||a_j||^2``, ``A^T b``, the right-hand side of the normal equations ``A^T b + ridge w_ref``,
``||w_ref||^2`` and ``F(0)`` (after skglm's ``Quadratic`` datafit, which caches ``X^T y``).
Every routine of the core (IHT, backsolve, the swap searches, the active set) and the exact
solvers take one ``Quadratic`` instead of these arrays one by one.

``const`` lets a routine work on a subset of the columns while reporting the objective of the
full problem: :meth:`Quadratic.restrict` keeps the columns W and moves the ridge term of the
coordinates outside W (held at 0) into ``const``.
"""

from __future__ import annotations

import numpy as np

from . import _kernels as K

__all__ = ["Quadratic"]


class Quadratic:
    """``F(w) = 1/2||A w - b||^2 + ridge/2 ||w - w_ref||^2 + const`` with cached data.

    Parameters
    ----------
    A : array of shape (n, p), float32 or float64, C- or F-contiguous
        Not copied (the caller validates it; :class:`~sparse_regression.SparseProblem` does).
    b : array of shape (n,), float64
    ridge : float >= 0
    w_ref : array of shape (p,), float64, or None (zero)
    const : float
        Added to every value (the part of the objective outside ``A``'s columns).
    """

    def __init__(self, A: np.ndarray, b: np.ndarray, ridge: float = 0.0, w_ref=None, const=0.0):
        self.A = A
        self.b = b
        self.ridge = float(ridge)
        self.w_ref = w_ref  # None: zero reference
        self.const = float(const)
        self._col_sq = None
        self._Atb = None

    # ------------------------------------------------------------------ shape
    @property
    def n_samples(self) -> int:
        return self.A.shape[0]

    @property
    def n_features(self) -> int:
        return self.A.shape[1]

    # ------------------------------------------------------------------ cached data
    @property
    def col_sq(self) -> np.ndarray:
        """``||a_j||^2`` for every column (float64; one pass over A, cached)."""
        if self._col_sq is None:
            self._col_sq = K.col_sq_norms(self.A)
        return self._col_sq

    @property
    def Atb(self) -> np.ndarray:
        """``A^T b`` (float64; one pass over A, cached)."""
        if self._Atb is None:
            self._Atb = K.rmatvec(self.A, self.b)
        return self._Atb

    @property
    def ref_term(self) -> np.ndarray:
        """``ridge w_ref`` (zeros without a reference or a ridge)."""
        if self.ridge and self.w_ref is not None:
            return self.ridge * self.w_ref
        return np.zeros(self.n_features)

    @property
    def rhs(self) -> np.ndarray:
        """``A^T b + ridge w_ref``: the right-hand side of the normal equations."""
        return self.Atb + self.ref_term

    @property
    def ref_sq(self) -> float:
        """``||w_ref||^2``."""
        return float(self.w_ref @ self.w_ref) if self.w_ref is not None else 0.0

    @property
    def f_zero(self) -> float:
        """``F(0) = 1/2||b||^2 + ridge/2 ||w_ref||^2 + const``."""
        return 0.5 * float(self.b @ self.b) + 0.5 * self.ridge * self.ref_sq + self.const

    # ------------------------------------------------------------------ evaluation
    def matvec(self, w: np.ndarray) -> np.ndarray:
        """``A w`` in float64, touching only the nonzeros of ``w`` when they are few."""
        idx = np.flatnonzero(w)
        if 4 * idx.size > self.n_features:  # mostly nonzero: the dense product is cheaper
            return K.matvec(self.A, w)
        return K.matvec_cols(self.A, idx, w[idx])

    def residual(self, w: np.ndarray) -> np.ndarray:
        """``A w - b`` (float64)."""
        return self.matvec(w) - self.b

    def value(self, w: np.ndarray, Aw: np.ndarray | None = None) -> float:
        """``F(w)``; pass ``Aw = A w`` when it is already known."""
        r = (self.matvec(w) if Aw is None else Aw) - self.b
        f = 0.5 * float(r @ r) + self.const
        if self.ridge:
            d = w - self.w_ref if self.w_ref is not None else w
            f += 0.5 * self.ridge * float(d @ d)
        return f

    def gradient(self, w: np.ndarray, Aw: np.ndarray | None = None) -> np.ndarray:
        """``A^T (A w - b) + ridge (w - w_ref)``; pass ``Aw = A w`` when it is already known."""
        g = K.rmatvec(self.A, (self.matvec(w) if Aw is None else Aw) - self.b)
        if self.ridge:
            g += self.ridge * (w - self.w_ref if self.w_ref is not None else w)
        return g

    def support_value(self, S: np.ndarray, wS: np.ndarray, ASwS: np.ndarray) -> float:
        """``F(w)`` for the w equal to ``wS`` on the support S and 0 elsewhere, from
        ``ASwS = A_S w_S`` (float64): nothing of size p is formed."""
        r = ASwS - self.b
        d = wS - self.w_ref[S] if (self.ridge and self.w_ref is not None) else wS
        ref_S = self.w_ref[S] if self.w_ref is not None else d[:0]
        return float(self.support_value_from_sums(float(r @ r), float(d @ d), float(ref_S @ ref_S)))

    def support_value_from_sums(self, rss, pen, ref_sq_S):
        """:meth:`support_value` from ``rss = ||A_S w_S - b||^2``, ``pen = ||w_S - ref_S||^2``
        (``||w_S||^2`` without w_ref) and ``ref_sq_S = ||ref_S||^2``, ``ref_S = w_ref[S]``
        (scalars, or arrays of one entry per support)."""
        f = 0.5 * rss + self._ridge_outside_from(ref_sq_S) + self.const
        if self.ridge:
            f = f + 0.5 * self.ridge * pen
        return f

    def ridge_outside(self, S: np.ndarray) -> float:
        """``ridge/2 ||w_ref outside S||^2``: the ridge term of coordinates held at 0."""
        if not self.ridge or self.w_ref is None:
            return 0.0
        ref_S = self.w_ref[S]
        return float(self._ridge_outside_from(float(ref_S @ ref_S)))

    def _ridge_outside_from(self, ref_sq_S):
        if not self.ridge or self.w_ref is None:
            return 0.0
        return 0.5 * self.ridge * np.maximum(self.ref_sq - ref_sq_S, 0.0)

    def line_min(self, u: np.ndarray, Au: np.ndarray, S: np.ndarray, d: np.ndarray):
        """Exact minimiser of ``F(u - t d)`` over t, ``d`` supported on S.

        Returns ``(t, F(u - t d), A d)``.
        """
        Ad = K.matvec_cols(self.A, S, d)
        ru = Au - self.b
        num = float(Ad @ ru)
        den = float(Ad @ Ad)
        if self.ridge:
            uS = u[S] if self.w_ref is None else u[S] - self.w_ref[S]
            num += self.ridge * float(d @ uS)
            den += self.ridge * float(d @ d)
        fu = self.value(u, Au)
        if den <= 0.0:
            return 0.0, fu, Ad
        t = num / den
        return t, fu - t * num + 0.5 * t * t * den, Ad

    # ------------------------------------------------------------------ sub-problems
    def restrict(self, W: np.ndarray) -> Quadratic:
        """F on the columns W (the other coordinates held at 0), same objective values.

        The ridge term of the coordinates outside W moves into ``const``; cached column norms
        and ``A^T b`` are carried over.
        """
        W = np.asarray(W, dtype=np.int64)
        sub = Quadratic(
            K.gather_columns(self.A, W),
            self.b,
            self.ridge,
            self.w_ref[W] if self.w_ref is not None else None,
            self.const + self.ridge_outside(W),
        )
        if self._col_sq is not None:
            sub._col_sq = self._col_sq[W]
        if self._Atb is not None:
            sub._Atb = self._Atb[W]
        return sub

    def __repr__(self) -> str:
        n, p = self.A.shape
        ref = ", w_ref=..." if self.w_ref is not None else ""
        return f"Quadratic(n={n}, p={p}, ridge={self.ridge:g}{ref}, const={self.const:g})"
