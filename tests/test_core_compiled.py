"""The compiled loops (forward selection, OMP, splicing, the swap search's moves) make the same
choices as their NumPy references, and the Gram-row cache they share returns exact rows."""

from __future__ import annotations

import numpy as np
import pytest

from sparse_regression.backsolve import backsolve_support
from sparse_regression.quadratic import Quadratic
from sparse_regression.starts import (
    _omp_start_python,
    _splicing_start_python,
    forward_start,
    omp_start,
    portfolio_starts,
    splicing_start,
)
from sparse_regression.swaps.single import (
    GramRows,
    run_descents,
    swap_search,
    swap_search_steps,
)


def _problem(seed, n=50, p=120, ridge=0.0, with_ref=False, order="F"):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((n, p))
    A[:, 1:] = 0.8 * A[:, :-1] + 0.6 * A[:, 1:]  # correlated neighbours
    beta = np.zeros(p)
    beta[rng.choice(p, 8, replace=False)] = rng.standard_normal(8)
    b = A @ beta + 0.5 * rng.standard_normal(n)
    w_ref = rng.standard_normal(p) if with_ref else None
    return Quadratic(np.asarray(A, order=order), b, ridge, w_ref)


CASES = [(s, r, ref) for s in range(6) for r, ref in ((0.0, False), (0.3, False), (0.3, True))]


@pytest.mark.parametrize("seed,ridge,with_ref", CASES)
def test_compiled_omp_and_splicing_equal_the_numpy_versions(seed, ridge, with_ref):
    q = _problem(seed, ridge=ridge, with_ref=with_ref)
    k = 12
    w1, f1 = omp_start(q, k)
    w2, f2 = _omp_start_python(q, k)
    np.testing.assert_array_equal(np.flatnonzero(w1), np.flatnonzero(w2))
    assert f1 == pytest.approx(f2, rel=1e-12)
    w1, f1 = splicing_start(q, k)
    w2, f2 = _splicing_start_python(q, k, c_max=5, max_iter=100)
    np.testing.assert_array_equal(np.flatnonzero(w1), np.flatnonzero(w2))
    assert f1 == pytest.approx(f2, rel=1e-12)


@pytest.mark.parametrize("seed,ridge,with_ref", CASES)
def test_compiled_forward_selection_equals_the_swap_search_additions(seed, ridge, with_ref):
    """Exact forward selection through the orthonormal basis picks the additions the swap
    search makes from 0 (its best exact addition), and each step is the best one: checked
    against every single addition refitted by brute force."""
    q = _problem(seed, ridge=ridge, with_ref=with_ref)
    k = 12
    w, f = forward_start(q, k)
    sw = swap_search(q, k, np.zeros(q.n_features), q.f_zero, max_moves=k)
    assert sw.n_adds == k and sw.n_swaps == 0
    np.testing.assert_array_equal(np.flatnonzero(w), np.flatnonzero(sw.coef))
    assert f == pytest.approx(sw.objective, rel=1e-10)


def test_forward_selection_steps_are_the_best_additions_by_brute_force():
    from sparse_regression.backsolve import backsolve_support

    q = _problem(7, n=30, p=25, ridge=0.1, with_ref=True)
    chosen: list[int] = []
    for _ in range(6):
        best = min(
            (backsolve_support(q, np.array(sorted([*chosen, j])))[1], j)
            for j in range(q.n_features)
            if j not in chosen
        )
        chosen.append(best[1])
    w, _ = forward_start(q, 6)
    assert sorted(np.flatnonzero(w)) == sorted(chosen)


