"""The HTTP application: ``POST /predict``, ``GET /healthz``, ``GET /info`` (aiohttp; no torch).

A request is JSON ``{"inputs": [example, ...], "k_cpt": 4e-9}`` (or ``{"input": example}``), each
example nested lists of the network's input shape; or ``application/octet-stream``: raw float32
little-endian bytes of ``[n, *input shape]``, with ``?k_cpt=`` in the query. The answer is JSON
``{"predictions", "classes", "exits", "ops"}``, one entry per example, in order. Every client error
is a 4xx with ``{"error": "one line"}``; nothing a client sends can crash the server.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field

import numpy as np
from aiohttp import web

from ..errors import RouteGraphError
from .batcher import Batcher, QueueFull, ShuttingDown

BATCHER = web.AppKey("batcher", Batcher)
LIMITS = web.AppKey("limits", object)
DEPLOYMENT = web.AppKey("deployment", object)


def _limit(default, help: str):
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class Limits:
    """What one server accepts; each field is a ``routegraph serve`` flag, its help from ``metadata``."""

    max_batch: int = _limit(256, "most examples per predict call (requests are coalesced up to this)")
    max_wait_ms: float = _limit(0.0, "longest a request waits for others to join its batch, in milliseconds "
                                     "(0: a batch is what queued while the last one ran; docs/serving.md)")
    max_queue: int = _limit(1024, "most requests waiting; more are refused with 503 and Retry-After")
    max_request_examples: int = _limit(256, "most examples in one request (more: 413)")
    max_body_bytes: int = _limit(32 * 1024 * 1024, "largest request body in bytes (more: 413)")


class ClientError(RouteGraphError):
    """A request the server refuses: ``status`` and a one-line ``message``."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def _error(status: int, message: str, **headers) -> web.Response:
    return web.json_response({"error": message}, status=status, headers=headers or None)


@web.middleware
async def json_errors(request, handler):
    """404, 405, 413 and every refusal as one-line JSON; an unexpected failure is a 500 that says so."""
    try:
        return await handler(request)
    except ClientError as exc:
        return _error(exc.status, exc.message)
    except web.HTTPRequestEntityTooLarge as exc:
        return _error(413, f"request body over {request.app[LIMITS].max_body_bytes} bytes (--max-body-bytes)")
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        allowed = getattr(exc, "allowed_methods", None)
        extra = f"; allowed: {', '.join(sorted(allowed))}" if allowed else ""
        return _error(exc.status, f"{exc.reason}: {request.method} {request.path}{extra}")


def _examples(deployment, data, limits: Limits) -> np.ndarray:
    shape = tuple(deployment.input_shape)
    try:
        x = np.asarray(data, dtype=np.float32)
    except (ValueError, TypeError):
        raise ClientError(400, f"inputs must be numbers nested as [n, {', '.join(map(str, shape))}]") from None
    if x.ndim == len(shape):
        x = x[None]
    if tuple(x.shape[1:]) != shape:
        raise ClientError(400, f"inputs of shape {list(x.shape)}; the network takes [n, {', '.join(map(str, shape))}]")
    if len(x) == 0:
        raise ClientError(400, "no inputs")
    if len(x) > limits.max_request_examples:
        raise ClientError(413, f"{len(x)} examples in one request; at most {limits.max_request_examples} "
                               "(--max-request-examples)")
    if not np.isfinite(x).all():
        raise ClientError(400, "inputs hold NaN or infinite values")
    return x


def _k_cpt(deployment, value):
    if value is None:
        if deployment.k_cpt_input:
            raise ClientError(400, "this network's routers read k_cpt (dynamic k_cpt): send \"k_cpt\"")
        return None
    if not deployment.k_cpt_input:
        raise ClientError(400, "this network's routers do not read k_cpt (fixed k_cpt): leave \"k_cpt\" out")
    try:
        k = float(value)
    except (TypeError, ValueError):
        raise ClientError(400, f"k_cpt must be a number, got {value!r}") from None
    if not math.isfinite(k) or k < 0:
        raise ClientError(400, f"k_cpt must be finite and >= 0, got {value!r}")
    return k


