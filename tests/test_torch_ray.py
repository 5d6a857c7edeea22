"""executor="ray": the group solves of block mode as Ray tasks equal the serial path."""

import sys

import pytest
import torch

from adapters.torch import prune

from .chita_torch_helpers import TinyConvNet, conv_data


def _run(executor, data, state, **kw):
    torch.manual_seed(0)
    model = TinyConvNet().eval()
    model.load_state_dict(state)
    rep = prune(
        model,
        data,
        sparsity=0.8,
        n_samples=40,
        block_size=64,
        memory_limit=250_000,  # several groups, so several tasks
        progress=False,
        executor=executor,
        **kw,
    )
    return model, rep


def test_ray_equals_serial():
    ray = pytest.importorskip("ray")
    torch.manual_seed(0)
    state = TinyConvNet().eval().state_dict()
    data = conv_data(60)
    m_serial, r_serial = _run("serial", data, state, stages=2, method="chita++")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        m_ray, r_ray = _run("ray", data, state, stages=2, method="chita++")
    finally:
        ray.shutdown()
    assert r_serial.history[0].n_passes > 1  # more than one group: more than one task
    for name, mask in r_serial.masks.items():
        assert torch.equal(mask, r_ray.masks[name])
    ps, pr = dict(m_serial.named_parameters()), dict(m_ray.named_parameters())
    for name in ps:
        assert torch.equal(ps[name], pr[name]), name
    assert r_serial.objective == r_ray.objective
    assert [h.block_choice for h in r_serial.history] == [h.block_choice for h in r_ray.history]


def test_missing_ray_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    torch.manual_seed(0)
    model = TinyConvNet().eval()
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(ImportError, match=r"chita\[ray\]"):
        prune(model, conv_data(20), sparsity=0.5, block_size=64, executor="ray", progress=False)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    with pytest.raises(ValueError, match="executor must be one of"):
        prune(model, conv_data(20), sparsity=0.5, executor="dask", progress=False)


def test_layerwise_ray_equals_serial():
    """prune_layerwise(executor="ray"): one task per layer of a block, same weights and report."""
    ray = pytest.importorskip("ray")
    from adapters.torch import prune_layerwise

    from .test_layerwise_torch import _dict_batches, _TinyEncoder

    def run(executor):
        torch.manual_seed(0)
        model = _TinyEncoder()
        rep = prune_layerwise(
            model, _dict_batches(), sparsity=0.6, method="chita", executor=executor, progress=False
        )
        return model, rep

    m_serial, r_serial = run("serial")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        m_ray, r_ray = run("ray")
    finally:
        ray.shutdown()
    assert len(r_serial.layers) == 8
    for name, p in m_serial.named_parameters():
        assert torch.equal(p, dict(m_ray.named_parameters())[name]), name
    for a, b in zip(r_serial.layers, r_ray.layers, strict=True):
        assert (a.name, a.error, a.magnitude_error, a.density) == (
            b.name,
            b.error,
            b.magnitude_error,
            b.density,
        )


def test_layerwise_executor_is_checked_before_the_model_is_touched(monkeypatch):
    from adapters.torch import prune_layerwise

    from .test_layerwise_torch import _dict_batches, _TinyEncoder

    model = _TinyEncoder()
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(ValueError, match="executor must be one of"):
        prune_layerwise(model, _dict_batches(), sparsity=0.5, executor="dask", progress=False)
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ImportError, match=r"chita\[ray\]"):
        prune_layerwise(model, _dict_batches(), sparsity=0.5, executor="ray", progress=False)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


def _counts_inside(counts):
    """Run in a Ray worker: the thread counts seen inside ``counts.applied()``."""
    from adapters.torch.executors import ThreadCounts

    with counts.applied():
        return ThreadCounts.current()


def test_ray_tasks_run_with_the_driver_thread_counts():
    # A Ray worker starts with Numba on every core and BLAS on one; a parallel reduction over
    # another thread count rounds differently (it changed mask entries on a MobileNetV1), so
    # each task applies the driver's counts.
    ray = pytest.importorskip("ray")
    import numba

    from adapters.torch.executors import ThreadCounts

    wanted = ThreadCounts(torch=1, numba=1, blas=1)
    before = ThreadCounts.current()
    assert _counts_inside(wanted) == wanted  # in this process, and restored after
    assert (torch.get_num_threads(), numba.get_num_threads()) == (before.torch, before.numba)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        seen = ray.get(ray.remote(_counts_inside).remote(wanted))
    finally:
        ray.shutdown()
    assert seen == wanted
