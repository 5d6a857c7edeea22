"""Random instances of the L0 problem, degenerate ones included, and the properties every
solver result must have. Shared by the property suite (``test_core_fuzz.py``, driven by
hypothesis) and the long profile (``benchmarks/fuzz.py``, driven by a seed range).

A case is drawn from a few structural choices (shape, dtype, order, a degeneracy, ridge,
w_ref, k) and a seed for the numbers. Degeneracies are ordinary inputs in practice: one-hot
features and dead neurons give zero or duplicated columns, unnormalised features give columns
scaled by 1e6 or 1e-6.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from sparse_regression import SparseProblem, solve
from sparse_regression.constants import SWAP_COLLINEAR_RTOL

DEGENERACIES = (
    "none",
    "zero_column",
    "zero_columns",
    "duplicate_columns",
    "identical_columns",
    "scaled_columns_1e6",
    "scaled_columns_1e-6",
    "scaled_A_1e6",
    "scaled_A_1e-6",
    "scaled_b_1e6",
    "near_collinear",
    "rank_one",
)
RIDGES = (0.0, 1e-8, 1e-3, 1.0, 100.0)
#: Cases with at most this many supports are checked against exhaustive enumeration.
MAX_ENUM_SUPPORTS = 2000


@dataclass(frozen=True)
class CaseSpec:
    n: int
    p: int
    k: int
    dtype: str
    order: str
    degeneracy: str
    ridge: float
    with_ref: bool
    seed: int

    def build(self) -> SparseProblem:
        A, b, w_ref = make_arrays(self)
        return SparseProblem(A, b, self.k, ridge=self.ridge, w_ref=w_ref)


def make_arrays(spec: CaseSpec):
    """(A, b, w_ref) of the case: A in the case's dtype and order."""
    rng = np.random.default_rng(spec.seed)
    n, p = spec.n, spec.p
    A = rng.standard_normal((n, p))
    b = rng.standard_normal(n)
    cols = rng.permutation(p)
    m = max(1, min(p, int(rng.integers(1, max(2, p // 3) + 1))))
    chosen = cols[:m]
    kind = spec.degeneracy
    if kind == "zero_column":
        A[:, chosen[0]] = 0.0
    elif kind == "zero_columns":
        A[:, chosen] = 0.0
    elif kind == "duplicate_columns" and p >= 2:
        src = cols[-1]
        for j in chosen:
            if j != src:
                A[:, j] = A[:, src] * (1.0 if rng.random() < 0.5 else -2.0)
    elif kind == "identical_columns":
        A[:, chosen] = A[:, [chosen[0]]]
        if p >= 4 and rng.random() < 0.5:
            A[:, :] = A[:, [0]]  # every column the same
    elif kind == "scaled_columns_1e6":
        A[:, chosen] *= 1e6
    elif kind == "scaled_columns_1e-6":
        A[:, chosen] *= 1e-6
    elif kind == "scaled_A_1e6":
        A *= 1e6
    elif kind == "scaled_A_1e-6":
        A *= 1e-6
    elif kind == "scaled_b_1e6":
        b *= 1e6
    elif kind == "near_collinear" and p >= 2:
        src = cols[-1]
        for j in chosen:
            if j != src:
                A[:, j] = A[:, src] + 1e-9 * rng.standard_normal(n)
    elif kind == "rank_one":
        A = np.outer(rng.standard_normal(n), rng.standard_normal(p))
    if rng.random() < 0.3:
        # a target in the span of a few columns: interpolation, objective ~ 0
        w_true = np.zeros(p)
        w_true[rng.choice(p, min(p, spec.k), replace=False)] = rng.standard_normal(min(p, spec.k))
        b = A @ w_true + (0.0 if rng.random() < 0.5 else 1e-3 * rng.standard_normal(n))
    A = A.astype(spec.dtype)
    A = np.asfortranarray(A) if spec.order == "F" else np.ascontiguousarray(A)
    w_ref = rng.standard_normal(p) if spec.with_ref else None
    if w_ref is not None and kind.startswith("scaled_A"):
        w_ref /= 1e6 if kind.endswith("1e6") else 1e-6
    return A, b, w_ref


def random_spec(rng: np.random.Generator, *, max_n: int = 40, max_p: int = 60) -> CaseSpec:
    """A case drawn by ``rng``; half of them tiny enough for exhaustive enumeration."""
    tiny = rng.random() < 0.5
    p = int(rng.integers(1, 9 if tiny else max_p + 1))
    n = int(rng.integers(1, max_n + 1))
    k = int(rng.integers(1, p + 1))
    return CaseSpec(
        n=n,
        p=p,
        k=k,
        dtype=str(rng.choice(["float32", "float64"])),
        order=str(rng.choice(["C", "F"])),
        degeneracy=str(rng.choice(DEGENERACIES)),
        ridge=float(rng.choice(RIDGES)),
        with_ref=bool(rng.random() < 0.5),
        seed=int(rng.integers(2**31)),
    )


# ------------------------------------------------------------------------------ properties
def objective_tolerance(problem: SparseProblem, coef: np.ndarray) -> float:
    """How far two correct float64 evaluations of F(coef) may differ.

    ``rtol F`` (1e-9 for float64 A, 1e-5 for float32 A, whose Gram products may run in
    float32) plus the rounding floor of the residual: each entry of ``A w - b`` carries an
    error of about eps * (|A| |w| + |b|), whatever F is.
    """
    A = problem.A.astype(np.float64)
    rtol = 1e-9 if problem.A.dtype == np.float64 else 1e-5
    scale = np.abs(A) @ np.abs(coef) + np.abs(problem.b)
    floor = 1e-12 * float(scale @ scale)
    if problem.ridge:
        floor += 1e-12 * problem.ridge * float(coef @ coef + problem.w_ref @ problem.w_ref)
    f = problem.objective(coef)
    return rtol * abs(f) + floor


def support_objective(problem: SparseProblem, S) -> float:
    """Minimum of F over vectors supported on S, computed independently of the library's
    backsolve: least squares (SVD, ``gelsd``) on the ridge-augmented system with equilibrated
    columns, ``[A_S D^-1; sqrt(ridge) D^-1] y ~ [b; sqrt(ridge) w_ref_S]``, ``w_S = D^-1 y``,
    whose condition number is the square root of the normal equations'."""
    S = np.asarray(S, dtype=np.int64)
    p = problem.n_features
    A = problem.A.astype(np.float64)
    w = np.zeros(p)
    if S.size:
        X, y = A[:, S], problem.b
        if problem.ridge:
            root = np.sqrt(problem.ridge)
            X = np.vstack([X, root * np.eye(S.size)])
            y = np.concatenate([y, root * problem.w_ref[S]])
        d = np.sqrt(np.einsum("ij,ij->j", X, X))
        d[~(d > 0)] = 1.0
        w[S] = np.linalg.lstsq(X / d, y, rcond=None)[0] / d
    return problem.objective(w)


def enumeration_optimum(problem: SparseProblem) -> float:
    """Smallest F over all supports of size k (covers every smaller support)."""
    p, k = problem.n_features, problem.k
    return min(support_objective(problem, S) for S in itertools.combinations(range(p), k))


def _resolution(At: np.ndarray, S, eps: float) -> float:
    """Smallest orthogonal fraction ``s_j / ||a~_j||^2`` the swap scores can resolve on support
    S: they come from the normal equations of ``M = A~_S^T A~_S``, whose rounding is about
    eps times the condition number of the equilibrated M (64 eps cond as a margin), and never
    below ``SWAP_COLLINEAR_RTOL``. ``eps`` is that of the Gram rows: float32 for float32 A
    (its rows ``A_J^T A`` are float32 BLAS products, for speed), float64 otherwise."""
    if len(S) == 0:
        return SWAP_COLLINEAR_RTOL
    X = At[:, S]
    d = np.sqrt(np.einsum("ij,ij->j", X, X))
    d[~(d > 0)] = 1.0
    cond = np.linalg.cond((X / d).T @ (X / d))
    return max(SWAP_COLLINEAR_RTOL, 64 * eps * cond)


def _well_posed_entry(At: np.ndarray, S, j: int, resolution: float) -> bool:
    """Whether augmented column j keeps more than ``resolution`` of its squared norm
    orthogonal to the augmented columns S (``At = [A; sqrt(ridge) I]``, float64)."""
    a = At[:, j]
    nrm = float(a @ a)
    if not nrm > 0:
        return False
    if len(S) == 0:
        return True
    X = At[:, S]
    r = a - X @ np.linalg.lstsq(X, a, rcond=None)[0]
    return float(r @ r) > resolution * nrm


def largest_swap_gain(problem: SparseProblem, coef: np.ndarray) -> float:
    """Largest decrease of F by one swap (or one addition while |S| < k), refitting exactly.

    The "swap-optimal" label covers the moves that are numerically well posed: those whose
    entering column keeps more of its squared norm orthogonal to the remaining support
    (augmented by the ridge) than the swap scores can resolve: ``SWAP_COLLINEAR_RTOL``
    (1e-10), or ``64 eps cond(M)`` on an ill-conditioned support (``M = A~_S^T A~_S`` with
    equilibrated columns; eps of A's dtype). A column collinear with the support to that
    precision cannot be scored reliably, so such moves are left out here too.
    """
    p, k = problem.n_features, problem.k
    A = problem.A.astype(np.float64)
    At = np.vstack([A, np.sqrt(problem.ridge) * np.eye(p)]) if problem.ridge else A
    S = np.flatnonzero(coef)
    f = support_objective(problem, S)
    res = _resolution(At, S, float(np.finfo(problem.A.dtype).eps))
    outside = np.setdiff1d(np.arange(p), S)
    best = 0.0
    for j in outside:
        if S.size < k and _well_posed_entry(At, S, j, res):
            best = max(best, f - support_objective(problem, np.append(S, j)))
        for t in range(S.size):
            rest = np.delete(S, t)
            if _well_posed_entry(At, rest, j, res):
                best = max(best, f - support_objective(problem, np.append(rest, j)))
    return best


def label_tolerance(problem: SparseProblem, coef: np.ndarray) -> float:
    """Smallest swap gain the swap scores can see: ``objective_tolerance`` plus
    ``64 eps F(0)``, since the scores (gradient, orthogonal norms) are built from Gram rows
    accurate to eps of A's dtype relative to the data's scale ``F(0)``, whatever F is."""
    eps = float(np.finfo(problem.A.dtype).eps)
    return objective_tolerance(problem, coef) + 64 * eps * problem.objective(
        np.zeros(problem.n_features)
    )


def check_solution(problem: SparseProblem, sol, *, random_state=0) -> list[str]:
    """Properties of a core ``solve`` result; returns the violated ones (empty: all hold)."""
    bad = []
    coef = sol.coef
    if not np.all(np.isfinite(coef)):
        return ["coef is not finite"]
    if np.count_nonzero(coef) > problem.k:
        bad.append(f"nnz {np.count_nonzero(coef)} > k {problem.k}")
    f_true = problem.objective(coef)
    tol = objective_tolerance(problem, coef)
    if not abs(sol.objective - f_true) <= tol:
        bad.append(f"reported objective {sol.objective!r} != recomputed {f_true!r} (tol {tol:.3g})")
    if not sol.objective >= 0:
        bad.append(f"negative objective {sol.objective!r}")
    h = sol.history
    if h.size and not np.all(np.diff(h) <= tol):
        bad.append(f"history increases by {float(np.max(np.diff(h))):.3g} (tol {tol:.3g})")
    if h.size and not abs(h[-1] - sol.objective) <= tol:
        bad.append(f"history ends at {h[-1]!r}, objective {sol.objective!r}")
    return bad


def check_case(spec: CaseSpec, *, labels: bool = True, reproducible: bool = True) -> list[str]:
    """Solve one case and check every property; returns the violations."""
    problem = spec.build()
    sol = solve(problem, random_state=spec.seed % 1000)
    bad = check_solution(problem, sol)
    if bad:
        return bad
    tol = objective_tolerance(problem, sol.coef)
    if reproducible:
        again = solve(problem, random_state=spec.seed % 1000)
        if not np.array_equal(again.coef, sol.coef) or again.objective != sol.objective:
            bad.append("different result under the same random_state")
    small = math.comb(spec.p, spec.k) <= MAX_ENUM_SUPPORTS
    if small:
        f_opt = enumeration_optimum(problem)
        if sol.objective < f_opt - tol:
            bad.append(f"objective {sol.objective!r} below the enumerated optimum {f_opt!r}")
    if labels and sol.optimality == "swap-optimal" and spec.p * spec.k <= 400:
        gain = largest_swap_gain(problem, sol.coef)
        tol_label = label_tolerance(problem, sol.coef)
        if gain > tol_label:
            bad.append(f"labelled swap-optimal but a swap gains {gain:.3g} (tol {tol_label:.3g})")
    return bad
