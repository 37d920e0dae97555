"""``routegraph serve DIR``: an exported folder behind an HTTP endpoint with dynamic batching (docs/serving.md).

Needs aiohttp and onnxruntime (``pip install 'routegraph[serve]'``), not torch.

>>> from routegraph import deploy, serve                         # doctest: +SKIP
>>> serve.run(deploy.load("deployed/ac"), port=8000)              # doctest: +SKIP
"""
from __future__ import annotations

from .app import Limits, make_app

__all__ = ["Limits", "make_app", "run"]


def run(deployment, *, host: str = "127.0.0.1", port: int = 8000, limits: Limits = Limits(), print_=print) -> None:
    """Serve until SIGTERM or SIGINT; then stop listening, answer what is queued, and return."""
    from aiohttp import web

    web.run_app(make_app(deployment, limits), host=host, port=port, print=print_, shutdown_timeout=30,
                handle_signals=True, access_log=None)
