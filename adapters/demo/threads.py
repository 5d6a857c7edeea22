"""Thread counts for torch, Numba and BLAS in one call (used by the CLI and the benchmarks).

On small machines, oversubscription costs far more than parallelism gains: on the 2-vCPU
machine used for the benchmarks, a 500x500 Cholesky took 50 ms with 2 threads and 1.6 ms with
one, and the MLPNet prune ran 4x faster single-threaded (``benchmarks/tune_mlpnet.py``).
"""

from __future__ import annotations

__all__ = ["set_threads"]


def set_threads(n: int | None) -> None:
    """Use ``n`` threads in torch, Numba and the BLAS libraries (None: leave the defaults)."""
    if n is None:
        return
    import numba
    import scipy.linalg  # noqa: F401  (load scipy's BLAS so threadpoolctl sees it)
    import torch
    from threadpoolctl import threadpool_limits

    n = max(1, int(n))
    torch.set_num_threads(n)
    numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    threadpool_limits(n)
