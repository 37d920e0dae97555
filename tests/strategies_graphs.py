"""Hypothesis strategies: random valid routed specs (as plain dicts and Spec objects).

Random depth, junction arity 2-4, random layer sizes, conv/linear mixes.
Every generated spec is valid by construction.
"""
from __future__ import annotations

from hypothesis import strategies as st

from routegraph.spec.schema import Spec


@st.composite
def routed_spec_dicts(draw, max_depth: int = 3, num_classes: int | None = None):
    classes = num_classes or draw(st.integers(2, 5))
    channels = draw(st.integers(1, 3))
    size = draw(st.sampled_from([4, 6, 8]))
    nodes: list[dict] = []
    counter = [0]

    def fresh(prefix: str) -> str:
        counter[0] += 1
        return f"{prefix}{counter[0]}"

    def add(kind: str, src: str, **fields) -> str:
        name = fresh(kind[:3])
        nodes.append({"name": name, "kind": kind, "input": src, **fields})
        return name

    def layers(src: str, shape: tuple) -> tuple[str, tuple]:
        """A few random layers after src; returns the last tensor and its shape."""
        for _ in range(draw(st.integers(0, 2))):
            if len(shape) == 3:
                op = draw(st.sampled_from(["conv2d", "conv2d", "relu", "batchnorm", "maxpool", "flatten"]))
                if op == "conv2d":
                    c = draw(st.integers(1, 4))
                    k = draw(st.sampled_from([1, 3, 5]))
                    stride = draw(st.sampled_from([1, 1, 2]))
                    src = add("conv2d", src, channels=c, kernel=k, stride=stride, bias=draw(st.booleans()))
                    shape = (c, -(-shape[1] // stride), -(-shape[2] // stride))
                elif op == "maxpool" and shape[1] >= 2:
                    src = add("maxpool", src)
                    shape = (shape[0], shape[1] // 2, shape[2] // 2)
                elif op == "flatten":
                    src = add("flatten", src)
                    shape = (shape[0] * shape[1] * shape[2],)
                elif op in ("relu", "batchnorm"):
                    src = add(op, src)
            else:
                op = draw(st.sampled_from(["linear", "linear", "relu", "batchnorm"]))
                if op == "linear":
                    f = draw(st.integers(1, 6))
                    src = add("linear", src, features=f, bias=draw(st.booleans()))
                    shape = (f,)
                else:
                    src = add(op, src)
        return src, shape

    def flat(src: str, shape: tuple) -> str:
        return add("flatten", src) if len(shape) == 3 else src

    def region(src: str, shape: tuple, depth: int, first: dict | None = None) -> None:
        src, shape = layers(src, shape)
        if depth == 0 or draw(st.integers(0, 3)) == 0:
            add("classifier", flat(src, shape), classes=classes)
            return
        arity = draw(st.integers(2, 4))
        desc = flat(src, shape)
        junction = {"name": fresh("junc"), "kind": "junction", "sinks": [],
                    "router": {"reads": desc, "layers": [{"kind": "linear", "features": draw(st.integers(1, 4))},
                                                         {"kind": "relu"}, {"kind": "linear", "features": arity}]}}
        nodes.append(junction)
        for _ in range(arity):
            if draw(st.booleans()):
                junction["sinks"].append(add("classifier", desc, classes=classes))
                continue
            if len(shape) == 3:
                c = draw(st.integers(1, 4))
                sink = add("conv2d", src, channels=c, kernel=3)
                junction["sinks"].append(sink)
                region(sink, (c,) + shape[1:], depth - 1)
            else:
                f = draw(st.integers(1, 6))
                sink = add("linear", src, features=f)
                junction["sinks"].append(sink)
                region(sink, (f,), depth - 1)

    region("image", (channels, size, size), draw(st.integers(0, max_depth)))
    return {"name": "random", "input": {"name": "image", "shape": [channels, size, size]}, "nodes": nodes}


def routed_specs(**kwargs):
    return routed_spec_dicts(**kwargs).map(lambda d: Spec(**d))
