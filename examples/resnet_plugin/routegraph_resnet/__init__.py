"""routegraph_resnet: a ``residual_block`` layer kind, declared outside routegraph.

The declaration (config model, rule) needs no torch; the module lives in
:mod:`routegraph_resnet.blocks`, imported when a model is built. Installed
(``pip install -e examples/resnet_plugin``), the entry point in pyproject.toml
registers ``KINDS`` for every routegraph command; without installing, put this
directory on ``sys.path`` and call :func:`register`.

>>> from routegraph.kinds import TensorShape
>>> facts = rule({"channels": 32, "stride": 2}, (TensorShape((16, 40, 40)),))
>>> facts.out_shape.dims, facts.ops, facts.params
((32, 20, 20), 5734400, 14528)
"""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from routegraph.kinds import LayerFacts, LayerKind, ShapeProblem, Strict, TensorShape
from routegraph.kinds.fields import PosInt

__all__ = ["KINDS", "ResidualBlockLayer", "register", "rule"]


class ResidualBlockLayer(Strict):
    """A ResNet basic block: conv3x3-BN-ReLU-conv3x3-BN plus the shortcut, then ReLU."""

    kind: Literal["residual_block"]
    channels: PosInt = Field(description="output channels")
    stride: Literal[1, 2] = Field(1, description="stride of the first conv (and of the projection)")
    projection: Literal["auto", "always"] = Field(
        "auto", description="shortcut: 'auto' projects (1x1 conv + BN) only where shape changes, 'always' projects")


def projects(config: dict, in_channels: int) -> bool:
    """Whether the shortcut is a 1x1 projection (else the identity).

    >>> projects({"channels": 16, "stride": 1}, 16), projects({"channels": 16, "stride": 2}, 16)
    (False, True)
    """
    return (config.get("projection", "auto") == "always" or config.get("stride", 1) != 1
            or config["channels"] != in_channels)


def rule(config: dict, in_shapes) -> LayerFacts:
    """Output (channels, ceil(H/stride), ceil(W/stride)). Ops (multiply-accumulates, the
    convention of the built-in kinds): every output pixel of each conv costs its full kernel
    times its input channels (padding 1 for the 3x3 convs, none for the 1x1 projection);
    BN, ReLU and the addition cost nothing. Params: the conv weights (no bias) and a scale
    and shift per channel of each BN."""
    if len(in_shapes) != 1 or not isinstance(in_shapes[0], TensorShape) or len(in_shapes[0].dims) != 3:
        raise ShapeProblem(f"residual_block takes one (C, H, W) map, got {', '.join(map(str, in_shapes))}",
                           "one C x H x W map")
    cin, h, w = in_shapes[0].dims
    cout, stride = config["channels"], config.get("stride", 1)
    oh, ow = (h - 1) // stride + 1, (w - 1) // stride + 1
    ops = oh * ow * 9 * cout * (cin + cout)
    params = 9 * cout * (cin + cout) + 2 * 2 * cout
    if projects(config, cin):
        ops += oh * ow * cin * cout
        params += cin * cout + 2 * cout
    return LayerFacts(TensorShape((cout, oh, ow)), ops, params)


KINDS = [LayerKind("residual_block", ResidualBlockLayer, rule, "routegraph_resnet.blocks:build")]


def register(replace: bool = False) -> None:
    """Register :data:`KINDS` in this process (what the entry point does for an installed package)."""
    import routegraph

    for kind in KINDS:
        routegraph.register_kind(kind, replace=replace)
