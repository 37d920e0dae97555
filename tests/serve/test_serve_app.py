"""routegraph serve's application: batching, the answer format, every refusal, on a fake deployment."""
import asyncio
import json

import numpy as np
import pytest
from aiohttp.test_utils import TestClient, TestServer

from routegraph.deploy.runtime import DeployOutput
from routegraph.serve import Limits, make_app
from routegraph.serve.app import BATCHER


class FakeDeployment:
    """predictions = argmax of a fixed linear map, exit = prediction % 2; records each predict call's size."""

    def __init__(self, k_cpt_input=False, delay=0.0):
        self.input_shape, self.k_cpt_input, self.run_id = (2, 3), k_cpt_input, "fake-run"
        self.class_names, self.classifiers = ["a", "b", "c", "d"], ("l1.exit", "l2.exit")
        self.weights = np.random.default_rng(0).normal(size=(6, 4)).astype(np.float32)
        self.calls, self.delay = [], delay

    def answer(self, x, k=None):
        logits = x.reshape(len(x), -1) @ self.weights
        predictions = logits.argmax(1)
        exit_ = predictions % 2 if k is None else (np.asarray(k) > 1e-8).astype(np.int64)
        return predictions, exit_, 100 + 50 * exit_

    def predict(self, x, k_cpt=None, *, force=None, batch_size=256):
        import time

        time.sleep(self.delay)
        self.calls.append(len(x))
        p, e, o = self.answer(x, k_cpt)
        return DeployOutput(p, e, o, None, self.classifiers)


def with_client(deployment, limits, body):
    async def main():
        client = TestClient(TestServer(make_app(deployment, limits)))
        await client.start_server()
        try:
            return await body(client)
        finally:
            await client.close()
    return asyncio.run(main())


def examples(n, seed=0):
    return np.random.default_rng(seed).normal(size=(n, 2, 3)).astype(np.float32)


def test_concurrent_requests_are_batched_and_each_gets_its_own_rows():
    fake = FakeDeployment(delay=0.02)
    xs = [examples(1 + i % 3, seed=i) for i in range(20)]

    async def body(client):
        responses = await asyncio.gather(*[client.post("/predict", json={"inputs": x.tolist()}) for x in xs])
        return [(r.status, await r.json()) for r in responses]

    results = with_client(fake, Limits(max_wait_ms=50), body)
    for x, (status, data) in zip(xs, results):
        assert status == 200
        p, e, o = fake.answer(x)
        assert data["predictions"] == p.tolist() and data["ops"] == o.tolist()
        assert data["exits"] == [fake.classifiers[i] for i in e] and data["classes"] == [fake.class_names[i] for i in p]
    assert sum(fake.calls) == sum(len(x) for x in xs)
    assert len(fake.calls) <= 5, fake.calls  # 20 requests coalesced into a few predict calls


def test_a_batch_never_exceeds_max_batch_and_single_input_form():
    fake = FakeDeployment(delay=0.01)

    async def body(client):
        rs = await asyncio.gather(*[client.post("/predict", json={"inputs": examples(3, i).tolist()}) for i in range(10)])
        one = await client.post("/predict", json={"input": examples(1)[0].tolist()})
        return [r.status for r in rs], await one.json()

    statuses, one = with_client(fake, Limits(max_batch=4, max_wait_ms=30, max_request_examples=4), body)
    assert statuses == [200] * 10 and max(fake.calls) <= 4
    assert len(one["predictions"]) == 1


def test_k_cpt_per_request_in_one_batch():
    fake = FakeDeployment(k_cpt_input=True, delay=0.02)

    async def body(client):
        low = client.post("/predict", json={"inputs": examples(2).tolist(), "k_cpt": 0.0})
        high = client.post("/predict", json={"inputs": examples(2).tolist(), "k_cpt": 1e-7})
        return [await r.json() for r in await asyncio.gather(low, high)]

    low, high = with_client(fake, Limits(max_wait_ms=50), body)
    assert low["exits"] == ["l1.exit"] * 2 and high["exits"] == ["l2.exit"] * 2


def test_octet_stream_body():
    fake = FakeDeployment()
    x = examples(3)

    async def body(client):
        r = await client.post("/predict", data=x.astype("<f4").tobytes(), headers={"Content-Type": "application/octet-stream"})
        return r.status, await r.json()

    status, data = with_client(fake, Limits(), body)
    assert status == 200 and data["predictions"] == fake.answer(x)[0].tolist()


