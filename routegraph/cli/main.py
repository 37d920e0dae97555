"""The ``routegraph`` command line: a thin dispatcher.

Each command lives in its own module ``routegraph.cli.<module>`` exposing
``add_arguments(parser)`` and ``run(args) -> int``; only the chosen command's
module is imported. Every :class:`~routegraph.errors.RouteGraphError` becomes a
message on stderr and a non-zero exit code, with a traceback only under
``--debug``.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys
import warnings

# command -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "compile": ("compile_cmd", "validate a spec and print shapes, ops and paths"),
    "schema": ("schema_cmd", "print the JSON Schema of spec files"),
    "train": ("train_cmd", "train a network (static, actor or critic strategy)"),
    "evaluate": ("evaluate_cmd", "evaluate a trained run on the test split"),
    "data": ("data_cmd", "download and prepare datasets"),
    "render": ("render_cmd", "draw architecture and dataflow diagrams"),
    "plot": ("plot_cmd", "plot accuracy/efficiency curves and dataflow over training"),
    "report": ("report_cmd", "write a self-contained HTML report of runs"),
    "predict": ("predict_cmd", "run routed inference on arrays (.npy, .npz) or image files"),
    "calibrate": ("calibrate_cmd", "pick k_cpt to meet an ops budget"),
    "export": ("export_cmd", "export a trained run to ONNX for routegraph.deploy (no torch needed to run it)"),
    "serve": ("serve_cmd", "serve an exported folder over HTTP, batching concurrent requests"),
    "sweep": ("sweep_cmd", "run an experiment file's sweep of trainings"),
    "demo": ("demo_cmd", "the end-to-end demo: compile, train, evaluate, draw, report"),
}

EXIT_USER_ERROR = 2
EXIT_OS_ERROR = 1  # the machine refused (disk full, permissions): not the user's input


class CommandParser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line (train's usage alone is a dozen), exit 2."""

    def error(self, message):
        self.exit(EXIT_USER_ERROR, f"{self.prog}: {message} (see '{self.prog} --help')\n")


def _top_parser() -> argparse.ArgumentParser:
    lines = "\n".join(f"  {name:<10} {help_}" for name, (_, help_) in COMMANDS.items())
    parser = CommandParser(
        prog="routegraph",
        description="Dynamically-routed neural networks from YAML specs.",
        epilog=f"commands:\n{lines}\n\nRun 'routegraph COMMAND --help' for a command's options.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("command", choices=sorted(COMMANDS), metavar="COMMAND")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # Idle OpenMP threads sleep instead of spinning: ~2% slower on an idle machine,
    # several times faster when sharing cores (docs/training.md, "Threads"). Must
    # precede torch's import, which the command modules do.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    debug = "--debug" in argv
    if debug:
        argv.remove("--debug")
    if not argv or argv[0] in ("-h", "--help"):
        _top_parser().print_help()
        return 0 if argv else EXIT_USER_ERROR
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        _top_parser().parse_args([command])  # prints the choices and exits 2
    module_name = COMMANDS[command][0]
    try:
        module = importlib.import_module(f"routegraph.cli.{module_name}")
    except ModuleNotFoundError as exc:
        if missing_extra(exc) and not debug:
            print(missing_extra(exc), file=sys.stderr)
            return EXIT_USER_ERROR
        if exc.name != f"routegraph.cli.{module_name}":
            raise
        print(f"routegraph: the '{command}' command is not available in this version", file=sys.stderr)
        return EXIT_USER_ERROR
    args = build_parser(command, module).parse_args(rest)
    args.debug = debug
    return run_guarded(module.run, args)


def build_parser(command: str, module=None) -> CommandParser:
    """The argument parser of one command (its module imported unless given)."""
    module_name, help_ = COMMANDS[command]
    module = module or importlib.import_module(f"routegraph.cli.{module_name}")
    parser = CommandParser(prog=f"routegraph {command}", description=help_)
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    module.add_arguments(parser)
    from .options import add_allow_import_flag

    add_allow_import_flag(parser)
    return parser


def run_guarded(run, args) -> int:
    """Run a command; turn routegraph errors, and a file system's refusals (disk full, a
    path that cannot be created), into one-line messages and exit codes; warnings print as
    one line each. ``--debug`` shows tracebacks and Python's own warning format."""
    from routegraph.errors import RouteGraphError
    from routegraph.imports import granted_in_env

    with warnings.catch_warnings():
        if not args.debug:
            warnings.showwarning = _one_line_warning
        try:
            with granted_in_env(getattr(args, "allow_import", None)):  # seen by every spec and run loaded
                return int(run(args) or 0)
        except RouteGraphError as exc:
            if args.debug:
                raise
            print(str(exc), file=sys.stderr)
            return EXIT_USER_ERROR
        except ModuleNotFoundError as exc:
            if args.debug or missing_extra(exc) is None:
                raise
            print(missing_extra(exc), file=sys.stderr)
            return EXIT_USER_ERROR
        except OSError as exc:
            if args.debug:
                raise
            print(os_error_message(exc), file=sys.stderr)
            return EXIT_OS_ERROR
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            return 130


#: Optional dependencies: top-level module -> the extra that installs it (pyproject.toml).
EXTRAS = {"torch": "torch", "onnx": "export", "onnxruntime": "deploy", "aiohttp": "serve", "ray": "ray"}


def missing_extra(exc: ModuleNotFoundError) -> str | None:
    """One line saying which extra installs a missing optional dependency (None: not one of ours).

    >>> missing_extra(ModuleNotFoundError("No module named 'onnxruntime'", name="onnxruntime"))
    "routegraph: this command needs onnxruntime, which is not installed: pip install 'routegraph[deploy]'"
    """
    top = (exc.name or "").split(".")[0]
    if top not in EXTRAS:
        return None
    hint = " (CPU build: pip install torch==2.13.0 first)" if top == "torch" else ""
    return f"routegraph: this command needs {top}, which is not installed: pip install 'routegraph[{EXTRAS[top]}]'{hint}"


def os_error_message(exc: OSError) -> str:
    """One line naming the file: ``out/c.json: No space left on device``.

    >>> os_error_message(OSError(28, "No space left on device", "out/c.json"))
    'out/c.json: No space left on device'
    """
    where = exc.filename if exc.filename is not None else "routegraph"
    return f"{where}: {exc.strerror or exc}"


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"warning: {message}", file=sys.stderr)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
