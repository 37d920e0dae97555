"""Downloads against a local HTTP server on 127.0.0.1 serving small generated files."""
from __future__ import annotations

import hashlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from routegraph.data import load_task
from routegraph.data.download import REMOTE_DATASETS, download, fetch
from routegraph.errors import ConfigError, DataError


class _Handler(BaseHTTPRequestHandler):
    files: dict[str, bytes] = {}
    truncate: set[str] = set()  # paths served with a short body (connection closed early)
    requests: list[str] = []

    def do_GET(self):  # noqa: N802 (http.server's naming)
        self.requests.append(self.path)
        body = self.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.path in self.truncate:
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)

    def log_message(self, *args):  # keep test output quiet
        pass


@pytest.fixture
def server():
    handler = type("Handler", (_Handler,), {"files": {}, "truncate": set(), "requests": []})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    handler.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield handler
    httpd.shutdown()
    httpd.server_close()


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.rglob("*") if p.is_file())


def test_fetch_verifies_and_writes(server, tmp_path):
    server.files["/m/a.bin"] = b"x" * 200_000
    dest = tmp_path / "out" / "a.bin"
    fetch(f"{server.base}/m/a.bin", dest, md5(b"x" * 200_000), progress=False)
    assert dest.read_bytes() == b"x" * 200_000


def test_checksum_mismatch_leaves_nothing(server, tmp_path):
    server.files["/a.bin"] = b"payload"
    with pytest.raises(DataError, match="checksum mismatch"):
        fetch(f"{server.base}/a.bin", tmp_path / "a.bin", md5(b"other"), progress=False)
    assert leftovers(tmp_path) == []


def test_interrupted_transfer_leaves_nothing(server, tmp_path):
    server.files["/big.bin"] = bytes(range(256)) * 4000
    server.truncate.add("/big.bin")
    with pytest.raises(DataError, match="interrupted after 512000 of 1024000 bytes"):
        fetch(f"{server.base}/big.bin", tmp_path / "big.bin", None, progress=False)
    assert leftovers(tmp_path) == []


def test_interrupted_download_keeps_an_existing_file(server, tmp_path):
    dest = tmp_path / "c.bin"
    dest.write_bytes(b"old")
    server.files["/c.bin"] = b"n" * 1000
    server.truncate.add("/c.bin")
    with pytest.raises(DataError):
        fetch(f"{server.base}/c.bin", dest, None, progress=False)
    assert dest.read_bytes() == b"old" and leftovers(tmp_path) == ["c.bin"]


def test_http_error_and_unreachable_host(server, tmp_path):
    with pytest.raises(DataError, match="404"):
        fetch(f"{server.base}/missing", tmp_path / "x", None, progress=False)
    with pytest.raises(DataError, match="download failed"):
        fetch("http://127.0.0.1:9/nothing", tmp_path / "x", None, progress=False, timeout=2)


def _serve_tiny_mnist(server, raw, tmp_path, prefix="/mirror") -> dict[str, str]:
    source = tmp_path / "generated"
    raw.write_mnist(source, gz=True)
    checksums = {}
    for remote in REMOTE_DATASETS["mnist"].files:
        data = (source / "mnist" / remote.name).read_bytes()
        server.files[f"{prefix}/{remote.name}"] = data
        checksums[remote.name] = md5(data)
    return checksums


def test_download_mnist_then_build_the_task(server, raw, tmp_path, isolated_cache):
    checksums = _serve_tiny_mnist(server, raw, tmp_path)
    data_dir = tmp_path / "data"
    written = download(["mnist"], data_dir, mirrors=[f"{server.base}/mirror/"], checksums=checksums,
                       progress=False, log=lambda *_: None)
    assert sorted(p.name for p in written) == sorted(r.name for r in REMOTE_DATASETS["mnist"].files)
    assert all(p.parent == data_dir / "mnist" for p in written)
    assert load_task("mnist", data_dir).counts("train") == raw.mnist_train_counts
    # Present now: a second download fetches nothing.
    before = len(server.requests)
    assert download(["mnist"], data_dir, mirrors=[f"{server.base}/mirror/"], progress=False, log=lambda *_: None) == []
    assert len(server.requests) == before


def test_published_checksums_are_enforced_by_default(server, raw, tmp_path, isolated_cache):
    _serve_tiny_mnist(server, raw, tmp_path, prefix="")
    with pytest.raises(DataError) as info:
        download(["mnist"], tmp_path / "data", mirrors=[server.base], progress=False, log=lambda *_: None)
    assert "f68b3c2dcbeaaa9fbdd348bbdeb94873" in str(info.value)  # the official md5 of train-images
    assert not (tmp_path / "data").exists() or leftovers(tmp_path / "data") == []


def test_mirrors_tried_in_order_and_env_var(server, raw, tmp_path, isolated_cache, monkeypatch):
    checksums = _serve_tiny_mnist(server, raw, tmp_path, prefix="/good")
    monkeypatch.setenv("ROUTEGRAPH_MIRROR", f"{server.base}/bad, {server.base}/good")
    download(["mnist"], tmp_path / "data", checksums=checksums, progress=False, log=lambda *_: None)
    assert f"/bad/{REMOTE_DATASETS['mnist'].files[0].name}" in server.requests
    assert len(leftovers(tmp_path / "data")) == 4


def test_cifar_archive_download(server, raw, tmp_path, isolated_cache):
    raw.write_cifar(tmp_path / "generated", archive=True)
    data = (tmp_path / "generated" / "cifar-10-python.tar.gz").read_bytes()
    server.files["/c/cifar-10-python.tar.gz"] = data
    download(["cifar10"], tmp_path / "data", mirrors=[f"{server.base}/c"],
             checksums={"cifar-10-python.tar.gz": md5(data)}, progress=False, log=lambda *_: None)
    assert (tmp_path / "data" / "cifar-10-python.tar.gz").read_bytes() == data
    assert load_task("cifar2", tmp_path / "data").counts("test") == [2, sum(raw.cifar_test_counts) - 2]


def test_bad_requests(tmp_path):
    with pytest.raises(ConfigError, match="imagenet"):
        download(["imagenet"], tmp_path)
    read_only = tmp_path / "ro"
    read_only.mkdir()
    read_only.chmod(0o555)
    try:
        with pytest.raises(DataError, match="not writable"):
            download(["mnist"], read_only, mirrors=["http://127.0.0.1:9/"])
    finally:
        read_only.chmod(0o755)


def test_official_checksums_are_the_published_ones():
    by_name = {f.name: f.md5 for d in REMOTE_DATASETS.values() for f in d.files}
    assert by_name["cifar-10-python.tar.gz"] == "c58f30108f718f92721af3b95e74349a"
    assert by_name["train-images-idx3-ubyte.gz"] == "f68b3c2dcbeaaa9fbdd348bbdeb94873"
    assert by_name["t10k-labels-idx1-ubyte.gz"] == "ec29112dd5afa0611ce80d1b7f02629c"
