"""Load test of ``routegraph serve``: requests/s and p50/p99 latency at 1, 8 and 64 concurrent clients.

    python benchmarks/serve_load.py [--run runs/bench-actor-chain8 | --folder DIR] [--seconds 8] [--no-docs]

A real server process (``routegraph.serve.process.ServerProcess``) on loopback; closed-loop aiohttp
clients in this process, each sending one-example requests back to back (octet-stream, and JSON), for
``--seconds`` per level after a warm-up. The mean batch is read from the server's ``/info`` before
and after each level. Side by side in the same run, what the served throughput is measured against:
``Deployment.predict`` called in-process (no HTTP) one example at a time, and on batches of the mean
batch size the server formed. Every non-200 answer is counted (it should be 0). Writes the "Under
load" section of docs/serving.md and docs/benchmark-results/serve-load.json.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import numpy as np  # noqa: E402

from docs_section import publish, save_results  # noqa: E402
from routegraph import deploy  # noqa: E402
from routegraph.serve.process import ServerProcess  # noqa: E402

HEADING = "## Under load"
LEVELS = (1, 8, 64)


def inputs(run: Path | None, shape, n: int = 512) -> tuple[np.ndarray, str]:
    """Test images of ``run``'s task, else uniform noise of ``shape``; and a line saying which."""
    if run is not None and (run / "config.json").exists():
        import torch

        from routegraph.data import load_task
        from routegraph.train.rundir import load_run

        config = load_run(run).config
        task = load_task(config["data"], **config.get("data_options", {}))
        pick = torch.randperm(len(task.test_images), generator=torch.Generator().manual_seed(0))[:n]
        return task.test_images[pick].float().numpy(), f"{n} test images of {config['data']}"
    return np.random.default_rng(0).random((n, *shape), dtype=np.float32), f"{n} uniform-noise inputs"


def _bodies(x: np.ndarray, kind: str, k_cpt):
    if kind == "json":
        extra = {} if k_cpt is None else {"k_cpt": k_cpt}
        return [json.dumps({"input": e.tolist(), **extra}).encode() for e in x], "application/json", ""
    return [e.astype("<f4").tobytes() for e in x], "application/octet-stream", "" if k_cpt is None else f"?k_cpt={k_cpt}"


async def level(url: str, bodies, content_type: str, query: str, clients: int, seconds: float, warmup: float):
    """``clients`` closed-loop clients for ``warmup`` + ``seconds``; latencies (s) of answers in the window,
    their count, non-200 answers, and the server's batch counters over the window."""
    import aiohttp

    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector, headers={"Content-Type": content_type}) as session, \
            aiohttp.ClientSession() as side:  # its own connection: /info never waits behind the clients
        async def info():
            async with side.get(f"{url}/info") as answer:
                return (await answer.json())["batches"]

        latencies, failures = [], 0
        start = time.perf_counter()
        window = [start + warmup, start + warmup + seconds]
        before = {}

        async def client(i: int):
            nonlocal failures
            n = i
            while (now := time.perf_counter()) < window[1]:
                async with session.post(f"{url}/predict{query}", data=bodies[n % len(bodies)]) as answer:
                    await answer.read()
                    ok = answer.status == 200
                done = time.perf_counter()
                if now >= window[0]:
                    latencies.append(done - now)
                    failures += not ok
                n += clients

        async def mark():
            await asyncio.sleep(warmup)
            before.update(await info())

        await asyncio.gather(mark(), *(client(i) for i in range(clients)))
        after = await info()
    calls, examples = after["calls"] - before["calls"], after["examples"] - before["examples"]
    return np.array(latencies), failures, calls, examples


async def http_floor(url: str, n: int = 300) -> float:
    """Median seconds of one ``GET /healthz`` round trip: HTTP with no model in it."""
    import aiohttp

    times = []
    async with aiohttp.ClientSession() as session:
        for _ in range(n):
            start = time.perf_counter()
            async with session.get(f"{url}/healthz") as answer:
                await answer.read()
            times.append(time.perf_counter() - start)
    return float(np.median(times))


def direct(net, x: np.ndarray, batch: int, seconds: float, k_cpt) -> float:
    """In-process ``net.predict`` examples/s on batches of ``batch`` (no HTTP), over about ``seconds``."""
    k = None if k_cpt is None else np.full(batch, k_cpt)
    done, start, i = 0, time.perf_counter(), 0
    while time.perf_counter() - start < seconds:
        chunk = x[(i * batch) % (len(x) - batch + 1):][:batch]
        net.predict(chunk, k, batch_size=None)
        done, i = done + len(chunk), i + 1
    return done / (time.perf_counter() - start)


