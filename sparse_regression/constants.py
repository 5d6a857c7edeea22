"""Every tolerance and tuning constant of chita, in one place, each with the reason for its value.

The core (``sparse_regression``), the solver backends (``solvers``) and the PyTorch adapter
(``adapters.torch``) import their constants from here (the layering allows imports downward
only, so the one shared place is the core). Modules read them at call time as
``constants.NAME`` where tests or users may want to change them (e.g. the solve pipeline's
work limits); defaults of function arguments are bound at import.

Names are grouped by the module that uses them. "Relative" tolerances are fractions of the
quantity named in the comment (an objective, a column norm, a largest eigenvalue).
"""

from __future__ import annotations

# ---------------------------------------------------------------- numerics shared by the core
#: Multiply-adds below which a Numba kernel's serial compilation beats the parallel one
#: (thread start-up dominates below; measured on 2 and 16 cores).
PARALLEL_MIN_WORK = 200_000
#: The threshold of each parallel kernel (by name); a kernel's parallel twin runs only when
#: the caller allows more than one thread (``n_jobs``) and its work passes this. All equal to
#: PARALLEL_MIN_WORK until measured per kernel on an idle multi-core machine (a kernel missing
#: here uses PARALLEL_MIN_WORK).
PARALLEL_MIN_WORK_BY_KERNEL = {
    name: PARALLEL_MIN_WORK
    for name in (
        "rows_dot",
        "rows_axpy",
        "rows_dot_idx",
        "rows_axpy_idx",
        "rows_sq",
        "best_swap",
        "swap_gradient",
    )
}
#: Floor of a denominator that would otherwise be 0 (a relative decrease when F = 0, a score
#: offset that must keep a zero weight ranked above every unkept one): the smallest normal
#: float64 is 2.2e-308, so 1e-300 is positive yet below any meaningful value.
TINY = 1e-300
#: Relative objective decrease that counts as a real improvement of an incumbent (a restart,
#: a perturbation round, the greedy start): float64 rounding of F is ~1e-16 relative, so a
#: gain below 1e-12 F is noise and must not replace the incumbent.
IMPROVEMENT_RTOL = 1e-12

# ---------------------------------------------------------------- backsolve (backsolve.py)
#: A Cholesky pivot L_jj^2 below this fraction of its own diagonal entry M_jj of
#: A_S^T A_S + ridge I (column j's squared norm orthogonal to the previous ones, relative to its
#: squared norm), or of the n x n Woodbury matrix, sends the backsolve to least squares on
#: equilibrated columns (SVD): the normal equations lose about log10(M_jj / L_jj^2) digits, so
#: below 1e-8 fewer than 8 would be left (the fuzz found F 2e-3 too high on a support with
#: columns of norm 1e6 and 1, ridge 1e-8, at 1e-12). Relative to each column, not to the
#: largest diagonal, so a column scaled by 1e-6 next to one scaled by 1e6 is not mistaken for
#: a dependent one. Well-posed pruning problems (ridge >= 1e-3 mean diag) stay far above it.
BACKSOLVE_SINGULAR_RTOL = 1e-8
#: Largest support refitted by the compiled normal-equations kernel (``_kernels.support_fit``;
#: 42 vs 85 us at s = 30, n = 200); larger ones go through BLAS/LAPACK calls, which win from
#: about s = 64 (measured 2026-12-03).
COMPILED_FIT_MAX_SUPPORT = 64

# ---------------------------------------------------------------- IHT (iht.py)
#: Default relative decrease of F per iteration below which the support counts as settled
#: (then it is backsolved exactly); 1e-7 is well above float32 storage noise in A w.
IHT_TOL = 1e-7
#: Step-size multiples of 1/L probed by the line search: the first is 1/L itself (times
#: 1 + 1e-9 so that rounding cannot make it fail the sufficient-decrease test), the others
#: grow geometrically up to 64/L where the quadratic's curvature along the step is small.
IHT_PROBE_FACTORS = (1.0 + 1e-9, 1.5, 2.5, 4.0, 8.0, 16.0, 32.0, 64.0)
#: A line-search probe must beat the previous one by this much (relative) to be taken: below
#: it the two are equal up to float64 rounding.
IHT_PROBE_RTOL = 1e-15