BAD = [
    ("not json", {"data": b"{nope", "headers": {"Content-Type": "application/json"}}, 400, "not JSON"),
    ("wrong shape", {"json": {"inputs": [[1, 2, 3]]}}, 400, "inputs of shape [1, 1, 3]; the network takes [n, 2, 3]"),
    ("ragged", {"json": {"inputs": [[[1, 2, 3], [1, 2]]]}}, 400, "must be numbers"),
    ("strings", {"json": {"inputs": [[["a", "b", "c"]] * 2]}}, 400, "must be numbers"),
    ("nan", {"data": b'{"inputs": [[[NaN, 1, 1], [1, 1, 1]]]}', "headers": {"Content-Type": "application/json"}}, 400,
     "NaN"),
    ("empty", {"json": {"inputs": []}}, 400, "inputs of shape"),
    ("no inputs", {"json": {"x": 1}}, 400, '"inputs"'),
    ("unknown field", {"json": {"inputs": [[[1, 1, 1]] * 2], "kcpt": 1}}, 400, "unknown field(s) kcpt"),
    ("too many", {"json": {"inputs": np.zeros((9, 2, 3)).tolist()}}, 413, "at most 8"),
    ("k_cpt for fixed", {"json": {"inputs": [[[1, 1, 1]] * 2], "k_cpt": 1e-9}}, 400, "do not read k_cpt"),
    ("text", {"data": b"hello", "headers": {"Content-Type": "text/plain"}}, 415, "content type 'text/plain'"),
    ("bytes", {"data": b"\0" * 7, "headers": {"Content-Type": "application/octet-stream"}}, 400, "whole number"),
    ("huge", {"data": b"\0" * 5000, "headers": {"Content-Type": "application/octet-stream"}}, 413, "over 4096 bytes"),
]


@pytest.mark.parametrize("what, request_, status, words", BAD, ids=[b[0] for b in BAD])
def test_bad_requests_get_a_4xx_and_the_server_goes_on(what, request_, status, words):
    fake = FakeDeployment()

    async def body(client):
        r = await client.post("/predict", **request_)
        after = await client.post("/predict", json={"inputs": examples(1).tolist()})
        return r.status, await r.json(), after.status

    got, data, after = with_client(fake, Limits(max_request_examples=8, max_body_bytes=4096), body)
    assert got == status and words in data["error"] and after == 200


def test_paths_methods_and_info():
    fake = FakeDeployment(k_cpt_input=True)

    async def body(client):
        missing = await client.get("/nope")
        method = await client.get("/predict")
        no_k = await client.post("/predict", json={"inputs": examples(1).tolist()})
        bad_k = await client.post("/predict", json={"inputs": examples(1).tolist(), "k_cpt": -1})
        health, info = await client.get("/healthz"), await client.get("/info")
        return ([(r.status, await r.json()) for r in (missing, method, no_k, bad_k)], await health.json(),
                await info.json())

    (missing, method, no_k, bad_k), health, info = with_client(fake, Limits(), body)
    assert missing[0] == 404 and "GET /nope" in missing[1]["error"]
    assert method[0] == 405 and "allowed: POST" in method[1]["error"]
    assert no_k[0] == 400 and "send \"k_cpt\"" in no_k[1]["error"]
    assert bad_k[0] == 400 and ">= 0" in bad_k[1]["error"]
    assert health == {"ok": True, "run_id": "fake-run"}
    assert info["input_shape"] == [2, 3] and info["k_cpt_input"] and info["limits"]["max_batch"] == 256


def test_a_full_queue_is_refused_with_503():
    fake = FakeDeployment(delay=0.2)

    async def body(client):
        rs = await asyncio.gather(*[client.post("/predict", json={"inputs": examples(1).tolist()}) for _ in range(8)])
        return [(r.status, r.headers.get("Retry-After")) for r in rs]

    results = with_client(fake, Limits(max_queue=2, max_batch=1, max_wait_ms=0), body)
    statuses = [s for s, _ in results]
    assert 503 in statuses and 200 in statuses
    assert all(h == "1" for s, h in results if s == 503)


def test_a_failing_predict_answers_500_to_its_batch_and_the_server_goes_on():
    fake = FakeDeployment()
    real = fake.predict
    state = {"fail": True}

    def flaky(x, k_cpt=None, **kw):
        if state.pop("fail", False):
            raise RuntimeError("boom")
        return real(x, k_cpt, **kw)

    fake.predict = flaky

    async def body(client):
        first = await client.post("/predict", json={"inputs": examples(1).tolist()})
        second = await client.post("/predict", json={"inputs": examples(1).tolist()})
        return first.status, second.status

    assert with_client(fake, Limits(), body) == (500, 200)
