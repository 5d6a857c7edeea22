"""BatchNorm recalibration: only the BN running buffers change, to the exact data statistics."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from adapters.torch import prune, recalibrate_batchnorm
from tests.chita_torch_helpers import TinyConvNet, TinyMLP, conv_data

BN_BUFFERS = ("running_mean", "running_var", "num_batches_tracked")


def _pruned_convnet(seed=0):
    torch.manual_seed(seed)
    model = TinyConvNet()
    with torch.no_grad():
        model.bn.running_mean.fill_(0.3)
        model.bn.running_var.fill_(2.0)
        model.conv1.weight.mul_(torch.rand_like(model.conv1.weight) > 0.5)
    return model


def _conv1_out(model, X):
    with torch.no_grad():
        return model.conv1(X)


def test_recalibration_changes_only_bn_buffers_to_exact_statistics():
    model = _pruned_convnet()
    X, y = conv_data(40)
    model.train()
    model.conv2.train(False)  # mixed modes must come back as they were
    modes = {n: m.training for n, m in model.named_modules()}
    before = {k: v.clone() for k, v in model.state_dict().items()}
    params = {n: p for n, p in model.named_parameters()}
    momentum = model.bn.momentum

    n = recalibrate_batchnorm(model, (X, y), n_batches=1, batch_size=len(X), random_state=None)

    assert n == len(X)
    after = model.state_dict()
    for k, v in before.items():
        if k.split(".")[-1] in BN_BUFFERS:
            continue
        assert torch.equal(after[k], v), k
    assert {n: m.training for n, m in model.named_modules()} == modes
    assert all(p is params[n] for n, p in model.named_parameters())
    assert model.bn.momentum == momentum
    z = _conv1_out(model, X).transpose(0, 1).reshape(6, -1).double()
    torch.testing.assert_close(model.bn.running_mean.double(), z.mean(1), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(model.bn.running_var.double(), z.var(1), rtol=1e-5, atol=1e-6)
    assert int(model.bn.num_batches_tracked) == 1


def test_recalibration_averages_batches_and_reads_dataloaders():
    model = _pruned_convnet(1).eval()
    X, y = conv_data(48, seed=3)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X, y), batch_size=16)
    n = recalibrate_batchnorm(model, loader, n_batches=2)
    assert n == 32
    zs = [_conv1_out(model, X[i : i + 16]).transpose(0, 1).reshape(6, -1) for i in (0, 16)]
    mean = torch.stack([z.mean(1) for z in zs]).mean(0)
    var = torch.stack([z.var(1) for z in zs]).mean(0)
    torch.testing.assert_close(model.bn.running_mean, mean, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(model.bn.running_var, var, rtol=1e-5, atol=1e-6)
    assert not model.training and not model.bn.training


def test_recalibration_without_bn_is_a_no_op_and_errors_restore_buffers():
    mlp = TinyMLP()
    before = {k: v.clone() for k, v in mlp.state_dict().items()}
    assert recalibrate_batchnorm(mlp, torch.randn(8, 12)) == 0
    assert all(torch.equal(v, mlp.state_dict()[k]) for k, v in before.items())

    model = _pruned_convnet()
    X, _ = conv_data(8)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(TypeError, match="batch 1"):
        recalibrate_batchnorm(model, [X, ["not a tensor"]])
    with pytest.raises(ValueError, match="n_batches"):
        recalibrate_batchnorm(model, X, n_batches=0)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())
    assert model.bn.momentum == 0.1


def test_prune_recalibrates_bn_by_default_and_reports_it():
    X, y = conv_data(40)
    model = _pruned_convnet()
    rep = prune(model, (X, y), sparsity=0.5, method="magnitude", progress=False)
    assert rep.bn_samples == 40 and rep.bn_recalibrated and "recalibrate_bn" in rep.times
    assert rep.to_dict()["bn_samples"] == 40
    ref = _pruned_convnet()
    prune(ref, (X, y), sparsity=0.5, method="magnitude", progress=False, recalibrate_bn=False)
    assert torch.equal(ref.bn.running_mean, torch.full((6,), 0.3))
    recalibrate_batchnorm(ref, (X, y), random_state=0)
    for a, b in zip(model.state_dict().values(), ref.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    # chita: the Fisher is taken before the recalibration, which follows the write-back
    model = _pruned_convnet()
    rep = prune(model, (X, y), sparsity=0.5, method="chita", n_samples=32, progress=False)
    assert rep.bn_samples == 40


def test_prune_recalibrate_bn_argument_errors_leave_model_untouched():
    model = _pruned_convnet()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(ValueError, match="recalibrate_bn=True needs data"):
        prune(model, None, sparsity=0.5, method="magnitude", recalibrate_bn=True)
    with pytest.raises(ValueError, match="recalibrate_bn must be"):
        prune(model, conv_data(8), sparsity=0.5, method="magnitude", recalibrate_bn="yes")
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())
    assert isinstance(model.bn, nn.BatchNorm2d)


def test_bn_aware_fisher_projects_out_channel_scale():
    import numpy as np

    from adapters.demo.models import ResNet20
    from adapters.torch.batchnorm import bn_scale_targets, project_channel_scale
    from adapters.torch.targets import resolve_targets

    # the principle: with batch statistics the loss is invariant to scaling a BN-fed channel,
    # so its gradient is orthogonal to the channel's weights
    torch.manual_seed(0)
    model = TinyConvNet().train()
    X, y = conv_data(16)
    nn.functional.cross_entropy(model(X), y).backward()
    W, G = model.conv1.weight.detach(), model.conv1.weight.grad
    cos = (W * G).flatten(1).sum(1) / (W.flatten(1).norm(dim=1) * G.flatten(1).norm(dim=1))
    assert float(cos.abs().max()) < 1e-4

    tl = resolve_targets(model)
    assert [tl[i].name for i in bn_scale_targets(model, tl, X[:2])] == ["conv1.weight"]
    net = ResNet20()
    tl = resolve_targets(net)
    pairs = bn_scale_targets(net, tl, torch.randn(2, 1, 32, 32))
    bns = {m: n for n, m in net.named_modules()}
    names = {tl[i].name: bns[bn] for i, bn in pairs.items()}
    assert len(names) == 19 and "fc.weight" not in names and net.training
    assert names["conv1.weight"] == "bn1" and names["layer2.1.conv2.weight"] == "layer2.1.bn2"

    rng = np.random.default_rng(0)
    shape = (3, 2, 2, 2)
    w = rng.normal(size=24)
    w[8:16] = 0.0  # a fully pruned channel is left alone
    A0 = rng.normal(size=(5, 24)).astype(np.float32)
    for cols in [(0, 24), (8, 24), (3, 21)]:
        A = np.asfortranarray(A0[:, cols[0] : cols[1]])
        project_channel_scale(A, w, shape, cols)
        for c in range(3):
            s, e = c * 8, (c + 1) * 8
            inside = cols[0] <= s and e <= cols[1]
            blk, ref = A[:, s - cols[0] : e - cols[0]], A0[:, s:e]
            if inside and c != 1:
                np.testing.assert_allclose(blk @ w[s:e], 0, atol=1e-5)
                v = rng.normal(size=8)
                v -= (v @ w[s:e]) / (w[s:e] @ w[s:e]) * w[s:e]  # orthogonal directions kept
                np.testing.assert_allclose(blk @ v, ref @ v, rtol=1e-5, atol=1e-5)
            elif inside:
                np.testing.assert_array_equal(blk, ref)
    # columns of a channel cut by the range are untouched
    A = np.asfortranarray(A0[:, 3:21])
    project_channel_scale(A, w, shape, (3, 21))
    np.testing.assert_array_equal(A[:, :5], A0[:, 3:8])


def test_prune_bn_aware_default_and_off():
    X, y = conv_data(40)
    kw = dict(sparsity=0.5, method="chita", n_samples=32, progress=False)
    rep = prune(_pruned_convnet(), (X, y), **kw)
    assert rep.bn_aware_targets == ["conv1.weight"]
    rep = prune(_pruned_convnet(), (X, y), bn_aware=False, **kw)
    assert rep.bn_aware_targets == []
    with pytest.raises(ValueError, match="bn_aware"):
        prune(_pruned_convnet(), (X, y), bn_aware=1, **kw)
