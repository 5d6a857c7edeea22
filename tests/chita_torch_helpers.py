"""Shared helpers of the torch adapter tests (tiny models, data, reference gradients)."""

from __future__ import annotations

import torch
from torch import nn
from torch.func import functional_call, grad, vmap


class TinyConvNet(nn.Module):
    """Conv2d (bias) -> BN -> ReLU -> Conv2d (groups, no bias) -> pool -> Linear (bias)."""

    def __init__(self, c_in: int = 2, n_classes: int = 5):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, 6, 3, padding=1)
        self.bn = nn.BatchNorm2d(6)
        self.conv2 = nn.Conv2d(6, 8, 3, stride=2, groups=2, bias=False)
        self.fc = nn.Linear(8 * 4, n_classes)

    def forward(self, x):
        x = torch.relu(self.bn(self.conv1(x)))
        x = torch.relu(self.conv2(x))
        x = nn.functional.adaptive_avg_pool2d(x, 2).flatten(1)
        return self.fc(x)


class TinyMLP(nn.Module):
    def __init__(self, d_in: int = 12, hidden: int = 16, n_classes: int = 4, bias: bool = True):
        super().__init__()
        self.fc1 = nn.Linear(d_in, hidden, bias=bias)
        self.fc2 = nn.Linear(hidden, hidden, bias=bias)
        self.fc3 = nn.Linear(hidden, n_classes, bias=bias)

    def forward(self, x):
        return self.fc3(torch.relu(self.fc2(torch.relu(self.fc1(x.flatten(1))))))


def conv_data(n: int = 48, seed: int = 0, c_in: int = 2, n_classes: int = 5):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, c_in, 9, 9, generator=g), torch.randint(0, n_classes, (n,), generator=g)


def mlp_data(n: int = 64, seed: int = 0, d_in: int = 12, n_classes: int = 4):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d_in, generator=g)
    return X, (X[:, :n_classes] * 3).argmax(1)


def trained_mlp(seed: int = 0, steps: int = 150) -> tuple[TinyMLP, tuple]:
    torch.manual_seed(seed)
    model = TinyMLP()
    X, y = mlp_data(128, seed)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(steps):
        opt.zero_grad()
        nn.functional.cross_entropy(model(X), y).backward()
        opt.step()
    return model.eval(), (X, y)


def reference_per_sample_grads(model: nn.Module, names, x, y, loss=None):
    """Per-sample gradients by ``torch.func.vmap(grad(functional_call))`` (independent oracle)."""
    loss = loss or (lambda out, t: nn.functional.cross_entropy(out, t, reduction="sum"))
    params = {k: v.detach() for k, v in model.named_parameters()}
    buffers = {k: v for k, v in model.named_buffers()}

    def f(tp, xi, yi):
        state = {**params, **buffers, **tp}
        return loss(functional_call(model, state, (xi.unsqueeze(0),)), yi.unsqueeze(0))

    tp = {k: params[k] for k in names}
    return vmap(grad(f), in_dims=(None, 0, 0))(tp, x, y)


def state_of(model: nn.Module) -> dict:
    """Values, Parameter identities, flags and modes, to check that a model is unchanged."""
    return {
        "values": {k: v.detach().clone() for k, v in model.state_dict().items()},
        "ids": {k: id(p) for k, p in model.named_parameters()},
        "requires_grad": {k: p.requires_grad for k, p in model.named_parameters()},
        "training": [m.training for m in model.modules()],
        "keys": sorted(model.state_dict().keys()),
        "hooks": [len(m._forward_pre_hooks) + len(m._forward_hooks) for m in model.modules()],
    }


def assert_unchanged(model: nn.Module, before: dict) -> None:
    after = state_of(model)
    assert after["keys"] == before["keys"]
    assert after["ids"] == before["ids"]
    assert after["requires_grad"] == before["requires_grad"]
    assert after["training"] == before["training"]
    assert after["hooks"] == before["hooks"]
    for k, v in before["values"].items():
        assert torch.equal(after["values"][k], v), k
