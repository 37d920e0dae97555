"""Data directory resolution and the ``routegraph data`` command."""
from __future__ import annotations

from routegraph.cli.main import main
from routegraph.data import resolve_data_dir
from routegraph.data.paths import cache_dirs, is_writable_dir, user_cache_dir, writable_cache_dir


def test_resolution_order(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("ROUTEGRAPH_DATA", str(tmp_path / "env"))
    assert resolve_data_dir(tmp_path / "arg") == tmp_path / "arg"
    assert resolve_data_dir() == tmp_path / "env"
    monkeypatch.setenv("ROUTEGRAPH_DATA", "")
    assert resolve_data_dir() == tmp_path / "xdg" / "routegraph"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert resolve_data_dir() == tmp_path / "home" / ".cache" / "routegraph"
    assert user_cache_dir() == tmp_path / "home" / ".cache" / "routegraph"


def test_read_only_dir_gets_a_private_cache_in_the_user_cache(tmp_path, isolated_cache):
    shared = tmp_path / "shared"
    shared.mkdir()
    assert cache_dirs(shared)[0] == shared / "tasks"
    shared.chmod(0o555)
    try:
        assert not is_writable_dir(shared) and not is_writable_dir(shared / "tasks")
        target = writable_cache_dir(shared)
        assert target.parent == isolated_cache / "tasks" and target.name.startswith("shared-")
        other = tmp_path / "other" / "shared"
        other.mkdir(parents=True)
        other.chmod(0o555)
        assert writable_cache_dir(other) != target  # same name, different path: separate caches
    finally:
        shared.chmod(0o755)
    assert is_writable_dir(tmp_path / "not" / "yet" / "created")


def test_cli_info_lists_tasks_and_what_is_present(raw_dir, capsys):
    assert main(["data", "info", "--data-dir", str(raw_dir)]) == 0
    out = capsys.readouterr().out
    for name in ("hybrid", "cifar2", "cifar5", "cifar10", "mnist", "synthetic"):
        assert name in out
    assert str(raw_dir / "mnist" / "train-images-idx3-ubyte.gz") in out
    assert str(raw_dir / "cifar-10-batches-py") in out and "--data-dir" in out


def test_cli_prepare_prints_counts_cache_path_and_time(raw_dir, raw, capsys):
    assert main(["data", "prepare", "hybrid", "--data-dir", str(raw_dir), "--seed", "2"]) == 0
    out = capsys.readouterr().out
    assert str(raw_dir / "tasks" / "hybrid-v1-seed2.pt") in out and "time:" in out
    rows = {line.split()[1]: line.split()[2:4] for line in out.splitlines() if line[:2].strip().isdigit()}
    assert rows["0"] == [str(raw.mnist_train_counts[0]), str(raw.mnist_test_counts[0])]
    assert rows["airplane"] == [str(raw.cifar_train_counts[0]), str(raw.cifar_test_counts[0])]
    assert main(["data", "info", "hybrid", "--data-dir", str(raw_dir), "--seed", "2"]) == 0
    assert "hybrid-v1-seed2.pt" in capsys.readouterr().out


def test_cli_errors_are_clean(tmp_path, isolated_cache, capsys):
    assert main(["data", "prepare", "hybird", "--data-dir", str(tmp_path)]) == 2
    assert "did you mean 'hybrid'" in capsys.readouterr().err
    assert main(["data", "prepare", "cifar10", "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "CIFAR-10 not found" in err and "Traceback" not in err


def test_cli_download_uses_the_mirror(tmp_path, isolated_cache, capsys):
    # Nothing listens on port 9: the error names the mirror URL and how to get the file by hand.
    code = main(["data", "download", "mnist", "--data-dir", str(tmp_path), "--mirror", "http://127.0.0.1:9/x", "--no-progress"])
    assert code == 2
    err = capsys.readouterr().err
    assert "http://127.0.0.1:9/x/train-images-idx3-ubyte.gz" in err and "by hand" in err


def test_cli_sheet_writes_a_png(raw_dir, tmp_path, capsys):
    out = tmp_path / "sheet.png"
    assert main(["data", "sheet", "mnist", "--data-dir", str(raw_dir), "--out", str(out), "--per-class", "3"]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
