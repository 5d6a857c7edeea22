"""Closed-form per-sample gradients (hooks) equal torch.func per-sample gradients."""

import numpy as np
import pytest
import torch
from torch import nn  # noqa: E402

from adapters.torch.per_sample_grads import Segment, fill_rows  # noqa: E402
from adapters.torch.targets import resolve_targets  # noqa: E402

from .chita_torch_helpers import reference_per_sample_grads


def _hook_grads(model, x, y, scale=1.0, loss_fn=None):
    targets = resolve_targets(model, targets=["re:.*"])
    p = sum(t.numel for t in targets)
    A = np.full((len(x), p), np.nan, dtype=np.float32, order="F")
    segs, c = [], 0
    for t in targets:
        segs.append(Segment(t, 0, t.numel, c))
        c += t.numel
        t.param.requires_grad_(True)
    fill_rows(
        model.eval(), x, y, segs, loss_fn or nn.CrossEntropyLoss(), torch.from_numpy(A), scale
    )
    return targets, segs, A


def _check(model, x, y, names=None, tol=1e-5, loss_fn=None):
    targets, segs, A = _hook_grads(model, x, y, loss_fn=loss_fn)
    names = names or [t.name for t in targets]
    ref = reference_per_sample_grads(model, names, x, y)
    for s in segs:
        got = A[:, s.col : s.col + s.target.numel]
        want = ref[s.target.name].reshape(len(x), -1).numpy()
        scale = max(1.0, float(np.abs(want).max()))
        assert np.abs(got - want).max() <= tol * scale, s.target.name
        assert s.target.hookable == isinstance(
            _user(model, s.target.name), (nn.Linear, nn.Conv1d, nn.Conv2d)
        )
    return targets


def _user(model, name):
    return model.get_submodule(name.rsplit(".", 1)[0]) if "." in name else model


class Wrap(nn.Module):
    def __init__(self, layer, head_in, n_classes=3):
        super().__init__()
        self.layer = layer
        self.head = nn.Linear(head_in, n_classes)

    def forward(self, x):
        return self.head(torch.tanh(self.layer(x)).flatten(1))


@pytest.mark.parametrize("bias", [True, False])
def test_linear_matches_torch_func(bias):
    torch.manual_seed(0)
    model = Wrap(nn.Linear(7, 5, bias=bias), 5)
    x, y = torch.randn(9, 7), torch.randint(0, 3, (9,))
    _check(model, x, y)


def test_linear_with_sequence_dimension():
    torch.manual_seed(1)
    model = Wrap(nn.Linear(4, 3), 6 * 3)
    x, y = torch.randn(5, 6, 4), torch.randint(0, 3, (5,))
    _check(model, x, y)


@pytest.mark.parametrize(
    "kw",
    [
        dict(kernel_size=3),
        dict(kernel_size=3, stride=2, padding=2, dilation=2, groups=2, bias=True),
        dict(kernel_size=4, padding="same", bias=False),
        dict(kernel_size=3, padding=1, padding_mode="reflect", groups=4, bias=False),
        dict(kernel_size=2, padding="valid", stride=3),
    ],
)
def test_conv1d_matches_torch_func(kw):
    torch.manual_seed(2)
    conv = nn.Conv1d(4, 8, **kw)
    L = 17
    out_len = conv(torch.zeros(1, 4, L)).shape[-1]
    model = Wrap(conv, 8 * out_len)
    x, y = torch.randn(6, 4, L), torch.randint(0, 3, (6,))
    _check(model, x, y)


@pytest.mark.parametrize(
    "kw",
    [
        dict(kernel_size=3),
        dict(kernel_size=(3, 2), stride=(2, 1), padding=(1, 2), dilation=(1, 2), groups=2),
        dict(kernel_size=3, padding=1, groups=6, bias=False),  # depthwise
        dict(kernel_size=2, padding="same", padding_mode="circular"),
        dict(kernel_size=3, padding=2, padding_mode="replicate", stride=2, bias=False),
        dict(kernel_size=1, bias=False),
    ],
)
def test_conv2d_matches_torch_func(kw):
    torch.manual_seed(3)
    conv = nn.Conv2d(6, 6, **kw)
    out = conv(torch.zeros(1, 6, 9, 8))
    model = Wrap(conv, out[0].numel())
    x, y = torch.randn(5, 6, 9, 8), torch.randint(0, 3, (5,))
    _check(model, x, y)


class Fancy(nn.Module):
    """In-place ReLU on a conv output, a layer used twice, a BatchNorm (torch.func path)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.shared = nn.Linear(4, 4)
        self.head = nn.Linear(4, 3)

    def forward(self, x):
        x = self.conv(x)
        x.relu_()
        x = self.bn(x).mean((2, 3))
        x = self.shared(torch.tanh(self.shared(x)))
        return self.head(x)


def test_inplace_shared_and_fallback_parameters():
    torch.manual_seed(4)
    model = Fancy().eval()
    with torch.no_grad():
        model.bn.running_mean.uniform_(-0.5, 0.5)
        model.bn.running_var.uniform_(0.5, 2.0)
    x, y = torch.randn(7, 3, 6, 6), torch.randint(0, 3, (7,))
    targets = _check(model, x, y)
    kinds = {t.name: t.hookable for t in targets}
    assert kinds["bn.weight"] is False and kinds["conv.weight"] is True


def test_loss_reduction_conventions_and_scale():
    torch.manual_seed(5)
    model = Wrap(nn.Linear(5, 4), 4)
    x, y = torch.randn(6, 5), torch.randint(0, 3, (6,))
    _, _, A_mod = _hook_grads(model, x, y, loss_fn=nn.CrossEntropyLoss(reduction="mean"))
    _, _, A_fun = _hook_grads(model, x, y, loss_fn=nn.functional.cross_entropy)
    _, _, A_half = _hook_grads(model, x, y, scale=0.5)
    np.testing.assert_allclose(A_mod, A_fun, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(A_half, 0.5 * A_mod, rtol=1e-5, atol=1e-7)
    assert np.isfinite(A_mod).all()
