"""Thread control: ``n_jobs`` (scikit-learn's convention) for the Numba kernels and BLAS.

``n_jobs=None`` means one thread (scikit-learn's convention for "not set", and the measured
best default: on a machine where another process competes for the cores, every parallel region
waits for a descheduled thread, which made the default multi-threaded solve up to 30x slower
than the serial one; see ``docs/threads.md``). ``-1`` means every core, ``-2`` all but one, and
so on. Within :func:`thread_limit` each Numba kernel still runs its parallel twin only when its
work passes that kernel's threshold (``_kernels.PARALLEL_MIN_WORK``).

Results do not depend on the thread count beyond float rounding: the parallel kernels add the
same terms in a different order.
"""

from __future__ import annotations

import numbers
import os
from contextlib import contextmanager

import numba as nb
from threadpoolctl import ThreadpoolController

__all__ = ["blas_limit", "resolve_n_jobs", "thread_limit"]

_controller: ThreadpoolController | None = None


def blas_limit(n: int):
    """Context manager limiting BLAS to ``n`` threads. The library scan behind it (tens of
    milliseconds on a busy machine) is done once per process and reused."""
    global _controller
    if _controller is None:
        _controller = ThreadpoolController()
    return _controller.limit(limits=n, user_api="blas")


def _max_threads() -> int:
    return int(nb.config.NUMBA_NUM_THREADS)


def resolve_n_jobs(n_jobs) -> int:
    """Threads for ``n_jobs``: None -> 1, -1 -> all cores, -m -> all but m - 1, m > 0 -> m
    (capped at Numba's thread pool, ``NUMBA_NUM_THREADS``)."""
    if n_jobs is None:
        return 1
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, numbers.Integral) or n_jobs == 0:
        raise ValueError(
            f"n_jobs must be None, a positive int or a negative int (-1: all cores), "
            f"got {n_jobs!r}."
        )
    cap = _max_threads()
    if n_jobs < 0:
        return max(1, min(cap, (os.cpu_count() or 1) + 1 + int(n_jobs)))
    return min(int(n_jobs), cap)


@contextmanager
def thread_limit(n_jobs):
    """Run the enclosed code with ``resolve_n_jobs(n_jobs)`` Numba and BLAS threads."""
    n = resolve_n_jobs(n_jobs)
    before = nb.get_num_threads()
    nb.set_num_threads(n)
    try:
        with blas_limit(n):
            yield n
    finally:
        nb.set_num_threads(before)