@pytest.mark.parametrize("seed", range(8))
def test_compiled_moves_equal_the_python_moves(seed):
    """The swap search with A column-major (compiled moves between checkpoints) and row-major
    (the Python loop) ends at the same support and objective."""
    for ridge in (0.0, 0.2):
        qf = _problem(seed, ridge=ridge, order="F")
        qc = _problem(seed, ridge=ridge, order="C")
        k = 10
        w0, f0 = omp_start(qf, k)
        kw = dict(exact_every=8, max_moves=200)
        a = swap_search(qf, k, w0, f0, **kw)
        b = swap_search(qc, k, w0, f0, **kw)
        np.testing.assert_array_equal(np.flatnonzero(a.coef), np.flatnonzero(b.coef))
        assert a.objective == pytest.approx(b.objective, rel=1e-10)
        assert a.swap_optimal == b.swap_optimal and (a.n_swaps, a.n_adds) == (b.n_swaps, b.n_adds)


def test_gram_row_cache_grows_empties_and_keeps_exact_rows():
    rng = np.random.default_rng(0)
    A = np.asfortranarray(rng.standard_normal((20, 200)))
    G = A.T @ A
    gram = GramRows(A, max_rows=70)
    order = rng.permutation(200)
    for start in range(0, 200, 30):  # batches that grow the array, then overflow it
        idx = order[start : start + 30]
        np.testing.assert_allclose(gram.get(idx), G[idx], rtol=1e-12, atol=1e-12)
        assert gram.count <= gram.max_rows and gram.rows.shape[0] <= gram.max_rows
    kept = order[190:200]
    gram.reserve(65, keep=kept)  # overflow: only the kept rows survive
    assert np.all(gram.slot[kept] >= 0) and gram.count == len(kept)
    np.testing.assert_allclose(gram.get(kept), G[kept], rtol=1e-12, atol=1e-12)


