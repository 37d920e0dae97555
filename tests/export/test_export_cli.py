"""``routegraph export`` and ``routegraph predict --runtime onnx`` from the command line."""
import numpy as np
import pytest

from infer_helpers import fixed_and_dynamic_runs
from routegraph.cli.main import main


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return fixed_and_dynamic_runs(tmp_path_factory.mktemp("runs"))


@pytest.mark.parametrize("which", ["fixed", "dynamic"])
def test_export_then_predict_onnx_matches_predict_torch(runs, which, tmp_path, capsys):
    run = runs[0] if which == "fixed" else runs[1]
    out = tmp_path / "deployed"
    assert main(["export", str(run), "-o", str(out)]) == 0
    assert f"exported test-{'fixed' if which == 'fixed' else 'dyn'} to {out}" in capsys.readouterr().out
    images = np.random.default_rng(1).integers(0, 256, (30, 32, 32, 3), dtype=np.uint8)
    np.save(tmp_path / "images.npy", images)
    k = [] if which == "fixed" else ["--k-cpt", "4e-9"]
    assert main(["predict", str(run), str(tmp_path / "images.npy"), "--out", str(tmp_path / "torch.npz"), *k]) == 0
    assert main(["predict", str(out), str(tmp_path / "images.npy"), "--runtime", "onnx",
                 "--out", str(tmp_path / "onnx.npz"), *k]) == 0
    text = capsys.readouterr().out
    assert "mean ops" in text and "onnx.npz" in text
    a, b = np.load(tmp_path / "torch.npz"), np.load(tmp_path / "onnx.npz")
    for key in ("predictions", "exit", "ops", "classifiers", "class_names", "exit_classifier"):
        assert np.array_equal(a[key], b[key]), key
    np.testing.assert_allclose(a["logits"], b["logits"], atol=1e-4)


def test_predict_onnx_on_a_dynamic_export_needs_k_cpt(runs, tmp_path, capsys):
    out = tmp_path / "deployed"
    assert main(["export", str(runs[1]), "-o", str(out)]) == 0
    np.save(tmp_path / "images.npy", np.zeros((2, 32, 32, 3), np.uint8))
    capsys.readouterr()
    assert main(["predict", str(out), str(tmp_path / "images.npy"), "--runtime", "onnx"]) == 2
    err = capsys.readouterr().err
    assert "dynamic k_cpt: pass --k-cpt" in err and "Traceback" not in err


def test_bad_folders_are_one_line(runs, tmp_path, capsys):
    np.save(tmp_path / "images.npy", np.zeros((2, 32, 32, 3), np.uint8))
    assert main(["predict", str(runs[0]), str(tmp_path / "images.npy"), "--runtime", "onnx"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith("not an exported folder (no manifest.json; write one with 'routegraph export RUN -o DIR')")
    assert len(err.splitlines()) == 1
    assert main(["export", str(tmp_path / "nope"), "-o", str(tmp_path / "o")]) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_a_missing_optional_dependency_names_its_extra():
    from routegraph.cli.main import missing_extra

    assert missing_extra(ModuleNotFoundError("x", name="torch")).startswith(
        "routegraph: this command needs torch, which is not installed: pip install 'routegraph[torch]'")
    assert missing_extra(ModuleNotFoundError("x", name="yaml")) is None
