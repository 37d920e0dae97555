"""Shared checks of the export tests: an exported folder agrees with ``route()``."""
from __future__ import annotations

import numpy as np
import torch

#: Router score margins below this may flip between torch's and ONNX Runtime's float32 rounding
#: (measured differences of scores: below 1e-5 on every spec); a decision with a wider margin must agree.
TIE = 1e-4
#: Logits agree to float32 rounding of two kernel libraries (measured: at most 4e-6 on every spec).
LOGITS_TOL = 1e-4


def near_tie_rows(model, x, k_cpt=None) -> np.ndarray:
    """Rows of ``x`` whose path crosses a junction where the top two router scores lie within ``TIE``."""
    with torch.no_grad():
        scores = model(x, k_cpt if model.graph.k_cpt_input else None).scores
    tied = np.zeros(len(x), dtype=bool)
    for name, s in scores.items():
        top = torch.topk(s, 2, dim=1).values if s.shape[1] > 1 else None
        if top is not None:
            tied |= ((top[:, 0] - top[:, 1]).abs() < TIE).numpy()
    return tied


def assert_matches_route(model, net, x, k_cpt=None, force=None):
    """``net.predict`` (an exported folder) equals ``route(model, ...)``: decisions and predictions on every
    example not nearly tied at a router, ops exactly wherever the exits agree, logits to ``LOGITS_TOL``."""
    from routegraph.infer import route

    ref = route(model, x, k_cpt, force=force)
    out = net.predict(x.numpy(), None if k_cpt is None else (k_cpt.numpy() if torch.is_tensor(k_cpt) else k_cpt),
                      force=None if force is None else {j: d.numpy() for j, d in force.items()})
    same = out.exit == ref.exit.numpy()
    if force is None:
        differ = ~same
        assert not (differ & ~near_tie_rows(model, x, k_cpt)).any(), (out.exit, ref.exit)
    else:
        assert same.all()
    assert same.mean() >= 0.9, "too many near ties for the comparison to mean anything"
    assert (out.ops[same] == ref.ops.numpy()[same]).all()
    assert (out.ops == net.path_ops[out.exit]).all()
    logits = ref.logits.numpy()[same]
    np.testing.assert_allclose(out.logits[same], logits, atol=LOGITS_TOL, rtol=LOGITS_TOL)
    agree = np.abs(logits - out.logits[same]).max(1) < 1e-3
    top2 = np.sort(logits, 1)[:, -2:] if logits.shape[1] > 1 else None
    decided = agree if top2 is None else agree & (top2[:, 1] - top2[:, 0] > TIE)
    assert (out.predictions[same][decided] == ref.predictions.numpy()[same][decided]).all()
    return out, ref
