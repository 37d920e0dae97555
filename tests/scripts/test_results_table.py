"""scripts/results_table.py, which prints the tables of docs/results.md: exit layers read
from the compiled graph (layer 8 on the chain, not its 7 routing decisions), and the
static-mix baseline checked against brute force."""
import importlib.util
import re
import shutil
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[2]
# An optimistic critic that sends most images to the last layers of the 8-layer chain.
SAVED_RUN = ROOT / "docs" / "results" / "runs" / "hybrid-small-gpu-tier2" / "oc-1e-09-46907f"


_SPEC = importlib.util.spec_from_file_location("results_table", ROOT / "scripts" / "results_table.py")
results_table = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(results_table)


def test_exit_layers_count_the_last_layer_as_8(tmp_path, capsys):
    import json

    folder = tmp_path / "runs"
    shutil.copytree(SAVED_RUN, folder / SAVED_RUN.name)
    results_table.print_exit_layers([folder])
    (row,) = [line for line in capsys.readouterr().out.splitlines() if "| runs |" in line]  # where = the folder
    digits_mean, objects_mean = (float(cell) for cell in row.strip("| ").split(" | ")[-2:])

    record = json.loads((SAVED_RUN / "eval.json").read_text())["evaluations"][0]
    sums = {"digits": [0, 0], "objects": [0, 0]}
    for name, info in record["classifiers"].items():
        layer = int(re.search(r"l(\d+)\.exit$", name).group(1))  # the chain's classifiers are l1.exit .. l8.exit
        for k, (right, wrong) in enumerate(zip(info["correct_by_class"], info["incorrect_by_class"])):
            part = sums["digits" if k < 5 else "objects"]
            part[0] += layer * (right + wrong)
            part[1] += right + wrong
    assert record["classifiers"]["l8.exit"]["count"] > 0  # the case the old depth (7 decisions) got wrong
    assert digits_mean == pytest.approx(sums["digits"][0] / sums["digits"][1], abs=0.005)
    assert objects_mean == pytest.approx(sums["objects"][0] / sums["objects"][1], abs=0.005)


points = st.lists(st.tuples(st.floats(1.0, 100.0), st.floats(0.0, 1.0)), min_size=1, max_size=8,
                  unique_by=lambda p: round(p[0], 3))


@settings(max_examples=200, deadline=None)
@given(points=points, where=st.floats(0.0, 1.2))
def test_static_mix_is_the_best_mix_of_two_static_nets(points, where):
    static = [{"ops": ops, "error": error} for ops, error in points]
    low, high = min(p[0] for p in points), max(p[0] for p in points)
    ops = low + where * (high - low)
    got = results_table.static_hull_at(static, ops)
    # brute force: any one net at or below the budget, or a mix of two nets spending exactly ``ops``
    best = min(e for o, e in points if o <= ops + 1e-9)
    for o1, e1 in points:
        for o2, e2 in points:
            if o1 < ops < o2:
                t = (ops - o1) / (o2 - o1)
                best = min(best, e1 + t * (e2 - e1))
    assert got == pytest.approx(best, abs=1e-9)