# ---------------------------------------------------------------- active set (active_set.py)
#: An active-set round that lowers F by less than this (relative) ends the rounds: further
#: rounds cost a full gradient each and gained < 0.01% in the experiments of docs/algorithms.md.
ACTIVE_SET_RTOL = 1e-4
#: An outside column enters only if its screening score beats the weakest support member by
#: more than this (relative), so ties from rounding do not cycle columns in and out.
ACTIVE_SET_ENTRY_MARGIN = 1e-12

# ---------------------------------------------------------------- solve pipeline (pipeline.py)
#: Largest working memory (bytes) of the exact swap search over all columns (3 k x p float64
#: buffers); above it the large-problem searches are used.
SWAP_MEMORY_LIMIT = 512 * 2**20
#: Largest set-up cost (multiply-adds, about k n p + k^2 p) of the swap search over all columns;
#: above it (or above SWAP_MEMORY_LIMIT) the working-set / Woodbury swap search is used instead
#: (2e9 is about a second of BLAS on one core).
SWAP_MAX_WORK = 2 * 10**9
#: Largest cost of one working-set round's global screen (about min(n^2, k n + k^2) p); beyond
#: it one round would take minutes and the search is skipped with a reason.
WORKING_SET_MAX_WORK = 5 * 10**10
#: Default moves per working-set round (ridge = 0): enough to settle a working set of a few
#: hundred columns before the next global re-screen.
WORKING_SET_MOVES = 100
#: Default moves per round of the Woodbury-space pool search (ridge > 0, large problems): a
#: move costs O(n |pool|), so 1000 moves cost about as much as one round's set-up.
WOODBURY_MOVES = 1000
#: Largest set-up cost of one Woodbury round: the support factor, about n^2 k + n^3 / 3
#: multiply-adds, what one exact backsolve (which IHT pays anyway) costs. The column ranking
#: is screened to fit WOODBURY_RANK_MAX_WORK, so p does not enter.
WOODBURY_MAX_WORK = 2 * 10**12
#: Perturbation rounds used by ``n_perturbations="auto"`` on problems with k p at most
#: AUTO_PERTURBATION_SIZE: 20 rounds found the certified optimum on 20/20 benchmark instances
#: (docs/solvers.md) while costing about as much as the swap search.
AUTO_PERTURBATIONS = 20
#: Largest k p for which "auto" perturbs (the certification instances, k p = 125, and other
#: tiny problems); above it 20 rounds cost several times the rest of the solve
#: (against the same solve without them, at p = 800, k = 10: about 15 of 18 ms).
AUTO_PERTURBATION_SIZE = 2 * 10**3
#: Exact backsolve every this many swap moves for float64 A (every move for float32 A, whose
#: Gram rows come from float32 products): the float64 incremental factors drift ~1e-14 per
#: move, so checking every 8 moves is exact enough and 8x cheaper.
EXACT_EVERY_FLOAT64 = 8
#: Candidate pool of the compiled swap moves: a swap is first sought among the SWAP_POOL
#: columns of largest addition gain (O(p + pool s) per move instead of O(s p)); the full scan
#: of all pairs runs when the pool has no improving swap.
SWAP_POOL = 16
#: The portfolio's descents run their compiled moves together (the Gram rows their moves need
#: from shared passes over A) only where A (n x p float64) has at least LOCKSTEP_MIN_A_BYTES,
#: so that a pass over it leaves the core's own cache and a shared pass costs about one
#: (below, rows are cheap and the lockstep's Python round trips cost more than they save:
#: 1.05x at p = 800, k = 10), and while their states, H and Z (k x p float64 each), total at
#: most LOCKSTEP_MAX_STATE_BYTES (beyond, three interleaved states miss the cache more than the
#: shared passes save: 1.07x at p = 10000, k = 100; 0.89x at p = 4000, k = 30).
LOCKSTEP_MIN_A_BYTES = 2 * 2**20
LOCKSTEP_MAX_STATE_BYTES = 16 * 2**20
#: BLAS threads during the local search: its many small products (s x s factors, s x p rows)
#: are latency-bound, so extra threads only add synchronisation cost.
LOCAL_SEARCH_BLAS_THREADS = 1

