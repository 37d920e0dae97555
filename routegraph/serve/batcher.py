"""Dynamic batching: concurrent requests coalesced into one ``Deployment.predict`` call.

Requests wait in a bounded queue. One worker takes the first, then keeps taking requests until
the batch holds ``max_batch`` examples or ``max_wait`` seconds have passed since the first
arrived, runs the batch in a single worker thread (the event loop keeps accepting meanwhile), and
hands each request its own rows. Requests with different k_cpt share a batch: each example
carries its own k_cpt (``predict`` takes one per example). A full queue is refused at once
(:class:`QueueFull`), so overload sheds requests instead of growing latency without bound.
"""
from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from ..errors import RouteGraphError


class QueueFull(RouteGraphError):
    """The queue holds ``max_queue`` requests: the server is overloaded (HTTP 503)."""


class ShuttingDown(RouteGraphError):
    """The server is stopping and takes no new work (HTTP 503)."""


@dataclass
class _Request:
    x: np.ndarray
    k_cpt: float | None
    future: asyncio.Future
    arrived: float = 0.0


@dataclass
class BatchStats:
    """What the batcher did: predict calls, examples, requests (for /info and the load benchmark)."""

    calls: int = 0
    examples: int = 0
    requests: int = 0
    largest: int = 0
    sizes: list = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"calls": self.calls, "examples": self.examples, "requests": self.requests, "largest_batch": self.largest,
                "mean_batch": self.examples / self.calls if self.calls else 0.0}


class Batcher:
    """Coalesces :meth:`submit` calls into ``deployment.predict`` calls (see the module doc)."""

    def __init__(self, deployment, *, max_batch: int = 256, max_wait: float = 0.0, max_queue: int = 1024):
        self.deployment, self.max_batch, self.max_wait = deployment, max_batch, max_wait
        self.queue: asyncio.Queue[_Request] = asyncio.Queue(maxsize=max_queue)
        self.stats = BatchStats()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="routegraph-predict")
        self._worker: asyncio.Task | None = None
        self._closing = False
        self._busy = False  # a request is out of the queue and not yet answered
        self._carry: _Request | None = None
        self._wake = asyncio.Event()  # set by close(): the batch being filled stops waiting

    @property
    def waiting(self) -> bool:
        """Whether any request is queued, or taken and not yet answered."""
        return not self.queue.empty() or self._carry is not None or self._busy

    def start(self) -> None:
        self._worker = asyncio.get_running_loop().create_task(self._run())

    async def submit(self, x: np.ndarray, k_cpt: float | None):
        """The deployment's output for ``x`` (rows of one request), computed in some batch."""
        if self._closing:
            raise ShuttingDown()
        loop = asyncio.get_running_loop()
        request = _Request(x, k_cpt, loop.create_future(), loop.time())
        try:
            self.queue.put_nowait(request)
        except asyncio.QueueFull:
            raise QueueFull() from None
        return await request.future

    async def close(self) -> None:
        """Take no new requests; answer every queued one, then stop the worker."""
        self._closing = True
        self._wake.set()
        while self.waiting:
            await asyncio.sleep(0.002)  # not max_wait: the batch being filled was woken and runs now
        if self._worker is not None:
            self._worker.cancel()
            try:
                await self._worker
            except asyncio.CancelledError:
                pass
        self._executor.shutdown(wait=True)

    async def _next_batch(self) -> list[_Request]:
        loop = asyncio.get_running_loop()
        first = self._carry or await self.queue.get()
        self._carry, self._busy = None, True
        batch, size = [first], len(first.x)
        deadline = first.arrived + self.max_wait
        while size < self.max_batch:
            timeout = 0 if self._closing else deadline - loop.time()
            try:
                request = self.queue.get_nowait() if timeout <= 0 else await self._get_before(timeout)
            except (asyncio.TimeoutError, asyncio.QueueEmpty):
                break
            if size + len(request.x) > self.max_batch:
                self._carry = request  # it starts the next batch
                break
            batch.append(request)
            size += len(request.x)
        return batch

    async def _get_before(self, timeout: float) -> _Request:
        """The next queued request within ``timeout`` seconds; :class:`asyncio.TimeoutError` if none, or on close."""
        get, woken = asyncio.ensure_future(self.queue.get()), asyncio.ensure_future(self._wake.wait())
        done, _ = await asyncio.wait({get, woken}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        woken.cancel()
        if get in done:
            return get.result()
        get.cancel()  # a cancelled Queue.get leaves its item queued
        raise asyncio.TimeoutError()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = await self._next_batch()
            try:
                await self._answer(loop, batch)
            finally:
                self._busy = False

    async def _answer(self, loop, batch: list[_Request]) -> None:
        x = np.concatenate([r.x for r in batch]) if len(batch) > 1 else batch[0].x
        k = None
        if self.deployment.k_cpt_input:
            k = np.concatenate([np.full(len(r.x), r.k_cpt, dtype=np.float64) for r in batch])
        try:
            out = await loop.run_in_executor(self._executor, self._predict, x, k)
        except Exception as exc:  # noqa: BLE001 (each waiting request gets the error)
            for r in batch:
                if not r.future.done():
                    r.future.set_exception(exc)
            return
        self.stats.calls += 1
        self.stats.examples += len(x)
        self.stats.requests += len(batch)
        self.stats.largest = max(self.stats.largest, len(x))
        start = 0
        for r in batch:
            rows = slice(start, start + len(r.x))
            start += len(r.x)
            if not r.future.done():  # a client that went away has a cancelled future
                r.future.set_result(_rows(out, rows))

    def _predict(self, x, k):
        return self.deployment.predict(x, k, batch_size=None)


def _rows(out, rows: slice) -> dict:
    exits = out.exit[rows]
    return {"predictions": out.predictions[rows].tolist(), "exit": exits.tolist(), "ops": out.ops[rows].tolist()}
