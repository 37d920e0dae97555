"""Shared helpers for the routed-inference tests."""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

REPO = Path(__file__).resolve().parents[2]


def randomize(model: nn.Module, seed: int = 0, router_scale: float = 3.0) -> nn.Module:
    """Give BN layers non-trivial running statistics and affine parameters, and the
    routers' (zero-initialised) last layers random weights, so that decisions vary."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                n = module.num_features
                module.running_mean.copy_(torch.randn(n, generator=gen) * 0.3)
                module.running_var.copy_(torch.rand(n, generator=gen) * 1.5 + 0.25)
                module.weight.copy_(torch.rand(n, generator=gen) + 0.5)
                module.bias.copy_(torch.randn(n, generator=gen) * 0.2)
        for router in getattr(model, "routers", {}).values():
            last = router.layers[-1]
            last.weight.copy_(torch.randn(last.weight.shape, generator=gen) * router_scale / last.weight.shape[1] ** 0.5)
            if last.bias is not None:
                last.bias.copy_(torch.randn(last.bias.shape, generator=gen) * 0.1)
    return model.eval()


def counted_macs(fn):
    """(FlopCounterMode's FLOPs / 2, ``fn()``), attention run as matmuls (the math kernel, no fast
    path: fused kernels compute the same products unseen by the counter; docs/spec.md, 'module')."""
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.utils.flop_counter import FlopCounterMode

    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
            out = fn()
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
    return counter.get_total_flops() / 2, out


def tiny_chain_graph(k_cpt_input: bool = False):
    from routegraph.graph import compile_spec
    from routegraph.spec.loader import load_spec

    return compile_spec(load_spec(REPO / "specs" / "tiny_chain.yaml"), k_cpt_input=k_cpt_input)


def assert_same_routing(out, ref, logits_tol: float = 1e-9):
    """Path-only output ``out`` agrees with the dense reference ``ref``."""
    assert torch.equal(out.exit, ref.exit), (out.exit, ref.exit)
    assert torch.equal(out.predictions, ref.predictions)
    assert torch.equal(out.ops, ref.ops)
    for name, d in ref.decisions.items():
        assert torch.equal(out.decisions[name], d), name
    if ref.logits is not None:
        assert out.logits is not None
        torch.testing.assert_close(out.logits, ref.logits, atol=logits_tol, rtol=logits_tol)


def mixed_force(graph, n: int, seed: int = 0):
    """(exits, force): a random classifier per example (every one used when n allows)
    and the junction decisions that lead there, for ``route(..., force=force)``."""
    gen = torch.Generator().manual_seed(seed)
    L = len(graph.paths)
    exits = torch.cat([torch.arange(L), torch.randint(L, (max(n - L, 0),), generator=gen)])[:n]
    exits = exits[torch.randperm(n, generator=gen)]
    force = {j.name: torch.zeros(n, dtype=torch.long) for j in graph.junctions}
    for i, e in enumerate(exits.tolist()):
        for junction, sink in graph.paths[e].decisions:
            force[junction][i] = sink
    return exits, force


def k_sensitive(model: nn.Module, seed: int = 0, strength: float = 10.0) -> nn.Module:
    """Make a dynamic-k_cpt model's routers prefer 'exit' (sink 0) more as k_cpt grows.

    Router: linear(desc + k) -> BN -> ReLU -> linear(2). Hidden unit 0 reads the
    descriptor (random weights) plus ``strength * 1e7 * k_cpt``; sink 0's score is
    that unit, sink 1's a constant. Each example's decision is then monotone in
    k_cpt, with thresholds that differ between examples.
    """
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for router in model.routers.values():
            first, last = router.layers[0], router.layers[-1]
            first.weight.copy_(torch.randn(first.weight.shape, generator=gen) / first.weight.shape[1] ** 0.5)
            first.weight[:, -1] = 0.0
            first.weight[0, -1] = strength
            first.bias.zero_()
            for layer in router.layers:
                if isinstance(layer, nn.modules.batchnorm._BatchNorm):
                    layer.reset_running_stats()
                    layer.weight.fill_(1.0)
                    layer.bias.zero_()
            last.weight.zero_()
            last.weight[0, 0] = 1.0
            last.bias.copy_(torch.tensor([0.0, 1.5]))
    return model.eval()


def fixed_and_dynamic_runs(base: Path) -> tuple[Path, Path]:
    """Two run directories under ``base``: a fixed-k_cpt run (k_cpt 1e-8) and a dynamic-k_cpt one
    whose routers follow k_cpt, with 96 validation images."""
    import torch

    from routegraph.nn import build_model

    torch.manual_seed(0)
    fixed = write_run(base / "fixed", randomize(build_model(tiny_chain_graph()), seed=2), dynamic=False, k_cpt=1e-8)
    dynamic = write_run(base / "dynamic", k_sensitive(build_model(tiny_chain_graph(k_cpt_input=True)), seed=1),
                        dynamic=True, n_test=96)
    return fixed, dynamic


def write_run(path: Path, model, *, dynamic: bool, k_cpt=None, n_test: int = 64) -> Path:
    """A minimal run directory (docs/run-format.md) holding ``model``, on the synthetic task."""
    import json

    from routegraph.train.checkpoint import write_checkpoint

    path.mkdir(parents=True, exist_ok=True)
    config = {
        "format": "routegraph.run/1", "run_id": "test-" + ("dyn" if dynamic else "fixed"), "method": "actor",
        "label": "actor", "spec": "specs/tiny_chain.yaml", "k_cpt": None if dynamic else k_cpt,
        "dynamic_k_cpt": dynamic, "k_cpt_set": [0.0, 1e-9, 2e-9, 4e-9, 8e-9, 1.6e-8, 3.2e-8, 6.4e-8],
        # half of the training images held out: ``n_test`` validation images for calibrate
        "data": "synthetic", "data_options": {"n_train": 2 * n_test, "n_test": n_test},
        "validation": {"val_fraction": 0.5, "val_max": 0, "source": "train", "seed": 0, "n": n_test},
        "class_names": ["disk", "square", "triangle", "cross", "ring", "dots-row", "dots-column",
                        "dots-diagonal", "dots-antidiagonal", "dots-scattered"],
    }
    (path / "config.json").write_text(json.dumps(config))
    (path / "compiled.json").write_text(model.graph.dumps())
    write_checkpoint(path / "checkpoint.pt", {"model": model.state_dict()})
    return path