# ---------------------------------------------------------------- swap searches (swaps/)
#: A column whose part orthogonal to the support has squared norm below this fraction of its
#: own squared norm is collinear with the support and is never added (its score would divide
#: by rounding noise).
SWAP_COLLINEAR_RTOL = 1e-10
#: A factored support is numerically singular when a Cholesky pivot falls below this fraction
#: of its own diagonal entry (looser than SWAP_COLLINEAR_RTOL, which admits columns, so that
#: the rounding of the incremental updates does not reject a support just admitted). A
#: singular start (zero or coinciding columns with ridge 0) is reduced to independent columns.
SWAP_PIVOT_RTOL = 1e-12
#: The exact swap search skips support rows whose |beta| exceeds a provable bound; the bound
#: is inflated by this (relative) for rounding in s_j and t_j. Read by a Numba kernel, which
#: freezes it at compilation: after changing it, delete the __pycache__ folders (Numba's cache).
SWAP_SKIP_MARGIN = 1e-9
#: Default relative decrease of F below which a swap search stops (a move must gain more).
SWAP_RTOL = 1e-10
#: The exact swap check (swap_check.py) re-checks by exact backsolves up to this many moves
#: its scores call improving before it gives up certifying a point: more than a handful means
#: real improvements (the first one verified is taken), so 64 only bounds pathological cases.
SWAP_CHECK_MAX_VERIFY = 64
#: Rounds of (exact check, splicing, swap search) after the portfolio's starts (portfolio.py);
#: each round must lower F, and in the benchmarks at most a few are used.
PORTFOLIO_MAX_ROUNDS = 50
#: Splicing start (starts.py): exchanges of 1..5 coordinates per iteration, abess's default
#: ``exchange_num``, and at most 100 iterations (each must lower F; abess converges in tens).
SPLICING_MAX_EXCHANGE = 5
SPLICING_MAX_ITER = 100
#: The exact single-swap search refactors its support at least every this many moves (large
#: supports every s/8) to stop rounding drift in the updated inverse.
SWAP_REFRESH_EVERY = 25
#: Random support members replaced per perturbation round (1..PERTURBATION_KICK, uniform):
#: small kicks leave the swap search's basin of attraction without discarding the incumbent.
PERTURBATION_KICK = 3
#: Woodbury pool: support members cheapest to remove kept as swap candidates per round.
WOODBURY_POOL_REMOVE = 256
#: Woodbury pool: outside columns with the largest exact addition gains kept per round; twice
#: the removals because entrants are the scarcer resource at high sparsity. A move costs
#: O(n (256 + 512)), independent of k and p.
WOODBURY_POOL_ADD = 512
#: Woodbury pool: Sherman-Morrison updates between refactorisations of K (rounding drift).
WOODBURY_POOL_REFRESH = 200
#: Woodbury pool: largest cost (n^2 multiply-adds per column) of ranking the outside columns
#: by their exact addition gains; beyond it a Gaussian sketch screens them first (issue 11:
#: the exact ranking of all columns was what skipped the round past n ~ 1200 on MLPNet).
WOODBURY_RANK_MAX_WORK = 2 * 10**10
#: Woodbury pool: the screened set ranked exactly is at least this many times the entrants.
WOODBURY_SCREEN_FACTOR = 8
#: Woodbury pool: rows of the Gaussian sketch (relative std of the estimates sqrt(2/m) = 9%).
WOODBURY_SKETCH_DIM = 256
#: Rounds of the large-problem searches (candidates re-selected from all p each round).
LARGE_SEARCH_ROUNDS = 5
#: Working-set search: exact backsolve every this many moves when k > n (cheap moves, costly
#: checks); every move otherwise.
WORKING_SET_EXACT_EVERY = 10
#: Working-set screen: a column counts only if its orthogonal part exceeds this fraction of
#: its norm (collinear columns cannot enter).
WORKING_SET_SCREEN_RTOL = 1e-12

# ---------------------------------------------------------------- Woodbury linear algebra
#: Bytes of one chunk of columns when norms through K^-1 are computed chunk by chunk (bounds
#: the temporary n x chunk block; 64 MiB keeps it in memory on any machine).
WOODBURY_CHUNK_BYTES = 64 * 2**20

