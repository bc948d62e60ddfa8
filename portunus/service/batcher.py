"""Dynamic batching: requests arriving within a few milliseconds share one search call."""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import time


class Metrics:
    def __init__(self, keep: int = 10_000):
        self.requests = 0
        self.client_errors = 0
        self.batches = 0
        self.batch_states = collections.Counter()     # states per search call
        self.padded_sizes = collections.Counter()     # the compiled size each call ran at
        self.latencies = collections.deque(maxlen=keep)

    def to_dict(self, queue_depth: int) -> dict:
        latencies = sorted(self.latencies)

        def percentile(p):
            return 1000 * latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))] if latencies else None

        return {"requests": self.requests, "client_errors": self.client_errors, "batches": self.batches,
                "queue_depth": queue_depth,
                "batch_states": {str(k): v for k, v in sorted(self.batch_states.items())},
                "padded_sizes": {str(k): v for k, v in sorted(self.padded_sizes.items())},
                "latency_ms": {"p50": percentile(50), "p95": percentile(95), "p99": percentile(99),
                               "count": len(latencies)}}


class Batcher:
    """Gathers queued requests into one search on a worker thread, and answers each request.

    A batch closes when the largest batch size is full, when no request has arrived for
    `gap` seconds, or `max_wait` seconds after its first request. Clients answered by one
    search come back as a burst spread over the time the event loop takes to parse them
    (tens of ms for 64); a fixed window cut such bursts, and the few late requests then
    ran as a second, nearly empty search that every later request waited behind."""

    def __init__(self, engine, max_wait: float = 0.03, gap: float = 0.003):
        self.engine, self.max_wait, self.gap = engine, max_wait, gap
        self.queue: asyncio.Queue = asyncio.Queue()
        self.metrics = Metrics()
        self._thread = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="search")
        self._task = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        self._thread.shutdown(wait=True)

    @property
    def queue_depth(self) -> int:
        return self.queue.qsize()

    async def submit(self, states: list, depth: int) -> list[dict]:
        future = asyncio.get_running_loop().create_future()
        await self.queue.put((states, depth, future))
        return await future

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            first = await self.queue.get()
            items, count = [first], len(first[0])
            deadline = time.monotonic() + self.max_wait
            while count < self.engine.max_batch:
                remaining = min(deadline - time.monotonic(), self.gap)
                if remaining <= 0:
                    break
                try:
                    item = await asyncio.wait_for(self.queue.get(), remaining)
                except asyncio.TimeoutError:
                    break
                if count + len(item[0]) > self.engine.max_batch:
                    self.queue.put_nowait(item)          # next batch (order kept well enough)
                    break
                items.append(item)
                count += len(item[0])
            states = [s for item in items for s in item[0]]
            depth = max(item[1] for item in items)
            engine = self.engine
            try:
                results = await loop.run_in_executor(self._thread, engine.plan, states, depth)
            except Exception as error:           # a bug, not the client's fault: answer 500s, keep serving
                for item in items:
                    if not item[2].done():
                        item[2].set_exception(error)
                continue
            self.metrics.batches += 1
            self.metrics.batch_states[len(states)] += 1
            self.metrics.padded_sizes[results[0]["batch_size"]] += 1
            at = 0
            for item_states, item_depth, future in items:
                part = results[at:at + len(item_states)]
                at += len(item_states)
                for result in part:
                    result["tree"] = _prune(result["tree"], item_depth)
                if not future.done():
                    future.set_result(part)


def _prune(tree: dict, depth: int) -> dict:
    if depth <= 0:
        return {**tree, "children": []}
    return {**tree, "children": [_prune(child, depth - 1) for child in tree.get("children", [])]}
