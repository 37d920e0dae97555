"""What the machine refuses (a full disk, a path that cannot be created) and warnings reach the
user as one line each, through the one guard every command runs in (cli.main.run_guarded)."""
import errno
import types
import warnings

from routegraph.cli import main as cli_main
from routegraph.cli.main import main, run_guarded


def test_a_full_disk_is_one_line_naming_the_file_and_leaves_nothing(tmp_path, monkeypatch, capsys):
    def full(_fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("routegraph.io.os.fsync", full)
    target = tmp_path / "c.json"
    assert main(["compile", "specs/tiny_chain.yaml", "--json", str(target)]) == cli_main.EXIT_OS_ERROR
    err = capsys.readouterr().err.strip()
    assert err == f"{target}: No space left on device"
    assert list(tmp_path.iterdir()) == []  # neither the target nor a temporary file


def test_any_os_error_is_one_line_and_debug_shows_the_traceback(capsys):
    def run(_args):
        raise FileNotFoundError(errno.ENOENT, "No such file or directory", "/proc/x/c.json")

    assert run_guarded(run, types.SimpleNamespace(debug=False)) == cli_main.EXIT_OS_ERROR
    assert capsys.readouterr().err == "/proc/x/c.json: No such file or directory\n"
    try:
        run_guarded(run, types.SimpleNamespace(debug=True))
    except FileNotFoundError:
        pass
    else:
        raise AssertionError("--debug must re-raise")


def test_warnings_print_as_one_line(capsys):
    def run(_args):
        warnings.warn("runs/x/metrics.jsonl:2: dropped a torn last line", UserWarning)
        return 0

    assert run_guarded(run, types.SimpleNamespace(debug=False)) == 0
    assert capsys.readouterr().err == "warning: runs/x/metrics.jsonl:2: dropped a torn last line\n"
