"""``routegraph serve`` as a child process on a free loopback port, for tests, benchmarks and notebooks.

>>> server = ServerProcess("deployed/ac", "--threads", "1")      # doctest: +SKIP
>>> server.url                                                   # doctest: +SKIP
'http://127.0.0.1:40123'
>>> code, out, err = server.stop()                               # doctest: +SKIP
"""
from __future__ import annotations

import signal
import subprocess
import sys

from ..errors import DeployError


class ServerProcess:
    """``python -m routegraph serve FOLDER --port 0 FLAGS``; ``url`` is read from the line it prints when it
    listens ("serving ... on http://HOST:PORT ..."). ``stderr``: as for :class:`subprocess.Popen`."""

    def __init__(self, folder, *flags: str, stderr=subprocess.PIPE):
        self.process = subprocess.Popen([sys.executable, "-m", "routegraph", "serve", str(folder), "--port", "0",
                                         *flags], stdout=subprocess.PIPE, stderr=stderr, text=True)
        line = self.process.stdout.readline()
        if " on http://" not in line:
            self.process.kill()
            said = self.process.stderr.read()[-2000:] if self.process.stderr else ""
            raise DeployError(f"routegraph serve {folder} did not start: {line.strip() or said.strip()!r}")
        self.url = line.split(" on ", 1)[1].split(" ", 1)[0]

    def stop(self, timeout: float = 60) -> tuple[int, str, str | None]:
        """SIGTERM, then wait: ``(exit code, the rest of stdout, stderr if captured)``."""
        self.process.send_signal(signal.SIGTERM)
        out, err = self.process.communicate(timeout=timeout)
        return self.process.returncode, out, err
