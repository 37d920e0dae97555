"""``routegraph report``: one self-contained HTML page of runs (every picture embedded).

    routegraph report runs/ -o report.html
    routegraph report runs/ -o report.html --check --screenshot report.png   # verify in headless chromium
"""
from __future__ import annotations

import sys

from .options import output_file


def add_arguments(parser):
    parser.add_argument("runs", nargs="+", metavar="RUN",
                        help="run directories, directories of runs, or glob patterns")
    parser.add_argument("-o", "--out", default="report.html", metavar="FILE", type=output_file, help="the HTML file (default: report.html)")
    parser.add_argument("--title", default="routegraph report", help="page title")
    parser.add_argument("--check", action="store_true",
                        help="open the page in headless chromium and fail on console errors or undecoded pictures")
    parser.add_argument("--screenshot", metavar="PNG", type=output_file, help="with --check: also save a screenshot of the page")


def run(args) -> int:
    from ..viz.report import write_report
    from ..viz.runs import find_runs

    runs = find_runs(args.runs)
    path = write_report(runs, args.out, title=args.title)
    print(f"wrote {path} ({len(runs)} run{'s' if len(runs) != 1 else ''}, {path.stat().st_size / 1e6:.1f} MB)")
    if args.check or args.screenshot:
        return _check(path, args.screenshot)
    return 0


def _check(path, screenshot) -> int:
    from ..viz.browser import BrowserNotFound, check_in_browser

    try:
        result = check_in_browser(path, screenshot)
    except BrowserNotFound as exc:
        print(f"browser check skipped: {exc}", file=sys.stderr)
        return 0
    loaded = result.attribute("data-images-loaded")
    problems = list(result.console_errors)
    if loaded is None:
        problems.append("the page's picture check did not run")
    else:
        ok, total = loaded.split("/")
        if ok != total:
            problems.append(f"only {ok} of {total} pictures decoded")
    if result.screenshot:
        print(f"wrote {result.screenshot}")
    if problems:
        print("browser check failed:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 1
    print(f"browser check passed: {loaded} pictures decoded, no console errors")
    return 0