def render(results: dict) -> str:
    lines = [HEADING, "",
             f"`python benchmarks/serve_load.py`, {results['when']}: {results['network']}; {results['inputs']}. "
             f"One server process on loopback ({results['threads']} ONNX Runtime thread) per "
             "`--max-wait-ms`, closed-loop aiohttp clients in the benchmark process on the same "
             f"{results['cpus']}-core machine, one example per request, {results['seconds']:g} s per row after a "
             f"{results['warmup']:g} s warm-up. *direct* is `Deployment.predict` called in-process, no HTTP, "
             "measured in the same run: one example per call, and on batches of the row's mean batch.", "",
             "| max wait ms | body | clients | requests/s | p50 ms | p99 ms | mean batch | non-200 | "
             "vs direct batch 1 | vs direct at mean batch |",
             "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results["rows"]:
        lines.append(f"| {r['max_wait_ms']:g} | {r['body']} | {r['clients']} | {r['requests_per_s']:.0f} | {r['p50_ms']:.2f} | "
                     f"{r['p99_ms']:.2f} | {r['mean_batch']:.1f} | {r['failures']} | "
                     f"{r['requests_per_s'] / results['direct_batch1_per_s']:.2f} | "
                     f"{r['requests_per_s'] / r['direct_at_mean_batch_per_s']:.2f} |")
    lines += ["", f"Direct, one example per call: {results['direct_batch1_per_s']:.0f} examples/s "
              f"({1e3 / results['direct_batch1_per_s']:.2f} ms each); one `GET /healthz` round trip, HTTP with no "
              f"model: {results['healthz_p50_ms']:.2f} ms (median). "
              "With one client every request is its own batch, so the server's cost over *direct* is HTTP, "
              "parsing, the hop to the predict thread and, with a maximum wait, the wait itself: a lone request "
              "waits it out. With more clients, requests that arrive while a batch "
              "runs join the next one: throughput rises past one-at-a-time *direct* while p99 stays bounded by "
              "the queue and `--max-wait-ms`. Client and server share the two cores, so the client's own cost is "
              "in these numbers; on a separate client machine the server would do better, not worse."]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", default="runs/bench-actor-chain8", help="trained run to export and serve")
    parser.add_argument("--folder", help="an exported folder to serve instead of --run")
    parser.add_argument("--seconds", type=float, default=8.0, help="measured seconds per row")
    parser.add_argument("--warmup", type=float, default=1.5, help="unmeasured seconds before each row")
    parser.add_argument("--threads", type=int, default=1, help="ONNX Runtime threads in the server")
    parser.add_argument("--max-wait-ms", type=float, nargs="+", default=[0.0, 2.0],
                        help="the server's --max-wait-ms: one server, and one set of rows, per value")
    parser.add_argument("--clients", type=int, nargs="+", default=list(LEVELS))
    parser.add_argument("--no-docs", action="store_true", help="print only; do not write docs/")
    args = parser.parse_args(argv)
    run = Path(args.run)
    with tempfile.TemporaryDirectory() as tmp:
        if args.folder:
            folder, run = Path(args.folder), None
        elif (run / "checkpoint.pt").exists():
            from routegraph.export import export_run

            folder = export_run(run, Path(tmp) / "served")
        else:
            raise SystemExit(f"no trained run at {run} (train one: routegraph train specs/chain_8layer.yaml "
                             f"--strategy actor --k-cpt 4e-9 --data hybrid --iterations 800 --out {run}), "
                             "or pass --folder DIR")
        net = deploy.load(folder, threads=args.threads)
        x, about = inputs(run, net.input_shape)
        k_cpt = 4e-9 if net.k_cpt_input else None
        results = {"when": time.strftime("%Y-%m-%d"), "cpus": os.cpu_count(), "threads": args.threads,
                   "seconds": args.seconds, "warmup": args.warmup,
                   "network": f"`{args.folder or run}` ({net.run_id or 'no run id'}, {len(net.classifiers)} exits, "
                              f"input {list(net.input_shape)})", "inputs": about, "rows": []}
        results["direct_batch1_per_s"] = direct(net, x, 1, 3.0, k_cpt)
        print(f"direct, batch 1: {results['direct_batch1_per_s']:.0f} examples/s")
        codes = []
        for wait in args.max_wait_ms:
            server = ServerProcess(folder, "--threads", str(args.threads), "--max-wait-ms", str(wait), stderr=None)
            try:
                results.setdefault("healthz_p50_ms", asyncio.run(http_floor(server.url)) * 1e3)
                for kind in ("octet-stream", "json"):
                    bodies, content_type, query = _bodies(x, "json" if kind == "json" else "raw", k_cpt)
                    for clients in args.clients:
                        lat, failures, calls, examples = asyncio.run(
                            level(server.url, bodies, content_type, query, clients, args.seconds, args.warmup))
                        row = {"max_wait_ms": wait, "body": kind, "clients": clients, "requests": len(lat),
                               "requests_per_s": len(lat) / args.seconds,
                               "p50_ms": float(np.percentile(lat, 50)) * 1e3,
                               "p99_ms": float(np.percentile(lat, 99)) * 1e3, "failures": failures,
                               "mean_batch": examples / calls if calls else 0.0}
                        results["rows"].append(row)
                        print(f"wait {wait:g} ms {kind:12} {clients:3} clients: {row['requests_per_s']:.0f} req/s, "
                              f"p50 {row['p50_ms']:.2f} ms, p99 {row['p99_ms']:.2f} ms, "
                              f"mean batch {row['mean_batch']:.1f}, non-200 {failures}")
            finally:
                codes.append(server.stop()[0])
        code = max(codes, key=abs)
        results["server_exit_code"] = code
        for row in results["rows"]:  # in-process, with the server stopped: nothing else competes
            batch = max(1, round(row["mean_batch"]))
            row["direct_at_mean_batch_per_s"] = direct(net, x, batch, 2.0, k_cpt)
    if not args.no_docs:
        save_results(HERE.parent / "docs" / "benchmark-results" / "serve-load.json", results)
    publish(render(results), HERE.parent / "docs" / "serving.md", HEADING, write=not args.no_docs)
    return 0 if code == 0 and not any(r["failures"] for r in results["rows"]) else 1


if __name__ == "__main__":
    sys.exit(main())
