"""A user's own package of nn.Modules, written to a temporary directory (outside routegraph)
for the ``module`` kind's tests: put it on ``sys.path`` and allow it with ``--allow-import``.

Importing it touches ``<dir>/imported.flag``, so tests can tell that it was never imported."""
from __future__ import annotations

import sys
from pathlib import Path

SOURCE = '''
from pathlib import Path

import torch
from torch import nn

Path(__file__).resolve().parents[1].joinpath("imported.flag").touch()


class ConvRelu(nn.Module):
    """A user block: a 3x3 conv (padding 1) and a ReLU."""

    def __init__(self, channels, out_channels):
        super().__init__()
        self.conv = nn.Conv2d(channels, out_channels, 3, padding=1, bias=False)

    def forward(self, x):
        return torch.relu(self.conv(x))


class NotOnMeta(nn.Module):
    """Runs on the CPU only: it reads a value (.item() fails on meta tensors)."""

    def __init__(self, features, out_features):
        super().__init__()
        self.linear = nn.Linear(features, out_features)

    def forward(self, x):
        scale = 1.0 + 0.0 * float(x.abs().amax().item())
        return self.linear(x) * scale


class Outer:
    class Inner(nn.Linear):
        """Reached through a dotted attribute (target 'pkg.blocks:Outer.Inner')."""


def make_stem(width):
    """A factory returning an nn.Module."""
    return nn.Sequential(nn.Conv2d(3, width, 3, stride=2, padding=1), nn.ReLU())
'''


def write_user_package(root: Path, name: str) -> str:
    """Write package ``name`` (module ``name.blocks``) under ``root``; returns the dotted module.
    A fresh name per test keeps ``sys.modules`` from remembering an earlier import."""
    package = Path(root) / name
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "blocks.py").write_text(SOURCE)
    return f"{name}.blocks"


def forget(name: str) -> None:
    """Drop a user package from ``sys.modules`` (after a test that imported it)."""
    for key in [k for k in sys.modules if k == name or k.startswith(name + ".")]:
        del sys.modules[key]