# ---------------------------------------------------------------- exact solvers (solvers/)
#: Relative margin added to every big-M bound, covering rounding in the eigenvalues and solves
#: that produce it (the bounds are exact in exact arithmetic; float64 error is ~1e-12).
BIG_M_MARGIN = 1e-6
#: A Gram matrix counts as positive definite when lambda_min > this * lambda_max, i.e. its
#: condition number is below 1e10; beyond, lambda_min is rounding noise and no bound is drawn.
BIG_M_PD_RTOL = 1e-10
#: Enumeration: candidates (best by the Gram-based score) re-scored with the exact backsolve,
#: so that the returned support is right even when the Gram scores are rounded.
ENUM_N_RESCORE = 16
#: Enumeration: relative Cholesky pivot below which a column counts as dependent (ridge = 0).
ENUM_PIVOT_RTOL = 1e-10
#: Enumeration: a Gram pivot below this fraction of its diagonal leaves the support's score
#: fewer than 8 correct digits (the Gram squares the condition number; sqrt(eps) ~ 1e-8), and a
#: column differing from another by 1e-9 looks exactly dependent: such supports are scored
#: exactly (the fuzz found a near-collinear design whose optimum the Gram scores missed).
ENUM_FLAG_RTOL = 1e-8
#: Enumeration: at most this many such supports are scored exactly (about 50 us each, so ~1 s);
#: beyond it the result carries no certificate.
ENUM_MAX_EXACT_RESCORE = 20_000
#: MIQP: the scaled objective of the zero vector. SCIP's feasibility tolerance is absolute for
#: values below 1 and relative above, so spreading the objective over [0, OBJECTIVE_SPAN] keeps
#: the error it induces in the bound near the tolerance, relative to F (measured).
OBJECTIVE_SPAN = 10.0
#: MIQP perspective term: ``delta = (1 - MIQP_DELTA_SHRINK) lambda_min(A^T A)
#: - MIQP_PD_ABS lambda_max`` keeps ``A^T A - delta I`` positive semidefinite despite rounding.
MIQP_DELTA_SHRINK = 1e-3
MIQP_PD_ABS = 1e-10
#: Without a provable bound, M = HEURISTIC_M_FACTOR * max |incumbent| (no certificate then).
HEURISTIC_M_FACTOR = 4.0
#: The MIP gets the incumbent's objective (scaled) as a cutoff, loosened by this relative and
#: absolute amount so that the incumbent itself is not cut off by rounding.
MIP_CUTOFF_RTOL = 1e-9
MIP_CUTOFF_ATOL = 1e-12
#: Relative MIP gap asked of Gurobi / MOSEK: far below the 1e-5 that :func:`solvers.verify`
#: needs, so the gap reported is the solver's proof, not its stopping rule.
MIP_REL_GAP = 1e-9
#: SCIP's feasibility tolerance: 1e-7 (default 1e-6) makes certificates accurate to ~1e-7
#: relative (measured in docs/solvers.md).
SCIP_FEASTOL = 1e-7
#: :func:`solvers.verify` calls a point optimal when its gap to the proven bound is at most
#: this (relative): above the MIP backends' accuracy (~1e-7), below any gap that matters.
VERIFY_RTOL = 1e-5

# ---------------------------------------------------------------- layer-wise problems (gram.py)
#: Bytes of stacked per-row systems formed at once by the batched layer solves.
LAYER_CHUNK_BYTES = 32 * 2**20
#: Per-row systems up to this size are solved stacked (one LAPACK call per chunk); larger
#: ones row by row with Cholesky (half the work of the stacked LU, Python overhead negligible).
LAYER_SMALL_SYSTEM = 96
#: CG iterations of the layer refit (gram.refit_rows, from the ADMM point): on 36 MiniLM
#: layer-settings (blocks 0, 2, 5 at 70%, 50%, 2:4) the median error relative to SparseGPT's
#: was 0.522 / 0.516 / 0.511 / 0.508 after 4 / 6 / 10 / 20 iterations; the exact backsolve
#: gives the same to 3 digits at 2-4x the time.
LAYER_CG_ITER = 6
#: Layer totals over at least this many scores are selected by radix selection
#: (_layer_kernels.top_k_mask_abs_f32: fixed cost of two 64K-bin histograms, ~0.09 ms), below
#: it by argpartition; the two cost the same at ~4K scores (0.09 ms), radix is 2.5x faster
#: at 64K.
LAYER_RADIX_MIN_SIZE = 4096
#: ADMM stops early when the mask has not changed over a period and ``||W - D|| / ||D||`` is
#: below this: the iterates then agree to 0.1% and further rho growth only confirms the mask.
LAYER_ADMM_GAP_RTOL = 1e-3
#: ADMM's initial penalty, relative to the unit-diagonal Gram matrix. Below ~0.2 the masks
#: oscillate from one iteration to the next (0.1: error relative to SparseGPT's 0.72 / 0.93 /
#: 0.73 / 0.87 after 2..5 iterations, median over MiniLM blocks 0, 2, 5 at 70% and 2:4);
#: 0.3 decreases smoothly (0.63, 0.61, 0.55, 0.53, 0.53 after 2..6; 0.50 after 8); 0.5 and
#: 1.0 settle higher (0.55, 0.64 after 6).
LAYER_ADMM_RHO0 = 0.3
#: ADMM iterations by default (rho grows every 3, so 6 iterations factor twice): with
#: ``LAYER_ADMM_RHO0`` 6 iterations beat the former 10 from rho0 = 0.1 (median 0.53 vs 0.60
#: of SparseGPT's error on the layers above) at 60% of the cost. Not converged in general,
#: hence chita's SparseGPT safety net (solvers.layerwise.chita, warm_start), on by default.
LAYER_ADMM_ITER = 6

