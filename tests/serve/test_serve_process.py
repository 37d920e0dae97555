"""``routegraph serve`` as a real process on a real export: it answers as ``Deployment.predict`` does, refuses
bad requests and goes on, and on SIGTERM answers the request it holds, then exits 0."""
import json
import threading
import time
import urllib.error
import urllib.request

import numpy as np
import pytest

from infer_helpers import randomize, tiny_chain_graph
from routegraph import deploy
from routegraph.export import export_model
from routegraph.nn import build_model
from routegraph.serve.process import ServerProcess


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return export_model(randomize(build_model(tiny_chain_graph()), seed=3), tmp_path_factory.mktemp("served") / "net",
                        metadata={"run_id": "served", "class_names": [f"c{i}" for i in range(10)]})


class Server(ServerProcess):
    """The served export on a free loopback port, one ONNX Runtime thread, with a small client."""

    def __init__(self, folder, *flags):
        super().__init__(folder, "--threads", "1", *flags)

    def post(self, body: bytes, kind="application/json", query=""):
        request = urllib.request.Request(f"{self.url}/predict{query}", data=body, headers={"Content-Type": kind})
        try:
            with urllib.request.urlopen(request, timeout=60) as answer:
                return answer.status, json.loads(answer.read())
        except urllib.error.HTTPError as refused:
            return refused.code, json.loads(refused.read())

    def info(self):
        with urllib.request.urlopen(f"{self.url}/info", timeout=30) as answer:
            return json.loads(answer.read())


def _expected(folder, x):
    net = deploy.load(folder)
    out = net.predict(x)
    return {"predictions": out.predictions.tolist(), "exits": [net.classifiers[e] for e in out.exit],
            "ops": out.ops.tolist(), "classes": [f"c{p}" for p in out.predictions]}


def test_a_served_export_answers_as_its_deployment(folder):
    x = np.random.default_rng(0).random((7, 3, 32, 32), dtype=np.float32)
    expected = _expected(folder, x)
    server = Server(folder)
    try:
        status, got = server.post(json.dumps({"inputs": x.tolist()}).encode())
        assert status == 200 and got == expected
        status, got = server.post(x.astype("<f4").tobytes(), kind="application/octet-stream")
        assert status == 200 and got == expected
        status, got = server.post(b"{not json")
        assert status == 400 and "not JSON" in got["error"]
        status, got = server.post(json.dumps({"inputs": x[:, :2].tolist()}).encode())
        assert status == 400 and "[n, 3, 32, 32]" in got["error"]
        status, got = server.post(json.dumps({"input": x[0].tolist()}).encode())  # still serving after refusals
        assert status == 200 and got["exits"] == expected["exits"][:1]
    finally:
        code, out, err = server.stop()
    assert code == 0, err[-2000:]
    assert out.strip().endswith("stopped")
    assert "Traceback" not in err


def test_sigterm_answers_the_request_in_flight_then_exits_0(folder):
    x = np.random.default_rng(1).random((3, 3, 32, 32), dtype=np.float32)
    expected = _expected(folder, x)
    server = Server(folder, "--max-wait-ms", "20000")  # the request waits in the batcher for others to join
    answers = []
    client = threading.Thread(target=lambda: answers.append((server.post(json.dumps({"inputs": x.tolist()}).encode()),
                                                             time.monotonic())))
    client.start()
    deadline = time.monotonic() + 30
    while not server.info()["waiting"]:  # the request is in the batcher; its batch closes 20 s after it arrived
        assert time.monotonic() < deadline, "the request never reached the batcher"
        time.sleep(0.02)
    signalled = time.monotonic()
    code, out, err = server.stop()
    stopped = time.monotonic()
    client.join(timeout=60)
    assert code == 0, err[-2000:]
    assert stopped < signalled + 10  # it drained and exited; it did not wait the batch's 20 s out
    assert answers, "the request in flight got no answer"
    (status, got), answered = answers[0]
    assert status == 200 and got == expected
    assert signalled < answered < signalled + 10  # answered on the signal, not after waiting the 20 s out
    with pytest.raises(urllib.error.URLError):  # the listener is gone
        urllib.request.urlopen(f"{server.url}/healthz", timeout=5)


def test_a_server_that_cannot_start_is_one_error_naming_why(tmp_path):
    from routegraph.errors import DeployError

    with pytest.raises(DeployError, match="did not start") as refused:
        ServerProcess(tmp_path / "nothing-here")
    assert "Traceback" not in str(refused.value) and "nothing-here" in str(refused.value)