def test_gram_row_cache_serves_a_request_larger_than_its_limit():
    rng = np.random.default_rng(1)
    A = np.asfortranarray(rng.standard_normal((10, 40)))
    gram = GramRows(A, max_rows=5)
    gram.get([0, 1, 2, 3])
    idx = np.arange(3, 12)  # 9 rows > max_rows
    np.testing.assert_allclose(gram.get(idx), (A.T @ A)[idx], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("seed,ridge,with_ref", CASES)
def test_starts_sharing_the_gram_row_cache_make_the_same_choices(seed, ridge, with_ref):
    """Forward selection then OMP on one shared Gram-row cache (OMP reusing forward's rows)
    choose the same supports as each on private rows, and leave exact rows in the cache."""
    q = _problem(seed, ridge=ridge, with_ref=with_ref)
    k = 12
    gram = GramRows(q.A, max_rows=4 * k)
    for start in (forward_start, omp_start):
        w_shared, f_shared = start(q, k, gram=gram)
        w_private, f_private = start(q, k)
        np.testing.assert_array_equal(np.flatnonzero(w_shared), np.flatnonzero(w_private))
        assert f_shared == pytest.approx(f_private, rel=1e-10)
        assert set(np.flatnonzero(w_shared)) <= set(np.flatnonzero(gram.slot >= 0))
    cached = np.flatnonzero(gram.slot >= 0)
    G = q.A.T @ q.A[:, cached]
    np.testing.assert_allclose(gram.rows[gram.slot[cached]], G.T, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("seed,ridge,with_ref", CASES)
def test_starts_in_lockstep_equal_each_alone(seed, ridge, with_ref):
    """Forward selection, OMP and splicing computed in lockstep (the rows the first two need
    and splicing's correlations from shared passes over A) choose the supports each chooses
    alone, and leave exact rows in the cache, some of splicing's support among them; with no
    room in the cache they fall back to the separate starts; k > n and an empty screening
    support take splicing's own path."""
    q = _problem(seed, ridge=ridge, with_ref=with_ref)
    zero_b = Quadratic(q.A, np.zeros(q.n_samples), ridge)  # empty screening support
    for qq, k in ((q, 1), (q, 12), (q, 40), (q, 60), (zero_b, 12)):  # n = 50
        gram = GramRows(qq.A, max_rows=4 * k)
        got = portfolio_starts(qq, k, gram=gram, splicing=True)
        assert sorted(got) == ["forward", "omp", "splicing"]
        for name, alone in (
            ("forward", forward_start(qq, k)),
            ("omp", omp_start(qq, k)),
            ("splicing", splicing_start(qq, k)),
        ):
            if k > qq.n_samples and name != "splicing":
                continue  # F ~ 1e-24 at k >= n without a ridge: rounding picks among ties
            w_pair, f_pair = got[name]
            np.testing.assert_array_equal(np.flatnonzero(w_pair), np.flatnonzero(alone[0]))
            assert f_pair == pytest.approx(alone[1], rel=1e-10)
        cached = np.flatnonzero(gram.slot >= 0)
        if qq is q and 1 < k <= 40:  # splicing's support rows, in the passes' spare products
            S_sp = set(np.flatnonzero(got["splicing"][0]))
            greedy = set(np.flatnonzero(got["forward"][0])) | set(np.flatnonzero(got["omp"][0]))
            if S_sp - greedy:
                assert (S_sp & set(cached)) - greedy
        G = qq.A.T @ qq.A[:, cached]
        np.testing.assert_allclose(gram.rows[gram.slot[cached]], G.T, rtol=1e-10, atol=1e-10)
    assert "splicing" not in portfolio_starts(q, 12, gram=GramRows(q.A, max_rows=48))
    small = GramRows(q.A, max_rows=3)
    small.reserve = lambda m, keep=(): None  # a cache that cannot make room
    got = portfolio_starts(q, 12, gram=small, splicing=True)
    for name, alone in (
        ("forward", forward_start(q, 12)),
        ("omp", omp_start(q, 12)),
        ("splicing", splicing_start(q, 12)),
    ):
        np.testing.assert_array_equal(np.flatnonzero(got[name][0]), np.flatnonzero(alone[0]))


def test_starts_use_private_rows_when_the_cache_cannot_make_room():
    q = _problem(3)
    k = 12
    gram = GramRows(q.A, max_rows=3)
    gram.reserve = lambda m, keep=(): None  # a cache that cannot make room for k rows
    for start in (omp_start, forward_start):
        w_full, _ = start(q, k, gram=gram)
        w_private, _ = start(q, k)
        np.testing.assert_array_equal(np.flatnonzero(w_full), np.flatnonzero(w_private))
        assert np.flatnonzero(w_full).size == k


@pytest.mark.parametrize("seed,ridge,with_ref", CASES)
@pytest.mark.parametrize("pool,max_rows", [(0, 400), (4, 400), (4, 40), (4, 14)])
def test_descents_in_lockstep_make_the_moves_each_makes_alone(
    seed, ridge, with_ref, pool, max_rows
):
    """Three descents driven together (their compiled moves in one call, the rows their moves
    need from shared passes over A, one cache) end where each ends alone on a private cache,
    after the same moves; also when the shared cache is too small for their rows."""
    q = _problem(seed, ridge=ridge, with_ref=with_ref)
    k = 12
    starts = [omp_start(q, k), splicing_start(q, k), (np.zeros(q.n_features), q.f_zero)]
    options = dict(exact_every=8, max_moves=300, pool=pool)
    gram = GramRows(q.A, max_rows=max_rows)
    if max_rows == 14:  # room for the supports' rows only: moves fill it, then use private rows
        make_room = gram.reserve
        gram.reserve = lambda m, keep=None: None if keep is None else make_room(m, keep)
    together = run_descents(
        [swap_search_steps(q, k, w0, f0, gram=gram, **options) for w0, f0 in starts]
    )
    for (w0, f0), got in zip(starts, together, strict=True):
        alone = swap_search(q, k, w0, f0, **options)
        np.testing.assert_array_equal(np.flatnonzero(got.coef), np.flatnonzero(alone.coef))
        assert got.objective == pytest.approx(alone.objective, rel=1e-10)
        assert (got.n_swaps, got.n_adds, got.swap_optimal) == (
            alone.n_swaps,
            alone.n_adds,
            alone.swap_optimal,
        )
    assert gram.count <= max_rows


@pytest.mark.parametrize("seed", range(12))
def test_pool_moves_end_swap_optimal_by_brute_force(seed):
    """With the candidate pool the compiled moves take other (still improving) swaps than the
    full scan, but the search only stops where the full scan finds none: no single swap of the
    end point lowers F (brute force), and F never rises above the start."""
    ridge = 0.2 if seed % 2 else 0.0
    q = _problem(seed, n=40, p=60, ridge=ridge)
    k = 6
    w0, f0 = omp_start(q, k)
    res = swap_search(q, k, w0, f0, exact_every=8, max_moves=500, pool=4)
    assert res.objective <= f0 * (1 + 1e-12)
    h = np.asarray(res.history)
    assert np.all(np.diff(h) <= 1e-12 * np.abs(h[:-1]))
    S = np.flatnonzero(res.coef)
    assert res.swap_optimal and S.size == k
    assert res.objective == pytest.approx(q.value(res.coef), rel=1e-9)
    for r in S:
        for j in np.setdiff1d(np.arange(q.n_features), S):
            T = np.sort(np.append(np.setdiff1d(S, [r]), j))
            A_T = q.A[:, T]
            M = A_T.T @ A_T + ridge * np.eye(k)
            w = np.zeros(q.n_features)
            w[T] = np.linalg.solve(M, A_T.T @ q.b)
            assert q.value(w) >= res.objective * (1 - 1e-9)


@pytest.mark.parametrize("seed,ridge,with_ref", CASES)
def test_compiled_support_fit_equals_the_lapack_backsolve(seed, ridge, with_ref):
    """backsolve_support on float64 column-major A (the compiled normal-equations fit for
    s <= 64) gives the row-major path's coefficients and F; a support with a duplicated column
    (ridge 0) fails the pivot test there and takes the least-squares path on both."""
    qf = _problem(seed, ridge=ridge, with_ref=with_ref, order="F")
    qc = _problem(seed, ridge=ridge, with_ref=with_ref, order="C")
    rng = np.random.default_rng(seed)
    for s in (1, 7, 30):
        S = np.sort(rng.choice(qf.n_features, s, replace=False))
        wf, ff = backsolve_support(qf, S)
        wc, fc = backsolve_support(qc, S)
        np.testing.assert_allclose(wf, wc, rtol=1e-9, atol=1e-12)
        assert ff == pytest.approx(fc, rel=1e-12)
        assert ff == pytest.approx(qf.value(_embed(qf, S, wf)), rel=1e-10)
    if ridge == 0.0:
        A = np.asfortranarray(np.column_stack([qf.A[:, :5], qf.A[:, :1]]))
        qd = Quadratic(A, qf.b, 0.0)
        w, f = backsolve_support(qd, np.arange(6))
        assert np.isfinite(f) and np.all(np.isfinite(w))
        w5, f5 = backsolve_support(qd, np.arange(5))
        assert f == pytest.approx(f5, rel=1e-9)


@pytest.mark.parametrize("seed,ridge,with_ref", CASES)
def test_batched_support_values_equal_one_backsolve_each(seed, ridge, with_ref):
    """support_values (one compiled call for many supports, unsorted ones included) gives each
    support's F as backsolve_support does; NaN where it does not apply (a support above the
    compiled limit, an empty one, a duplicated column with ridge 0, row-major A)."""
    from sparse_regression.backsolve import support_values

    qf = _problem(seed, ridge=ridge, with_ref=with_ref, order="F")
    rng = np.random.default_rng(seed)
    p = qf.n_features
    supports = [rng.choice(p, s, replace=False) for s in (1, 3, 7, 30, 30, 49)]
    supports.append(np.arange(70))  # n = 50 < 70: the compiled fit does not apply
    supports.append(np.zeros(0, dtype=np.int64))
    if ridge == 0.0:
        supports.append(np.array([4, 9, 4]))  # a duplicated column: singular
    vals = support_values(qf, supports)
    for S, v in zip(supports, vals, strict=True):
        if len(S) == 0 or len(S) > 50 or len(set(S.tolist())) < len(S):
            assert np.isnan(v)
        else:
            assert v == pytest.approx(backsolve_support(qf, np.sort(S))[1], rel=1e-12)
    qc = _problem(seed, ridge=ridge, with_ref=with_ref, order="C")
    assert np.all(np.isnan(support_values(qc, supports[:3])))


def _embed(q, S, wS):
    w = np.zeros(q.n_features)
    w[S] = wS
    return w


def _factors(q, S):
    """``H = A_S^T A``, ``M^-1 = (A_S^T A_S + ridge I)^-1``, ``Z = M^-1 H``, ``w_S``, the
    gradient and ``s_j`` of the support S (in that slot order), from scratch, as the swap
    search's refresh forms them."""
    A = np.asarray(q.A, dtype=np.float64)
    H = A[:, S].T @ A
    Minv = np.linalg.inv(H[:, S] + q.ridge * np.eye(len(S)))
    Z = Minv @ H
    rhs = q.Atb + q.ref_term
    wS = Minv @ rhs[S]
    g = H.T @ wS - q.Atb - q.ref_term
    s_out = (q.col_sq + q.ridge) - np.einsum("ij,ij->j", H, Z)
    return H, Minv, Z, wS, g, s_out


@pytest.mark.parametrize("seed,ridge,with_ref", CASES)
def test_fused_swap_update_equals_factors_from_scratch(seed, ridge, with_ref):
    """_replace (member r out, column j into slot r; downdate, update, gradient and s_j in one
    step) leaves the factors of the new support as computed from scratch."""
    from sparse_regression._descent_kernels import _replace

    q = _problem(seed, ridge=ridge, with_ref=with_ref)
    rng = np.random.default_rng(seed)
    k = 9
    S = rng.choice(q.A.shape[1], k, replace=False)
    H, Minv, Z, wS, g, s_out = _factors(q, S)
    r = int(rng.integers(k))
    j = int(rng.choice(np.setdiff1d(np.arange(q.A.shape[1]), S)))
    A = np.asarray(q.A, dtype=np.float64)
    row = A.T @ A[:, j]
    S_arr = S.astype(np.int64).copy()
    rhs = q.Atb + q.ref_term
    scale = q.col_sq + ridge
    ok = _replace(
        S_arr, k, H, Z, Minv, r, j, row, scale[j], 1e-12, rhs, wS, q.Atb, q.ref_term, g, s_out
    )
    assert ok
    S_new = S.copy()
    S_new[r] = j
    np.testing.assert_array_equal(S_arr, S_new)
    H2, Minv2, Z2, wS2, g2, s2 = _factors(q, S_new)
    out = np.ones(q.A.shape[1], dtype=bool)
    out[S_new] = False
    out[S[r]] = False  # the leaving column's s_j is recomputed exactly by the caller
    for got, want in ((H, H2), (Minv, Minv2), (Z, Z2), (wS, wS2), (g, g2)):
        np.testing.assert_allclose(got, want, rtol=1e-7, atol=1e-7 * np.abs(want).max())
    np.testing.assert_allclose(s_out[out], s2[out], rtol=1e-7, atol=1e-7 * scale.max())


@pytest.mark.parametrize("m", [0, 1, 3, 4, 5, 8, 11])
def test_combine_rows_equals_the_matrix_product(m):
    """combine_rows (four rows per sweep, then the rest) equals ``a^T R[rid]`` and
    ``b^T R[rid]`` for any row list, one output or two."""
    from sparse_regression._descent_kernels import combine_rows

    rng = np.random.default_rng(m)
    R = rng.standard_normal((14, 37))
    rid = rng.choice(14, m, replace=False).astype(np.int64)
    a, b = rng.standard_normal(m), rng.standard_normal(m)
    x0, y0 = rng.standard_normal(37), rng.standard_normal(37)
    x, y = x0.copy(), y0.copy()
    combine_rows(R, rid, a, x, b, y)
    np.testing.assert_allclose(x, x0 + a @ R[rid], atol=1e-12)
    np.testing.assert_allclose(y, y0 + b @ R[rid], atol=1e-12)
    x = x0.copy()
    combine_rows(R, rid, a, x, None, None)
    np.testing.assert_allclose(x, x0 + a @ R[rid], atol=1e-12)


@pytest.mark.parametrize("seed,ridge,with_ref", CASES)
def test_compiled_refresh_equals_lapack_and_rejects_singular_supports(seed, ridge, with_ref):
    """refresh_factors gives LAPACK's M^-1 = (A_S^T A_S + ridge I)^-1 and Z = M^-1 H, and
    returns False on a support with a duplicated column (ridge 0) or a zero column."""
    import scipy.linalg as sla

    from sparse_regression._descent_kernels import refresh_factors
    from sparse_regression.constants import SWAP_PIVOT_RTOL

    q = _problem(seed, ridge=ridge, with_ref=with_ref)
    A = np.asarray(q.A, dtype=np.float64)
    rng = np.random.default_rng(seed)
    k = 15
    S = rng.choice(A.shape[1], 11, replace=False).astype(np.int64)
    H = np.zeros((k, A.shape[1]))
    H[:11] = A[:, S].T @ A
    Minv, Z = np.full((k, k), np.nan), np.full((k, A.shape[1]), np.nan)
    assert refresh_factors(H, S, 11, ridge, SWAP_PIVOT_RTOL, Minv, Z)
    L = sla.cholesky(H[:11][:, S] + ridge * np.eye(11), lower=True)
    want = sla.cho_solve((L, True), np.eye(11))
    np.testing.assert_allclose(Minv[:11, :11], want, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(Z[:11], want @ H[:11], rtol=1e-9, atol=1e-10)
    if ridge == 0.0:
        S_dup = np.array([S[0], S[1], S[0]], dtype=np.int64)
        Hd = A[:, S_dup].T @ A
        assert not refresh_factors(Hd, S_dup, 3, 0.0, SWAP_PIVOT_RTOL, Minv, Z)
    A0 = A.copy()
    A0[:, S[2]] = 0.0
    H0 = A0[:, S].T @ A0
    assert not refresh_factors(H0, S, 11, 0.0, SWAP_PIVOT_RTOL, Minv, Z)


def _swap_scores_reference(
    Z, inv_root, beta, g, s_out, scale, in_support, eps, costs, row_cost, room
):
    """Every delta[r, j] by the formula, +inf where the pair is not allowed."""
    T = Z * inv_root[:, None]
    den = s_out[None, :] + T**2
    allowed = (~in_support & (scale > 0))[None, :] & (den > eps * scale[None, :])
    if costs is not None:
        allowed &= costs[None, :] <= (room + row_cost)[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        d = 0.5 * beta[:, None] ** 2 - 0.5 * (beta[:, None] * T - g[None, :]) ** 2 / den
    return np.where(allowed, d, np.inf)


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("budgeted", [False, True])
def test_best_swap_kernels_find_the_best_pair_of_the_formula(seed, budgeted):
    from sparse_regression._kernels import _best_swap, best_swap

    rng = np.random.default_rng(seed)
    s, p = 7, 203
    Z = rng.standard_normal((s, p))
    Z[:, 10] = Z[:, 11]  # a tie: the first column wins
    inv_root = rng.uniform(0.5, 2.0, s)
    beta = rng.standard_normal(s)
    g = rng.standard_normal(p) * 2
    g[11] = g[10]
    s_out = rng.uniform(0.0, 1.0, p)
    s_out[11] = s_out[10]
    s_out[:5] = 0.0  # in the span of the support unless a row's T lifts them
    scale = rng.uniform(1.0, 2.0, p)
    scale[11] = scale[10]
    scale[20] = 0.0  # a zero column never enters
    in_support = np.zeros(p, dtype=bool)
    in_support[rng.choice(p, s, replace=False)] = True
    costs = row_cost = None
    room = 0.0
    if budgeted:
        costs = rng.integers(1, 4, p).astype(float)
        row_cost = rng.integers(1, 4, s).astype(float)
        room = 0.5
    eps = 1e-3
    D = _swap_scores_reference(
        Z, inv_root, beta, g, s_out, scale, in_support, eps, costs, row_cost, room
    )
    r, j, delta = best_swap(
        Z, inv_root, beta, g, s_out, scale, in_support, eps, costs, row_cost, room
    )
    assert D.min() < 0
    assert delta == pytest.approx(D.min(), rel=1e-12)
    assert D[r, j] == pytest.approx(D.min(), rel=1e-12)
    # the serial and the parallel kernel agree
    c = (costs, row_cost) if budgeted else (np.zeros(0), np.zeros(0))
    out = [
        fn(Z, inv_root, beta, g, s_out, scale, in_support, eps, *c, room) for fn in _best_swap[:2]
    ]
    assert out[0][:3] == out[1][:3] == (r, j, delta)
    # no improving pair: (-1, -1, 0)
    assert best_swap(Z, inv_root, np.zeros(s), np.zeros(p), s_out, scale, in_support, eps)[:2] == (
        -1,
        -1,
    )


def test_best_swap_ties_go_to_the_first_column():
    from sparse_regression._kernels import best_swap

    s, p = 2, 6
    Z = np.zeros((s, p))
    Z[0, 2] = Z[0, 4] = 1.0
    g = np.zeros(p)
    g[2] = g[4] = 1.0
    s_out = np.ones(p)
    scale = np.full(p, 2.0)
    r, j, delta = best_swap(
        Z, np.ones(s), np.array([0.1, 0.0]), g, s_out, scale, np.zeros(p, bool), 1e-9
    )
    assert (r, j) == (1, 2) and delta == pytest.approx(-0.5)  # row 1 (beta 0) gains g^2 / 2


@pytest.mark.parametrize("seed", range(6))
def test_swap_scores_min_equals_numpy_with_overflow_and_nan(seed):
    from sparse_regression._kernels import swap_scores_min

    rng = np.random.default_rng(seed)
    s, p = 5, 97
    Z = rng.standard_normal((s, p))
    Z[1, 3] = 1e200  # T * T overflows: den = inf, the pair is skipped
    Z[2, 4] = np.nan  # a NaN score is skipped
    inv_root = rng.uniform(0.5, 2.0, s)
    beta = rng.standard_normal(s)
    g = rng.standard_normal(p)
    s_out = rng.uniform(0.0, 1.0, p)
    floor = np.where(rng.random(p) < 0.2, np.inf, 0.05)
    T = Z * inv_root[:, None]
    with np.errstate(all="ignore"):
        den = s_out[None, :] + T * T
        d = 0.5 * beta[:, None] ** 2 - 0.5 * (beta[:, None] * T - g[None, :]) ** 2 / den
    valid = np.isfinite(den) & (den > floor[None, :]) & ~np.isnan(d)
    assert swap_scores_min(Z, inv_root, beta, g, s_out, floor) == pytest.approx(
        d[valid].min(), rel=1e-12
    )
    assert swap_scores_min(Z, inv_root, beta, g, s_out, np.full(p, np.inf)) == np.inf
