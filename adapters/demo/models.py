"""Reference networks used by the demo and the benchmarks (no torchvision needed).

* :class:`MLPNet`: 784-40-20-10, ReLU, no biases -- the CHITA paper's MNIST network (32,360
  weights).
* :class:`ResNet20`: the CIFAR-style ResNet-20 (He et al. 2016): a 3x3 stem, three stages of
  three BasicBlocks with 16/32/64 channels, parameter-free "option A" shortcuts (strided
  subsampling and zero channel padding), global average pooling, a linear head. With one input
  channel it has 268,048 prunable weights (conv + linear).
* :class:`MobileNetV1`: Howard et al. 2017, width 1.0: a strided 3x3 stem, 13 depthwise
  separable blocks, a 1024 -> 1000 head: 4,209,088 prunable weights, as in the paper.
"""

from __future__ import annotations

from .._require import require_torch

torch = require_torch()
nn = torch.nn
F = torch.nn.functional

__all__ = ["MLPNet", "ResNet20", "MobileNetV1", "count_weights"]


def count_weights(model: nn.Module) -> int:
    """Number of weights in the model's ``nn.Linear`` and ``nn.Conv1d/2d`` layers."""
    kinds = (nn.Linear, nn.Conv1d, nn.Conv2d)
    return sum(m.weight.numel() for m in model.modules() if isinstance(m, kinds))


class MLPNet(nn.Module):
    """Fully connected 784-40-20-10 network with ReLU and no biases (CHITA's MNIST model)."""

    def __init__(self, in_features: int = 784, hidden=(40, 20), num_classes: int = 10):
        super().__init__()
        sizes = [in_features, *hidden]
        self.hidden = nn.ModuleList(
            nn.Linear(a, b, bias=False) for a, b in zip(sizes[:-1], sizes[1:], strict=True)
        )
        self.out = nn.Linear(sizes[-1], num_classes, bias=False)

    def forward(self, x):
        x = x.flatten(1)
        for layer in self.hidden:
            x = F.relu(layer(x))
        return self.out(x)


class _ShortcutA(nn.Module):
    """Parameter-free shortcut: subsample by ``stride`` and zero-pad the new channels."""

    def __init__(self, stride: int, extra: int):
        super().__init__()
        self.stride, self.extra = stride, extra

    def forward(self, x):
        x = x[:, :, :: self.stride, :: self.stride]
        if self.extra:
            x = F.pad(x, (0, 0, 0, 0, self.extra // 2, self.extra - self.extra // 2))
        return x


class BasicBlock(nn.Module):
    """conv3x3-BN-ReLU-conv3x3-BN plus shortcut, then ReLU."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        if stride != 1 or c_in != c_out:
            self.shortcut = _ShortcutA(stride, c_out - c_in)
        else:
            self.shortcut = nn.Identity()

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet20(nn.Module):
    """CIFAR-style ResNet-20 (3 stages x 3 BasicBlocks, 16/32/64 channels)."""

    def __init__(self, in_channels: int = 1, num_classes: int = 10, widths=(16, 32, 64)):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, widths[0], 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        layers, c = [], widths[0]
        for i, w in enumerate(widths):
            blocks = []
            for j in range(3):
                blocks.append(BasicBlock(c, w, stride=2 if (i > 0 and j == 0) else 1))
                c = w
            layers.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3 = layers
        self.fc = nn.Linear(c, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d | nn.Linear):
                nn.init.kaiming_normal_(m.weight)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return self.fc(x)


def _conv_bn(c_in, c_out, stride, groups=1, kernel=3):
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, groups=groups, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


class MobileNetV1(nn.Module):
    """MobileNetV1 (width 1.0): 13 depthwise-separable blocks, ~4.2M weights."""

    _CFG = (
        (64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
        (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1),
    )  # fmt: skip

    def __init__(self, in_channels: int = 3, num_classes: int = 1000):
        super().__init__()
        layers = [_conv_bn(in_channels, 32, 2)]
        c = 32
        for c_out, stride in self._CFG:
            layers.append(_conv_bn(c, c, stride, groups=c))  # depthwise 3x3
            layers.append(_conv_bn(c, c_out, 1, kernel=1))  # pointwise 1x1
            c = c_out
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(c, num_classes)

    def forward(self, x):
        x = F.adaptive_avg_pool2d(self.features(x), 1).flatten(1)
        return self.fc(x)
