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