async def _parse(request, deployment, limits: Limits):
    kind = request.content_type
    if kind == "application/octet-stream":
        body = await request.read()
        per = int(np.prod(deployment.input_shape)) * 4
        if len(body) == 0 or len(body) % per:
            raise ClientError(400, f"octet-stream body of {len(body)} bytes is not a whole number of float32 examples "
                                   f"of {per} bytes")
        x = np.frombuffer(body, dtype="<f4").reshape(-1, *deployment.input_shape)
        return _examples(deployment, x, limits), _k_cpt(deployment, request.query.get("k_cpt"))
    if kind != "application/json":
        raise ClientError(415, f"content type {kind or 'none'!r}; send application/json or application/octet-stream")
    try:
        payload = json.loads(await request.read())
    except (ValueError, UnicodeDecodeError) as exc:
        raise ClientError(400, f"body is not JSON ({exc})") from None
    if not isinstance(payload, dict) or ("inputs" in payload) == ("input" in payload):
        raise ClientError(400, 'send an object with "inputs" (a list of examples) or "input" (one example)')
    unknown = sorted(set(payload) - {"inputs", "input", "k_cpt"})
    if unknown:
        raise ClientError(400, f"unknown field(s) {', '.join(unknown)} (known: inputs, input, k_cpt)")
    data = payload["inputs"] if "inputs" in payload else [payload["input"]]
    if not isinstance(data, list):
        raise ClientError(400, '"inputs" must be a list of examples')
    return _examples(deployment, data, limits), _k_cpt(deployment, payload.get("k_cpt"))


async def predict(request):
    deployment = request.app[DEPLOYMENT]
    x, k = await _parse(request, deployment, request.app[LIMITS])
    try:
        rows = await request.app[BATCHER].submit(x, k)
    except QueueFull:
        return _error(503, "the server is busy (queue full); retry", **{"Retry-After": "1"})
    except ShuttingDown:
        return _error(503, "the server is shutting down")
    names = deployment.class_names
    return web.json_response({"predictions": rows["predictions"],
                              "classes": [names[p] if p < len(names) else str(p) for p in rows["predictions"]],
                              "exits": [deployment.classifiers[e] for e in rows["exit"]], "ops": rows["ops"]})


async def healthz(request):
    return web.json_response({"ok": True, "run_id": request.app[DEPLOYMENT].run_id})


async def info(request):
    d, limits = request.app[DEPLOYMENT], request.app[LIMITS]
    return web.json_response({"run_id": d.run_id, "input_shape": list(d.input_shape), "class_names": d.class_names,
                              "classifiers": list(d.classifiers), "k_cpt_input": d.k_cpt_input,
                              "limits": asdict(limits),
                              "batches": request.app[BATCHER].stats.as_dict(),
                              "waiting": request.app[BATCHER].waiting})


def make_app(deployment, limits: Limits = Limits()) -> web.Application:
    """The application serving ``deployment`` (a :class:`routegraph.deploy.Deployment`, or anything with its
    attributes and ``predict``); the batcher starts with the app and drains on shutdown.

    >>> app = make_app(deployment)        # doctest: +SKIP
    >>> web.run_app(app, host="127.0.0.1", port=8000)   # doctest: +SKIP
    """
    app = web.Application(client_max_size=limits.max_body_bytes, middlewares=[json_errors])
    app[DEPLOYMENT] = deployment
    app[LIMITS] = limits
    app[BATCHER] = Batcher(deployment, max_batch=limits.max_batch, max_wait=limits.max_wait_ms / 1000,
                           max_queue=limits.max_queue)

    async def start(app):
        app[BATCHER].start()

    async def drain(app):  # on SIGTERM: the listener is closed first, then queued requests are answered
        await app[BATCHER].close()

    app.on_startup.append(start)
    app.on_shutdown.append(drain)
    app.add_routes([web.post("/predict", predict), web.get("/healthz", healthz), web.get("/info", info)])
    return app
