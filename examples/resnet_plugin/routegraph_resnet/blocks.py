"""The torch half of ``residual_block``: its ``nn.Module`` and builder. Routed inference has no
fused kernel for it and runs this module."""
from __future__ import annotations

from torch import nn

from . import projects


class ResidualBlock(nn.Module):
    """conv3x3(stride)-BN-ReLU-conv3x3-BN, plus the identity or a 1x1 conv(stride)-BN, then ReLU."""

    def __init__(self, in_channels: int, channels: int, stride: int = 1, project: bool = False):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.shortcut = (nn.Sequential(nn.Conv2d(in_channels, channels, 1, stride, bias=False),
                                       nn.BatchNorm2d(channels)) if project else nn.Identity())
        self.relu = nn.ReLU()

    def forward(self, x):
        y = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(y)) + self.shortcut(x))


def build(layer) -> ResidualBlock:
    """The block of a compiled node (``layer.config``, ``layer.in_shapes``)."""
    config, cin = layer.config, layer.in_shapes[0].dims[0]
    return ResidualBlock(cin, config["channels"], config.get("stride", 1), projects(config, cin))