# ---------------------------------------------------------------- PyTorch adapter
#: Bytes of per-sample gradients held at once while A is filled (chunks of samples).
GRAD_BUFFER_BYTES = 256 * 2**20
#: Extra bytes reserved for those per-sample gradient buffers when planning memory.
GRAD_RESERVE = 256 * 2**20
#: Below this, 1/2 mean(diag(A^T A)) ||w||^2 (the loss change the diagonal of the quadratic
#: model predicts for removing every weight, in loss units) is far below what a float32 loss
#: can resolve (~1e-7 of a loss of order 1): the model would rank weights by rounding noise,
#: so prune() warns that the empirical Fisher is negligible.
NEGLIGIBLE_FISHER = 1e-10
#: Fraction of the available RAM that ``memory_limit="auto"`` allows (the rest stays for the
#: model, the data loader and the OS).
AUTO_MEMORY_FRACTION = 0.6

# ------------------------------------------------------ layer-wise problems (gram.py, layerwise)
#: Relative residual at which the conjugate-gradient refit of a layer's rows stops: the rows
#: are then far closer to their least-squares optimum than float32 weights can store.
LAYERWISE_CG_RTOL = 1e-7
#: How far ``sparsity`` may differ from an N:M pattern's density and still name the same
#: budget (a float written out by a user, e.g. 0.5 for 2:4).
PATTERN_SPARSITY_ATOL = 1e-9

# ---------------------------------------------------------------- FLOP budgets (knapsack.py)
#: Relative slack on a cost budget when checking that a support fits (``cost <= budget (1 +
#: BUDGET_RTOL)``): sums of float costs in another order differ by ~1e-16 relative, so 1e-12
#: absorbs rounding while admitting nothing materially over budget.
BUDGET_RTOL = 1e-12
#: A knapsack exchange move must raise the kept value by this much (relative) to be taken:
#: smaller gains are float64 rounding of the prefix sums and would make the moves cycle.
KNAPSACK_IMPROVE_RTOL = 1e-13
#: Bisection steps on the LP dual's threshold and multiplier: 100 halvings exhaust float64's
#: resolution of any bracket, and the loops stop early once the bracket cannot shrink.
KNAPSACK_BISECTION_STEPS = 100
#: Cost levels taking part in the exchange moves (all when there are at most this many; else
#: those nearest the LP margin): the moves cost O(levels^3) per round.
KNAPSACK_MOVE_LEVELS = 32
#: Bound evaluations of the knapsack's branch and bound when it is called alone: proves the
#: optimum on all 500 benchmark instances (p <= 200) and keeps p = 1e6 under half a second.
KNAPSACK_MAX_EVALS = 20000
#: The same cap inside IHT, where the projection runs once per probed step: the exchange moves
#: already give the optimum or within ~1e-6 of it, so a smaller search suffices there.
PROJECTION_MAX_EVALS = 2000
#: Step sizes probed by the budgeted IHT, as multiples of the Cauchy step along -g.
BUDGETED_STEP_FACTORS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0)

# ------------------------------------------------------------ gradual pruning (gradual.py)
#: Weight decay of the default fine-tuning optimizer (SGD, Nesterov momentum 0.9, lr 0.01):
#: the usual value for small conv nets and MLPs; users with their own recipe pass ``optimizer``.
GRADUAL_WEIGHT_DECAY = 1e-4
