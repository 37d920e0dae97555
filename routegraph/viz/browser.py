"""Checking an HTML page in a real headless browser (chromium), e.g. the report.

>>> result = check_in_browser("report.html", screenshot="report.png")   # doctest: +SKIP
>>> result.console_errors, result.attribute("data-images-loaded")        # doctest: +SKIP
([], '12/12')

Nothing is fetched from the network: background networking and component
updates are off, and the page itself must be self-contained.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import BrowserError, BrowserNotFound

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome", "headless_shell")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", "--enable-logging=stderr", "--v=0")
_CONSOLE = re.compile(r":CONSOLE[:(]\d+\)?\]\s*(.*)$")


@dataclass
class BrowserCheck:
    dom: str
    console: list[str] = field(default_factory=list)  # every console message the page logged
    errors: list[str] = field(default_factory=list)  # uncaught exceptions and failed loads reported in the log
    screenshot: Path | None = None

    @property
    def console_errors(self) -> list[str]:
        return self.console + self.errors

    def attribute(self, name: str) -> str | None:
        """The value of attribute ``name`` on the <body> of the rendered DOM."""
        body = re.search(r"<body\b[^>]*>", self.dom)
        match = re.search(rf'\b{re.escape(name)}="([^"]*)"', body.group(0)) if body else None
        return match.group(1) if match else None


def find_chromium() -> str | None:
    """The path of a chromium-like browser on the PATH, or None."""
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    return None


def _run(browser: str, args: list[str], profile: str, timeout: float) -> subprocess.CompletedProcess:
    try:
        return subprocess.run([browser, *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True,
                              text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise BrowserError(f"{browser} did not finish within {timeout:.0f} s") from None


def check_in_browser(html: str | Path, screenshot: str | Path | None = None, *, width: int = 1280,
                     height: int = 2000, timeout: float = 90.0, browser: str | None = None) -> BrowserCheck:
    """Load ``html`` in headless chromium: the rendered DOM, console messages and, if asked, a screenshot.

    Raises :class:`BrowserNotFound` when no chromium is installed.
    """
    html = Path(html).resolve()
    if not html.is_file():
        raise BrowserError(f"{html}: no such file")
    browser = browser or find_chromium()
    if browser is None:
        raise BrowserNotFound("no headless chromium found (looked for " + ", ".join(BROWSERS) + "); "
                              "install it (e.g. 'apt-get install chromium') to check pages in a browser")
    url = html.as_uri()
    with tempfile.TemporaryDirectory(prefix="routegraph-chromium-") as profile:
        done = _run(browser, ["--dump-dom", url], profile, timeout)
        if done.returncode != 0 and not done.stdout:
            raise BrowserError(f"{browser} failed (exit {done.returncode}): {done.stderr.strip()[-500:]}")
        console, errors = [], []
        for line in done.stderr.splitlines():
            found = _CONSOLE.search(line)
            if found:
                console.append(found.group(1).strip())
            elif "Uncaught" in line or "net::ERR_" in line:
                errors.append(line.strip())
        result = BrowserCheck(done.stdout, console, errors)
        if screenshot is not None:
            shot = Path(screenshot).resolve()
            shot.parent.mkdir(parents=True, exist_ok=True)
            done = _run(browser, [f"--screenshot={shot}", f"--window-size={width},{height}", "--hide-scrollbars", url],
                        profile, timeout)
            if not shot.is_file():
                raise BrowserError(f"{browser} wrote no screenshot (exit {done.returncode}): {done.stderr.strip()[-500:]}")
            result.screenshot = shot
    return result
