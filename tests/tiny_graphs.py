"""Small routed chains built in Python, for training tests."""
from routegraph.graph import compile_spec
from routegraph.spec.schema import Spec


def tiny_chain_spec(depth: int = 3, classes: int = 4, channels: int = 4, size: int = 8) -> Spec:
    router = [{"kind": "linear", "features": 4}, {"kind": "relu"}, {"kind": "linear", "features": 2}]
    nodes, previous = [], "image"
    for i in range(1, depth + 1):
        nodes += [
            {"name": f"conv{i}", "kind": "conv2d", "input": previous, "channels": channels},
            {"name": f"bn{i}", "kind": "batchnorm", "input": f"conv{i}"},
            {"name": f"relu{i}", "kind": "relu", "input": f"bn{i}"},
            {"name": f"desc{i}", "kind": "flatten", "input": f"relu{i}"},
            {"name": f"exit{i}", "kind": "classifier", "input": f"desc{i}", "classes": classes},
        ]
        if i < depth:
            nodes.append({"name": f"j{i}", "kind": "junction", "router": {"reads": f"desc{i}", "layers": router},
                          "sinks": [f"exit{i}", f"conv{i + 1}"]})
        previous = f"relu{i}"
    return Spec(name="tiny", input={"name": "image", "shape": [3, size, size]}, nodes=nodes)


def tiny_chain(**kwargs):
    return compile_spec(tiny_chain_spec(**kwargs))


def model_that_routes(graph, seed: int = 0):
    """``build_model(graph)`` with its routers' last layers drawn instead of zero (which
    routes every example evenly), so that training tests see non-trivial routing."""
    import torch

    from routegraph import build_model

    torch.manual_seed(seed)
    model = build_model(graph)
    with torch.no_grad():
        for router in model.routers.values():
            router.layers[-1].weight.normal_(0, 0.5)
    return model
