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


def _conv_out(size: int, kernel: int, stride: int, padding) -> int:
    if padding == "same":
        return -(-size // stride)
    p = 0 if padding == "valid" else padding
    return (size + 2 * p - kernel) // stride + 1


@st.composite
def any_kind_spec_dicts(draw, square: bool = False, sequence: bool = False):
    """Random valid routed specs that use every layer kind, on a (C, H, W) input with
    H != W unless ``square``, or (``sequence``) on a (T, D) input (shapes are tracked here,
    independently of the compiler, only to keep every choice valid)."""
    c0 = draw(st.integers(1, 3))
    h = draw(st.integers(2, 12))
    w = h if square else draw(st.integers(2, 12).filter(lambda v: v != h))
    t0, d0 = draw(st.integers(1, 6)), draw(st.integers(1, 8))
    classes = draw(st.integers(2, 4))
    nodes: list[dict] = []
    counter = [0]

    def add(kind: str, src, **fields) -> str:
        counter[0] += 1
        name = f"{kind[:3]}{counter[0]}"
        nodes.append({"name": name, "kind": kind, "input": src, **fields})
        return name

    def conv(shape) -> tuple[dict, tuple]:
        c, hh, ww = shape
        k = draw(st.sampled_from([1, 2, 3, 5]))
        s = draw(st.sampled_from([1, 2]))
        pads = ["same"] + (["valid"] if k <= min(hh, ww) else []) + [p for p in (1, 2) if k <= min(hh, ww) + 2 * p]
        pad = draw(st.sampled_from(pads))
        cout = draw(st.integers(1, 4))
        fields = {"channels": cout, "kernel": k, "stride": s, "padding": pad, "bias": draw(st.booleans())}
        return fields, (cout, _conv_out(hh, k, s, pad), _conv_out(ww, k, s, pad))

    def elementwise(op: str, src: str) -> str:
        """One of the kinds that keep any tensor's shape, with random fields."""
        if op == "gelu":
            return add("gelu", src, approximate=draw(st.sampled_from(["none", "tanh"])))
        if op == "dropout":
            return add("dropout", src, p=draw(st.sampled_from([0.0, 0.1, 0.5])))
        if op == "layernorm":
            return add("layernorm", src, elementwise_affine=draw(st.booleans()))
        return add(op, src)

    def map_step(src: str, shape: tuple, pool: list) -> tuple[str, tuple]:
        c, hh, ww = shape
        ops = ["pyramid", "conv2d", "relu", "batchnorm", "resize", "concat", "add", "gelu", "dropout", "global_avgpool"]
        if min(hh, ww) >= 2:
            ops.append("maxpool")
        op = draw(st.sampled_from(ops))
        if op == "conv2d":
            fields, out = conv(shape)
            return add("conv2d", src, **fields), out
        if op == "maxpool":
            k = draw(st.integers(2, min(hh, ww, 3)))
            stride = draw(st.sampled_from([None, 1, 2]))
            s = stride or k
            return add("maxpool", src, kernel=k, stride=stride), (c, (hh - k) // s + 1, (ww - k) // s + 1)
        if op == "resize":
            size = draw(st.integers(1, 9))
            return add("resize", src, size=size), (c, size, size)
        if op == "concat":
            same = [(n, s) for n, s in pool if len(s) == 3 and s[1:] == shape[1:]]
            other, other_shape = draw(st.sampled_from(same))
            return add("concat", [src, other]), (c + other_shape[0], hh, ww)
        if op == "add":
            twin = add("relu", src)
            return add("add", [src, twin]), shape
        if op == "global_avgpool":
            return add("global_avgpool", src), (c,)
        if op == "pyramid":
            first = draw(st.sampled_from(list(dict.fromkeys([hh, ww, max(hh, ww) + 1]))))  # the height first
            sizes = [first]
            while sizes[-1] // 2 >= 1 and len(sizes) < 4 and draw(st.booleans()):
                sizes.append(sizes[-1] // 2)
            return pyramid_steps(add("pyramid", src, sizes=sizes), [(c, s, s) for s in sizes])
        return elementwise(op, src), shape

    def pyramid_steps(src: str, levels: list) -> tuple[str, tuple]:
        """Optional relu / multiscale_conv on a pyramid, then select a level or flatten."""
        if draw(st.booleans()):
            src = add("relu", src)
        halving = 1  # trailing levels that each halve the one before (multiscale_conv's need)
        while halving < len(levels) and levels[-halving - 1][1] // 2 == levels[-halving][1]:
            halving += 1
        if draw(st.booleans()):
            m = draw(st.integers(1, halving))
            channels = [draw(st.integers(1, 3)) for _ in range(m)]
            src = add("multiscale_conv", src, channels=channels, kernel=draw(st.sampled_from([1, 3])))
            levels = [(ch,) + lv[1:] for ch, lv in zip(channels, levels[-m:])]
        if draw(st.booleans()):
            index = draw(st.integers(-len(levels), len(levels) - 1))
            return add("select_scale", src, index=index), levels[index]
        last = levels[-1]
        return add("flatten", src), (last[0] * last[1] * last[2],)

    def vec_step(src: str, shape: tuple, pool: list) -> tuple[str, tuple]:
        op = draw(st.sampled_from(["linear", "relu", "batchnorm", "concat", "add", "layernorm", "gelu", "dropout"]))
        if op == "linear":
            f = draw(st.integers(1, 6))
            return add("linear", src, features=f, bias=draw(st.booleans())), (f,)
        if op == "concat":
            other, other_shape = draw(st.sampled_from([(n, s) for n, s in pool if len(s) == 1]))
            return add("concat", [src, other]), (shape[0] + other_shape[0],)
        if op == "add":
            return add("add", [src, add("relu", src)]), shape
        return elementwise(op, src), shape

    def seq_step(src: str, shape: tuple, pool: list) -> tuple[str, tuple]:
        t, d = shape
        op = draw(st.sampled_from(["linear", "relu", "concat", "add", "layernorm", "gelu", "dropout",
                                   "flatten", "global_avgpool"]))
        if op == "linear":  # per token
            f = draw(st.integers(1, 6))
            return add("linear", src, features=f, bias=draw(st.booleans())), (t, f)
        if op == "concat":  # each token's features
            other, other_shape = draw(st.sampled_from([(n, s) for n, s in pool if len(s) == 2 and s[0] == t]))
            return add("concat", [src, other]), (t, d + other_shape[1])
        if op == "add":
            return add("add", [src, add("gelu", src)]), shape
        if op == "flatten":
            return add("flatten", src), (t * d,)
        if op == "global_avgpool":
            return add("global_avgpool", src), (d,)
        return elementwise(op, src), shape

    def steps(src: str, shape: tuple, n: int) -> tuple[str, tuple]:
        pool = [(src, shape)]
        for _ in range(n):
            src, shape = {3: map_step, 2: seq_step, 1: vec_step}[len(shape)](src, shape, pool)
            pool.append((src, shape))
        return src, shape

    def router(shape: tuple, arity: int) -> list[dict]:
        layers: list[dict] = []
        if len(shape) == 3:
            if draw(st.booleans()):
                fields, shape = conv(shape)
                layers.append({"kind": "conv2d", **fields})
            if min(shape[1:]) >= 2 and draw(st.booleans()):
                layers.append({"kind": "maxpool"})
            layers.append({"kind": "flatten"})
        if len(shape) == 2:  # a sequence: per-token layers, then pool or flatten to one vector
            if draw(st.booleans()):
                layers.append({"kind": "layernorm"})
            if draw(st.booleans()):
                layers += [{"kind": "linear", "features": draw(st.integers(1, 4))}, {"kind": "gelu"}]
            layers.append({"kind": draw(st.sampled_from(["global_avgpool", "flatten"]))})
        if draw(st.booleans()):
            layers.append({"kind": "dropout", "p": 0.5})
        return layers + [{"kind": "linear", "features": draw(st.integers(1, 4))}, {"kind": "relu"},
                         {"kind": "linear", "features": arity}]

    def region(src: str, shape: tuple, depth: int) -> None:
        src, shape = steps(src, shape, draw(st.integers(0, 3)))
        flat_cache: list[str] = []

        def flat() -> str:  # made only when something reads it (a node nobody reads is an error)
            if not flat_cache:
                to_vector = "flatten" if len(shape) == 3 else draw(st.sampled_from(["flatten", "global_avgpool"]))
                flat_cache.append(add(to_vector, src) if len(shape) > 1 else src)
            return flat_cache[0]

        if depth == 0 or draw(st.booleans()):
            add("classifier", flat(), classes=classes)
            return
        arity = draw(st.integers(2, 3))
        junction = {"name": f"junc{len(nodes)}", "kind": "junction", "sinks": []}
        if len(shape) > 1 and draw(st.booleans()):
            junction["router"] = {"reads": src, "layers": router(shape, arity)}
        else:
            junction["router"] = {"reads": flat(), "layers": router((0,), arity)}
        nodes.append(junction)
        for _ in range(arity):
            if len(shape) == 3 and draw(st.booleans()):
                fields, out = conv(shape)
                sink = add("conv2d", src, **fields)
                junction["sinks"].append(sink)
                region(sink, out, depth - 1)
            elif len(shape) == 2 and draw(st.booleans()):
                f = draw(st.integers(1, 5))
                sink = add("linear", src, features=f)  # per token
                junction["sinks"].append(sink)
                region(sink, (shape[0], f), depth - 1)
            else:
                f = draw(st.integers(1, 5))
                sink = add("linear", flat(), features=f)
                junction["sinks"].append(sink)
                region(sink, (f,), depth - 1)

    # at least one layer on the (non-square) input itself
    first = (t0, d0) if sequence else (c0, h, w)
    image, shape = (seq_step if sequence else map_step)("image", first, [("image", first)])
    region(image, shape, draw(st.integers(0, 2)))
    return {"name": "any_kind", "input": {"name": "image", "shape": list(first)}, "nodes": nodes}


def any_kind_specs(**kwargs):
    return any_kind_spec_dicts(**kwargs).map(lambda d: Spec(**d))
