"""`portunus bench serve`: a bounded loopback load test of the planning service.

Starts `portunus serve` in a subprocess on a free 127.0.0.1 port, then for each
concurrency level runs that many clients, each sending one-snapshot recommend
requests back to back, until a time or request budget is spent. Records
throughput, latency percentiles, failures and the batch sizes the service formed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_service(args: list[str], ready_timeout: float = 600.0):
    """`portunus serve` with `args` in a subprocess on a free loopback port; yields its URL.
    Stops it with SIGTERM and checks that it exited."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "portunus.cli", "serve", "--port", str(port), *args],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + ready_timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"portunus serve exited: {process.stdout.read()}")
            try:
                with urllib.request.urlopen(f"{url}/v1/health", timeout=1) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("portunus serve did not become ready")
            time.sleep(0.25)
        yield url, process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


async def _load(url: str, bodies: list[bytes], clients: int, seconds: float, max_requests: int) -> dict:
    import aiohttp

    latencies, failures = [], []
    deadline = time.monotonic() + seconds
    budget = [max_requests]

    async def client(index: int, session):
        i = index
        while time.monotonic() < deadline and budget[0] > 0:
            budget[0] -= 1
            body = bodies[i % len(bodies)]
            i += clients
            start = time.monotonic()
            try:
                async with session.post(f"{url}/v1/recommend", data=body,
                                        headers={"Content-Type": "application/json"}) as response:
                    await response.read()
                    if response.status != 200:
                        failures.append(response.status)
                        continue
            except (aiohttp.ClientError, asyncio.TimeoutError) as error:
                failures.append(str(error))
                continue
            latencies.append(time.monotonic() - start)

    timeout = aiohttp.ClientTimeout(total=60)
    connector = aiohttp.TCPConnector(limit=clients)
    start = time.monotonic()
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        await asyncio.gather(*(client(i, session) for i in range(clients)))
    elapsed = time.monotonic() - start
    ms = np.array(latencies) * 1000 if latencies else np.array([np.nan])
    return {"clients": clients, "requests": len(latencies), "failed": len(failures), "seconds": elapsed,
            "throughput_rps": len(latencies) / elapsed,
            "latency_ms": {"p50": float(np.percentile(ms, 50)), "p95": float(np.percentile(ms, 95)),
                           "p99": float(np.percentile(ms, 99))},
            "failures": [str(f) for f in failures[:5]]}


def bench_serve(levels=(1, 8, 64), seconds: float = 10.0, max_requests: int = 5000, simulations: int = 64,
                policy: str = "mcts", batch_sizes: str = "1,4,16,64", max_wait_ms: float = 30.0,
                batch_gap_ms: float = 3.0, search_threads: int = 0, checkpoint: str | None = None,
                progress=None) -> dict:
    import sim
    from portunus.bench import environment
    from portunus.protocol import snapshot_to_json

    bodies = [json.dumps({"snapshot": snapshot_to_json(s), "tree_depth": 1}).encode()
              for s in sim.sample_snapshots(64)]
    rows = []
    args = ["--policy", policy, "--simulations", str(simulations), "--batch-sizes", batch_sizes,
            "--max-wait-ms", str(max_wait_ms), "--batch-gap-ms", str(batch_gap_ms),
            "--search-threads", str(search_threads)] + (["--checkpoint", checkpoint] if checkpoint else [])
    with running_service(args) as (url, _):
        service = _get(f"{url}/v1/health")          # what it resolved: model, search threads, sizes
        for clients in levels:
            asyncio.run(_load(url, bodies, clients, 2.0, 10 * clients))      # warm connections, not timed
            before = _get(f"{url}/v1/metrics")
            row = asyncio.run(_load(url, bodies, clients, seconds, max_requests))
            after = _get(f"{url}/v1/metrics")
            row["batch_states"] = {k: v - before["batch_states"].get(k, 0) for k, v in after["batch_states"].items()
                                   if v - before["batch_states"].get(k, 0) > 0}
            rows.append(row)
            if progress:
                progress(row)
    return {"benchmark": "serve", "what": "one-snapshot recommend requests back to back per client over "
            "loopback HTTP; latency = request sent to answer read", "policy": policy,
            "checkpoint": checkpoint or "the shipped model (if present)", "simulations": simulations,
            "batch_sizes": batch_sizes, "max_wait_ms": max_wait_ms, "batch_gap_ms": batch_gap_ms,
            "search_threads": search_threads, "service": service, "environment": environment(),
            "cpu_count": os.cpu_count(), "results": rows}
