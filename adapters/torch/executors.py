"""Who runs the independent solves of block mode and of layer-wise pruning: this process, or
Ray tasks.

``executor="serial"`` solves the groups one after another (one group's A in memory at a
time). ``executor="ray"`` submits one Ray task per group: each task receives the model (at the
stage's weights, shipped once through the object store), the calibration batches and its
ranges, computes its own slice of the Fisher and solves its problems (:func:`.group_solve.
solve_group`, the code the serial path runs); the driver merges the results in group order, so
they equal the serial ones. Each task runs with the driver's thread counts (torch, Numba and
BLAS, :class:`ThreadCounts`): a Ray worker starts with its own (Numba: every core, BLAS: one),
and a parallel reduction split over another number of threads rounds differently, which on a
4.2M-weight MobileNetV1 changed a few mask entries. ``memory_limit`` then bounds each task's
group: peak memory is about the number of concurrent tasks times one group.

``prune_layerwise(..., executor="ray")`` submits one task per layer of a block
(:func:`run_tasks`): each receives that layer's Gram matrix and weights (numpy arrays), and the
driver applies the results in forward order.

Ray is optional (``pip install "chita[ray]"``). ``prune`` uses the running Ray session when
there is one (``ray.init(address="auto")`` or ``ray.init("ray://head:10001")`` before calling
it points it at a cluster) and otherwise starts a local one with ``ray.init()``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from .group_solve import GroupJob, GroupResult, solve_group

__all__ = ["EXECUTORS", "ThreadCounts", "require_ray", "run_groups", "run_tasks"]

EXECUTORS = ("serial", "ray")


def require_ray():
    """The ``ray`` module, or an ImportError naming the extra to install."""
    try:
        import ray
    except ImportError as exc:  # pragma: no cover - exercised where ray is absent
        raise ImportError(
            "executor='ray' needs Ray: pip install \"chita[ray]\" (or pip install ray)."
        ) from exc
    return ray


@dataclass(frozen=True)
class ThreadCounts:
    """The thread counts of torch, Numba and BLAS in this process, to be applied elsewhere."""

    torch: int
    numba: int
    blas: int

    @classmethod
    def current(cls) -> ThreadCounts:
        import numba
        import torch
        from threadpoolctl import threadpool_info

        info = threadpool_info()
        blas = [int(i.get("num_threads") or 1) for i in info if i["user_api"] == "blas"]
        return cls(torch.get_num_threads(), numba.get_num_threads(), max([1, *blas]))

    @contextlib.contextmanager
    def applied(self):
        """Run the enclosed code with these counts (Numba capped at its pool size), restoring
        the previous ones after."""
        import numba
        import torch
        from threadpoolctl import threadpool_limits

        before = (torch.get_num_threads(), numba.get_num_threads())
        torch.set_num_threads(self.torch)
        numba.set_num_threads(max(1, min(self.numba, numba.config.NUMBA_NUM_THREADS)))
        try:
            with threadpool_limits(self.blas, user_api="blas"):
                yield
        finally:
            torch.set_num_threads(before[0])
            numba.set_num_threads(before[1])


def _ray_task(model, target_names, threads: ThreadCounts, job: GroupJob) -> GroupResult:
    """Body of one Ray task: re-bind the job to this worker's copy of the model."""
    from .targets import resolve_targets

    job.model = model
    job.targets = resolve_targets(model, target_names)
    with threads.applied():
        return solve_group(job)


def _ray():
    ray = require_ray()
    if not ray.is_initialized():
        ray.init()
    return ray


def run_tasks(fn, tasks: Iterable[tuple], executor: str) -> Iterator:
    """``fn(*t)`` for every ``t`` in ``tasks``, in order: lazily here (``"serial"``: each result
    as soon as it is computed, one task's arguments alive at a time when ``tasks`` is a
    generator), or all submitted at once as Ray tasks (``"ray"``). ``fn`` must be a
    module-level function of picklable arguments."""
    if executor == "serial":
        return (fn(*t) for t in tasks)
    tasks = list(tasks)
    if not tasks:
        return iter(())
    ray = _ray()
    remote = ray.remote(fn)
    return iter(ray.get([remote.remote(*t) for t in tasks]))


def run_groups(jobs: Iterator[GroupJob], executor: str) -> list[GroupResult]:
    """Results of every job, in the order of ``jobs``."""
    if executor == "serial":
        return [solve_group(job) for job in jobs]
    ray = _ray()
    remote = ray.remote(_ray_task)
    jobs = list(jobs)
    if not jobs:
        return []
    model_ref = ray.put(jobs[0].model)
    names = [t.name for t in jobs[0].targets]
    threads = ThreadCounts.current()
    refs = []
    for job in jobs:
        # the model travels once through the object store, not with every job
        job.model, job.targets = None, None
        refs.append(remote.remote(model_ref, names, threads, job))
    return ray.get(refs)
